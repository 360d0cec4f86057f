// The agent's Prometheus metrics, named as the kubelet's (pkg/kubelet/metrics, prober
// metrics) and cAdvisor's (container_* per container, from its cgroup). Gauges of what runs
// are read from the engine when scraped, not kept up to date between scrapes; the cAdvisor
// series likewise read each running container's cgroup at scrape time.
import { counter, gauge, histogram, LATENCY_BUCKETS, secondsSince } from "../../common/metrics.ts";
import type { Engine } from "../../engine/index.ts";
import { sampleOf } from "./resource-stats.ts";
import { isRunning, runtimePods, SANDBOX_NAME, type RuntimeContainer, type RuntimePod } from "./runtime-pods.ts";

/** The engines of the agents in this process (one, unless tests run several). */
const engines = new Set<Engine>();

function* eachContainer(): Generator<{ engine: Engine; pod: RuntimePod; c: RuntimeContainer }> {
  for (const engine of engines) {
    for (const pod of runtimePods(engine).values()) {
      for (const [name, attempts] of pod.containers) if (name !== SANDBOX_NAME && attempts[0]) yield { engine, pod, c: attempts[0] };
    }
  }
}

gauge({
  name: "kubelet_running_pods",
  help: "Number of pods that have a running pod sandbox",
  collect() {
    let n = 0;
    for (const engine of engines) for (const pod of runtimePods(engine).values()) if (isRunning(pod.sandboxes[0])) n++;
    this.set(n);
  },
});

gauge({
  name: "kubelet_running_containers",
  help: "Number of containers currently running",
  labelNames: ["container_state"],
  collect() {
    this.reset();
    const counts = new Map<string, number>();
    for (const { c } of eachContainer()) {
      const state = isRunning(c) ? "running" : c.record.State.Status === "created" ? "created" : "exited";
      counts.set(state, (counts.get(state) ?? 0) + 1);
    }
    for (const state of ["running", "created", "exited"]) this.set({ container_state: state }, counts.get(state) ?? 0);
  },
});

// cAdvisor's series for every running container, from one read of its cgroup per scrape: a
// scrape renders the families in the order they were registered, so the first one's collect()
// reads the cgroups and fills the other three, which are rendered after it.
const CADVISOR_LABELS = ["container", "pod", "namespace", "id"] as const;
counter({
  name: "container_cpu_usage_seconds_total",
  help: "Cumulative cpu time consumed in seconds.",
  labelNames: CADVISOR_LABELS,
  collect() {
    this.reset();
    workingSet.reset();
    memoryUsage.reset();
    processes.reset();
    for (const { engine, pod, c } of eachContainer()) {
      if (!isRunning(c)) continue;
      let s;
      try {
        s = sampleOf(engine.runtime.stats(c.id), Date.now());
      } catch {
        continue; // stopped between the listing and the read
      }
      const labels = { container: c.name, pod: pod.name, namespace: pod.namespace, id: c.id };
      this.inc(labels, s.cpuNs / 1e9);
      workingSet.set(labels, s.workingSet);
      memoryUsage.set(labels, s.usage);
      processes.set(labels, s.processes);
    }
  },
});
const workingSet = gauge({ name: "container_memory_working_set_bytes", help: "Current working set in bytes.", labelNames: CADVISOR_LABELS });
const memoryUsage = gauge({ name: "container_memory_usage_bytes", help: "Current memory usage in bytes, including all memory regardless of when it was accessed", labelNames: CADVISOR_LABELS });
const processes = gauge({ name: "container_processes", help: "Number of processes running inside the container.", labelNames: CADVISOR_LABELS });

const probes = counter({ name: "prober_probe_total", help: "Cumulative number of a liveness, readiness or startup probe for a container by result.", labelNames: ["probe_type", "result", "container", "pod", "namespace", "pod_uid"] });

export function countProbe(type: string, result: "success" | "failure", pod: { name?: string; namespace?: string; uid?: string }, container: string): void {
  probes.inc({ probe_type: type === "liveness" ? "Liveness" : type === "readiness" ? "Readiness" : "Startup", result: result === "success" ? "successful" : "failed", container, pod: pod.name ?? "", namespace: pod.namespace ?? "", pod_uid: pod.uid ?? "" });
}

const runtimeOperations = histogram({ name: "kubelet_runtime_operations_duration_seconds", help: "Duration in seconds of runtime operations. Broken down by operation type.", labelNames: ["operation_type"], buckets: LATENCY_BUCKETS });
const runtimeErrors = counter({ name: "kubelet_runtime_operations_errors_total", help: "Cumulative number of runtime operation errors by operation type.", labelNames: ["operation_type"] });

/** Times one runtime call (create_container, start_container, run_podsandbox) and counts its failure. */
export async function timeRuntimeOperation<T>(operation: string, call: () => Promise<T>): Promise<T> {
  const started = performance.now();
  try {
    return await call();
  } catch (err) {
    runtimeErrors.inc({ operation_type: operation });
    throw err;
  } finally {
    runtimeOperations.observe({ operation_type: operation }, secondsSince(started));
  }
}

/** Counts this engine's pods and containers in the scrapes; the returned function stops that. */
export function measureNode(engine: Engine): () => void {
  engines.add(engine);
  return () => engines.delete(engine);
}
