// ClusterIP and NodePort allocation for Services, as the real server's service REST storage
// does it on create and update. Addresses come from 10.43.0.0/16 (k3s' default service CIDR),
// node ports from 30000-32767. Each value is claimed by creating its own store key
// (ranges.ts), so concurrent creates, on one server or several, never share one.
import { isPlainObject, type KubeObject } from "./objects.ts";
import { ApiError, type StatusCause } from "./status.ts";
import type { Allocator, Claims } from "./strategies/types.ts";

export const SERVICE_CIDR = "10.43.0.0/16";
const IP_PREFIX = "serviceips/";
const PORT_PREFIX = "servicenodeports/";
const NODE_PORT_MIN = 30000;
const NODE_PORT_MAX = 32767;
/**
 * Automatic ClusterIPs come from above the first 256 addresses while any are free, leaving the
 * low band to addresses asked for by number (10.43.0.1 for the API, 10.43.0.10 for DNS), as
 * Kubernetes' allocator does with its static band.
 */
const STATIC_BAND = 256;
const RANDOM_TRIES = 8;

type R = Record<string, unknown>;

const ipOf = (n: number) => `10.43.${n >> 8}.${n & 255}`;

/** The offset of ip in 10.43.0.0/16 (1..65534), or undefined when it is not a usable address there. */
function offsetOf(ip: string): number | undefined {
  const m = /^10\.43\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
  if (!m) return undefined;
  const [a, b] = [Number(m[1]), Number(m[2])];
  const n = a * 256 + b;
  return a <= 255 && b <= 255 && n > 0 && n < 65535 ? n : undefined;
}

const needsNodePorts = (spec: R) => spec.type === "NodePort" || spec.type === "LoadBalancer";
const needsClusterIP = (spec: R) => spec.type !== "ExternalName" && spec.clusterIP !== "None";
const portsOf = (spec: R) => (Array.isArray(spec.ports) ? spec.ports : []).filter(isPlainObject) as R[];

/** value: as Go's %#v prints it in Kubernetes' message (a string slice for spec.clusterIPs). */
function invalid(svc: KubeObject, field: string, value: string, why: string): ApiError {
  const message = `Invalid value: ${value}: ${why}`;
  const cause: StatusCause = { reason: "FieldValueInvalid", message, field };
  return new ApiError("INVALID_SPEC", 422, "Invalid", `Service "${svc.metadata.name}" is invalid: ${field}: ${message}`, { name: svc.metadata.name, kind: "Service", causes: [cause] });
}

/** Claims a random free value in [lo, hi]: a few blind tries, then a pick among what the store says is free. */
async function claimFree(claims: Claims, prefix: string, lo: number, hi: number, key: (n: number) => string): Promise<number | undefined> {
  for (let i = 0; i < RANDOM_TRIES; i++) {
    const n = lo + Math.floor(Math.random() * (hi - lo + 1));
    if (await claims.claim(key(n))) return n;
  }
  const taken = await claims.taken(prefix);
  const free: number[] = [];
  for (let n = lo; n <= hi; n++) if (!taken.has(key(n))) free.push(n);
  while (free.length) {
    const i = Math.floor(Math.random() * free.length);
    const n = free[i]!;
    free[i] = free[free.length - 1]!;
    free.pop();
    if (await claims.claim(key(n))) return n;
  }
  return undefined;
}

const ipKey = (n: number) => `${IP_PREFIX}${ipOf(n)}`;
const portKey = (n: number) => `${PORT_PREFIX}${n}`;

async function assignClusterIP(svc: KubeObject, spec: R, old: R | undefined, claims: Claims): Promise<void> {
  if (spec.type === "ExternalName") return;
  if ((spec.clusterIP === undefined || spec.clusterIP === "") && typeof old?.clusterIP === "string" && old.clusterIP) spec.clusterIP = old.clusterIP;
  if (spec.clusterIP === undefined || spec.clusterIP === "") {
    const n = (await claimFree(claims, IP_PREFIX, STATIC_BAND, 65534, ipKey)) ?? (await claimFree(claims, IP_PREFIX, 1, STATIC_BAND - 1, ipKey));
    if (n === undefined) throw new ApiError("INTERNAL", 500, "InternalError", `Internal error occurred: failed to allocate a serviceIP: range is full`);
    spec.clusterIP = ipOf(n);
  } else if (spec.clusterIP !== "None") {
    const ip = String(spec.clusterIP);
    const n = offsetOf(ip);
    // kube-apiserver's alloc.go: "failed to allocate IP <ip>: <the allocator's error>".
    const asGo = `[]string{${JSON.stringify(ip)}}`;
    if (n === undefined) throw invalid(svc, "spec.clusterIPs", asGo, `failed to allocate IP ${ip}: the provided IP (${ip}) is not in the valid range. The range of valid IPs is ${SERVICE_CIDR}`);
    if (!(await claims.claim(ipKey(n)))) throw invalid(svc, "spec.clusterIPs", asGo, `failed to allocate IP ${ip}: provided IP is already allocated`);
  }
  spec.clusterIPs = [spec.clusterIP];
}

async function assignNodePorts(svc: KubeObject, spec: R, old: R | undefined, claims: Claims): Promise<void> {
  const ports = portsOf(spec);
  if (!needsNodePorts(spec)) {
    // A Service that stops being a NodePort gives its ports back (the REST storage clears them).
    for (const p of ports) delete p.nodePort;
    return;
  }
  const oldPorts = old && needsNodePorts(old) ? portsOf(old) : [];
  for (const [i, p] of ports.entries()) {
    if (!p.nodePort) {
      // An update that leaves nodePort out keeps the one the same port had.
      const kept = oldPorts.find((o) => o.port === p.port && (o.protocol ?? "TCP") === (p.protocol ?? "TCP"))?.nodePort;
      if (kept) p.nodePort = kept;
    }
    if (!p.nodePort) {
      const n = await claimFree(claims, PORT_PREFIX, NODE_PORT_MIN, NODE_PORT_MAX, portKey);
      if (n === undefined) throw new ApiError("INTERNAL", 500, "InternalError", "Internal error occurred: failed to allocate a nodePort: range is full");
      p.nodePort = n;
      continue;
    }
    const n = p.nodePort;
    const field = `spec.ports[${i}].nodePort`;
    if (typeof n !== "number" || !Number.isInteger(n) || n < NODE_PORT_MIN || n > NODE_PORT_MAX) {
      throw invalid(svc, field, JSON.stringify(n), `provided port is not in the valid range. The range of valid ports is ${NODE_PORT_MIN}-${NODE_PORT_MAX}`);
    }
    // One port number may serve a TCP and a UDP port of the same Service.
    const again = ports.slice(0, i).some((q) => q.nodePort === n);
    if (!again && !(await claims.claim(portKey(n)))) throw invalid(svc, field, String(n), "provided port is already allocated");
  }
}

export const serviceAllocator: Allocator = {
  async assign(svc, old, claims) {
    const spec = (isPlainObject(svc.spec) ? svc.spec : (svc.spec = {})) as R;
    const oldSpec = old && isPlainObject(old.spec) ? (old.spec as R) : undefined;
    await assignClusterIP(svc, spec, oldSpec, claims);
    await assignNodePorts(svc, spec, oldSpec, claims);
  },
  held(svc) {
    const spec = (isPlainObject(svc.spec) ? svc.spec : {}) as R;
    const keys: string[] = [];
    const n = needsClusterIP(spec) ? offsetOf(String(spec.clusterIP ?? "")) : undefined;
    if (n !== undefined) keys.push(ipKey(n));
    if (needsNodePorts(spec)) for (const p of portsOf(spec)) if (typeof p.nodePort === "number") keys.push(portKey(p.nodePort));
    return [...new Set(keys)];
  },
};
