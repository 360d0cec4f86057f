// Test harness: a Gantry API server on 127.0.0.1 with a random free port, a temp data dir
// and the real SQLite store, plus helpers to run the real kubectl against it.
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { request } from "node:https";
import { tokenKubeconfig } from "../../src/cluster/api/credentials.ts";
import { startApiServer, type ApiServerOptions, type RunningApiServer } from "../../src/cluster/api/server.ts";
import type { StoreSpec } from "../../src/cluster/store/types.ts";
import { startControllerManager } from "../../src/cluster/controllers/index.ts";

export const KUBECTL = "/usr/bin/kubectl";
export const kubectlMissing = existsSync(KUBECTL) ? false : "kubectl is not installed at /usr/bin/kubectl";

export interface TestCluster {
  server: RunningApiServer;
  dir: string;
  env: NodeJS.ProcessEnv;
  kubectl(args: string[], opts?: { input?: string; env?: NodeJS.ProcessEnv }): Promise<{ code: number; stdout: string; stderr: string }>;
  /** kubectl that must succeed: its stdout (a failure fails the test with kubectl's stderr). */
  ok(...args: string[]): Promise<string>;
  raw(method: string, path: string, opts?: { body?: string | Buffer; headers?: Record<string, string>; token?: string | null }): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }>;
  stop(): Promise<void>;
}

export async function startTestCluster(opts: { bookmarkIntervalMs?: number; storeSpec?: StoreSpec; startControllers?: ApiServerOptions["startControllers"]; tokenAuthFile?: (dir: string) => string; minTokenExpirationSeconds?: number; aggregatorIntervalMs?: number } = {}): Promise<TestCluster> {
  const dir = mkdtempSync(join(tmpdir(), "gantry-api-"));
  const tokenAuthFile = opts.tokenAuthFile?.(dir);
  const server = await startApiServer({ dataDir: join(dir, "server"), host: "127.0.0.1", port: 0, bookmarkIntervalMs: opts.bookmarkIntervalMs ?? 1000, historyMs: 0, storeSpec: opts.storeSpec, tokenAuthFile, aggregatorIntervalMs: opts.aggregatorIntervalMs, startControllers: opts.startControllers ?? ((transport) => startControllerManager(transport)), minTokenExpirationSeconds: opts.minTokenExpirationSeconds });
  const env = { ...process.env, KUBECONFIG: server.kubeconfigPath, HOME: dir, KUBECACHEDIR: join(dir, "cache") };
  return {
    server,
    dir,
    env,
    kubectl(args, o = {}) {
      return new Promise((resolve) => {
        const child = execFile(KUBECTL, ["--cache-dir", join(dir, "cache"), ...args], { env: { ...env, ...(o.env ?? {}) }, timeout: 60_000 }, (err, stdout, stderr) => {
          resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
        });
        if (o.input !== undefined) child.stdin!.end(o.input);
        else child.stdin!.end();
      });
    },
    async ok(this: TestCluster, ...args: string[]) {
      const r = await this.kubectl(args);
      assert.equal(r.code, 0, `kubectl ${args.join(" ")}: ${r.stderr}`);
      return r.stdout;
    },
    raw(method, path, o = {}) {
      return new Promise((resolve, reject) => {
        const headers: Record<string, string> = { ...(o.headers ?? {}) };
        if (o.token !== null) headers.Authorization = `Bearer ${o.token ?? server.adminToken}`;
        const req = request(`${server.url}${path}`, { method, headers, ca: server.caCert }, (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
        });
        req.on("error", reject);
        if (o.body !== undefined) req.end(o.body);
        else req.end();
      });
    },
    async stop() {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Runs kubectl in the background (for -w), collecting stdout until stopped. */
export function kubectlBackground(c: TestCluster, args: string[], env: NodeJS.ProcessEnv = {}) {
  const child = spawn(KUBECTL, ["--cache-dir", join(c.dir, "cache"), ...args], { env: { ...c.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return {
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
    async waitFor(pred: (out: string) => boolean, ms = 15_000): Promise<void> {
      const until = Date.now() + ms;
      while (!pred(stdout)) {
        if (Date.now() > until) throw new Error(`timed out waiting for kubectl output; got:\n${stdout}\n${stderr}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async stop(): Promise<void> {
      child.kill("SIGTERM");
      await exited;
    },
    exited,
  };
}

/** Writes a kubeconfig for this cluster that presents TOKEN (a node's, say) and returns its path. */
export function writeTokenKubeconfig(c: TestCluster, name: string, token: string): string {
  const path = join(c.dir, `${name}.kubeconfig`);
  writeFileSync(path, tokenKubeconfig({ server: c.server.url, caCert: c.server.caCert, user: name, token }), { mode: 0o600 });
  return path;
}

/** Runs the gantry CLI from source (as users would run bin/gantry) and collects its output. */
export function gantryCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ["--import", "tsx", "src/cli/gantry/main.ts", ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}
