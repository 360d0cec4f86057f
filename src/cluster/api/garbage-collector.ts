// Garbage collection by ownerReferences, and namespace finalization. In Kubernetes these
// are controllers in kube-controller-manager; Gantry runs them inside the API server
// against the registry until the controller manager exists. Both are level-triggered
// sweeps: after any deletion (or every few seconds) they compare what exists with what
// the owner references and finalizers say, and act.
import type { Store } from "../store/index.ts";
import type { KubeObject } from "./objects.ts";
import { FOREGROUND_FINALIZER, NAMESPACE_FINALIZER, ORPHAN_FINALIZER, type ObjectRegistry } from "./registry.ts";
import { resourceTypes, type ResourceType } from "./resources.ts";

interface Entry {
  rt: ResourceType;
  obj: KubeObject;
}

export class GarbageCollector {
  private timer: NodeJS.Timeout | undefined;
  private pending = false;
  private running: Promise<void> | undefined;
  private watch: { cancel(): void } | undefined;
  private stopped = false;

  constructor(
    private readonly registry: ObjectRegistry,
    private readonly store: Store,
    private readonly log: (msg: string) => void = () => {},
  ) {}

  async start(intervalMs = 5000): Promise<void> {
    const rev = await this.store.currentRevision();
    // Any deletion, or an object marked for deletion, may leave work for a sweep.
    this.watch = this.store.watch(
      "/registry/",
      rev,
      (e) => {
        if (e.type === "DELETE" || e.object.value.includes('"deletionTimestamp"')) this.kick();
      },
      () => {},
    );
    this.timer = setInterval(() => this.kick(), intervalMs);
    this.timer.unref();
    this.kick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.watch?.cancel();
    await this.running;
  }

  /** Schedules a sweep; sweeps never overlap and one pending request covers any number of kicks. */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.pending = true;
      return;
    }
    this.running = (async () => {
      do {
        this.pending = false;
        try {
          await this.sweep();
        } catch (err) {
          this.log(`garbage collector: ${(err as Error).message}`);
        }
      } while (this.pending && !this.stopped);
      this.running = undefined;
    })();
  }

  async sweep(): Promise<void> {
    const all: Entry[] = [];
    for (const rt of resourceTypes) for (const obj of (await this.registry.list(rt, undefined)).items) all.push({ rt, obj });
    const uids = new Set(all.map((e) => e.obj.metadata.uid));
    const dependentsOf = (uid: string) => all.filter((e) => (e.obj.metadata.ownerReferences ?? []).some((r) => r.uid === uid));
    let changed = false;
    for (const { rt, obj } of all) {
      const m = obj.metadata;
      const ns = rt.namespaced ? m.namespace : undefined;
      if (m.deletionTimestamp && m.finalizers?.includes(ORPHAN_FINALIZER)) {
        for (const d of dependentsOf(m.uid!)) await this.dropOwner(d, m.uid!);
        await this.removeFinalizer(rt, ns, m.name!, ORPHAN_FINALIZER);
        changed = true;
      } else if (m.deletionTimestamp && m.finalizers?.includes(FOREGROUND_FINALIZER)) {
        const deps = dependentsOf(m.uid!);
        if (deps.length === 0) await this.removeFinalizer(rt, ns, m.name!, FOREGROUND_FINALIZER);
        else for (const d of deps) if (!d.obj.metadata.deletionTimestamp) await this.remove(d, "Foreground");
        changed = true;
      } else if (rt.kind === "Namespace" && m.deletionTimestamp) {
        const contents = all.filter((e) => e.rt.namespaced && e.obj.metadata.namespace === m.name);
        if (contents.length === 0) {
          await this.registry.mutate(rt, undefined, m.name!, (cur) => {
            const spec = (cur.spec ?? {}) as { finalizers?: string[] };
            cur.spec = { ...spec, finalizers: (spec.finalizers ?? []).filter((f) => f !== NAMESPACE_FINALIZER) };
            return cur;
          }).catch(() => {});
        } else for (const d of contents) if (!d.obj.metadata.deletionTimestamp) await this.remove(d, "Background");
        changed = true;
      }
      // Dependents whose owners are all gone are deleted (background policy).
      const owners = m.ownerReferences ?? [];
      if (owners.length && owners.every((r) => !uids.has(r.uid)) && !m.deletionTimestamp) {
        await this.remove({ rt, obj }, "Background");
        changed = true;
      }
    }
    if (changed) this.pending = true;
  }

  private async remove(e: Entry, policy: "Background" | "Foreground"): Promise<void> {
    const ns = e.rt.namespaced ? e.obj.metadata.namespace : undefined;
    await this.registry.delete(e.rt, ns, e.obj.metadata.name!, { propagationPolicy: policy, preconditions: { uid: e.obj.metadata.uid } }).catch(() => {});
  }

  private async removeFinalizer(rt: ResourceType, ns: string | undefined, name: string, finalizer: string): Promise<void> {
    await this.registry
      .mutate(rt, ns, name, (cur) => {
        cur.metadata.finalizers = (cur.metadata.finalizers ?? []).filter((f) => f !== finalizer);
        if (cur.metadata.finalizers.length === 0) delete cur.metadata.finalizers;
        return cur;
      })
      .catch(() => {});
  }

  private async dropOwner(e: Entry, ownerUid: string): Promise<void> {
    const ns = e.rt.namespaced ? e.obj.metadata.namespace : undefined;
    await this.registry
      .mutate(e.rt, ns, e.obj.metadata.name!, (cur) => {
        cur.metadata.ownerReferences = (cur.metadata.ownerReferences ?? []).filter((r) => r.uid !== ownerUid);
        if (cur.metadata.ownerReferences.length === 0) delete cur.metadata.ownerReferences;
        return cur;
      })
      .catch(() => {});
  }
}
