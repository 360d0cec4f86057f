// PersistentVolume: reclaim policy and volume mode defaults; phase Pending until bound.
import { ageColumn, arr, nameColumn, spec, status } from "../columns.ts";
import { getPath, isPlainObject } from "../objects.ts";
import { dflt, obj } from "./_fields.ts";
import type { Strategy } from "./types.ts";

const shortMode = (m: unknown) => String(m).replace("ReadWriteOncePod", "RWOP").replace("ReadWriteOnce", "RWO").replace("ReadOnlyMany", "ROX").replace("ReadWriteMany", "RWX");

export const persistentVolumeStrategy: Strategy = {
  defaults(o) {
    const s = obj(o, "spec");
    dflt(s, "persistentVolumeReclaimPolicy", "Retain");
    dflt(s, "volumeMode", "Filesystem");
    dflt(obj(o, "status"), "phase", "Pending");
  },
  columns: [
    nameColumn,
    { name: "Capacity", type: "string", cell: (o) => getPath(o, ["spec", "capacity", "storage"]) ?? "" },
    { name: "Access Modes", type: "string", cell: (o) => arr(spec(o).accessModes).map(shortMode).join(",") },
    { name: "Reclaim Policy", type: "string", cell: (o) => spec(o).persistentVolumeReclaimPolicy ?? "" },
    { name: "Status", type: "string", cell: (o) => status(o).phase ?? "" },
    { name: "Claim", type: "string", cell: (o) => (isPlainObject(spec(o).claimRef) ? `${(spec(o).claimRef as Record<string, unknown>).namespace}/${(spec(o).claimRef as Record<string, unknown>).name}` : "") },
    { name: "StorageClass", type: "string", cell: (o) => spec(o).storageClassName ?? "" },
    ageColumn,
  ],
};
