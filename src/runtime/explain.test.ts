import { test } from "node:test";
import assert from "node:assert/strict";
import { defaultSpec } from "./default-spec.ts";
import { describeStep } from "./explain-text.ts";
import { explainRecord, flagNames, seccompActionName, storedExplain } from "./explain.ts";
import { MS } from "./plan/linux-constants.ts";
import { planCreate, type CreatePlanOptions } from "./plan/plan.ts";

const opts: CreatePlanOptions = {
  mode: "detach",
  rootfs: "/b/rootfs",
  startSocket: "/run/x/start.sock",
  terminal: "none",
  cgroupProcsFiles: ["/sys/fs/cgroup/memory/gantry/x/cgroup.procs", "/sys/fs/cgroup/unified/gantry/x/cgroup.procs"],
  cgroupMounts: { version: 1, hierarchies: { memory: "/sys/fs/cgroup/memory/gantry/x" }, unified: "/sys/fs/cgroup/unified/gantry/x" },
  hookState: "{}",
  capLastCap: 40,
  isDirectory: () => true,
};

function plan() {
  const c = defaultSpec();
  c.process!.terminal = false;
  c.process!.noNewPrivileges = true;
  c.process!.rlimits = [{ type: "RLIMIT_NOFILE", soft: 1024, hard: 4096 }];
  c.process!.capabilities = { bounding: ["CAP_CHOWN", "CAP_KILL"], effective: ["CAP_CHOWN"], permitted: ["CAP_CHOWN"] };
  c.linux!.sysctl = { "net.ipv4.ip_forward": "1" };
  c.linux!.seccomp = { defaultAction: "SCMP_ACT_ERRNO", architectures: ["SCMP_ARCH_X86_64"], syscalls: [{ names: ["read", "write"], action: "SCMP_ACT_ALLOW" }] };
  c.root!.readonly = true;
  c.hostname = "box";
  c.process!.env = ["PATH=/bin", "SECRET=hunter2"];
  return planCreate(c, opts);
}

test("every plan step becomes a named step in plan order, with the values the helper got", () => {
  const p = plan();
  const stored = storedExplain({ plan: p, stepsDone: p.length, pid: 4242, cgroupJournal: [{ op: "mkdir", path: "/sys/fs/cgroup/memory/gantry/x" }, { op: "write", path: "/sys/fs/cgroup/memory/gantry/x/memory.limit_in_bytes", value: "1048576" }] });
  assert.ok(!JSON.stringify(stored).includes("hunter2"), "no environment value is stored");
  // stored as JSON, described when read
  const rec = explainRecord(JSON.parse(JSON.stringify(stored)) as typeof stored);
  const names = rec.steps.map((s) => s.step);
  assert.deepEqual(names.slice(0, 2), ["cgroup-mkdir", "cgroup-write"]);
  assert.equal(rec.steps[1]!.by, "runtime");
  const at = (n: string) => names.indexOf(n);
  assert.ok(at("clone") < at("sysctl") && at("sysctl") < at("pivot-root") && at("pivot-root") < at("remount") && at("remount") < at("capabilities") && at("capabilities") < at("seccomp") && at("seccomp") < at("exec"));
  // The v2 group: the clone put the process (its pid) there; each v1 hierarchy: it wrote "0" itself.
  const procs = rec.steps.find((s) => s.step === "cgroup-write" && s.by === "monitor")!;
  assert.deepEqual([procs.path, procs.value], ["/sys/fs/cgroup/unified/gantry/x/cgroup.procs", "4242"]);
  const tasks = rec.steps.find((s) => s.step === "cgroup-write" && s.by === "container")!;
  assert.deepEqual([tasks.path, tasks.value], ["/sys/fs/cgroup/memory/gantry/x/tasks", "0"]);
  assert.ok(at("clone") < rec.steps.indexOf(tasks), "after the clone");
  const step = (n: string) => rec.steps[at(n)]!;
  assert.deepEqual(step("rlimit"), { step: "rlimit", by: "container", when: "create", resource: "RLIMIT_NOFILE", soft: "1024", hard: "4096" });
  assert.deepEqual(step("capabilities").bounding, ["CAP_CHOWN", "CAP_KILL"]);
  assert.deepEqual(step("capabilities").effective, ["CAP_CHOWN"]);
  assert.deepEqual(step("remount").flags, ["MS_RDONLY"]);
  assert.deepEqual([step("seccomp").defaultAction, step("seccomp").rules, step("seccomp").syscalls], ["SCMP_ACT_ERRNO(1)", 2, 2]);
  assert.deepEqual(step("env").names, ["PATH", "SECRET"], "names only");
  assert.ok(!JSON.stringify(rec).includes("hunter2"), "no environment value is kept");
  assert.equal(names.filter((n) => n.startsWith("seccomp")).length, 1, "one step for the whole filter");
  assert.equal(describeStep(step("sysctl")), "sysctl net.ipv4.ip_forward=1 (write /proc/sys/net/ipv4/ip_forward)");
  assert.equal(describeStep(step("hostname")), 'sethostname("box")');
  assert.match(describeStep(step("clone")), /^clone\(CLONE_NEWNS\|.*\)  new namespaces: mnt,/);
});

test("steps the helper had not executed when it reported the pid are the ones that run at start", () => {
  const p = plan();
  const waitAt = p.findIndex((r) => r[0] === "wait-start");
  const rec = explainRecord({ ...storedExplain({ plan: p, stepsDone: waitAt, pid: 1, cgroupJournal: [] }), updates: [{ at: "T", journal: [{ op: "write", path: "/x/memory.max", value: "5" }] }] });
  assert.deepEqual(rec.steps.at(-1), { step: "cgroup-write", by: "runtime", when: "update", path: "/x/memory.max", value: "5", at: "T" }, "updates come last");
  const wait = rec.steps.findIndex((s) => s.step === "wait-start");
  assert.ok(rec.steps.slice(0, wait).every((s) => s.when === "create"));
  assert.ok(rec.steps.slice(wait, -1).every((s) => s.when === "start"));
  assert.ok(rec.steps.slice(wait).some((s) => s.step === "seccomp"), "with no_new_privs the filter is loaded after start");
});

test("flag and action names", () => {
  assert.deepEqual(flagNames(BigInt(MS.BIND | MS.REC | 0x40000000), MS, "MS_"), ["MS_BIND", "MS_REC", "0x40000000"]);
  assert.deepEqual(flagNames(0n, MS, "MS_"), []);
  assert.equal(seccompActionName(String(0x00050000 | 38)), "SCMP_ACT_ERRNO(38)");
  assert.equal(seccompActionName(String(0x7fff0000)), "SCMP_ACT_ALLOW");
  assert.equal(seccompActionName(String(0x80000000)), "SCMP_ACT_KILL_PROCESS");
});
