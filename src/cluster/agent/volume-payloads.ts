// The files of configMap, secret, downwardAPI and projected volumes, as the kubelet's volume
// plugins compute them (MakePayload in pkg/volume/{configmap,secret,downwardapi,projected}):
// every key (or only `items`, each with its own path and mode), modes from `defaultMode`
// (0644 when unset), a missing object or key failing the mount unless `optional`. Pure: the
// caller fetches the objects and writes the payload with the atomic writer.
import type { FileProjection, Payload } from "./atomic-writer.ts";
import { fieldValue } from "./env.ts";
import type { ConfigMapProjection, DownwardAPIFile, KeyToPath, Pod, ProjectedSource } from "./pod-types.ts";
import { resourceFieldValue } from "./resources.ts";

/** A volume that cannot be set up (yet): the kubelet's FailedMount, retried. */
export class VolumeSetUpError extends Error {}

export const DEFAULT_MODE = 0o644;

export interface KeyedObject {
  data?: Record<string, string>;
  binaryData?: Record<string, string>;
}

export interface PayloadContext {
  pod: Pod;
  hostIP: string;
  podIP: string;
  allocatable: { cpu: string; memory: string; "ephemeral-storage": string };
}

/** A ConfigMap's keys as bytes (data as UTF-8, binaryData base64). */
export function configMapBytes(cm: KeyedObject): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const [k, v] of Object.entries(cm.data ?? {})) out.set(k, Buffer.from(v, "utf8"));
  for (const [k, v] of Object.entries(cm.binaryData ?? {})) out.set(k, Buffer.from(v, "base64"));
  return out;
}

/** A Secret's keys as bytes (data is base64). */
export function secretBytes(s: KeyedObject): Map<string, Buffer> {
  return new Map(Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, "base64")]));
}

/**
 * The payload of one configMap or secret source. `obj` undefined means it does not exist:
 * optional → nothing, else the kubelet's `configmap "x" not found`.
 */
export function keyedPayload(kind: "configmap" | "secret", src: { name: string; items?: KeyToPath[]; optional?: boolean }, obj: KeyedObject | undefined, defaultMode: number): Payload {
  const out: Payload = new Map();
  if (!obj) {
    if (src.optional) return out;
    throw new VolumeSetUpError(`${kind} "${src.name}" not found`);
  }
  const keys = kind === "configmap" ? configMapBytes(obj) : secretBytes(obj);
  if (!src.items?.length) {
    for (const [k, data] of keys) out.set(k, { data, mode: defaultMode });
    return out;
  }
  for (const item of src.items) {
    const data = keys.get(item.key);
    if (data === undefined) {
      if (src.optional) continue;
      throw new VolumeSetUpError(kind === "configmap" ? `configmap references non-existent config key: ${item.key}` : `references non-existent secret key: ${item.key}`);
    }
    out.set(item.path, { data, mode: item.mode ?? defaultMode });
  }
  return out;
}

/** The payload of downwardAPI items: pod fields and container resources, one file each. */
export function downwardPayload(items: DownwardAPIFile[], ctx: PayloadContext, defaultMode: number): Payload {
  const out: Payload = new Map();
  for (const item of items) {
    let text: string;
    if (item.fieldRef) {
      const path = item.fieldRef.fieldPath;
      // Whole maps are written as the kubelet formats them: key="value" lines, sorted.
      if (path === "metadata.labels" || path === "metadata.annotations") text = formatMap((path === "metadata.labels" ? ctx.pod.metadata.labels : ctx.pod.metadata.annotations) ?? {});
      else text = fieldOrFail(ctx, path);
    } else if (item.resourceFieldRef) {
      const ref = item.resourceFieldRef;
      const c = [...ctx.pod.spec.containers, ...(ctx.pod.spec.initContainers ?? [])].find((x) => x.name === ref.containerName);
      if (!c) throw new VolumeSetUpError(`container ${ref.containerName ?? "(unset)"} not found for resourceFieldRef ${ref.resource}`);
      text = resourceFieldValue(c, ref.resource, ref.divisor, ctx.allocatable);
    } else {
      throw new VolumeSetUpError(`downwardAPI item ${item.path}: fieldRef or resourceFieldRef is required`);
    }
    out.set(item.path, { data: Buffer.from(text, "utf8"), mode: item.mode ?? defaultMode });
  }
  return out;
}

function fieldOrFail(ctx: PayloadContext, path: string): string {
  try {
    return fieldValue(ctx.pod, path, ctx.hostIP, ctx.podIP);
  } catch (err) {
    throw new VolumeSetUpError((err as Error).message);
  }
}

/** labels/annotations as the downward API writes them: `key="value"` per line, sorted by key, values quoted as Go's %q. */
export function formatMap(m: Record<string, string>): string {
  return Object.keys(m)
    .sort()
    .map((k) => `${k}=${JSON.stringify(m[k])}`)
    .join("\n");
}

export interface ProjectedObjects {
  configMap(name: string): KeyedObject | undefined;
  secret(name: string): KeyedObject | undefined;
  /** The service account token fetched for the serviceAccountToken source writing PATH. */
  serviceAccountToken?(path: string): string | undefined;
}

/** A projected volume: its sources' payloads merged in order (a later path replaces an earlier one). */
export function projectedPayload(sources: ProjectedSource[], objects: ProjectedObjects, ctx: PayloadContext, defaultMode: number): Payload {
  const out: Payload = new Map();
  const merge = (p: Payload) => {
    for (const [k, v] of p) out.set(k, v);
  };
  for (const s of sources) {
    if (s.configMap) merge(keyedPayload("configmap", s.configMap as ConfigMapProjection, objects.configMap(s.configMap.name), defaultMode));
    else if (s.secret) merge(keyedPayload("secret", s.secret, objects.secret(s.secret.name), defaultMode));
    else if (s.downwardAPI) merge(downwardPayload(s.downwardAPI.items ?? [], ctx, defaultMode));
    else if (s.serviceAccountToken) {
      const token = objects.serviceAccountToken?.(s.serviceAccountToken.path);
      if (token === undefined) throw new VolumeSetUpError(`serviceAccountToken projection ${s.serviceAccountToken.path}: no token was fetched`);
      out.set(s.serviceAccountToken.path, { data: Buffer.from(token, "utf8"), mode: defaultMode });
    }
    else throw new VolumeSetUpError("projected volume: unsupported source (clusterTrustBundle and others are not implemented)");
  }
  return out;
}

export type { FileProjection };
