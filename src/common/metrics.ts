// Prometheus metrics: one registry per process (prom-client's default), shared by whatever
// runs in it — the API server, scheduler and controllers in `gantry server`, the agent, the
// engine daemon — and served as the text exposition format at each one's `/metrics`.
// Names follow Kubernetes' (apiserver_*, workqueue_*, scheduler_*, kubelet_*, container_*)
// where one exists, so dashboards and alerts written for a Kubernetes cluster read ours.
//
// Metrics are defined where they are measured, through the get-or-create helpers below: a
// module may be loaded twice in one process (tests start several servers), and a second
// `new Counter` with the same name would throw.
//
// prom-client's modules are imported one by one (see prom-client-lib.d.ts): its index would
// also load Summary, the Pushgateway, default process metrics and the cluster aggregator —
// about 2 MB of a node agent's RSS for nothing it uses.
import type { Counter, CounterConfiguration, Gauge, GaugeConfiguration, Histogram, HistogramConfiguration } from "prom-client";
import CounterClass from "prom-client/lib/counter.js";
import GaugeClass from "prom-client/lib/gauge.js";
import HistogramClass from "prom-client/lib/histogram.js";
import Registry from "prom-client/lib/registry.js";

export type { Counter, Gauge, Histogram };

const register = Registry.globalRegistry;

/** Kubernetes' request-latency buckets (apiserver_request_duration_seconds), in seconds. */
export const REQUEST_DURATION_BUCKETS = [0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1, 1.25, 1.5, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 45, 60];

/** client-go's workqueue buckets: 10^-8 s to 10 s, one per decade. */
export const WORKQUEUE_BUCKETS = [1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 0.01, 0.1, 1, 10];

/** Store (etcd_request_duration_seconds) and start-latency buckets: 5 ms to 60 s. */
export const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1, 1.25, 1.5, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 45, 60];

export function counter<L extends string>(cfg: CounterConfiguration<L>): Counter<L> {
  return (register.getSingleMetric(cfg.name) as Counter<L> | undefined) ?? new CounterClass(cfg);
}

export function gauge<L extends string>(cfg: GaugeConfiguration<L>): Gauge<L> {
  return (register.getSingleMetric(cfg.name) as Gauge<L> | undefined) ?? new GaugeClass(cfg);
}

export function histogram<L extends string>(cfg: HistogramConfiguration<L>): Histogram<L> {
  return (register.getSingleMetric(cfg.name) as Histogram<L> | undefined) ?? new HistogramClass(cfg);
}

/** Seconds since `startMs` (a performance.now() reading). */
export const secondsSince = (startMs: number) => (performance.now() - startMs) / 1000;

/** The process's metrics in the Prometheus text format, and the Content-Type to send with them. */
export async function renderMetrics(): Promise<{ contentType: string; body: string }> {
  return { contentType: register.contentType, body: await register.metrics() };
}
