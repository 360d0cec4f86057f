// One informer per kind per process, shared: every controller asks the factory for the
// kinds it needs and gets the same informer (one list, one watch, one cache), as
// client-go's SharedInformerFactory does. Cached objects lose their managedFields and share
// one copy of each repeated string (intern.ts).
//
// A loop that reads only metadata (the garbage collector, the namespace controller) asks for
// a metadata informer instead (client-go's metadatainformer): its cache keeps apiVersion, kind
// and metadata, so a kind nobody else follows in full (Events, Secrets, ConfigMaps, …) costs
// a fraction of its size. Asking for the full kind later turns the same informer into a full
// one: it lists again and its handlers see every object updated with the rest of it.
import { realClock, type Clock } from "../../common/clock.ts";
import type { Client, ResourceRef } from "./client.ts";
import { Informer, stripManagedFields, type InformerOptions } from "./informer.ts";
import { StringInterner } from "./intern.ts";
import type { KubeObject } from "./objects.ts";

/** What a metadata informer caches of an object: client-go's PartialObjectMetadata. */
export function metadataOnly<T extends KubeObject>(obj: T): T {
  return { apiVersion: obj.apiVersion, kind: obj.kind, metadata: obj.metadata } as T;
}

interface Entry {
  informer: Informer;
  /** Someone reads more than metadata. */
  full: boolean;
}

export class InformerFactory {
  private readonly entries = new Map<string, Entry>();
  private started = false;
  private readonly opts: InformerOptions;

  constructor(
    private readonly client: Client,
    opts: InformerOptions = {},
  ) {
    // One string table for every kind: a node's name is in its pods too.
    const strings = new StringInterner();
    this.opts = { transform: (obj) => strings.internValues(stripManagedFields(obj)), ...opts, clock: opts.clock ?? realClock };
  }

  get clock(): Clock {
    return this.opts.clock!;
  }

  /** The shared informer for a kind, with whole objects (made on first ask; started at once if the factory is). */
  informerFor<T extends KubeObject = KubeObject>(ref: ResourceRef): Informer<T> {
    return this.entryFor(ref, true).informer as unknown as Informer<T>;
  }

  /**
   * The shared informer for a kind whose objects may hold only apiVersion, kind and metadata
   * (whole ones when another loop asked for them): for loops that read nothing else.
   */
  metadataInformerFor(ref: ResourceRef): Informer {
    return this.entryFor(ref, false).informer;
  }

  private entryFor(ref: ResourceRef, full: boolean): Entry {
    const id = `${ref.group}/${ref.resource}`;
    let entry = this.entries.get(id);
    if (!entry) {
      const base = this.opts.transform ?? (<O extends KubeObject>(o: O) => o);
      const e: Entry = { full, informer: undefined as unknown as Informer };
      e.informer = new Informer(this.client.resource(ref), { ...this.opts, transform: (obj) => (e.full ? base(obj) : base(metadataOnly(obj))) });
      this.entries.set(id, (entry = e));
      if (this.started) e.informer.start();
    } else if (full && !entry.full) {
      // Cached objects are metadata only: list again so that they come back whole.
      entry.full = true;
      entry.informer.relist();
    }
    return entry;
  }

  /** Every informer made so far (and any made later) starts listing and watching. */
  start(): void {
    this.started = true;
    for (const { informer } of this.entries.values()) informer.start();
  }

  /** Resolves once every informer made so far has its first list cached. */
  async whenSynced(): Promise<void> {
    await Promise.all(this.all().map((i) => i.whenSynced()));
  }

  all(): Informer[] {
    return [...this.entries.values()].map((e) => e.informer);
  }

  async stop(): Promise<void> {
    await Promise.all(this.all().map((i) => i.stop()));
  }
}
