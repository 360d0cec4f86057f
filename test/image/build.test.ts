// `gantry build`: the busybox example built offline and run through the runtime, the layer
// cache (rebuild reuses every step, a changed COPY source invalidates from that step on),
// COPY --chown, unknown instructions, and a failing RUN that tags nothing.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ImageStore } from "../../src/image/store.ts";
import { resolveImage } from "../../src/image/images.ts";
import { prepareRootfs } from "../../src/image/rootfs.ts";
import { imageRuntimeConfig } from "../../src/image/runtime-config.ts";
import { mountRootfs, removeContainerRootfs, unmountRootfs } from "../../src/image/snapshots.ts";
import { buildImage, RunStepFailed } from "../../src/image/build/mod.ts";
import { parseDockerfile } from "../../src/image/build/parse.ts";
import { Runtime } from "../../src/runtime/runtime.ts";
import { defaultSpec } from "../../src/runtime/default-spec.ts";
import { BUSYBOX, kernelTestSkipReason } from "../helpers/busybox-bundle.ts";

const skip = kernelTestSkipReason();
const EXAMPLE = new URL("../../examples/busybox", import.meta.url).pathname;
let work: string;
let store: ImageStore;
let context: string;

before(() => {
  work = mkdtempSync(join(tmpdir(), "gantry-build-"));
  store = new ImageStore(join(work, "root"));
  context = join(work, "ctx");
  cpSync(EXAMPLE, context, { recursive: true });
  if (existsSync(BUSYBOX)) copyFileSync(BUSYBOX, join(context, "busybox"));
});
after(() => rmSync(work, { recursive: true, force: true }));

function leftovers(): string[] {
  const dirs = ["containers", "tmp"].flatMap((d) => (existsSync(join(store.root, d)) ? readdirSync(join(store.root, d)) : []));
  return [...dirs, ...readdirSync(store.root).filter((n) => n.startsWith("tmp-build-"))];
}

test("an unknown instruction is an error naming its line (pure)", () => {
  assert.throws(() => parseDockerfile("FROM scratch\n# comment\nRUN a \\\n  b\nFROBNICATE x\n"), /line 5: unknown or unsupported instruction FROBNICATE/);
  assert.throws(() => parseDockerfile("FROM scratch\nONBUILD RUN true\n"), /line 2: unknown or unsupported instruction ONBUILD/);
  const ins = parseDockerfile("FROM scratch\nRUN echo a \\\n  && echo b\nCMD [\"x\"]\n");
  assert.deepEqual(ins.map((i) => [i.name, i.line]), [["FROM", 1], ["RUN", 2], ["CMD", 4]]);
  assert.equal(ins[1]?.args, "echo a   && echo b");
});

test("busybox example builds, runs, and a rebuild is all cache", { skip }, async () => {
  const lines: string[] = [];
  const r1 = await buildImage(store, { contextDir: context, dockerfile: join(context, "Dockerfile"), tag: "busybox:built", log: (l) => lines.push(l) });
  assert.ok(r1.executedSteps >= 5);
  const img = resolveImage(store, "busybox:built");
  assert.deepEqual(img.config.config?.Cmd, ["/bin/sh"]);
  assert.equal(img.config.config?.WorkingDir, "/root");
  assert.ok(img.config.config?.Env?.some((e) => e.startsWith("PATH=/usr/local/sbin")));
  assert.deepEqual(leftovers(), []);

  // Run it through the runtime: the file written by RUN is there, and WORKDIR is the cwd.
  const rc = imageRuntimeConfig(img.config, { cmd: ["/bin/sh", "-c", "cat /etc/build-stamp > /root/out; pwd >> /root/out"] });
  const rootfs = await prepareRootfs(store, "busybox:built", "run1");
  const bundle = join(work, "bundle");
  mkdirSync(join(bundle, "rootfs"), { recursive: true });
  mountRootfs(store, rootfs, join(bundle, "rootfs"));
  try {
    const spec = defaultSpec();
    spec.process = { ...spec.process!, terminal: false, args: rc.args, env: rc.env, cwd: rc.cwd };
    spec.root = { path: "rootfs", readonly: false };
    writeFileSync(join(bundle, "config.json"), JSON.stringify(spec));
    const rt = new Runtime(join(work, "rt"));
    const c = await rt.create("b1", { bundle, foreground: true });
    await rt.start("b1");
    assert.equal((await c.exited!).code, 0);
    await rt.delete("b1", true);
    assert.equal(readFileSync(join(bundle, "rootfs/root/out"), "utf8"), "built-by-gantry\n/root\n");
  } finally {
    unmountRootfs(join(bundle, "rootfs"));
    removeContainerRootfs(store, "run1");
  }

  const lines2: string[] = [];
  const r2 = await buildImage(store, { contextDir: context, dockerfile: join(context, "Dockerfile"), tag: "busybox:built", log: (l) => lines2.push(l) });
  assert.equal(r2.executedSteps, 0);
  assert.equal(r2.id, r1.id);
  assert.ok(lines2.includes(" ---> Using cache"));
  const r3 = await buildImage(store, { contextDir: context, dockerfile: join(context, "Dockerfile"), tag: "busybox:nocache", noCache: true });
  assert.equal(r3.cachedSteps, 0);
});

test("changing a COPYed file invalidates from that step on; --chown, USER, ARG", { skip }, async () => {
  const ctx = join(work, "ctx2");
  mkdirSync(join(ctx, "dir"), { recursive: true });
  writeFileSync(join(ctx, "a.txt"), "one");
  writeFileSync(join(ctx, "dir/b.txt"), "bee");
  writeFileSync(
    join(ctx, "Dockerfile"),
    ["FROM busybox:built", "ARG WHO=nobody", "RUN echo early >> /early", "COPY --chown=1000:1001 a.txt /data/", "COPY dir /data/dir", "RUN cat /data/a.txt > /data/copy && echo $WHO > /data/who", "USER 65534", "EXPOSE 80", "VOLUME /data"].join("\n"),
  );
  const b = (tag: string) => buildImage(store, { contextDir: ctx, dockerfile: join(ctx, "Dockerfile"), tag, buildArgs: { WHO: "gantry" } });
  const r1 = await b("t:1");
  assert.equal(r1.executedSteps, 4);
  writeFileSync(join(ctx, "a.txt"), "two");
  const r2 = await b("t:2");
  assert.equal(r2.cachedSteps, 1, "the RUN before the COPY is cached");
  assert.equal(r2.executedSteps, 3);
  const img = resolveImage(store, "t:2");
  assert.equal(img.config.config?.User, "65534");
  assert.ok(img.config.config?.ExposedPorts?.["80/tcp"]);
  const rootfs = await prepareRootfs(store, "t:2", "inspect2");
  mountRootfs(store, rootfs);
  try {
    const st = statSync(join(rootfs.merged, "data/a.txt"));
    assert.deepEqual([st.uid, st.gid], [1000, 1001]);
    assert.equal(statSync(join(rootfs.merged, "data/dir/b.txt")).uid, 0);
    assert.equal(readFileSync(join(rootfs.merged, "data/copy"), "utf8"), "two");
    assert.equal(readFileSync(join(rootfs.merged, "data/who"), "utf8"), "gantry\n");
  } finally {
    unmountRootfs(rootfs.merged);
    removeContainerRootfs(store, "inspect2");
  }
});

test("a failing RUN fails with its exit code, tags nothing, leaves nothing mounted", { skip }, async () => {
  const ctx = join(work, "ctx3");
  mkdirSync(ctx, { recursive: true });
  writeFileSync(join(ctx, "Dockerfile"), "FROM busybox:built\nRUN echo visible-output; exit 7\nCMD [\"x\"]\n");
  await assert.rejects(buildImage(store, { contextDir: ctx, dockerfile: join(ctx, "Dockerfile"), tag: "fails:1" }), (err: unknown) => err instanceof RunStepFailed && err.exitCode === 7);
  assert.throws(() => resolveImage(store, "fails:1"), /not in the local store/);
  assert.deepEqual(leftovers(), []);
  assert.ok(!readFileSync("/proc/self/mountinfo", "utf8").includes(store.root));
  writeFileSync(join(ctx, "Dockerfile"), "FROM busybox:built\nADD https://example.com/x /x\n");
  await assert.rejects(buildImage(store, { contextDir: ctx, dockerfile: join(ctx, "Dockerfile"), tag: "fails:2" }), /line 2: ADD from a URL/);
  writeFileSync(join(ctx, "Dockerfile"), "FROM nosuch/image:1\n");
  await assert.rejects(buildImage(store, { contextDir: ctx, dockerfile: join(ctx, "Dockerfile"), tag: "fails:3" }), /nosuch\/image:1/);
});
