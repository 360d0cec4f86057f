import { test } from "node:test";
import assert from "node:assert/strict";
import { containerEnv, expand, EnvConfigError, type EnvContext } from "./env.ts";
import type { Pod } from "./pod-types.ts";

const b64 = (s: string) => Buffer.from(s).toString("base64");
const pod: Pod = { metadata: { name: "p", namespace: "ns", uid: "u1", labels: { app: "web" } }, spec: { nodeName: "n1", containers: [{ name: "c", image: "x", resources: { limits: { cpu: "2" } } }] } };
const ctx = (p = pod): EnvContext => ({
  pod: p,
  hostIP: "10.0.0.1",
  podIP: "10.42.0.7",
  allocatable: { cpu: "4", memory: "8Gi", "ephemeral-storage": "1Ti" },
  sources: {
    configMap: async (ns, name) => (ns === "ns" && name === "cfg" ? { data: { color: "blue", "bad key": "x" } } : undefined),
    secret: async (ns, name) => (ns === "ns" && name === "sec" ? { data: { token: b64("s3cr3t") } } : undefined),
  },
});

test("$(VAR) expands defined names only; $$ escapes", () => {
  const vars = new Map([["A", "1"]]);
  assert.equal(expand("x$(A)y$(B)z$$(A)$", vars), "x1y$(B)z$(A)$");
});

test("env comes from envFrom, then env in order, with every valueFrom kind", async () => {
  const c = {
    name: "c",
    image: "x",
    resources: { limits: { cpu: "2" } },
    envFrom: [{ configMapRef: { name: "cfg" }, prefix: "CM_" }, { secretRef: { name: "sec" } }],
    env: [
      { name: "NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
      { name: "HELLO", value: "hi $(NAME) on $(NODE)" },
      { name: "NODE", valueFrom: { fieldRef: { fieldPath: "spec.nodeName" } } },
      { name: "APP", valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } },
      { name: "IPS", valueFrom: { fieldRef: { fieldPath: "status.podIP" } } },
      { name: "CPUS", valueFrom: { resourceFieldRef: { resource: "limits.cpu" } } },
      { name: "COLOR", valueFrom: { configMapKeyRef: { name: "cfg", key: "color" } } },
      { name: "TOKEN", valueFrom: { secretKeyRef: { name: "sec", key: "token" } } },
      { name: "MAYBE", valueFrom: { configMapKeyRef: { name: "nope", key: "k", optional: true } } },
    ],
  };
  assert.deepEqual(await containerEnv(c, ctx()), ["CM_color=blue", "CM_bad key=x", "token=s3cr3t", "NAME=p", "HELLO=hi p on $(NODE)", "NODE=n1", "APP=web", "IPS=10.42.0.7", "CPUS=2", "COLOR=blue", "TOKEN=s3cr3t"]);
});

test("a missing source fails with the kubelet's message unless optional", async () => {
  const one = (env: object) => containerEnv({ name: "c", image: "x", env: [env as never] }, ctx());
  await assert.rejects(one({ name: "X", valueFrom: { configMapKeyRef: { name: "nope", key: "k" } } }), (e: Error) => e instanceof EnvConfigError && e.message === 'configmap "nope" not found');
  await assert.rejects(one({ name: "X", valueFrom: { configMapKeyRef: { name: "cfg", key: "k" } } }), /couldn't find key k in ConfigMap ns\/cfg/);
  await assert.rejects(one({ name: "X", valueFrom: { secretKeyRef: { name: "gone", key: "k" } } }), /secret "gone" not found/);
  await assert.rejects(one({ name: "X", valueFrom: { fieldRef: { fieldPath: "spec.what" } } }), /unsupported fieldPath: spec.what/);
  await assert.rejects(containerEnv({ name: "c", image: "x", envFrom: [{ secretRef: { name: "gone" } }] }, ctx()), /secret "gone" not found/);
  assert.deepEqual(await containerEnv({ name: "c", image: "x", envFrom: [{ secretRef: { name: "gone", optional: true } }] }, ctx()), []);
});

test("service env vars: the namespace's Services and default's kubernetes, docker-link style; the container's own names win", async () => {
  const services = [
    { metadata: { name: "kubernetes", namespace: "default" }, spec: { clusterIP: "10.43.0.1", ports: [{ name: "https", port: 443, protocol: "TCP" }] } },
    { metadata: { name: "my-db", namespace: "ns" }, spec: { clusterIP: "10.43.7.7", ports: [{ name: "pg", port: 5432 }, { name: "metrics-udp", port: 9000, protocol: "UDP" }] } },
    { metadata: { name: "headless", namespace: "ns" }, spec: { clusterIP: "None", ports: [{ port: 80 }] } },
    { metadata: { name: "elsewhere", namespace: "other" }, spec: { clusterIP: "10.43.8.8", ports: [{ port: 80 }] } },
  ];
  const c = { name: "c", image: "x", env: [{ name: "MY_DB_SERVICE_HOST", value: "mine" }, { name: "URL", value: "https://$(KUBERNETES_SERVICE_HOST):$(KUBERNETES_SERVICE_PORT)" }] };
  const env = new Map((await containerEnv(c, { ...ctx(), services })).map((kv) => kv.split(/=(.*)/s).slice(0, 2) as [string, string]));
  assert.equal(env.get("URL"), "https://10.43.0.1:443", "$(VAR) sees service variables");
  assert.equal(env.get("KUBERNETES_SERVICE_HOST"), "10.43.0.1");
  assert.equal(env.get("KUBERNETES_SERVICE_PORT"), "443");
  assert.equal(env.get("KUBERNETES_SERVICE_PORT_HTTPS"), "443");
  assert.equal(env.get("KUBERNETES_PORT"), "tcp://10.43.0.1:443");
  assert.equal(env.get("KUBERNETES_PORT_443_TCP"), "tcp://10.43.0.1:443");
  assert.equal(env.get("KUBERNETES_PORT_443_TCP_PROTO"), "tcp");
  assert.equal(env.get("KUBERNETES_PORT_443_TCP_PORT"), "443");
  assert.equal(env.get("KUBERNETES_PORT_443_TCP_ADDR"), "10.43.0.1");
  assert.equal(env.get("MY_DB_SERVICE_HOST"), "mine", "the container's own value wins");
  assert.equal(env.get("MY_DB_SERVICE_PORT_METRICS_UDP"), "9000");
  assert.equal(env.get("MY_DB_PORT_9000_UDP"), "udp://10.43.7.7:9000");
  assert.ok(![...env.keys()].some((k) => k.startsWith("HEADLESS_") || k.startsWith("ELSEWHERE_")), "headless and other namespaces' Services are left out");
  const noLinks = new Map((await containerEnv({ name: "c", image: "x" }, { ...ctx({ ...pod, spec: { ...pod.spec, enableServiceLinks: false } }), services })).map((kv) => kv.split(/=(.*)/s).slice(0, 2) as [string, string]));
  assert.equal(noLinks.get("KUBERNETES_SERVICE_HOST"), "10.43.0.1", "the API's Service is told even without service links");
  assert.ok(![...noLinks.keys()].some((k) => k.startsWith("MY_DB_")));
});
