// Request translation (create.ts) without a daemon: a fake context stands for the engine's
// image store, names and clock, so what create decides is checked by itself — the record a
// request makes and the requests refused before anything exists.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { GantryError } from "../common/errors.ts";
import type { LocalImage } from "../image/mod.ts";
import type { CreateBody } from "./api-types.ts";
import type { ContainerRecord } from "./container-store.ts";
import { translateCreate, ZERO_TIME, type CreateContext } from "./create.ts";

const image = {
  id: "sha256:" + "ab".repeat(32),
  config: { config: { Cmd: ["sh"], Env: ["PATH=/bin"], WorkingDir: "/srv", Labels: { from: "image" }, Volumes: { "/data": {} } } },
} as unknown as LocalImage;

function context(over: Partial<CreateContext> = {}): CreateContext {
  return {
    host: { ncpu: 2, cpus: "0-1", mems: "0", cgroupVersion: 2, swappiness: false, swapLimit: true },
    resolveImage: (ref) => {
      if (ref !== "busybox") throw new GantryError("NOT_FOUND", `No such image: ${ref}:latest`);
      return image;
    },
    nameInUse: () => undefined,
    uniqueName: () => "/quirky_turing",
    runtimeName: "gantry",
    linkTarget: (ref) => {
      throw new GantryError("NOT_FOUND", `No such container: ${ref}`);
    },
    networks: undefined,
    logPath: (id) => `/logs/${id}-json.log`,
    newId: () => "c0ffee".padEnd(64, "0"),
    now: () => new Date("2026-12-04T00:00:00Z"),
    ...over,
  };
}

const errorOf = (fn: () => unknown): GantryError => {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof GantryError, String(err));
    return err;
  }
  assert.fail("no error");
};

describe("translateCreate", () => {
  it("makes the record Docker would: image defaults, generated name, docker's HostConfig defaults", () => {
    const { rec, mountRequests, warnings } = translateCreate(undefined, { Image: "busybox", Cmd: ["echo", "hi"], Labels: { mine: "1" } }, context());
    assert.equal(rec.Id, "c0ffee".padEnd(64, "0"));
    assert.equal(rec.Name, "/quirky_turing");
    assert.equal(rec.Created, "2026-12-04T00:00:00.000Z");
    assert.deepEqual([rec.Path, ...rec.Args], ["echo", "hi"]);
    assert.equal(rec.Config.Hostname, "c0ffee000000");
    assert.deepEqual(rec.Config.Labels, { from: "image", mine: "1" });
    assert.equal(rec.State.Status, "created");
    assert.equal(rec.State.StartedAt, ZERO_TIME);
    assert.equal(rec.HostConfig.NetworkMode, "default");
    assert.deepEqual(rec.HostConfig.RestartPolicy, { Name: "no", MaximumRetryCount: 0 });
    assert.equal(rec.HostConfig.LogConfig?.Type, "json-file");
    assert.equal(rec.LogPath, `/logs/${rec.Id}-json.log`);
    assert.deepEqual(mountRequests.map((m) => m.target), ["/data"], "the image's VOLUME becomes a mount request");
    assert.deepEqual(warnings, []);
  });

  it("keeps a given name and the image's Cmd when the request has none", () => {
    const { rec } = translateCreate("web", { Image: "busybox" }, context());
    assert.equal(rec.Name, "/web");
    assert.deepEqual([rec.Path, ...rec.Args], ["sh"]);
  });

  it("refuses bad requests before anything is made, with dockerd's words", () => {
    const other = { Id: "f".repeat(64) } as ContainerRecord;
    const cases: Array<[string | undefined, CreateBody, string, RegExp, Partial<CreateContext>?]> = [
      [undefined, { Image: "" } as CreateBody, "INVALID_ARGUMENT", /Config.Image is required/],
      ["web", { Image: "busybox" }, "ALREADY_EXISTS", /The container name "\/web" is already in use by container "f{64}"/, { nameInUse: () => other }],
      [undefined, { Image: "nosuch" }, "NOT_FOUND", /No such image: nosuch:latest/],
      [undefined, { Image: "busybox", HostConfig: { RestartPolicy: { Name: "sometimes" as never } } }, "INVALID_ARGUMENT", /invalid restart policy 'sometimes'/],
      [undefined, { Image: "busybox", HostConfig: { AutoRemove: true, RestartPolicy: { Name: "always" } } }, "INVALID_ARGUMENT", /can't create 'AutoRemove' container with restart policy/],
      [undefined, { Image: "busybox", HostConfig: { RestartPolicy: { Name: "always", MaximumRetryCount: 3 } } }, "INVALID_ARGUMENT", /maximum retry count can only be used with 'on-failure'/],
      [undefined, { Image: "busybox", HostConfig: { LogConfig: { Type: "syslog", Config: {} } } }, "UNSUPPORTED_OPTION", /logging driver syslog/],
      [undefined, { Image: "busybox", HostConfig: { NetworkMode: "backend" } }, "INVALID_ARGUMENT", /network backend not found/],
      [undefined, { Image: "busybox", HostConfig: { PortBindings: { "80/tcp": [{ HostPort: "8080" }] } } }, "UNSUPPORTED_OPTION", /port publishing \(-p\/-P\) needs bridge networking/],
      [undefined, { Image: "busybox", StopSignal: "SIGNOPE" }, "INVALID_ARGUMENT", /SIGNOPE/],
      [undefined, { Image: "busybox", NetworkingConfig: { EndpointsConfig: { default: { Aliases: ["x"] } } } } as CreateBody, "INVALID_ARGUMENT", /network-scoped alias/],
    ];
    for (const [name, body, code, message, over] of cases) {
      const err = errorOf(() => translateCreate(name, body, context(over)));
      assert.equal(err.code, code, message.source);
      assert.match(err.message, message);
    }
  });
});
