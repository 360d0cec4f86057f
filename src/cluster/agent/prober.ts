// Liveness, readiness and startup probes (kubelet's pkg/kubelet/prober: one worker per pod,
// container and probe type, results kept per container ID). A worker probes at once, then
// every periodSeconds on the injected clock; it skips probing during initialDelaySeconds,
// holds liveness and readiness until the startup probe has succeeded, and stops the startup
// probe once it has. A result is recorded only after successThreshold successes or
// failureThreshold failures in a row; a recorded change asks for a sync of the pod, which
// puts readiness into the status and kills a container whose liveness or startup probe
// failed. After such a failure the worker holds until a new container (a new ID) runs.
//
// Initial results, as the kubelet's: liveness succeeds, readiness fails, startup is unknown
// (so `started` is false until it succeeds). **Choice**: a worker that first meets a container
// the pod's status already calls ready or started (the same container ID: the agent restarted
// and adopted it) starts from that, so an agent restart does not flap Ready or hold liveness.
import type { Clock, Timer } from "../../common/clock.ts";
import { CONTAINER_ID_PREFIX } from "./pod-status.ts";
import type { Container, Pod, Probe } from "./pod-types.ts";
import { countProbe } from "./kubelet-metrics.ts";

export type ProbeType = "liveness" | "readiness" | "startup";
export type ProbeResult = "success" | "failure";

/** One run of a probe; throw to say it could not run (the kubelet then records nothing). */
export interface ProbeRun {
  result: ProbeResult;
  output: string;
}

/** What a worker sees of the newest attempt of its container. */
export interface ProbedContainer {
  id: string;
  running: boolean;
  /** It has run and stopped (a container made but not yet started is neither). */
  exited: boolean;
  /** When it started running, ms. */
  startedAtMs: number;
}

export interface ProberDeps {
  clock: Clock;
  /** The newest desired pod of a UID, if it is still known. */
  pod(uid: string): Pod | undefined;
  /** The newest attempt of a container, as the engine holds it. */
  container(uid: string, name: string): ProbedContainer | undefined;
  run(pod: Pod, container: Container, probe: Probe, type: ProbeType, containerId: string): Promise<ProbeRun>;
  /** A recorded result changed: the pod needs a sync. */
  changed(uid: string): void;
  /** A probe failed (the Unhealthy event, recorded for every failed run). */
  unhealthy(pod: Pod, container: Container, type: ProbeType, output: string): void;
  log(m: string): void;
}

export const PROBE_TYPES: readonly ProbeType[] = ["liveness", "readiness", "startup"];

export function probeOf(c: Container, type: ProbeType): Probe | undefined {
  return type === "liveness" ? c.livenessProbe : type === "readiness" ? c.readinessProbe : c.startupProbe;
}

/** The API's defaults for a probe's numbers (the pod strategy leaves them unset). */
export function probeTiming(p: Probe, type: ProbeType) {
  return {
    initialDelayMs: Math.max(0, p.initialDelaySeconds ?? 0) * 1000,
    timeoutMs: Math.max(1, p.timeoutSeconds ?? 1) * 1000,
    periodMs: Math.max(1, p.periodSeconds ?? 10) * 1000,
    // liveness and startup must use 1 (validation); readiness may ask for more
    successThreshold: type === "readiness" ? Math.max(1, p.successThreshold ?? 1) : 1,
    failureThreshold: Math.max(1, p.failureThreshold ?? 3),
  };
}

const key = (uid: string, name: string, type: ProbeType) => `${uid}/${name}/${type}`;

class ProbeWorker {
  containerId: string | undefined;
  private onHold = false;
  private lastResult: ProbeResult | undefined;
  private resultRun = 0;
  private timer: Timer | undefined;
  private probing = false;
  stopped = false;
  private readonly timing: ReturnType<typeof probeTiming>;

  constructor(
    readonly uid: string,
    readonly container: Container,
    readonly type: ProbeType,
    readonly probe: Probe,
    private readonly prober: Prober,
  ) {
    this.timing = probeTiming(probe, type);
  }

  /** Probes now (the first run, or a new container to look at), then every period. */
  trigger(): void {
    if (this.stopped || this.probing) return;
    this.timer?.cancel();
    void this.tick();
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    if (this.containerId) this.prober.forget(this.containerId, this.type);
  }

  private async tick(): Promise<void> {
    this.probing = true;
    let keepGoing = true;
    try {
      keepGoing = await this.doProbe();
    } catch (err) {
      this.prober.deps.log(`${this.type} probe of ${this.container.name}: ${(err as Error).message}`);
    } finally {
      this.probing = false;
    }
    if (this.stopped) return;
    if (!keepGoing) return this.stop();
    this.timer = this.prober.deps.clock.after(this.timing.periodMs, () => void this.tick());
  }

  /** kubelet's worker.doProbe: false when the probe has nothing left to watch. */
  private async doProbe(): Promise<boolean> {
    const d = this.prober.deps;
    const pod = d.pod(this.uid);
    if (!pod) return true;
    if (pod.status?.phase === "Succeeded" || pod.status?.phase === "Failed") return false;
    const c = d.container(this.uid, this.container.name);
    if (!c) return true;
    if (c.id !== this.containerId) {
      const adopted = this.containerId === undefined ? pod.status?.containerStatuses?.find((s) => s.name === this.container.name && s.containerID === CONTAINER_ID_PREFIX + c.id) : undefined;
      if (this.containerId) this.prober.forget(this.containerId, this.type);
      this.containerId = c.id;
      if (this.type === "liveness") this.prober.record(this.uid, c.id, this.type, "success");
      if (this.type === "readiness") this.prober.record(this.uid, c.id, this.type, adopted?.ready ? "success" : "failure");
      if (this.type === "startup" && adopted?.started) this.prober.record(this.uid, c.id, this.type, "success");
      this.onHold = false;
      this.lastResult = undefined;
      this.resultRun = 0;
    }
    if (this.onHold) return true;
    if (!c.running) {
      // Made but not started yet: nothing to say about it. Stopped: it fails every probe.
      if (!c.exited) return true;
      this.prober.record(this.uid, c.id, this.type, "failure");
      return (pod.spec.restartPolicy ?? "Always") !== "Never";
    }
    // A pod being deleted is not killed for a failing liveness or startup probe.
    if (pod.metadata.deletionTimestamp && this.type !== "readiness") return true;
    if (d.clock.now() - c.startedAtMs < this.timing.initialDelayMs) return true;
    const started = this.prober.isStarted(this.uid, this.container.name, c.id, true);
    if (started && this.type === "startup") return true;
    if (!started && this.type !== "startup") return true;

    let run: ProbeRun;
    try {
      run = await d.run(pod, this.container, this.probe, this.type, c.id);
    } catch (err) {
      d.log(`${this.type} probe of ${pod.metadata.namespace}/${pod.metadata.name} ${this.container.name} errored: ${(err as Error).message}`);
      return true;
    }
    countProbe(this.type, run.result, pod.metadata, this.container.name);
    if (this.stopped || c.id !== this.containerId) return true;
    if (run.result === "failure") d.unhealthy(pod, this.container, this.type, run.output);
    if (this.lastResult === run.result) this.resultRun++;
    else {
      this.lastResult = run.result;
      this.resultRun = 1;
    }
    if ((run.result === "failure" && this.resultRun < this.timing.failureThreshold) || (run.result === "success" && this.resultRun < this.timing.successThreshold)) return true;
    this.prober.record(this.uid, c.id, this.type, run.result);
    if (this.type !== "readiness" && run.result === "failure") {
      // The container will be killed: probe again only once a new one runs.
      this.onHold = true;
      this.resultRun = 0;
    }
    return true;
  }
}

export class Prober {
  private readonly workers = new Map<string, ProbeWorker>();
  private readonly results = new Map<string, Map<ProbeType, ProbeResult>>();

  constructor(readonly deps: ProberDeps) {}

  /** Makes the workers a pod's containers ask for, and probes at once a container that is new to its worker. */
  syncPod(pod: Pod): void {
    const uid = pod.metadata.uid;
    if (!uid) return;
    // Every worker exists before any probes: liveness must see that a startup probe gates it.
    const due: ProbeWorker[] = [];
    for (const c of pod.spec.containers) {
      for (const type of PROBE_TYPES) {
        const probe = probeOf(c, type);
        if (!probe) continue;
        const k = key(uid, c.name, type);
        const w = this.workers.get(k);
        if (!w) {
          const made = new ProbeWorker(uid, c, type, probe, this);
          this.workers.set(k, made);
          due.push(made);
          continue;
        }
        const current = this.deps.container(uid, c.name);
        if (current?.running && current.id !== w.containerId) due.push(w);
      }
    }
    for (const w of due) w.trigger();
  }

  /** The pod is gone: its workers stop and its results go. */
  removePod(uid: string): void {
    for (const [k, w] of this.workers) {
      if (w.uid !== uid) continue;
      w.stop();
      this.workers.delete(k);
    }
  }

  stopAll(): void {
    for (const w of this.workers.values()) w.stop();
    this.workers.clear();
  }

  record(uid: string, containerId: string, type: ProbeType, result: ProbeResult): void {
    let m = this.results.get(containerId);
    if (!m) this.results.set(containerId, (m = new Map()));
    if (m.get(type) === result) return;
    m.set(type, result);
    this.deps.changed(uid);
  }

  forget(containerId: string, type: ProbeType): void {
    const m = this.results.get(containerId);
    m?.delete(type);
    if (m && m.size === 0) this.results.delete(containerId);
  }

  result(containerId: string, type: ProbeType): ProbeResult | undefined {
    return this.results.get(containerId)?.get(type);
  }

  private hasWorker(uid: string, name: string, type: ProbeType): boolean {
    return this.workers.has(key(uid, name, type));
  }

  /** `started`: running, and its startup probe (if it has one) has succeeded. */
  isStarted(uid: string, name: string, containerId: string, running: boolean): boolean {
    if (!running) return false;
    if (!this.hasWorker(uid, name, "startup")) return true;
    return this.result(containerId, "startup") === "success";
  }

  /** `ready`: started, and its readiness probe (if it has one) has succeeded. */
  isReady(uid: string, name: string, containerId: string, running: boolean): boolean {
    if (!this.isStarted(uid, name, containerId, running)) return false;
    if (!this.hasWorker(uid, name, "readiness")) return true;
    return this.result(containerId, "readiness") === "success";
  }

  /** Why a running container must be killed: its liveness or startup probe failed. */
  killReason(containerId: string): "liveness" | "startup" | undefined {
    if (this.result(containerId, "liveness") === "failure") return "liveness";
    if (this.result(containerId, "startup") === "failure") return "startup";
    return undefined;
  }
}
