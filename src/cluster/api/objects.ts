// Small helpers for Kubernetes objects held as plain JSON.

import type { ObjectMeta as ClientObjectMeta, OwnerReference } from "../client/index.ts";

export type { OwnerReference };

/** The client's object metadata, with managedFields typed (the server reads and writes them). */
export interface ObjectMeta extends ClientObjectMeta {
  managedFields?: ManagedFieldsEntry[];
}

export interface ManagedFieldsEntry {
  manager: string;
  operation: "Apply" | "Update";
  apiVersion: string;
  time?: string;
  fieldsType: "FieldsV1";
  fieldsV1: Record<string, unknown>;
  subresource?: string;
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  [k: string]: unknown;
}

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

export const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * A deep copy of a JSON value — what stored objects and decoded request bodies are (no cycles,
 * no shared parts). Several times faster than structuredClone on a pod (2.5–6 against 23–30 µs,
 * measured with node on this machine), which the server runs on every write. Anything that is
 * not an array or a plain object (a Date, a typed array) is copied by structuredClone.
 */
export function clone<T>(v: T): T {
  if (typeof v !== "object" || v === null) return v;
  if (Array.isArray(v)) return v.map(clone) as T;
  const proto = Object.getPrototypeOf(v) as unknown;
  if (proto !== Object.prototype && proto !== null) return structuredClone(v);
  const from = v as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  // for-in: a plain object inherits no enumerable keys, and it is faster than Object.entries.
  for (const k in from) {
    // JSON.parse makes "__proto__" an own key; plain assignment would set the prototype.
    if (k === "__proto__") Object.defineProperty(out, k, { value: clone(from[k]), enumerable: true, writable: true, configurable: true });
    else out[k] = clone(from[k]);
  }
  return out as T;
}

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  if (isPlainObject(a) && isPlainObject(b)) {
    const ka = Object.keys(a);
    if (ka.length !== Object.keys(b).length) return false;
    return ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && deepEqual(a[k], b[k]));
  }
  return false;
}

/** RFC 3339 at second precision, as Kubernetes' metav1.Time serialises. */
export const nowTimestamp = () => new Date().toISOString().replace(/\.\d{3}Z$/, "Z");

/** Kubernetes' short human duration (duration.HumanDuration): 45s, 3m2s, 5h, 3d, 2y. */
export function humanAge(from: string | undefined, now = Date.now()): string {
  if (!from) return "<unknown>";
  const secs = Math.max(0, Math.floor((now - Date.parse(from)) / 1000));
  if (secs < 120) return `${secs}s`;
  const mins = Math.floor(secs / 60);
  if (mins < 10) return secs % 60 === 0 ? `${mins}m` : `${mins}m${secs % 60}s`;
  if (mins < 180) return `${mins}m`;
  const hours = Math.floor(mins / 60);
  if (hours < 8) return mins % 60 === 0 ? `${hours}h` : `${hours}h${mins % 60}m`;
  if (hours < 48) return `${hours}h`;
  const days = Math.floor(hours / 24);
  if (days < 8) return hours % 24 === 0 ? `${days}d` : `${days}d${hours % 24}h`;
  if (days < 730) return `${days}d`;
  return `${Math.floor(days / 365)}y`;
}

/** Reads a dotted path. */
export function getPath(obj: unknown, path: string[]): unknown {
  let cur = obj;
  for (const seg of path) cur = isPlainObject(cur) ? cur[seg] : undefined;
  return cur;
}
