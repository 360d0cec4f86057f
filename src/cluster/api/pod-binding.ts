// POST …/pods/NAME/binding and the older POST …/namespaces/NS/bindings (v1 Binding): assigns a
// pod to a node, as kube-apiserver's BindingREST does (pkg/registry/core/pod/storage): sets
// spec.nodeName, copies the Binding's annotations and marks PodScheduled; a pod already
// assigned, or being deleted, is a 409. The scheduler binds this way.
import type { HandlerContext, ResourceRequest } from "./handlers.ts";
import { sendJson } from "./handlers.ts";
import { isPlainObject, nowTimestamp, type KubeObject } from "./objects.ts";
import { decodeObjectBody, mediaType, readBody } from "./request-body.ts";
import { findResource } from "./resources.ts";
import { errBadRequest, errConflict, errInvalid, type StatusCause } from "./status.ts";

type R = Record<string, unknown>;

function validateBinding(b: R): StatusCause[] {
  const target = (isPlainObject(b.target) ? b.target : {}) as R;
  const causes: StatusCause[] = [];
  if (target.kind !== undefined && target.kind !== "" && target.kind !== "Node") {
    causes.push({ reason: "FieldValueNotSupported", message: `Unsupported value: ${JSON.stringify(target.kind)}: supported values: "Node"`, field: "target.kind" });
  }
  if (typeof target.name !== "string" || !target.name) causes.push({ reason: "FieldValueRequired", message: "Required value", field: "target.name" });
  return causes;
}

/** The pod's conditions with PodScheduled True (its transition time kept if it was already True). */
function scheduledConditions(pod: KubeObject): R[] {
  const conditions = (isPlainObject(pod.status) && Array.isArray(pod.status.conditions) ? pod.status.conditions : []) as R[];
  const prev = conditions.find((c) => c.type === "PodScheduled");
  const scheduled = { type: "PodScheduled", status: "True", lastProbeTime: null, lastTransitionTime: prev?.status === "True" ? prev.lastTransitionTime : nowTimestamp() };
  return prev ? conditions.map((c) => (c === prev ? scheduled : c)) : [...conditions, scheduled];
}

export async function handleBinding(ctx: HandlerContext, r: ResourceRequest): Promise<void> {
  const body = await decodeObjectBody(mediaType(r.req), await readBody(r.req, ctx.maxBodyBytes));
  if (!isPlainObject(body)) throw errBadRequest("the body of the request must be a v1 Binding");
  if (body.kind !== undefined && body.kind !== "Binding") throw errBadRequest(`the kind of the object (${String(body.kind)}) does not match the expected kind (Binding)`);
  const meta = (isPlainObject(body.metadata) ? body.metadata : {}) as { name?: string; namespace?: string; uid?: string; annotations?: Record<string, string> };
  // pods/NAME/binding names the pod in the path; …/bindings only in the body.
  const name = r.name ?? meta.name;
  if (!name) throw errBadRequest("the Binding must name the pod in metadata.name");
  if (r.name !== undefined && meta.name !== undefined && meta.name !== r.name) throw errBadRequest("name in URL does not match name in Binding object");
  if (meta.namespace && meta.namespace !== r.namespace) throw errBadRequest("the namespace of the provided object does not match the namespace sent on the request");
  const causes = validateBinding(body);
  if (causes.length) throw errInvalid("Binding", "", name, causes);
  const node = String((body.target as R).name);
  const conflict = (why: string) => errConflict("pods/binding", "", name, why);
  await ctx.registry.mutate(
    findResource("", "v1", "pods")!,
    r.namespace,
    name,
    (pod) => {
      if (meta.uid && meta.uid !== pod.metadata.uid) throw conflict(`Precondition failed: UID in precondition: ${meta.uid}, UID in object meta: ${pod.metadata.uid}`);
      if (pod.metadata.deletionTimestamp) throw conflict(`pod ${name} is being deleted, cannot be assigned to a host`);
      const spec = (isPlainObject(pod.spec) ? pod.spec : (pod.spec = {})) as R;
      if (spec.nodeName) throw conflict(`pod ${name} is already assigned to node ${JSON.stringify(spec.nodeName)}`);
      spec.nodeName = node;
      if (meta.annotations && Object.keys(meta.annotations).length) pod.metadata.annotations = { ...(pod.metadata.annotations ?? {}), ...meta.annotations };
      pod.status = { ...((isPlainObject(pod.status) ? pod.status : {}) as R), conditions: scheduledConditions(pod) };
      return pod;
    },
    { subresource: "binding" },
  );
  sendJson(r.res, 201, { kind: "Status", apiVersion: "v1", metadata: {}, status: "Success", code: 201 });
}
