// The ServiceAccount admission plugin (plugin/pkg/admission/serviceaccount): a new pod runs as
// `default` unless it names a service account, which must exist; unless the account or the
// pod says automountServiceAccountToken: false, the pod gets the projected volume
// kube-api-access-XXXXX (a 3607 s token, the cluster CA from kube-root-ca.crt, the namespace)
// mounted read-only at /var/run/secrets/kubernetes.io/serviceaccount in every container that
// does not mount something there itself. Mirror pods are left alone, as in Kubernetes.
import { randomInt } from "node:crypto";
import { isPlainObject, type KubeObject } from "../objects.ts";
import { errForbidden } from "../status.ts";
import { obj } from "./_fields.ts";
import type { AdmissionLookup } from "./types.ts";

export const SERVICE_ACCOUNT_MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount";
export const TOKEN_VOLUME_PREFIX = "kube-api-access-";
/** kubelet-requested tokens: an hour and seven seconds (kube's warnafter marker for extended tokens). */
export const TOKEN_VOLUME_SECONDS = 3607;
const MIRROR_ANNOTATION = "kubernetes.io/config.mirror";
// utilrand.String's alphabet: no vowels (no words) and no confusable characters.
const ALPHABET = "bcdfghjklmnpqrstvwxz2456789";

export const tokenVolume = (name: string) => ({
  name,
  projected: {
    defaultMode: 0o644,
    sources: [
      { serviceAccountToken: { expirationSeconds: TOKEN_VOLUME_SECONDS, path: "token" } },
      { configMap: { name: "kube-root-ca.crt", items: [{ key: "ca.crt", path: "ca.crt" }] } },
      { downwardAPI: { items: [{ path: "namespace", fieldRef: { apiVersion: "v1", fieldPath: "metadata.namespace" } }] } },
    ],
  },
});

export async function admitServiceAccount(o: KubeObject, lookup: AdmissionLookup): Promise<void> {
  if (o.metadata.annotations?.[MIRROR_ANNOTATION] !== undefined) return;
  const spec = obj(o, "spec");
  if (typeof spec.serviceAccountName !== "string" || spec.serviceAccountName === "") spec.serviceAccountName = typeof spec.serviceAccount === "string" && spec.serviceAccount ? spec.serviceAccount : "default";
  const name = spec.serviceAccountName as string;
  // The deprecated alias is kept equal, as the API server's defaulting does.
  spec.serviceAccount = name;
  const ns = o.metadata.namespace ?? "default";
  const sa = await lookup.get("", "serviceaccounts", ns, name);
  // `default` may not be made yet in a namespace created a moment ago (the serviceaccount
  // controller makes it): the pod is let through, and its token is issued once it exists.
  if (!sa && name !== "default") throw errForbidden(`pods "${o.metadata.name ?? ""}" is forbidden: error looking up service account ${ns}/${name}: serviceaccount "${name}" not found`, { name: o.metadata.name, kind: "pods" });
  const automount = typeof spec.automountServiceAccountToken === "boolean" ? spec.automountServiceAccountToken : sa?.automountServiceAccountToken !== false;
  if (!automount) return;
  const containers = ["initContainers", "containers", "ephemeralContainers"].flatMap((k) => (Array.isArray(spec[k]) ? (spec[k] as unknown[]) : [])).filter(isPlainObject);
  const mounted = (c: Record<string, unknown>) => Array.isArray(c.volumeMounts) && c.volumeMounts.some((m) => isPlainObject(m) && String(m.mountPath ?? "").replace(/\/+$/, "") === SERVICE_ACCOUNT_MOUNT_PATH);
  const needing = containers.filter((c) => !mounted(c));
  if (needing.length === 0) return;
  const volumes = Array.isArray(spec.volumes) ? (spec.volumes as unknown[]) : [];
  const taken = new Set(volumes.filter(isPlainObject).map((v) => v.name));
  let volumeName: string;
  do volumeName = TOKEN_VOLUME_PREFIX + Array.from({ length: 5 }, () => ALPHABET[randomInt(ALPHABET.length)]).join("");
  while (taken.has(volumeName));
  spec.volumes = [...volumes, tokenVolume(volumeName)];
  for (const c of needing) c.volumeMounts = [...(Array.isArray(c.volumeMounts) ? c.volumeMounts : []), { name: volumeName, readOnly: true, mountPath: SERVICE_ACCOUNT_MOUNT_PATH }];
}
