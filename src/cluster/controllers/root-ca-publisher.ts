// The root CA publisher (kube-controller-manager's root-ca-cert-publisher,
// pkg/controller/certificates/rootcacertpublisher): every namespace has a ConfigMap
// `kube-root-ca.crt` whose `ca.crt` is the CA that signs the API server's serving
// certificate, so pods can check the server they reach through the `kubernetes` Service (the
// service account volume projects it as ca.crt). Made when a namespace appears, and put back
// when deleted or changed. The CA comes from the transport the controller manager uses.
import { isAlreadyExists, isForbidden, isNotFound, type Informer, type KubeObject } from "../client/index.ts";
import { Controller, type ControllerContext } from "./controller.ts";
import { CONFIG_MAPS, NAMESPACES } from "./_types.ts";

export const ROOT_CA_CONFIGMAP = "kube-root-ca.crt";
const DESCRIPTION =
  "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.";

const terminating = (ns: KubeObject) => !!ns.metadata.deletionTimestamp || (ns.status as { phase?: string } | undefined)?.phase === "Terminating";

export class RootCAPublisher extends Controller {
  private readonly namespaces: Informer;
  private readonly configMaps: Informer;

  constructor(
    ctx: ControllerContext,
    private readonly caCert: string,
  ) {
    super("root-ca-cert-publisher", ctx);
    this.namespaces = ctx.informers.informerFor(NAMESPACES);
    this.configMaps = ctx.informers.informerFor(CONFIG_MAPS);
    this.namespaces.addHandlers({ onAdd: (ns) => this.queue.add(ns.metadata.name!), onUpdate: (_o, ns) => this.queue.add(ns.metadata.name!) });
    const requeue = (cm: KubeObject) => {
      if (cm.metadata.name === ROOT_CA_CONFIGMAP && cm.metadata.namespace) this.queue.add(cm.metadata.namespace);
    };
    this.configMaps.addHandlers({ onUpdate: (_o, cm) => requeue(cm), onDelete: requeue });
  }

  async reconcile(namespace: string): Promise<void> {
    const ns = this.namespaces.cache.get(namespace);
    if (!ns || terminating(ns)) return;
    const cur = this.configMaps.cache.get(`${namespace}/${ROOT_CA_CONFIGMAP}`);
    const data = { "ca.crt": this.caCert };
    const configMaps = this.ctx.client.resource(CONFIG_MAPS);
    try {
      if (!cur) {
        await configMaps.create(namespace, { apiVersion: "v1", kind: "ConfigMap", metadata: { name: ROOT_CA_CONFIGMAP, namespace, annotations: { "kubernetes.io/description": DESCRIPTION } }, data });
        return;
      }
      const curData = (cur as { data?: Record<string, string> }).data;
      if (curData?.["ca.crt"] === this.caCert && Object.keys(curData).length === 1 && cur.metadata.annotations?.["kubernetes.io/description"] === DESCRIPTION) return;
      await configMaps.update({ ...cur, metadata: { ...cur.metadata, annotations: { ...cur.metadata.annotations, "kubernetes.io/description": DESCRIPTION } }, data });
    } catch (err) {
      // Made or removed meanwhile (the cache is behind: the event requeues it), or the namespace is going.
      if (isAlreadyExists(err) || isNotFound(err) || isForbidden(err)) return;
      throw err;
    }
  }
}
