// The v2 device filter on the real kernel: the verifier accepts the program devices/ebpf.ts
// generates, and a process in the cgroup can open exactly the devices the rules allow. A
// small C fixture does the two bpf() calls the C helper will make in the product.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { deviceFilterProgram, deviceRules } from "../../src/runtime/cgroups/index.ts";
import { openV2Cgroup } from "../../src/runtime/cgroups/v2/driver.ts";
import type { LinuxResources } from "../../src/runtime/spec/oci.ts";
import { defer, killAndReap, prefix, sweep, unifiedRoot, v2SkipReason } from "./host.ts";

const skip = v2SkipReason();
const work = mkdtempSync(join(tmpdir(), "gantry-bpf-"));
after(() => {
  rmSync(work, { recursive: true, force: true });
  if (!skip) sweep();
});

function buildLoader(): string | undefined {
  const out = join(work, "bpf-device-loader");
  try {
    execFileSync("cc", ["-O2", "-Wall", "-o", out, join(import.meta.dirname, "bpf-device-loader.c")], { stdio: "pipe" });
    return out;
  } catch {
    return undefined;
  }
}

/** Runs `script` in a fresh v2 cgroup carrying the filter for `devices`; returns its stdout. */
async function runFiltered(t: Parameters<typeof defer>[0], name: string, devices: LinuxResources["devices"], loader: string, script: string): Promise<string> {
  const cg = openV2Cgroup({ mountPoint: unifiedRoot, root: "/" }, { cgroupPath: `/${prefix}-bpf${name}`, create: true });
  defer(t, () => cg.destroy());
  const prog = join(work, `${name}.bpf`);
  writeFileSync(prog, deviceFilterProgram(deviceRules({ devices }) ?? []).instructions);
  execFileSync(loader, [prog, cg.dir], { stdio: "pipe" });

  const child = spawn("sh", ["-c", `read go; ${script}`], { stdio: ["pipe", "pipe", "ignore"] });
  await once(child, "spawn");
  defer(t, () => killAndReap(child));
  writeFileSync(cg.procsFiles()[0]!, String(child.pid));
  let out = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  const exited = once(child, "exit");
  child.stdin!.end("go\n");
  await exited;
  return out.trim();
}

const probe = (dev: string, how: "r" | "w") =>
  how === "r"
    ? `if head -c1 ${dev} >/dev/null 2>&1; then echo ${dev}:r:ok; else echo ${dev}:r:denied; fi`
    : `if (echo x > ${dev}) 2>/dev/null; then echo ${dev}:w:ok; else echo ${dev}:w:denied; fi`;

test("eBPF device filter: the kernel loads it and enforces deny-all plus allowed devices", async (t) => {
  if (skip) return t.skip(skip);
  const loader = buildLoader();
  if (!loader) return t.skip("no C compiler to build the bpf() test fixture");
  // /dev/null is opened by the shell's own redirections, so it is allowed in every case.
  const out = await runFiltered(
    t,
    "allow",
    [
      { allow: false, access: "rwm" },
      { allow: true, type: "c", major: 1, minor: 3, access: "rwm" },
      { allow: true, type: "c", major: 1, minor: 5, access: "r" },
    ],
    loader,
    [probe("/dev/zero", "r"), probe("/dev/zero", "w"), probe("/dev/full", "w"), probe("/dev/urandom", "r")].join("; "),
  );
  assert.deepEqual(out.split("\n"), ["/dev/zero:r:ok", "/dev/zero:w:denied", "/dev/full:w:denied", "/dev/urandom:r:denied"]);
});

test("eBPF device filter: allow-all with one deny", async (t) => {
  if (skip) return t.skip(skip);
  const loader = buildLoader();
  if (!loader) return t.skip("no C compiler to build the bpf() test fixture");
  const out = await runFiltered(
    t,
    "deny",
    [
      { allow: true, access: "rwm" },
      { allow: false, type: "c", major: 1, minor: 5, access: "w" },
    ],
    loader,
    [probe("/dev/zero", "r"), probe("/dev/zero", "w"), probe("/dev/urandom", "r")].join("; "),
  );
  assert.deepEqual(out.split("\n"), ["/dev/zero:r:ok", "/dev/zero:w:denied", "/dev/urandom:r:ok"]);
});
