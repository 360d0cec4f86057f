// bin/gantry-runtime's start-up path (native/launcher/gantry-runtime.c, native/src/warm.c):
// what it does to save time must not change what the CLI does.
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Socket } from "node:net";
import { REPO, RUNTIME_BIN, kernelTestSkipReason, makeBundle, tempRoot, uniqueId } from "../helpers/busybox-bundle.ts";

const skip = kernelTestSkipReason();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("the runtime CLI's launcher", { skip }, () => {
  const root = skip ? "" : tempRoot();
  after(() => {
    if (root) rmSync(root, { recursive: true, force: true });
  });

  test("drops NODE_EXTRA_CA_CERTS (node parses it at every start), and runs containers as before", () => {
    const env = { ...process.env, NODE_EXTRA_CA_CERTS: "/nonexistent/gantry-test-ca.pem" };
    // The premise: node itself reads the variable at start (and warns that it cannot).
    const bare = spawnSync(process.execPath, ["-e", "0"], { env, encoding: "utf8" });
    assert.match(bare.stderr, /extra certs/i, "node reads NODE_EXTRA_CA_CERTS as it starts");
    const version = spawnSync(RUNTIME_BIN, ["--version"], { env, encoding: "utf8" });
    assert.equal(version.status, 0, version.stderr);
    assert.match(version.stdout, /^gantry-runtime /);
    assert.doesNotMatch(version.stderr, /extra certs/i);

    const b = makeBundle(["sh", "-c", "exit 3"]);
    try {
      const r = spawnSync(RUNTIME_BIN, ["--root", root, "run", "--bundle", b.dir, uniqueId("ca")], { env, encoding: "utf8", timeout: 30_000 });
      assert.equal(r.status, 3, r.stderr);
      assert.doesNotMatch(r.stderr, /extra certs/i);
    } finally {
      b.cleanup();
    }
  });

  // The cgroup2 mount the helper warms through (hybrid hosts: the unified one).
  const cgroup2 = ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"].find((d) => existsSync(join(d, "cgroup.controllers")));
  const helperBin = join(REPO, "native/build/gantry-helper");

  test(
    "--warm-attach: the waiting helper keeps moving itself into its own cgroup (never out of it) until EOF",
    { skip: cgroup2 ? false : "no cgroup2 mount" },
    async () => {
      const group = join(cgroup2!, uniqueId("gantry-warm-test"));
      mkdirSync(group);
      let helper: ChildProcess | undefined;
      try {
        // Started inside a group of its own and waiting for a plan, as the launcher starts it.
        helper = spawn("sh", ["-c", `echo $$ > ${group}/cgroup.procs && exec "$0" --plan-fd 3 --warm-attach`, helperBin], {
          stdio: ["ignore", "ignore", "inherit", "pipe"],
        });
        const exited = new Promise<number | null>((r) => helper!.once("exit", (code) => r(code)));
        const pid = helper.pid!;
        const proc = (file: string) => readFileSync(`/proc/${pid}/${file}`, "utf8");
        // write(2) calls (the counter survives exec): a helper waiting for its plan makes none
        // but the moves.
        const writes = () => Number(/^syscw: (\d+)$/m.exec(proc("io"))?.[1]);
        const until = Date.now() + 10_000;
        while (!proc("cmdline").startsWith(helperBin) && Date.now() < until) await sleep(5);
        const base = writes();
        while (writes() < base + 3 && Date.now() < until) await sleep(5);
        assert.ok(writes() >= base + 3, `the waiting helper moved itself again and again (${writes() - base} writes)`);
        assert.equal(/^0::(.*)$/m.exec(proc("cgroup"))?.[1], group.slice(cgroup2!.length), "it is still in the group it started in");
        (helper.stdio[3] as Socket).end(); // no plan: EOF
        assert.notEqual(await exited, null, "it ended by itself at EOF");
      } finally {
        if (helper && helper.exitCode === null && helper.signalCode === null) helper.kill("SIGKILL");
        for (let i = 0; ; i++) {
          try {
            rmdirSync(group);
            break;
          } catch (err) {
            if (i === 100) throw err;
            await sleep(10); // the helper's exit is still being accounted
          }
        }
      }
    },
  );
});
