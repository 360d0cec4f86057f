// Small Docker API behaviours a client library's own tests lean on, through the real docker
// CLI (and the raw API for statuses) against `gantry daemon`, each compared with Debian's
// dockerd 20.10 on this machine: kill answers once the container has exited, the `none` log
// driver, exec of what cannot run (126/127), `system df`, the `info` fields the CLI prints,
// and swarm routes answering "not in a swarm" instead of 404.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { DOCKER, api, docker, skipReason, useTestDaemon } from "./_daemon.ts";

const skip = skipReason() ?? (existsSync(DOCKER) ? undefined : `${DOCKER} is not installed`);

describe("Docker API gaps against gantry daemon", { skip, concurrency: false }, () => {
  const d = useTestDaemon();

  it("kill (SIGKILL) returns once the container has exited: inspect right after says exited", () => {
    for (const name of ["k1", "k2", "k3"]) {
      // A process that ignores TERM and has children: the kill is all that ends it.
      const r = docker(d, ["run", "-d", "--name", name, "busybox", "sh", "-c", "trap '' TERM; sleep 300 & sleep 300 & wait"]);
      assert.equal(r.status, 0, r.stderr);
      const k = docker(d, ["kill", name]);
      assert.equal(k.status, 0, k.stderr);
      assert.equal(docker(d, ["inspect", "-f", "{{.State.Status}} {{.State.ExitCode}} {{.State.Pid}}", name]).stdout.trim(), "exited 137 0");
    }
    // Another signal only delivers it.
    assert.equal(docker(d, ["run", "-d", "--name", "k4", "busybox", "sh", "-c", "trap 'exit 5' USR1; while :; do sleep 1; done"]).status, 0);
    assert.equal(docker(d, ["kill", "-s", "USR1", "k4"]).status, 0);
    assert.equal(docker(d, ["wait", "k4"]).stdout.trim(), "5");
    const again = docker(d, ["kill", "k1"]);
    assert.equal(again.status, 1);
    assert.match(again.stderr, /is not running/);
  });

  it("the none log driver keeps no log file; docker logs is refused as dockerd refuses it", async () => {
    const r = docker(d, ["run", "-d", "--log-driver", "none", "--name", "nolog", "busybox", "sh", "-c", "echo hidden; sleep 300"]);
    assert.equal(r.status, 0, r.stderr);
    const id = r.stdout.trim();
    assert.equal(docker(d, ["inspect", "-f", "{{.LogPath}}|{{.HostConfig.LogConfig.Type}}", "nolog"]).stdout.trim(), "|none");
    const logs = docker(d, ["logs", "nolog"]);
    assert.equal(logs.status, 1);
    assert.equal(logs.stderr.trim(), "Error response from daemon: configured logging driver does not support reading");
    assert.equal((await api(d, "GET", "/v1.50/containers/nolog/logs?stdout=1")).status, 501);
    const files = readdirSync(join(d.root, "engine", "containers", id));
    assert.ok(!files.some((f) => f.includes("json.log")), files.join(" "));
    // Attached output still reaches the client.
    const run = docker(d, ["run", "--rm", "--log-driver", "none", "busybox", "echo", "visible"]);
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout, "visible\n");
    const opts = await api(d, "POST", "/v1.50/containers/create", { Image: "busybox", HostConfig: { LogConfig: { Type: "none", Config: { "max-size": "1m" } } } });
    assert.equal(opts.status, 400);
    assert.match(opts.body, /invalid logging opts for driver none/);
    const other = await api(d, "POST", "/v1.50/containers/create", { Image: "busybox", HostConfig: { LogConfig: { Type: "syslog" } } });
    assert.equal(other.status, 400);
    assert.match(other.body, /logging driver syslog is not supported/);
  });

  it("exec of something that cannot run exits 126 (not executable, a directory) or 127 (not found)", () => {
    assert.equal(docker(d, ["run", "-d", "--name", "ex", "busybox", "sh", "-c", "echo echo hi > /plain; chmod 644 /plain; sleep 300"]).status, 0);
    // The file exists once the shell has run its first command.
    for (let i = 0; i < 100 && docker(d, ["exec", "ex", "test", "-f", "/plain"]).status !== 0; i++);
    const cases: [string, number, RegExp][] = [
      ["/plain", 126, /permission denied/i],
      ["/etc", 126, /permission denied/i],
      ["/nonexistent", 127, /no such file or directory/i],
      ["nonexistent", 127, /executable file not found in \$PATH/],
    ];
    for (const [prog, code, message] of cases) {
      const r = docker(d, ["exec", "ex", prog]);
      assert.equal(r.status, code, `${prog}: ${r.stdout}${r.stderr}`);
      assert.match(r.stdout + r.stderr, message, prog);
    }
    assert.equal(docker(d, ["exec", "ex", "true"]).status, 0);
  });

  it("system df counts images, writable layers and volumes (docker system df and -v)", async () => {
    assert.equal(docker(d, ["volume", "create", "dfvol"]).status, 0);
    const r = docker(d, ["run", "--name", "dfc", "-v", "dfvol:/data", "busybox", "sh", "-c", "dd if=/dev/zero of=/data/v bs=1k count=100 && dd if=/dev/zero of=/rw bs=1k count=50"]);
    assert.equal(r.status, 0, r.stderr);
    const res = await api(d, "GET", "/v1.50/system/df");
    assert.equal(res.status, 200);
    const df = JSON.parse(res.body) as {
      LayersSize: number;
      Images: { RepoTags: string[]; Containers: number; Size: number; SharedSize: number }[];
      Containers: { Names: string[]; SizeRw: number; SizeRootFs: number }[];
      Volumes: { Name: string; UsageData: { Size: number; RefCount: number } }[];
      BuildCache: unknown[];
    };
    const bb = df.Images.find((i) => i.RepoTags.includes("busybox:latest"))!;
    assert.ok(bb.Containers >= 1);
    assert.ok(df.LayersSize > 0 && df.LayersSize <= df.Images.reduce((a, i) => a + i.Size, 0));
    const c = df.Containers.find((x) => x.Names.includes("/dfc"))!;
    assert.ok(c.SizeRw >= 50 * 1024 && c.SizeRw < 60 * 1024, String(c.SizeRw));
    assert.ok(c.SizeRootFs > c.SizeRw);
    const v = df.Volumes.find((x) => x.Name === "dfvol")!;
    assert.equal(v.UsageData.Size, 100 * 1024);
    assert.equal(v.UsageData.RefCount, 1);
    assert.deepEqual(df.BuildCache, []);
    const only = JSON.parse((await api(d, "GET", "/v1.50/system/df?type=volume")).body) as Record<string, unknown>;
    assert.deepEqual(Object.keys(only), ["Volumes"]);
    assert.equal((await api(d, "GET", "/v1.50/system/df?type=bogus")).status, 400);

    const summary = docker(d, ["system", "df"]);
    assert.equal(summary.status, 0, summary.stderr);
    assert.match(summary.stdout, /^Images\s+\d+\s+\d+\s+\S+/m);
    assert.match(summary.stdout, /^Local Volumes\s+\d+\s+\d+\s+\S+/m);
    const verbose = docker(d, ["system", "df", "-v"]);
    assert.equal(verbose.status, 0, verbose.stderr);
    assert.match(verbose.stdout, /^dfvol\s+1\s+102\.4kB$/m);
    // The container's row: one local volume, 51.2kB written to its own layer.
    assert.match(verbose.stdout, /^[0-9a-f]{12}\s+busybox\s+".*"\s+1\s+51\.2kB\s+.*\sdfc$/m);
  });

  it("info carries the fields the CLI prints, from the host", () => {
    const r = docker(d, ["info", "--format", "{{json .}}"]);
    assert.equal(r.status, 0, r.stderr);
    const info = JSON.parse(r.stdout) as Record<string, unknown>;
    const osRelease = readFileSync("/etc/os-release", "utf8");
    assert.equal(info.OperatingSystem, /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(osRelease)?.[1]);
    assert.equal(info.OSVersion, /^VERSION_ID="?([^"\n]*)"?$/m.exec(osRelease)?.[1] ?? "");
    assert.equal(info.IndexServerAddress, "https://index.docker.io/v1/");
    assert.equal(info.IPv4Forwarding, readFileSync("/proc/sys/net/ipv4/ip_forward", "utf8").trim() === "1");
    assert.ok(Number(info.NFd) > 0);
    assert.ok(!Number.isNaN(Date.parse(String(info.SystemTime))));
    const status = new Map(info.DriverStatus as [string, string][]);
    assert.match(status.get("Backing Filesystem") ?? "", /^(extfs|xfs|btrfs|tmpfs|overlayfs|zfs|0x[0-9a-f]+)$/);
    assert.deepEqual((info.Plugins as { Volume: string[] }).Volume, ["local"]);
    const text = docker(d, ["info"]).stdout;
    assert.match(text, /^ {2}Backing Filesystem: \S+$/m);
    assert.match(text, /^ {2}Volume: local$/m);
    assert.match(text, /^ runc version: gantry-runtime \S+$/m);
    const init = ["/usr/bin/tini-static", "/usr/bin/tini", "/usr/bin/catatonit", "/usr/libexec/podman/catatonit", "/usr/bin/docker-init"].find((p) => existsSync(p));
    assert.equal(info.InitBinary, init ? init.split("/").pop() : "");
  });

  it("swarm routes answer as a dockerd in no swarm (503 with its words), not 404", async () => {
    const leave = docker(d, ["swarm", "leave"]);
    assert.equal(leave.status, 1);
    assert.equal(leave.stderr.trim(), "Error response from daemon: This node is not part of a swarm");
    const manager = 'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.';
    for (const args of [["node", "ls"], ["service", "ls"], ["secret", "ls"], ["config", "ls"]]) {
      const r = docker(d, args);
      assert.equal(r.status, 1, args.join(" "));
      assert.equal(r.stderr.trim(), `Error response from daemon: ${manager}`, args.join(" "));
    }
    for (const [method, path] of [["POST", "/swarm/leave"], ["GET", "/swarm"], ["GET", "/nodes/x"], ["DELETE", "/services/x"], ["GET", "/tasks"], ["POST", "/services/create"]]) {
      assert.equal((await api(d, method!, `/v1.50${path}`)).status, 503, `${method} ${path}`);
    }
    const init = docker(d, ["swarm", "init"]);
    assert.equal(init.status, 1);
    assert.match(init.stderr, /swarm mode is not supported by Gantry/);
  });
});
