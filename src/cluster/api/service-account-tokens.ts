// ServiceAccount tokens as kube-apiserver issues them (pkg/serviceaccount/jwt.go, claims.go):
// ES256 JWTs signed with a key made once in DATA_DIR/tls/sa.key, with the claims Kubernetes
// puts in a bound token — iss, sub system:serviceaccount:NS:NAME, aud, exp/iat/nbf, jti and
// kubernetes.io {namespace, serviceaccount, pod|secret, node}. The public key is served as a
// JWKS (/openid/v1/jwks), as kube serves it for OIDC discovery. This module only signs and
// checks signatures and times; whether the service account and bound object still exist is
// asked by the authenticator (authentication.ts).
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomUUID, sign, verify, type KeyObject } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../../common/atomic-file.ts";
import { isPlainObject } from "./objects.ts";

/** kube-apiserver's --service-account-issuer as kubeadm and kind set it; also the default API audience. */
export const SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local";
/** Clock skew allowed on exp and nbf (go-jose's DefaultLeeway, which kube's validator uses). */
export const TOKEN_LEEWAY_SECONDS = 60;

export const serviceAccountUsername = (namespace: string, name: string) => `system:serviceaccount:${namespace}:${name}`;

export interface ObjectRef {
  name: string;
  uid: string;
}

/** The private claims under "kubernetes.io". */
export interface KubernetesClaims {
  namespace: string;
  serviceaccount: ObjectRef;
  pod?: ObjectRef;
  secret?: ObjectRef;
  node?: ObjectRef;
}

export interface TokenClaims {
  iss: string;
  sub: string;
  aud: string[];
  exp: number;
  iat: number;
  nbf: number;
  jti: string;
  "kubernetes.io": KubernetesClaims;
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString("base64url");

/** A JWT's three parts, when TOKEN looks like one (so other bearer tokens are not parsed as JSON). */
export function looksLikeJwt(token: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(token);
}

/** The signing key: made on first start (P-256), kept 0600 beside the server's other keys. */
export function ensureServiceAccountKey(dataDir: string): KeyObject {
  const dir = join(dataDir, "tls");
  const path = join(dir, "sa.key");
  if (!existsSync(path)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    writeFileAtomic(path, privateKey.export({ format: "pem", type: "pkcs8" }) as string, 0o600);
  }
  chmodSync(path, 0o600);
  return createPrivateKey(readFileSync(path, "utf8"));
}

export class ServiceAccountTokenSigner {
  readonly publicKey: KeyObject;
  /** kube's key id: the base64url SHA-256 of the public key's DER (keyIDFromPublicKey). */
  readonly keyId: string;

  constructor(
    private readonly privateKey: KeyObject,
    readonly issuer = SERVICE_ACCOUNT_ISSUER,
  ) {
    this.publicKey = createPublicKey(privateKey);
    this.keyId = b64url(createHash("sha256").update(this.publicKey.export({ format: "der", type: "spki" })).digest());
  }

  /** A signed token for the service account, valid from NOW for SECONDS. */
  issue(o: { audiences: string[]; seconds: number; kubernetes: KubernetesClaims; now?: number }): { token: string; claims: TokenClaims } {
    const now = Math.floor((o.now ?? Date.now()) / 1000);
    const claims: TokenClaims = {
      aud: o.audiences,
      exp: now + o.seconds,
      iat: now,
      iss: this.issuer,
      jti: randomUUID(),
      "kubernetes.io": o.kubernetes,
      nbf: now,
      sub: serviceAccountUsername(o.kubernetes.namespace, o.kubernetes.serviceaccount.name),
    };
    return { token: this.sign(claims), claims };
  }

  /** Signs any claims (tests make expired tokens with it). */
  sign(claims: object): string {
    const input = `${b64url(JSON.stringify({ alg: "ES256", kid: this.keyId }))}.${b64url(JSON.stringify(claims))}`;
    const signature = sign("sha256", Buffer.from(input), { key: this.privateKey, dsaEncoding: "ieee-p1363" });
    return `${input}.${b64url(signature)}`;
  }

  /**
   * The claims of a token this server signed, checked for signature, issuer, times and
   * audience; else why it is refused (logged by nobody: a 401 says no more).
   */
  verify(token: string, audiences: string[], now = Date.now()): { claims: TokenClaims } | { error: string } {
    const parts = token.split(".");
    if (parts.length !== 3) return { error: "not a JWT" };
    let header: unknown;
    let claims: unknown;
    try {
      header = JSON.parse(Buffer.from(parts[0]!, "base64url").toString());
      claims = JSON.parse(Buffer.from(parts[1]!, "base64url").toString());
    } catch {
      return { error: "malformed JWT" };
    }
    if (!isPlainObject(header) || header.alg !== "ES256") return { error: "unsupported signing algorithm" };
    if (header.kid !== undefined && header.kid !== this.keyId) return { error: "unknown key id" };
    const ok = verify("sha256", Buffer.from(`${parts[0]}.${parts[1]}`), { key: this.publicKey, dsaEncoding: "ieee-p1363" }, Buffer.from(parts[2]!, "base64url"));
    if (!ok) return { error: "invalid signature" };
    if (!isPlainObject(claims) || claims.iss !== this.issuer) return { error: "token issued by someone else" };
    const c = claims as unknown as TokenClaims;
    const t = now / 1000;
    if (typeof c.exp !== "number" || t > c.exp + TOKEN_LEEWAY_SECONDS) return { error: "token has expired" };
    if (typeof c.nbf === "number" && t < c.nbf - TOKEN_LEEWAY_SECONDS) return { error: "token is not valid yet" };
    const aud = Array.isArray(c.aud) ? c.aud : typeof c.aud === "string" ? [c.aud] : [];
    if (!aud.some((a) => audiences.includes(a))) return { error: "token audiences do not match" };
    const k = c["kubernetes.io"];
    if (!isPlainObject(k) || typeof k.namespace !== "string" || !isPlainObject(k.serviceaccount) || typeof k.serviceaccount.name !== "string") return { error: "token lacks the service account claims" };
    return { claims: c };
  }

  /** The JSON Web Key Set of /openid/v1/jwks. */
  jwks(): { keys: object[] } {
    const jwk = this.publicKey.export({ format: "jwk" });
    return { keys: [{ use: "sig", kty: jwk.kty, kid: this.keyId, crv: jwk.crv, alg: "ES256", x: jwk.x, y: jwk.y }] };
  }

  /** /.well-known/openid-configuration, as kube-apiserver serves it. */
  openidConfiguration(): object {
    return {
      issuer: this.issuer,
      jwks_uri: `${this.issuer}/openid/v1/jwks`,
      response_types_supported: ["id_token"],
      subject_types_supported: ["public"],
      id_token_signing_alg_values_supported: ["ES256"],
    };
  }
}
