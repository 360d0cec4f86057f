// PersistentVolumeClaim: volume mode default; phase Pending until bound.
import { ageColumn, arr, nameColumn, spec, status } from "../columns.ts";
import { getPath } from "../objects.ts";
import { dflt, obj } from "./_fields.ts";
import type { Strategy } from "./types.ts";

export const persistentVolumeClaimStrategy: Strategy = {
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
