// The table of plan operations (scripts/gen-wire.mjs → plan-ops.ts and native/src/plan-ops.*):
// every plan the planner makes fits it, malformed plans are refused with the step and a
// clear message — by the TypeScript check and by the real helper, which refuses them before
// it runs anything.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GantryError } from "../../common/errors.ts";
import { defaultSpec } from "../default-spec.ts";
import { findHelper, helperError } from "../helper.ts";
import { checkPlan, messageProblem, planProblem, u64Problem } from "./plan-check.ts";
import { planCreate, planExec, type CreatePlanOptions } from "./plan.ts";
import { encodeRecords, RecordDecoder, type PlanRecord } from "./wire.ts";

const options: CreatePlanOptions = {
  mode: "monitor",
  monitor: { logPath: "/run/x/log.json", logMaxSize: 1048576, logMaxFiles: 3, attachSocket: "/run/x/attach.sock", openStdin: true },
  hostMounts: [{ source: "overlay", target: "/run/x/rootfs", type: "overlay", data: "lowerdir=a,upperdir=b,workdir=c", cwd: "/var/lib/x", unmountOnExit: true }],
  exitFile: "/run/x/exit.json",
  rootfs: "/run/x/rootfs",
  startSocket: "/run/x/start.sock",
  terminal: "none",
  cgroupProcsFiles: ["/sys/fs/cgroup/pids/gantry/x/cgroup.procs"],
  cgroupMounts: { version: 1, hierarchies: { pids: "/sys/fs/cgroup/pids/gantry/x" } },
  hookState: '{"pid":__GANTRY_PID__}',
  capLastCap: 40,
  isDirectory: () => true,
  deviceFilter: { cgroupDir: "/sys/fs/cgroup/x", instructions: Buffer.from([1, 2, 3]), license: "GPL" },
};

/** A config that makes the planner use every kind of step it has. */
function richConfig() {
  const c = defaultSpec();
  c.hostname = "box";
  c.domainname = "example";
  c.process!.terminal = false;
  c.process!.rlimits = [{ type: "RLIMIT_NOFILE", soft: 1024, hard: 4096 }];
  c.process!.user.additionalGids = [10, 20];
  c.process!.oomScoreAdj = -500;
  c.linux!.sysctl = { "net.ipv4.ip_forward": "1" };
  for (const type of ["user", "cgroup"] as const) if (!c.linux!.namespaces!.some((n) => n.type === type)) c.linux!.namespaces!.push({ type });
  c.linux!.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
  c.linux!.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
  c.linux!.seccomp = {
    defaultAction: "SCMP_ACT_ERRNO",
    architectures: ["SCMP_ARCH_X86_64"],
    flags: ["SECCOMP_FILTER_FLAG_LOG"],
    syscalls: [
      { names: ["read", "write"], action: "SCMP_ACT_ALLOW" },
      { names: ["personality"], action: "SCMP_ACT_ALLOW", args: [{ index: 0, value: 4294967295, op: "SCMP_CMP_EQ" }] },
    ],
  };
  c.hooks = { prestart: [{ path: "/bin/true", args: ["true", "x"], env: ["A=b"], timeout: 5 }], startContainer: [{ path: "/bin/true" }] };
  c.root!.readonly = true;
  return c;
}

test("every plan the planner makes fits the table", () => {
  const plans: [string, PlanRecord[]][] = [
    ["create, monitor mode", planCreate(richConfig(), options)],
    ["create, detached, no user namespace, a device list", planCreate(defaultSpec(), { ...options, mode: "detach", monitor: undefined, hostMounts: [], deviceFilter: undefined })],
    ["create, no process", planCreate({ ...defaultSpec(), process: undefined }, { ...options, mode: "foreground", monitor: undefined, hostMounts: [] })],
    ["exec with a terminal", planExec(richConfig(), { ...richConfig().process!, terminal: true }, { mode: "foreground", targetPid: 42, namespaces: ["mount", "pid", "user"], terminal: "socket", consoleSocket: "/run/c.sock", cgroupProcsFiles: ["/x/cgroup.procs"], capLastCap: 40 })],
  ];
  for (const [what, plan] of plans) {
    assert.equal(planProblem(plan), undefined, what);
    checkPlan(plan);
  }
  // the rich plan did use the variadic and grouped steps
  const ops = new Set(plans[0]![1].map((s) => s[0]));
  for (const op of ["host-mount", "bpf-device-filter", "hook", "seccomp-rule", "rlimit", "sysctl", "caps", "argv", "env"]) assert.ok(ops.has(op), op);
});

test("u64 fields: decimal without leading zeros or 0x hex, at most 2^64-1", () => {
  for (const ok of ["0", "7", "18446744073709551615", "0x0", "0xffffffffffffffff"]) assert.equal(u64Problem(ok), undefined, ok);
  assert.equal(u64Problem(""), "is empty");
  assert.equal(u64Problem("010"), "has a leading zero");
  for (const bad of ["-1", " 1", "1x", "0xFF", "1e3", "0x", "+1"]) assert.equal(u64Problem(bad), "is not a number", bad);
  assert.equal(u64Problem("18446744073709551616"), "is out of range (more than 2^64-1)");
  assert.equal(u64Problem("0x10000000000000000"), "is out of range (more than 2^64-1)");
});

// A small valid plan and malformed variants of it, each with the step and message expected
// from both the TypeScript check and the helper.
const good: PlanRecord[] = [["mode", "detach"], ["clone", "0"], ["child"], ["argv", "true"], ["exec", "0"], ["end"]];
const malformed: [string, PlanRecord[], number, string][] = [
  ["wrong field count", [["mode", "detach"], ["clone", "0", "1"], ["child"], ["end"]], 1, `"clone" takes 1 field (flags), got 2`],
  ["too few fields", [["mode", "detach"], ["child"], ["mount", "a", "/b", "", "0", "", "dir"], ["end"]], 2, `"mount" takes 7 fields (source, target, type, flags, data, create, where), got 6`],
  ["a non-number", [["mode", "detach"], ["clone", "12x"], ["child"], ["end"]], 1, `"clone" field 1 (flags): "12x" is not a number`],
  ["an overflow", [["mode", "detach"], ["child"], ["rlimit", "7", "18446744073709551616", "1"], ["end"]], 2, `"rlimit" field 2 (soft): "18446744073709551616" is out of range (more than 2^64-1)`],
  ["an unknown op", [["mode", "detach"], ["child"], ["frobnicate", "x"], ["end"]], 2, `unknown operation "frobnicate"`],
  ["a value outside an enumeration", [["mode", "sideways"], ["child"], ["end"]], 0, `"mode" field 1 (mode): "sideways" is not one of "detach", "foreground", "monitor"`],
  ["a child step in the monitor's section", [["mode", "detach"], ["chdir", "/"], ["child"], ["end"]], 1, `"chdir" belongs after "child" (the child's section)`],
  ["seccomp conditions not in fours", [["mode", "detach"], ["child"], ["seccomp-rule", "0", "read", "0", "0", "1"], ["end"]], 2, `"seccomp-rule" takes its trailing fields in groups of 4, got 3`],
];

test("malformed plans: the TypeScript check names the step and what is wrong", () => {
  assert.equal(planProblem(good), undefined);
  for (const [what, plan, step, message] of malformed) {
    assert.deepEqual(planProblem(plan), [step, message.replace(/ \(helper.*$/, "")], what);
  }
  assert.throws(() => checkPlan(malformed[0]![1]), (err: unknown) => err instanceof GantryError && err.code === "INTERNAL" && /malformed plan at step 1: "clone" takes 1 field/.test(err.message));
});

test("malformed plans: the helper refuses them before any step, naming the step", () => {
  const dir = mkdtempSync(join(tmpdir(), "gantry-plan-"));
  try {
    for (const [what, plan, step, message] of malformed) {
      const file = join(dir, "plan");
      writeFileSync(file, encodeRecords(plan));
      const r = spawnSync(findHelper(), ["--plan", file, "--report-fd", "1"], { timeout: 10_000 });
      assert.equal(r.status, 1, `${what}: exit status (stderr: ${r.stderr})`);
      const reports = new RecordDecoder().push(r.stdout);
      assert.equal(reports.length, 1, what);
      assert.equal(messageProblem(reports[0]!), undefined, `${what}: the helper's report fits the message table`);
      const [op, stepField, opField, errno, text] = reports[0]!;
      assert.deepEqual([op, stepField, opField, errno], ["error", String(step), plan[step]![0], "71"], what); // EPROTO
      const expected = message.startsWith("unknown operation") ? `${message} (helper and runtime versions differ? rebuild with make -C native)` : message;
      assert.equal(text, expected, what);
      // and the runtime turns the report into an INTERNAL error naming the step
      const err = helperError(reports[0]!, plan);
      assert.equal(err.code, "INTERNAL", what);
      assert.equal(err.message, `the helper refused the plan at step ${step} (${plan[step]![0]}): ${expected}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("helper messages: known names, the table's field counts, numbers as the helper writes them", () => {
  for (const good of [["pid", "4242", "57"], ["error", "-1", "clone", "1", "clone(0x20000000): Operation not permitted"], ["exit", "137", "9"], ["monitor-pid", "77"], ["go", "12"], ["cpid", "12"], ["ready", "40"], ["pty"]]) {
    assert.equal(messageProblem(good), undefined, good.join(" "));
  }
  const bad: Array<[string[], string]> = [
    [["pid"], `"pid" takes 2 fields (pid, done), got 0`],
    [["pid", "12", "13", "14"], `"pid" takes 2 fields (pid, done), got 3`],
    [["pid", "twelve", "3"], `"pid" field 1 (pid): "twelve" is not a number`],
    [["ready"], `"ready" takes 1 field (step), got 0`],
    [["exit", "1"], `"exit" takes 2 fields (code, signal), got 1`],
    [["error", "0", "mount", "-1", "x"], `"error" field 3 (errno): "-1" is not a number`],
    [["status", "ok"], `unknown message "status"`],
    [[], `unknown message ""`],
  ];
  for (const [rec, why] of bad) assert.equal(messageProblem(rec), why, rec.join(" "));
});
