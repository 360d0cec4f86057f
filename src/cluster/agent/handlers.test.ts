// Probe and hook handlers against real servers on loopback: httpGet (status codes, path,
// headers, a port by name, a timeout), tcpSocket, grpc's health check, exec's outcomes, and
// the kubelet's messages for each failure.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import { createServer as createH2Server, type Http2Server } from "node:http2";
import { createServer as createTcpServer, type AddressInfo } from "node:net";
import { realClock } from "../../common/clock.ts";
import { HandlerError, runHandler, type ExecRunner, type HandlerTarget } from "./handlers.ts";
import { runHook } from "./lifecycle-hooks.ts";
import type { Container, Pod } from "./pod-types.ts";

const listen = async <S extends Server | Http2Server>(s: S): Promise<number> => {
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  return (s.address() as AddressInfo).port;
};

function target(c: Partial<Container> = {}, exec?: ExecRunner): HandlerTarget {
  return {
    container: { name: "web", image: "busybox", ...c },
    containerId: "cid",
    podIP: "127.0.0.1",
    exec: exec ?? (async () => ({ exitCode: 0, output: "", timedOut: false })),
    clock: realClock,
  };
}

test("httpGet: 2xx/3xx pass, others fail with the status code; same-host redirects are followed; path, headers and a named port are used", async () => {
  let seen: { url?: string; headers?: IncomingHttpHeaders } = {};
  const server = createServer((req, res) => {
    seen = { url: req.url, headers: req.headers };
    const redirects: Record<string, string> = { "/moved": "/healthz", "/moved-bad": "/bad", "/away": "http://example.invalid/", "/loop": "/loop" };
    const to = redirects[req.url ?? ""];
    if (to) res.setHeader("Location", to);
    res.statusCode = req.url === "/bad" ? 500 : to ? 302 : 200;
    res.end("body");
  });
  const port = await listen(server);
  try {
    const t = target({ ports: [{ name: "http", containerPort: port }] });
    const ok = await runHandler({ httpGet: { path: "/healthz", port: "http", httpHeaders: [{ name: "X-Probe", value: "yes" }, { name: "user-agent", value: "mine" }] } }, t, 1000);
    assert.deepEqual(ok, { ok: true, output: "body" });
    assert.equal(seen.url, "/healthz");
    assert.equal(seen.headers?.["x-probe"], "yes");
    assert.equal(seen.headers?.["user-agent"], "mine", "a probe's header replaces the kubelet's");
    assert.equal(seen.headers?.accept, "*/*");
    await runHandler({ httpGet: { port } }, t, 1000);
    assert.equal(seen.url, "/");
    assert.equal(seen.headers?.["user-agent"], "kube-probe/1.32");
    assert.equal((await runHandler({ httpGet: { path: "/moved", port } }, t, 1000)).ok, true);
    assert.equal(seen.url, "/healthz", "a redirect to the same host is followed");
    assert.deepEqual(await runHandler({ httpGet: { path: "/moved-bad", port } }, t, 1000), { ok: false, output: "HTTP probe failed with statuscode: 500" });
    assert.equal((await runHandler({ httpGet: { path: "/away", port } }, t, 1000)).ok, true, "one to another host is not followed, and passes");
    assert.match((await runHandler({ httpGet: { path: "/loop", port } }, t, 1000)).output, /stopped after 10 redirects$/);
    assert.deepEqual(await runHandler({ httpGet: { path: "/bad", port } }, t, 1000), { ok: false, output: "HTTP probe failed with statuscode: 500" });
    await assert.rejects(runHandler({ httpGet: { port: "nope" } }, t, 1000), (e: Error) => e instanceof HandlerError && /couldn't find port: nope/.test(e.message));
  } finally {
    server.close();
  }
});

test("httpGet: a refused connection and a server that does not answer in time fail with Go's messages", async () => {
  const closed = createTcpServer();
  const port = await listen(closed as unknown as Server);
  closed.close();
  const refused = await runHandler({ httpGet: { path: "/x", port } }, target(), 1000);
  assert.deepEqual(refused, { ok: false, output: `Get "http://127.0.0.1:${port}/x": dial tcp 127.0.0.1:${port}: connect: connection refused` });
  const silent = createServer(() => {});
  const p2 = await listen(silent);
  try {
    const slow = await runHandler({ httpGet: { port: p2 } }, target(), 200);
    assert.equal(slow.ok, false);
    assert.match(slow.output, /context deadline exceeded \(Client\.Timeout exceeded while awaiting headers\)/);
  } finally {
    silent.closeAllConnections();
    silent.close();
  }
});

test("tcpSocket: an open port passes, a closed one fails; no pod IP yet is an error, not a failure", async () => {
  const server = createTcpServer((s) => s.destroy());
  const port = await listen(server as unknown as Server);
  try {
    assert.deepEqual(await runHandler({ tcpSocket: { port } }, target(), 1000), { ok: true, output: "" });
  } finally {
    server.close();
  }
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(await runHandler({ tcpSocket: { port } }, target(), 1000), { ok: false, output: `dial tcp 127.0.0.1:${port}: connect: connection refused` });
  await assert.rejects(runHandler({ tcpSocket: { port } }, { ...target(), podIP: undefined }, 1000), HandlerError);
});

test("grpc: the health service's SERVING passes, NOT_SERVING fails", async () => {
  let status = 1;
  let service = "";
  const server = createH2Server();
  server.on("stream", (stream, headers) => {
    assert.equal(headers[":path"], "/grpc.health.v1.Health/Check");
    const chunks: Buffer[] = [];
    stream.on("data", (b: Buffer) => chunks.push(b));
    stream.on("end", () => {
      const req = Buffer.concat(chunks);
      service = req.length > 7 ? req.subarray(7).toString() : "";
      stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
      stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
      stream.end(Buffer.from([0, 0, 0, 0, 2, 0x08, status]));
    });
  });
  const port = await listen(server);
  try {
    assert.deepEqual(await runHandler({ grpc: { port, service: "db" } }, target(), 2000), { ok: true, output: "" });
    assert.equal(service, "db");
    status = 2;
    assert.deepEqual(await runHandler({ grpc: { port } }, target(), 2000), { ok: false, output: 'service unhealthy (responded with "NOT_SERVING")' });
  } finally {
    server.close();
  }
});

test("exec: the exit code decides; a timeout says so; hooks fail with the kubelet's message", async () => {
  const exec: ExecRunner = async (_id, cmd) => (cmd[0] === "slow" ? { exitCode: 137, output: "", timedOut: true } : { exitCode: cmd[0] === "true" ? 0 : 1, output: "no file\n", timedOut: false });
  const t = target({}, exec);
  assert.equal((await runHandler({ exec: { command: ["true"] } }, t, 1000)).ok, true);
  assert.deepEqual(await runHandler({ exec: { command: ["cat", "/x"] } }, t, 1000), { ok: false, output: "no file\n", exitCode: 1 });
  assert.deepEqual(await runHandler({ exec: { command: ["slow", "arg"] } }, t, 1000), { ok: false, output: 'command "slow arg" timed out' });
  const pod: Pod = { metadata: { name: "p", namespace: "ns", uid: "u" }, spec: { containers: [] } };
  assert.equal(await runHook({ exec: { command: ["true"] } }, pod, t, 1000), undefined);
  assert.equal(await runHook({ exec: { command: ["cat", "/x"] } }, pod, t, 1000), `Exec lifecycle hook ([cat /x]) for Container "web" in Pod "p_ns(u)" failed - error: command 'cat /x' exited with 1: no file\n, message: "no file\\n"`);
  assert.match((await runHook({ httpGet: { port: "none" } }, pod, t, 1000))!, /^Lifecycle hook for Container "web" in Pod "p_ns\(u\)" failed - error: couldn't find port: none/);
  assert.equal(await runHook({ sleep: { seconds: 0 } }, pod, t, 1000), undefined);
});
