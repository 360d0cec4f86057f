import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { GantryError } from "../../../common/errors.ts";
import { fromDockerMountFields } from "../../../volume/index.ts";
import { fromDockerPortBindings } from "../../../network/index.ts";
import { addCreateOptions, createBody, type CreateFlags } from "./create-body.ts";

/** The flags exactly as commander parses them from `run ARGV`. */
function flags(argv: string[]): { image: string; command: string[]; o: CreateFlags } {
  let got: { image: string; command: string[]; o: CreateFlags } | undefined;
  const program = new Command().exitOverride();
  program.enablePositionalOptions();
  addCreateOptions(program.command("run").option("-d, --detach"))
    .argument("<image>")
    .argument("[command...]")
    .passThroughOptions()
    .action((image: string, command: string[], o: CreateFlags) => {
      got = { image, command, o };
    });
  program.parse(["run", ...argv], { from: "user" });
  return got!;
}

const body = (argv: string[], size?: [number, number]) => {
  const f = flags(argv);
  return createBody(f.image, f.command, f.o, size);
};

test("-p goes through the network library: ranges, addresses, protocols, each port exposed", () => {
  const b = body(["-p", "8080:80", "-p", "127.0.0.1::53/udp", "-p", "9000-9001:90-91", "-p", "8081:80", "busybox"]);
  assert.deepEqual(b.HostConfig!.PortBindings, {
    "80/tcp": [
      { HostIp: "", HostPort: "8080" },
      { HostIp: "", HostPort: "8081" },
    ],
    "53/udp": [{ HostIp: "127.0.0.1", HostPort: "" }],
    "90/tcp": [{ HostIp: "", HostPort: "9000" }],
    "91/tcp": [{ HostIp: "", HostPort: "9001" }],
  });
  assert.deepEqual(Object.keys(b.ExposedPorts!).sort(), ["53/udp", "80/tcp", "90/tcp", "91/tcp"]);
  // what the daemon makes of it is what was asked
  assert.equal(fromDockerPortBindings(b.HostConfig!.PortBindings!).length, 5);
  assert.throws(() => body(["-p", "80:70000", "busybox"]), (e: unknown) => e instanceof GantryError && /invalid container port "70000"/.test(e.message));
  assert.throws(() => body(["-p", "[::1]:80:80", "busybox"]), (e: unknown) => e instanceof GantryError && e.code === "UNSUPPORTED_OPTION");
});

test("-v, --mount and --tmpfs go through the volume library and come back the same on the daemon side", () => {
  const b = body(["-v", "data:/data:ro", "-v", "/srv:/srv", "--mount", "type=bind,src=/etc,dst=/host-etc,readonly", "--mount", "type=tmpfs,target=/scratch,tmpfs-size=1m", "--tmpfs", "/run:size=64m,exec", "busybox"]);
  assert.deepEqual(b.HostConfig!.Binds, ["data:/data:ro", "/srv:/srv"]);
  assert.deepEqual(b.HostConfig!.Tmpfs, { "/run": "nosuid,nodev,size=64m,exec" });
  const reqs = fromDockerMountFields({ Binds: b.HostConfig!.Binds, Mounts: b.HostConfig!.Mounts, Tmpfs: b.HostConfig!.Tmpfs });
  assert.deepEqual(
    reqs.map((r) => `${r.type}:${r.target}:${r.readOnly}`),
    ["volume:/data:true", "bind:/srv:false", "bind:/host-etc:true", "tmpfs:/scratch:false", "tmpfs:/run:false"],
  );
  const run = reqs[4]!;
  assert.ok(run.type === "tmpfs" && run.options.includes("exec") && !run.options.includes("noexec") && run.options.includes("size=64m"));
  const scratch = reqs[3]!;
  assert.ok(scratch.type === "tmpfs" && scratch.options.includes(`size=${1024 * 1024}`));
  for (const bad of [["-v", "relative/dir:/x"], ["--mount", "type=bind,target=/x"], ["--mount", "type=nfs,target=/x"], ["--tmpfs", "/t:bogus"], ["--tmpfs", "run"]]) {
    assert.throws(() => body([...bad, "busybox"]), (e: unknown) => e instanceof GantryError && e.code === "INVALID_ARGUMENT", bad.join(" "));
  }
});

test("the rest of run's flags land in Docker's fields", () => {
  const dir = mkdtempSync(join(tmpdir(), "gantry-create-body-"));
  try {
    writeFileSync(join(dir, "env"), "# comment\nFROM_FILE=1\n\n  SPACED=2  \n");
    const b = body(
      ["-e", "A=1", "--env-file", join(dir, "env"), "-l", "k=v", "-l", "bare", "--restart", "on-failure:3", "--memory", "64m", "--memory-swap", "-1", "--cpus", "1.5", "--ulimit", "nofile=100:200", "--device", "/dev/fuse", "--log-opt", "max-size=1m", "-t", "--stop-timeout", "5", "--entrypoint", "", "busybox", "sh", "-c", "true"],
      [40, 120],
    );
    assert.deepEqual(b.Env, ["A=1", "FROM_FILE=1", "SPACED=2"]);
    assert.deepEqual(b.Labels, { k: "v", bare: "" });
    assert.deepEqual(b.Cmd, ["sh", "-c", "true"]);
    assert.deepEqual(b.Entrypoint, []);
    assert.equal(b.StopTimeout, 5);
    const hc = b.HostConfig!;
    assert.deepEqual(hc.RestartPolicy, { Name: "on-failure", MaximumRetryCount: 3 });
    assert.equal(hc.Memory, 64 * 1024 * 1024);
    assert.equal(hc.MemorySwap, -1);
    assert.equal(hc.NanoCpus, 1.5e9);
    assert.deepEqual(hc.Ulimits, [{ Name: "nofile", Soft: 100, Hard: 200 }]);
    assert.deepEqual(hc.Devices, [{ PathOnHost: "/dev/fuse", PathInContainer: "/dev/fuse", CgroupPermissions: "rwm" }]);
    assert.deepEqual(hc.LogConfig, { Type: "json-file", Config: { "max-size": "1m" } });
    assert.deepEqual(hc.ConsoleSize, [40, 120]);
    assert.equal(hc.NetworkMode, "default");
    assert.deepEqual(body(["busybox"], [40, 120]).HostConfig!.ConsoleSize, [0, 0], "no -t: no console size");
    assert.throws(() => body(["--ulimit", "nofile", "busybox"]), /invalid ulimit argument: nofile/);
    assert.throws(() => body(["--security-opt", `seccomp=${join(dir, "missing.json")}`, "busybox"]), /opening seccomp profile/);
    writeFileSync(join(dir, "profile.json"), '{ "defaultAction": "SCMP_ACT_ALLOW" }');
    assert.deepEqual(body(["--security-opt", `seccomp=${join(dir, "profile.json")}`, "busybox"]).HostConfig!.SecurityOpt, ['seccomp={"defaultAction":"SCMP_ACT_ALLOW"}']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
