// What RBAC costs a request: the same GET of one ConfigMap, sequentially over keep-alive
// HTTPS, as the admin (system:masters: allowed before RBAC is asked), as a user allowed by
// a RoleBinding to view's rules (system:aggregate-to-view: no controller manager runs here
// to aggregate `view` itself; RBAC reads the ClusterRoleBindings, the namespace's RoleBindings
// and the roles they name from the store), and as that user impersonated by the admin.
//   node --import tsx bench/api/rbac.ts [--requests 2000] [--bindings 0]
// --bindings adds that many unrelated RoleBindings in the namespace (RBAC reads them all).
// Prints the median and p95 latency of each and the ratio to the admin's median.
import { Agent, request } from "node:https";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { startApiServer } from "../../src/cluster/api/server.ts";

const { values } = parseArgs({ options: { requests: { type: "string", default: "2000" }, bindings: { type: "string", default: "0" } } });
const REQUESTS = Number(values.requests);
const BINDINGS = Number(values.bindings);
const VIEWER_TOKEN = "bench-viewer-token";

const dir = mkdtempSync(join(tmpdir(), "gantry-bench-rbac-"));
writeFileSync(join(dir, "tokens.csv"), `${VIEWER_TOKEN},viewer,1\n`);
const server = await startApiServer({ dataDir: join(dir, "server"), host: "127.0.0.1", port: 0, historyMs: 0, tokenAuthFile: join(dir, "tokens.csv") });
const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: server.caCert });
const call = (method: string, path: string, token: string, body?: unknown, headers: Record<string, string> = {}) =>
  new Promise<number>((resolve, reject) => {
    const req = request(`${server.url}${path}`, { method, agent, headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json", ...headers } }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });

try {
  const admin = server.adminToken;
  const rb = (name: string, user: string, role: string) => ({ apiVersion: "rbac.authorization.k8s.io/v1", kind: "RoleBinding", metadata: { name }, roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: role }, subjects: [{ kind: "User", name: user }] });
  await call("POST", "/api/v1/namespaces/default/configmaps", admin, { metadata: { name: "probe" }, data: { k: "v" } });
  for (let i = 0; i < BINDINGS; i++) await call("POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings", admin, rb(`other-${i}`, `user-${i}`, "edit"));
  if ((await call("POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings", admin, rb("viewer-view", "viewer", "system:aggregate-to-view"))) !== 201) throw new Error("could not bind the viewer");

  const measure = async (token: string, headers: Record<string, string> = {}) => {
    const ms: number[] = [];
    for (let i = 0; i < REQUESTS; i++) {
      const t = process.hrtime.bigint();
      const status = await call("GET", "/api/v1/namespaces/default/configmaps/probe", token, undefined, headers);
      ms.push(Number(process.hrtime.bigint() - t) / 1e6);
      if (status !== 200) throw new Error(`GET answered ${status}`);
    }
    ms.sort((a, b) => a - b);
    return { median: ms[Math.floor(ms.length / 2)]!, p95: ms[Math.floor(ms.length * 0.95)]! };
  };
  await measure(admin); // warm-up
  const rows = [
    ["admin (system:masters)", await measure(admin)],
    ["viewer (RoleBinding)", await measure(VIEWER_TOKEN)],
    ["admin --as viewer", await measure(admin, { "Impersonate-User": "viewer" })],
  ] as const;
  const base = rows[0][1].median;
  console.log(`GET one ConfigMap, ${REQUESTS} sequential requests each, ${BINDINGS} other RoleBindings in the namespace`);
  for (const [who, r] of rows) console.log(`${who.padEnd(30)} median ${r.median.toFixed(2)} ms  p95 ${r.p95.toFixed(2)} ms  ×${(r.median / base).toFixed(2)}`);
} finally {
  agent.destroy();
  await server.close();
  rmSync(dir, { recursive: true, force: true });
}
