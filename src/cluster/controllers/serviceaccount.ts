// The ServiceAccounts controller (pkg/controller/serviceaccount): every namespace has a
// ServiceAccount named `default`, made when the namespace appears and made again if it is
// deleted. A namespace being deleted gets none.
import { isAlreadyExists, isForbidden, type Informer, type KubeObject } from "../client/index.ts";
import { Controller, type ControllerContext } from "./controller.ts";
import { NAMESPACES, SERVICE_ACCOUNTS } from "./_types.ts";

export const DEFAULT_SERVICE_ACCOUNT = "default";

const terminating = (ns: KubeObject) => !!ns.metadata.deletionTimestamp || (ns.status as { phase?: string } | undefined)?.phase === "Terminating";

export class ServiceAccountController extends Controller {
  private readonly namespaces: Informer;
  private readonly accounts: Informer;

  constructor(ctx: ControllerContext) {
    super("serviceaccount", ctx);
    this.namespaces = ctx.informers.informerFor(NAMESPACES);
    this.accounts = ctx.informers.informerFor(SERVICE_ACCOUNTS);
    this.namespaces.addHandlers({ onAdd: (ns) => this.queue.add(ns.metadata.name!), onUpdate: (_o, ns) => this.queue.add(ns.metadata.name!) });
    this.accounts.addHandlers({
      onDelete: (sa) => {
        if (sa.metadata.name === DEFAULT_SERVICE_ACCOUNT && sa.metadata.namespace) this.queue.add(sa.metadata.namespace);
      },
    });
  }

  async reconcile(namespace: string): Promise<void> {
    const ns = this.namespaces.cache.get(namespace);
    if (!ns || terminating(ns)) return;
    if (this.accounts.cache.get(`${namespace}/${DEFAULT_SERVICE_ACCOUNT}`)) return;
    try {
      await this.ctx.client.resource(SERVICE_ACCOUNTS).create(namespace, { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: DEFAULT_SERVICE_ACCOUNT, namespace } });
    } catch (err) {
      // Made meanwhile (the cache is behind), or the namespace started terminating: nothing to do.
      if (isAlreadyExists(err) || isForbidden(err)) return;
      throw err;
    }
  }
}
