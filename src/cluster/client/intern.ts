// One copy of each repeated string in an informer's cached objects. JSON.parse makes a fresh
// string for every value it reads, so 5,000 cached pods hold 5,000 copies of
// "default-scheduler", of their image, of "/var/run/secrets/kubernetes.io/serviceaccount" and
// of every condition type: about half of the string bytes in a server's heap with 1,000 nodes
// and 5,000 pods (issue 13's memory target). Interning replaces each short string value with the
// copy already seen, so the parsed duplicate is garbage at the next scavenge.
//
// The table is bounded by generations: when the current generation is full it becomes the
// previous one and the one before is dropped; a string seen in the previous generation moves to
// the current. Strings that keep appearing (images, condition types, node names) stay; unique
// ones (uids, names, timestamps) fall out after two generations, so churn does not grow it.

/** Strings longer than this are rarely repeated (messages, certificates) and are left alone. */
const MAX_LENGTH = 128;

export class StringInterner {
  private current = new Map<string, string>();
  private previous = new Map<string, string>();

  constructor(private readonly generationSize = 16_384) {}

  /** The shared copy of s (s itself when it is the first seen, or too long to bother). */
  intern(s: string): string {
    if (s.length > MAX_LENGTH) return s;
    const hit = this.current.get(s);
    if (hit !== undefined) return hit;
    const shared = this.previous.get(s) ?? s;
    if (this.current.size >= this.generationSize) {
      this.previous = this.current;
      this.current = new Map();
    }
    this.current.set(shared, shared);
    return shared;
  }

  /** Entries held (both generations; a string in both counts twice). */
  get size(): number {
    return this.current.size + this.previous.size;
  }

  /**
   * Replaces, in place, every string value in a freshly decoded JSON value with its shared
   * copy, and returns the value. Keys need nothing: V8 already interns property names.
   */
  internValues<T>(value: T): T {
    // A frozen value is already some cache's own (deepFreeze) and may not be written.
    if (typeof value !== "object" || value === null || Object.isFrozen(value)) return value;
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        const v: unknown = value[i];
        if (typeof v === "string") value[i] = this.intern(v);
        else if (typeof v === "object" && v !== null) this.internValues(v);
      }
    } else {
      const o = value as Record<string, unknown>;
      for (const k in o) {
        const v = o[k];
        if (typeof v === "string") o[k] = this.intern(v);
        else if (typeof v === "object" && v !== null) this.internValues(v);
      }
    }
    return value;
  }
}
