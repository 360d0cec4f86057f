// `gantry explain` and the glass box against a real daemon: containers made with the docker
// CLI (a memory limit, a dropped capability, a sysctl, a read-only root), their recorded
// kernel steps read back through the engine API and the gantry CLI with the actual values
// and cgroup paths, the live namespace table compared with readlink /proc/PID/ns/*, and the
// errors for a container that does not exist.
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { DOCKER, api, docker, gantry, skipReason, useTestDaemon } from "./_daemon.ts";

const skip = skipReason() ?? (existsSync(DOCKER) ? undefined : `${DOCKER} is not installed`);

interface Step {
  step: string;
  by: string;
  when: string;
  done: boolean;
  [k: string]: unknown;
}

interface Glass {
  pid: number;
  namespaces: { type: string; inode: number; path: string; sharedWith: string[] }[];
  cgroup: { path: string; paths: Record<string, string>; files: { name: string; value: string; path: string }[] };
  uidMap: string[];
  gidMap: string[];
}

describe("gantry explain: the kernel steps recorded at create, and the glass box", { skip, concurrency: false }, () => {
  const d = useTestDaemon();
  after(() => {
    docker(d, ["rm", "-f", "ex1", "ex2", "ex3"]);
  });

  async function getJson<T>(path: string): Promise<T> {
    const r = await api(d, "GET", path);
    assert.equal(r.status, 200, r.body);
    return JSON.parse(r.body) as T;
  }

  it("shows the memory limit's cgroup file, the capabilities kept, the sysctl, the read-only root and seccomp with their values", async () => {
    const run = docker(d, ["run", "-d", "--name", "ex1", "--memory", "64m", "--cap-drop", "NET_RAW", "--sysctl", "kernel.shm_rmid_forced=1", "--read-only", "--hostname", "glassy", "busybox", "sleep", "300"]);
    assert.equal(run.status, 0, run.stderr);
    const id = run.stdout.trim();
    const { steps, pid } = await getJson<{ steps: Step[]; pid: number }>("/gantry/containers/ex1/explain");
    const glass = await getJson<Glass>("/gantry/containers/ex1/glass");
    assert.equal(pid, glass.pid, "recorded for the process that runs");
    const at = (name: string, pred: (s: Step) => boolean = () => true) => steps.findIndex((s) => s.step === name && pred(s));

    // The memory limit: the file the runtime wrote, in the container's own cgroup, with the value
    // the kernel holds now.
    const mem = steps.find((s) => s.step === "cgroup-write" && /\/memory\.(limit_in_bytes|max)$/.test(String(s.path)));
    assert.ok(mem, JSON.stringify(steps.filter((s) => s.step.startsWith("cgroup"))));
    assert.equal(mem.value, String(64 * 1024 * 1024));
    assert.equal(mem.by, "runtime");
    const memDir = glass.cgroup.paths.memory ?? glass.cgroup.paths.unified!;
    assert.ok(String(mem.path).startsWith(`${memDir}/`), `${String(mem.path)} is in ${memDir}`);
    assert.ok(String(mem.path).includes(id), "the container's own cgroup");
    assert.equal(readFileSync(String(mem.path), "utf8").trim(), String(64 * 1024 * 1024));
    assert.ok(glass.cgroup.files.some((f) => f.path === mem.path && f.value === String(64 * 1024 * 1024)), "the glass shows the same file");
    const mkdir = at("cgroup-mkdir", (s) => s.path === memDir);
    assert.ok(mkdir >= 0 && mkdir < steps.indexOf(mem), "the directory was made before the write");
    // The process is in that cgroup: put there by the clone (v2: its real pid), or it moved
    // itself ("0" to the v1 hierarchy's tasks file, before its other steps).
    const procs = steps.find((s) => s.step === "cgroup-write" && (s.path === `${memDir}/cgroup.procs` || s.path === `${memDir}/tasks`));
    if (procs?.path === `${memDir}/tasks`) assert.deepEqual([procs.value, procs.by], ["0", "container"]);
    else assert.deepEqual([procs?.value, procs?.by], [String(pid), "monitor"]);
    assert.ok(readFileSync(`${memDir}/cgroup.procs`, "utf8").split("\n").includes(String(pid)), "the kernel has it there");

    const clone = steps[at("clone")]!;
    for (const f of ["CLONE_NEWNS", "CLONE_NEWPID", "CLONE_NEWUTS", "CLONE_NEWIPC"]) assert.ok((clone.flags as string[]).includes(f), `${f} in ${String(clone.flags)}`);

    const caps = steps[at("capabilities")]!;
    assert.ok(!(caps.bounding as string[]).includes("CAP_NET_RAW"), "NET_RAW dropped");
    assert.ok((caps.bounding as string[]).includes("CAP_CHOWN"), "Docker's defaults kept");
    const statusCaps = /CapBnd:\s+([0-9a-f]+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]!;
    assert.equal((BigInt(`0x${statusCaps}`) >> 13n) & 1n, 0n, "and the kernel agrees: bit 13 (CAP_NET_RAW) is not in CapBnd");

    const sysctl = steps[at("sysctl")]!;
    assert.deepEqual([sysctl.key, sysctl.value, sysctl.path], ["kernel.shm_rmid_forced", "1", "/proc/sys/kernel/shm_rmid_forced"]);
    assert.equal(docker(d, ["exec", "ex1", "cat", "/proc/sys/kernel/shm_rmid_forced"]).stdout.trim(), "1");

    const remount = steps[at("remount", (s) => s.path === "/")];
    assert.ok(remount && (remount.flags as string[]).includes("MS_RDONLY"), "the read-only root");
    assert.equal(steps[at("hostname")]!.name, "glassy");
    // Gantry's builtin profile is a deny list: allow by default, EPERM for what it names.
    const seccomp = steps[at("seccomp")]!;
    assert.equal(seccomp.defaultAction, "SCMP_ACT_ALLOW");
    assert.ok(Number(seccomp.rules) > 20, `the builtin profile's rules, got ${String(seccomp.rules)}`);
    assert.match(readFileSync(`/proc/${pid}/status`, "utf8"), /^Seccomp:\s+2$/m, "and the kernel holds a filter");
    assert.ok(at("no-new-privs") < 0 || at("no-new-privs") < at("exec"));

    // Order as executed: cgroups, clone, the child's mounts, pivot_root, the remount, caps, exec.
    const order = [at("cgroup-mkdir"), at("clone"), at("mount", (s) => s.target === "/proc"), at("pivot-root"), at("remount"), at("capabilities"), at("exec")];
    assert.deepEqual([...order].sort((a, b) => a - b), order, `order ${order.join(",")}`);
    assert.ok(order.every((i) => i >= 0));
    assert.ok(steps.every((s) => s.done), "a running container ran every step");
    assert.equal(steps[at("exec")]!.when, "start", "docker run's start let the process exec");

    // The CLI prints the same steps as lines.
    const text = gantry(d, ["explain", "ex1"]);
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, /sysctl kernel\.shm_rmid_forced=1 \(write \/proc\/sys\/kernel\/shm_rmid_forced\)/);
    assert.match(text.stdout, new RegExp(`write "67108864" > ${String(mem.path).replace(/[.]/g, "\\.")}`));
    assert.match(text.stdout, /remount \/ \(MS_RDONLY\)/);
    assert.match(text.stdout, /pivot_root\(/);
    assert.match(text.stdout, /seccomp filter: default SCMP_ACT_ALLOW, \d+ rules over \d+ syscalls/);
    assert.match(text.stdout, /^ {2}mnt +mnt:\[\d+\] +own$/m);

    // docker update writes the cgroups again: those writes join the record, after the rest.
    const upd = docker(d, ["update", "--memory", "96m", "--memory-swap", "192m", "ex1"]);
    assert.equal(upd.status, 0, upd.stderr);
    const later = (await getJson<{ steps: Step[] }>("/gantry/containers/ex1/explain")).steps;
    assert.deepEqual(later.slice(0, steps.length), steps, "what create recorded stays");
    const updated = later.slice(steps.length);
    assert.ok(updated.length > 0 && updated.every((s) => s.when === "update" && s.done && s.step === "cgroup-write"));
    const newLimit = updated.find((s) => s.path === mem.path);
    assert.equal(newLimit?.value, String(96 * 1024 * 1024));
    assert.equal(readFileSync(String(mem.path), "utf8").trim(), String(96 * 1024 * 1024));
    assert.match(gantry(d, ["explain", "ex1"]).stdout, /write "100663296" > \S+\/memory\.(limit_in_bytes|max)  \[update at /);
  });

  it("glass: the namespace inodes are readlink /proc/PID/ns/*, and a shared pid namespace names who shares it", async () => {
    assert.equal(docker(d, ["run", "-d", "--name", "ex2", "--pid", "container:ex1", "busybox", "sleep", "300"]).status, 0);
    const glass = await getJson<Glass>("/gantry/containers/ex1/glass");
    assert.ok(glass.namespaces.length >= 6);
    for (const ns of glass.namespaces) {
      assert.equal(readlinkSync(`/proc/${glass.pid}/ns/${ns.type}`), `${ns.type}:[${ns.inode}]`);
      assert.equal(ns.path, `/proc/${glass.pid}/ns/${ns.type}`);
    }
    const byType = new Map(glass.namespaces.map((n) => [n.type, n]));
    assert.deepEqual(byType.get("pid")!.sharedWith, ["ex2"]);
    assert.deepEqual(byType.get("mnt")!.sharedWith, []);
    assert.deepEqual(byType.get("user")!.sharedWith, ["ex2", "host"], "no user namespace: the host's");
    // ex2's recorded steps joined ex1's pid namespace through setns, naming ex1.
    const { steps } = await getJson<{ steps: Step[] }>("/gantry/containers/ex2/explain");
    const joined = steps.find((s) => s.step === "setns" && s.namespace === "pid");
    assert.equal(joined?.path, `/proc/${glass.pid}/ns/pid`);
    assert.equal(joined?.sharedWith, "ex1");

    // Placed without a pid written: ex2 (through a namespace joiner) is in its own cgroup in
    // every hierarchy, and a process exec'd in ex1 is in ex1's, as the kernel reports them.
    const cgroupsOf = (pid: string | number) => readFileSync(`/proc/${pid}/cgroup`, "utf8").trim().split("\n");
    const ex2 = await getJson<Glass>("/gantry/containers/ex2/glass");
    const ex2Id = docker(d, ["inspect", "-f", "{{.Id}}", "ex2"]).stdout.trim();
    const ex2Lines = cgroupsOf(ex2.pid);
    assert.ok(ex2Lines.length > 1 && ex2Lines.every((l) => l.endsWith(`/${ex2Id}`)), ex2Lines.join("\n"));
    assert.equal(docker(d, ["exec", "-d", "ex1", "sleep", "321"]).status, 0);
    let execPid = "";
    for (let i = 0; i < 50 && !execPid; i++) {
      execPid = docker(d, ["top", "ex1", "-o", "pid,args"]).stdout.split("\n").find((l) => /sleep 321/.test(l))?.trim().split(/\s+/)[0] ?? "";
      if (!execPid) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(execPid, "the exec'd process is listed by docker top");
    assert.deepEqual(cgroupsOf(execPid), cgroupsOf(glass.pid), "the exec'd process is in the container's cgroups");
  });

  it("seccomp=unconfined records no filter; a created container has no steps yet; explain of one that does not exist is 404", async () => {
    const run = docker(d, ["run", "-d", "--name", "ex3", "--security-opt", "seccomp=unconfined", "busybox", "sleep", "300"]);
    assert.equal(run.status, 0, run.stderr);
    const { steps } = await getJson<{ steps: Step[] }>("/gantry/containers/ex3/explain");
    assert.ok(steps.some((s) => s.step === "exec"));
    assert.ok(!steps.some((s) => s.step === "seccomp"), "no filter loaded");
    // Kept beside the runtime's state of the container, and removed with it.
    const record = join(d.execRoot, "runtime", run.stdout.trim(), "explain.json");
    assert.ok(existsSync(record), record);
    assert.equal(docker(d, ["rm", "-f", "ex3"]).status, 0);
    assert.ok(!existsSync(record), "gone with the container");
    // The engine makes the runtime's container at start: a created one has nothing recorded.
    assert.equal(docker(d, ["create", "--name", "ex3", "busybox", "true"]).status, 0);
    const created = await api(d, "GET", "/gantry/containers/ex3/explain");
    assert.equal(created.status, 409);
    assert.match(created.body, /Container ex3 has no runtime state/);
    const glass = await api(d, "GET", "/gantry/containers/ex3/glass");
    assert.equal(glass.status, 409, "nothing runs to look at");
    assert.match(glass.body, /Container ex3 is not running/);

    const missing = await api(d, "GET", "/gantry/containers/nope/explain");
    assert.equal(missing.status, 404);
    assert.match(missing.body, /No such container: nope/);
    const cli = gantry(d, ["explain", "nope"]);
    assert.notEqual(cli.status, 0);
    assert.match(cli.stderr, /No such container: nope/);
    assert.equal(docker(d, ["rm", "-f", "ex3"]).status, 0);
  });
});
