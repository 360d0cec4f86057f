// The warm pool: a few network namespaces per network made and attached (CNI ADD) before any
// container asks, so a container that joins one starts without waiting for the plugins. A
// taken namespace is replaced behind the caller, in the library's background lane (beside, not
// behind, other mutations), several at once up to the pool's size; a burst larger than the
// pool falls back to attaching after create.
//
// A slot is kernel state (a bound namespace file, a veth, a lease) that no container owns:
// the library discards every ready slot at close() and reconcile(), and reconcile() finds the
// slots a crash left by their files and CNI cache entries.
import type { CniResult } from "./cni.ts";

export interface PreparedSlot {
  /** The id the plugins know the attachment by (CNI_CONTAINERID). */
  cniId: string;
  networkId: string;
  /** The bound namespace file. */
  netns: string;
  /** "dev:ino" of the namespace when it was made. */
  netnsInode: string;
  ifName: string;
  result: CniResult;
}

export interface PreparedHooks {
  /** Makes a namespace and attaches it to the network. */
  prepare(networkId: string): Promise<PreparedSlot>;
  /** Detaches and unbinds a slot nobody took. */
  discard(slot: PreparedSlot): Promise<void>;
  /** Runs a task in the library's background lane (close and reconcile wait for it). */
  background<T>(task: () => Promise<T>): Promise<T>;
}

export class PreparedNamespaces {
  private readonly ready = new Map<string, PreparedSlot[]>();
  /** Slots being made, by network. */
  private readonly filling = new Map<string, number>();
  private open = true;
  /** Why the last refill failed (the next take tries again). */
  lastError: unknown;

  constructor(
    private readonly size: number,
    private readonly hooks: PreparedHooks,
  ) {}

  /** A ready slot of the network or undefined; either way the pool refills behind the caller. */
  take(networkId: string): PreparedSlot | undefined {
    const slot = this.ready.get(networkId)?.shift();
    this.refill(networkId);
    return slot;
  }

  private refill(networkId: string): void {
    const filling = () => this.filling.get(networkId) ?? 0;
    while (this.open && filling() + (this.ready.get(networkId)?.length ?? 0) < this.size) {
      this.filling.set(networkId, filling() + 1);
      this.hooks
        .background(async () => {
          const slot = await this.hooks.prepare(networkId);
          if (!this.open) {
            await this.hooks.discard(slot);
            return;
          }
          const list = this.ready.get(networkId) ?? [];
          list.push(slot);
          this.ready.set(networkId, list);
        })
        .then(
          () => this.filling.set(networkId, filling() - 1),
          (err: unknown) => {
            // No retry loop: the next take tries again, and its container attaches the slow way.
            this.filling.set(networkId, filling() - 1);
            this.lastError = err;
          },
        );
    }
  }

  /** No refill starts until resume(); the ones running finish (wait for the background lane). */
  pause(): void {
    this.open = false;
  }

  resume(): void {
    this.open = true;
  }

  /** Discards every ready slot (call paused, with the background lane idle). */
  async drain(): Promise<void> {
    const slots = [...this.ready.values()].flat();
    this.ready.clear();
    let first: unknown;
    for (const s of slots) await this.hooks.discard(s).catch((e: unknown) => (first ??= e));
    if (first) throw first;
  }
}
