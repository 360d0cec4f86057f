// Local multi-node clusters (`gantry cluster ...`): nodes as network namespaces on one bridge.
export { DEFAULT_STATE_DIR, MAX_NODES, readClusterRecord, type ClusterRecord, type NodeRecord } from "./cluster-record.ts";
export { createCluster, deleteCluster, listClusters, type ClusterSummary, type CreateClusterOptions } from "./lifecycle.ts";
export { loadIntoCluster } from "./load.ts";
export { superviseCluster, type SelfCommand } from "./supervisor.ts";
