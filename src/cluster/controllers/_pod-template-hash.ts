// The pod-template-hash a Deployment puts in its ReplicaSets' names and labels
// (pkg/controller/controller_utils.go ComputeHash): FNV-1a (32 bit) over the template, then
// the collision count, the decimal number encoded with the alphabet Kubernetes uses for
// names (rand.SafeEncodeString), so it has no vowels and cannot spell words.
// Kubernetes hashes the Go struct's printed form, which a JSON world cannot reproduce; the
// hash here is over the template's canonical JSON, so names have Kubernetes' shape and are
// stable, but differ from what kube-controller-manager would pick for the same template.
import type { PodTemplate } from "./_types.ts";

export const POD_TEMPLATE_HASH_LABEL = "pod-template-hash";

const ALPHABET = "bcdfghjklmnpqrstvwxz2456789";

/** Absent, as Go's zero values are: a field that is null, an empty object or an empty list. */
function isEmpty(text: string): boolean {
  return text === "null" || text === "{}" || text === "[]";
}

/**
 * JSON with object keys sorted at every level and empty fields left out: one text per
 * value, whatever the key order, and `labels: {}` the same as no labels (apimachinery's
 * semantic equality treats an empty map as a nil one).
 */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value && typeof value === "object") {
    const fields: string[] = [];
    for (const k of Object.keys(value).sort()) {
      const v = canonicalJson((value as Record<string, unknown>)[k]);
      if (!isEmpty(v)) fields.push(`${JSON.stringify(k)}:${v}`);
    }
    return `{${fields.join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

function fnv32a(bytes: Uint8Array, hash = 0x811c9dc5): number {
  let h = hash;
  for (const b of bytes) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** Each character of s mapped into the name alphabet (rand.SafeEncodeString). */
export function safeEncode(s: string): string {
  let out = "";
  for (let i = 0; i < s.length; i++) out += ALPHABET[s.charCodeAt(i) % ALPHABET.length];
  return out;
}

export function computeTemplateHash(template: PodTemplate | undefined, collisionCount?: number): string {
  let h = fnv32a(new TextEncoder().encode(canonicalJson(template ?? {})));
  if (collisionCount !== undefined) {
    // The count goes in as 4 little-endian bytes, as binary.LittleEndian.PutUint32 writes it.
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, collisionCount >>> 0, true);
    h = fnv32a(b, h);
  }
  return safeEncode(String(h));
}

function withoutHash(template: PodTemplate | undefined): PodTemplate {
  const t = structuredClone(template ?? {});
  if (t.metadata?.labels) {
    delete t.metadata.labels[POD_TEMPLATE_HASH_LABEL];
    if (Object.keys(t.metadata.labels).length === 0) delete t.metadata.labels;
  }
  return t;
}

/** Whether two templates are the same but for the pod-template-hash label (EqualIgnoreHash). */
export function templatesEqualIgnoringHash(a: PodTemplate | undefined, b: PodTemplate | undefined): boolean {
  return canonicalJson(withoutHash(a)) === canonicalJson(withoutHash(b));
}
