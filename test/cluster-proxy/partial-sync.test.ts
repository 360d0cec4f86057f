// The service proxy's partial syncs against a real API server (in this process, SQLite) and
// real nft in network namespaces made here: after a run of changes each applied by a partial
// sync (a Service added, its slice added, an endpoint added, a slice moved to another Service by
// its label, a port changed, a Service deleted), the table is the one a proxy starting afresh
// (a full sync) writes for the same objects — listed by nft, byte for byte.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startApiServer } from "../../src/cluster/api/index.ts";
import { Client } from "../../src/cluster/client/index.ts";
import { startServiceProxy, type SyncReport } from "../../src/cluster/proxy/index.ts";

const skip = process.getuid?.() !== 0 ? "needs root" : spawnSync("nft", ["--version"]).status !== 0 ? "nft is not installed" : undefined;
const tag = randomBytes(3).toString("hex");
const namespaces = [`gantry-ps-${tag}-a`, `gantry-ps-${tag}-b`];
const SERVICES = { group: "", version: "v1", resource: "services", kind: "Service", namespaced: true };
const SLICES = { group: "discovery.k8s.io", version: "v1", resource: "endpointslices", kind: "EndpointSlice", namespaced: true };

before(() => {
  if (skip) return;
  for (const ns of namespaces) assert.equal(spawnSync("ip", ["netns", "add", ns]).status, 0);
});
after(() => {
  if (skip) return;
  for (const ns of namespaces) spawnSync("ip", ["netns", "del", ns]);
});

const service = (name: string, port = 80) => ({ apiVersion: "v1", kind: "Service", metadata: { name, namespace: "default" }, spec: { type: "NodePort", ports: [{ name: "http", port, protocol: "TCP" }] } });
const slice = (name: string, svc: string, ips: string[]) => ({
  apiVersion: "discovery.k8s.io/v1",
  kind: "EndpointSlice",
  metadata: { name, namespace: "default", labels: { "kubernetes.io/service-name": svc } },
  addressType: "IPv4",
  ports: [{ name: "http", port: 8080, protocol: "TCP" }],
  endpoints: ips.map((ip) => ({ addresses: [ip], conditions: { ready: true }, nodeName: "node-a" })),
});
const table = (ns: string) => spawnSync("ip", ["netns", "exec", ns, "nft", "list", "table", "ip", "gantry-svc-ps"], { encoding: "utf8" }).stdout;

test("partial syncs leave the table a full sync writes for the same Services and slices", { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "gantry-partial-"));
  const api = await startApiServer({ dataDir: join(dir, "server"), host: "127.0.0.1", port: 0, historyMs: 0 });
  const client = new Client(api.inProcessTransport(), { fieldManager: "test" });
  const services = client.resource(SERVICES);
  const slices = client.resource(SLICES);
  const reports: SyncReport[] = [];
  const proxy = await startServiceProxy({ client, nodeName: "node-a", table: "gantry-svc-ps", netns: `/run/netns/${namespaces[0]}`, onSync: (r) => reports.push(r) });
  let fresh: Awaited<ReturnType<typeof startServiceProxy>> | undefined;
  try {
    for (const name of ["one", "two", "three"]) await services.create("default", service(name));
    await slices.create("default", slice("one-1", "one", ["10.42.0.5", "10.42.0.6"]));
    await slices.create("default", slice("two-1", "two", ["10.42.0.7"]));
    await proxy.synced();
    const step = async (what: string, change: () => Promise<unknown>) => {
      await change();
      await proxy.synced();
      assert.equal(reports.at(-1)!.full, false, `${what}: a partial sync`);
    };
    // Replaces a slice keeping its resourceVersion (an update, not a create).
    const replaceSlice = async (next: ReturnType<typeof slice>) => {
      const cur = await slices.get("default", next.metadata.name);
      return slices.update({ ...next, metadata: { ...next.metadata, resourceVersion: cur.metadata.resourceVersion } });
    };
    await step("an endpoint added", () => replaceSlice(slice("one-1", "one", ["10.42.0.5", "10.42.0.6", "10.42.0.8"])));
    await step("a slice moved to another Service", () => replaceSlice(slice("two-1", "three", ["10.42.0.7"])));
    await step("a port changed", async () => {
      const cur = structuredClone(await services.get("default", "one")) as unknown as { spec: { ports: { port: number }[] } };
      cur.spec.ports[0]!.port = 81;
      return services.update(cur as never);
    });
    await step("a Service deleted", () => services.delete("default", "three"));
    await step("a Service added", () => services.create("default", service("four")));
    assert.ok(reports.filter((r) => !r.full).every((r) => r.lines < 40), `partial syncs stay small: ${reports.map((r) => r.lines).join(" ")}`);

    fresh = await startServiceProxy({ client, nodeName: "node-a", table: "gantry-svc-ps", netns: `/run/netns/${namespaces[1]}` });
    const [partial, full] = [table(namespaces[0]!), table(namespaces[1]!)];
    assert.match(partial, /dnat to 10\.42\.0\.8:8080/);
    assert.doesNotMatch(partial, /three/);
    assert.equal(partial, full);
  } finally {
    await fresh?.stop();
    await proxy.stop();
    await api.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
