// Each resource's strategy, looked up by group and resource (plural). A resource without one
// is stored as given, with NAME and AGE columns.
import type { ResourceType } from "../resources.ts";
import { configMapStrategy } from "./configmap.ts";
import { controllerRevisionStrategy } from "./controllerrevision.ts";
import { cronJobStrategy } from "./cronjob.ts";
import { daemonSetStrategy } from "./daemonset.ts";
import { deploymentStrategy } from "./deployment.ts";
import { endpointSliceStrategy } from "./endpointslice.ts";
import { endpointsStrategy } from "./endpoints.ts";
import { eventStrategy } from "./event.ts";
import { jobStrategy } from "./job.ts";
import { leaseStrategy } from "./lease.ts";
import { limitRangeStrategy } from "./limitrange.ts";
import { namespaceStrategy } from "./namespace.ts";
import { networkPolicyStrategy } from "./networkpolicy.ts";
import { nodeStrategy } from "./node.ts";
import { persistentVolumeStrategy } from "./persistentvolume.ts";
import { persistentVolumeClaimStrategy } from "./persistentvolumeclaim.ts";
import { podDisruptionBudgetStrategy } from "./poddisruptionbudget.ts";
import { horizontalPodAutoscalerStrategy } from "./horizontalpodautoscaler.ts";
import { podStrategy } from "./pod.ts";
import { priorityClassStrategy } from "./priorityclass.ts";
import { clusterRoleBindingStrategy, clusterRoleStrategy, roleBindingStrategy, roleStrategy } from "./rbac.ts";
import { replicaSetStrategy } from "./replicaset.ts";
import { apiServiceStrategy } from "./apiservice.ts";
import { replicationControllerStrategy } from "./replicationcontroller.ts";
import { resourceQuotaStrategy } from "./resourcequota.ts";
import { secretStrategy } from "./secret.ts";
import { serviceStrategy } from "./service.ts";
import { serviceAccountStrategy } from "./serviceaccount.ts";
import { statefulSetStrategy } from "./statefulset.ts";
import { storageClassStrategy } from "./storageclass.ts";
import type { Strategy } from "./types.ts";

export type { Strategy, Allocator, Claims, AdmissionLookup } from "./types.ts";
export { SYSTEM_PRIORITY_CLASSES } from "./priorityclass.ts";
export { NAMESPACE_FINALIZER } from "./namespace.ts";
export { DEFAULT_CLASS_ANNOTATION } from "./storageclass.ts";

const byResource: Record<string, Strategy> = {
  "/namespaces": namespaceStrategy,
  "/pods": podStrategy,
  "/services": serviceStrategy,
  "/endpoints": endpointsStrategy,
  "/configmaps": configMapStrategy,
  "/secrets": secretStrategy,
  "/nodes": nodeStrategy,
  "/events": eventStrategy,
  "/serviceaccounts": serviceAccountStrategy,
  "/persistentvolumes": persistentVolumeStrategy,
  "/persistentvolumeclaims": persistentVolumeClaimStrategy,
  "/limitranges": limitRangeStrategy,
  "/resourcequotas": resourceQuotaStrategy,
  "/replicationcontrollers": replicationControllerStrategy,
  "apps/deployments": deploymentStrategy,
  "apps/replicasets": replicaSetStrategy,
  "apps/daemonsets": daemonSetStrategy,
  "apps/statefulsets": statefulSetStrategy,
  "apps/controllerrevisions": controllerRevisionStrategy,
  "batch/jobs": jobStrategy,
  "batch/cronjobs": cronJobStrategy,
  "networking.k8s.io/networkpolicies": networkPolicyStrategy,
  "coordination.k8s.io/leases": leaseStrategy,
  "discovery.k8s.io/endpointslices": endpointSliceStrategy,
  "apiregistration.k8s.io/apiservices": apiServiceStrategy,
  "policy/poddisruptionbudgets": podDisruptionBudgetStrategy,
  "autoscaling/horizontalpodautoscalers": horizontalPodAutoscalerStrategy,
  "scheduling.k8s.io/priorityclasses": priorityClassStrategy,
  "rbac.authorization.k8s.io/roles": roleStrategy,
  "rbac.authorization.k8s.io/rolebindings": roleBindingStrategy,
  "rbac.authorization.k8s.io/clusterroles": clusterRoleStrategy,
  "rbac.authorization.k8s.io/clusterrolebindings": clusterRoleBindingStrategy,
  "storage.k8s.io/storageclasses": storageClassStrategy,
};

const plain: Strategy = {};

export function strategyFor(rt: Pick<ResourceType, "group" | "plural">): Strategy {
  return byResource[`${rt.group}/${rt.plural}`] ?? plain;
}
