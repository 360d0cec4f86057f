// Claims on allocated values (ClusterIPs, NodePorts, later pod CIDRs): one store key per value,
// /registry/ranges/<kind of value>/<value>, created if absent. The store's create is the only
// arbiter, so two API servers on one store (or two requests in one) can never both get a
// value, where picking from a list of what is in use races. A claim names its owner (storage
// key and uid); it is released when the owner goes or stops holding the value, and when a
// write that claimed it fails.
//
// A server that dies between claiming and writing its object leaves a claim with no owner.
// Such a claim is taken over once it is older than LEAK_GRACE_MS (an owner still being written
// by another server is younger than that), so nothing leaks for good.
import { GantryError } from "../../common/errors.ts";
import type { Store, StoredObject } from "../store/index.ts";
import type { KubeObject } from "./objects.ts";
import type { Claims } from "./strategies/types.ts";

export const RANGES_PREFIX = "/registry/ranges/";
export const LEAK_GRACE_MS = 60_000;

interface ClaimValue {
  /** The owner's storage key and uid. */
  owner: string;
  uid: string;
  /** When it was claimed (ms since the epoch). */
  at: number;
}

const code = (err: unknown) => (err instanceof GantryError ? err.code : undefined);

function parseClaim(so: StoredObject): ClaimValue | undefined {
  try {
    const v = JSON.parse(so.value) as ClaimValue;
    return typeof v.owner === "string" && typeof v.uid === "string" ? v : undefined;
  } catch {
    return undefined;
  }
}

/** The claims of one write: of the object stored at ownerKey, with its uid. */
export class ObjectClaims implements Claims {
  /** Keys this write claimed (released again if the write fails). */
  readonly claimed: string[] = [];

  constructor(
    private readonly store: Store,
    private readonly ownerKey: string,
    private readonly uid: string,
    /** Keys the object already holds (an update's old object). */
    private readonly held: ReadonlySet<string>,
    /** Whether an object (another claim's owner) holds a key; a claim its owner does not hold is abandoned. */
    private readonly holds: (owner: KubeObject, key: string) => boolean,
    private readonly dryRun: boolean,
    private readonly now: () => number = Date.now,
  ) {}

  async claim(key: string): Promise<boolean> {
    if (this.held.has(key) || this.claimed.includes(key)) return true;
    const full = RANGES_PREFIX + key;
    for (let attempt = 0; attempt < 3; attempt++) {
      const cur = await this.store.get(full);
      if (cur) {
        const v = parseClaim(cur);
        if (v?.uid === this.uid) return true;
        if (!(await this.abandoned(key, v))) return false;
        if (this.dryRun) return true;
        try {
          await this.store.delete(full, cur.modRevision);
        } catch (err) {
          if (code(err) !== "CONFLICT" && code(err) !== "NOT_FOUND") throw err;
          continue;
        }
      }
      if (this.dryRun) return true;
      try {
        await this.store.create(full, JSON.stringify({ owner: this.ownerKey, uid: this.uid, at: this.now() } satisfies ClaimValue));
        this.claimed.push(key);
        return true;
      } catch (err) {
        if (code(err) !== "ALREADY_EXISTS") throw err;
      }
    }
    return false;
  }

  async taken(prefix: string): Promise<Set<string>> {
    const out = new Set<string>();
    let startAfterKey: string | undefined;
    for (;;) {
      const page = await this.store.list(RANGES_PREFIX + prefix, { limit: 5000, startAfterKey });
      for (const so of page.items) out.add(so.key.slice(RANGES_PREFIX.length));
      if (!page.more || page.items.length === 0) return out;
      startAfterKey = page.items[page.items.length - 1]!.key;
    }
  }

  /**
   * A claim past the grace period whose owner is gone, is another incarnation of the name, or
   * no longer holds the value.
   */
  private async abandoned(key: string, v: ClaimValue | undefined): Promise<boolean> {
    if (!v) return true;
    if (this.now() - v.at < LEAK_GRACE_MS) return false;
    const stored = await this.store.get(v.owner);
    if (!stored) return true;
    const owner = JSON.parse(stored.value) as KubeObject;
    return owner.metadata?.uid !== v.uid || !this.holds(owner, key);
  }
}

/** Releases claims an object held (ignoring ones already gone or taken over by another owner). */
export async function releaseClaims(store: Store, uid: string | undefined, keys: Iterable<string>): Promise<void> {
  for (const key of keys) {
    const full = RANGES_PREFIX + key;
    const cur = await store.get(full);
    if (!cur || parseClaim(cur)?.uid !== uid) continue;
    try {
      await store.delete(full, cur.modRevision);
    } catch (err) {
      if (code(err) !== "CONFLICT" && code(err) !== "NOT_FOUND") throw err;
    }
  }
}
