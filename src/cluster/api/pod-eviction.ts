// POST …/pods/NAME/eviction (policy/v1 Eviction): deletes the pod unless that would break its
// PodDisruptionBudget, as kube-apiserver's EvictionREST does
// (pkg/registry/core/pod/storage/eviction.go); kubectl drain uses it and retries on 429.
//
// Without a disruption controller, the budget's status is computed here from the pods it
// selects (disruption.ts) and written back with the eviction counted in disruptedPods, by an
// optimistic-concurrency write of the budget: two evictions racing for the last allowed
// disruption conflict on it, and the loser recomputes and is refused.
import type { HandlerContext, ResourceRequest } from "./handlers.ts";
import { sendJson } from "./handlers.ts";
import { computeDisruptionStatus, isPodReady, pdbSelects, type DisruptionStatus } from "./disruption.ts";
import { isPlainObject, nowTimestamp, type KubeObject } from "./objects.ts";
import type { ObjectRegistry, PropagationPolicy } from "./registry.ts";
import { decodeObjectBody, mediaType, readBody } from "./request-body.ts";
import { findResource } from "./resources.ts";
import { ApiError, errBadRequest } from "./status.ts";

const resource = (group: string, plural: string) => findResource(group, "v1", plural)!;

/** Terminal, pending or already terminating pods are deleted without asking their budget (canIgnorePDB). */
function canIgnoreBudget(pod: KubeObject): boolean {
  const phase = isPlainObject(pod.status) ? pod.status.phase : undefined;
  return phase === "Succeeded" || phase === "Failed" || phase === "Pending" || phase === undefined || Boolean(pod.metadata.deletionTimestamp);
}

/** The replicas the controllers of pods want (ReplicaSets count their Deployment's), each controller once. */
async function expectedScale(registry: ObjectRegistry, ns: string, pods: KubeObject[]): Promise<number> {
  const seen = new Set<string>();
  let total = 0;
  const replicas = (o: KubeObject | undefined) => (o && isPlainObject(o.spec) && typeof o.spec.replicas === "number" ? o.spec.replicas : 0);
  for (const pod of pods) {
    const ref = (pod.metadata.ownerReferences ?? []).find((r) => r.controller);
    if (!ref || seen.has(ref.uid)) continue;
    seen.add(ref.uid);
    if (ref.kind === "ReplicaSet") {
      const rs = await registry.tryGet(resource("apps", "replicasets"), ns, ref.name);
      const dep = (rs?.metadata.ownerReferences ?? []).find((r) => r.controller && r.kind === "Deployment");
      total += dep ? replicas(await registry.tryGet(resource("apps", "deployments"), ns, dep.name)) : replicas(rs);
    } else if (ref.kind === "StatefulSet") total += replicas(await registry.tryGet(resource("apps", "statefulsets"), ns, ref.name));
    else if (ref.kind === "ReplicationController") total += replicas(await registry.tryGet(resource("", "replicationcontrollers"), ns, ref.name));
  }
  return total;
}

function tooManyRequests(pdbName: string, status: DisruptionStatus): ApiError {
  return new ApiError("CONFLICT", 429, "TooManyRequests", "Cannot evict pod as it would violate the pod's disruption budget.", {
    causes: [{ reason: "DisruptionBudget", message: `The disruption budget ${pdbName} needs ${status.desiredHealthy} healthy pods and has ${status.currentHealthy} currently` }],
    retryAfterSeconds: 0,
  });
}

/**
 * Asks pod's budget for one disruption, recording it in the budget's status unless dryRun.
 * Throws 429 when the budget allows none.
 */
async function takeDisruption(registry: ObjectRegistry, pod: KubeObject, pdb: KubeObject, dryRun: boolean): Promise<void> {
  const ns = pod.metadata.namespace!;
  const podName = pod.metadata.name!;
  let refused: ApiError | undefined;
  const decide = async (cur: KubeObject): Promise<KubeObject> => {
    refused = undefined;
    const selected = (await registry.list(resource("", "pods"), ns)).items.filter((p) => pdbSelects(cur, p));
    const now = Date.now();
    const status = computeDisruptionStatus(cur, selected, await expectedScale(registry, ns, selected), now);
    const policy = isPlainObject(cur.spec) ? cur.spec.unhealthyPodEvictionPolicy : undefined;
    // An unready pod is not healthy, so evicting it takes nothing from a budget that is met.
    const unready = !isPodReady(pod);
    if (unready && (policy === "AlwaysAllow" || (status.currentHealthy >= status.desiredHealthy && status.desiredHealthy > 0))) return { ...cur, status };
    if (status.disruptionsAllowed <= 0) {
      refused = tooManyRequests(cur.metadata.name!, status);
      return { ...cur, status };
    }
    status.disruptionsAllowed -= 1;
    status.disruptedPods = { ...(status.disruptedPods ?? {}), [podName]: nowTimestamp() };
    return { ...cur, status };
  };
  const pdbType = resource("policy", "poddisruptionbudgets");
  if (dryRun) await decide(await registry.get(pdbType, ns, pdb.metadata.name!));
  else await registry.mutate(pdbType, ns, pdb.metadata.name!, decide, { subresource: "status" });
  if (refused) throw refused;
}

interface EvictionBody {
  metadata?: { name?: string; namespace?: string };
  deleteOptions?: { propagationPolicy?: string; dryRun?: string[]; preconditions?: { uid?: string; resourceVersion?: string }; gracePeriodSeconds?: number };
}

export async function handleEviction(ctx: HandlerContext, r: ResourceRequest): Promise<void> {
  const decoded = await decodeObjectBody(mediaType(r.req), await readBody(r.req, ctx.maxBodyBytes));
  if (!isPlainObject(decoded) || (decoded.metadata !== undefined && !isPlainObject(decoded.metadata))) throw errBadRequest("the body of the request must be a policy/v1 Eviction");
  const body = decoded as EvictionBody;
  if (body.metadata?.name !== undefined && body.metadata.name !== r.name) throw errBadRequest("name in URL does not match name in Eviction object");
  if (body.metadata?.namespace && body.metadata.namespace !== r.namespace) throw errBadRequest("the namespace of the provided object does not match the namespace sent on the request");
  const options: NonNullable<EvictionBody["deleteOptions"]> = isPlainObject(body.deleteOptions) ? body.deleteOptions : {};
  const dryRun = r.url.searchParams.getAll("dryRun").includes("All") || (options.dryRun ?? []).includes("All");
  const registry = ctx.registry;
  const pods = resource("", "pods");
  const pod = await registry.get(pods, r.namespace, r.name!);
  if (!canIgnoreBudget(pod)) {
    const budgets = (await registry.list(resource("policy", "poddisruptionbudgets"), r.namespace)).items.filter((b) => pdbSelects(b, pod));
    if (budgets.length > 1) throw new ApiError("INTERNAL", 500, "InternalError", "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.");
    if (budgets.length === 1) await takeDisruption(registry, pod, budgets[0]!, dryRun);
  }
  // The pod the budget was asked about is the one deleted (not a new one of the same name).
  const preconditions = { uid: pod.metadata.uid, ...(options.preconditions ?? {}) };
  await registry.delete(pods, r.namespace, r.name!, { propagationPolicy: options.propagationPolicy as PropagationPolicy | undefined, preconditions, dryRun, gracePeriodSeconds: typeof options.gracePeriodSeconds === "number" ? options.gracePeriodSeconds : undefined });
  sendJson(r.res, 201, { kind: "Status", apiVersion: "v1", metadata: {}, status: "Success", code: 201 });
}
