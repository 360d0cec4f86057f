// Test harness: `gantry server --no-agent` as its own process (what users run), over a data
// dir the test chooses, so a test can kill it (SIGKILL included), start it again on the same
// store, or run two servers on one store; kubectl runs with the server's admin kubeconfig.
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { createServer } from "node:net";
import { join } from "node:path";
import { KUBECTL } from "../cluster-api/_server.ts";

export const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });

/** Polls probe every 500 ms until it returns a value; fails after ms naming what it waited for. */
export async function until<T>(what: string, ms: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

export interface GantryServer {
  kubectl(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  /** kubectl that must succeed; its stdout. */
  ok(...args: string[]): Promise<string>;
  /** kubectl with stdin. */
  apply(input: object): Promise<{ code: number; stdout: string; stderr: string }>;
  /** What the server printed so far. */
  readonly output: string;
  readonly pid: number;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** A `gantry server --no-agent` over dataDir (extra flags after), and kubectl with its admin kubeconfig; dir holds kubectl's cache. */
export async function startGantry(dir: string, dataDir: string, port: number, extra: string[] = [], kubeconfigFrom = dataDir): Promise<GantryServer> {
  const child = spawn(process.execPath, ["--import", "tsx", "src/cli/gantry/main.ts", "server", "--data-dir", dataDir, "--listen", `127.0.0.1:${port}`, "--no-agent", ...extra], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise((resolve) => child.on("exit", resolve));
  const run = (args: string[], input?: string) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      const c = execFile(KUBECTL, ["--kubeconfig", join(kubeconfigFrom, "admin.kubeconfig"), "--server", `https://127.0.0.1:${port}`, "--cache-dir", join(dir, "cache"), ...args], { timeout: 30_000 }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
      c.stdin!.end(input ?? "");
    });
  const server: GantryServer = {
    kubectl: (...args) => run(args),
    async ok(...args) {
      const r = await run(args);
      assert.equal(r.code, 0, `kubectl ${args.join(" ")}: ${r.stderr}`);
      return r.stdout;
    },
    apply: (input) => run(["apply", "-f", "-"], JSON.stringify(input)),
    get output() {
      return out;
    },
    pid: child.pid!,
    async stop(signal: NodeJS.Signals = "SIGTERM") {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
  try {
    await until("gantry server to listen", 30_000, async () => {
      if (child.exitCode !== null) throw new Error(`gantry server exited with ${child.exitCode}`);
      return out.includes("listening on") ? true : undefined;
    });
  } catch (err) {
    await server.stop();
    throw new Error(`${(err as Error).message}\n${out}`);
  }
  return server;
}
