// Shared setup for the cgroup kernel tests: skip reasons, unique names, a sleeping process
// to put into cgroups, and a sweep that removes whatever a failed test left behind.
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { once } from "node:events";
import type { TestContext } from "node:test";
import type { CgroupManager } from "../../src/runtime/cgroups/index.ts";
import { detectCgroupVersion } from "../../src/runtime/cgroups/index.ts";
import { parseMountinfo, unifiedMount, v1Hierarchies } from "../../src/runtime/cgroups/hierarchy.ts";

export const prefix = `gantry-test-${process.pid}`;

/** Why kernel tests cannot run here, or undefined when they can. */
export function v1SkipReason(): string | undefined {
  if (process.getuid?.() !== 0) return "needs root to create cgroups";
  if (detectCgroupVersion() !== 1) return "host is not cgroup v1";
  return undefined;
}

export const unifiedRoot = "/sys/fs/cgroup/unified";

export function v2SkipReason(): string | undefined {
  if (process.getuid?.() !== 0) return "needs root to create cgroups";
  if (!existsSync(join(unifiedRoot, "cgroup.controllers"))) return `no cgroup2 mount at ${unifiedRoot}`;
  return undefined;
}

export function read(path: string): string {
  return readFileSync(path, "utf8").trim();
}

/**
 * Cleanups for one test, run last-in first-out after it, pass or fail: processes die before
 * their cgroup is removed.
 */
const cleanups = new WeakMap<TestContext, Array<() => unknown>>();
export function defer(t: TestContext, fn: () => unknown): void {
  let list = cleanups.get(t);
  if (!list) {
    const fresh: Array<() => unknown> = [];
    cleanups.set(t, fresh);
    t.after(async () => {
      for (const f of fresh.reverse()) await f();
    });
    list = fresh;
  }
  list.push(fn);
}

/**
 * A shell that waits for a line on stdin, so it is in the cgroup before `script` runs,
 * then runs it. Killed after the test.
 */
export async function shellInCgroup(t: TestContext, cg: CgroupManager, script: string): Promise<ChildProcess & { pid: number }> {
  const child = spawn("sh", ["-c", `read go; ${script}`], { stdio: ["pipe", "ignore", "ignore"] });
  await once(child, "spawn");
  defer(t, () => killAndReap(child));
  for (const f of cg.procsFiles()) writeFileSync(f, String(child.pid));
  child.stdin?.end("go\n");
  return child as ChildProcess & { pid: number };
}

export async function waitFor(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A process that sleeps until killed. */
export async function sleeper(): Promise<ChildProcess & { pid: number }> {
  const child = spawn("sleep", ["600"], { stdio: "ignore" });
  await once(child, "spawn");
  return child as ChildProcess & { pid: number };
}

export async function killAndReap(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  child.kill("SIGKILL");
  await exited;
}

/** Every cgroup mount point on this host. */
function mountPoints(): string[] {
  const mounts = parseMountinfo(readFileSync("/proc/self/mountinfo", "utf8"));
  const out = v1Hierarchies(mounts).map((h) => h.mountPoint);
  const u = unifiedMount(mounts);
  if (u) out.push(u.mountPoint);
  return out;
}

function removeTree(dir: string): void {
  for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) removeTree(join(dir, e.name));
  // Kill anything a failed test left inside, then thaw so it can die, then rmdir.
  for (const pid of read(join(dir, "cgroup.procs")).split("\n").filter(Boolean)) {
    try {
      process.kill(Number(pid), "SIGKILL");
    } catch {
      // already gone
    }
  }
  if (existsSync(join(dir, "freezer.state"))) writeFileSync(join(dir, "freezer.state"), "THAWED");
  if (existsSync(join(dir, "cgroup.freeze"))) writeFileSync(join(dir, "cgroup.freeze"), "0");
  for (let i = 0; i < 50; i++) {
    try {
      rmdirSync(dir);
      return;
    } catch {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    }
  }
}

/** Removes every cgroup named with this test run's prefix, in every hierarchy. */
export function sweep(): void {
  for (const mp of mountPoints()) {
    for (const e of readdirSync(mp, { withFileTypes: true })) {
      if (e.isDirectory() && e.name.startsWith(prefix)) removeTree(join(mp, e.name));
    }
  }
}

/** Every pid's cgroup lines: controller list -> path. */
export function procCgroup(pid: number): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of read(`/proc/${pid}/cgroup`).split("\n")) {
    const [, controllers, path] = /^\d+:([^:]*):(.*)$/.exec(line) ?? [];
    if (controllers !== undefined && path !== undefined) out.set(controllers, path);
  }
  return out;
}

/** "MAJ:MIN" of a real (non-loop, non-zram) block device, for blkio throttles. */
export function realBlockDevice(): { major: number; minor: number } | undefined {
  for (const name of readdirSync("/sys/block")) {
    if (name.startsWith("loop") || name.startsWith("zram") || name.startsWith("ram")) continue;
    const [major, minor] = read(`/sys/block/${name}/dev`).split(":").map(Number);
    if (major !== undefined && minor !== undefined) return { major, minor };
  }
  return undefined;
}
