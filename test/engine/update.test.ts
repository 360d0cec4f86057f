// `docker update` (POST /containers/{id}/update) through the real docker CLI against `gantry
// daemon`: limits change in a running container's cgroup files while it runs (read here),
// persist in inspect and across a restart, a created container gets them at its start, the
// restart policy takes effect at the next exit, and bad input is refused with dockerd's
// words (checked against Debian's dockerd 20.10) leaving the container as it was.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { DOCKER, api, docker, gantry, skipReason, useTestDaemon, type TestDaemon } from "./_daemon.ts";

const skip = skipReason() ?? (existsSync(DOCKER) ? undefined : `${DOCKER} is not installed`);

/** A cgroup file of the container's process, found through /proc/PID/cgroup (v1 names first,
 * then the unified tree's v2 names). */
function cgroupValue(pid: number, v1: [controller: string, file: string], v2file: string): string {
  const lines = readFileSync(`/proc/${pid}/cgroup`, "utf8").split("\n").filter(Boolean);
  for (const line of lines) {
    const [, controllers, path] = line.split(":");
    if (controllers?.split(",").includes(v1[0])) return readFileSync(join("/sys/fs/cgroup", v1[0], path!, v1[1]), "utf8").trim();
  }
  const unified = lines.find((l) => l.startsWith("0::"))!.slice(3);
  return readFileSync(join("/sys/fs/cgroup", unified, v2file), "utf8").trim();
}

const memoryLimit = (pid: number) => cgroupValue(pid, ["memory", "memory.limit_in_bytes"], "memory.max");
/** v1 quota (v2 "quota period" is cut to its quota). */
const cpuQuota = (pid: number) => cgroupValue(pid, ["cpu", "cpu.cfs_quota_us"], "cpu.max").split(" ")[0];
const pidsMax = (pid: number) => cgroupValue(pid, ["pids", "pids.max"], "pids.max");

function pidOf(d: TestDaemon, name: string): number {
  return Number(docker(d, ["inspect", "-f", "{{.State.Pid}}", name]).stdout.trim());
}

function hostConfig(d: TestDaemon, name: string): Record<string, unknown> {
  return JSON.parse(docker(d, ["inspect", "-f", "{{json .HostConfig}}", name]).stdout) as Record<string, unknown>;
}

async function until(what: string, check: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("docker update against gantry daemon", { skip, concurrency: false }, () => {
  const d = useTestDaemon();

  it("changes memory and cpus of a running container in its cgroup files, kept by inspect and a restart", () => {
    const r = docker(d, ["run", "-d", "--name", "live", "--memory", "512m", "busybox", "sleep", "300"]);
    assert.equal(r.status, 0, r.stderr);
    const pid = pidOf(d, "live");
    assert.equal(memoryLimit(pid), String(512 * 1024 * 1024));
    assert.ok(["-1", "max"].includes(cpuQuota(pid)!), "no quota before the update");

    const u = docker(d, ["update", "--memory", "256m", "--cpus", "1", "live"]);
    assert.equal(u.status, 0, u.stderr);
    assert.equal(u.stdout.trim(), "live");
    assert.equal(pidOf(d, "live"), pid, "the same process, not a restart");
    assert.equal(memoryLimit(pid), String(256 * 1024 * 1024));
    assert.equal(cpuQuota(pid), "100000");
    const hc = hostConfig(d, "live");
    assert.equal(hc.Memory, 256 * 1024 * 1024);
    assert.equal(hc.NanoCpus, 1e9);
    assert.equal(hc.MemorySwap, 1024 * 1024 * 1024, "swap as create defaulted it (2 x 512m), untouched");

    const rs = docker(d, ["restart", "-t", "0", "live"]);
    assert.equal(rs.status, 0, rs.stderr);
    const pid2 = pidOf(d, "live");
    assert.notEqual(pid2, pid);
    assert.equal(memoryLimit(pid2), String(256 * 1024 * 1024));
    assert.equal(cpuQuota(pid2), "100000");
  });

  it("sets cpu-shares, cpuset, memory-reservation and pids-limit live; -1 lifts the pids limit", () => {
    assert.equal(docker(d, ["run", "-d", "--name", "knobs", "busybox", "sleep", "300"]).status, 0);
    const pid = pidOf(d, "knobs");
    const u = docker(d, ["update", "--cpu-shares", "512", "--cpuset-cpus", "0", "--pids-limit", "50", "knobs"]);
    assert.equal(u.status, 0, u.stderr);
    // v2: cpu.weight = 1 + (512 - 2) * 9999 / 262142, runc's map.
    assert.ok(["512", "20"].includes(cgroupValue(pid, ["cpu", "cpu.shares"], "cpu.weight")));
    assert.equal(cgroupValue(pid, ["cpuset", "cpuset.cpus"], "cpuset.cpus"), "0");
    assert.equal(pidsMax(pid), "50");
    let hc = hostConfig(d, "knobs");
    assert.equal(hc.CpuShares, 512);
    assert.equal(hc.CpusetCpus, "0");
    assert.equal(hc.PidsLimit, 50);
    // The pids limit is enforced: the 51st process cannot be made.
    const fork = docker(d, ["exec", "knobs", "sh", "-c", "for i in $(seq 1 60); do sleep 30 & done; wait"]);
    assert.notEqual(fork.status, 0);
    assert.match(fork.stdout + fork.stderr, /fork|Resource temporarily unavailable|can't/i);

    assert.equal(docker(d, ["update", "--pids-limit", "-1", "--memory-reservation", "100m", "knobs"]).status, 0);
    assert.equal(pidsMax(pid), "max");
    assert.equal(cgroupValue(pid, ["memory", "memory.soft_limit_in_bytes"], "memory.low"), String(100 * 1024 * 1024));
    hc = hostConfig(d, "knobs");
    assert.equal(hc.PidsLimit, 0);
    assert.equal(hc.MemoryReservation, 100 * 1024 * 1024);
  });

  it("refuses memory alone on a container without a swap limit as dockerd does; with --memory-swap it applies", () => {
    assert.equal(docker(d, ["run", "-d", "--name", "noswap", "busybox", "sleep", "300"]).status, 0);
    const pid = pidOf(d, "noswap");
    const before = memoryLimit(pid);
    const id = docker(d, ["inspect", "-f", "{{.Id}}", "noswap"]).stdout.trim();
    const r = docker(d, ["update", "--memory", "256m", "noswap"]);
    assert.equal(r.status, 1);
    assert.equal(
      r.stderr.trim(),
      `Error response from daemon: Cannot update container ${id}: Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time`,
    );
    assert.equal(memoryLimit(pid), before);
    assert.equal(hostConfig(d, "noswap").Memory, 0);
    const ok = docker(d, ["update", "--memory", "256m", "--memory-swap", "-1", "noswap"]);
    assert.equal(ok.status, 0, ok.stderr);
    assert.equal(memoryLimit(pid), String(256 * 1024 * 1024));
    assert.equal(hostConfig(d, "noswap").MemorySwap, -1);
  });

  it("refuses a memory limit below what the container uses (the kernel's EBUSY) and keeps the old one", () => {
    assert.equal(docker(d, ["run", "-d", "--name", "full", "--memory", "256m", "busybox", "sleep", "300"]).status, 0);
    const pid = pidOf(d, "full");
    // 20 MB of tmpfs pages: charged to the container and not reclaimable without swap.
    const fill = docker(d, ["exec", "full", "dd", "if=/dev/zero", "of=/dev/shm/fill", "bs=1M", "count=20"]);
    assert.equal(fill.status, 0, fill.stderr);
    const swapless = !existsSync("/proc/swaps") || readFileSync("/proc/swaps", "utf8").trim().split("\n").length <= 1;
    const r = docker(d, ["update", "--memory", "10m", "--memory-swap", "10m", "full"]);
    assert.equal(r.status, 1, r.stdout);
    if (swapless) assert.match(r.stderr, /Cannot update container [0-9a-f]{64}: unable to set memory limit to 10485760 \(current usage: \d+, peak usage: \d+\)/);
    else assert.match(r.stderr, /Cannot update container [0-9a-f]{64}: /);
    assert.equal(hostConfig(d, "full").Memory, 256 * 1024 * 1024, "the record keeps the old limit");
    assert.equal(memoryLimit(pid), String(256 * 1024 * 1024), "and so does the cgroup");
    assert.equal(docker(d, ["inspect", "-f", "{{.State.Status}}", "full"]).stdout.trim(), "running");
  });

  it("refuses bad values with dockerd's messages and statuses", async () => {
    assert.equal(docker(d, ["run", "-d", "--name", "bad", "--cpus", "1", "busybox", "sleep", "300"]).status, 0);
    const id = docker(d, ["inspect", "-f", "{{.Id}}", "bad"]).stdout.trim();
    const cases: [string[], string][] = [
      [["--memory", "3m"], "Minimum memory limit allowed is 6MB"],
      [["--memory", "256m", "--memory-swap", "128m"], "Minimum memoryswap limit should be larger than memory limit, see usage"],
      [["--cpu-period", "50000"], `Cannot update container ${id}: Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set`],
      [["--cpu-quota", "50000"], `Cannot update container ${id}: Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set`],
      [["--cpuset-cpus", "64"], "Requested CPUs are not available - requested 64"],
      [["--cpuset-mems", "7"], "Requested memory nodes are not available - requested 7"],
      [["--restart", "bogus"], "invalid restart policy 'bogus'"],
    ];
    for (const [flags, message] of cases) {
      const r = docker(d, ["update", ...flags, "bad"]);
      assert.equal(r.status, 1, `${flags.join(" ")}: ${r.stdout}`);
      assert.ok(r.stderr.includes(`Error response from daemon: ${message}`), `${flags.join(" ")}: ${r.stderr}`);
    }
    const missing = docker(d, ["update", "--cpus", "1", "nosuch"]);
    assert.match(missing.stderr, /No such container: nosuch/);
    // The API's statuses: 400 for a bad value, 409 for a clash with the container, 404.
    assert.equal((await api(d, "POST", "/v1.50/containers/bad/update", { Memory: 3_000_000 })).status, 400);
    assert.equal((await api(d, "POST", "/v1.50/containers/bad/update", { CpuPeriod: 50_000 })).status, 409);
    assert.equal((await api(d, "POST", "/v1.50/containers/nosuch/update", {})).status, 404);
    const ok = await api(d, "POST", "/v1.50/containers/bad/update", { CpuShares: 300 });
    assert.equal(ok.status, 200);
    assert.deepEqual(JSON.parse(ok.body), { Warnings: [] });
    const hc = hostConfig(d, "bad");
    assert.equal(hc.NanoCpus, 1e9);
    assert.equal(hc.CpuPeriod, 0);
    assert.equal(hc.CpuShares, 300);
  });

  it("a created container gets the new limits at its start; blkio weight follows the kernel", () => {
    assert.equal(docker(d, ["create", "--name", "later", "--memory", "64m", "busybox", "sleep", "300"]).status, 0);
    const u = docker(d, ["update", "--memory", "96m", "--pids-limit", "20", "--blkio-weight", "300", "later"]);
    assert.equal(u.status, 0, u.stderr);
    const blkioSupported = existsSync("/sys/fs/cgroup/blkio/blkio.weight") || existsSync("/sys/fs/cgroup/blkio/blkio.bfq.weight");
    if (!blkioSupported) {
      // dockerd discards it with this warning rather than fail.
      assert.match(u.stdout + u.stderr, /Your kernel does not support Block I\/O weight or the cgroup is not mounted\. Weight discarded\./);
      assert.equal(hostConfig(d, "later").BlkioWeight, 0);
    } else assert.equal(hostConfig(d, "later").BlkioWeight, 300);
    assert.equal(docker(d, ["start", "later"]).status, 0);
    const pid = pidOf(d, "later");
    assert.equal(memoryLimit(pid), String(96 * 1024 * 1024));
    assert.equal(pidsMax(pid), "20");
  });

  it("a new restart policy applies at the next exit; an AutoRemove container refuses one", async () => {
    assert.equal(docker(d, ["create", "--name", "flaky", "busybox", "sh", "-c", "exit 3"]).status, 0);
    const u = docker(d, ["update", "--restart", "on-failure:2", "flaky"]);
    assert.equal(u.status, 0, u.stderr);
    assert.deepEqual(hostConfig(d, "flaky").RestartPolicy, { Name: "on-failure", MaximumRetryCount: 2 });
    assert.equal(docker(d, ["start", "flaky"]).status, 0);
    await until("two restarts", () => docker(d, ["inspect", "-f", "{{.RestartCount}} {{.State.Status}}", "flaky"]).stdout.trim() === "2 exited");
    assert.equal(docker(d, ["inspect", "-f", "{{.State.ExitCode}}", "flaky"]).stdout.trim(), "3");

    assert.equal(docker(d, ["run", "-d", "--rm", "--name", "gone", "busybox", "sleep", "300"]).status, 0);
    const id = docker(d, ["inspect", "-f", "{{.Id}}", "gone"]).stdout.trim();
    const r = docker(d, ["update", "--restart", "always", "gone"]);
    assert.equal(r.status, 1);
    assert.equal(r.stderr.trim(), `Error response from daemon: Cannot update container ${id}: Restart policy cannot be updated because AutoRemove is enabled for the container`);
    assert.equal(docker(d, ["rm", "-f", "gone"]).status, 0);
  });

  it("gantry update (Gantry's own client) sends the same request", () => {
    assert.equal(docker(d, ["run", "-d", "--name", "own", "busybox", "sleep", "300"]).status, 0);
    const pid = pidOf(d, "own");
    const r = gantry(d, ["update", "--memory", "300m", "--memory-swap", "600m", "--pids-limit", "33", "--restart", "unless-stopped", "own"]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), "own");
    assert.equal(memoryLimit(pid), String(300 * 1024 * 1024));
    assert.equal(pidsMax(pid), "33");
    assert.equal((hostConfig(d, "own").RestartPolicy as { Name: string }).Name, "unless-stopped");
    const none = gantry(d, ["update", "own"]);
    assert.notEqual(none.status, 0);
    assert.match(none.stderr, /you must provide one or more flags/);
    const bad = gantry(d, ["update", "--memory", "256m", "own", "nosuch"]);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /No such container: nosuch/);
  });
});
