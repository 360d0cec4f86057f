// kubectl's streaming verbs against a real node: the API server checks the pod and container
// and proxies to the agent's kubelet server over TLS (client certificates both ways), which
// serves logs from the engine's log files and exec/attach over WebSocket v5.channel.k8s.io
// through the engine's exec and attach streams, and port-forward over SPDY/3.1 (plain, and
// inside WebSocket) to the pod's IP. Everything runs the real kubectl 1.32.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { request } from "node:https";
import { createNodeToken } from "../../src/cluster/api/index.ts";
import { KUBECTL, writeTokenKubeconfig } from "../cluster-api/_server.ts";
import { skipReason, startTestNode, until, type TestNode } from "./_node.ts";

const skip = skipReason() || (spawnSync("script", ["--version"]).status !== 0 ? "script(1) is not installed" : false);

/** Runs a shell command line in a pseudo-terminal (script(1)), asynchronously: the API server runs in this process. */
function inTerminal(line: string, env: NodeJS.ProcessEnv = process.env): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn("script", ["-qec", line, "/dev/null"], { env });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (b: Buffer) => (stdout += b.toString()));
    child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("exit", (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

describe("kubectl logs, exec, attach, port-forward and cp through the kubelet server", { skip }, () => {
  let node: TestNode;
  const pod = (name: string, spec: Record<string, unknown>) => JSON.stringify({ apiVersion: "v1", kind: "Pod", metadata: { name }, spec: { nodeName: node.name, terminationGracePeriodSeconds: 1, ...spec } });
  const kubectl = (args: string[], input?: string) => node.cluster.kubectl(args, { input });
  const running = (name: string) =>
    until(`${name} Running`, async () => {
      const r = await kubectl(["get", "pod", name, "-o", "jsonpath={.status.phase}"]);
      return r.stdout === "Running" || undefined;
    });

  before(async () => {
    node = await startTestNode();
    await node.start();
    await node.kubectl(["apply", "-f", "-"], pod("web", {
      containers: [
        { name: "main", image: "busybox", imagePullPolicy: "Never", command: ["sh", "-c", "i=0; while true; do i=$((i+1)); echo line-$i; echo err-$i >&2; sleep 0.3; done"] },
        { name: "side", image: "busybox", imagePullPolicy: "Never", command: ["sh", "-c", "echo side-ready; exec sleep 1000"] },
      ],
    }));
    await running("web");
  });
  after(async () => {
    await node?.cleanup();
  });

  test("the Node reports its kubelet port, and the kubelet server refuses callers without the API server's certificate", async () => {
    const n = JSON.parse(await node.kubectl(["get", "node", node.name, "-o", "json"])) as { status: { daemonEndpoints: { kubeletEndpoint: { Port: number } }; addresses: { type: string; address: string }[] } };
    const port = n.status.daemonEndpoints.kubeletEndpoint.Port;
    assert.ok(port > 0, "a real port is reported");
    const ip = n.status.addresses.find((a) => a.type === "InternalIP")!.address;
    // The admin's bearer token is no way in: the kubelet wants a client certificate.
    const outcome = await new Promise<string>((resolve) => {
      const req = request({ host: ip, port, path: `/containerLogs/default/web/main`, ca: node.cluster.server.caCert, headers: { Authorization: `Bearer ${node.cluster.server.adminToken}` } }, (res) => resolve(`status ${res.statusCode}`));
      req.on("error", (err) => resolve(`refused: ${err.message}`));
      req.end();
    });
    assert.match(outcome, /refused|status 403/);
    assert.doesNotMatch(outcome, /status 200/);

    // A Node that points at another node's kubelet: the API server sees that the certificate
    // names someone else and does not stream.
    await node.kubectl(["apply", "-f", "-"], JSON.stringify({ apiVersion: "v1", kind: "Node", metadata: { name: "impostor" }, status: { addresses: [{ type: "InternalIP", address: ip }], daemonEndpoints: { kubeletEndpoint: { Port: port } } } }));
    await node.kubectl(["apply", "-f", "-"], pod("elsewhere", { nodeName: "impostor", containers: [{ name: "c", image: "busybox" }] }));
    const fooled = await kubectl(["logs", "elsewhere"]);
    assert.notEqual(fooled.code, 0);
    assert.match(fooled.stderr, new RegExp(`error dialing backend: the kubelet at ${ip.replace(/\./g, "\\.")} presented a certificate for system:node:${node.name}, not system:node:impostor`));
    await kubectl(["delete", "pod", "elsewhere", "--grace-period=0", "--force"]);
    await kubectl(["delete", "node", "impostor"]);
  });

  test("kubectl logs: -c, --tail, --timestamps, --since-time, --limit-bytes, and -f follows new lines", async () => {
    // 30 lines take 4.5 s: enough that --since=2s leaves the first ones out.
    await until("a few lines", async () => ((await kubectl(["logs", "web", "-c", "main"])).stdout.split("\n").length > 30 ? true : undefined));
    const all = await kubectl(["logs", "web", "-c", "main"]);
    assert.equal(all.code, 0, all.stderr);
    assert.match(all.stdout, /^line-1\nerr-1\nline-2\n/);
    const tail = await kubectl(["logs", "web", "-c", "main", "--tail=2"]);
    assert.equal(tail.stdout.trimEnd().split("\n").length, 2, tail.stdout);
    assert.match(tail.stdout, /^(line|err)-\d+\n(line|err)-\d+\n$/);
    const stamped = await kubectl(["logs", "web", "-c", "main", "--timestamps", "--tail=1"]);
    assert.match(stamped.stdout, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z (line|err)-\d+\n$/);
    const future = await kubectl(["logs", "web", "-c", "main", `--since-time=${new Date(Date.now() + 3_600_000).toISOString()}`]);
    assert.equal(future.code, 0, future.stderr);
    assert.equal(future.stdout, "");
    const recent = await kubectl(["logs", "web", "-c", "main", "--since=2s"]);
    assert.doesNotMatch(recent.stdout, /^line-1$/m, "lines older than 2 s are left out");
    const limited = await kubectl(["logs", "web", "-c", "main", "--limit-bytes=5"]);
    assert.equal(limited.stdout, "line-");
    const side = await kubectl(["logs", "web", "-c", "side"]);
    assert.equal(side.stdout, "side-ready\n");

    const follow = spawn(KUBECTL, ["--cache-dir", join(node.cluster.dir, "cache"), "logs", "-f", "web", "-c", "main", "--tail=1"], { env: node.cluster.env });
    let out = "";
    follow.stdout.on("data", (b: Buffer) => (out += b.toString()));
    try {
      const first = Number(/-(\d+)/.exec(await until("the first followed line", () => out || undefined))![1]);
      await until("lines written after kubectl started", () => [...out.matchAll(/line-(\d+)/g)].some((m) => Number(m[1]) > first + 2) || undefined, 20_000);
    } finally {
      follow.kill("SIGTERM");
    }
  });

  test("kubectl logs --previous shows the attempt before a restart; errors read as the kubelet's", async () => {
    await node.kubectl(["apply", "-f", "-"], pod("crash", { containers: [{ name: "c", image: "busybox", imagePullPolicy: "Never", command: ["sh", "-c", "cat /proc/sys/kernel/random/uuid; sleep 1; exit 1"] }] }));
    const noPrevious = await until("the first attempt's log", async () => {
      const r = await kubectl(["logs", "crash", "--previous"]);
      return r.code !== 0 && /previous terminated container/.test(r.stderr) ? r.stderr : undefined;
    });
    assert.match(noPrevious, /Error from server \(BadRequest\): previous terminated container "c" in pod "crash" not found/);
    await until("a restart", async () => Number((await kubectl(["get", "pod", "crash", "-o", "jsonpath={.status.containerStatuses[0].restartCount}"])).stdout) >= 1 || undefined);
    const prev = await until("the previous log", async () => {
      const r = await kubectl(["logs", "crash", "--previous"]);
      return r.code === 0 && r.stdout ? r.stdout : undefined;
    });
    assert.match(prev, /^[0-9a-f-]{36}\n$/);
    const cur = await until("the current attempt's log", async () => {
      const r = await kubectl(["logs", "crash"]);
      return r.code === 0 && r.stdout ? r.stdout : undefined;
    });
    assert.match(cur, /^[0-9a-f-]{36}\n$/);
    assert.notEqual(cur, prev, "each attempt has its own log");

    const unknown = await kubectl(["logs", "web", "-c", "nope"]);
    assert.notEqual(unknown.code, 0);
    assert.match(unknown.stderr, /container nope is not valid for pod web/);
    const missing = await kubectl(["logs", "ghost"]);
    assert.match(missing.stderr, /pods "ghost" not found/);
    await node.kubectl(["apply", "-f", "-"], pod("noimage", { containers: [{ name: "c", image: "no-such-image:1", imagePullPolicy: "Never" }] }));
    // The kubelet's words for the waiting reason: ErrImageNeverPull as it is, ImagePullBackOff explained.
    const waiting = await until("the waiting message", async () => {
      const r = await kubectl(["logs", "noimage"]);
      return /waiting to start: /.test(r.stderr) ? r.stderr : undefined;
    });
    assert.match(waiting, /Error from server \(BadRequest\): container "c" in pod "noimage" is waiting to start: (ErrImageNeverPull|trying and failing to pull image)\n/);
    await kubectl(["delete", "pod", "crash", "noimage", "--grace-period=1"]);
  });

  test("kubectl exec over WebSocket and over SPDY: output, stderr, stdin and the exit code come through", async () => {
    // KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false makes kubectl 1.32 speak SPDY, as kubectl before 1.30 does.
    for (const websockets of ["true", "false"]) {
      const env = { ...node.cluster.env, KUBECTL_REMOTE_COMMAND_WEBSOCKETS: websockets };
      const run = (args: string[], input?: string) => node.cluster.kubectl(args, { input, env });
      const r = await run(["exec", "web", "-c", "side", "--", "sh", "-c", "echo out; echo err >&2; exit 3"]);
      assert.equal(r.code, 3, r.stderr);
      assert.equal(r.stdout, "out\n");
      assert.match(r.stderr, /^err\n/);
      assert.match(r.stderr, /command terminated with exit code 3/);
      const ok = await run(["exec", "web", "-c", "side", "--", "hostname"]);
      assert.equal(ok.code, 0, ok.stderr);
      assert.equal(ok.stdout, "web\n");
      const cat = await run(["exec", "-i", "web", "-c", "side", "--", "sh", "-c", "wc -c; echo done"], "x".repeat(100_000));
      assert.equal(cat.code, 0, cat.stderr);
      assert.equal(cat.stdout.replace(/\s+/g, " ").trim(), "100000 done", `websockets=${websockets}`);
    }
    const spdyTty = await inTerminal(`stty rows 33 cols 77; ${KUBECTL} --cache-dir ${join(node.cluster.dir, "cache")} exec -it web -c side -- stty size`, { ...node.cluster.env, KUBECTL_REMOTE_COMMAND_WEBSOCKETS: "false" });
    assert.equal(spdyTty.status, 0, spdyTty.stdout);
    assert.match(spdyTty.stdout, /^33 77\r?\n/);
    const unknown = await kubectl(["exec", "web", "-c", "nope", "--", "true"]);
    assert.notEqual(unknown.code, 0);
    assert.match(unknown.stderr, /container nope is not valid for pod web/);
    // A container that does not run: the kubelet's answer, after kubectl's WebSocket try and its SPDY retry.
    await node.kubectl(["apply", "-f", "-"], pod("stuck", { containers: [{ name: "c", image: "no-such-image:2", imagePullPolicy: "Never" }] }));
    const stuck = await kubectl(["exec", "stuck", "--", "true"]);
    assert.equal(stuck.code, 1);
    assert.match(stuck.stderr, /error: unable to upgrade connection: container not found \("c"\)/);
    await kubectl(["delete", "pod", "stuck", "--grace-period=1"]);
  });

  test("only users allowed pods/log and pods/exec get through: a node's own token is refused", async () => {
    const token = (await createNodeToken(node.admin, node.name, undefined)).token;
    const kubeconfig = writeTokenKubeconfig(node.cluster, "node-user", token);
    const logs = await kubectl(["--kubeconfig", kubeconfig, "logs", "web", "-c", "main"]);
    assert.notEqual(logs.code, 0);
    assert.match(logs.stderr, new RegExp(`pods "web" is forbidden: User "system:node:${node.name}" cannot get resource "pods/log"`));
    const exec = await kubectl(["--kubeconfig", kubeconfig, "exec", "web", "-c", "side", "--", "true"]);
    assert.notEqual(exec.code, 0);
    assert.match(exec.stderr, /cannot (get|create) resource "pods\/exec"/);
  });

  test("kubectl exec -it in a terminal: the TTY has kubectl's size and follows a resize", async () => {
    // script(1) gives kubectl a pseudo-terminal of 40x100; 1.5 s in, the terminal becomes 50x120.
    // (A background job's stdin is /dev/null, so its stty names the terminal.)
    const inner = `stty rows 40 cols 100; (sleep 1.5; stty rows 50 cols 120 </dev/tty) & ${KUBECTL} --cache-dir ${join(node.cluster.dir, "cache")} exec -it web -c side -- sh -c 'stty size; tty; sleep 3; stty size'`;
    const r = await inTerminal(inner, node.cluster.env);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const lines = r.stdout.replace(/\r/g, "").split("\n").filter(Boolean);
    assert.deepEqual([lines[0], lines[2]], ["40 100", "50 120"], r.stdout);
    assert.match(lines[1] ?? "", /^\/dev\/pts\/\d+$/);
  });

  test("kubectl run -it --rm: attach with a TTY of the terminal's size, then the pod is deleted", async () => {
    const overrides = JSON.stringify({ spec: { nodeName: node.name } });
    const r = await inTerminal(`stty rows 30 cols 90; ${KUBECTL} --cache-dir ${join(node.cluster.dir, "cache")} run -it --rm once --image busybox --image-pull-policy Never --restart Never --overrides '${overrides}' -- sh -c 'sleep 3; stty size; echo bye'`, node.cluster.env);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout.replace(/\r/g, ""), /30 90\nbye\n/);
    assert.match(r.stdout, /pod "once" deleted/);
  });

  test("kubectl attach prints the container's output; attach -i feeds its stdin", async () => {
    const attach = spawn(KUBECTL, ["--cache-dir", join(node.cluster.dir, "cache"), "attach", "web", "-c", "main"], { env: node.cluster.env });
    let out = "";
    attach.stdout.on("data", (b: Buffer) => (out += b.toString()));
    attach.stderr.on("data", (b: Buffer) => (out += b.toString()));
    try {
      await until("attached output", () => /line-\d+/.test(out) || undefined, 20_000);
    } finally {
      attach.kill("SIGTERM");
    }
    await node.kubectl(["apply", "-f", "-"], pod("reader", { containers: [{ name: "c", image: "busybox", imagePullPolicy: "Never", stdin: true, command: ["sh", "-c", "while read l; do echo got:$l; done"] }] }));
    await running("reader");
    const child = spawn(KUBECTL, ["--cache-dir", join(node.cluster.dir, "cache"), "attach", "-i", "reader"], { env: node.cluster.env });
    let got = "";
    child.stdout.on("data", (b: Buffer) => (got += b.toString()));
    try {
      child.stdin.write("hello\n");
      await until("the echoed line", () => got.includes("got:hello") || undefined, 20_000);
    } finally {
      child.kill("SIGTERM");
    }
    await kubectl(["delete", "pod", "reader", "--grace-period=1"]);
  });

  test("kubectl port-forward, over WebSocket and over SPDY: requests reach the pod, and a closed port is kubectl's error", async () => {
    await node.kubectl(["apply", "-f", "-"], pod("httpd", { containers: [{ name: "c", image: "busybox", imagePullPolicy: "Never", command: ["sh", "-c", "mkdir -p /www && echo hello-from-pod > /www/index.html && head -c 2000000 /dev/urandom > /www/big && httpd -p 127.0.0.1:8081 -h /www && exec httpd -f -p 8080 -h /www"] }] }));
    await running("httpd");
    const big = await kubectl(["exec", "httpd", "--", "md5sum", "/www/big"]);
    for (const websockets of ["true", "false"]) {
      const pf = spawn(KUBECTL, ["--cache-dir", join(node.cluster.dir, "cache"), "port-forward", "pod/httpd", ":8080"], { env: { ...node.cluster.env, KUBECTL_PORT_FORWARD_WEBSOCKETS: websockets } });
      let out = "";
      pf.stdout.on("data", (b: Buffer) => (out += b.toString()));
      pf.stderr.on("data", (b: Buffer) => (out += b.toString()));
      try {
        const port = Number(/Forwarding from 127\.0\.0\.1:(\d+) -> 8080/.exec(await until("the local port", () => (/127\.0\.0\.1:\d+/.test(out) ? out : undefined)))![1]);
        for (let i = 0; i < 3; i++) assert.equal(await (await fetch(`http://127.0.0.1:${port}/`)).text(), "hello-from-pod\n", `request ${i} (websockets=${websockets})`);
        const body = Buffer.from(await (await fetch(`http://127.0.0.1:${port}/big`)).arrayBuffer());
        assert.equal(body.length, 2_000_000);
        assert.equal(createHash("md5").update(body).digest("hex"), big.stdout.split(" ")[0]);
      } finally {
        pf.kill("SIGTERM");
      }
    }
    // A server bound to 127.0.0.1 in the pod is reached inside its network namespace, as containerd does.
    const local = spawn(KUBECTL, ["--cache-dir", join(node.cluster.dir, "cache"), "port-forward", "pod/httpd", ":8081"], { env: node.cluster.env });
    let localOut = "";
    local.stdout.on("data", (b: Buffer) => (localOut += b.toString()));
    local.stderr.on("data", (b: Buffer) => (localOut += b.toString()));
    try {
      const port = Number(/127\.0\.0\.1:(\d+) -> 8081/.exec(await until("the local port", () => (/127\.0\.0\.1:\d+/.test(localOut) ? localOut : undefined)))![1]);
      assert.equal(await (await fetch(`http://127.0.0.1:${port}/`)).text(), "hello-from-pod\n", localOut);
      assert.equal(await (await fetch(`http://127.0.0.1:${port}/`)).text(), "hello-from-pod\n", localOut);
    } finally {
      local.kill("SIGTERM");
    }
    const closed = spawn(KUBECTL, ["--cache-dir", join(node.cluster.dir, "cache"), "port-forward", "pod/httpd", ":9999"], { env: node.cluster.env });
    let out = "";
    closed.stdout.on("data", (b: Buffer) => (out += b.toString()));
    closed.stderr.on("data", (b: Buffer) => (out += b.toString()));
    const exited = new Promise<number | null>((resolve) => closed.on("exit", resolve));
    try {
      const port = Number(/127\.0\.0\.1:(\d+) -> 9999/.exec(await until("the local port", () => (/127\.0\.0\.1:\d+/.test(out) ? out : undefined)))![1]);
      await fetch(`http://127.0.0.1:${port}/`).catch(() => undefined);
      assert.equal(await exited, 1);
      assert.match(out, /an error occurred forwarding \d+ -> 9999: error forwarding port 9999 to pod httpd_default, uid [0-9a-f-]+: connect ECONNREFUSED/);
      assert.match(out, /error: lost connection to pod/);
    } finally {
      closed.kill("SIGTERM");
    }
    await kubectl(["delete", "pod", "httpd", "--grace-period=1"]);
  });

  test("kubectl cp copies a file into a pod and back out", async () => {
    const local = join(node.cluster.dir, "in.txt");
    const content = `copied ${Date.now()}\n`.repeat(200);
    writeFileSync(local, content);
    const put = await kubectl(["cp", local, "web:/tmp/in.txt", "-c", "side"]);
    assert.equal(put.code, 0, put.stderr);
    assert.equal((await kubectl(["exec", "web", "-c", "side", "--", "cat", "/tmp/in.txt"])).stdout, content);
    const back = join(node.cluster.dir, "out.txt");
    const get = await kubectl(["cp", "web:/tmp/in.txt", back, "-c", "side"]);
    assert.equal(get.code, 0, get.stderr);
    assert.equal(readFileSync(back, "utf8"), content);
  });

  test("the agent stops on SIGTERM while an exec session is open, and kubectl's session ends", async () => {
    const session = spawn(KUBECTL, ["--cache-dir", join(node.cluster.dir, "cache"), "exec", "-i", "web", "-c", "side", "--", "sh", "-c", "echo open; cat"], { env: node.cluster.env });
    let out = "";
    session.stdout.on("data", (b: Buffer) => (out += b.toString()));
    const ended = new Promise<number | null>((resolve) => session.on("exit", resolve));
    try {
      await until("the session", () => out.includes("open") || undefined);
      await node.kill("SIGTERM");
      // Exit 0 is the agent's own graceful stop; a hang would end in the fixture's SIGKILL.
      assert.equal(node.child?.exitCode, 0, node.log.join(""));
      assert.notEqual(await ended, null);
    } finally {
      session.kill("SIGKILL");
    }
  });
});
