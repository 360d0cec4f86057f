// Probes and lifecycle hooks with real containers, driven with kubectl against a real API
// server and `gantry agent` (the same fixture as pods.test.ts): a failing liveness probe
// kills and restarts the container with a counted restartCount and the kubelet's events;
// readiness over httpGet (a port by name) flips Ready both ways; a startup probe holds the
// liveness probe back; postStart failures kill the container; preStop runs before SIGTERM;
// termination messages come from the file or the log.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import type { KubeObject, WatchEvent } from "../../src/cluster/client/index.ts";
import { skipReason, startTestNode, until, type TestNode } from "./_node.ts";

const PODS = { group: "", version: "v1", resource: "pods", kind: "Pod", namespaced: true };
const EVENTS = { group: "", version: "v1", resource: "events", kind: "Event", namespaced: true };

interface ContainerStatus {
  name: string;
  ready: boolean;
  started?: boolean;
  restartCount: number;
  containerID?: string;
  state: { running?: { startedAt: string }; waiting?: { reason: string }; terminated?: { exitCode: number; reason: string } };
  lastState: { terminated?: { exitCode: number; reason: string } };
}
interface PodObj extends KubeObject {
  status?: { phase?: string; conditions?: { type: string; status: string }[]; containerStatuses?: ContainerStatus[] };
}
interface EventObj extends KubeObject {
  reason: string;
  message: string;
  type: string;
  count?: number;
  involvedObject: { name: string; fieldPath?: string };
}

const skip = skipReason();

describe("probes and lifecycle hooks", { skip }, () => {
  let node: TestNode;
  const getPod = (name: string) => node.admin.resource<PodObj>(PODS).get("default", name);
  const statusOf = async (name: string) => (await getPod(name)).status?.containerStatuses?.[0];
  const docker = (args: string[]) => spawnSync("docker", ["-H", `unix://${node.engineSocket}`, ...args], { encoding: "utf8", timeout: 30_000 });
  const apply = (name: string, spec: Record<string, unknown>) => node.kubectl(["apply", "-f", "-"], JSON.stringify({ apiVersion: "v1", kind: "Pod", metadata: { name }, spec: { nodeName: node.name, ...spec } }));
  const eventsOf = async (name: string) => (await node.admin.resource<EventObj>(EVENTS).list("default")).items.filter((e) => e.involvedObject.name === name);
  const condition = (p: PodObj, type: string) => p.status?.conditions?.find((c) => c.type === type)?.status;
  const idOf = (s: ContainerStatus | undefined) => s?.containerID?.slice("gantry://".length) ?? "";

  before(async () => {
    node = await startTestNode();
    await node.start();
  });
  after(async () => {
    await node?.cleanup();
  });

  test("a failing liveness probe kills the container within its grace period and restarts it, counted in restartCount", async () => {
    await apply("live", {
      terminationGracePeriodSeconds: 2,
      containers: [
        {
          name: "c",
          image: "busybox",
          imagePullPolicy: "Never",
          // healthy for a moment, then not; the shell ignores SIGTERM, so the kill is a SIGKILL after 2 s
          command: ["sh", "-c", "trap '' TERM; touch /tmp/healthy; sleep 2; rm /tmp/healthy; while true; do sleep 1; done"],
          livenessProbe: { exec: { command: ["cat", "/tmp/healthy"] }, periodSeconds: 1, failureThreshold: 2 },
        },
      ],
    });
    const first = await until("live running", async () => ((await statusOf("live"))?.state.running ? statusOf("live") : undefined));
    const restarted = await until("a liveness restart", async () => {
      const s = await statusOf("live");
      return s && s.restartCount >= 1 && s.state.running ? s : undefined;
    }, 90_000);
    assert.notEqual(restarted.containerID, first!.containerID, "a new container");
    assert.deepEqual([restarted.lastState.terminated?.exitCode, restarted.lastState.terminated?.reason], [137, "Error"], "SIGKILLed after the grace period");
    const events = await eventsOf("live");
    const unhealthy = events.find((e) => e.reason === "Unhealthy");
    assert.equal(unhealthy?.type, "Warning", `${JSON.stringify(events.map((e) => [e.reason, e.message]))}\n${JSON.stringify(restarted)}\n${node.log.join("")}`);
    assert.equal(unhealthy?.message, "Liveness probe failed: cat: can't open '/tmp/healthy': No such file or directory\n");
    assert.equal(unhealthy?.involvedObject.fieldPath, "spec.containers{c}");
    assert.ok(events.some((e) => e.reason === "Killing" && e.message === "Container c failed liveness probe, will be restarted"), JSON.stringify(events.map((e) => [e.reason, e.message])));
    await node.kubectl(["delete", "pod", "live", "--grace-period=1", "--timeout=60s"]);
  });

  test("readiness over httpGet (a port by name) flips Ready and ContainersReady both ways", async () => {
    await apply("ready", {
      containers: [
        {
          name: "web",
          image: "busybox",
          imagePullPolicy: "Never",
          command: ["sh", "-c", "mkdir -p /www && exec httpd -f -p 8080 -h /www"],
          ports: [{ name: "http", containerPort: 8080 }],
          readinessProbe: { httpGet: { path: "/ok", port: "http" }, periodSeconds: 1, failureThreshold: 1 },
        },
      ],
    });
    const running = await until("ready running", async () => ((await statusOf("ready"))?.state.running ? getPod("ready") : undefined));
    await until("the first failed readiness probe", async () => ((await eventsOf("ready")).some((e) => e.reason === "Unhealthy") ? true : undefined));
    let p = await getPod("ready");
    assert.equal(p.status?.phase, "Running");
    assert.deepEqual([condition(p, "Ready"), condition(p, "ContainersReady"), p.status?.containerStatuses?.[0]?.ready, p.status?.containerStatuses?.[0]?.started], ["False", "False", false, true]);
    assert.equal((await eventsOf("ready")).find((e) => e.reason === "Unhealthy")?.message, "Readiness probe failed: HTTP probe failed with statuscode: 404");
    // A probe failing every period is one Event whose count grows, as the kubelet's correlator makes it.
    const repeated = await until("a repeated failure", async () => {
      const got = (await eventsOf("ready")).filter((e) => e.reason === "Unhealthy");
      return got.length === 1 && (got[0]!.count ?? 0) >= 2 ? got[0] : undefined;
    });
    assert.ok(Date.parse(repeated.metadata.creationTimestamp!) <= Date.parse((repeated as { lastTimestamp?: string }).lastTimestamp!));
    const id = idOf(running.status?.containerStatuses?.[0]);
    assert.equal(docker(["exec", id, "sh", "-c", "echo yes > /www/ok"]).status, 0);
    p = await until("Ready", async () => {
      const got = await getPod("ready");
      return condition(got, "Ready") === "True" ? got : undefined;
    });
    assert.deepEqual([condition(p, "ContainersReady"), p.status?.containerStatuses?.[0]?.ready], ["True", true]);
    assert.match(await node.kubectl(["get", "pod", "ready"]), /ready\s+1\/1\s+Running/);
    assert.equal(docker(["exec", id, "rm", "/www/ok"]).status, 0);
    p = await until("unready again", async () => {
      const got = await getPod("ready");
      return condition(got, "Ready") === "False" ? got : undefined;
    });
    assert.deepEqual([p.status?.containerStatuses?.[0]?.ready, p.status?.containerStatuses?.[0]?.restartCount], [false, 0], "readiness never restarts");
    await node.kubectl(["delete", "pod", "ready", "--grace-period=1", "--timeout=60s"]);
  });

  test("an exec probe past its timeoutSeconds fails as timed out, and its process is killed (probes do not pile up)", async () => {
    await apply("hang", {
      containers: [
        {
          name: "c",
          image: "busybox",
          imagePullPolicy: "Never",
          command: ["sleep", "600"],
          readinessProbe: { exec: { command: ["sleep", "30"] }, timeoutSeconds: 1, periodSeconds: 2 },
        },
      ],
    });
    const s = await until("hang running", async () => ((await statusOf("hang"))?.state.running ? statusOf("hang") : undefined));
    const failed = await until("repeated timeouts", async () => {
      const e = (await eventsOf("hang")).find((x) => x.reason === "Unhealthy");
      return e && (e.count ?? 0) >= 3 ? e : undefined;
    });
    assert.equal(failed.message, 'Readiness probe failed: command "sleep 30" timed out');
    const ps = docker(["exec", idOf(s), "ps", "-o", "args"]).stdout;
    const hung = ps.split("\n").filter((l) => l.trim() === "sleep 30").length;
    assert.ok(hung <= 1, `at most the probe running now is left, not one per period:\n${ps}`);
    assert.equal((await statusOf("hang"))?.ready, false);
    await node.kubectl(["delete", "pod", "hang", "--grace-period=1", "--timeout=60s"]);
  });

  test("a startup probe (tcpSocket) holds liveness back: `started` is false until it passes, and nothing restarts", async () => {
    await apply("slow", {
      containers: [
        {
          name: "c",
          image: "busybox",
          imagePullPolicy: "Never",
          command: ["sh", "-c", "sleep 4; mkdir -p /www; exec httpd -f -p 8080 -h /www"],
          startupProbe: { tcpSocket: { port: 8080 }, periodSeconds: 1, failureThreshold: 30 },
          // were it run before startup passed, this would kill the container at once
          livenessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 1, failureThreshold: 1 },
        },
      ],
    });
    const early = await until("slow running", async () => ((await statusOf("slow"))?.state.running ? statusOf("slow") : undefined));
    assert.deepEqual([early!.started, early!.ready], [false, false], "not started while the startup probe fails");
    const started = await until("started", async () => {
      const s = await statusOf("slow");
      return s?.started ? s : undefined;
    });
    assert.equal(started.ready, true, "no readiness probe: ready once started");
    assert.equal(started.restartCount, 0);
    const events = await eventsOf("slow");
    assert.ok(events.some((e) => e.reason === "Unhealthy" && /^Startup probe failed: dial tcp [\d.]+:8080: connect: connection refused$/.test(e.message)), JSON.stringify(events.map((e) => e.message)));
    assert.ok(!events.some((e) => e.message.startsWith("Liveness probe failed")), "liveness never ran before startup passed");
    await node.kubectl(["delete", "pod", "slow", "--grace-period=1", "--timeout=60s"]);
  });

  test("a failing postStart hook is a FailedPostStartHook event; the container is killed and restarted", async () => {
    await apply("poststart", {
      terminationGracePeriodSeconds: 1,
      containers: [{ name: "c", image: "busybox", imagePullPolicy: "Never", command: ["sleep", "600"], lifecycle: { postStart: { exec: { command: ["sh", "-c", "echo no config; exit 3"] } } } }],
    });
    const s = await until("a restart after the hook failed", async () => {
      const st = await statusOf("poststart");
      return st && st.restartCount >= 1 ? st : undefined;
    }, 90_000);
    assert.ok(s.lastState.terminated || s.state.terminated, "the killed attempt is recorded");
    const events = await eventsOf("poststart");
    const failed = events.find((e) => e.reason === "FailedPostStartHook");
    assert.match(failed?.message ?? "", /^Exec lifecycle hook \(\[sh -c echo no config; exit 3\]\) for Container "c" in Pod "poststart_default\(.+\)" failed - error: command 'sh -c echo no config; exit 3' exited with 3: no config\n, message: "no config\\n"$/);
    assert.ok(events.some((e) => e.reason === "Killing" && e.message === "FailedPostStartHook"));
    await node.kubectl(["delete", "pod", "poststart", "--grace-period=1", "--timeout=60s"]);
  });

  test("terminationMessagePath and FallbackToLogsOnError fill the terminated state's message", async () => {
    await apply("msg", {
      restartPolicy: "Never",
      containers: [
        { name: "file", image: "busybox", imagePullPolicy: "Never", command: ["sh", "-c", "echo 'bye from file' > /dev/termination-log; exit 2"] },
        { name: "custom", image: "busybox", imagePullPolicy: "Never", terminationMessagePath: "/tmp/done", command: ["sh", "-c", "echo -n all done > /tmp/done"] },
        { name: "logs", image: "busybox", imagePullPolicy: "Never", terminationMessagePolicy: "FallbackToLogsOnError", command: ["sh", "-c", "echo line1; echo oops >&2; exit 1"] },
        { name: "quiet", image: "busybox", imagePullPolicy: "Never", command: ["sh", "-c", "echo not a message; exit 1"] },
      ],
    });
    const p = await until("msg to fail", async () => {
      const got = await getPod("msg");
      return got.status?.phase === "Failed" ? got : undefined;
    });
    const messages = Object.fromEntries((p.status?.containerStatuses ?? []).map((s) => [s.name, [s.state.terminated?.exitCode, (s.state.terminated as { message?: string } | undefined)?.message]]));
    assert.deepEqual(messages, { file: [2, "bye from file\n"], custom: [0, "all done"], logs: [1, "line1\noops\n"], quiet: [1, undefined] });
    await node.kubectl(["delete", "pod", "msg", "--timeout=60s"]);
  });

  test("SIGKILL of the agent: the restarted agent keeps a ready pod Ready (no flap) and restarts nothing", async () => {
    await apply("steady", {
      containers: [
        {
          name: "c",
          image: "busybox",
          imagePullPolicy: "Never",
          command: ["sleep", "600"],
          startupProbe: { exec: { command: ["true"] }, periodSeconds: 1 },
          readinessProbe: { exec: { command: ["true"] }, periodSeconds: 5 },
        },
      ],
    });
    const before = await until("steady Ready", async () => {
      const got = await getPod("steady");
      return condition(got, "Ready") === "True" ? got : undefined;
    });
    const seen: string[] = [];
    const w = await node.admin.resource<PodObj>(PODS).watch("default", { fieldSelector: "metadata.name=steady", resourceVersion: before.metadata.resourceVersion }, (e: WatchEvent<PodObj>) => {
      seen.push(`${condition(e.object, "Ready")}/${e.object.status?.containerStatuses?.[0]?.started}`);
    }, () => undefined);
    try {
      await node.kill("SIGKILL");
      await node.start();
      // A pod made now runs once the restarted agent's workers have synced the old ones.
      await apply("later", { containers: [{ name: "c", image: "busybox", imagePullPolicy: "Never", command: ["sleep", "600"] }] });
      await until("later Running", async () => ((await getPod("later")).status?.phase === "Running" ? true : undefined));
      await new Promise((r) => setTimeout(r, 1500)); // a beat for a status write to show up in the watch
    } finally {
      w.stop();
    }
    assert.ok(!seen.some((v) => v !== "True/true"), `Ready and started held: ${seen.join(", ")}`);
    const after = await statusOf("steady");
    assert.deepEqual([after?.containerID, after?.restartCount, after?.ready, after?.started], [before.status?.containerStatuses?.[0]?.containerID, 0, true, true]);
    await node.kubectl(["delete", "pod", "steady", "later", "--grace-period=1", "--timeout=60s"]);
  });

  test("delete runs the preStop hook before SIGTERM, within the grace period", async () => {
    await apply("prestop", {
      terminationGracePeriodSeconds: 30,
      containers: [
        {
          name: "c",
          image: "busybox",
          imagePullPolicy: "Never",
          command: ["sh", "-c", "trap 'echo got TERM; exit 0' TERM; echo started; while true; do sleep 1; done"],
          // the hook writes to the container's own output, so its log shows the order
          lifecycle: { preStop: { exec: { command: ["sh", "-c", "echo preStop ran > /proc/1/fd/1; sleep 1"] } } },
        },
      ],
    });
    const s = await until("prestop running", async () => ((await statusOf("prestop"))?.state.running ? statusOf("prestop") : undefined));
    const id = idOf(s);
    await until("the container's first line", () => (docker(["logs", id]).stdout.includes("started") ? true : undefined));
    // Follow the log from before the delete to the container's end (it is removed with the pod).
    const follow = spawn("docker", ["-H", `unix://${node.engineSocket}`, "logs", "-f", id], { stdio: ["ignore", "pipe", "pipe"] });
    let log = "";
    follow.stdout.on("data", (b: Buffer) => (log += b.toString()));
    const ended = new Promise((r) => follow.once("exit", r));
    try {
      await node.kubectl(["delete", "pod", "prestop", "--timeout=60s"]);
      await Promise.race([ended, new Promise((r) => setTimeout(r, 20_000))]);
    } finally {
      follow.kill();
    }
    assert.deepEqual(log.trim().split("\n"), ["started", "preStop ran", "got TERM"]);
    assert.ok((await eventsOf("prestop")).some((e) => e.reason === "Killing" && e.message === "Stopping container c"));
  });

  test("an httpGet preStop hook reaches the pod before SIGTERM", async () => {
    // busybox httpd in the background serves a CGI that writes to the container's output; the
    // shell (pid 1) traps SIGTERM.
    const cgi = "#!/bin/sh\necho preStop over http > /proc/1/fd/1\necho Content-Type: text/plain\necho\necho ok\n";
    await apply("prestop-http", {
      terminationGracePeriodSeconds: 30,
      containers: [
        {
          name: "c",
          image: "busybox",
          imagePullPolicy: "Never",
          command: ["sh", "-c", `mkdir -p /www/cgi-bin && printf '${cgi}' > /www/cgi-bin/stop && chmod +x /www/cgi-bin/stop && httpd -p 8080 -h /www && trap 'echo got TERM; exit 0' TERM; echo started; while true; do sleep 1; done`],
          lifecycle: { preStop: { httpGet: { path: "/cgi-bin/stop", port: 8080 } } },
        },
      ],
    });
    const s = await until("prestop-http running", async () => ((await statusOf("prestop-http"))?.state.running ? statusOf("prestop-http") : undefined));
    const id = idOf(s);
    await until("the container's first line", () => (docker(["logs", id]).stdout.includes("started") ? true : undefined));
    const follow = spawn("docker", ["-H", `unix://${node.engineSocket}`, "logs", "-f", id], { stdio: ["ignore", "pipe", "pipe"] });
    let log = "";
    follow.stdout.on("data", (b: Buffer) => (log += b.toString()));
    const ended = new Promise((r) => follow.once("exit", r));
    try {
      await node.kubectl(["delete", "pod", "prestop-http", "--timeout=60s"]);
      await Promise.race([ended, new Promise((r) => setTimeout(r, 20_000))]);
    } finally {
      follow.kill();
    }
    assert.deepEqual(log.trim().split("\n"), ["started", "preStop over http", "got TERM"]);
  });
});
