import { test } from "node:test";
import assert from "node:assert/strict";
import { countCpus, parseMeminfo } from "./node-facts.ts";
import { newNode, nodeAllocatable, nodeConditions, parseReserve, stampConditions } from "./node-object.ts";
import type { NodeFacts } from "./node-facts.ts";

const facts: NodeFacts = {
  hostname: "h",
  internalIP: "10.0.0.2",
  milliCpu: 4000,
  memoryBytes: 8 * 1024 ** 3,
  memoryAvailableBytes: 4 * 1024 ** 3,
  storageBytes: 100 * 1024 ** 3,
  storageAvailableBytes: 50 * 1024 ** 3,
  pidMax: 32768,
  pidsInUse: 300,
  kernelVersion: "6.1.0",
  osImage: "Debian GNU/Linux 12 (bookworm)",
  machineID: "m",
  systemUUID: "",
  bootID: "b",
  architecture: "amd64",
};
const id = { name: "n1", runtimeVersion: "gantry://0.1.0", kubeletVersion: "v1.32.4-gantry", daemonPort: 0 };

test("--reserve parses NAME=QUANTITY lists and refuses the rest", () => {
  assert.deepEqual(parseReserve("cpu=500m, memory=1Gi,ephemeral-storage=10G"), { milliCpu: 500, memoryBytes: 1024 ** 3, storageBytes: 10e9 });
  assert.deepEqual(parseReserve(undefined), { milliCpu: 0, memoryBytes: 0, storageBytes: 0 });
  assert.throws(() => parseReserve("gpu=1"), /unknown resource "gpu"/);
  assert.throws(() => parseReserve("cpu=lots"), /not NAME=QUANTITY/);
});

test("allocatable is capacity minus the reservation and the eviction thresholds", () => {
  const a = nodeAllocatable(facts, parseReserve("cpu=500m,memory=1Gi"));
  assert.equal(a.cpu, "3500m");
  assert.equal(a.memory, `${(8 * 1024 ** 3 - 1024 ** 3 - 100 * 1024 ** 2) / 1024}Ki`);
  assert.equal(a["ephemeral-storage"], String(100 * 1024 ** 3 - 10 * 1024 ** 3));
  assert.equal(a.pods, "110");
  const node = newNode(facts, id, parseReserve(""), "2026-01-01T00:00:00Z") as { metadata: { labels: Record<string, string> }; status: { capacity: Record<string, string>; allocatable: Record<string, string>; nodeInfo: Record<string, string>; conditions: { type: string; status: string }[]; addresses: { type: string; address: string }[] } };
  assert.deepEqual(node.metadata.labels["kubernetes.io/hostname"], "n1");
  assert.equal(node.status.capacity.cpu, "4");
  assert.equal(node.status.nodeInfo.containerRuntimeVersion, "gantry://0.1.0");
  assert.deepEqual(node.status.addresses, [{ type: "InternalIP", address: "10.0.0.2" }, { type: "Hostname", address: "n1" }]);
});

test("pressure conditions follow the thresholds; transition times hold while the status does", () => {
  assert.deepEqual(nodeConditions(facts).map((c) => `${c.type}=${c.status}:${c.reason}`), ["MemoryPressure=False:KubeletHasSufficientMemory", "DiskPressure=False:KubeletHasNoDiskPressure", "PIDPressure=False:KubeletHasSufficientPID", "Ready=True:KubeletReady"]);
  const tight = nodeConditions({ ...facts, memoryAvailableBytes: 50 * 1024 ** 2, storageAvailableBytes: 1024 ** 3, pidsInUse: 32000 });
  assert.deepEqual(tight.slice(0, 3).map((c) => c.status), ["True", "True", "True"]);
  const first = stampConditions(nodeConditions(facts), undefined, "t1");
  const again = stampConditions(nodeConditions(facts), first, "t2");
  assert.deepEqual([again[0]!.lastHeartbeatTime, again[0]!.lastTransitionTime], ["t2", "t1"]);
  const flipped = stampConditions(tight, again, "t3");
  assert.equal(flipped[0]!.lastTransitionTime, "t3");
});

test("host facts: meminfo in bytes, cpus from the cpuset", () => {
  assert.deepEqual(parseMeminfo("MemTotal:       16384 kB\nMemAvailable:    2048 kB\nHugePages_Total:       0\n"), { MemTotal: 16384 * 1024, MemAvailable: 2048 * 1024, HugePages_Total: 0 });
  assert.equal(countCpus("0-3,8", 16), 5);
  assert.equal(countCpus(undefined, 16), 16);
});
