// `gantry agent --hollow` as a user runs it (its own process, the server's admin kubeconfig):
// N hollow nodes join with the capacity asked for, the scheduler inside the server places
// pods on them and they report them Running; a pod too big for every one stays Pending with
// the FailedScheduling message; SIGTERM ends the agent cleanly; bad flags are refused.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { startControlLoops } from "../../src/cli/gantry/server-command.ts";
import { kubectlMissing, startTestCluster, type TestCluster } from "../cluster-api/_server.ts";
import { until } from "../cluster-controllers/_gantry-server.ts";

const GANTRY = ["--import", "tsx", "src/cli/gantry/main.ts"];

describe("gantry agent --hollow", { skip: kubectlMissing }, () => {
  let c: TestCluster;
  before(async () => {
    c = await startTestCluster({ startControllers: (t) => startControlLoops(t, () => {}) });
  });
  after(async () => {
    await c?.stop();
  });
  const ok = async (...args: string[]) => {
    const r = await c.kubectl(args);
    assert.equal(r.code, 0, `kubectl ${args.join(" ")}: ${r.stderr}`);
    return r.stdout;
  };

  test("three hollow nodes join with the asked capacity, run scheduled pods, and leave on SIGTERM", async () => {
    const agent = spawn(process.execPath, [...GANTRY, "agent", "--hollow", "--kubeconfig", c.server.kubeconfigPath, "--count", "3", "--cpu", "2", "--memory", "4Gi", "--pods", "5", "--name-prefix", "hn"], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    agent.stderr.on("data", (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => agent.on("exit", (code) => resolve(code)));
    try {
      await until("three hollow nodes Ready", 30_000, async () => {
        const r = await c.kubectl(["get", "nodes", "-l", "gantry.dev/hollow=true", "-o", "jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type==\"Ready\")].status} {end}"]);
        // The agent logs the join after its last node registered: the nodes may show Ready first.
        return r.stdout.trim() === "hn-0=True hn-1=True hn-2=True" && out.includes("joined") ? true : undefined;
      });
      assert.match(out, /3 hollow nodes hn-0…hn-2 joined https:\/\/127\.0\.0\.1:\d+/);
      assert.equal(await ok("get", "node", "hn-1", "-o", "jsonpath={.status.allocatable.cpu} {.status.allocatable.memory} {.status.allocatable.pods}"), "2 4Gi 5");
      assert.equal(await ok("get", "lease", "hn-2", "-n", "kube-node-lease", "-o", "jsonpath={.spec.holderIdentity}"), "hn-2");

      await ok("create", "deployment", "web", "--image=busybox", "--replicas=4");
      await ok("set", "resources", "deployment", "web", "--requests=cpu=900m");
      const placed = await until("four Running pods on hollow nodes", 30_000, async () => {
        const r = await c.kubectl(["get", "pods", "-l", "app=web", "-o", "jsonpath={range .items[*]}{.status.phase}@{.spec.nodeName}@{.spec.containers[0].resources.requests.cpu} {end}"]);
        const pods = r.stdout.trim().split(" ").filter((p) => p.endsWith("@900m"));
        return pods.length === 4 && pods.every((p) => /^Running@hn-[0-2]@/.test(p)) ? pods : undefined;
      });
      // Two 900m pods fit on a 2-cpu node, so no node holds three.
      const perNode = new Map<string, number>();
      for (const p of placed) perNode.set(p.split("@")[1]!, (perNode.get(p.split("@")[1]!) ?? 0) + 1);
      assert.ok([...perNode.values()].every((n) => n <= 2), JSON.stringify([...perNode]));

      await ok("run", "huge", "--image=busybox", "--overrides", JSON.stringify({ spec: { containers: [{ name: "huge", image: "busybox", resources: { requests: { cpu: "3" } } }] } }));
      const described = await until("FailedScheduling for the huge pod", 30_000, async () => {
        const d = await ok("describe", "pod", "huge");
        return /FailedScheduling/.test(d) ? d : undefined;
      });
      assert.match(described, /0\/3 nodes are available: 3 Insufficient cpu\./);
    } finally {
      agent.kill("SIGTERM");
    }
    assert.equal(await exited, 0, out);
  });

  test("bad flags and missing credentials are refused with a clear message", async () => {
    const run = (args: string[]) =>
      new Promise<{ code: number; stderr: string }>((resolve) => {
        execFile(process.execPath, [...GANTRY, "agent", "--hollow", ...args], { timeout: 30_000 }, (err, _stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr }));
      });
    let r = await run(["--count", "0", "--kubeconfig", c.server.kubeconfigPath]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /--count must be a whole number from 1 to 100000, not "0"/);
    r = await run(["--memory", "lots", "--kubeconfig", c.server.kubeconfigPath]);
    assert.match(r.stderr, /--memory must be a positive quantity such as 4, 16Gi or 110, not "lots"/);
    r = await run([]);
    assert.match(r.stderr, /gantry agent --hollow needs --kubeconfig/);
    const nodes = await ok("get", "nodes", "-o", "name");
    assert.doesNotMatch(nodes, /hollow-0/, "nothing registered by a refused run");
  });
});
