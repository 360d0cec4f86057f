// `gantry server` as users run it: a child process that makes its credentials, writes
// DATA_DIR/admin.kubeconfig, serves kubectl, keeps its state across a restart and stops
// cleanly on SIGTERM.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseListen } from "../../src/cli/gantry/server-command.ts";
import { KUBECTL, kubectlMissing } from "./_server.ts";

test("--listen parses HOST:PORT and [v6]:PORT, and refuses the rest", () => {
  assert.deepEqual(parseListen("127.0.0.1:6443"), { host: "127.0.0.1", port: 6443 });
  assert.deepEqual(parseListen("[::1]:7000"), { host: "::1", port: 7000 });
  assert.throws(() => parseListen("6443"), /HOST:PORT/);
  assert.throws(() => parseListen("host:99999"), /HOST:PORT/);
});

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });

function runServer(dataDir: string, port: number) {
  const child = spawn(process.execPath, ["--import", "tsx", "src/cli/gantry/main.ts", "server", "--data-dir", dataDir, "--listen", `127.0.0.1:${port}`, "--no-agent"], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return {
    async ready() {
      const until = Date.now() + 30_000;
      while (!out.includes("listening on")) {
        if (Date.now() > until) throw new Error(`gantry server did not start:\n${out}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async stop() {
      child.kill("SIGTERM");
      return exited;
    },
  };
}

const kubectl = (kubeconfig: string, cache: string, args: string[]) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(KUBECTL, ["--kubeconfig", kubeconfig, "--cache-dir", cache, ...args], { timeout: 30_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });

test("gantry server writes admin.kubeconfig, serves kubectl and keeps state across restarts", { skip: kubectlMissing }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "gantry-server-cmd-"));
  const dataDir = join(dir, "data");
  try {
    const port = await freePort();
    let server = runServer(dataDir, port);
    await server.ready();
    const kubeconfig = join(dataDir, "admin.kubeconfig");
    assert.ok(existsSync(kubeconfig));
    assert.equal(statSync(kubeconfig).mode & 0o777, 0o600);
    assert.equal(statSync(join(dataDir, "tls", "serving.key")).mode & 0o777, 0o600);
    assert.match(readFileSync(kubeconfig, "utf8"), new RegExp(`server: https://127.0.0.1:${port}`));
    let r = await kubectl(kubeconfig, join(dir, "cache"), ["create", "configmap", "kept", "--from-literal=a=b"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await server.stop(), 0);

    const token = readFileSync(join(dataDir, "token"), "utf8");
    server = runServer(dataDir, port);
    await server.ready();
    assert.equal(readFileSync(join(dataDir, "token"), "utf8"), token, "the admin token survives restarts");
    r = await kubectl(kubeconfig, join(dir, "cache2"), ["get", "configmap", "kept", "-o", "jsonpath={.data.a}"]);
    assert.equal(r.stdout, "b", r.stderr);
    assert.equal(await server.stop(), 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
