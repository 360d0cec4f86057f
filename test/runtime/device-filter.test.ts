// cgroup v2 device control: the helper loads the TypeScript-generated BPF program and
// attaches it to a cgroup; a process in that cgroup may open only the allowed devices.
// Runs on the host's cgroup2 mount (/sys/fs/cgroup on v2 hosts, /sys/fs/cgroup/unified on hybrid ones).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, rmdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { deviceFilterProgram } from "../../src/runtime/cgroups/index.ts";
import { encodeRecords, type PlanRecord } from "../../src/runtime/plan/wire.ts";
import { REPO } from "../helpers/busybox-bundle.ts";

function cgroup2Root(): string | undefined {
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    const parts = line.split(" ");
    const sep = parts.indexOf("-");
    if (sep > 0 && parts[sep + 1] === "cgroup2") return parts[4];
  }
  return undefined;
}

const root = cgroup2Root();
const helper = join(REPO, "native/build/gantry-helper");
const skip = process.getuid?.() !== 0 ? "needs root" : !root ? "no cgroup2 mount" : !existsSync(helper) ? "helper not built" : undefined;

test("a BPF device filter allows /dev/null and denies /dev/zero", { skip }, () => {
  const dir = join(root!, `gantry-test-devfilter-${process.pid}`);
  const work = mkdtempSync(join(tmpdir(), "gantry-devfilter-"));
  mkdirSync(dir);
  try {
    const program = deviceFilterProgram([{ allow: true, type: "c", major: 1, minor: 3, access: "rwm" }]);
    const plan: PlanRecord[] = [
      ["mode", "foreground"],
      ["bpf-device-filter", dir, program.instructions.toString("hex"), program.license],
      ["clone", "0"],
      ["write-after-clone", join(dir, "cgroup.procs"), "$PID"],
      ["child"],
      ["argv", "/bin/sh", "-c", "cat /dev/null && echo null-allowed; head -c1 /dev/zero >/dev/null 2>&1 || echo zero-denied"],
      ["env", "PATH=/usr/bin:/bin"],
      ["lookup"],
      ["exec", "0"],
      ["end"],
    ];
    const planFile = join(work, "plan.bin");
    writeFileSync(planFile, encodeRecords(plan));
    const r = spawnSync(helper, ["--plan", planFile], { encoding: "utf8", timeout: 20_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split("\n"), ["null-allowed", "zero-denied"]);
  } finally {
    rmdirSync(dir);
    rmSync(work, { recursive: true, force: true });
  }
});
