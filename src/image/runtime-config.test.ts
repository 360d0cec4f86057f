import { test } from "node:test";
import assert from "node:assert/strict";
import { defaultPath, imageRuntimeConfig, resolveUser } from "./runtime-config.ts";
import { parseImageConfig, type ImageConfig } from "./spec.ts";

const image = (config: Record<string, unknown>): ImageConfig =>
  parseImageConfig(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] }, config }));

test("Entrypoint and Cmd combine as Docker combines them", () => {
  const img = image({ Entrypoint: ["/entry"], Cmd: ["--default"] });
  assert.deepEqual(imageRuntimeConfig(img).args, ["/entry", "--default"]);
  assert.deepEqual(imageRuntimeConfig(img, { cmd: ["x"] }).args, ["/entry", "x"]);
  assert.deepEqual(imageRuntimeConfig(img, { entrypoint: ["/other"] }).args, ["/other"], "--entrypoint drops the image Cmd");
  assert.deepEqual(imageRuntimeConfig(img, { entrypoint: [], cmd: ["sh"] }).args, ["sh"]);
  assert.deepEqual(imageRuntimeConfig(image({ Cmd: ["/bin/sh"], Entrypoint: null })).args, ["/bin/sh"]);
  assert.throws(() => imageRuntimeConfig(image({})), /no command specified/);
});

test("env, cwd, ports, volumes, labels and stop signal", () => {
  const img = image({
    Cmd: ["x"],
    Env: ["A=1", "B=2"],
    WorkingDir: "srv",
    ExposedPorts: { "80/tcp": {}, "53/udp": {}, "8080": {} },
    Volumes: { "/data": {}, "/cache": {} },
    Labels: { a: "b" },
    StopSignal: "9",
    User: "app",
  });
  const r = imageRuntimeConfig(img, { env: ["B=3", "C=4"] });
  assert.deepEqual(r.env, ["A=1", "B=3", "C=4", defaultPath]);
  assert.equal(r.cwd, "/srv");
  assert.deepEqual(r.exposedPorts, [{ port: 53, protocol: "udp" }, { port: 80, protocol: "tcp" }, { port: 8080, protocol: "tcp" }]);
  assert.deepEqual(r.volumes, ["/cache", "/data"]);
  assert.deepEqual(r.labels, { a: "b" });
  assert.equal(r.stopSignal, "SIGKILL");
  assert.equal(r.user, "app");
  assert.equal(imageRuntimeConfig(image({ Cmd: ["x"], StopSignal: "quit" })).stopSignal, "SIGQUIT");
  assert.equal(imageRuntimeConfig(image({ Cmd: ["x"], Env: ["PATH=/x"] })).env[0], "PATH=/x");
  // "NAME" alone (docker run -e NAME with nothing to take) takes the image's NAME's place as
  // it is; "PATH" alone keeps the default PATH out too (dockerd's Config.Env).
  assert.deepEqual(imageRuntimeConfig(image({ Cmd: ["x"], Env: ["A=1", "B=2"] }), { env: ["A", "C"] }).env, ["A", "B=2", "C", defaultPath]);
  assert.deepEqual(imageRuntimeConfig(image({ Cmd: ["x"] }), { env: ["PATH"] }).env, ["PATH"]);
});

test("users resolve through the image's passwd and group files", () => {
  const passwd = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n";
  const group = "root:x:0:\napp:x:1000:\nwheel:x:10:app\naudio:x:29:app,root\n";
  assert.deepEqual(resolveUser("", passwd, group), { uid: 0, gid: 0, additionalGids: [29], home: "/root" });
  assert.deepEqual(resolveUser("app", passwd, group), { uid: 1000, gid: 1000, additionalGids: [10, 29], home: "/home/app" });
  assert.deepEqual(resolveUser("1000:wheel", passwd, group), { uid: 1000, gid: 10, additionalGids: [29], home: "/home/app" });
  assert.deepEqual(resolveUser("4242:4343", undefined, undefined), { uid: 4242, gid: 4343, additionalGids: [], home: "/" });
  assert.throws(() => resolveUser("nobody", passwd, group), /unable to find user nobody/);
  assert.throws(() => resolveUser("app:nogroup", passwd, group), /unable to find group nogroup/);
});
