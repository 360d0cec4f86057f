import { test } from "node:test";
import assert from "node:assert/strict";
import protobuf from "protobufjs";
import { K8S_PROTO } from "./k8s-proto-schema.ts";
import { decodeProtobufObject } from "./protobuf.ts";
import { ApiError } from "./status.ts";

const root = protobuf.parse(K8S_PROTO, { keepCase: true }).root;

function envelope(apiVersion: string, kind: string, raw: Uint8Array): Buffer {
  const Unknown = root.lookupType("gantry.k8s.Unknown");
  return Buffer.concat([Buffer.from("k8s\0", "binary"), Buffer.from(Unknown.encode(Unknown.create({ typeMeta: { apiVersion, kind }, raw })).finish())]);
}

test("decodes a Deployment from the k8s\\0 envelope into the JSON shape", async () => {
  const D = root.lookupType("gantry.k8s.Deployment");
  const raw = D.encode(
    D.fromObject({
      metadata: { name: "web", labels: { app: "web" }, creationTimestamp: {} },
      spec: { replicas: 0, selector: { matchLabels: { app: "web" } }, strategy: { rollingUpdate: { maxSurge: { type: 1, strVal: "30%" }, maxUnavailable: { type: 0, intVal: 2 } } }, template: { metadata: { labels: { app: "web" } }, spec: { containers: [{ name: "c", image: "nginx", ports: [{ containerPort: 80, hostPort: 0 }], resources: { limits: { cpu: { string: "500m" } } } }] } } },
      status: { replicas: 0 },
    }),
  ).finish();
  const obj = (await decodeProtobufObject(envelope("apps/v1", "Deployment", raw))) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  assert.equal(obj.kind, "Deployment");
  assert.equal(obj.metadata.creationTimestamp, undefined);
  assert.equal(obj.spec.replicas, 0);
  assert.deepEqual(obj.spec.strategy.rollingUpdate, { maxSurge: "30%", maxUnavailable: 2 });
  assert.deepEqual(obj.spec.template.spec.containers[0].ports, [{ containerPort: 80 }]);
  assert.equal(obj.spec.template.spec.containers[0].resources.limits.cpu, "500m");
  assert.deepEqual(obj.status, {});
});

test("secret bytes become base64; undeclared fields and kinds are refused, not dropped", async () => {
  const S = root.lookupType("gantry.k8s.Secret");
  const raw = S.encode(S.fromObject({ metadata: { name: "s" }, data: { k: Buffer.from("v") }, type: "Opaque" })).finish();
  const obj = (await decodeProtobufObject(envelope("v1", "Secret", raw))) as { data: Record<string, string> };
  assert.equal(obj.data.k, Buffer.from("v").toString("base64"));
  const withExtra = Buffer.concat([Buffer.from(raw), Buffer.from([0xa8, 0x06, 0x01])]); // field 101, varint 1
  await assert.rejects(decodeProtobufObject(envelope("v1", "Secret", withExtra)), (e: unknown) => e instanceof ApiError && e.status === 415 && /Secret#101/.test(e.message));
  await assert.rejects(decodeProtobufObject(envelope("v1", "Pod", raw)), (e: unknown) => e instanceof ApiError && e.status === 415);
  await assert.rejects(decodeProtobufObject(Buffer.from("nope")), /magic/);
});
