// The TokenRequest API (POST …/serviceaccounts/NAME/token, authentication.k8s.io/v1
// TokenRequest; `kubectl create token`), the TokenReview API and the OIDC discovery documents
// of the service account issuer, as kube-apiserver serves them
// (pkg/registry/core/serviceaccount/storage/token.go, pkg/registry/authentication).
//
// A node may only ask for tokens bound to a pod scheduled on it (the NodeRestriction
// admission plugin's rule for serviceaccounts/token): that is how the agent fills a pod's
// projected serviceAccountToken volume.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { UserInfo } from "./authentication.ts";
import { authorize, errRequestForbidden, errObjectForbidden, type ResourceAttributes } from "./authorization.ts";
import { sendJson, type HandlerContext, type ResourceRequest } from "./handlers.ts";
import { isPlainObject, nowTimestamp, type KubeObject } from "./objects.ts";
import { decodeObjectBody, mediaType, readBody } from "./request-body.ts";
import { findResource } from "./resources.ts";
import type { ServiceAccountTokens } from "./service-account-auth.ts";
import type { KubernetesClaims } from "./service-account-tokens.ts";
import { errBadRequest, errConflict, errInvalid, errNotFound } from "./status.ts";

export const TOKEN_REVIEW_PATH = "/apis/authentication.k8s.io/v1/tokenreviews";
export const JWKS_PATH = "/openid/v1/jwks";
export const OPENID_CONFIGURATION_PATH = "/.well-known/openid-configuration";

/** TokenRequest's default lifetime (an hour) and kube's floor (ten minutes). */
export const DEFAULT_TOKEN_SECONDS = 3600;
export const MIN_TOKEN_SECONDS = 600;
const MAX_TOKEN_SECONDS = 2 ** 32;

const core = (plural: string) => findResource("", "v1", plural)!;

async function readKind(ctx: HandlerContext, req: IncomingMessage, kind: string): Promise<Record<string, unknown>> {
  const body = await decodeObjectBody(mediaType(req), await readBody(req, ctx.maxBodyBytes));
  if (!isPlainObject(body) || (body.kind !== undefined && body.kind !== kind)) throw errBadRequest(`the body of the request must be a ${kind} object`);
  return body;
}

function tokensOf(ctx: HandlerContext): ServiceAccountTokens {
  if (!ctx.serviceAccountTokens) throw errBadRequest("this API server issues no service account tokens");
  return ctx.serviceAccountTokens;
}

/** POST …/serviceaccounts/NAME/token. */
export async function handleTokenRequest(ctx: HandlerContext, r: ResourceRequest): Promise<void> {
  const tokens = tokensOf(ctx);
  const ns = r.namespace!;
  const name = r.name!;
  const body = await readKind(ctx, r.req, "TokenRequest");
  const spec = isPlainObject(body.spec) ? body.spec : {};
  const sa = await ctx.registry.get(core("serviceaccounts"), ns, name);
  const seconds = spec.expirationSeconds === undefined || spec.expirationSeconds === null ? DEFAULT_TOKEN_SECONDS : Number(spec.expirationSeconds);
  const invalid = (message: string) => errInvalid("TokenRequest", "authentication.k8s.io", name, [{ reason: "FieldValueInvalid", field: "spec.expirationSeconds", message: `Invalid value: ${String(spec.expirationSeconds)}: ${message}` }]);
  if (!Number.isInteger(seconds)) throw invalid("must be an integer");
  if (seconds < tokens.minExpirationSeconds) throw invalid(tokens.minExpirationSeconds === MIN_TOKEN_SECONDS ? "may not specify a duration less than 10 minutes" : `may not specify a duration less than ${tokens.minExpirationSeconds} seconds`);
  if (seconds > MAX_TOKEN_SECONDS) throw invalid("may not specify a duration larger than 2^32 seconds");
  const audiences = Array.isArray(spec.audiences) && spec.audiences.length ? spec.audiences.map(String) : tokens.authenticator.audiences;

  const claims: KubernetesClaims = { namespace: ns, serviceaccount: { name, uid: sa.metadata.uid! } };
  const ref = isPlainObject(spec.boundObjectRef) ? spec.boundObjectRef : undefined;
  let bound: KubeObject | undefined;
  if (ref) {
    const kind = String(ref.kind ?? "");
    const refName = String(ref.name ?? "");
    if ((kind !== "Pod" && kind !== "Secret") || (ref.apiVersion !== undefined && ref.apiVersion !== "v1")) throw errBadRequest(`cannot bind token to object of type ${String(ref.apiVersion ?? "")}, Kind=${kind}`);
    const plural = kind === "Pod" ? "pods" : "secrets";
    bound = await ctx.registry.tryGet(core(plural), ns, refName);
    if (!bound) throw errNotFound(plural, "", refName);
    if (typeof ref.uid === "string" && ref.uid && ref.uid !== bound.metadata.uid) {
      throw errConflict(kind, "", refName, `the UID in the bound object reference (${ref.uid}) does not match the UID in record. The object might have been deleted and then recreated`);
    }
    const obj = { name: refName, uid: bound.metadata.uid! };
    if (kind === "Pod") {
      const podSpec = isPlainObject(bound.spec) ? bound.spec : {};
      if ((podSpec.serviceAccountName ?? "default") !== name) throw errBadRequest(`cannot bind token for serviceaccount "${name}" to pod running with different serviceaccount name.`);
      claims.pod = obj;
      const nodeName = typeof podSpec.nodeName === "string" ? podSpec.nodeName : undefined;
      const node = nodeName ? await ctx.registry.tryGet(core("nodes"), undefined, nodeName) : undefined;
      if (node) claims.node = { name: nodeName!, uid: node.metadata.uid! };
    } else claims.secret = obj;
  }
  // NodeRestriction: a node asks only for the pods it runs.
  if (r.user?.node !== undefined) {
    const why = !bound || claims.pod === undefined ? "node requested token not bound to a pod" : (bound.spec as { nodeName?: string }).nodeName !== r.user.node ? "node requested token bound to a pod scheduled on a different node" : undefined;
    if (why) throw errObjectForbidden({ group: "", resource: "serviceaccounts", name }, why);
  }

  const { token, claims: issued } = tokens.authenticator.signer.issue({ audiences, seconds, kubernetes: claims });
  sendJson(r.res, 201, {
    kind: "TokenRequest",
    apiVersion: "authentication.k8s.io/v1",
    metadata: { name, namespace: ns, creationTimestamp: nowTimestamp() },
    spec: { audiences, expirationSeconds: seconds, boundObjectRef: ref ? { kind: ref.kind, apiVersion: "v1", name: ref.name, uid: bound?.metadata.uid } : null },
    status: { token, expirationTimestamp: new Date(issued.exp * 1000).toISOString().replace(/\.\d{3}Z$/, "Z") },
  });
}

/** POST /apis/authentication.k8s.io/v1/tokenreviews: who a token is, for webhook-style consumers. */
export async function handleTokenReview(ctx: HandlerContext, req: IncomingMessage, res: ServerResponse, user: UserInfo): Promise<void> {
  const a: ResourceAttributes = { verb: "create", group: "authentication.k8s.io", resource: "tokenreviews" };
  const decision = authorize(user, a);
  if (!decision.allowed) throw errRequestForbidden(user, a, decision.reason);
  const tokens = tokensOf(ctx);
  const body = await readKind(ctx, req, "TokenReview");
  const spec = isPlainObject(body.spec) ? body.spec : {};
  if (typeof spec.token !== "string" || spec.token === "") throw errBadRequest("token is required for TokenReview");
  const audiences = Array.isArray(spec.audiences) && spec.audiences.length ? spec.audiences.map(String) : undefined;
  const result = await tokens.review(spec.token, audiences);
  const status =
    "user" in result
      ? { authenticated: true, user: { username: result.user.username, ...(result.user.uid ? { uid: result.user.uid } : {}), groups: result.user.groups, ...(result.user.extra ? { extra: result.user.extra } : {}) }, audiences: result.audiences }
      : { user: {}, error: result.error };
  sendJson(res, 201, { kind: "TokenReview", apiVersion: "authentication.k8s.io/v1", metadata: { creationTimestamp: null }, spec, status });
}

/** The issuer's discovery documents (kube serves them to system:serviceaccounts and, here, any authenticated user). */
export function handleIssuerDiscovery(ctx: HandlerContext, res: ServerResponse, path: string): void {
  const signer = tokensOf(ctx).authenticator.signer;
  if (path === JWKS_PATH) return sendJson(res, 200, signer.jwks(), { "Content-Type": "application/jwk-set+json" });
  sendJson(res, 200, signer.openidConfiguration());
}
