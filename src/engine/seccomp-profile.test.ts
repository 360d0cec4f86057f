import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { builtinSeccompProfile, parseSeccompProfile, seccompFor } from "./seccomp-profile.ts";
import { planSeccomp } from "../runtime/index.ts";
import { DEFAULT_CAPS } from "./oci-spec.ts";

const denied = (p: ReturnType<typeof builtinSeccompProfile>) => new Set((p.syscalls ?? []).flatMap((r) => r.names));

/** personality's rules are alternatives of masked comparisons: evaluate them for one value. */
function personalityDenied(p: ReturnType<typeof builtinSeccompProfile>, value: number): boolean {
  return (p.syscalls ?? [])
    .filter((r) => r.names.includes("personality"))
    .some((r) => (r.args ?? []).every((a) => Number(BigInt(value) & BigInt(a.value)) === a.valueTwo));
}

describe("builtin seccomp profile", () => {
  it("denies Docker's blocked syscalls with EPERM and allows everything else", () => {
    const p = builtinSeccompProfile(DEFAULT_CAPS);
    assert.equal(p.defaultAction, "SCMP_ACT_ALLOW");
    const names = denied(p);
    for (const n of ["mount", "umount2", "unshare", "setns", "pivot_root", "init_module", "kexec_load", "reboot", "swapon", "bpf", "perf_event_open",
      "ptrace", "process_vm_readv", "keyctl", "add_key", "acct", "settimeofday", "clock_settime", "clock_adjtime", "userfaultfd", "open_by_handle_at",
      "quotactl", "iopl", "ioperm", "lookup_dcookie"]) {
      assert.ok(names.has(n), `${n} is denied`);
    }
    for (const n of ["read", "mkdir", "chroot", "clock_gettime", "sethostname"]) assert.ok(!names.has(n), `${n} is allowed`);
    for (const r of p.syscalls ?? []) assert.ok(r.action === "SCMP_ACT_ERRNO" && (r.errnoRet === 1 || r.names[0] === "clone3"));
    // namespace flags of clone, and clone3 (ENOSYS: libc falls back to clone)
    assert.equal((p.syscalls ?? []).filter((r) => r.names[0] === "clone").length, 7);
    assert.equal((p.syscalls ?? []).find((r) => r.names[0] === "clone3")?.errnoRet, 38);
  });

  it("lifts a group when the container holds its capability", () => {
    const admin = denied(builtinSeccompProfile([...DEFAULT_CAPS, "CAP_SYS_ADMIN"]));
    for (const n of ["mount", "unshare", "setns", "clone", "clone3", "bpf"]) assert.ok(!admin.has(n), `${n} with SYS_ADMIN`);
    assert.ok(admin.has("ptrace") && admin.has("keyctl"));
    const ptrace = denied(builtinSeccompProfile([...DEFAULT_CAPS, "CAP_SYS_PTRACE"]));
    assert.ok(!ptrace.has("ptrace") && !ptrace.has("process_vm_writev") && ptrace.has("mount"));
    assert.ok(!denied(builtinSeccompProfile(["CAP_SYS_TIME"])).has("clock_settime"));
    assert.ok(!denied(builtinSeccompProfile(["CAP_SYS_MODULE"])).has("init_module"));
  });

  it("allows only the default personality values", () => {
    const p = builtinSeccompProfile(DEFAULT_CAPS);
    for (const v of [0, 0x8, 0x20000, 0x20008, 0xffffffff]) assert.equal(personalityDenied(p, v), false, v.toString(16));
    for (const v of [0x1, 0x40000, 0x0400000, 0x0040008, 0x80000000, 0xfffffffe]) assert.equal(personalityDenied(p, v), true, v.toString(16));
  });

  it("plans into helper steps", () => {
    const steps = planSeccomp(builtinSeccompProfile(DEFAULT_CAPS));
    assert.deepEqual(steps[0], ["seccomp-init", String(0x7fff0000)]);
    assert.ok(steps.some((s) => s[0] === "seccomp-rule" && s[2] === "unshare"));
  });
});

describe("seccomp option and user profiles", () => {
  it("is off when privileged or unconfined, builtin otherwise", () => {
    assert.equal(seccompFor(undefined, true, DEFAULT_CAPS), undefined);
    assert.equal(seccompFor("unconfined", false, DEFAULT_CAPS), undefined);
    assert.equal(seccompFor(undefined, false, DEFAULT_CAPS)?.defaultAction, "SCMP_ACT_ALLOW");
    assert.equal(seccompFor("builtin", false, DEFAULT_CAPS)?.defaultAction, "SCMP_ACT_ALLOW");
  });

  it("reads Docker's profile format: names/name, includes and excludes by capability", () => {
    const p = parseSeccompProfile(
      JSON.stringify({
        defaultAction: "SCMP_ACT_ERRNO",
        defaultErrnoRet: 1,
        syscalls: [
          { names: ["read", "write"], action: "SCMP_ACT_ALLOW" },
          { name: "mount", action: "SCMP_ACT_ALLOW", includes: { caps: ["CAP_SYS_ADMIN"] } },
          { names: ["ptrace"], action: "SCMP_ACT_ALLOW", excludes: { caps: ["CAP_CHOWN"] } },
          { names: ["personality"], action: "SCMP_ACT_ALLOW", args: [{ index: 0, value: 8, op: "SCMP_CMP_EQ" }] },
        ],
      }),
      DEFAULT_CAPS,
    );
    assert.equal(p.defaultErrnoRet, 1);
    assert.deepEqual(p.syscalls?.map((s) => s.names[0]), ["read", "personality"]);
    assert.deepEqual(p.syscalls?.[1]?.args, [{ index: 0, value: 8, op: "SCMP_CMP_EQ" }]);
  });

  it("refuses a bad profile with the place of the problem", () => {
    assert.throws(() => parseSeccompProfile("{", DEFAULT_CAPS), /invalid seccomp profile: not JSON/);
    assert.throws(() => parseSeccompProfile("/etc/profile.json", DEFAULT_CAPS), /expected the profile's JSON/);
    assert.throws(() => parseSeccompProfile('{"defaultAction":"SCMP_ACT_ALOW"}', DEFAULT_CAPS), /defaultAction: unknown action "SCMP_ACT_ALOW"/);
    assert.throws(
      () => parseSeccompProfile('{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":1,"op":"LT"}]}]}', DEFAULT_CAPS),
      /syscalls\[0\]\.args\[0\]\.op: unknown operator "LT"/,
    );
    assert.throws(() => parseSeccompProfile('{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"action":"SCMP_ACT_ERRNO"}]}', DEFAULT_CAPS), /syscalls\[0\]: names no syscall/);
  });
});
