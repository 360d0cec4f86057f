// The PersistentVolume controller (pkg/controller/volume/persistentvolume, the binder), with
// the default StorageClass k3s deploys:
//
// - At start the `local-path` StorageClass exists (provisioner rancher.io/local-path, the
//   default class, WaitForFirstConsumer, reclaim Delete) — made when absent, as k3s's
//   local-storage manifest. Each node's agent is that provisioner for its own node.
// - A claim without storageClassName gets the default class (retroactive assignment; the API
//   server's admission does it at create when a default already exists).
// - An unbound claim binds to an Available volume of its class that is big enough and offers
//   its access modes (the smallest such), or to the volume whose claimRef names it (what a
//   provisioner creates). A claim of a WaitForFirstConsumer class waits for the scheduler to
//   pick a node (annotation volume.kubernetes.io/selected-node) and then only takes volumes
//   that node can reach; with no volume, a class with a provisioner gets the
//   storage-provisioner annotation and the provisioner makes one (ExternalProvisioning event).
// - Binding writes the volume first (claimRef, phase Bound), then the claim (volumeName, the
//   bind-completed annotations, phase Bound with capacity and access modes).
// - A volume whose claim is gone (or is a new claim of the same name) is Released; a Released
//   volume with reclaim Delete is the provisioner's to delete, with Retain it stays.
import { quantityValue } from "../../common/quantity.ts";
import { BY_NAMESPACE, isAlreadyExists, isConflict, isNotFound, type Informer, type KubeObject, type ResourceRef } from "../client/index.ts";
import { Controller, type ControllerContext } from "./controller.ts";
import { EventRecorder } from "./_events.ts";
import { selectorMatches } from "./_label-selector.ts";
import { PERSISTENT_VOLUME_CLAIMS, PODS, type Pod } from "./_types.ts";

export const PERSISTENT_VOLUMES: ResourceRef = { group: "", version: "v1", resource: "persistentvolumes", kind: "PersistentVolume", namespaced: false };
export const STORAGE_CLASSES: ResourceRef = { group: "storage.k8s.io", version: "v1", resource: "storageclasses", kind: "StorageClass", namespaced: false };

export const LOCAL_PATH_CLASS = "local-path";
export const LOCAL_PATH_PROVISIONER = "rancher.io/local-path";
export const SELECTED_NODE_ANNOTATION = "volume.kubernetes.io/selected-node";
export const STORAGE_PROVISIONER_ANNOTATION = "volume.kubernetes.io/storage-provisioner";
const BETA_STORAGE_PROVISIONER_ANNOTATION = "volume.beta.kubernetes.io/storage-provisioner";
const DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class";
const BIND_COMPLETED = "pv.kubernetes.io/bind-completed";
const BOUND_BY_CONTROLLER = "pv.kubernetes.io/bound-by-controller";

interface ClaimRef {
  kind?: string;
  namespace?: string;
  name?: string;
  uid?: string;
  apiVersion?: string;
  resourceVersion?: string;
}
interface Claim extends KubeObject {
  spec?: { storageClassName?: string; volumeName?: string; accessModes?: string[]; resources?: { requests?: { storage?: string } }; volumeMode?: string };
  status?: { phase?: string; accessModes?: string[]; capacity?: Record<string, string> };
}
interface NodeSelectorTerm {
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}
interface Volume extends KubeObject {
  spec?: {
    storageClassName?: string;
    claimRef?: ClaimRef;
    accessModes?: string[];
    capacity?: { storage?: string };
    persistentVolumeReclaimPolicy?: string;
    nodeAffinity?: { required?: { nodeSelectorTerms?: NodeSelectorTerm[] } };
  };
  status?: { phase?: string; message?: string };
}
interface StorageClass extends KubeObject {
  provisioner?: string;
  volumeBindingMode?: string;
}

const claimVolumes = (p: Pod) => ((p.spec as { volumes?: { persistentVolumeClaim?: { claimName: string } }[] } | undefined)?.volumes ?? []);
const isDefault = (sc: KubeObject) => sc.metadata.annotations?.[DEFAULT_CLASS_ANNOTATION] === "true";
const claimKey = (c: { metadata: { namespace?: string; name?: string } }) => `claim:${c.metadata.namespace}/${c.metadata.name}`;

/** Whether a volume's required node affinity lets it be used on the named node (by its hostname label, which is the node name here). */
export function volumeReachableFrom(pv: Volume, node: string, nodeLabels: Record<string, string> = { "kubernetes.io/hostname": node }): boolean {
  const terms = pv.spec?.nodeAffinity?.required?.nodeSelectorTerms;
  if (!terms?.length) return true;
  return terms.some((t) => (t.matchExpressions?.length ?? 0) > 0 && selectorMatches({ matchExpressions: t.matchExpressions }, nodeLabels));
}

export class PersistentVolumeController extends Controller {
  private readonly claims: Informer<Claim>;
  private readonly volumes: Informer<Volume>;
  private readonly classes: Informer<StorageClass>;
  private readonly pods: Informer<Pod>;
  private readonly events: EventRecorder;
  /** Events already recorded for a claim's current wait, so a resync does not repeat them. */
  private readonly told = new Map<string, string>();

  constructor(ctx: ControllerContext) {
    super("persistentvolume-binder", ctx);
    this.events = new EventRecorder(ctx.client, "persistentvolume-controller", ctx.clock, ctx.log);
    this.claims = ctx.informers.informerFor<Claim>(PERSISTENT_VOLUME_CLAIMS);
    this.volumes = ctx.informers.informerFor<Volume>(PERSISTENT_VOLUMES);
    this.classes = ctx.informers.informerFor<StorageClass>(STORAGE_CLASSES);
    this.pods = ctx.informers.informerFor<Pod>(PODS);
    // A pod placed on a node without the scheduler (spec.nodeName in its manifest) is the
    // first consumer of its waiting claims too.
    const onPod = (p: Pod) => {
      if (!p.spec?.nodeName) return;
      for (const v of claimVolumes(p)) if (v.persistentVolumeClaim) this.queue.add(`claim:${p.metadata.namespace}/${v.persistentVolumeClaim.claimName}`);
    };
    this.pods.addHandlers({ onAdd: onPod, onUpdate: (_o, p) => onPod(p) });
    const onClaim = (c: Claim) => this.queue.add(claimKey(c));
    this.claims.addHandlers({
      onAdd: onClaim,
      onUpdate: (_o, c) => onClaim(c),
      onDelete: (c) => {
        this.told.delete(claimKey(c));
        if (c.spec?.volumeName) this.queue.add(`volume:${c.spec.volumeName}`);
      },
    });
    const onVolume = (v: Volume) => {
      this.queue.add(`volume:${v.metadata.name}`);
      const ref = v.spec?.claimRef;
      if (ref?.name) this.queue.add(`claim:${ref.namespace}/${ref.name}`);
    };
    this.volumes.addHandlers({ onAdd: onVolume, onUpdate: (_o, v) => onVolume(v) });
    // A new (default) class may settle claims that wait for one.
    this.classes.addHandlers({ onAdd: () => this.requeueUnbound(), onUpdate: () => this.requeueUnbound() });
    this.queue.add(`class:${LOCAL_PATH_CLASS}`);
  }

  private requeueUnbound(): void {
    for (const c of this.claims.cache.list()) if (!c.spec?.volumeName) this.queue.add(claimKey(c));
  }

  async reconcile(key: string): Promise<void> {
    const [kind, rest] = [key.slice(0, key.indexOf(":")), key.slice(key.indexOf(":") + 1)];
    if (kind === "class") return this.ensureLocalPathClass();
    if (kind === "volume") return this.syncVolume(rest);
    const [ns, name] = rest.split("/") as [string, string];
    return this.syncClaim(ns, name);
  }

  private async ensureLocalPathClass(): Promise<void> {
    if (this.classes.cache.get(LOCAL_PATH_CLASS)) return;
    // Another default made by the user stays the only default.
    const annotations: Record<string, string> = this.classes.cache.list().some(isDefault) ? {} : { [DEFAULT_CLASS_ANNOTATION]: "true" };
    try {
      await this.ctx.client.resource(STORAGE_CLASSES).create(undefined, { apiVersion: "storage.k8s.io/v1", kind: "StorageClass", metadata: { name: LOCAL_PATH_CLASS, annotations }, provisioner: LOCAL_PATH_PROVISIONER, reclaimPolicy: "Delete", volumeBindingMode: "WaitForFirstConsumer" });
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
    }
  }

  // ---- claims -------------------------------------------------------------------------------

  private async syncClaim(ns: string, name: string): Promise<void> {
    const claim = this.claims.cache.get(`${ns}/${name}`);
    if (!claim || claim.metadata.deletionTimestamp) return;
    if (claim.spec?.storageClassName === undefined) {
      const def = this.classes.cache.list().filter(isDefault).sort((a, b) => String(b.metadata.creationTimestamp).localeCompare(String(a.metadata.creationTimestamp)))[0];
      if (def) await this.updateClaim(claim, (c) => ({ ...c, spec: { ...c.spec, storageClassName: def.metadata.name } }));
      return;
    }
    if (claim.spec.volumeName) return this.syncBoundClaim(claim, claim.spec.volumeName);
    const cls = claim.spec.storageClassName ? this.classes.cache.get(claim.spec.storageClassName) : undefined;
    const delayed = cls?.volumeBindingMode === "WaitForFirstConsumer";
    let selectedNode = claim.metadata.annotations?.[SELECTED_NODE_ANNOTATION];
    if (delayed && !selectedNode) {
      const placed = this.pods.cache.byIndex(BY_NAMESPACE, ns).find((p) => p.spec?.nodeName && !p.metadata.deletionTimestamp && claimVolumes(p).some((v) => v.persistentVolumeClaim?.claimName === name));
      if (placed) {
        selectedNode = placed.spec!.nodeName!;
        await this.updateClaim(claim, (c) => ({ ...c, metadata: { ...c.metadata, annotations: { ...c.metadata.annotations, [SELECTED_NODE_ANNOTATION]: selectedNode! } } }));
        return; // the update comes back as an event
      }
    }
    if (delayed && !selectedNode) {
      await this.tell(claim, "Normal", "WaitForFirstConsumer", "waiting for first consumer to be created before binding");
      return;
    }
    const pv = this.findVolume(claim, delayed ? selectedNode : undefined);
    if (pv) return this.bind(claim, pv);
    if (cls?.provisioner && cls.provisioner !== "kubernetes.io/no-provisioner") {
      if (claim.metadata.annotations?.[STORAGE_PROVISIONER_ANNOTATION] !== cls.provisioner) {
        await this.updateClaim(claim, (c) => ({ ...c, metadata: { ...c.metadata, annotations: { ...c.metadata.annotations, [STORAGE_PROVISIONER_ANNOTATION]: cls.provisioner!, [BETA_STORAGE_PROVISIONER_ANNOTATION]: cls.provisioner! } } }));
      }
      await this.tell(claim, "Normal", "ExternalProvisioning", `Waiting for a volume to be created either by the external provisioner '${cls.provisioner}' or manually by the system administrator. If volume creation is delayed, please verify that the provisioner is running and correctly registered.`);
      return;
    }
    const why = claim.spec.storageClassName && !cls ? `storageclass.storage.k8s.io "${claim.spec.storageClassName}" not found` : "no persistent volumes available for this claim and no storage class is set";
    await this.tell(claim, "Warning", claim.spec.storageClassName && !cls ? "ProvisioningFailed" : "FailedBinding", why);
  }

  /** An event once per distinct reason while the claim waits (the kubelet-style repeat is noise here). */
  private async tell(claim: Claim, type: "Normal" | "Warning", reason: string, message: string): Promise<void> {
    const key = claimKey(claim);
    if (this.told.get(key) === reason) return;
    this.told.set(key, reason);
    await this.events.event(PERSISTENT_VOLUME_CLAIMS, claim, type, reason, message);
  }

  /** The volume for an unbound claim: one already pointing at it, else the smallest fitting Available one. */
  private findVolume(claim: Claim, node: string | undefined): Volume | undefined {
    const all = this.volumes.cache.list();
    const prebound = all.find((v) => v.spec?.claimRef?.name === claim.metadata.name && v.spec?.claimRef?.namespace === claim.metadata.namespace && (!v.spec?.claimRef?.uid || v.spec.claimRef.uid === claim.metadata.uid));
    if (prebound && !prebound.metadata.deletionTimestamp) return prebound;
    const want = quantityValue(claim.spec?.resources?.requests?.storage ?? "0");
    const modes = claim.spec?.accessModes ?? [];
    const fits = all.filter(
      (v) =>
        !v.spec?.claimRef &&
        !v.metadata.deletionTimestamp &&
        (v.status?.phase ?? "Available") === "Available" &&
        (v.spec?.storageClassName ?? "") === (claim.spec?.storageClassName ?? "") &&
        modes.every((m) => v.spec?.accessModes?.includes(m)) &&
        quantityValue(v.spec?.capacity?.storage ?? "0") >= want &&
        (node === undefined || volumeReachableFrom(v, node)),
    );
    fits.sort((a, b) => quantityValue(a.spec?.capacity?.storage ?? "0") - quantityValue(b.spec?.capacity?.storage ?? "0"));
    return fits[0];
  }

  private async bind(claim: Claim, pv: Volume): Promise<void> {
    const ref: ClaimRef = { kind: "PersistentVolumeClaim", namespace: claim.metadata.namespace, name: claim.metadata.name, uid: claim.metadata.uid, apiVersion: "v1", resourceVersion: claim.metadata.resourceVersion };
    const pvs = this.ctx.client.resource<Volume>(PERSISTENT_VOLUMES);
    let bound = pv;
    if (pv.spec?.claimRef?.uid !== claim.metadata.uid) {
      bound = await pvs.update({ ...pv, metadata: { ...pv.metadata, annotations: { ...pv.metadata.annotations, [BOUND_BY_CONTROLLER]: "yes" } }, spec: { ...pv.spec, claimRef: ref } });
    }
    if (bound.status?.phase !== "Bound") bound = await pvs.updateStatus({ ...bound, status: { ...bound.status, phase: "Bound" } });
    await this.updateClaim(claim, (c) => ({ ...c, metadata: { ...c.metadata, annotations: { ...c.metadata.annotations, [BIND_COMPLETED]: "yes", [BOUND_BY_CONTROLLER]: "yes" } }, spec: { ...c.spec, volumeName: pv.metadata.name } }));
    await this.claimStatusBound(claim.metadata.namespace!, claim.metadata.name!, bound);
    this.told.delete(claimKey(claim));
  }

  private async syncBoundClaim(claim: Claim, volumeName: string): Promise<void> {
    const pv = this.volumes.cache.get(volumeName);
    if (!pv) {
      if (claim.status?.phase === "Bound") {
        await this.ctx.client.resource<Claim>(PERSISTENT_VOLUME_CLAIMS).updateStatus({ ...claim, status: { ...claim.status, phase: "Lost" } });
        await this.events.event(PERSISTENT_VOLUME_CLAIMS, claim, "Warning", "ClaimLost", "Bound claim has lost its PersistentVolume. Data on the volume is lost!");
      }
      return;
    }
    const ref = pv.spec?.claimRef;
    if (!ref) return this.bind(claim, pv); // the user named the volume in the claim
    if (ref.uid !== claim.metadata.uid) {
      await this.tell(claim, "Warning", "FailedBinding", `volume "${volumeName}" already bound to a different claim.`);
      return;
    }
    if (claim.status?.phase !== "Bound") await this.claimStatusBound(claim.metadata.namespace!, claim.metadata.name!, pv);
    if (pv.status?.phase !== "Bound") await this.ctx.client.resource<Volume>(PERSISTENT_VOLUMES).updateStatus({ ...pv, status: { ...pv.status, phase: "Bound" } });
  }

  private async claimStatusBound(ns: string, name: string, pv: Volume): Promise<void> {
    const claims = this.ctx.client.resource<Claim>(PERSISTENT_VOLUME_CLAIMS);
    const cur = await claims.get(ns, name);
    await claims.updateStatus({ ...cur, status: { ...cur.status, phase: "Bound", accessModes: pv.spec?.accessModes ?? [], capacity: { ...(pv.spec?.capacity ?? {}) } } });
  }

  private async updateClaim(claim: Claim, change: (c: Claim) => Claim): Promise<void> {
    const claims = this.ctx.client.resource<Claim>(PERSISTENT_VOLUME_CLAIMS);
    for (let i = 0; ; i++) {
      const cur = i === 0 ? claim : await claims.get(claim.metadata.namespace, claim.metadata.name!);
      try {
        await claims.update(change(cur));
        return;
      } catch (err) {
        if (!isConflict(err) || i >= 3) throw err;
      }
    }
  }

  // ---- volumes ------------------------------------------------------------------------------

  private async syncVolume(name: string): Promise<void> {
    const pv = this.volumes.cache.get(name);
    if (!pv || pv.metadata.deletionTimestamp) return;
    const pvs = this.ctx.client.resource<Volume>(PERSISTENT_VOLUMES);
    const setPhase = (phase: string, message?: string) => pvs.updateStatus({ ...pv, status: { ...pv.status, phase, ...(message ? { message } : {}) } }).catch((err: unknown) => {
      if (!isNotFound(err) && !isConflict(err)) throw err;
    });
    const ref = pv.spec?.claimRef;
    if (!ref) {
      if (pv.status?.phase !== "Available") await setPhase("Available");
      return;
    }
    const claim = this.claims.cache.get(`${ref.namespace}/${ref.name}`);
    const gone = !claim || (ref.uid !== undefined && claim.metadata.uid !== ref.uid);
    if (gone) {
      // Never bound yet (a provisioner's fresh volume, or a user's pre-bound one): wait for the claim.
      if (pv.status?.phase !== "Bound" && pv.status?.phase !== "Released") return;
      if (pv.status?.phase === "Bound") await setPhase("Released");
      return;
    }
    if (claim.spec?.volumeName === name && pv.status?.phase !== "Bound") await setPhase("Bound");
  }
}
