// One informer per kind per process, shared: every controller asks the factory for the
// kinds it needs and gets the same informer (one list, one watch, one cache), as
// client-go's SharedInformerFactory does.
import { realClock, type Clock } from "../../common/clock.ts";
import type { Client, ResourceRef } from "./client.ts";
import { Informer, stripManagedFields, type InformerOptions } from "./informer.ts";
import type { KubeObject } from "./objects.ts";

export class InformerFactory {
  private readonly informers = new Map<string, Informer>();
  private started = false;
  private readonly opts: InformerOptions;

  constructor(
    private readonly client: Client,
    opts: InformerOptions = {},
  ) {
    this.opts = { transform: stripManagedFields, ...opts, clock: opts.clock ?? realClock };
  }

  get clock(): Clock {
    return this.opts.clock!;
  }

  /** The shared informer for a kind (made on first ask; started at once if the factory is). */
  informerFor<T extends KubeObject = KubeObject>(ref: ResourceRef): Informer<T> {
    const id = `${ref.group}/${ref.resource}`;
    let inf = this.informers.get(id);
    if (!inf) {
      inf = new Informer(this.client.resource(ref), this.opts);
      this.informers.set(id, inf);
      if (this.started) inf.start();
    }
    return inf as unknown as Informer<T>;
  }

  /** Every informer made so far (and any made later) starts listing and watching. */
  start(): void {
    this.started = true;
    for (const inf of this.informers.values()) inf.start();
  }

  /** Resolves once every informer made so far has its first list cached. */
  async whenSynced(): Promise<void> {
    await Promise.all([...this.informers.values()].map((i) => i.whenSynced()));
  }

  all(): Informer[] {
    return [...this.informers.values()];
  }

  async stop(): Promise<void> {
    await Promise.all([...this.informers.values()].map((i) => i.stop()));
  }
}
