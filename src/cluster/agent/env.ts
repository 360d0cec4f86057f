// A container's environment as the kubelet makes it (pkg/kubelet/kubelet_pods.go
// makeEnvironmentVariables): envFrom first (ConfigMaps and Secrets, with their prefix), then
// env in order — plain values with $(VAR) expanded against what came before, and valueFrom
// fieldRef (the downward API), resourceFieldRef, configMapKeyRef and secretKeyRef. A missing
// non-optional source fails the start with the kubelet's message (CreateContainerConfigError).
import type { Container, Pod } from "./pod-types.ts";
import { resourceFieldValue } from "./resources.ts";

export class EnvConfigError extends Error {}

/** Reads the ConfigMaps and Secrets env refers to; undefined when one does not exist. */
export interface EnvSources {
  configMap(namespace: string, name: string): Promise<{ data?: Record<string, string>; binaryData?: Record<string, string> } | undefined>;
  secret(namespace: string, name: string): Promise<{ data?: Record<string, string> } | undefined>;
}

export interface EnvContext {
  pod: Pod;
  hostIP: string;
  podIP: string;
  allocatable: { cpu: string; memory: string; "ephemeral-storage": string };
  sources: EnvSources;
  /** The Services the kubelet tells containers about (serviceEnv): every one the node knows of. */
  services?: ServiceForEnv[];
}

/** What the service env vars are made of. */
export interface ServiceForEnv {
  metadata: { name?: string; namespace?: string };
  spec?: { clusterIP?: string; ports?: { name?: string; port: number; protocol?: string }[] };
}

/**
 * The docker-link style variables of Services (pkg/kubelet/envvars FromServices), as the
 * kubelet's getServiceEnvVarMap picks them: the pod's namespace's Services when
 * enableServiceLinks (default true), and always the `kubernetes` Service in `default` — how
 * in-cluster clients find the API (KUBERNETES_SERVICE_HOST/PORT). Headless and
 * address-less Services are left out.
 */
export function serviceEnv(services: ServiceForEnv[], namespace: string, enableServiceLinks: boolean): Map<string, string> {
  const out = new Map<string, string>();
  const picked = services
    .filter((s) => s.spec?.clusterIP && s.spec.clusterIP !== "None")
    .filter((s) => (enableServiceLinks && s.metadata.namespace === namespace) || (s.metadata.namespace === "default" && s.metadata.name === "kubernetes"))
    // The pod's own namespace's `kubernetes` Service, if any, wins over default's (the kubelet adds it last).
    .sort((a, b) => Number(a.metadata.namespace === namespace) - Number(b.metadata.namespace === namespace));
  for (const s of picked) {
    const name = (s.metadata.name ?? "").toUpperCase().replace(/-/g, "_");
    const ip = s.spec!.clusterIP!;
    const ports = s.spec!.ports ?? [];
    out.set(`${name}_SERVICE_HOST`, ip);
    if (ports[0]) out.set(`${name}_SERVICE_PORT`, String(ports[0].port));
    for (const p of ports) if (p.name) out.set(`${name}_SERVICE_PORT_${p.name.toUpperCase().replace(/-/g, "_")}`, String(p.port));
    if (ports[0]) out.set(`${name}_PORT`, `${(ports[0].protocol ?? "TCP").toLowerCase()}://${ip}:${ports[0].port}`);
    for (const p of ports) {
      const proto = (p.protocol ?? "TCP").toUpperCase();
      const prefix = `${name}_PORT_${p.port}_${proto}`;
      out.set(prefix, `${proto.toLowerCase()}://${ip}:${p.port}`);
      out.set(`${prefix}_PROTO`, proto.toLowerCase());
      out.set(`${prefix}_PORT`, String(p.port));
      out.set(`${prefix}_ADDR`, ip);
    }
  }
  return out;
}

/** $(VAR) → its value when defined, $$ → $, anything else left as written (expansion.MappingFuncFor). */
export function expand(text: string, vars: Map<string, string>): string {
  let out = "";
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === "$" && i + 1 < text.length) {
      const nx = text[i + 1];
      if (nx === "$") {
        out += "$";
        i++;
        continue;
      }
      if (nx === "(") {
        const close = text.indexOf(")", i + 2);
        if (close > 0) {
          const name = text.slice(i + 2, close);
          out += vars.has(name) ? vars.get(name) : `$(${name})`;
          i = close;
          continue;
        }
      }
    }
    out += ch;
  }
  return out;
}

/** metadata.labels['app'] and the other downward API fields. */
export function fieldValue(pod: Pod, path: string, hostIP: string, podIP: string): string {
  const m = /^metadata\.(labels|annotations)\['(.*)'\]$/.exec(path);
  if (m) return (m[1] === "labels" ? pod.metadata.labels : pod.metadata.annotations)?.[m[2]!] ?? "";
  switch (path) {
    case "metadata.name":
      return pod.metadata.name ?? "";
    case "metadata.namespace":
      return pod.metadata.namespace ?? "";
    case "metadata.uid":
      return pod.metadata.uid ?? "";
    case "spec.nodeName":
      return pod.spec.nodeName ?? "";
    case "spec.serviceAccountName":
      return pod.spec.serviceAccountName ?? "";
    case "status.hostIP":
    case "status.hostIPs":
      return hostIP;
    case "status.podIP":
    case "status.podIPs":
      return podIP;
    default:
      throw new EnvConfigError(`unsupported fieldPath: ${path}`);
  }
}

const decode = (b64: string) => Buffer.from(b64, "base64").toString("utf8");

export async function containerEnv(c: Container, ctx: EnvContext): Promise<string[]> {
  const ns = ctx.pod.metadata.namespace ?? "default";
  const vars = new Map<string, string>();
  const services = serviceEnv(ctx.services ?? [], ns, ctx.pod.spec.enableServiceLinks !== false);
  for (const from of c.envFrom ?? []) {
    const prefix = from.prefix ?? "";
    if (from.configMapRef) {
      const cm = await ctx.sources.configMap(ns, from.configMapRef.name);
      if (!cm) {
        if (from.configMapRef.optional) continue;
        throw new EnvConfigError(`configmap "${from.configMapRef.name}" not found`);
      }
      for (const [k, v] of Object.entries(cm.data ?? {})) vars.set(prefix + k, v);
    } else if (from.secretRef) {
      const s = await ctx.sources.secret(ns, from.secretRef.name);
      if (!s) {
        if (from.secretRef.optional) continue;
        throw new EnvConfigError(`secret "${from.secretRef.name}" not found`);
      }
      for (const [k, v] of Object.entries(s.data ?? {})) vars.set(prefix + k, decode(v));
    }
  }
  for (const e of c.env ?? []) {
    const vf = e.valueFrom;
    if (!vf) {
      // $(VAR) may name what came before or a service variable (MappingFuncFor(tmpEnv, serviceEnv)).
      vars.set(e.name, expand(e.value ?? "", new Map([...services, ...vars])));
    } else if (vf.fieldRef) {
      vars.set(e.name, fieldValue(ctx.pod, vf.fieldRef.fieldPath, ctx.hostIP, ctx.podIP));
    } else if (vf.resourceFieldRef) {
      const target = vf.resourceFieldRef.containerName ? [...ctx.pod.spec.containers, ...(ctx.pod.spec.initContainers ?? [])].find((x) => x.name === vf.resourceFieldRef!.containerName) : c;
      if (!target) throw new EnvConfigError(`container ${vf.resourceFieldRef.containerName} not found`);
      vars.set(e.name, resourceFieldValue(target, vf.resourceFieldRef.resource, vf.resourceFieldRef.divisor, ctx.allocatable));
    } else if (vf.configMapKeyRef) {
      const ref = vf.configMapKeyRef;
      const cm = await ctx.sources.configMap(ns, ref.name);
      const v = cm?.data?.[ref.key] ?? (cm?.binaryData?.[ref.key] !== undefined ? decode(cm.binaryData[ref.key]!) : undefined);
      if (v === undefined) {
        if (ref.optional) continue;
        throw new EnvConfigError(cm ? `couldn't find key ${ref.key} in ConfigMap ${ns}/${ref.name}` : `configmap "${ref.name}" not found`);
      }
      vars.set(e.name, v);
    } else if (vf.secretKeyRef) {
      const ref = vf.secretKeyRef;
      const s = await ctx.sources.secret(ns, ref.name);
      const v = s?.data?.[ref.key];
      if (v === undefined) {
        if (ref.optional) continue;
        throw new EnvConfigError(s ? `couldn't find key ${ref.key} in Secret ${ns}/${ref.name}` : `secret "${ref.name}" not found`);
      }
      vars.set(e.name, decode(v));
    }
  }
  // Service variables come last, for the names the container did not set itself.
  for (const [k, v] of services) if (!vars.has(k)) vars.set(k, v);
  return [...vars].map(([k, v]) => `${k}=${v}`);
}
