// The Deployment planner against a simulated world: each round plans one sync, applies its
// writes to the ReplicaSets, then lets "the ReplicaSet controller and the kubelet" move
// (pods exist at once, become available one round later). The rollouts must keep within
// maxSurge/maxUnavailable in every round and end as Kubernetes' would.
import { test } from "node:test";
import assert from "node:assert/strict";
import { planDeployment, type DeploymentPlan } from "./_deployment-plan.ts";
import { DESIRED_REPLICAS_ANNOTATION, MAX_REPLICAS_ANNOTATION, REVISION_ANNOTATION, REVISION_HISTORY_ANNOTATION } from "./_rollout.ts";
import type { Deployment, Pod, ReplicaSet } from "./_types.ts";

const T0 = Date.UTC(2026, 0, 1);
const tmpl = (image: string) => ({ metadata: { labels: { app: "web" } }, spec: { containers: [{ name: "c", image }] } });

function deployment(o: Partial<Deployment["spec"]> = {}): Deployment {
  return {
    metadata: { name: "web", namespace: "ns", uid: "d-uid", generation: 1 },
    spec: { replicas: 3, selector: { matchLabels: { app: "web" } }, template: tmpl("v1"), strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: "25%", maxUnavailable: "25%" } }, revisionHistoryLimit: 10, progressDeadlineSeconds: 600, ...o },
  };
}

class World {
  now = T0;
  sets: ReplicaSet[] = [];
  plans: DeploymentPlan[] = [];
  private seq = 0;

  constructor(public d: Deployment) {}

  /** One sync of the Deployment; returns its plan. */
  sync(podsBySet = new Map<string, Pod[]>()): DeploymentPlan {
    const plan = planDeployment({ deployment: this.d, sets: this.sets, podsBySet, now: this.now });
    this.plans.push(plan);
    for (const w of plan.writes) {
      const rs = structuredClone(w.rs);
      if (w.op === "create") {
        assert.ok(!this.sets.some((s) => s.metadata.name === rs.metadata.name), `create of an existing ${rs.metadata.name}`);
        rs.metadata.uid = `uid-${++this.seq}`;
        rs.metadata.creationTimestamp = new Date(this.now + this.seq).toISOString();
        rs.metadata.generation = 1;
        this.sets.push(rs);
      } else if (w.op === "update") {
        const i = this.sets.findIndex((s) => s.metadata.name === rs.metadata.name);
        assert.ok(i >= 0);
        rs.metadata.generation = (this.sets[i]!.metadata.generation ?? 1) + (rs.spec.replicas !== this.sets[i]!.spec.replicas ? 1 : 0);
        this.sets[i] = rs;
      } else this.sets = this.sets.filter((s) => s.metadata.name !== rs.metadata.name);
    }
    if (plan.annotations) this.d = { ...this.d, metadata: { ...this.d.metadata, annotations: plan.annotations } };
    if (plan.status) this.d = { ...this.d, status: plan.status };
    return plan;
  }

  /** The ReplicaSet controller and kubelets catch up: every set has its pods; those that existed last round are now available. */
  settle(available = true): void {
    this.now += 10_000;
    for (const rs of this.sets) {
      const want = rs.spec.replicas ?? 0;
      const had = rs.status?.replicas ?? 0;
      // Scale-down removes unavailable pods first, as the ReplicaSet controller does.
      const avail = Math.min(want, available ? had : (rs.status?.availableReplicas ?? 0));
      rs.status = { replicas: want, readyReplicas: avail, availableReplicas: avail, observedGeneration: rs.metadata.generation };
    }
  }

  totals() {
    return {
      spec: this.sets.reduce((n, s) => n + (s.spec.replicas ?? 0), 0),
      pods: this.sets.reduce((n, s) => n + (s.status?.replicas ?? 0), 0),
      available: this.sets.reduce((n, s) => n + (s.status?.availableReplicas ?? 0), 0),
    };
  }

  byName(name: string) {
    return this.sets.find((s) => s.metadata.name === name);
  }

  newest(): ReplicaSet {
    return [...this.sets].sort((a, b) => Date.parse(b.metadata.creationTimestamp!) - Date.parse(a.metadata.creationTimestamp!))[0]!;
  }

  /** Syncs and settles until nothing more is planned; checks the bounds on every round. */
  rollout(bounds?: { maxTotal: number; minAvailable: number }): number {
    for (let round = 0; round < 100; round++) {
      const plan = this.sync();
      if (bounds) {
        const t = this.totals();
        assert.ok(t.spec <= bounds.maxTotal, `round ${round}: ${t.spec} pods wanted, more than ${bounds.maxTotal}`);
        assert.ok(t.available >= bounds.minAvailable, `round ${round}: ${t.available} available, fewer than ${bounds.minAvailable}`);
      }
      this.settle();
      if (plan.writes.length === 0 && !plan.status && !plan.annotations) return round;
    }
    throw new Error("the rollout did not settle");
  }
}

const cond = (d: Deployment, type: string) => d.status?.conditions?.find((c) => c.type === type);
const eventMessages = (w: World) => w.plans.flatMap((p) => p.events.map((e) => e.event.message));

test("a new Deployment gets one ReplicaSet <name>-<hash> sized to replicas, with its annotations and revision 1", () => {
  const w = new World(deployment());
  const plan = w.sync();
  assert.equal(plan.writes.length, 1);
  const rs = plan.writes[0]!.rs;
  assert.equal(plan.writes[0]!.op, "create");
  assert.match(rs.metadata.name!, /^web-[bcdfghjklmnpqrstvwxz2456789]+$/);
  const hash = rs.metadata.name!.slice("web-".length);
  assert.equal(rs.metadata.labels!["pod-template-hash"], hash);
  assert.deepEqual(rs.spec.selector, { matchLabels: { app: "web", "pod-template-hash": hash } });
  assert.equal(rs.spec.template!.metadata!.labels!["pod-template-hash"], hash);
  assert.equal(rs.spec.replicas, 3);
  assert.deepEqual(rs.metadata.ownerReferences, [{ apiVersion: "apps/v1", kind: "Deployment", name: "web", uid: "d-uid", controller: true, blockOwnerDeletion: true }]);
  assert.equal(rs.metadata.annotations![REVISION_ANNOTATION], "1");
  assert.equal(rs.metadata.annotations![DESIRED_REPLICAS_ANNOTATION], "3");
  assert.equal(rs.metadata.annotations![MAX_REPLICAS_ANNOTATION], "4", "3 + 25% surge rounded up");
  assert.equal(plan.annotations?.[REVISION_ANNOTATION], "1");
  assert.deepEqual(eventMessages(w), [`Scaled up replica set ${rs.metadata.name} from 0 to 3`]);
  assert.equal(cond(w.d, "Progressing")?.reason, "NewReplicaSetCreated");
  assert.equal(cond(w.d, "Progressing")?.message, `Created new replica set "${rs.metadata.name}"`);
  assert.equal(cond(w.d, "Available")?.status, "False");
  assert.equal(w.d.status?.observedGeneration, 1);
});

test("the Deployment completes: Available and Progressing=NewReplicaSetAvailable, then nothing more to do", () => {
  const w = new World(deployment());
  w.rollout();
  assert.deepEqual({ ...w.d.status, conditions: undefined }, { observedGeneration: 1, replicas: 3, updatedReplicas: 3, readyReplicas: 3, availableReplicas: 3, conditions: undefined });
  assert.equal(cond(w.d, "Available")?.reason, "MinimumReplicasAvailable");
  assert.equal(cond(w.d, "Progressing")?.reason, "NewReplicaSetAvailable");
  assert.equal(cond(w.d, "Progressing")?.message, `ReplicaSet "${w.sets[0]!.metadata.name}" has successfully progressed.`);
  const again = w.sync();
  assert.deepEqual(again, { writes: [], events: [] });
});

for (const [surge, unavailable, replicas] of [
  [1, 0, 3],
  [0, 1, 3],
  ["25%", "25%", 10],
  [2, 2, 5],
  ["50%", 0, 4],
  [0, 0, 2],
] as const) {
  test(`a rolling update keeps maxSurge=${surge} maxUnavailable=${unavailable} with ${replicas} replicas`, () => {
    const w = new World(deployment({ replicas, strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: surge, maxUnavailable: unavailable } } }));
    w.rollout();
    const first = w.sets[0]!;
    w.d = { ...w.d, metadata: { ...w.d.metadata, generation: 2 }, spec: { ...w.d.spec, template: tmpl("v2") } };
    const pct = (v: number | string, roundUp: boolean) => (typeof v === "number" ? v : (roundUp ? Math.ceil : Math.floor)((parseInt(v) * replicas) / 100));
    let s = pct(surge, true);
    let u = pct(unavailable, false);
    if (s === 0 && u === 0) u = 1;
    s = Math.max(s, 0);
    w.rollout({ maxTotal: replicas + s, minAvailable: replicas - u });
    const newRs = w.newest();
    assert.notEqual(newRs.metadata.name, first.metadata.name);
    assert.equal(newRs.spec.replicas, replicas);
    assert.equal(w.byName(first.metadata.name!)?.spec.replicas, 0, "the old set is kept, scaled to 0");
    assert.equal(newRs.metadata.annotations![REVISION_ANNOTATION], "2");
    assert.equal(w.d.metadata.annotations![REVISION_ANNOTATION], "2");
    assert.equal(w.d.status?.updatedReplicas, replicas);
    assert.equal(cond(w.d, "Progressing")?.reason, "NewReplicaSetAvailable");
  });
}

test("the rolling update scales in Kubernetes' steps: surge first, then old down as new become available", () => {
  const w = new World(deployment({ replicas: 3, strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } } }));
  w.rollout();
  const oldName = w.sets[0]!.metadata.name!;
  w.d = { ...w.d, metadata: { ...w.d.metadata, generation: 2 }, spec: { ...w.d.spec, template: tmpl("v2") } };
  w.plans = [];
  w.rollout();
  const newName = w.newest().metadata.name!;
  assert.deepEqual(eventMessages(w), [
    `Scaled up replica set ${newName} from 0 to 1`,
    `Scaled down replica set ${oldName} from 3 to 2`,
    `Scaled up replica set ${newName} from 1 to 2`,
    `Scaled down replica set ${oldName} from 2 to 1`,
    `Scaled up replica set ${newName} from 2 to 3`,
    `Scaled down replica set ${oldName} from 1 to 0`,
  ]);
});

test("Recreate scales every old set to 0 and creates the new one only once their pods are gone", () => {
  const w = new World(deployment({ strategy: { type: "Recreate" } }));
  w.rollout();
  const old = w.sets[0]!;
  w.d = { ...w.d, metadata: { ...w.d.metadata, generation: 2 }, spec: { ...w.d.spec, template: tmpl("v2") } };
  const down = w.sync();
  assert.deepEqual(down.writes.map((x) => [x.op, x.rs.metadata.name, x.rs.spec.replicas]), [["update", old.metadata.name, 0]]);
  // The set's status still counts pods: no new set yet.
  assert.deepEqual(w.sync().writes, []);
  w.settle();
  // A pod of the old set still running (terminating) holds the new set back too.
  const running: Pod = { metadata: { name: "p", uid: "p" }, status: { phase: "Running" } };
  assert.deepEqual(w.sync(new Map([[old.metadata.uid!, [running]]])).writes, []);
  const up = w.sync(new Map([[old.metadata.uid!, []]]));
  assert.deepEqual(up.writes.map((x) => [x.op, x.rs.spec.replicas]), [["create", 3]]);
});

test("rolling back to an old template reuses its set: revision max+1, the old number kept in revision-history", () => {
  const w = new World(deployment());
  w.rollout();
  const v1 = w.sets[0]!.metadata.name!;
  w.d = { ...w.d, metadata: { ...w.d.metadata, generation: 2 }, spec: { ...w.d.spec, template: tmpl("v2") } };
  w.rollout();
  w.d = { ...w.d, metadata: { ...w.d.metadata, generation: 3 }, spec: { ...w.d.spec, template: tmpl("v1") } };
  w.rollout();
  assert.equal(w.sets.length, 2, "no third set");
  const back = w.byName(v1)!;
  assert.equal(back.spec.replicas, 3);
  assert.equal(back.metadata.annotations![REVISION_ANNOTATION], "3");
  assert.equal(back.metadata.annotations![REVISION_HISTORY_ANNOTATION], "1");
  assert.equal(w.d.metadata.annotations![REVISION_ANNOTATION], "3");
});

test("the Deployment's annotations (change-cause) go to the new set, but not its revision or last-applied", () => {
  const w = new World({ ...deployment(), metadata: { ...deployment().metadata, annotations: { "kubernetes.io/change-cause": "kubectl set image", "kubectl.kubernetes.io/last-applied-configuration": "{}" } } });
  const rs = w.sync().writes[0]!.rs;
  assert.equal(rs.metadata.annotations!["kubernetes.io/change-cause"], "kubectl set image");
  assert.equal(rs.metadata.annotations!["kubectl.kubernetes.io/last-applied-configuration"], undefined);
});

test("old sets beyond revisionHistoryLimit are deleted once scaled down and settled", () => {
  const w = new World(deployment({ revisionHistoryLimit: 1 }));
  w.rollout();
  for (const [gen, image] of [[2, "v2"], [3, "v3"], [4, "v4"]] as const) {
    w.d = { ...w.d, metadata: { ...w.d.metadata, generation: gen }, spec: { ...w.d.spec, template: tmpl(image) } };
    w.rollout();
  }
  assert.equal(w.sets.length, 2, "the new set and one old one");
  assert.deepEqual(w.sets.map((s) => s.metadata.annotations![REVISION_ANNOTATION]).sort(), ["3", "4"]);
});

test("no progress for progressDeadlineSeconds: Progressing=False ProgressDeadlineExceeded; a requeue is asked for the deadline", () => {
  const w = new World(deployment({ progressDeadlineSeconds: 60 }));
  w.sync();
  w.settle(false);
  // The pods appear (progress), then nothing moves: the sync that changes nothing asks to be woken at the deadline.
  assert.equal(w.sync().requeueAfterMs, undefined);
  const waiting = w.sync();
  assert.ok(waiting.requeueAfterMs !== undefined && waiting.requeueAfterMs > 0 && waiting.requeueAfterMs <= 60_000, String(waiting.requeueAfterMs));
  w.now += 61_000;
  w.sync();
  assert.equal(cond(w.d, "Progressing")?.status, "False");
  assert.equal(cond(w.d, "Progressing")?.reason, "ProgressDeadlineExceeded");
  assert.match(cond(w.d, "Progressing")?.message ?? "", /^ReplicaSet "web-.+" has timed out progressing\.$/);
  assert.equal(w.sync().requeueAfterMs, undefined, "timed out: no more deadline requeues");
});

test("paused: Progressing=Unknown DeploymentPaused, a template change rolls nothing out; resume rolls it out", () => {
  const w = new World(deployment());
  w.rollout();
  w.d = { ...w.d, metadata: { ...w.d.metadata, generation: 2 }, spec: { ...w.d.spec, paused: true } };
  w.sync();
  assert.equal(cond(w.d, "Progressing")?.status, "Unknown");
  assert.equal(cond(w.d, "Progressing")?.reason, "DeploymentPaused");
  w.d = { ...w.d, metadata: { ...w.d.metadata, generation: 3 }, spec: { ...w.d.spec, template: tmpl("v2") } };
  assert.deepEqual(w.sync().writes, [], "nothing while paused");
  w.d = { ...w.d, metadata: { ...w.d.metadata, generation: 4 }, spec: { ...w.d.spec, paused: false } };
  w.rollout();
  assert.equal(w.sets.length, 2);
  assert.equal(w.newest().spec.replicas, 3);
  assert.equal(cond(w.d, "Progressing")?.reason, "NewReplicaSetAvailable");
});

test("scaling mid-rollout spreads the change over the active sets in proportion", () => {
  const w = new World(deployment({ replicas: 10, strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: 3, maxUnavailable: 2 } } }));
  w.rollout();
  w.d = { ...w.d, metadata: { ...w.d.metadata, generation: 2 }, spec: { ...w.d.spec, template: tmpl("v2") } };
  w.sync();
  w.settle(false);
  w.sync();
  const before = w.sets.map((s) => s.spec.replicas!);
  assert.equal(before.reduce((a, b) => a + b, 0), 13, "mid-rollout at replicas + maxSurge");
  w.d = { ...w.d, metadata: { ...w.d.metadata, generation: 3 }, spec: { ...w.d.spec, replicas: 20 } };
  w.sync();
  const after = w.sets.map((s) => s.spec.replicas!);
  assert.equal(after.reduce((a, b) => a + b, 0), 23, "20 + 3 surge");
  for (const [i, n] of after.entries()) assert.ok(n > before[i]!, "each active set grew");
  for (const s of w.sets) assert.equal(s.metadata.annotations![DESIRED_REPLICAS_ANNOTATION], "20");
});

test("scaling a settled Deployment scales its one set", () => {
  const w = new World(deployment());
  w.rollout();
  w.d = { ...w.d, metadata: { ...w.d.metadata, generation: 2 }, spec: { ...w.d.spec, replicas: 1 } };
  const plan = w.sync();
  assert.deepEqual(plan.writes.map((x) => [x.op, x.rs.spec.replicas]), [["update", 1]]);
  assert.deepEqual(plan.events.map((e) => e.event.message), [`Scaled down replica set ${w.sets[0]!.metadata.name} from 3 to 1`]);
});

test("a selector that selects everything is refused with a warning, nothing else", () => {
  const w = new World(deployment({ selector: {} }));
  const plan = w.sync();
  assert.deepEqual(plan.writes, []);
  assert.equal(plan.events[0]?.event.reason, "SelectingAll");
  assert.equal(plan.status?.observedGeneration, 1);
});
