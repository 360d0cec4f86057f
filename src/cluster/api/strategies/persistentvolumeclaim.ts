// PersistentVolumeClaim: volume mode default; phase Pending until bound. Admission at create:
// DefaultStorageClass — a claim without storageClassName gets the default class (the newest,
// when several are marked default; an explicit "" asks for no class) — and
// StorageObjectInUseProtection — the kubernetes.io/pvc-protection finalizer.
import { ageColumn, arr, nameColumn, spec, status } from "../columns.ts";
import { getPath, isPlainObject, type KubeObject } from "../objects.ts";
import { dflt, obj } from "./_fields.ts";
import { isDefaultClass } from "./storageclass.ts";
import type { AdmissionLookup, Strategy } from "./types.ts";

/** StorageObjectInUseProtection: the PVC protection controller lets a claim go once no pod uses it. */
export const PVC_PROTECTION_FINALIZER = "kubernetes.io/pvc-protection";

async function admitClaim(o: KubeObject, lookup: AdmissionLookup, old: KubeObject | undefined): Promise<void> {
  if (old) return;
  if (!(o.metadata.finalizers ?? []).includes(PVC_PROTECTION_FINALIZER)) o.metadata.finalizers = [...(o.metadata.finalizers ?? []), PVC_PROTECTION_FINALIZER];
  if (!isPlainObject(o.spec) || o.spec.storageClassName !== undefined) return;
  const defaults = (await lookup.list("storage.k8s.io", "storageclasses")).filter(isDefaultClass);
  if (!defaults.length) return;
  defaults.sort((a, b) => String(b.metadata.creationTimestamp ?? "").localeCompare(String(a.metadata.creationTimestamp ?? "")) || String(a.metadata.name).localeCompare(String(b.metadata.name)));
  o.spec.storageClassName = defaults[0]!.metadata.name;
}

export const persistentVolumeClaimStrategy: Strategy = {
  admit: admitClaim,
  defaults(o) {
    dflt(obj(o, "spec"), "volumeMode", "Filesystem");
    dflt(obj(o, "status"), "phase", "Pending");
  },
  columns: [
    nameColumn,
    { name: "Status", type: "string", cell: (o) => status(o).phase ?? "" },
    { name: "Volume", type: "string", cell: (o) => spec(o).volumeName ?? "" },
    { name: "Capacity", type: "string", cell: (o) => getPath(o, ["status", "capacity", "storage"]) ?? "" },
    { name: "Access Modes", type: "string", cell: (o) => arr(status(o).accessModes).join(",") },
    { name: "StorageClass", type: "string", cell: (o) => spec(o).storageClassName ?? "" },
    ageColumn,
  ],
};
