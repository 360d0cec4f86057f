import { test } from "node:test";
import assert from "node:assert/strict";
import { node, pod, snapshotOf } from "./_fixtures.ts";
import { fitErrorMessage } from "./fit-error.ts";
import type { Snapshot } from "./framework.ts";
import { PodInfo } from "./node-info.ts";
import { prepareFilters, schedule } from "./schedule.ts";
import type { Pod } from "./_types.ts";

function place(p: Pod, snap: Snapshot, random = Math.random): string {
  const r = schedule(new PodInfo(p), snap, { random });
  return r.node ?? fitErrorMessage(r.diagnosis);
}

function placements(p: Pod, snap: Snapshot): Set<string> {
  const seen = new Set<string>();
  for (let i = 0; i < 40; i++) seen.add(place(p, snap));
  return seen;
}

/** The nodes every filter passes (where the pod may go, whatever the scores). */
function feasible(p: Pod, snap: Snapshot): Set<string> {
  const prepared = prepareFilters(new PodInfo(p), snap);
  if ("rejected" in prepared) return new Set();
  return new Set(snap.nodes.filter((n) => !prepared.filter(n)).map((n) => n.name));
}

const zones = () => [node("a1", { labels: { zone: "a" } }), node("a2", { labels: { zone: "a" } }), node("b1", { labels: { zone: "b" } })];
const term = (app: string, topologyKey: string, extra: object = {}) => ({ labelSelector: { matchLabels: { app } }, topologyKey, ...extra });

test("required pod affinity: only domains holding a matching pod; the first of a self-affine group goes anywhere", () => {
  const snap = snapshotOf(zones(), [pod("db", { labels: { app: "db" }, nodeName: "a1" })]);
  const withDb = pod("web", { labels: { app: "web" }, affinity: { podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term("db", "zone")] } } });
  assert.deepEqual(feasible(withDb, snap), new Set(["a1", "a2"]));
  const withCache = pod("web", { affinity: { podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term("cache", "zone")] } } });
  assert.equal(place(withCache, snap), "0/3 nodes are available: 3 node(s) didn't match pod affinity rules.");
  const self = pod("c1", { labels: { app: "cache" }, affinity: { podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term("cache", "zone")] } } });
  assert.deepEqual(feasible(self, snap), new Set(["a1", "a2", "b1"]));
  // Another namespace's pods do not count unless the term names it.
  const other = pod("web", { namespace: "prod", affinity: { podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term("db", "zone")] } } });
  assert.match(place(other, snap), /didn't match pod affinity rules/);
  const named = pod("web", { namespace: "prod", affinity: { podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term("db", "zone", { namespaces: ["default"] })] } } });
  assert.deepEqual(feasible(named, snap), new Set(["a1", "a2"]));
  const anyNs = pod("web", { namespace: "prod", affinity: { podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term("db", "zone", { namespaceSelector: {} })] } } });
  assert.deepEqual(feasible(anyNs, snap), new Set(["a1", "a2"]));
});

test("required anti-affinity spreads replicas one per node, then refuses", () => {
  const anti = (name: string, nodeName?: string) => pod(name, { labels: { app: "web" }, nodeName, affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term("web", "kubernetes.io/hostname")] } } });
  const snap = snapshotOf(zones(), [anti("w1", "a1"), anti("w2", "b1")]);
  assert.equal(place(anti("w3"), snap), "a2");
  const full = snapshotOf(zones(), [anti("w1", "a1"), anti("w2", "b1"), anti("w3", "a2")]);
  assert.equal(place(anti("w4"), full), "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules.");
});

test("a running pod's anti-affinity keeps matching pods out of its domain", () => {
  const loner = pod("loner", { nodeName: "a1", affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term("noisy", "zone")] } } });
  const snap = snapshotOf(zones(), [loner]);
  assert.equal(place(pod("n", { labels: { app: "noisy" } }), snap), "b1");
  assert.deepEqual(feasible(pod("q", { labels: { app: "quiet" } }), snap), new Set(["a1", "a2", "b1"]));
  const crowd = snapshotOf([node("a1", { labels: { zone: "a" } })], [loner]);
  assert.equal(place(pod("n", { labels: { app: "noisy" } }), crowd), "0/1 nodes are available: 1 node(s) didn't satisfy existing pods anti-affinity rules.");
});

test("preferred affinity and anti-affinity weigh domains", () => {
  const snap = snapshotOf(zones(), [pod("db", { labels: { app: "db" }, nodeName: "b1" })]);
  const near = pod("web", { affinity: { podAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, podAffinityTerm: term("db", "zone") }] } } });
  assert.deepEqual(placements(near, snap), new Set(["b1"]));
  const far = pod("web", { affinity: { podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, podAffinityTerm: term("db", "zone") }] } } });
  assert.deepEqual(placements(far, snap), new Set(["a1", "a2"]));
  // A running pod's preferred affinity draws the incoming pod too (symmetry).
  const fan = pod("fan", { nodeName: "a1", affinity: { podAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, podAffinityTerm: term("star", "kubernetes.io/hostname") }] } } });
  assert.deepEqual(placements(pod("s", { labels: { app: "star" } }), snapshotOf(zones(), [fan])), new Set(["a1"]));
});

const spread = (maxSkew: number, topologyKey: string, whenUnsatisfiable = "DoNotSchedule", extra: object = {}) => ({ maxSkew, topologyKey, whenUnsatisfiable, labelSelector: { matchLabels: { app: "web" } }, ...extra });

test("topology spread DoNotSchedule bounds the skew between domains", () => {
  const web = (name: string, nodeName?: string, c = [spread(1, "zone")]) => pod(name, { labels: { app: "web" }, nodeName, topologySpreadConstraints: c });
  const snap = snapshotOf(zones(), [web("w1", "a1"), web("w2", "a2")]);
  assert.equal(place(web("w3"), snap), "b1");
  const zoneless = snapshotOf([...zones(), node("x")], [web("w1", "a1"), web("w2", "b1")]);
  assert.deepEqual(feasible(web("w3"), zoneless), new Set(["a1", "a2", "b1"]));
  const onlyZoneless = snapshotOf([node("x")], []);
  assert.equal(place(web("w3"), onlyZoneless), "0/1 nodes are available: 1 node(s) didn't match pod topology spread constraints (missing required label).");
  const skewed = snapshotOf(zones(), [web("w1", "a1"), web("w2", "a2"), web("w3", "b1"), web("w4", "a1")]);
  assert.equal(place(web("w5", undefined, [spread(1, "zone")]), skewed), "b1");
  const bRefused = snapshotOf(zones().map((n) => (n.metadata.name === "b1" ? node("b1", { labels: { zone: "b" }, cpu: "0" }) : n)), [web("w1", "a1")]);
  assert.equal(place(pod("w2", { cpu: "1", labels: { app: "web" }, topologySpreadConstraints: [spread(1, "zone")] }), bRefused), "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) didn't match pod topology spread constraints.");
  // minDomains above the domains there are: the global minimum counts as 0, so a zone holding one is full.
  const even = snapshotOf(zones(), [web("w1", "a1"), web("w2", "b1")]);
  assert.deepEqual(feasible(web("w3"), even), new Set(["a1", "a2", "b1"]));
  assert.deepEqual(feasible(web("w3", undefined, [spread(1, "zone", "DoNotSchedule", { minDomains: 3 })]), even), new Set());
});

test("topology spread ScheduleAnyway and the system default spread a workload's pods", () => {
  const web = (name: string, nodeName?: string, c?: object[]) => pod(name, { labels: { app: "web" }, nodeName, topologySpreadConstraints: c as never });
  const snap = snapshotOf(zones(), [web("w1", "a1"), web("w2", "a2")]);
  assert.deepEqual(placements(web("w3", undefined, [spread(1, "zone", "ScheduleAnyway")]), snap), new Set(["b1"]));
  // No constraints: the workload selector drives the default hostname/zone spreading.
  const selector = { matchLabels: { app: "web" } };
  const withWorkload = snapshotOf(zones(), [web("w1", "a1"), web("w2", "b1")], { workloadSelector: () => selector });
  assert.deepEqual(placements(web("w3"), withWorkload), new Set(["a2"]));
});
