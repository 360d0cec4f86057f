// Registry credentials travel from the client to the daemon as Docker's clients send them:
// `X-Registry-Auth` (pull, push) is base64url JSON of one AuthConfig, `X-Registry-Config`
// (build) a map of registry → AuthConfig. The client reads them from its own stores (gantry
// login, ~/.docker/config.json); the daemon uses only what it is sent, as dockerd does.
import { invalidArgument } from "../common/errors.ts";
import type { Credentials } from "../image/mod.ts";

/** Docker's AuthConfig, the fields Gantry reads or writes. */
interface AuthConfig {
  username?: string;
  password?: string;
  /** base64 "user:password" (what config.json's `auths` hold). */
  auth?: string;
  serveraddress?: string;
  identitytoken?: string;
}

export function encodeRegistryAuth(credentials: Credentials | undefined, serverAddress: string): string {
  const body: AuthConfig = credentials ? { username: credentials.username, password: credentials.password, serveraddress: serverAddress } : {};
  return Buffer.from(JSON.stringify(body)).toString("base64url");
}

export function encodeRegistryConfig(byRegistry: Record<string, Credentials>): string {
  const body: Record<string, AuthConfig> = {};
  for (const [registry, c] of Object.entries(byRegistry)) body[registry] = { username: c.username, password: c.password, serveraddress: registry };
  return Buffer.from(JSON.stringify(body)).toString("base64url");
}

function decodeJson(header: string, name: string): unknown {
  try {
    // Node's base64 decoder takes both alphabets, padded or not.
    return JSON.parse(Buffer.from(header, "base64").toString("utf8"));
  } catch {
    throw invalidArgument(`${name}: not base64url-encoded JSON`);
  }
}

function credentialsOf(a: AuthConfig | undefined): Credentials | undefined {
  if (!a || typeof a !== "object") return undefined;
  if (a.username) return { username: a.username, password: a.password ?? "" };
  if (a.auth) {
    const text = Buffer.from(a.auth, "base64").toString("utf8");
    const colon = text.indexOf(":");
    if (colon > 0) return { username: text.slice(0, colon), password: text.slice(colon + 1) };
  }
  return undefined;
}

/** The credentials in an X-Registry-Auth header; undefined when it is absent or empty ("{}"). */
export function decodeRegistryAuth(header: string | string[] | undefined): Credentials | undefined {
  if (typeof header !== "string" || header === "") return undefined;
  return credentialsOf(decodeJson(header, "X-Registry-Auth") as AuthConfig);
}

/** The credentials per registry in an X-Registry-Config header. */
export function decodeRegistryConfig(header: string | string[] | undefined): Record<string, Credentials> {
  if (typeof header !== "string" || header === "") return {};
  const map = decodeJson(header, "X-Registry-Config") as Record<string, AuthConfig>;
  const out: Record<string, Credentials> = {};
  for (const [key, a] of Object.entries(map ?? {})) {
    const c = credentialsOf(a);
    // Keys may be URLs ("https://index.docker.io/v1/"): the registry is their host.
    const registry = key.replace(/^https?:\/\//, "").replace(/\/.*$/, "");
    if (c) out[registry === "index.docker.io" ? "docker.io" : registry] = c;
  }
  return out;
}
