// The service account token authenticator (kube's serviceaccount.JWTTokenAuthenticator with
// its validator): a JWT this server signed names its service account and, when bound, the Pod
// or Secret it was issued for. It is accepted only while those objects are the same ones —
// same UID, and a pod not deleted for longer than the leeway — so deleting (or replacing) the
// service account or the pod revokes the token. Lookups are cached briefly, as node tokens are.
import type { UserInfo } from "./authentication.ts";
import type { KubeObject } from "./objects.ts";
import type { ObjectRegistry } from "./registry.ts";
import { resourceTypes, type ResourceType } from "./resources.ts";
import { serviceAccountUsername, TOKEN_LEEWAY_SECONDS, type ServiceAccountTokenSigner, type TokenClaims } from "./service-account-tokens.ts";

const type = (kind: string) => resourceTypes.find((r) => r.kind === kind)!;
const MAX_CACHED = 10_000;

export const SERVICE_ACCOUNTS_GROUP = "system:serviceaccounts";

/** The user a service account is (ServiceAccountInfo.UserInfo): its groups and the pod it runs as. */
export function serviceAccountUser(claims: TokenClaims): UserInfo {
  const k = claims["kubernetes.io"];
  const extra: Record<string, string[]> = { "authentication.kubernetes.io/credential-id": [`JTI=${claims.jti}`] };
  if (k.pod) {
    extra["authentication.kubernetes.io/pod-name"] = [k.pod.name];
    extra["authentication.kubernetes.io/pod-uid"] = [k.pod.uid];
  }
  if (k.node) {
    extra["authentication.kubernetes.io/node-name"] = [k.node.name];
    extra["authentication.kubernetes.io/node-uid"] = [k.node.uid];
  }
  return {
    username: serviceAccountUsername(k.namespace, k.serviceaccount.name),
    uid: k.serviceaccount.uid,
    groups: [SERVICE_ACCOUNTS_GROUP, `${SERVICE_ACCOUNTS_GROUP}:${k.namespace}`, "system:authenticated"],
    extra,
  };
}

/** What the API server's handlers use to issue and review tokens (token-request.ts). */
export interface ServiceAccountTokens {
  authenticator: ServiceAccountAuthenticator;
  /** The shortest lifetime a TokenRequest may ask for (kube: 600 s; tests lower it). */
  minExpirationSeconds: number;
  /** Authenticates any bearer token, as a request's would be (for TokenReview). */
  review(token: string, audiences: string[] | undefined): Promise<{ user: UserInfo; audiences: string[] } | { error: string }>;
}

export class ServiceAccountAuthenticator {
  // "<kind>/<ns>/<name>" -> the object as read at `at` (undefined: there was none).
  private readonly cache = new Map<string, { at: number; obj: KubeObject | undefined }>();

  constructor(
    readonly signer: ServiceAccountTokenSigner,
    /** The API's audiences (kube-apiserver's --api-audiences): a token must name one. */
    readonly audiences: string[],
    private readonly registry: ObjectRegistry,
    private readonly cacheMs: number,
  ) {}

  /** The user of a valid token, or why it is refused. */
  async authenticate(token: string, audiences = this.audiences): Promise<{ user: UserInfo; claims: TokenClaims } | { error: string }> {
    const checked = this.signer.verify(token, audiences);
    if ("error" in checked) return checked;
    const { claims } = checked;
    const k = claims["kubernetes.io"];
    const sa = await this.cached(type("ServiceAccount"), k.namespace, k.serviceaccount.name);
    if (!sa || sa.metadata.deletionTimestamp) return { error: `service account ${k.namespace}/${k.serviceaccount.name} has been deleted` };
    if (sa.metadata.uid !== k.serviceaccount.uid) return { error: `service account UID (${k.serviceaccount.uid}) does not match claim (${sa.metadata.uid ?? ""})` };
    if (k.pod) {
      const pod = await this.cached(type("Pod"), k.namespace, k.pod.name);
      if (!pod || pod.metadata.uid !== k.pod.uid) return { error: `pod ${k.namespace}/${k.pod.name} bound to the token has been deleted` };
      // A pod shutting down keeps its token through its grace period, and the leeway after.
      const deleted = pod.metadata.deletionTimestamp ? Date.parse(pod.metadata.deletionTimestamp) : undefined;
      if (deleted !== undefined && deleted < Date.now() - TOKEN_LEEWAY_SECONDS * 1000) return { error: "service account token has been invalidated" };
    }
    if (k.secret) {
      const secret = await this.cached(type("Secret"), k.namespace, k.secret.name);
      if (!secret || secret.metadata.uid !== k.secret.uid || secret.metadata.deletionTimestamp) return { error: `secret ${k.namespace}/${k.secret.name} bound to the token has been deleted` };
    }
    return { user: serviceAccountUser(claims), claims };
  }

  private async cached(rt: ResourceType, namespace: string, name: string): Promise<KubeObject | undefined> {
    const key = `${rt.plural}/${namespace}/${name}`;
    const now = Date.now();
    const hit = this.cache.get(key);
    if (hit && now - hit.at < this.cacheMs) return hit.obj;
    const obj = await this.registry.tryGet(rt, namespace, name);
    if (this.cache.size >= MAX_CACHED) this.cache.clear();
    this.cache.set(key, { at: now, obj });
    return obj;
  }
}
