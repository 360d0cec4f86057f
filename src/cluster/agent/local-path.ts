// The node's local-path provisioner (Rancher's local-path-provisioner, which k3s ships, run
// the way external-provisioner's node deployment runs: one per node, for claims on its node).
// The scheduler picks a node for a pod whose claim's class waits for its first consumer and
// writes it on the claim (volume.kubernetes.io/selected-node); the PV controller marks the
// claim for the class's provisioner (volume.kubernetes.io/storage-provisioner). The agent of
// that node then makes a directory under its data root and a PersistentVolume for it:
//
//   <data root>/storage/pvc-<claim uid>_<namespace>_<name>        (mode 0777)
//   PersistentVolume pvc-<claim uid>: hostPath of that directory, node affinity
//   kubernetes.io/hostname In [node], the claim's size and access modes, the class's reclaim
//   policy, claimRef to the claim (the PV controller completes the binding)
//
// When the claim is deleted the PV controller marks the volume Released; with reclaim Delete
// this agent removes the directory, then the PersistentVolume. Both run off a work queue fed
// by informers, so a restarted agent finishes what its predecessor left.
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Clock } from "../../common/clock.ts";
import { describeError } from "../../common/errors.ts";
import { EventRecorder, Informer, isAlreadyExists, isConflict, isNotFound, WorkQueue, type Client, type KubeObject, type ResourceRef } from "../client/index.ts";
import { PERSISTENTVOLUMECLAIMS, PERSISTENTVOLUMES } from "./api-refs.ts";

export const LOCAL_PATH_PROVISIONER = "rancher.io/local-path";
const SELECTED_NODE = "volume.kubernetes.io/selected-node";
const STORAGE_PROVISIONER = "volume.kubernetes.io/storage-provisioner";
const PROVISIONED_BY = "pv.kubernetes.io/provisioned-by";
const STORAGE_CLASSES: ResourceRef = { group: "storage.k8s.io", version: "v1", resource: "storageclasses", kind: "StorageClass", namespaced: false };

interface Claim extends KubeObject {
  spec?: { storageClassName?: string; volumeName?: string; accessModes?: string[]; resources?: { requests?: { storage?: string } }; volumeMode?: string };
}
interface Volume extends KubeObject {
  spec?: { hostPath?: { path: string }; persistentVolumeReclaimPolicy?: string; nodeAffinity?: { required?: { nodeSelectorTerms?: { matchExpressions?: { key: string; operator: string; values?: string[] }[] }[] } } };
  status?: { phase?: string };
}

export interface LocalPathOptions {
  client: Client;
  nodeName: string;
  /** <data root>/storage */
  storageRoot: string;
  clock: Clock;
  log: (m: string) => void;
}

export class LocalPathProvisioner {
  private readonly claims: Informer<Claim>;
  private readonly volumes: Informer<Volume>;
  private readonly queue: WorkQueue;
  private readonly events: EventRecorder;
  private worker: Promise<void> | undefined;

  constructor(private readonly o: LocalPathOptions) {
    this.claims = new Informer<Claim>(o.client.resource<Claim>(PERSISTENTVOLUMECLAIMS), { clock: o.clock, log: o.log });
    this.volumes = new Informer<Volume>(o.client.resource<Volume>(PERSISTENTVOLUMES), { clock: o.clock, log: o.log });
    this.queue = new WorkQueue({ clock: o.clock });
    this.events = new EventRecorder(o.client, `${LOCAL_PATH_PROVISIONER}_${o.nodeName}`, o.clock, o.log);
    const claimKey = (c: Claim) => `claim:${c.metadata.namespace}/${c.metadata.name}`;
    this.claims.addHandlers({ onAdd: (c) => this.queue.add(claimKey(c)), onUpdate: (_x, c) => this.queue.add(claimKey(c)) });
    const volumeKey = (v: Volume) => `volume:${v.metadata.name}`;
    this.volumes.addHandlers({ onAdd: (v) => this.queue.add(volumeKey(v)), onUpdate: (_x, v) => this.queue.add(volumeKey(v)) });
  }

  async start(): Promise<void> {
    this.claims.start();
    this.volumes.start();
    await Promise.all([this.claims.whenSynced(), this.volumes.whenSynced()]);
    this.worker = this.work();
  }

  async stop(): Promise<void> {
    this.queue.shutDown();
    await Promise.all([this.claims.stop(), this.volumes.stop()]);
    await this.worker;
  }

  private async work(): Promise<void> {
    for (let key = await this.queue.get(); key !== undefined; key = await this.queue.get()) {
      try {
        if (key.startsWith("claim:")) await this.syncClaim(key.slice("claim:".length));
        else await this.syncVolume(key.slice("volume:".length));
        this.queue.forget(key);
      } catch (err) {
        this.o.log(`local-path: ${key}: ${describeError(err)}`);
        if (!this.queue.isShuttingDown) this.queue.addRateLimited(key);
      } finally {
        this.queue.done(key);
      }
    }
  }

  /** A volume of this node is pinned to it alone (as this provisioner pins them). */
  private mine(v: Volume): boolean {
    const terms = v.spec?.nodeAffinity?.required?.nodeSelectorTerms ?? [];
    return v.metadata.annotations?.[PROVISIONED_BY] === LOCAL_PATH_PROVISIONER && terms.length === 1 && JSON.stringify(terms[0]?.matchExpressions) === JSON.stringify([{ key: "kubernetes.io/hostname", operator: "In", values: [this.o.nodeName] }]);
  }

  private async syncClaim(key: string): Promise<void> {
    const claim = this.claims.cache.get(key);
    if (!claim || claim.metadata.deletionTimestamp || claim.spec?.volumeName) return;
    const a = claim.metadata.annotations ?? {};
    if (a[SELECTED_NODE] !== this.o.nodeName || a[STORAGE_PROVISIONER] !== LOCAL_PATH_PROVISIONER) return;
    const name = `pvc-${claim.metadata.uid}`;
    if (this.volumes.cache.get(name)) return;
    const cls = await this.o.client.resource<KubeObject & { reclaimPolicy?: string; provisioner?: string }>(STORAGE_CLASSES).get(undefined, claim.spec?.storageClassName ?? "").catch((err: unknown) => {
      if (isNotFound(err)) return undefined;
      throw err;
    });
    if (!cls || cls.provisioner !== LOCAL_PATH_PROVISIONER) return;
    const ns = claim.metadata.namespace!;
    await this.events.record(claim, "Normal", "Provisioning", `External provisioner is provisioning volume for claim "${ns}/${claim.metadata.name}"`);
    const path = join(this.o.storageRoot, `${name}_${ns}_${claim.metadata.name}`);
    mkdirSync(path, { recursive: true, mode: 0o777 });
    const pv = {
      apiVersion: "v1",
      kind: "PersistentVolume",
      metadata: { name, annotations: { [PROVISIONED_BY]: LOCAL_PATH_PROVISIONER, "local.path.provisioner/selected-node": this.o.nodeName } },
      spec: {
        capacity: { storage: claim.spec?.resources?.requests?.storage ?? "0" },
        accessModes: claim.spec?.accessModes ?? ["ReadWriteOnce"],
        persistentVolumeReclaimPolicy: cls.reclaimPolicy ?? "Delete",
        storageClassName: claim.spec?.storageClassName,
        volumeMode: claim.spec?.volumeMode ?? "Filesystem",
        hostPath: { path, type: "DirectoryOrCreate" },
        claimRef: { apiVersion: "v1", kind: "PersistentVolumeClaim", namespace: ns, name: claim.metadata.name, uid: claim.metadata.uid, resourceVersion: claim.metadata.resourceVersion },
        nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: "kubernetes.io/hostname", operator: "In", values: [this.o.nodeName] }] }] } },
      },
    };
    try {
      await this.o.client.resource(PERSISTENTVOLUMES).create(undefined, pv);
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
    }
    this.o.log(`local-path: provisioned ${name} for ${ns}/${claim.metadata.name} at ${path}`);
    await this.events.record(claim, "Normal", "ProvisioningSucceeded", `Successfully provisioned volume ${name}`);
  }

  private async syncVolume(name: string): Promise<void> {
    const pv = this.volumes.cache.get(name);
    if (!pv || !this.mine(pv) || pv.status?.phase !== "Released" || pv.spec?.persistentVolumeReclaimPolicy !== "Delete") return;
    const path = pv.spec.hostPath?.path;
    // Only what this provisioner made: a directory directly in its storage root.
    if (path && path.startsWith(`${this.o.storageRoot}/`) && !path.slice(this.o.storageRoot.length + 1).includes("/") && existsSync(path)) {
      rmSync(path, { recursive: true, force: true });
    }
    try {
      await this.o.client.resource(PERSISTENTVOLUMES).delete(undefined, name, { preconditions: { uid: pv.metadata.uid } });
      this.o.log(`local-path: deleted ${name} and its directory ${path}`);
    } catch (err) {
      if (!isNotFound(err) && !isConflict(err)) throw err;
    }
  }
}
