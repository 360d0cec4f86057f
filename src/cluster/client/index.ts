// The cluster client's public module: what controllers, the scheduler, the agent and the
// CLI import from src/cluster/client (never its files directly).
export { Client, ResourceClient, type DeleteOptions, type DiscoveredResource, type ListOptions, type PatchOptions, type PatchType, type ResourceRef, type Watch, type WatchOptions, type WriteOptions } from "./client.ts";
export { ApiStatusError, isAlreadyExists, isConflict, isForbidden, isGone, isInvalid, isNotFound, isTooManyRequests, statusError, type Status, type StatusCause, type StatusDetails } from "./errors.ts";
export { HttpsTransport, type HttpsTarget } from "./https-transport.ts";
export { copyObject, deepFreeze, objectKey, splitKey, type KubeObject, type ObjectList, type ObjectMeta, type OwnerReference, type WatchEvent, type WatchEventType } from "./objects.ts";
export { ExponentialBackoff, MaxOf, TokenBucket, defaultControllerRateLimiter, type RateLimiter } from "./rate-limit.ts";
export { lineSplitter, type ApiRequest, type ApiResponse, type ApiStream, type ApiTransport } from "./transport.ts";
export { WorkQueue, type WorkQueueOptions } from "./work-queue.ts";
export { BY_LABEL, BY_NAMESPACE, BY_NODE_NAME, BY_OWNER_UID, BY_UID, IndexedCache, standardIndexes, type IndexFunc } from "./cache.ts";
export { Informer, stripManagedFields, type InformerHandlers, type InformerOptions } from "./informer.ts";
export { InformerFactory, metadataOnly } from "./informer-factory.ts";
export { EventRecorder, type EventTarget } from "./event-recorder.ts";
export { computeDisruptionStatus, DISRUPTED_POD_TIMEOUT_MS, isPodReady as isPodReadyForDisruption, type DisruptionStatus } from "./disruption.ts";
export { addValues, chargedNames, computeQuotaUsed, countedResource, countResourceName, formatResourceList, formatValue, objectUsage, parseResourceList, podCountsForQuota, podResourceList, quotaHard, quotaMatches, type QuotaUsage, type QuotaValue } from "./quota.ts";
export { startLeaderElection, type LeaderElectionOptions, type LeaderElector } from "./leader-election.ts";
export { podQosClass, type QosClass } from "./pod-qos.ts";
export { StringInterner } from "./intern.ts";
