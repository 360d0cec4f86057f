// Leader election between two `gantry server`s on one store (the same SQLite file): only the
// holder of the Lease kube-system/gantry-controller-manager runs controllers and the
// scheduler; when it is killed (SIGKILL, no goodbye) the other takes over once the Lease has
// gone unrenewed for its duration, and when a leader is stopped it gives the Lease up to the
// next candidate. Short durations are set by flag so the test waits seconds, not minutes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { kubectlMissing } from "../cluster-api/_server.ts";
import { freePort, startGantry, until, type GantryServer } from "./_gantry-server.ts";

const ELECTION = ["--leader-elect-lease-duration", "3s", "--leader-elect-renew-deadline", "2s", "--leader-elect-retry-period", "250ms"];
const identityOf = (s: GantryServer) => /leader election: (\S+) is a candidate/.exec(s.output)?.[1];
const leads = (s: GantryServer) => /leader election: \S+ is the leader of kube-system\/gantry-controller-manager/.test(s.output);
const runsControllers = (s: GantryServer) => (s.output.match(/controllers: garbage-collector/g) ?? []).length;

test("two gantry servers on one store: one runs the control loops; the other takes over when it is killed, and when it is stopped", { skip: kubectlMissing }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "gantry-leader-"));
  const data = join(dir, "data");
  const servers: GantryServer[] = [];
  try {
    const a = await startGantry(dir, data, await freePort(), ELECTION);
    servers.push(a);
    await until("server a to lead", 20_000, async () => (leads(a) && runsControllers(a) === 1 ? true : undefined));
    const b = await startGantry(dir, data, await freePort(), ELECTION);
    servers.push(b);
    const idA = identityOf(a)!;
    const idB = await until("server b to stand as a candidate", 20_000, async () => identityOf(b));
    assert.notEqual(idA, idB);
    assert.equal(await a.ok("get", "lease", "gantry-controller-manager", "-n", "kube-system", "-o", "jsonpath={.spec.holderIdentity}"), idA);

    // Work sent to b is done by a's controllers: one ReplicaSet, two pods, nothing twice.
    await b.ok("create", "deployment", "web", "--image=busybox", "--replicas=2");
    await until("web's two pods", 20_000, async () => ((await b.ok("get", "pods", "-l", "app=web", "-o", "name")).trim().split("\n").filter(Boolean).length === 2 ? true : undefined));
    // Several lease durations later b has still not led, and has run no controller.
    await new Promise((r) => setTimeout(r, 4_000));
    assert.equal(leads(b), false, b.output);
    assert.equal(runsControllers(b), 0);
    assert.equal((await b.ok("get", "rs", "-l", "app=web", "-o", "name")).trim().split("\n").length, 1);
    assert.equal((await b.ok("get", "pods", "-l", "app=web", "-o", "name")).trim().split("\n").length, 2);

    // a dies without a word: b takes over after the Lease goes unrenewed, and its controllers act.
    await a.stop("SIGKILL");
    await until("server b to lead", 30_000, async () => (leads(b) && runsControllers(b) === 1 ? true : undefined));
    const lease = JSON.parse(await b.ok("get", "lease", "gantry-controller-manager", "-n", "kube-system", "-o", "json")) as { spec: { holderIdentity: string; leaseTransitions: number } };
    assert.equal(lease.spec.holderIdentity, idB);
    assert.equal(lease.spec.leaseTransitions, 1);
    await b.ok("scale", "deployment", "web", "--replicas=3");
    await until("web's third pod, made by b's controllers", 20_000, async () => ((await b.ok("get", "pods", "-l", "app=web", "-o", "name")).trim().split("\n").length === 3 ? true : undefined));

    // A stopped leader gives the Lease up: the next candidate leads.
    const c = await startGantry(dir, data, await freePort(), ELECTION);
    servers.push(c);
    const idC = await until("server c to stand as a candidate", 20_000, async () => identityOf(c));
    await b.stop("SIGTERM");
    assert.match(b.output, /stopped leading kube-system\/gantry-controller-manager: stopping/);
    await until("server c to lead", 30_000, async () => (leads(c) ? true : undefined));
    assert.equal(await c.ok("get", "lease", "gantry-controller-manager", "-n", "kube-system", "-o", "jsonpath={.spec.holderIdentity} {.spec.leaseTransitions}"), `${idC} 2`);
  } finally {
    for (const s of servers) await s.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("gantry server refuses leader election durations that could let two leaders overlap", async () => {
  const dir = mkdtempSync(join(tmpdir(), "gantry-leader-flags-"));
  try {
    await assert.rejects(startGantry(dir, join(dir, "data"), await freePort(), ["--leader-elect-lease-duration", "2s", "--leader-elect-renew-deadline", "5s"]), /--leader-elect-renew-deadline must be shorter than --leader-elect-lease-duration/);
    await assert.rejects(startGantry(dir, join(dir, "data"), await freePort(), ["--leader-elect-retry-period", "soon"]), /--leader-elect-retry-period must be a duration such as 15s or 500ms, not "soon"/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
