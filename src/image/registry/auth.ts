// Registry credentials and challenges. Credentials come from Gantry's own file (written by
// `gantry login`, mode 0600), then from Docker's ~/.docker/config.json (`auths`, then its
// `credHelpers`/`credsStore` helpers). Challenges are parsed from WWW-Authenticate.
import { spawnSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { readJsonIfExists, writeJsonAtomic } from "../../common/atomic-file.ts";

export interface Credentials {
  username: string;
  password: string;
}

interface AuthFile {
  auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string }>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
}

export function gantryAuthFile(): string {
  return process.env.GANTRY_AUTH_FILE || join(process.env.XDG_CONFIG_HOME || join(homedir(), ".config"), "gantry", "auth.json");
}

export function dockerConfigFile(): string {
  return join(process.env.DOCKER_CONFIG || join(homedir(), ".docker"), "config.json");
}

/** Keys a registry may be filed under: Docker Hub's historic URL, the bare host, a URL. */
function keysFor(registry: string): string[] {
  if (registry === "docker.io") return ["https://index.docker.io/v1/", "index.docker.io", "docker.io", "registry-1.docker.io"];
  return [registry, `https://${registry}`, `http://${registry}`, `https://${registry}/v1/`, `https://${registry}/v2/`];
}

function fromFile(path: string, registry: string): Credentials | undefined {
  const file = readJsonIfExists<AuthFile>(path);
  for (const key of keysFor(registry)) {
    const e = file?.auths?.[key];
    if (!e) continue;
    if (e.auth) {
      const text = Buffer.from(e.auth, "base64").toString("utf8");
      const colon = text.indexOf(":");
      if (colon > 0) return { username: text.slice(0, colon), password: text.slice(colon + 1) };
    }
    if (e.username && e.password) return { username: e.username, password: e.password };
  }
  return undefined;
}

/** Docker's credential-helper protocol: `docker-credential-NAME get` reads the server URL
 * on stdin and prints {"ServerURL","Username","Secret"}; a miss exits non-zero. */
function fromHelper(registry: string): Credentials | undefined {
  const file = readJsonIfExists<AuthFile>(dockerConfigFile());
  const keys = keysFor(registry);
  const helper = keys.map((k) => file?.credHelpers?.[k]).find((h) => h) ?? file?.credsStore;
  if (!helper || !/^[\w.-]+$/.test(helper)) return undefined;
  for (const key of keys) {
    const r = spawnSync(`docker-credential-${helper}`, ["get"], { input: key, encoding: "utf8", timeout: 10_000 });
    if (r.error || r.status !== 0) continue;
    try {
      const out = JSON.parse(r.stdout) as { Username?: string; Secret?: string };
      if (out.Username !== undefined && out.Secret !== undefined) return { username: out.Username, password: out.Secret };
    } catch {
      /* not JSON: treat as a miss */
    }
  }
  return undefined;
}

export function lookupCredentials(registry: string): Credentials | undefined {
  return fromFile(gantryAuthFile(), registry) ?? fromFile(dockerConfigFile(), registry) ?? fromHelper(registry);
}

export function saveCredentials(registry: string, creds: Credentials): string {
  const path = gantryAuthFile();
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const file = readJsonIfExists<AuthFile>(path) ?? {};
  file.auths = file.auths ?? {};
  file.auths[registry] = { auth: Buffer.from(`${creds.username}:${creds.password}`).toString("base64") };
  writeJsonAtomic(path, file, 0o600);
  return path;
}

export function removeCredentials(registry: string): boolean {
  const path = gantryAuthFile();
  const file = readJsonIfExists<AuthFile>(path);
  if (!file?.auths?.[registry]) return false;
  delete file.auths[registry];
  writeJsonAtomic(path, file, 0o600);
  return true;
}

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parses `Bearer realm="…",service="…",scope="…"` (quoted or token values). */
export function parseChallenge(header: string | undefined): Challenge | undefined {
  if (!header) return undefined;
  const m = /^\s*(\w+)\s*(.*)$/s.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  const re = /([\w-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))\s*,?/g;
  for (const p of (m[2] ?? "").matchAll(re)) params[(p[1] as string).toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, "$1") : (p[3] ?? "");
  return { scheme: (m[1] as string).toLowerCase(), params };
}

export const basicAuthorization = (c: Credentials) => `Basic ${Buffer.from(`${c.username}:${c.password}`).toString("base64")}`;
