// PVC protection (pkg/controller/volume/pvcprotection with the StorageObjectInUseProtection
// admission plugin): every claim is created with the `kubernetes.io/pvc-protection` finalizer
// (persistentvolumeclaim.ts), so deleting a claim a pod still uses only marks it Terminating;
// this controller lets the finalizer go once no pod that names the claim is left running or
// pending (finished pods do not count). Only then does the claim leave, its volume turn
// Released and — for local-path volumes — the data go.
import { BY_NAMESPACE, type Informer, type KubeObject } from "../client/index.ts";
import { Controller, type ControllerContext } from "./controller.ts";
import { PERSISTENT_VOLUME_CLAIMS, PODS, type Pod } from "./_types.ts";

export const PVC_PROTECTION_FINALIZER = "kubernetes.io/pvc-protection";

const claimsOf = (p: Pod) => ((p.spec as { volumes?: { persistentVolumeClaim?: { claimName: string } }[] } | undefined)?.volumes ?? []).flatMap((v) => (v.persistentVolumeClaim ? [v.persistentVolumeClaim.claimName] : []));
const finished = (p: Pod) => p.status?.phase === "Succeeded" || p.status?.phase === "Failed";

export class PvcProtectionController extends Controller {
  private readonly claims: Informer<KubeObject>;
  private readonly pods: Informer<Pod>;

  constructor(ctx: ControllerContext) {
    super("pvc-protection", ctx);
    this.claims = ctx.informers.informerFor<KubeObject>(PERSISTENT_VOLUME_CLAIMS);
    this.pods = ctx.informers.informerFor<Pod>(PODS);
    const onClaim = (c: KubeObject) => {
      if (c.metadata.deletionTimestamp) this.queue.add(`${c.metadata.namespace}/${c.metadata.name}`);
    };
    this.claims.addHandlers({ onAdd: onClaim, onUpdate: (_o, c) => onClaim(c) });
    const onPod = (p: Pod) => {
      for (const name of claimsOf(p)) this.queue.add(`${p.metadata.namespace}/${name}`);
    };
    this.pods.addHandlers({ onUpdate: (_o, p) => onPod(p), onDelete: onPod });
  }

  async reconcile(key: string): Promise<void> {
    const claim = this.claims.cache.get(key);
    if (!claim?.metadata.deletionTimestamp || !claim.metadata.finalizers?.includes(PVC_PROTECTION_FINALIZER)) return;
    const [ns, name] = key.split("/") as [string, string];
    const inUse = this.pods.cache.byIndex(BY_NAMESPACE, ns).some((p) => !finished(p) && claimsOf(p).includes(name));
    if (inUse) return;
    const fresh = await this.ctx.client.resource<KubeObject>(PERSISTENT_VOLUME_CLAIMS).get(ns, name);
    await this.ctx.client.resource<KubeObject>(PERSISTENT_VOLUME_CLAIMS).update({ ...fresh, metadata: { ...fresh.metadata, finalizers: (fresh.metadata.finalizers ?? []).filter((f) => f !== PVC_PROTECTION_FINALIZER) } });
  }
}
