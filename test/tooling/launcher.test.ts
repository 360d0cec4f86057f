// bin/gantry, the launcher npm links as `gantry`: it finds dist/ through a symlink, says how to
// build when dist/ is missing, and execs node (no wrapper process) — for `gantry agent` with
// the agent's own lean entry and its memory-saving V8 flags (no optimizing JIT, except for
// kubemark's hollow nodes), so the pid a user or a
// supervisor signals is the agent itself.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer as createHttpsServer } from "node:https";
import { createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureCa, ensureServingCertificate } from "../../src/common/certificates.ts";

const repo = join(import.meta.dirname, "..", "..");
const bin = join(repo, "bin", "gantry");
const built = existsSync(join(repo, "dist", "gantry.mjs")) && existsSync(join(repo, "dist", "gantry-agent.mjs"));
const skip = built ? false : "dist/ is not built (npm run build)";

test("through a symlink elsewhere (as npm links it), gantry runs", { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), "gantry-launcher-"));
  try {
    symlinkSync(bin, join(dir, "gantry"));
    const r = spawnSync(join(dir, "gantry"), ["--version"], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), "0.1.0");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("without dist/, the launcher says how to build and exits 127", () => {
  const dir = mkdtempSync(join(tmpdir(), "gantry-launcher-"));
  try {
    mkdirSync(join(dir, "bin"));
    copyFileSync(bin, join(dir, "bin", "gantry"));
    const r = spawnSync("sh", [join(dir, "bin", "gantry"), "--version"], { encoding: "utf8" });
    assert.equal(r.status, 127);
    assert.match(r.stderr, /not built yet; run scripts\/install-deps\.sh/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Runs `gantry agent ARGS` against an "API server" that accepts and never answers (the agent
 * waits on it, so it can be looked at), hands its pid to look, then SIGTERMs it. */
async function withWaitingAgent(args: (url: string, token: string) => string[], look: (pid: number, argv: string[]) => void): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "gantry-launcher-"));
  const sockets: Socket[] = [];
  const server = createServer();
  const connected = new Promise<void>((resolve) => {
    server.on("connection", (s) => {
      sockets.push(s);
      resolve();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  writeFileSync(join(dir, "token"), "abcdef.0123456789abcdef\n");
  const agent = spawn(bin, ["agent", ...args(`https://127.0.0.1:${port}`, join(dir, "token"))], { stdio: "ignore" });
  try {
    await connected;
    look(agent.pid!, readFileSync(`/proc/${agent.pid}/cmdline`, "utf8").split("\0").filter(Boolean));
    const exited = new Promise((r) => agent.once("exit", (code, signal) => r(signal ?? code)));
    agent.kill("SIGTERM");
    assert.equal(await exited, "SIGTERM");
  } finally {
    agent.kill("SIGKILL");
    for (const s of sockets) s.destroy();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

test("gantry agent is node itself on the agent's entry with its memory flags, and a SIGTERM reaches it", { skip }, async () => {
  await withWaitingAgent(
    (url, token) => ["--server", url, "--token-file", token],
    (pid, argv) => {
      assert.match(argv[0]!, /node$/, argv.join(" "));
      for (const flag of ["--max-semi-space-size=1", "--no-opt", "--no-maglev", "--optimize-for-size", "--expose-gc"]) assert.ok(argv.includes(flag), argv.join(" "));
      assert.ok(argv.some((a) => a.endsWith("/dist/gantry-agent.mjs")), argv.join(" "));
      const env = readFileSync(`/proc/${pid}/environ`, "utf8").split("\0");
      for (const v of ["MALLOC_ARENA_MAX=2", "MALLOC_TRIM_THRESHOLD_=32768", "MALLOC_MMAP_THRESHOLD_=32768"]) assert.ok(env.includes(v), v);
      assert.deepEqual(argv.slice(-5, -3), ["agent", "--server"], argv.join(" "));
      assert.equal(argv[argv.length - 2], "--token-file", argv.join(" "));
    },
  );
});

test("gantry agent --hollow (kubemark's nodes, all JavaScript) keeps V8's optimizing JIT", { skip }, async () => {
  await withWaitingAgent(
    (url, token) => ["--hollow", "--server", url, "--token-file", token],
    (_pid, argv) => {
      assert.ok(argv.some((a) => a.endsWith("/dist/gantry-agent.mjs")), argv.join(" "));
      assert.ok(argv.includes("--max-semi-space-size=1"), argv.join(" "));
      assert.ok(!argv.includes("--no-opt"), argv.join(" "));
      assert.ok(argv.includes("--hollow"), argv.join(" "));
    },
  );
});

/**
 * Runs `gantry agent` without --ca-file and with NODE_EXTRA_CA_CERTS=CA_FILE against an HTTPS
 * "API server" whose certificate the CA in SERVER_DIR signed. It answers the agent's first
 * request (which token is this?) with a user that is not a node, so the agent exits.
 */
async function agentWithExtraCa(serverDir: string, caFile: string): Promise<{ requests: number; environ: string[]; stderr: string; code: number | null }> {
  const serving = ensureServingCertificate(serverDir, "api", "127.0.0.1", []);
  let requests = 0;
  let environ: string[] = [];
  let pid = 0;
  const server = createHttpsServer({ cert: serving.cert, key: serving.key }, (req, res) => {
    requests++;
    environ = readFileSync(`/proc/${pid}/environ`, "utf8").split("\0");
    req.resume();
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify({ kind: "SelfSubjectReview", status: { userInfo: { username: "not-a-node" } } }));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const dir = mkdtempSync(join(tmpdir(), "gantry-launcher-"));
  writeFileSync(join(dir, "token"), "abcdef.0123456789abcdef\n");
  const url = `https://127.0.0.1:${(server.address() as { port: number }).port}`;
  const agent = spawn(bin, ["agent", "--server", url, "--token-file", join(dir, "token"), "--data-root", join(dir, "root")], { env: { ...process.env, NODE_EXTRA_CA_CERTS: caFile }, stdio: ["ignore", "ignore", "pipe"] });
  pid = agent.pid!;
  let stderr = "";
  agent.stderr!.on("data", (b: Buffer) => (stderr += b.toString()));
  try {
    const code = await new Promise<number | null>((r) => agent.once("exit", (c) => r(c)));
    return { requests, environ, stderr, code };
  } finally {
    agent.kill("SIGKILL");
    server.closeAllConnections();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

test("gantry agent starts without NODE_EXTRA_CA_CERTS (node parses it at start) and its API client still trusts that file's CAs, and only those", { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "gantry-launcher-ca-"));
  try {
    ensureCa(join(dir, "cluster"), "gantry-test-extra-ca");
    ensureCa(join(dir, "other"), "gantry-test-other-ca");
    // The CA only in the extra file: the TLS handshake passes and the request arrives.
    const trusted = await agentWithExtraCa(join(dir, "cluster"), join(dir, "cluster", "ca.crt"));
    assert.equal(trusted.requests, 1, trusted.stderr);
    assert.match(trusted.stderr, /not a node token/);
    assert.ok(!trusted.environ.some((v) => v.startsWith("NODE_EXTRA_CA_CERTS=")), "node was not started with it");
    assert.ok(trusted.environ.includes(`GANTRY_EXTRA_CA_CERTS=${join(dir, "cluster", "ca.crt")}`), "the path is handed on");
    assert.doesNotMatch(trusted.stderr, /extra certs/i);
    // A CA that did not sign the server's certificate: no request gets through.
    const other = await agentWithExtraCa(join(dir, "cluster"), join(dir, "other", "ca.crt"));
    assert.equal(other.requests, 0);
    assert.notEqual(other.code, 0);
    assert.match(other.stderr, /certificate/i);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("gantry server is node itself with the server's memory flags (issue 13's RSS target), and a SIGTERM stops it", { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "gantry-launcher-"));
  const server = spawn(bin, ["server", "--data-dir", dir, "--listen", "127.0.0.1:0", "--no-agent"], { stdio: "ignore" });
  try {
    let argv: string[] = [];
    // sh execs node: the same pid, once it has, shows node's command line.
    for (let i = 0; i < 200 && !argv[0]?.endsWith("node"); i++) {
      await new Promise((r) => setTimeout(r, 25));
      argv = readFileSync(`/proc/${server.pid}/cmdline`, "utf8").split("\0").filter(Boolean);
    }
    assert.match(argv[0]!, /node$/, argv.join(" "));
    for (const flag of ["--max-semi-space-size=4", "--heap-growing-percent=20"]) assert.ok(argv.includes(flag), argv.join(" "));
    assert.ok(argv.some((a) => a.endsWith("/dist/gantry.mjs")), argv.join(" "));
    assert.equal(argv[argv.indexOf("server") + 1], "--data-dir", argv.join(" "));
    const env = readFileSync(`/proc/${server.pid}/environ`, "utf8").split("\0");
    for (const v of ["MALLOC_ARENA_MAX=2", "MALLOC_TRIM_THRESHOLD_=32768", "MALLOC_MMAP_THRESHOLD_=32768"]) assert.ok(env.includes(v), v);
    const exited = new Promise((r) => server.once("exit", (code, signal) => r(signal ?? code)));
    server.kill("SIGTERM");
    assert.ok(["SIGTERM", 0, 143].includes((await exited) as string | number));
  } finally {
    server.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  }
});
