// Where the RBAC authorizer reads roles and bindings from. Two sources with one shape:
//
// - storeSource reads the registry on each question: always current, a few store reads a
//   request (more with many bindings: bench/api/rbac.ts);
// - RbacCache keeps the four kinds in memory from a watch on the registry (what
//   kube-apiserver's RBAC authorizer reads through its informers): no store read, but
//   behind the store by the watch's delay.
//
// The authorizer answers from the cache and asks the store only before saying no, so a
// binding just written counts from the next request, as with a store read, while a
// removed one may still allow requests for the watch's delay (as in Kubernetes).
import type { KubeObject } from "./objects.ts";
import { RBAC_GROUP } from "./rbac-rules.ts";
import type { ObjectRegistry } from "./registry.ts";
import { findResource, type ResourceType } from "./resources.ts";

export interface RbacSource {
  clusterRoleBindings(): Promise<KubeObject[]>;
  roleBindings(namespace: string): Promise<KubeObject[]>;
  clusterRole(name: string): Promise<KubeObject | undefined>;
  role(namespace: string, name: string): Promise<KubeObject | undefined>;
}

const rbacType = (plural: string): ResourceType => findResource(RBAC_GROUP, "v1", plural)!;
const KINDS = ["clusterroles", "clusterrolebindings", "roles", "rolebindings"] as const;
type Plural = (typeof KINDS)[number];

export const storeSource = (registry: ObjectRegistry): RbacSource => ({
  clusterRoleBindings: async () => (await registry.list(rbacType("clusterrolebindings"), undefined)).items,
  roleBindings: async (ns) => (await registry.list(rbacType("rolebindings"), ns)).items,
  clusterRole: (name) => registry.tryGet(rbacType("clusterroles"), undefined, name),
  role: (ns, name) => registry.tryGet(rbacType("roles"), ns, name),
});

/** How long a watch that failed (a compaction, a store error) waits before it lists and watches again. */
const REWATCH_MS = 1000;

/** The four RBAC kinds held in memory by watches on the registry. */
export class RbacCache implements RbacSource {
  // plural -> "namespace/name" -> object
  private readonly objects = new Map<Plural, Map<string, KubeObject>>();
  private readonly handles = new Map<Plural, { cancel(): void }>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private closed = false;

  constructor(
    private readonly registry: ObjectRegistry,
    private readonly log: (message: string) => void = () => {},
  ) {}

  /** Lists and starts watching every kind; resolves once all four are in memory. */
  async start(): Promise<void> {
    await Promise.all(KINDS.map((k) => this.watch(k)));
  }

  private async watch(plural: Plural): Promise<void> {
    if (this.closed) return;
    // Filled by the initial replay inside watch(), then kept by its events; swapped in once whole.
    const fresh = new Map<string, KubeObject>();
    const key = (o: KubeObject) => `${o.metadata.namespace ?? ""}/${o.metadata.name}`;
    const handle = await this.registry.watch(
      rbacType(plural),
      undefined,
      "0",
      {},
      (type, o) => {
        if (type === "DELETED") fresh.delete(key(o));
        else fresh.set(key(o), o);
      },
      (err) => {
        this.handles.delete(plural);
        this.objects.delete(plural);
        if (this.closed) return;
        this.log(`rbac: the watch of ${plural} ended (${err.message}); watching again`);
        const t = setTimeout(() => {
          this.timers.delete(t);
          this.watch(plural).catch((e: unknown) => this.log(`rbac: cannot watch ${plural}: ${(e as Error).message}`));
        }, REWATCH_MS);
        t.unref();
        this.timers.add(t);
      },
    );
    if (this.closed) return handle.cancel();
    this.handles.set(plural, handle);
    this.objects.set(plural, fresh);
  }

  close(): void {
    this.closed = true;
    for (const h of this.handles.values()) h.cancel();
    this.handles.clear();
    for (const t of this.timers) clearTimeout(t);
  }

  /** A kind's objects; while it is being watched again, nothing (the authorizer then asks the store). */
  private of(plural: Plural): Map<string, KubeObject> {
    return this.objects.get(plural) ?? new Map();
  }

  async clusterRoleBindings(): Promise<KubeObject[]> {
    return [...this.of("clusterrolebindings").values()];
  }

  async roleBindings(namespace: string): Promise<KubeObject[]> {
    return [...this.of("rolebindings").values()].filter((b) => b.metadata.namespace === namespace);
  }

  async clusterRole(name: string): Promise<KubeObject | undefined> {
    return this.of("clusterroles").get(`/${name}`);
  }

  async role(namespace: string, name: string): Promise<KubeObject | undefined> {
    return this.of("roles").get(`${namespace}/${name}`);
  }
}
