import { test } from "node:test";
import assert from "node:assert/strict";
import type { ContainerSummary, StatsSample } from "../../../engine/index.ts";
import { fmtBytes, psRow, statsRow } from "./rows.ts";
import { containerPath } from "./io.ts";
import { eventLine } from "./inspect.ts";
import { startFailureExitCode } from "./run.ts";

test("fmtBytes prints binary units with at most two decimals", () => {
  assert.equal(fmtBytes(0), "0B");
  assert.equal(fmtBytes(1023), "1023B");
  assert.equal(fmtBytes(1536), "1.5KiB");
  assert.equal(fmtBytes(64 * 1024 * 1024), "64MiB");
  assert.equal(fmtBytes(1.234 * 1024 ** 3), "1.23GiB");
});

test("a ps row: short ID and command unless --no-trunc, names without the slash", () => {
  const c: ContainerSummary = { Id: "a".repeat(64), Names: ["/web", "/alias"], Image: "busybox", Command: "sh -c 'sleep 1000; echo done'", Created: 1_700_000_000, State: "running", Status: "Up 2 minutes", Labels: { a: "b" } };
  const now = 1_700_000_000_000 + 3 * 3600_000;
  const row = psRow(c, true, now);
  assert.equal(row.ID, "a".repeat(12));
  assert.equal(row.Command, `"sh -c 'sleep 1000; …"`);
  assert.equal(row.Names, "web,alias");
  assert.equal(row.Labels, "a=b");
  assert.equal(row.RunningFor, "3 hours ago");
  const full = psRow(c, false, now);
  assert.equal(full.ID, c.Id);
  assert.equal(full.Command, `"${c.Command}"`);
});

test("a stats row: CPU % from the two samples' deltas, memory without inactive page cache", () => {
  const s: StatsSample = {
    id: "b".repeat(64),
    name: "/web",
    cpu_stats: { cpu_usage: { total_usage: 3_000 }, system_cpu_usage: 20_000, online_cpus: 2 },
    precpu_stats: { cpu_usage: { total_usage: 1_000 }, system_cpu_usage: 10_000 },
    memory_stats: { usage: 3 * 1024 * 1024, limit: 8 * 1024 * 1024, stats: { inactive_file: 1024 * 1024 } },
    pids_stats: { current: 3 },
  };
  assert.deepEqual(statsRow(s), { ID: "b".repeat(12), Name: "web", CPUPerc: "40.00%", MemUsage: "2MiB / 8MiB", MemPerc: "25.00%", PIDs: "3" });
  const idle = statsRow({ ...s, cpu_stats: s.precpu_stats, memory_stats: {}, pids_stats: {} });
  assert.equal(idle.CPUPerc, "0.00%");
  assert.equal(idle.MemPerc, "0.00%");
});

test("cp operands: CONTAINER:PATH, else a host path", () => {
  assert.deepEqual(containerPath("web:/etc/hosts"), { container: "web", path: "/etc/hosts" });
  assert.equal(containerPath("/tmp/a:b"), undefined);
  assert.equal(containerPath("./a:b"), undefined);
  assert.equal(containerPath("plain"), undefined);
});

test("an event line and run's exit codes on a failed start are Docker's", () => {
  assert.equal(eventLine({ Type: "container", Action: "start", Actor: { ID: "abc", Attributes: { name: "web", image: "busybox" } }, timeNano: 1_700_000_000_000_000_000 }), "2023-11-14T22:13:20.000Z container start abc (name=web, image=busybox)");
  assert.equal(startFailureExitCode('exec: "nope": executable file not found in $PATH'), 127);
  assert.equal(startFailureExitCode("open /x: permission denied"), 126);
  assert.equal(startFailureExitCode("cgroup: Requested CPUs are not available"), 125);
});
