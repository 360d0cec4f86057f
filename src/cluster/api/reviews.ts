// The "who am I / may I" reviews every authenticated user may create:
// authentication.k8s.io/v1 SelfSubjectReview (`kubectl auth whoami`) and
// authorization.k8s.io/v1 SelfSubjectAccessReview (`kubectl auth can-i`). They are
// answered from the request's user and the same authorize() that guards every request,
// and never stored.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { UserInfo } from "./authentication.ts";
import { authorize, type ResourceAttributes } from "./authorization.ts";
import { sendJson, type HandlerContext } from "./handlers.ts";
import { isPlainObject, nowTimestamp } from "./objects.ts";
import { decodeObjectBody, mediaType, readBody } from "./request-body.ts";
import { resourceTypes } from "./resources.ts";
import { errBadRequest } from "./status.ts";

export const SELF_SUBJECT_REVIEW_PATH = "/apis/authentication.k8s.io/v1/selfsubjectreviews";
export const SELF_SUBJECT_ACCESS_REVIEW_PATH = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews";

/** Paths every authenticated user may GET (Kubernetes' system:discovery and public-info-viewer roles). */
const DISCOVERY_PATH = /^\/(api|apis|openapi|version|healthz|livez|readyz)(\/|$)/;

async function readReview(ctx: HandlerContext, req: IncomingMessage, kind: string): Promise<Record<string, unknown>> {
  const body = await decodeObjectBody(mediaType(req), await readBody(req, ctx.maxBodyBytes));
  if (!isPlainObject(body) || (body.kind !== undefined && body.kind !== kind)) throw errBadRequest(`the body of the request must be a ${kind} object`);
  return body;
}

export async function handleSelfSubjectReview(ctx: HandlerContext, req: IncomingMessage, res: ServerResponse, user: UserInfo): Promise<void> {
  await readReview(ctx, req, "SelfSubjectReview");
  sendJson(res, 201, {
    kind: "SelfSubjectReview",
    apiVersion: "authentication.k8s.io/v1",
    metadata: { creationTimestamp: nowTimestamp() },
    status: { userInfo: { username: user.username, ...(user.uid ? { uid: user.uid } : {}), groups: user.groups, ...(user.extra ? { extra: user.extra } : {}) } },
  });
}

export async function handleSelfSubjectAccessReview(ctx: HandlerContext, req: IncomingMessage, res: ServerResponse, user: UserInfo): Promise<void> {
  const body = await readReview(ctx, req, "SelfSubjectAccessReview");
  const spec = isPlainObject(body.spec) ? body.spec : {};
  let status: { allowed: boolean; reason?: string };
  if (isPlainObject(spec.resourceAttributes)) status = await reviewResource(ctx, user, spec.resourceAttributes);
  else if (isPlainObject(spec.nonResourceAttributes)) {
    const { path, verb } = spec.nonResourceAttributes;
    status = { allowed: user.groups.includes("system:masters") || (verb === "get" && typeof path === "string" && DISCOVERY_PATH.test(path)) };
  } else throw errBadRequest("SelfSubjectAccessReview spec needs resourceAttributes or nonResourceAttributes");
  sendJson(res, 201, { kind: "SelfSubjectAccessReview", apiVersion: "authorization.k8s.io/v1", metadata: { creationTimestamp: nowTimestamp() }, spec, status });
}

const text = (v: unknown) => (typeof v === "string" && v !== "" ? v : undefined);

async function reviewResource(ctx: HandlerContext, user: UserInfo, ra: Record<string, unknown>): Promise<{ allowed: boolean; reason?: string }> {
  const a: ResourceAttributes = {
    verb: text(ra.verb) ?? "",
    group: text(ra.group) ?? "",
    resource: text(ra.resource) ?? "",
    subresource: text(ra.subresource),
    namespace: text(ra.namespace),
    name: text(ra.name),
  };
  const decision = authorize(user, a);
  if (!decision.allowed) return decision.reason ? { allowed: false, reason: decision.reason } : { allowed: false };
  // With a name, the conditions on the object are answered too; without one, "yes" means
  // "for some objects", as RBAC's answer would.
  const { stored, created } = decision.grant;
  if (a.name && created && !created.allows({ metadata: { name: a.name } })) return { allowed: false, reason: created.reason };
  const rt = resourceTypes.find((r) => r.group === a.group && r.plural === a.resource);
  if (a.name && stored && rt) {
    const cur = await ctx.registry.tryGet(rt, rt.namespaced ? a.namespace : undefined, a.name);
    if (cur && !stored.allows(cur)) return { allowed: false, reason: stored.reason };
  }
  return { allowed: true };
}
