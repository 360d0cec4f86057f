// ResourceQuota and LimitRange through the real kubectl against a real API server with its
// controllers: quota admission refuses with kube-apiserver's 403s, `kubectl describe quota`
// shows used/hard kept by the quota controller (back down after a delete, counted afresh
// after a SIGKILL and restart), concurrent creates racing for the last unit never both win,
// and LimitRange defaults and bounds are applied to new pods.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { kubectlMissing, startTestCluster, type TestCluster } from "../cluster-api/_server.ts";
import { freePort, startGantry, until } from "./_gantry-server.ts";

const pod = (name: string, ns: string, resources: object = {}, extra: object = {}) => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name, namespace: ns },
  spec: { containers: [{ name: "app", image: "busybox", resources }], ...extra },
});

describe("ResourceQuota and LimitRange through kubectl", { skip: kubectlMissing }, () => {
  let c: TestCluster;
  before(async () => {
    c = await startTestCluster();
  });
  after(async () => {
    await c?.stop();
  });

  const ok = async (...args: string[]) => {
    const r = await c.kubectl(args);
    assert.equal(r.code, 0, `kubectl ${args.join(" ")}: ${r.stderr}`);
    return r.stdout;
  };
  const apply = (o: object) => c.kubectl(["apply", "-f", "-"], { input: JSON.stringify(o) });
  const used = async (ns: string, name: string) => JSON.parse((await ok("get", "quota", name, "-n", ns, "-o", "jsonpath={.status.used}")) || "{}") as Record<string, string>;
  /** Waits until the quota controller has filled in status for every hard name. */
  const whenCounted = (ns: string, name: string, expect: Record<string, string>) =>
    until(`quota ${ns}/${name} used ${JSON.stringify(expect)}`, 20_000, async () => {
      const u = await used(ns, name);
      return Object.entries(expect).every(([k, v]) => u[k] === v) ? u : undefined;
    });

  test("a quota refuses the pod over its limit with 403, describe shows used/hard, and a delete gives the room back", async () => {
    await ok("create", "namespace", "team-a");
    await ok("create", "quota", "q", "-n", "team-a", "--hard=pods=2,requests.cpu=1,requests.memory=1Gi");
    await whenCounted("team-a", "q", { pods: "0", "requests.cpu": "0", "requests.memory": "0" });
    const res = { requests: { cpu: "300m", memory: "256Mi" } };
    for (const name of ["p1", "p2"]) {
      const r = await apply(pod(name, "team-a", res));
      assert.equal(r.code, 0, r.stderr);
    }
    const refused = await apply(pod("p3", "team-a", res));
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /Error from server \(Forbidden\)/);
    assert.match(refused.stderr, /pods "p3" is forbidden: exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2/);
    assert.notEqual((await c.kubectl(["get", "pod", "p3", "-n", "team-a"])).code, 0, "the refused pod was not created");

    const described = await ok("describe", "quota", "q", "-n", "team-a");
    assert.match(described, /Name:\s+q/);
    assert.match(described, /Resource\s+Used\s+Hard/);
    assert.match(described, /pods\s+2\s+2/);
    assert.match(described, /requests\.cpu\s+600m\s+1\b/);
    assert.match(described, /requests\.memory\s+512Mi\s+1Gi/);
    assert.match(await ok("get", "quota", "-n", "team-a"), /q\s+\S+\s+pods: 2\/2, requests\.cpu: 600m\/1, requests\.memory: 512Mi\/1Gi/);

    // A cpu request over what is left is refused on cpu alone.
    await ok("delete", "pod", "p2", "-n", "team-a");
    await whenCounted("team-a", "q", { pods: "1", "requests.cpu": "300m" });
    const big = await apply(pod("big", "team-a", { requests: { cpu: "800m", memory: "1Mi" } }));
    assert.match(big.stderr, /pods "big" is forbidden: exceeded quota: q, requested: requests\.cpu=800m, used: requests\.cpu=300m, limited: requests\.cpu=1/);
    const again = await apply(pod("p3", "team-a", res));
    assert.equal(again.code, 0, again.stderr);
    await whenCounted("team-a", "q", { pods: "2", "requests.cpu": "600m", "requests.memory": "512Mi" });
  });

  test("a quota on limits.memory refuses pods that state none (must specify), and object counts are enforced", async () => {
    await ok("create", "namespace", "team-b");
    // Every namespace gets the ConfigMap kube-root-ca.crt, which counts (as in Kubernetes).
    for (let tries = 0; (await c.kubectl(["get", "configmap", "kube-root-ca.crt", "-n", "team-b"])).code !== 0; tries++) {
      if (tries > 100) throw new Error("no kube-root-ca.crt in team-b");
      await new Promise((r) => setTimeout(r, 200));
    }
    await ok("create", "quota", "mem", "-n", "team-b", "--hard=limits.memory=1Gi,count/configmaps=2,services=0");
    await whenCounted("team-b", "mem", { "limits.memory": "0", "count/configmaps": "1", services: "0" });
    const r = await apply(pod("loose", "team-b", { requests: { memory: "64Mi" } }));
    assert.match(r.stderr, /pods "loose" is forbidden: failed quota: mem: must specify limits\.memory for: app/);
    const fine = await apply(pod("tight", "team-b", { limits: { memory: "256Mi" } }));
    assert.equal(fine.code, 0, fine.stderr);
    await ok("create", "configmap", "one", "-n", "team-b", "--from-literal=a=b");
    const two = await c.kubectl(["create", "configmap", "two", "-n", "team-b", "--from-literal=a=b"]);
    assert.match(two.stderr, /configmaps "two" is forbidden: exceeded quota: mem, requested: count\/configmaps=1, used: count\/configmaps=2, limited: count\/configmaps=2/);
    const svc = await c.kubectl(["create", "service", "clusterip", "web", "-n", "team-b", "--tcp=80:80"]);
    assert.match(svc.stderr, /services "web" is forbidden: exceeded quota: mem, requested: services=1, used: services=0, limited: services=0/);
    await whenCounted("team-b", "mem", { "limits.memory": "256Mi", "count/configmaps": "2" });

    // Bad input is refused with 422 and nothing is stored.
    const badQuota = await apply({ apiVersion: "v1", kind: "ResourceQuota", metadata: { name: "bad", namespace: "team-b" }, spec: { hard: { pods: "lots" }, scopes: ["Sometimes"] } });
    assert.match(badQuota.stderr, /spec\.hard\[pods\]: Invalid value: "lots": must be a quantity/);
    assert.match(badQuota.stderr, /spec\.scopes\[0\]: Invalid value: "Sometimes": unsupported scope/);
    const badRange = await apply({ apiVersion: "v1", kind: "LimitRange", metadata: { name: "bad", namespace: "team-b" }, spec: { limits: [{ type: "Node", max: { cpu: "-1" } }] } });
    assert.match(badRange.stderr, /spec\.limits\[0\]\.type: Invalid value: "Node"/);
    assert.match(badRange.stderr, /spec\.limits\[0\]\.max\[cpu\]: Invalid value: "-1": must be greater than or equal to 0/);
    assert.notEqual((await c.kubectl(["get", "quota", "bad", "-n", "team-b"])).code, 0);
    assert.notEqual((await c.kubectl(["get", "limitrange", "bad", "-n", "team-b"])).code, 0);
  });

  test("twenty creates racing for three pods: exactly three are admitted, the rest get 403", async () => {
    await ok("create", "namespace", "race");
    await ok("create", "quota", "three", "-n", "race", "--hard=pods=3");
    await whenCounted("race", "three", { pods: "0" });
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => c.raw("POST", "/api/v1/namespaces/race/pods", { body: JSON.stringify(pod(`r${i}`, "race")), headers: { "Content-Type": "application/json" } })),
    );
    const statuses = answers.map((a) => a.status).sort();
    assert.deepEqual(statuses, [...Array(3).fill(201), ...Array(17).fill(403)], answers.map((a) => a.body.slice(0, 200)).join("\n"));
    const refusal = JSON.parse(answers.find((a) => a.status === 403)!.body) as { reason: string; message: string };
    assert.equal(refusal.reason, "Forbidden");
    assert.match(refusal.message, /exceeded quota: three, requested: pods=1, used: pods=3, limited: pods=3/);
    const listed = JSON.parse(await ok("get", "pods", "-n", "race", "-o", "json")) as { items: unknown[] };
    assert.equal(listed.items.length, 3);
    assert.equal((await used("race", "three")).pods, "3");
  });

  test("LimitRange defaults appear in a created pod; min, max and ratio are enforced with 403", async () => {
    await ok("create", "namespace", "limits");
    const lr = {
      apiVersion: "v1",
      kind: "LimitRange",
      metadata: { name: "defaults", namespace: "limits" },
      spec: {
        limits: [
          { type: "Container", default: { cpu: "500m", memory: "256Mi" }, defaultRequest: { cpu: "100m" }, max: { cpu: "1" }, min: { memory: "64Mi" }, maxLimitRequestRatio: { cpu: "5" } },
          { type: "Pod", max: { memory: "1Gi" } },
        ],
      },
    };
    const created = await apply(lr);
    assert.equal(created.code, 0, created.stderr);
    // Defaulted as the API server defaults a LimitRange: defaultRequest.memory from default.
    assert.equal(await ok("get", "limitrange", "defaults", "-n", "limits", "-o", "jsonpath={.spec.limits[0].defaultRequest.memory}"), "256Mi");
    assert.match(await ok("describe", "limitrange", "defaults", "-n", "limits"), /Container\s+cpu\s+-\s+1\s+100m\s+500m\s+5/);

    const r = await apply(pod("plain", "limits"));
    assert.equal(r.code, 0, r.stderr);
    const got = JSON.parse(await ok("get", "pod", "plain", "-n", "limits", "-o", "json")) as { metadata: { annotations: Record<string, string> }; spec: { containers: { resources: unknown }[] } };
    assert.deepEqual(got.spec.containers[0]!.resources, { limits: { cpu: "500m", memory: "256Mi" }, requests: { cpu: "100m", memory: "256Mi" } });
    assert.equal(got.metadata.annotations["kubernetes.io/limit-ranger"], "LimitRanger plugin set: cpu, memory request for container app; cpu, memory limit for container app");

    // A stated limit stays, and its request follows it (API defaulting) rather than the range's.
    assert.equal((await apply(pod("own", "limits", { limits: { cpu: "800m" } }))).code, 0);
    assert.equal(await ok("get", "pod", "own", "-n", "limits", "-o", "jsonpath={.spec.containers[0].resources.requests.cpu}"), "800m");

    let bad = await apply(pod("greedy", "limits", { limits: { cpu: "2" } }));
    assert.match(bad.stderr, /pods "greedy" is forbidden: maximum cpu usage per Container is 1, but limit is 2/);
    bad = await apply(pod("tiny", "limits", { requests: { memory: "1Mi" }, limits: { memory: "32Mi" } }));
    assert.match(bad.stderr, /pods "tiny" is forbidden: minimum memory usage per Container is 64Mi, but request is 1Mi\n/);
    bad = await apply(pod("spiky", "limits", { requests: { cpu: "100m" }, limits: { cpu: "1" } }));
    assert.match(bad.stderr, /pods "spiky" is forbidden: cpu max limit to request ratio per Container is 5, but provided ratio is 10\.000000/);
    const fiveContainers = { ...pod("wide", "limits"), spec: { containers: ["a", "b", "c", "d", "e"].map((n) => ({ name: n, image: "busybox" })) } };
    bad = await apply(fiveContainers);
    assert.match(bad.stderr, /pods "wide" is forbidden: maximum memory usage per Pod is 1Gi, but limit is 1280Mi/);
    for (const name of ["greedy", "tiny", "spiky", "wide"]) assert.notEqual((await c.kubectl(["get", "pod", name, "-n", "limits"])).code, 0, `${name} was not created`);
  });
});

test("kubectl: after a SIGKILL and restart the quota controller counts every quota afresh from the store", { skip: kubectlMissing }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "gantry-quota-restart-"));
  const port = await freePort();
  let server = await startGantry(dir, join(dir, "data"), port);
  try {
    await server.ok("create", "quota", "q", "--hard=pods=5,count/secrets=10");
    await until("the quota counted", 20_000, async () => ((await server.ok("get", "quota", "q", "-o", "jsonpath={.status.used.pods}")) === "0" ? true : undefined));
    for (const name of ["a", "b"]) assert.equal((await server.apply(pod(name, "default"))).code, 0);
    // Status written wrong by hand: nothing triggers a count (status changes do not), until a restart.
    await server.ok("patch", "quota", "q", "--subresource=status", "--type=merge", "-p", JSON.stringify({ status: { used: { pods: "4", "count/secrets": "9" } } }));
    assert.equal(await server.ok("get", "quota", "q", "-o", "jsonpath={.status.used.pods}"), "4");
    await server.stop("SIGKILL");
    server = await startGantry(dir, join(dir, "data"), port);
    const counted = await until("the quota counted again after the restart", 60_000, async () => {
      const u = JSON.parse((await server.ok("get", "quota", "q", "-o", "jsonpath={.status.used}")) || "{}") as Record<string, string>;
      return u.pods === "2" ? u : undefined;
    });
    assert.equal(counted["count/secrets"], "0");
    assert.match(await server.ok("describe", "quota", "q"), /pods\s+2\s+5/);
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
