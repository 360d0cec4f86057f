// Node join tokens, after kubeadm's bootstrap tokens: the token `<id>.<secret>` names one
// node, and lives in the cluster store as the Secret kube-system/node-token-<id> of type
// gantry.io/node-token. The Secret holds the node name, the expiry and the SHA-256 of the
// secret part, never the secret itself: a stolen store (or a backup) lets nobody in.
// Because tokens are ordinary objects, new ones work without restarting the server, and
// they live wherever the store does (SQLite or etcd).
//
// An unsalted hash is enough here: the secret part is 32 random characters from [a-z0-9]
// (165 bits), far past anything a dictionary or brute force could reach.
import { createHash, randomInt, timingSafeEqual } from "node:crypto";
import { invalidArgument } from "../../common/errors.ts";
import { isPlainObject, type KubeObject } from "./objects.ts";
import { invalidSubdomainName } from "./validation.ts";

export const NODE_TOKEN_TYPE = "gantry.io/node-token";
export const NODE_TOKEN_NAMESPACE = "kube-system";
const SECRET_NAME_PREFIX = "node-token-";
const TOKEN_FORMAT = /^([a-z0-9]{6})\.([a-z0-9]{32})$/;
const ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789";

/** What a token Secret says, without its hash. */
export interface NodeTokenInfo {
  id: string;
  node: string;
  /** ISO time after which the token is refused; undefined = never. */
  expires: string | undefined;
  created: string | undefined;
}

const randomChars = (n: number) => Array.from({ length: n }, () => ALPHABET[randomInt(ALPHABET.length)]).join("");
const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");
const b64 = (text: string) => Buffer.from(text).toString("base64");
const unb64 = (v: unknown) => (typeof v === "string" ? Buffer.from(v, "base64").toString() : undefined);

export const nodeTokenSecretName = (id: string) => `${SECRET_NAME_PREFIX}${id}`;

/** The id and secret of a presented bearer token, or undefined when it is not a node token. */
export function parseNodeToken(token: string): { id: string; secret: string } | undefined {
  const m = TOKEN_FORMAT.exec(token);
  return m ? { id: m[1]!, secret: m[2]! } : undefined;
}

/** A new token for NODE and the Secret that stores it (the token is shown once and kept nowhere). */
export function generateNodeToken(node: string, ttlMs: number | undefined, now = Date.now()): { token: string; secret: KubeObject } {
  const bad = invalidSubdomainName(node);
  if (bad) throw invalidArgument(`--node "${node}" is not a valid node name: ${bad}`);
  const id = randomChars(6);
  const secretPart = randomChars(32);
  const data: Record<string, string> = { "token-id": b64(id), "node-name": b64(node), "token-secret-sha256": b64(sha256(secretPart)) };
  if (ttlMs) data.expiration = b64(new Date(now + ttlMs).toISOString());
  return {
    token: `${id}.${secretPart}`,
    secret: {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: nodeTokenSecretName(id), namespace: NODE_TOKEN_NAMESPACE, labels: { "gantry.io/node": node } },
      type: NODE_TOKEN_TYPE,
      data,
    },
  };
}

function readSecret(obj: KubeObject): (NodeTokenInfo & { hash: string }) | undefined {
  if (obj.type !== NODE_TOKEN_TYPE || !isPlainObject(obj.data)) return undefined;
  const id = unb64(obj.data["token-id"]);
  const node = unb64(obj.data["node-name"]);
  const hash = unb64(obj.data["token-secret-sha256"]);
  if (!id || !node || !hash || obj.metadata.name !== nodeTokenSecretName(id)) return undefined;
  return { id, node, hash, expires: unb64(obj.data.expiration), created: obj.metadata.creationTimestamp };
}

/** The public facts of a token Secret (for `gantry server token list`), or undefined for any other Secret. */
export function describeNodeToken(obj: KubeObject): NodeTokenInfo | undefined {
  const t = readSecret(obj);
  return t && { id: t.id, node: t.node, expires: t.expires, created: t.created };
}

/**
 * The node a presented secret part authenticates, given the token's Secret: undefined when the
 * hash differs (compared in constant time), the Secret is malformed or the token has expired.
 */
export function verifyNodeToken(obj: KubeObject, secretPart: string, now = Date.now()): string | undefined {
  const t = readSecret(obj);
  if (!t) return undefined;
  const want = Buffer.from(t.hash);
  const got = Buffer.from(sha256(secretPart));
  if (want.length !== got.length || !timingSafeEqual(want, got)) return undefined;
  if (t.expires !== undefined) {
    const at = Date.parse(t.expires);
    // An unreadable expiry refuses the token rather than making it eternal.
    if (!Number.isFinite(at) || now >= at) return undefined;
  }
  return t.node;
}

export const isExpired = (t: NodeTokenInfo, now = Date.now()) => t.expires !== undefined && !(now < Date.parse(t.expires));

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Go-style durations as kubeadm's --ttl takes them: "90s", "1h30m", "24h", "7d"; "0" = never expires. */
export function parseDuration(text: string): number {
  if (text.trim() === "0") return 0;
  const parts = [...text.trim().matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy)];
  if (parts.length === 0 || parts.map((p) => p[0]).join("") !== text.trim()) {
    throw invalidArgument(`--ttl "${text}" is not a duration (e.g. 90s, 1h30m, 24h, 7d; 0 for none)`);
  }
  return parts.reduce((ms, p) => ms + Number(p[1]) * UNIT_MS[p[2]!]!, 0);
}

/** For table output: the expiry, or that there is none, or that it has passed. */
export function describeExpiry(t: NodeTokenInfo, now = Date.now()): string {
  if (t.expires === undefined) return "<never>";
  return isExpired(t, now) ? `${t.expires} (expired)` : t.expires;
}
