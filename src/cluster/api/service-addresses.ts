// ClusterIP and NodePort allocation for Services, done when a Service is created (as the
// real server's service REST storage does). Addresses come from 10.43.0.0/16 (k3s' default
// service CIDR) and node ports from 30000-32767; both are checked against existing Services.
import { isPlainObject, type KubeObject } from "./objects.ts";
import { ApiError } from "./status.ts";

export const SERVICE_CIDR = "10.43.0.0/16";
const NODE_PORT_MIN = 30000;
const NODE_PORT_MAX = 32767;

type R = Record<string, unknown>;

export function allocateServiceAddresses(svc: KubeObject, existing: KubeObject[]): void {
  const spec = (isPlainObject(svc.spec) ? svc.spec : (svc.spec = {})) as R;
  const usedIps = new Set(existing.map((s) => (s.spec as R | undefined)?.clusterIP).filter(Boolean));
  const usedPorts = new Set(existing.flatMap((s) => (((s.spec as R | undefined)?.ports ?? []) as R[]).map((p) => p.nodePort)).filter(Boolean));
  if (spec.type !== "ExternalName") {
    if (spec.clusterIP === undefined || spec.clusterIP === "") {
      let ip: string | undefined;
      for (let i = 0; i < 1000 && !ip; i++) {
        const n = 10 + Math.floor(Math.random() * (65536 - 20));
        const candidate = `10.43.${n >> 8}.${n & 255}`;
        if (!usedIps.has(candidate)) ip = candidate;
      }
      if (!ip) throw new ApiError("INTERNAL", 500, "InternalError", `no free ClusterIP left in ${SERVICE_CIDR}`);
      spec.clusterIP = ip;
    }
    if (spec.clusterIP !== "None" && usedIps.has(spec.clusterIP)) {
      throw new ApiError("INVALID_SPEC", 422, "Invalid", `Service "${svc.metadata.name}" is invalid: spec.clusterIP: Invalid value: "${String(spec.clusterIP)}": provided IP is already allocated`);
    }
    spec.clusterIPs = [spec.clusterIP];
  }
  if (spec.type === "NodePort" || spec.type === "LoadBalancer") {
    for (const p of (Array.isArray(spec.ports) ? spec.ports : []) as R[]) {
      if (p.nodePort) continue;
      for (let i = 0; i < 5000 && !p.nodePort; i++) {
        const port = NODE_PORT_MIN + Math.floor(Math.random() * (NODE_PORT_MAX - NODE_PORT_MIN + 1));
        if (!usedPorts.has(port)) p.nodePort = port;
      }
      usedPorts.add(p.nodePort);
    }
  }
}
