// StorageClass (storage.k8s.io/v1): a provisioner and how its volumes are made. reclaimPolicy
// defaults to Delete and volumeBindingMode to Immediate (SetDefaults_StorageClass); the
// provisioner, parameters, reclaimPolicy and volumeBindingMode are fixed once created. The
// default class (annotation storageclass.kubernetes.io/is-default-class: "true") is what a
// PersistentVolumeClaim without storageClassName gets (persistentvolumeclaim.ts), and kubectl
// shows it as "NAME (default)".
import { ageColumn, type Column } from "../columns.ts";
import type { KubeObject } from "../objects.ts";
import type { Causes } from "../validation.ts";
import type { Strategy } from "./types.ts";

export const DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class";
/** The beta annotation older tools still write. */
export const BETA_DEFAULT_CLASS_ANNOTATION = "storageclass.beta.kubernetes.io/is-default-class";

export const isDefaultClass = (o: KubeObject) => o.metadata.annotations?.[DEFAULT_CLASS_ANNOTATION] === "true" || o.metadata.annotations?.[BETA_DEFAULT_CLASS_ANNOTATION] === "true";

const RECLAIM = ["Delete", "Retain"];
const BINDING = ["Immediate", "WaitForFirstConsumer"];

function validate(c: Causes, o: KubeObject, old: KubeObject | undefined) {
  if (typeof o.provisioner !== "string" || o.provisioner === "") c.required("provisioner");
  if (!RECLAIM.includes(String(o.reclaimPolicy))) c.unsupported("reclaimPolicy", o.reclaimPolicy, RECLAIM);
  if (!BINDING.includes(String(o.volumeBindingMode))) c.unsupported("volumeBindingMode", o.volumeBindingMode, BINDING);
  if (!old) return;
  if (old.provisioner !== o.provisioner) c.forbidden("provisioner", "updates to provisioner are forbidden.");
  if (JSON.stringify(old.parameters ?? {}) !== JSON.stringify(o.parameters ?? {})) c.forbidden("parameters", "updates to parameters are forbidden.");
  if (old.reclaimPolicy !== o.reclaimPolicy) c.forbidden("reclaimPolicy", "updates to reclaimPolicy are forbidden.");
  if (old.volumeBindingMode !== o.volumeBindingMode) c.forbidden("volumeBindingMode", "field is immutable");
}

const name: Column = { name: "Name", type: "string", format: "name", cell: (o) => (isDefaultClass(o) ? `${o.metadata.name} (default)` : o.metadata.name) };

export const storageClassStrategy: Strategy = {
  defaults(o) {
    if (o.reclaimPolicy === undefined || o.reclaimPolicy === null) o.reclaimPolicy = "Delete";
    if (o.volumeBindingMode === undefined || o.volumeBindingMode === null) o.volumeBindingMode = "Immediate";
  },
  validate,
  columns: [
    name,
    { name: "Provisioner", type: "string", cell: (o) => o.provisioner ?? "" },
    { name: "ReclaimPolicy", type: "string", cell: (o) => o.reclaimPolicy ?? "" },
    { name: "VolumeBindingMode", type: "string", cell: (o) => o.volumeBindingMode ?? "" },
    { name: "AllowVolumeExpansion", type: "string", cell: (o) => String(o.allowVolumeExpansion === true) },
    ageColumn,
  ],
};
