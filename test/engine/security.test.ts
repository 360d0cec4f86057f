// Docker's confinement through the real docker CLI: the builtin seccomp profile and what lifts
// it (seccomp=unconfined, --cap-add, --privileged), user profiles in Docker's JSON format, and
// privileged mode's capabilities, host devices and writable /sys.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DOCKER, docker, skipReason, useTestDaemon } from "./_daemon.ts";

const skip = skipReason() ?? (existsSync(DOCKER) ? undefined : `${DOCKER} is not installed`);

/** A host device a privileged container must see and others must not. */
const hostDevice = ["/dev/kmsg", "/dev/loop-control", "/dev/fuse", "/dev/tty0", "/dev/mem"].find((p) => existsSync(p) && statSync(p).isCharacterDevice());

describe("seccomp and privileged mode through the docker CLI", { skip, concurrency: false }, () => {
  const d = useTestDaemon();

  const tryNamespaces = "unshare -U true; echo unshare=$?; mkdir -p /tmp/m && mount -t tmpfs t /tmp/m; echo mount=$?; grep '^Seccomp:' /proc/self/status";

  it("gives a default container the builtin profile: new namespaces and mounts fail with EPERM", () => {
    const r = docker(d, ["run", "--rm", "busybox", "sh", "-c", tryNamespaces]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /unshare=1/);
    assert.match(r.stdout, /mount=1\n/);
    assert.match(r.stderr, /mount: permission denied/);
    assert.match(r.stdout, /Seccomp:\s+2/);
    assert.match(r.stderr, /unshare\(0x10000000\): Operation not permitted/);
    // everyday syscalls still work under the filter
    const ok = docker(d, ["run", "--rm", "busybox", "sh", "-c", "mkdir /tmp/a && echo x > /tmp/a/f && cat /tmp/a/f && date +%Y >/dev/null && echo done"]);
    assert.equal(ok.stdout, "x\ndone\n", ok.stderr);
  });

  it("lifts the filter with seccomp=unconfined, and the SYS_ADMIN group with --cap-add SYS_ADMIN", () => {
    const un = docker(d, ["run", "--rm", "--security-opt", "seccomp=unconfined", "--cap-add", "SYS_ADMIN", "busybox", "sh", "-c", tryNamespaces]);
    assert.equal(un.status, 0, un.stderr);
    assert.match(un.stdout, /unshare=0\nmount=0\nSeccomp:\s+0/);
    const cap = docker(d, ["run", "--rm", "--cap-add", "SYS_ADMIN", "busybox", "sh", "-c", tryNamespaces]);
    assert.match(cap.stdout, /unshare=0\nmount=0\nSeccomp:\s+2/, cap.stderr);
    // unconfined without the capability: the namespace works, the mount still needs CAP_SYS_ADMIN
    const capless = docker(d, ["run", "--rm", "--security-opt", "seccomp=unconfined", "busybox", "sh", "-c", tryNamespaces]);
    assert.match(capless.stdout, /unshare=0\nmount=1\n/, capless.stderr);
  });

  it("loads a user profile in Docker's JSON format and refuses a bad one with a clear error", () => {
    const profile = join(d.dir, "no-mkdir.json");
    writeFileSync(
      profile,
      JSON.stringify({ defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ names: ["mkdir", "mkdirat"], action: "SCMP_ACT_ERRNO", errnoRet: 1 }] }, null, 2),
    );
    const r = docker(d, ["run", "--rm", "--security-opt", `seccomp=${profile}`, "busybox", "sh", "-c", "mkdir /tmp/d; echo mkdir=$?; touch /tmp/f; echo touch=$?"]);
    assert.equal(r.stdout, "mkdir=1\ntouch=0\n", r.stderr);
    assert.match(r.stderr, /can't create directory '\/tmp\/d': Operation not permitted/);

    const bad = join(d.dir, "bad.json");
    writeFileSync(bad, JSON.stringify({ defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ names: ["mkdir"], action: "SCMP_ACT_DENY" }] }));
    const b = docker(d, ["run", "--rm", "--security-opt", `seccomp=${bad}`, "busybox", "true"]);
    assert.equal(b.status, 125);
    assert.match(b.stderr, /Error response from daemon: invalid seccomp profile: syscalls\[0\]\.action: unknown action "SCMP_ACT_DENY"/);
  });

  it("shows SecurityOpt in inspect and the builtin profile in docker info, as Docker does", () => {
    const info = docker(d, ["info", "--format", "{{json .SecurityOptions}}"]);
    assert.ok((JSON.parse(info.stdout) as string[]).includes("name=seccomp,profile=builtin"), info.stdout);
    const cases: [string[], string][] = [
      [[], "null"],
      [["--security-opt", "seccomp=unconfined"], '["seccomp=unconfined"]'],
      [["--privileged"], '["label=disable"]'],
      [["--pid", "host"], '["label=disable"]'],
    ];
    for (const [flags, want] of cases) {
      const c = docker(d, ["create", ...flags, "busybox"]);
      assert.equal(c.status, 0, c.stderr);
      const id = c.stdout.trim();
      assert.equal(docker(d, ["inspect", "-f", "{{json .HostConfig.SecurityOpt}}", id]).stdout.trim(), want, flags.join(" "));
      docker(d, ["rm", id]);
    }
  });

  it("--privileged: every capability the daemon holds, no seccomp, no masked paths, rw /sys, the host's devices", () => {
    const bounding = /^CapBnd:\s*([0-9a-f]+)$/m.exec(readFileSync("/proc/self/status", "utf8"))![1];
    const dev = hostDevice ?? "/dev/null";
    const script = `grep -E '^(CapEff|Seccomp):' /proc/self/status; ls ${dev} >/dev/null 2>&1 && echo has-device; grep ' /sys sysfs' /proc/mounts; cat /proc/kcore >/dev/null 2>&1; head -c1 /proc/kcore >/dev/null 2>&1 && echo kcore-readable; true`;
    const p = docker(d, ["run", "--rm", "--privileged", "busybox", "sh", "-c", script]);
    assert.equal(p.status, 0, p.stderr);
    assert.match(p.stdout, new RegExp(`CapEff:\\s+${bounding}`));
    assert.match(p.stdout, /Seccomp:\s+0/);
    assert.match(p.stdout, / \/sys sysfs rw,/);
    if (hostDevice) assert.match(p.stdout, /has-device/);
    const n = docker(d, ["run", "--rm", "busybox", "sh", "-c", script]);
    assert.match(n.stdout, /CapEff:\s+00000000a80425fb/);
    assert.match(n.stdout, /Seccomp:\s+2/);
    assert.match(n.stdout, / \/sys sysfs ro,/);
    if (hostDevice) assert.doesNotMatch(n.stdout, /has-device/);
    assert.doesNotMatch(n.stdout, /kcore-readable/);
  });
});
