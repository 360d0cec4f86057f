// The controllers' public module: the controller manager `gantry server` starts, and the
// skeleton every controller is built on.
export { Controller, type ControllerContext } from "./controller.ts";
export { GarbageCollector, FOREGROUND_FINALIZER, ORPHAN_FINALIZER } from "./garbage-collector.ts";
export { NamespaceController, NAMESPACE_FINALIZER } from "./namespace.ts";
export { allControllers, type ControllerFlags, startControllerManager, type ControllerManagerOptions, type RunningControllerManager } from "./manager.ts";
export { ReplicaSetController } from "./replicaset.ts";
export { DeploymentController } from "./deployment.ts";
export { EndpointsController } from "./endpoints.ts";
export { EndpointSliceController } from "./endpointslice.ts";
export { ServiceAccountController, DEFAULT_SERVICE_ACCOUNT } from "./serviceaccount.ts";
export { RootCAPublisher, ROOT_CA_CONFIGMAP } from "./root-ca-publisher.ts";
export { DaemonSetController } from "./daemonset.ts";
export { JobController } from "./job.ts";
export { TtlAfterFinishedController } from "./ttl-after-finished.ts";
export { StatefulSetController } from "./statefulset.ts";
export { NodeLifecycleController, DEFAULT_NODE_MONITOR_GRACE_SECONDS, type NodeLifecycleOptions } from "./node-lifecycle.ts";
export { CronJobController, SCHEDULED_TIMESTAMP_ANNOTATION } from "./cronjob.ts";
export { DisruptionController } from "./disruption.ts";
export { PersistentVolumeController, LOCAL_PATH_CLASS, LOCAL_PATH_PROVISIONER, SELECTED_NODE_ANNOTATION, STORAGE_PROVISIONER_ANNOTATION } from "./persistentvolume.ts";
export { PvcProtectionController, PVC_PROTECTION_FINALIZER } from "./pvc-protection.ts";
export { HorizontalPodAutoscalerController, HPAS, type HorizontalPodAutoscalerOptions } from "./horizontal-pod-autoscaler.ts";
