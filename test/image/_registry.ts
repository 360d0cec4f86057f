// Test fixtures: Debian's docker-registry on 127.0.0.1 with a random free port and temporary
// storage (never the Debian default config), optionally behind htpasswd basic auth or a
// bearer-token server written here; everything is removed by stop().
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createPrivateKey, randomBytes, sign, X509Certificate } from "node:crypto";
import { createWriteStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import bcrypt from "bcryptjs";

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export interface TokenServer {
  url: string;
  certPath: string;
  issued: number;
  stop(): Promise<void>;
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString("base64url");

/** A minimal Docker token server: checks basic credentials and issues an ES256 JWT with the
 * signing certificate in `x5c`, granting what the scope asks for. */
export async function startTokenServer(dir: string, users: Record<string, string>, service: string, issuer: string): Promise<TokenServer> {
  const key = join(dir, "token.key");
  const cert = join(dir, "token.crt");
  const r = spawnSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=gantry-test-token"], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`openssl: ${r.stderr}`);
  const privateKey = createPrivateKey(readFileSync(key));
  const der = new X509Certificate(readFileSync(cert)).raw;
  const state = { issued: 0 };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    const auth = req.headers.authorization ?? "";
    const [user, pass] = auth.startsWith("Basic ") ? Buffer.from(auth.slice(6), "base64").toString().split(":") : [];
    if (user === undefined || users[user] !== pass) {
      res.writeHead(401, { "Content-Type": "application/json" }).end(JSON.stringify({ details: "bad credentials" }));
      return;
    }
    const access = url.searchParams.getAll("scope").map((s) => {
      const [type, name, actions] = s.split(":");
      return { type, name, actions: (actions ?? "").split(",") };
    });
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: "JWT", alg: "ES256", x5c: [der.toString("base64")] };
    const claims = { iss: issuer, sub: user, aud: url.searchParams.get("service") ?? service, exp: now + 300, nbf: now - 10, iat: now, jti: randomBytes(8).toString("hex"), access };
    const signingInput = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const sig = sign("sha256", Buffer.from(signingInput), { key: privateKey, dsaEncoding: "ieee-p1363" });
    state.issued++;
    res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify({ token: `${signingInput}.${b64url(sig)}`, expires_in: 300 }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/token`,
    certPath: cert,
    get issued() {
      return state.issued;
    },
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export interface TestRegistry {
  /** host:port */
  host: string;
  storage: string;
  dir: string;
  token?: TokenServer;
  caFile?: string;
  stop(): Promise<void>;
}

export interface RegistryAuth {
  basic?: Record<string, string>;
  token?: Record<string, string>;
  /** Serve HTTPS with a certificate from a CA made here (its file: TestRegistry.caFile). */
  tls?: boolean;
}

function makeTlsFiles(dir: string): { ca: string; cert: string; key: string } {
  const f = (n: string) => join(dir, n);
  writeFileSync(f("san.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  const steps = [
    ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", f("ca.key"), "-out", f("ca.crt"), "-days", "1", "-subj", "/CN=gantry-test-ca"],
    ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", f("srv.key"), "-out", f("srv.csr"), "-subj", "/CN=127.0.0.1"],
    ["x509", "-req", "-in", f("srv.csr"), "-CA", f("ca.crt"), "-CAkey", f("ca.key"), "-CAcreateserial", "-out", f("srv.crt"), "-days", "1", "-extfile", f("san.ext")],
  ];
  for (const args of steps) {
    const r = spawnSync("openssl", args, { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`openssl ${args[0]}: ${r.stderr}`);
  }
  return { ca: f("ca.crt"), cert: f("srv.crt"), key: f("srv.key") };
}

export async function startRegistry(auth: RegistryAuth = {}): Promise<TestRegistry> {
  const dir = mkdtempSync(join(tmpdir(), "gantry-registry-"));
  const storage = join(dir, "storage");
  const port = await freePort();
  let authYaml = "";
  let token: TokenServer | undefined;
  if (auth.basic) {
    const lines = Object.entries(auth.basic).map(([u, p]) => `${u}:${bcrypt.hashSync(p, 5)}`);
    writeFileSync(join(dir, "htpasswd"), lines.join("\n") + "\n");
    authYaml = `auth: {htpasswd: {realm: gantry-test, path: ${join(dir, "htpasswd")}}}\n`;
  } else if (auth.token) {
    token = await startTokenServer(dir, auth.token, "gantry-test-registry", "gantry-test-issuer");
    authYaml = `auth: {token: {realm: "${token.url}", service: gantry-test-registry, issuer: gantry-test-issuer, rootcertbundle: ${token.certPath}}}\n`;
  }
  const tls = auth.tls ? makeTlsFiles(dir) : undefined;
  const tlsYaml = tls ? `, tls: {certificate: ${tls.cert}, key: ${tls.key}}` : "";
  const config = join(dir, "registry.yml");
  writeFileSync(
    config,
    `version: 0.1\nlog: {level: warn, accesslog: {disabled: true}}\nstorage: {filesystem: {rootdirectory: ${storage}}, delete: {enabled: true}}\nhttp: {addr: 127.0.0.1:${port}${tlsYaml}}\n${authYaml}`,
  );
  const log = createWriteStream(join(dir, "registry.log"));
  const child: ChildProcess = spawn("/usr/bin/docker-registry", ["serve", config], { stdio: ["ignore", "pipe", "pipe"] });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), 3000);
      await exited;
      clearTimeout(t);
    }
    await token?.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 10_000;
  for (;;) {
    const up = await new Promise<boolean>((resolve) => {
      const req = http.get(`http://127.0.0.1:${port}/v2/`, (res) => {
        res.resume();
        resolve(true);
      });
      req.on("error", () => resolve(false));
    });
    if (up) break;
    if (Date.now() > deadline || child.exitCode !== null) {
      const text = readFileSync(join(dir, "registry.log"), "utf8");
      await stop();
      throw new Error(`docker-registry did not start: ${text}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  return { host: `127.0.0.1:${port}`, storage, dir, token, caFile: tls?.ca, stop };
}

/** Path of a blob's data file in the registry's filesystem storage. */
export function registryBlobPath(reg: TestRegistry, digest: string): string {
  const hex = digest.slice(7);
  return join(reg.storage, "docker/registry/v2/blobs/sha256", hex.slice(0, 2), hex, "data");
}
