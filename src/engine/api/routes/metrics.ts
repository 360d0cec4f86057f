// GET /metrics on the daemon's socket: the process's Prometheus metrics (dockerd serves its
// own at --metrics-addr; the names here are dockerd's): containers by state, how long
// container actions take, and the engine's identity as an info gauge.
import { release } from "node:os";
import { gauge, histogram, LATENCY_BUCKETS, renderMetrics, secondsSince } from "../../../common/metrics.ts";
import type { Engine } from "../../engine.ts";
import { hasProcess } from "../../container-state.ts";
import type { RouteTable } from "../http.ts";
import { GANTRY_VERSION } from "./system.ts";

/** The engines serving an API in this process (one, unless tests run several). */
const engines = new Set<Engine>();

gauge({
  name: "engine_daemon_container_states_containers",
  help: "The count of containers in various states",
  labelNames: ["state"],
  collect() {
    const counts = { running: 0, paused: 0, stopped: 0 };
    for (const e of engines) {
      for (const c of e.containers.all()) {
        if (c.State.Status === "paused") counts.paused++;
        else if (hasProcess(c.State.Status)) counts.running++;
        else counts.stopped++;
      }
    }
    for (const [state, n] of Object.entries(counts)) this.set({ state }, n);
  },
});

gauge({
  name: "engine_daemon_engine_info",
  help: "The information related to the engine and the OS it is running on",
  labelNames: ["version", "kernel", "os", "architecture", "commit"],
  collect() {
    this.set({ version: GANTRY_VERSION, kernel: release(), os: "linux", architecture: process.arch === "x64" ? "x86_64" : process.arch, commit: "gantry" }, 1);
  },
});

const actions = histogram({ name: "engine_daemon_container_actions_seconds", help: "The number of seconds it takes to process each container action", labelNames: ["action"], buckets: LATENCY_BUCKETS });

/** Times one container action (create, start, delete) as dockerd's daemon does. */
export async function timeContainerAction<T>(action: string, call: () => Promise<T>): Promise<T> {
  const started = performance.now();
  try {
    return await call();
  } finally {
    actions.observe({ action }, secondsSince(started));
  }
}

export function registerMetricsRoutes(api: RouteTable, e: Engine): void {
  engines.add(e);
  api.on("GET", "/metrics", async (_r, res) => {
    const { contentType, body } = await renderMetrics();
    res.writeHead(200, { "Content-Type": contentType, "Content-Length": Buffer.byteLength(body) });
    res.end(body);
  });
}

/** The engine's containers no longer count (its API server closed). */
export function unregisterMetrics(e: Engine): void {
  engines.delete(e);
}
