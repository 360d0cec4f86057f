// VolumeBinding (the part that matters without a provisioner in the scheduler): a pod's
// PersistentVolumeClaims must exist and be bound, and a bound volume with node affinity (a
// local PV) pins the pod to the nodes it names.
import type { NodeSelectorTerm } from "../_types.ts";
import { nodeSelectorTermsMatch } from "../selectors.ts";
import { unresolvable, type FilterPlugin } from "../framework.ts";

const NAME = "VolumeBinding";

export const volumeBinding: FilterPlugin = {
  name: NAME,
  prepareFilter(pod, snapshot) {
    const claims = (pod.pod.spec?.volumes ?? []).flatMap((v) => (v.persistentVolumeClaim ? [v.persistentVolumeClaim.claimName] : []));
    if (!claims.length || !snapshot.persistentVolumeClaim) return undefined;
    const pinned: (readonly NodeSelectorTerm[])[] = [];
    for (const name of claims) {
      const pvc = snapshot.persistentVolumeClaim(pod.namespace, name);
      if (!pvc) return unresolvable(NAME, `persistentvolumeclaim "${name}" not found`);
      if (pvc.metadata.deletionTimestamp) return unresolvable(NAME, `persistentvolumeclaim "${name}" is being deleted`);
      const volumeName = pvc.spec?.volumeName;
      if (!volumeName) return unresolvable(NAME, "pod has unbound immediate PersistentVolumeClaims");
      const pv = snapshot.persistentVolume?.(volumeName);
      if (!pv) return unresolvable(NAME, `persistentvolume "${volumeName}" not found`);
      const terms = pv.spec?.nodeAffinity?.required?.nodeSelectorTerms;
      if (terms) pinned.push(terms);
    }
    if (!pinned.length) return undefined;
    return (node) => (pinned.every((terms) => nodeSelectorTermsMatch(terms, node.node)) ? undefined : unresolvable(NAME, "node(s) had volume node affinity conflict"));
  },
};
