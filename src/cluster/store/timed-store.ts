// Store latency as kube-apiserver reports its etcd calls (etcd_request_duration_seconds and
// etcd_requests_total, by operation and type), for whichever backend is open: the wrapper
// times each call and passes it through unchanged. `type` is the resource a key belongs to
// (`/registry/<group|core>/<plural>/…` → "pods", "deployments.apps"), as Kubernetes labels
// its storage metrics by resource.
import { counter, histogram, LATENCY_BUCKETS, secondsSince } from "../../common/metrics.ts";
import type { Store } from "./types.ts";

const durationMetric = histogram({ name: "etcd_request_duration_seconds", help: "Store request latency in seconds for each operation and object type (SQLite or etcd).", labelNames: ["operation", "type"], buckets: LATENCY_BUCKETS });
const requestsMetric = counter({ name: "etcd_requests_total", help: "Store request counts for each operation and object type.", labelNames: ["operation", "type"] });

/** "pods" for /registry/core/pods/…, "deployments.apps" for /registry/apps/deployments/…; other keys by their second segment. */
export function storeKeyType(key: string): string {
  const segs = key.split("/");
  if (segs[1] !== "registry" || !segs[2]) return segs[1] || "unknown";
  if (!segs[3]) return segs[2];
  return segs[2] === "core" ? segs[3] : `${segs[3]}.${segs[2]}`;
}

async function timed<T>(operation: string, key: string, call: () => Promise<T>): Promise<T> {
  const labels = { operation, type: storeKeyType(key) };
  const started = performance.now();
  try {
    return await call();
  } finally {
    durationMetric.observe(labels, secondsSince(started));
    requestsMetric.inc(labels);
  }
}

/** The same store, each read and write measured. */
export function timedStore(store: Store): Store {
  return {
    currentRevision: () => store.currentRevision(),
    get: (key) => timed("get", key, () => store.get(key)),
    list: (prefix, opts) => timed("listWithCount", prefix, () => store.list(prefix, opts)),
    create: (key, value) => timed("create", key, () => store.create(key, value)),
    update: (key, value, rev) => timed("update", key, () => store.update(key, value, rev)),
    delete: (key, rev) => timed("delete", key, () => store.delete(key, rev)),
    count: (prefix) => timed("count", prefix, () => store.count(prefix)),
    watch: (prefix, from, onEvent, onError) => store.watch(prefix, from, onEvent, onError),
    compact: (rev) => timed("compact", "/compact", () => store.compact(rev)),
    close: () => store.close(),
  };
}
