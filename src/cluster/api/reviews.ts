// The "who am I / may I" reviews: authentication.k8s.io/v1 SelfSubjectReview (`kubectl
// auth whoami`), and authorization.k8s.io/v1 SelfSubjectAccessReview (`kubectl auth can-i`),
// SelfSubjectRulesReview (`kubectl auth can-i --list`) — which every authenticated user may
// create, as system:basic-user allows — and SubjectAccessReview / LocalSubjectAccessReview,
// which ask about another user and need `create` on them (admins; a webhook's delegated
// authorization). They are answered by the same authorizers that guard every request, and
// never stored.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { UserInfo } from "./authentication.ts";
import { errRequestForbidden, isAdmin, type RequestAuthorizer, type ResourceAttributes } from "./authorization.ts";
import { sendJson, type HandlerContext } from "./handlers.ts";
import { isPlainObject, nowTimestamp } from "./objects.ts";
import { decodeObjectBody, mediaType, readBody } from "./request-body.ts";
import { resourceTypes } from "./resources.ts";
import { errBadRequest } from "./status.ts";

export const SELF_SUBJECT_REVIEW_PATH = "/apis/authentication.k8s.io/v1/selfsubjectreviews";
const AUTHORIZATION_API = "/apis/authorization.k8s.io/v1";
export const SELF_SUBJECT_ACCESS_REVIEW_PATH = `${AUTHORIZATION_API}/selfsubjectaccessreviews`;
export const SELF_SUBJECT_RULES_REVIEW_PATH = `${AUTHORIZATION_API}/selfsubjectrulesreviews`;
export const SUBJECT_ACCESS_REVIEW_PATH = `${AUTHORIZATION_API}/subjectaccessreviews`;
/** /apis/authorization.k8s.io/v1/namespaces/NS/localsubjectaccessreviews, with NS captured. */
export const LOCAL_SUBJECT_ACCESS_REVIEW_PATH = /^\/apis\/authorization\.k8s\.io\/v1\/namespaces\/([^/]+)\/localsubjectaccessreviews$/;

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

type Review = Record<string, unknown>;
type Answer = { allowed: boolean; reason?: string };

const text = (v: unknown) => (typeof v === "string" && v !== "" ? v : undefined);

function resourceAttributes(ra: Record<string, unknown>): ResourceAttributes {
  return { verb: text(ra.verb) ?? "", group: text(ra.group) ?? "", resource: text(ra.resource) ?? "", subresource: text(ra.subresource), namespace: text(ra.namespace), name: text(ra.name) };
}

/** Whether USER may do what a review's spec asks (resourceAttributes or nonResourceAttributes). */
async function answer(ctx: HandlerContext, authorizer: RequestAuthorizer, user: UserInfo, spec: Review, kind: string): Promise<Answer> {
  if (isPlainObject(spec.resourceAttributes)) return reviewResource(ctx, authorizer, user, resourceAttributes(spec.resourceAttributes));
  if (isPlainObject(spec.nonResourceAttributes)) {
    const { path, verb } = spec.nonResourceAttributes;
    return { allowed: typeof path === "string" && typeof verb === "string" && (await authorizer.authorizeNonResource(user, verb, path)) };
  }
  throw errBadRequest(`${kind} spec needs resourceAttributes or nonResourceAttributes`);
}

function respond(res: ServerResponse, kind: string, spec: Review, status: unknown, namespace?: string): void {
  const metadata = { creationTimestamp: nowTimestamp(), ...(namespace ? { namespace } : {}) };
  sendJson(res, 201, { kind, apiVersion: "authorization.k8s.io/v1", metadata, spec, status });
}

export async function handleSelfSubjectAccessReview(ctx: HandlerContext, authorizer: RequestAuthorizer, req: IncomingMessage, res: ServerResponse, user: UserInfo): Promise<void> {
  const body = await readReview(ctx, req, "SelfSubjectAccessReview");
  const spec = isPlainObject(body.spec) ? body.spec : {};
  respond(res, "SelfSubjectAccessReview", spec, await answer(ctx, authorizer, user, spec, "SelfSubjectAccessReview"));
}

/** The user a SubjectAccessReview asks about: as given, groups included (no system:authenticated added, as in kube). */
function reviewedUser(spec: Review): UserInfo {
  const username = text(spec.user) ?? "";
  const groups = Array.isArray(spec.groups) ? spec.groups.filter((g): g is string => typeof g === "string") : [];
  const node = /^system:node:(.+)$/.exec(username);
  return { username, groups, ...(node && groups.includes("system:nodes") ? { node: node[1] } : {}) };
}

/** SubjectAccessReview (cluster) and LocalSubjectAccessReview (NAMESPACE): may another user do this? */
export async function handleSubjectAccessReview(ctx: HandlerContext, authorizer: RequestAuthorizer, req: IncomingMessage, res: ServerResponse, user: UserInfo, namespace?: string): Promise<void> {
  const kind = namespace === undefined ? "SubjectAccessReview" : "LocalSubjectAccessReview";
  const asked: ResourceAttributes = { verb: "create", group: "authorization.k8s.io", resource: namespace === undefined ? "subjectaccessreviews" : "localsubjectaccessreviews", namespace };
  const body = await readReview(ctx, req, kind);
  if (!(await authorizer.authorize(user, asked)).allowed) throw errRequestForbidden(user, asked, "");
  const spec = isPlainObject(body.spec) ? body.spec : {};
  if (!text(spec.user) && !(Array.isArray(spec.groups) && spec.groups.length)) throw errBadRequest(`${kind}.authorization.k8s.io "" is invalid: spec.user: Invalid value: "": at least one of user or group must be specified`);
  if (namespace !== undefined) {
    const ra = isPlainObject(spec.resourceAttributes) ? spec.resourceAttributes : undefined;
    if (!ra) throw errBadRequest(`${kind}.authorization.k8s.io "" is invalid: spec.resourceAttributes: Required value: disallowed on this kind of request`);
    if (ra.namespace !== undefined && ra.namespace !== namespace) throw errBadRequest(`spec.resourceAttributes.namespace must match namespace: ${namespace}`);
    ra.namespace = namespace;
  }
  const result = await answer(ctx, authorizer, reviewedUser(spec), spec, kind);
  respond(res, kind, spec, result, namespace);
}

/**
 * SelfSubjectRulesReview: the rules the user holds in spec.namespace, as RBAC grants them. A
 * node's own grants come from the Node authorizer, which cannot list them: its answer is
 * marked incomplete, as kube-apiserver marks it.
 */
export async function handleSelfSubjectRulesReview(ctx: HandlerContext, authorizer: RequestAuthorizer, req: IncomingMessage, res: ServerResponse, user: UserInfo): Promise<void> {
  const body = await readReview(ctx, req, "SelfSubjectRulesReview");
  const spec = isPlainObject(body.spec) ? body.spec : {};
  const namespace = text(spec.namespace);
  const rules = await authorizer.rbac.rulesFor(user, namespace);
  const resourceRules = rules.filter((r) => !r.nonResourceURLs?.length).map((r) => ({ verbs: r.verbs, apiGroups: r.apiGroups ?? [], resources: r.resources ?? [], ...(r.resourceNames?.length ? { resourceNames: r.resourceNames } : {}) }));
  const nonResourceRules = rules.filter((r) => r.nonResourceURLs?.length).map((r) => ({ verbs: r.verbs, nonResourceURLs: r.nonResourceURLs }));
  const incomplete = user.node !== undefined && !isAdmin(user);
  respond(res, "SelfSubjectRulesReview", spec, { resourceRules, nonResourceRules, incomplete, ...(incomplete ? { evaluationError: "node authorizer does not support user rule resolution" } : {}) });
}

async function reviewResource(ctx: HandlerContext, authorizer: RequestAuthorizer, user: UserInfo, a: ResourceAttributes): Promise<Answer> {
  const decision = await authorizer.authorize(user, a);
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
