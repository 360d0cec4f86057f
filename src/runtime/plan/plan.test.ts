import { test } from "node:test";
import assert from "node:assert/strict";
import { defaultSpec } from "../default-spec.ts";
import type { OciConfig } from "../spec/oci.ts";
import { CLONE, MS } from "./linux-constants.ts";
import { parseMountOptions } from "./mount-options.ts";
import { cgroupPlacement, planCreate, planExec, type CreatePlanOptions } from "./plan.ts";
import { planProblem } from "./plan-check.ts";
import { planSeccomp } from "./seccomp.ts";
import { encodeRecords, RecordDecoder, type PlanRecord } from "./wire.ts";

const opts: CreatePlanOptions = {
  mode: "detach",
  rootfs: "/b/rootfs",
  startSocket: "/run/x/start.sock",
  terminal: "none",
  cgroupProcsFiles: ["/sys/fs/cgroup/cpu/gantry/x/cgroup.procs", "/sys/fs/cgroup/memory/gantry/x/cgroup.procs"],
  cgroupMounts: { version: 1, hierarchies: { cpu: "/sys/fs/cgroup/cpu/gantry/x" } },
  hookState: "{}",
  capLastCap: 40,
  isDirectory: () => true,
};

function spec(edit?: (c: OciConfig) => void): OciConfig {
  const c = defaultSpec();
  c.process!.terminal = false;
  edit?.(c);
  return c;
}

const ops = (plan: PlanRecord[]) => plan.map((r) => r[0]);
const indexOf = (plan: PlanRecord[], pred: (r: PlanRecord) => boolean) => plan.findIndex(pred);

test("the monitor maps ids and places the child in its cgroups before the child section", () => {
  const plan = planCreate(
    spec((c) => {
      c.linux!.namespaces!.push({ type: "user" });
      c.linux!.uidMappings = [{ containerID: 0, hostID: 1000, size: 10 }];
      c.linux!.gidMappings = [{ containerID: 0, hostID: 1000, size: 10 }];
    }),
    opts,
  );
  const child = ops(plan).indexOf("child");
  const uid = indexOf(plan, (r) => r[0] === "write-after-clone" && r[1] === "/proc/$PID/uid_map");
  const procs = plan.filter((r) => r[0] === "join-cgroup" || r[0] === "clone-into-cgroup");
  assert.ok(uid >= 0 && uid < child);
  assert.equal(plan[uid]![2], "0 1000 10\n");
  // v1 hierarchies: the tasks file the child writes "0" to (no global attach lock)
  assert.deepEqual(procs.map((r) => r[1]), opts.cgroupProcsFiles.map((f) => f.replace(/cgroup\.procs$/, "tasks")));
  assert.ok(plan.indexOf(procs[0]!) < child, "cgroup placement precedes the child steps");
  assert.ok(!plan.some((r) => r[0] === "write-after-clone" && (r[1] ?? "").endsWith("cgroup.procs")), "no pid written to cgroup.procs");
  // devices cannot be created in a user namespace: they are bound from the host
  assert.ok(plan.some((r) => r[0] === "bind-dev" && r[1] === "/dev/null"));
  assert.ok(!plan.some((r) => r[0] === "mknod"));
});

test("joining a user namespace (a pod's): setns into it first, no maps written, the child becomes its root and binds devices", () => {
  const plan = planCreate(
    spec((c) => {
      c.linux!.namespaces!.push({ type: "user", path: "/proc/42/ns/user" }, { type: "network", path: "/proc/42/ns/net" });
      c.linux!.namespaces = c.linux!.namespaces!.filter((n) => n.type !== "network" || n.path);
      c.linux!.uidMappings = [{ containerID: 0, hostID: 65536, size: 65536 }];
      c.linux!.gidMappings = [{ containerID: 0, hostID: 65536, size: 65536 }];
    }),
    opts,
  );
  const setns = plan.filter((r) => r[0] === "setns").map((r) => r[1]);
  assert.deepEqual(setns, ["/proc/42/ns/user", "/proc/42/ns/net"], "user first");
  assert.equal(Number(plan.find((r) => r[0] === "clone")![1]) & CLONE.NEWUSER, 0);
  assert.ok(!plan.some((r) => r[0] === "write-after-clone" && (r[1] ?? "").endsWith("_map")));
  const child = ops(plan).indexOf("child");
  assert.deepEqual(plan[child + 1], ["user", "0", "0", ""]);
  assert.ok(plan.some((r) => r[0] === "bind-dev" && r[1] === "/dev/null"));
  assert.ok(!plan.some((r) => r[0] === "mknod"));
});

test("rootless (the runtime in a user namespace that is not the host's): devices are bound, and sysfs without a network namespace of its own is the host's /sys bound", () => {
  const own = planCreate(spec(), { ...opts, rootless: true });
  assert.ok(own.some((r) => r[0] === "bind-dev" && r[1] === "/dev/null"));
  assert.ok(!own.some((r) => r[0] === "mknod"));
  assert.ok(own.some((r) => r[0] === "mount" && r[3] === "sysfs"), "a new network namespace: sysfs is mounted");
  const hostNet = planCreate(
    spec((c) => (c.linux!.namespaces = c.linux!.namespaces!.filter((n) => n.type !== "network"))),
    { ...opts, rootless: true },
  );
  assert.ok(!hostNet.some((r) => r[0] === "mount" && r[3] === "sysfs"));
  const bind = hostNet.findIndex((r) => r[0] === "mount" && r[1] === "/sys" && r[2] === "/sys");
  assert.ok(bind >= 0, "the host's /sys is bound");
  assert.equal(Number(hostNet[bind]![4]), MS.BIND | MS.REC);
  assert.ok(Number(hostNet[bind + 1]![4]) & MS.RDONLY, "and made read-only");
  // As root, the same config mounts sysfs (the host's network namespace is root's own).
  assert.ok(planCreate(spec((c) => (c.linux!.namespaces = c.linux!.namespaces!.filter((n) => n.type !== "network"))), opts).some((r) => r[0] === "mount" && r[3] === "sysfs"));
});

test("clone gets the new namespaces except cgroup, which the child unshares first", () => {
  const plan = planCreate(spec(), opts);
  const clone = plan.find((r) => r[0] === "clone")!;
  const flags = Number(clone[1]);
  assert.equal(flags & CLONE.NEWCGROUP, 0);
  for (const f of [CLONE.NEWPID, CLONE.NEWNET, CLONE.NEWIPC, CLONE.NEWUTS, CLONE.NEWNS]) assert.ok(flags & f);
  const child = ops(plan).indexOf("child");
  assert.deepEqual(plan[child + 1], ["unshare", String(CLONE.NEWCGROUP)]);
});

test("joined namespaces are entered user first and mount last, and are not cloned", () => {
  const plan = planCreate(
    spec((c) => {
      c.linux!.namespaces = [
        { type: "mount", path: "/proc/9/ns/mnt" },
        { type: "network", path: "/proc/9/ns/net" },
        { type: "user", path: "/proc/9/ns/user" },
        { type: "pid" },
      ];
      delete c.hostname;
    }),
    opts,
  );
  assert.deepEqual(
    plan.filter((r) => r[0] === "setns").map((r) => r[1]),
    ["/proc/9/ns/user", "/proc/9/ns/net", "/proc/9/ns/mnt"],
  );
  assert.equal(Number(plan.find((r) => r[0] === "clone")![1]), CLONE.NEWPID);
});

test("pivot_root follows the mounts; masks, readonly paths and the read-only root follow it", () => {
  const plan = planCreate(spec((c) => (c.root = { path: "rootfs", readonly: true })), opts);
  const o = ops(plan);
  const pivot = o.indexOf("pivot-root");
  assert.ok(o.lastIndexOf("mount") < pivot || plan.slice(pivot).every((r) => r[0] !== "mount" || r[7] === "abs"));
  assert.ok(o.indexOf("mask") > pivot && o.indexOf("readonly") > pivot);
  assert.deepEqual(plan.find((r) => r[0] === "remount"), ["remount", "/", String(MS.RDONLY)]);
  assert.ok(o.indexOf("wait-start") < o.indexOf("exec"));
  assert.ok(o.indexOf("lookup") < o.indexOf("wait-start"), "a missing program is reported by create");
});

test("with no_new_privs seccomp loads after start; without, before capabilities are dropped", () => {
  const seccomp = { defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ names: ["mkdir"], action: "SCMP_ACT_ERRNO" }] };
  const withNnp = ops(planCreate(spec((c) => { c.linux!.seccomp = seccomp; c.process!.noNewPrivileges = true; }), opts));
  assert.ok(withNnp.indexOf("seccomp-load") > withNnp.indexOf("wait-start"));
  assert.ok(withNnp.indexOf("no-new-privs") < withNnp.indexOf("wait-start"));
  const without = ops(planCreate(spec((c) => { c.linux!.seccomp = seccomp; c.process!.noNewPrivileges = false; }), opts));
  assert.ok(without.indexOf("seccomp-load") < without.indexOf("caps"));
  assert.ok(!without.includes("no-new-privs"));
});

test("capabilities become masks; ambient only where permitted and inheritable; unknown names refused", () => {
  const plan = planCreate(
    spec((c) => {
      c.process!.capabilities = {
        bounding: ["CAP_KILL", "CAP_NET_ADMIN"],
        effective: ["CAP_KILL"],
        permitted: ["CAP_KILL", "CAP_NET_ADMIN"],
        inheritable: ["CAP_NET_ADMIN"],
        ambient: ["CAP_KILL", "CAP_NET_ADMIN"],
      };
    }),
    opts,
  );
  const caps = plan.find((r) => r[0] === "caps")!;
  assert.deepEqual(caps.slice(1), ["0x1020", "0x20", "0x1020", "0x1000", "0x1000"]);
  assert.throws(
    () => planCreate(spec((c) => (c.process!.capabilities!.effective = ["CAP_KILL", "CAP_FLY"])), opts),
    /process\.capabilities\.effective\[1\]: unknown capability "CAP_FLY"/,
  );
});

test("bind mounts: read-only means bind then remount; a file source makes a file destination", () => {
  const plan = planCreate(
    spec((c) => c.mounts!.push({ destination: "/etc/hosts", type: "bind", source: "/etc/hosts", options: ["rbind", "ro", "rprivate"] })),
    { ...opts, isDirectory: (p) => p !== "/etc/hosts" },
  );
  const at = plan.findIndex((r) => r[0] === "mount" && r[2] === "/etc/hosts");
  assert.deepEqual(plan[at], ["mount", "/etc/hosts", "/etc/hosts", "", String(MS.BIND | MS.REC), "", "file", "root"]);
  assert.deepEqual(plan[at + 1], ["mount", "", "/etc/hosts", "", String(MS.BIND | MS.REMOUNT | MS.RDONLY), "", "none", "root"]);
  assert.deepEqual(plan[at + 2], ["mount", "", "/etc/hosts", "", String(MS.PRIVATE | MS.REC), "", "none", "root"]);
});

test("invalid specs are refused with the JSON path", () => {
  assert.throws(() => planCreate(spec((c) => c.linux!.namespaces!.push({ type: "pid" })), opts), /namespace "pid" is listed twice/);
  assert.throws(() => planCreate(spec((c) => (c.linux!.namespaces = [{ type: "mount" }])), opts), /hostname: setting a hostname needs a new uts namespace/);
  assert.throws(
    () => planCreate(spec((c) => c.mounts!.push({ destination: "/x", type: "bind", source: "/nope" })), { ...opts, isDirectory: () => undefined }),
    /mounts\[\d+\]\.source: bind source \/nope does not exist/,
  );
  assert.throws(() => planCreate(spec((c) => c.mounts!.push({ destination: "/x", type: "tmpfs", options: ["rro"] })), opts), /unsupported mount option\(s\) rro/);
  assert.throws(() => planCreate(spec((c) => (c.process!.rlimits = [{ type: "RLIMIT_BOGUS", soft: 1, hard: 1 }])), opts), /unknown rlimit/);
});

test("exec joins every namespace of the container and its cgroups, then runs the process", () => {
  const c = spec();
  const plan = planExec(c, { ...c.process!, args: ["ps"] }, {
    mode: "foreground",
    targetPid: 42,
    namespaces: ["mount", "pid", "network", "uts"],
    terminal: "none",
    cgroupProcsFiles: ["/sys/fs/cgroup/pids/g/cgroup.procs", "/sys/fs/cgroup/unified/g/cgroup.procs"],
    cgroupUnified: "/sys/fs/cgroup/unified/g",
    capLastCap: 40,
  });
  assert.deepEqual(plan.filter((r) => r[0] === "setns").map((r) => r[1]), ["/proc/42/ns/uts", "/proc/42/ns/net", "/proc/42/ns/pid", "/proc/42/ns/mnt"]);
  // the joiner is cloned into the v2 group and moves itself into the v1 hierarchy: no pid written
  assert.deepEqual(plan.filter((r) => r[0] === "join-cgroup" || r[0] === "clone-into-cgroup"), [
    ["join-cgroup", "/sys/fs/cgroup/pids/g/tasks"],
    ["clone-into-cgroup", "/sys/fs/cgroup/unified/g"],
  ]);
  assert.ok(!ops(plan).includes("write-after-clone"));
  assert.deepEqual(plan.find((r) => r[0] === "clone"), ["clone", "0"]);
  assert.deepEqual(plan.find((r) => r[0] === "argv"), ["argv", "ps"]);
  assert.ok(!ops(plan).includes("wait-start"));
});

test("exec in monitor mode: attach socket, exit file, and a start barrier after the program lookup", () => {
  const c = spec();
  const plan = planExec(c, { ...c.process!, args: ["sh"], terminal: true }, {
    mode: "monitor",
    monitor: { logPath: "", attachSocket: "/run/e/a.sock" },
    exitFile: "/run/e/exit.json",
    startSocket: "/run/e/start.sock",
    targetPid: 42,
    namespaces: ["mount", "pid"],
    terminal: "monitor",
    cgroupProcsFiles: [],
    capLastCap: 40,
  });
  const o = ops(plan);
  assert.deepEqual(plan.slice(0, 5), [["mode", "monitor"], ["exit-file", "/run/e/exit.json", "fsync"], ["log", "", "0", "1"], ["attach-socket", "/run/e/a.sock"], ["start-socket", "/run/e/start.sock"]]);
  assert.ok(!o.includes("stdio"), "a terminal carries stdio");
  assert.ok(o.indexOf("console") < o.indexOf("lookup") && o.indexOf("lookup") < o.indexOf("wait-start") && o.indexOf("wait-start") < o.indexOf("exec"));
});

test("mount options: flags, propagation and data are separated", () => {
  const o = parseMountOptions(["nosuid", "noexec", "ro", "rw", "mode=755", "size=64k", "rslave"]);
  assert.equal(o.flags, MS.NOSUID | MS.NOEXEC);
  assert.deepEqual(o.propagation, [MS.SLAVE | MS.REC]);
  assert.equal(o.data, "mode=755,size=64k");
});

test("seccomp: numeric actions, default-action rules skipped, two conditions on one argument split", () => {
  const steps = planSeccomp({
    defaultAction: "SCMP_ACT_ERRNO",
    architectures: ["SCMP_ARCH_X86_64"],
    syscalls: [
      { names: ["read"], action: "SCMP_ACT_ALLOW" },
      { names: ["open"], action: "SCMP_ACT_ERRNO" },
      {
        names: ["personality"],
        action: "SCMP_ACT_ALLOW",
        args: [
          { index: 0, value: 0, op: "SCMP_CMP_EQ" },
          { index: 0, value: 8, op: "SCMP_CMP_EQ" },
        ],
      },
    ],
  });
  assert.deepEqual(steps, [
    ["seccomp-init", String(0x00050001)],
    ["seccomp-arch", "x86_64"],
    ["seccomp-rule", String(0x7fff0000), "read"],
    ["seccomp-rule", String(0x7fff0000), "personality", "0", "4", "0", "0"],
    ["seccomp-rule", String(0x7fff0000), "personality", "0", "4", "8", "0"],
    ["seccomp-load"],
  ]);
  assert.throws(() => planSeccomp({ defaultAction: "SCMP_ACT_BOGUS" }), /unknown seccomp action/);
});

test("wire records round-trip, including split chunks and non-ASCII fields", () => {
  const recs: PlanRecord[] = [["mount", "src", "/dst", "", "4096"], ["env", "GREETING=héllo", ""], ["end"]];
  const buf = encodeRecords(recs);
  const d = new RecordDecoder();
  const out: PlanRecord[] = [];
  for (let i = 0; i < buf.length; i += 7) out.push(...d.push(buf.subarray(i, i + 7)));
  assert.deepEqual(out, recs);
});

test("host mounts come first in the monitor section; unmount-on-exit needs a monitor that stays", () => {
  const overlay = { source: "overlay", target: "/c/merged", type: "overlay", data: "lowerdir=/l,upperdir=/u,workdir=/w", unmountOnExit: true };
  const plan = planCreate(defaultSpec(), { ...opts, mode: "monitor", monitor: { logPath: "/l", attachSocket: "/a" }, hostMounts: [overlay] });
  const at = plan.findIndex((r) => r[0] === "host-mount");
  assert.deepEqual(plan[at], ["host-mount", "overlay", "/c/merged", "overlay", "0", "lowerdir=/l,upperdir=/u,workdir=/w", "", "unmount-on-exit"]);
  assert.ok(at < plan.findIndex((r) => r[0] === "clone"));
  assert.throws(() => planCreate(defaultSpec(), { ...opts, mode: "detach", hostMounts: [overlay] }), /unmount-on-exit needs a monitor/);
});

test("an idmapped overlay is one monitor step with the maps as uid_map text and the lower dirs top first", () => {
  const maps = { uidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }], gidMappings: [{ containerID: 0, hostID: 200000, size: 1000 }] };
  const overlay = { idmapped: true as const, target: "/c/merged", lowerdirs: ["/l2", "/l1"], upperdir: "/u", workdir: "/w", ...maps, unmountOnExit: true };
  const plan = planCreate(defaultSpec(), { ...opts, mode: "monitor", monitor: { logPath: "/l", attachSocket: "/a" }, hostMounts: [overlay] });
  const at = plan.findIndex((r) => r[0] === "idmapped-overlay");
  assert.deepEqual(plan[at], ["idmapped-overlay", "/c/merged", "/u", "/w", "0 100000 65536\n", "0 200000 1000\n", "unmount-on-exit", "/l2", "/l1"]);
  assert.ok(at < plan.findIndex((r) => r[0] === "clone"));
  assert.equal(plan.some((r) => r[0] === "host-mount"), false);
  assert.equal(planProblem(plan), undefined);
});

test("run (no start socket): the process does not wait for start", () => {
  const plan = planCreate(defaultSpec(), { ...opts, startSocket: undefined });
  assert.equal(plan.some((r) => r[0] === "start-socket" || r[0] === "wait-start"), false);
  assert.ok(planCreate(defaultSpec(), opts).some((r) => r[0] === "wait-start"));
});

test("cgroup placement: the v2 group by the clone itself, each v1 hierarchy by the child writing 0 to its tasks file", () => {
  const steps = cgroupPlacement(["/sys/fs/cgroup/pids/gantry/x/cgroup.procs", "/sys/fs/cgroup/unified/gantry/x/cgroup.procs"], { unified: "/sys/fs/cgroup/unified/gantry/x" });
  assert.deepEqual(steps, [
    ["join-cgroup", "/sys/fs/cgroup/pids/gantry/x/tasks"],
    ["clone-into-cgroup", "/sys/fs/cgroup/unified/gantry/x"],
  ]);
  // cgroup v2 only (one group)
  assert.deepEqual(cgroupPlacement(["/sys/fs/cgroup/gantry/x/cgroup.procs"], { unified: "/sys/fs/cgroup/gantry/x" }), [["clone-into-cgroup", "/sys/fs/cgroup/gantry/x"]]);
});
