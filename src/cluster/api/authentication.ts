// Who is asking: the bearer token of a request turned into a user, as kube-apiserver's
// token authenticators do. Three kinds of token exist: the admin token (DATA_DIR/token,
// user system:admin in system:masters), node join tokens (`<id>.<secret>`, user
// system:node:NAME in system:nodes; see node-tokens.ts) and service account JWTs (user
// system:serviceaccount:NS:NAME; see service-account-auth.ts), plus the users of a static
// token file if the server was given one (token-file.ts). Anything else is anonymous.
import { tokenMatches } from "./credentials.ts";
import { describeNodeToken, NODE_TOKEN_NAMESPACE, nodeTokenSecretName, parseNodeToken, verifyNodeToken } from "./node-tokens.ts";
import type { KubeObject } from "./objects.ts";
import type { ObjectRegistry } from "./registry.ts";
import { resourceTypes } from "./resources.ts";
import { looksLikeJwt } from "./service-account-tokens.ts";

export interface UserInfo {
  username: string;
  groups: string[];
  /** The identity's UID (a service account's). */
  uid?: string;
  /** More about the identity (a service account token's pod and credential id; impersonation's Impersonate-Extra-*). */
  extra?: Record<string, string[]>;
  /** Set for node identities: the node this user is. */
  node?: string;
  /** Set for node identities: the token Secret that vouched for the user (for long requests). */
  credential?: { id: string; uid: string; expires: number | undefined };
}

export const ADMIN_USER: UserInfo = { username: "system:admin", groups: ["system:masters", "system:authenticated"] };

export const nodeUser = (node: string, credential?: UserInfo["credential"]): UserInfo => ({ username: `system:node:${node}`, groups: ["system:nodes", "system:authenticated"], node, ...(credential ? { credential } : {}) });

const secretType = resourceTypes.find((r) => r.kind === "Secret")!;

/** How long a token Secret read from the store is trusted: a deleted token stops working within this. */
export const TOKEN_CACHE_MS = 1000;
const MAX_CACHED = 10_000;

export class Authenticator {
  // id -> the token Secret as read at `at` (undefined: there was none). Misses are cached too,
  // so a client retrying a dead token does not cost a store read per request.
  private readonly cache = new Map<string, { at: number; secret: KubeObject | undefined }>();
  // Long requests (watches) of node users, by token id and Secret uid.
  private readonly bound = new Map<string, { id: string; uid: string; expires: number | undefined; stops: Set<() => void> }>();
  private recheckTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly adminToken: string,
    private readonly registry: ObjectRegistry,
    private readonly cacheMs = TOKEN_CACHE_MS,
    /** The service account token authenticator (service-account-auth.ts), for JWTs. */
    private readonly serviceAccounts?: (token: string) => Promise<UserInfo | undefined>,
    /** Users of kube-apiserver's --token-auth-file (token-file.ts), by token. */
    private readonly staticTokens: ReadonlyMap<string, UserInfo> = new Map(),
  ) {}

  /** The user an Authorization header names, or undefined (401). */
  async authenticate(authorization: string | undefined): Promise<UserInfo | undefined> {
    const m = /^Bearer\s+(\S+)$/i.exec(authorization ?? "");
    if (!m) return undefined;
    const token = m[1]!;
    const listed = this.staticTokens.get(token);
    if (listed) return listed;
    if (this.serviceAccounts && looksLikeJwt(token)) return this.serviceAccounts(token);
    const parsed = parseNodeToken(token);
    if (!parsed) return tokenMatches(token, this.adminToken) ? ADMIN_USER : undefined;
    const secret = await this.tokenSecret(parsed.id);
    // The hash and the expiry are checked on every request, cached Secret or not.
    const node = secret && verifyNodeToken(secret, parsed.secret);
    if (!node) return undefined;
    const expires = describeNodeToken(secret)?.expires;
    return nodeUser(node, { id: parsed.id, uid: secret.metadata.uid ?? "", expires: expires === undefined ? undefined : Date.parse(expires) });
  }

  /**
   * Ends STOP (a watch) once the token that authenticated USER is deleted, replaced or
   * expires: a watch outlives the request that checked its token, and a revoked node must
   * not go on receiving objects. Checked every cacheMs. Returns the un-registration.
   */
  bindToCredential(user: UserInfo, stop: () => void): () => void {
    const c = user.credential;
    if (!c) return () => {};
    const key = `${c.id}/${c.uid}`;
    let entry = this.bound.get(key);
    if (!entry) this.bound.set(key, (entry = { ...c, stops: new Set() }));
    entry.stops.add(stop);
    this.recheckTimer ??= setInterval(() => void this.recheckBound(), this.cacheMs).unref();
    return () => {
      entry.stops.delete(stop);
      if (entry.stops.size === 0) this.bound.delete(key);
      if (this.bound.size === 0) this.close();
    };
  }

  close(): void {
    if (this.recheckTimer) clearInterval(this.recheckTimer);
    this.recheckTimer = undefined;
  }

  private async recheckBound(): Promise<void> {
    for (const entry of [...this.bound.values()]) {
      // A store error is not a revocation: the watch goes on until the store answers.
      const secret = await this.tokenSecret(entry.id).catch(() => null);
      if (secret === null) continue;
      const expired = entry.expires !== undefined && !(Date.now() < entry.expires);
      if (!secret || secret.metadata.uid !== entry.uid || expired) for (const stop of [...entry.stops]) stop();
    }
  }

  private async tokenSecret(id: string): Promise<KubeObject | undefined> {
    const now = Date.now();
    const hit = this.cache.get(id);
    if (hit && now - hit.at < this.cacheMs) return hit.secret;
    const secret = await this.registry.tryGet(secretType, NODE_TOKEN_NAMESPACE, nodeTokenSecretName(id));
    if (this.cache.size >= MAX_CACHED) this.cache.clear();
    this.cache.set(id, { at: now, secret });
    return secret;
  }
}
