import { test } from "node:test";
import assert from "node:assert/strict";
import { GantryError } from "../common/errors.ts";
import {
  fromDockerPortBindings,
  parsePublish,
  publishAll,
  toDockerPortBindings,
  mappingsClash,
} from "./ports.ts";

test("-p forms map to portmap entries", () => {
  assert.deepEqual(parsePublish("8080:80"), [
    { hostIp: "", hostPort: 8080, containerPort: 80, protocol: "tcp" },
  ]);
  assert.deepEqual(parsePublish("127.0.0.1:8080:80/udp"), [
    { hostIp: "127.0.0.1", hostPort: 8080, containerPort: 80, protocol: "udp" },
  ]);
  assert.deepEqual(parsePublish("127.0.0.1::80"), [
    { hostIp: "127.0.0.1", hostPort: 0, containerPort: 80, protocol: "tcp" },
  ]);
  assert.deepEqual(parsePublish("80"), [{ hostIp: "", hostPort: 0, containerPort: 80, protocol: "tcp" }]);
  assert.deepEqual(
    parsePublish("8000-8001:80-81").map((m) => [m.hostPort, m.containerPort]),
    [
      [8000, 80],
      [8001, 81],
    ],
  );
});

test("malformed -p values are refused with the value in the message", () => {
  for (const bad of [
    "",
    "abc",
    "70000:80",
    "80:0",
    "1.2.3:80:80",
    "80/icmp",
    "a:b:c:d",
    "8000-8002:80-81",
    "90-80",
    "[::1]:80:80",
  ]) {
    assert.throws(
      () => parsePublish(bad),
      (e: unknown) =>
        e instanceof GantryError && (e.code === "INVALID_ARGUMENT" || e.code === "UNSUPPORTED_OPTION"),
      bad,
    );
  }
  assert.throws(() => parsePublish("80/icmp"), /invalid protocol "icmp"/);
});

test("-P publishes every exposed port; PortBindings round-trip", () => {
  assert.deepEqual(
    publishAll({ "80/tcp": {}, "53/udp": {} }).map((m) => `${m.containerPort}/${m.protocol}:${m.hostPort}`),
    ["80/tcp:0", "53/udp:0"],
  );
  const m = fromDockerPortBindings(
    { "80/tcp": [{ HostIp: "", HostPort: "8081" }] },
    { "80/tcp": {}, "443/tcp": {} },
    true,
  );
  assert.deepEqual(m, [
    { hostIp: "", hostPort: 8081, containerPort: 80, protocol: "tcp" },
    { hostIp: "", hostPort: 0, containerPort: 443, protocol: "tcp" },
  ]);
  assert.deepEqual(toDockerPortBindings(parsePublish("127.0.0.1:9000:90")), {
    "90/tcp": [{ HostIp: "127.0.0.1", HostPort: "9000" }],
  });
});

test("mappings clash on the same port and protocol when addresses overlap", () => {
  const a = parsePublish("8080:80")[0]!;
  assert.ok(mappingsClash(a, parsePublish("127.0.0.1:8080:81")[0]!));
  assert.ok(!mappingsClash(a, parsePublish("8080:80/udp")[0]!));
  assert.ok(!mappingsClash(parsePublish("127.0.0.1:8080:80")[0]!, parsePublish("127.0.0.2:8080:80")[0]!));
});
