// The node's resource usage as the kubelet's Summary API reports it (GET /stats/summary,
// k8s.io/kubelet/pkg/apis/stats/v1alpha1): the node's cpu and memory, and each pod's running
// containers' cpu, memory and process count, read from their cgroups through the engine.
// metrics-server turns this into the metrics.k8s.io API; here the API server does.
//
// CPU usage as a rate needs two samples, so the last two are kept per container (and for
// the node): a request takes a new sample when the newest is at least MIN_WINDOW_MS old, and
// the rate is over the gap between the two (the `window`). A container seen for the first
// time is sampled again after MIN_WINDOW_MS, so the first answer has a rate too. Nothing is
// sampled between requests: an idle agent reads no cgroup files.
import { readFileSync } from "node:fs";
import type { Engine } from "../../engine/index.ts";
import type { CgroupStats } from "../../runtime/index.ts";
import { isRunning, runtimePods, SANDBOX_NAME } from "./runtime-pods.ts";

export const MIN_WINDOW_MS = 1000;

export interface CpuStats {
  time: string;
  /** The rate over the window, in billionths of a core. */
  usageNanoCores?: number;
  /** Cumulative cpu time, ns. */
  usageCoreNanoSeconds: number;
}

export interface MemoryStats {
  time: string;
  /** usage − inactive file pages: what the kubelet evicts by and metrics-server reports. */
  workingSetBytes: number;
  usageBytes: number;
}

export interface ContainerStats {
  name: string;
  startTime: string;
  cpu: CpuStats;
  memory: MemoryStats;
  /** Gantry's addition (cAdvisor's container_processes): processes in the container's cgroup. */
  processes: number;
  /** The window the cpu rate covers, seconds. */
  windowSeconds?: number;
}

export interface PodStats {
  podRef: { name: string; namespace: string; uid: string };
  startTime: string;
  containers: ContainerStats[];
  cpu: CpuStats;
  memory: MemoryStats;
  process_stats: { process_count: number };
}

export interface StatsSummary {
  node: { nodeName: string; startTime: string; cpu: CpuStats; memory: MemoryStats; windowSeconds?: number };
  pods: PodStats[];
}

interface Sample {
  atMs: number;
  cpuNs: number;
  workingSet: number;
  usage: number;
  processes: number;
}

interface Samples {
  prev?: Sample;
  cur: Sample;
}

/** What one container's cgroup says: cumulative cpu, working set, usage, processes. */
export function sampleOf(s: CgroupStats, atMs: number): Sample {
  const usage = s.memory.usage.usage ?? 0;
  // v1's memory.stat has total_inactive_file (hierarchical), v2's inactive_file.
  const inactive = s.memory.raw.total_inactive_file ?? s.memory.raw.inactive_file ?? 0;
  return { atMs, cpuNs: s.cpu.usage.total, usage, workingSet: Math.max(0, usage - inactive), processes: s.pids.current };
}

/** The host's cpu time (ns, all cpus, idle and iowait left out) and memory in use (MemTotal − MemAvailable). */
function hostSample(atMs: number): Sample {
  const fields = (readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "").split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal: USER_HZ is 100, 10 ms a tick.
  const busy = [0, 1, 2, 5, 6, 7].reduce((sum, i) => sum + (fields[i] || 0), 0);
  const mem = readFileSync("/proc/meminfo", "utf8");
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(mem)?.[1] ?? 0) * 1024;
  const used = kb("MemTotal") - kb("MemAvailable");
  return { atMs, cpuNs: busy * 1e7, usage: used, workingSet: used, processes: 0 };
}

const iso = (ms: number) => new Date(ms).toISOString();

interface Running {
  id: string;
  name: string;
  startedAt: string;
  pod: { name: string; namespace: string; uid: string; startTime: string };
}

export class ResourceStats {
  private readonly samples = new Map<string, Samples>();
  private readonly startedAt = new Date().toISOString();
  private busy: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly engine: Engine,
    private readonly nodeName: string,
    private readonly now: () => number = Date.now,
  ) {}

  /** The Summary API's answer; requests are served one at a time (they share the samples). */
  summary(): Promise<StatsSummary> {
    const next = this.busy.then(() => this.collect());
    this.busy = next.catch(() => {});
    return next;
  }

  private running(): Running[] {
    const out: Running[] = [];
    for (const pod of runtimePods(this.engine).values()) {
      const sandbox = pod.sandboxes[0];
      const podStart = sandbox?.record.State.StartedAt || sandbox?.record.Created || iso(this.now());
      for (const [name, attempts] of pod.containers) {
        const c = attempts[0];
        if (name === SANDBOX_NAME || !c || !isRunning(c)) continue;
        out.push({ id: c.id, name, startedAt: c.record.State.StartedAt || c.record.Created, pod: { name: pod.name, namespace: pod.namespace, uid: pod.uid, startTime: podStart } });
      }
    }
    return out;
  }

  /** Takes a sample of each container (and the node) whose newest is old enough; one that stopped meanwhile is skipped. */
  private sample(running: Running[]): void {
    const at = this.now();
    const take = (key: string, read: () => Sample) => {
      const have = this.samples.get(key);
      if (have && at - have.cur.atMs < MIN_WINDOW_MS) return;
      let s: Sample;
      try {
        s = read();
      } catch {
        return; // the container stopped between the listing and the read
      }
      this.samples.set(key, { prev: have?.cur, cur: s });
    };
    take("node", () => hostSample(at));
    for (const c of running) take(c.id, () => sampleOf(this.engine.runtime.stats(c.id), at));
  }

  private async collect(): Promise<StatsSummary> {
    let running = this.running();
    this.sample(running);
    const keys = ["node", ...running.map((c) => c.id)];
    if (keys.some((k) => this.samples.has(k) && !this.samples.get(k)!.prev)) {
      await new Promise((r) => setTimeout(r, MIN_WINDOW_MS));
      running = this.running();
      this.sample(running);
    }
    const live = new Set(["node", ...running.map((c) => c.id)]);
    for (const k of this.samples.keys()) if (!live.has(k)) this.samples.delete(k);

    const node = this.samples.get("node")!;
    const pods = new Map<string, PodStats>();
    for (const c of running) {
      const s = this.samples.get(c.id);
      if (!s) continue;
      const stats: ContainerStats = { name: c.name, startTime: c.startedAt, cpu: cpuOf(s), memory: memoryOf(s.cur), processes: s.cur.processes, windowSeconds: windowOf(s) };
      let pod = pods.get(c.pod.uid);
      if (!pod) {
        pod = { podRef: { name: c.pod.name, namespace: c.pod.namespace, uid: c.pod.uid }, startTime: c.pod.startTime, containers: [], cpu: { time: stats.cpu.time, usageCoreNanoSeconds: 0, usageNanoCores: 0 }, memory: { time: stats.memory.time, workingSetBytes: 0, usageBytes: 0 }, process_stats: { process_count: 0 } };
        pods.set(c.pod.uid, pod);
      }
      pod.containers.push(stats);
      pod.cpu.usageCoreNanoSeconds += stats.cpu.usageCoreNanoSeconds;
      pod.cpu.usageNanoCores = pod.cpu.usageNanoCores === undefined || stats.cpu.usageNanoCores === undefined ? undefined : pod.cpu.usageNanoCores + stats.cpu.usageNanoCores;
      pod.memory.workingSetBytes += stats.memory.workingSetBytes;
      pod.memory.usageBytes += stats.memory.usageBytes;
      pod.process_stats.process_count += stats.processes;
    }
    return { node: { nodeName: this.nodeName, startTime: this.startedAt, cpu: cpuOf(node), memory: memoryOf(node.cur), windowSeconds: windowOf(node) }, pods: [...pods.values()] };
  }
}

function windowOf(s: Samples): number | undefined {
  return s.prev ? (s.cur.atMs - s.prev.atMs) / 1000 : undefined;
}

function cpuOf(s: Samples): CpuStats {
  const window = windowOf(s);
  const rate = s.prev && window ? Math.max(0, Math.round((s.cur.cpuNs - s.prev.cpuNs) / window)) : undefined;
  return { time: iso(s.cur.atMs), usageCoreNanoSeconds: s.cur.cpuNs, ...(rate !== undefined ? { usageNanoCores: rate } : {}) };
}

function memoryOf(s: Sample): MemoryStats {
  return { time: iso(s.atMs), workingSetBytes: s.workingSet, usageBytes: s.usage };
}
