// NetworkPolicy's truth table, as Kubernetes' e2e suite (test/e2e/network/netpol) checks it,
// shared by the one-node test (gantry server) and the 3-node one (gantry cluster create): pods
// a, b, c (label pod=<name>) in namespaces x, y, z, each serving HTTP on ports 80 and 81 (named
// serve-80, serve-81). Every pod fetches from every other pod's IP on both ports, and the 9×9
// matrix of what connected is compared with what the policies allow (busybox wget under
// `timeout`: its own -T crashes); a mismatch re-probes, as the e2e suite does, since a node
// applies a policy a moment after the API stores it.
import assert from "node:assert/strict";
import type { TestContext } from "node:test";

/** What the table needs of a cluster: kubectl, and a command run in a pod. */
export interface PolicyCluster {
  kubectl(args: string[], input?: string): Promise<string>;
  exec(pod: string, cmd: string[], namespace: string): Promise<{ code: number; stdout: string; stderr: string }>;
}

export const NAMESPACES = ["x", "y", "z"];
export const PODS = ["a", "b", "c"];
const PORTS = [80, 81];
export const ALL = NAMESPACES.flatMap((ns) => PODS.map((pod) => `${ns}/${pod}`));

/** The namespaces and pods; nodeOf pins a pod to a node (spread over several nodes). */
export function podsYaml(image = "busybox", nodeOf?: (ns: string, pod: string) => string | undefined): string {
  const docs: string[] = [];
  for (const ns of NAMESPACES) {
    docs.push(`apiVersion: v1\nkind: Namespace\nmetadata: {name: "${ns}"}`);
    for (const pod of PODS)
      docs.push(`apiVersion: v1
kind: Pod
metadata: {name: ${pod}, namespace: "${ns}", labels: {pod: "${pod}"}}
spec:${nodeOf?.(ns, pod) ? `\n  nodeName: ${nodeOf(ns, pod)}` : ""}
  terminationGracePeriodSeconds: 1
  containers:
  - name: serve
    image: ${image}
    imagePullPolicy: Never
    ports: [{containerPort: 80, name: serve-80}, {containerPort: 81, name: serve-81}]
    command: [sh, -c, 'mkdir -p /www && echo ok >/www/index.html && httpd -p 80 -h /www && httpd -p 81 -h /www && while :; do sleep 1; done']`);
  }
  return docs.join("\n---\n");
}

type Matrix = Map<string, boolean>; // "from->to:port" → connected
const key = (from: string, to: string, port: number) => `${from}->${to}:${port}`;

/** What the e2e suite prints: a row per source, `.` allowed, `X` blocked, per port. */
function table(m: Matrix): string {
  return PORTS.map((port) => [`port ${port}`, `     ${ALL.join(" ")}`, ...ALL.map((from) => `${from}  ${ALL.map((to) => (m.get(key(from, to, port)) ? ".  " : "X  ")).join(" ")}`)].join("\n")).join("\n\n");
}

async function probeAll(node: PolicyCluster, ips: Map<string, string>): Promise<Matrix> {
  const m: Matrix = new Map();
  await Promise.all(
    ALL.map(async (from) => {
      const [ns, pod] = from.split("/") as [string, string];
      const targets = ALL.flatMap((to) => PORTS.map((port) => `${to}=${ips.get(to)}:${port}`));
      const script = `for t in ${targets.join(" ")}; do if timeout 3 wget -q -O /dev/null http://\${t#*=}/; then echo "$t 1"; else echo "$t 0"; fi; done`;
      const r = await node.exec(pod, ["sh", "-c", script], ns);
      if (r.code !== 0) throw new Error(`probing from ${from}: exit ${r.code}: ${r.stderr}`);
      const lines = r.stdout.trim().split("\n");
      for (const line of lines) {
        const mt = /^(\S+)=[\d.]+:(\d+) ([01])$/.exec(line);
        if (mt) m.set(key(from, mt[1]!, Number(mt[2])), mt[3] === "1");
      }
      if (lines.length !== ALL.length * PORTS.length) throw new Error(`probing from ${from}: ${r.stdout} ${r.stderr}`);
    }),
  );
  return m;
}

/** Expected: allowed(from, to, port), loopback (a pod to itself) always allowed. */
export function expected(allowed: (from: string, to: string, port: number) => boolean): Matrix {
  const m: Matrix = new Map();
  for (const from of ALL) for (const to of ALL) for (const port of PORTS) m.set(key(from, to, port), from === to || allowed(from, to, port));
  return m;
}

export async function check(node: PolicyCluster, ips: Map<string, string>, name: string, want: Matrix) {
  let got: Matrix = new Map();
  for (let attempt = 0; attempt < 3; attempt++) {
    got = await probeAll(node, ips);
    if (table(got) === table(want)) return;
    await new Promise((r) => setTimeout(r, 1000));
  }
  assert.equal(table(got), table(want), `${name}: probed (first) vs expected (second)`);
}

export async function setPolicies(node: PolicyCluster, yaml: string | undefined) {
  await node.kubectl(["delete", "networkpolicies", "--all", "--all-namespaces"]);
  if (yaml) await node.kubectl(["apply", "-f", "-"], yaml);
}

/** Each pod's IP once Running (and its node, for tables that spread pods over nodes). */
export async function podAddresses(c: PolicyCluster, until: <T>(what: string, probe: () => Promise<T | undefined>, ms?: number) => Promise<T>): Promise<{ ips: Map<string, string>; nodes: Map<string, string> }> {
  const ips = new Map<string, string>();
  const nodes = new Map<string, string>();
  for (const ns of NAMESPACES)
    for (const pod of PODS) {
      const [ip, node] = await until(`${ns}/${pod} Running`, async () => {
        const [phase, ip, node] = (await c.kubectl(["get", "pod", pod, "-n", ns, "-o", "jsonpath={.status.phase} {.status.podIP} {.spec.nodeName}"])).split(" ");
        return phase === "Running" && ip ? ([ip, node ?? ""] as const) : undefined;
      }, 180_000);
      ips.set(`${ns}/${pod}`, ip);
      nodes.set(`${ns}/${pod}`, node);
    }
  return { ips, nodes };
}

/**
 * The cases, in order, as subtests of t: no policy; default deny ingress in x; x/a from
 * namespace y only; x/a on its named port serve-81 from x/b and an ipBlock except y's pods;
 * x/a's egress only to z on TCP 80-80; every policy deleted. afterDefaultDeny checks the node's
 * rules while default deny is in place.
 */
export async function runTruthTable(t: TestContext, c: PolicyCluster, ips: Map<string, string>, afterDefaultDeny?: () => void): Promise<void> {
  await t.test("no policy: everything connects", () => check(c, ips, "no policy", expected(() => true)));

  await t.test("default deny ingress in x", async () => {
    await setPolicies(c, `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny-all, namespace: x}\nspec: {podSelector: {}, policyTypes: [Ingress]}`);
    await check(c, ips, "default deny ingress", expected((_from, to) => !to.startsWith("x/")));
    afterDefaultDeny?.();
  });

  await t.test("x/a allows ingress only from namespace y", async () => {
    await setPolicies(
      c,
      `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: from-y, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress: [{from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: "y"}}}]}]`,
    );
    await check(c, ips, "allow from namespace y", expected((from, to) => to !== "x/a" || from.startsWith("y/")));
  });

  await t.test("x/a allows ingress only on its named port serve-81, from x/b and 10.0.0.0/8 except y's pods", async () => {
    const except = PODS.map((p) => `${ips.get(`y/${p}`)}/32`).join(", ");
    await setPolicies(
      c,
      `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: port-81, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Ingress]
  ingress:
  - ports: [{port: serve-81}]
    from: [{podSelector: {matchLabels: {pod: b}}}, {ipBlock: {cidr: 10.0.0.0/8, except: [${except}]}}]`,
    );
    await check(c, ips, "allow by port", expected((from, to, port) => to !== "x/a" || (port === 81 && !from.startsWith("y/"))));
  });

  await t.test("x/a denies all egress but TCP 80-80 to namespace z", async () => {
    await setPolicies(
      c,
      `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: egress, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  egress: [{to: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: "z"}}}], ports: [{protocol: TCP, port: 80, endPort: 80}]}]`,
    );
    await check(c, ips, "egress deny", expected((from, to, port) => from !== "x/a" || (to.startsWith("z/") && port === 80)));
  });

  await t.test("deleting every policy opens everything again", async () => {
    await setPolicies(c, undefined);
    await check(c, ips, "no policy again", expected(() => true));
  });
}
