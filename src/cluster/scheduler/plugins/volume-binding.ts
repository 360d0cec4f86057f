// VolumeBinding: a pod's PersistentVolumeClaims must exist; a bound claim's volume with node
// affinity (a local PV) pins the pod to the nodes it names. A claim whose StorageClass says
// WaitForFirstConsumer may still be unbound: a node fits when an Available volume of the
// class can be reached from it, or the class has a provisioner (which makes one there); a
// claim already given a node (volume.kubernetes.io/selected-node) pins the pod to it. The
// scheduler writes the chosen node on such claims before binding the pod (delayedClaims),
// as kube-scheduler's PreBind does, and the provisioner or the PV controller takes it from
// there. Any other unbound claim keeps the pod pending.
import type { Node, NodeSelectorTerm, PersistentVolumeClaim, Pod } from "../_types.ts";
import { nodeSelectorTermsMatch } from "../selectors.ts";
import { unresolvable, type FilterPlugin, type Snapshot } from "../framework.ts";

const NAME = "VolumeBinding";
export const SELECTED_NODE_ANNOTATION = "volume.kubernetes.io/selected-node";
const NO_PROVISIONER = "kubernetes.io/no-provisioner";

const claimNames = (pod: Pod) => (pod.spec?.volumes ?? []).flatMap((v) => (v.persistentVolumeClaim ? [v.persistentVolumeClaim.claimName] : []));

/** The pod's unbound claims whose class waits for the first consumer and that have no node yet: the scheduler annotates them at bind. */
export function delayedClaims(pod: Pod, snapshot: Snapshot): PersistentVolumeClaim[] {
  const ns = pod.metadata.namespace ?? "";
  return claimNames(pod)
    .map((n) => snapshot.persistentVolumeClaim?.(ns, n))
    .filter((c): c is PersistentVolumeClaim => !!c && !c.spec?.volumeName && !c.metadata.annotations?.[SELECTED_NODE_ANNOTATION] && snapshot.storageClass?.(c.spec?.storageClassName ?? "")?.volumeBindingMode === "WaitForFirstConsumer");
}

export const volumeBinding: FilterPlugin = {
  name: NAME,
  prepareFilter(pod, snapshot) {
    const claims = claimNames(pod.pod);
    if (!claims.length || !snapshot.persistentVolumeClaim) return undefined;
    const pinned: (readonly NodeSelectorTerm[])[] = [];
    const selected = new Set<string>();
    /** Classes of claims waiting for a node: a node fits when it can get a volume of each. */
    const waiting: string[] = [];
    for (const name of claims) {
      const pvc = snapshot.persistentVolumeClaim(pod.namespace, name);
      if (!pvc) return unresolvable(NAME, `persistentvolumeclaim "${name}" not found`);
      if (pvc.metadata.deletionTimestamp) return unresolvable(NAME, `persistentvolumeclaim "${name}" is being deleted`);
      const volumeName = pvc.spec?.volumeName;
      if (!volumeName) {
        const cls = snapshot.storageClass?.(pvc.spec?.storageClassName ?? "");
        if (cls?.volumeBindingMode !== "WaitForFirstConsumer") return unresolvable(NAME, "pod has unbound immediate PersistentVolumeClaims");
        const node = pvc.metadata.annotations?.[SELECTED_NODE_ANNOTATION];
        if (node) selected.add(node);
        else if (!cls.provisioner || cls.provisioner === NO_PROVISIONER) waiting.push(cls.metadata.name ?? "");
        continue;
      }
      const pv = snapshot.persistentVolume?.(volumeName);
      if (!pv) return unresolvable(NAME, `persistentvolume "${volumeName}" not found`);
      const terms = pv.spec?.nodeAffinity?.required?.nodeSelectorTerms;
      if (terms) pinned.push(terms);
    }
    if (!pinned.length && !selected.size && !waiting.length) return undefined;
    const available = (cls: string, node: Node) =>
      (snapshot.persistentVolumes?.() ?? []).some((pv) => !pv.spec?.claimRef && (pv.status?.phase ?? "Available") === "Available" && (pv.spec?.storageClassName ?? "") === cls && (!pv.spec?.nodeAffinity?.required?.nodeSelectorTerms || nodeSelectorTermsMatch(pv.spec.nodeAffinity.required.nodeSelectorTerms, node)));
    return (node) => {
      if (!pinned.every((terms) => nodeSelectorTermsMatch(terms, node.node))) return unresolvable(NAME, "node(s) had volume node affinity conflict");
      if ([...selected].some((n) => n !== node.node.metadata.name)) return unresolvable(NAME, "node(s) did not match the node selected for a volume");
      if (!waiting.every((cls) => available(cls, node.node))) return unresolvable(NAME, "node(s) didn't find available persistent volumes to bind");
      return undefined;
    };
  },
};
