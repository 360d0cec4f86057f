// `gantry explain CONTAINER`: the kernel steps the runtime recorded when it created the
// container, in order, one line each (runtime/explain-text.ts reads them), then what the
// kernel holds now: its namespaces with who shares them, and its cgroup's limit files.
// `gantry explain --kubeconfig F [-n NS] pod/NAME [-c C]` asks the pod's node agent the same
// through the API server's nodes/proxy, and adds the pod: what it shares through its sandbox
// and its pod-level cgroup.
import type { Command } from "commander";
import { Client } from "../../../cluster/client/index.ts";
import { GantryError, invalidArgument } from "../../../common/errors.ts";
import type { Explained, Glass } from "../../../engine/index.ts";
import { describeStep } from "../../../runtime/index.ts";
import { containersOf } from "../daemon-client.ts";
import { out, table } from "./output.ts";

/** The report as text: steps first, then the live namespace table and cgroup files (when running). */
export function explainText(e: Explained, glass: Glass | undefined): string[] {
  const lines = [`${e.name} (${e.id.slice(0, 12)}), set up for pid ${e.pid} at ${e.recordedAt}:`];
  const width = String(e.steps.length).length;
  for (const [i, s] of e.steps.entries()) {
    const when = !s.done ? "  [not yet: runs at start]" : s.when === "start" ? "  [at start]" : s.when === "update" ? `  [update at ${String(s.at)}]` : "";
    lines.push(`${String(i + 1).padStart(width)}  ${s.by.padEnd(9)} ${s.step.padEnd(17)} ${describeStep(s)}${when}`);
  }
  if (!glass) return lines;
  lines.push("", `namespaces now (pid ${glass.pid}):`);
  for (const n of glass.namespaces) {
    lines.push(`  ${n.type.padEnd(7)} ${`${n.type}:[${n.inode}]`.padEnd(20)} ${n.sharedWith.length ? `shared with: ${n.sharedWith.join(", ")}` : "own"}`);
  }
  lines.push("", `cgroup ${glass.cgroup.path}:`);
  for (const f of glass.cgroup.files) lines.push(`  ${f.path} = ${f.value}`);
  if (glass.uidMap.length) lines.push("", `uid_map: ${glass.uidMap.join("; ")}`, `gid_map: ${glass.gidMap.join("; ")}`);
  return lines;
}

/** What the node agent adds for a pod's container (src/cluster/agent/glass-routes.ts). */
interface PodSection {
  namespace: string;
  name: string;
  uid: string;
  container: string;
  sandbox: { name: string; id: string; pid: number } | null;
  sharedThroughSandbox: string[];
  cgroup: { path: string; files: { name: string; value: string; path: string }[] };
}

export function podText(p: PodSection): string[] {
  const lines = ["", `pod ${p.namespace}/${p.name} (uid ${p.uid}), container ${p.container}:`];
  if (p.sandbox) {
    lines.push(`  sandbox ${p.sandbox.name} (pid ${p.sandbox.pid}); namespaces shared through it: ${p.sharedThroughSandbox.join(", ") || "none"}`);
  } else {
    lines.push("  no sandbox on this node");
  }
  lines.push(`  pod cgroup ${p.cgroup.path}:`);
  for (const f of p.cgroup.files) lines.push(`    ${f.path} = ${f.value}`);
  return lines;
}

export interface PodFlags {
  kubeconfig?: string;
  namespace: string;
  container?: string;
  json?: boolean;
}

/** A pod as the API server has it, and the nodes/proxy path of its agent's glass routes. */
async function podThroughApi(verb: string, ref: string, o: PodFlags): Promise<{ client: Client; name: string; containers: string[]; base: string }> {
  const kubeconfig = o.kubeconfig ?? process.env.KUBECONFIG;
  if (!kubeconfig) throw invalidArgument(`${verb} ${ref}: a pod needs --kubeconfig (or KUBECONFIG)`);
  const name = ref.replace(/^pods?\//, "");
  if (!name) throw invalidArgument(`${verb} ${ref}: name the pod as pod/NAME`);
  const client = Client.fromKubeconfig(kubeconfig);
  const ns = encodeURIComponent(o.namespace);
  const pod = await client.send<{ spec: { nodeName?: string; containers: { name: string }[] } }>("GET", `/api/v1/namespaces/${ns}/pods/${encodeURIComponent(name)}`);
  const node = pod.spec.nodeName;
  if (!node) throw new GantryError("CONFLICT", `pod ${o.namespace}/${name} is not scheduled to a node yet`);
  const base = `/api/v1/nodes/${encodeURIComponent(node)}/proxy/gantry/pods/${ns}/${encodeURIComponent(name)}`;
  return { client, name, containers: pod.spec.containers.map((c) => c.name), base };
}

/** A pod's container through the API server's nodes/proxy to the agent of the pod's node. */
async function explainPod(ref: string, o: PodFlags): Promise<void> {
  const { client, name, containers, base } = await podThroughApi("explain", ref, o);
  const container = o.container ?? containers[0] ?? "";
  if (!containers.includes(container)) throw invalidArgument(`container ${container} is not valid for pod ${name}: choose one of ${containers.join(", ")}`);
  const path = `${base}/${encodeURIComponent(container)}`;
  const explained = await client.send<Explained & { pod: PodSection }>("GET", `${path}/explain`);
  const glass = await client.send<Glass & { pod: PodSection }>("GET", `${path}/glass`).catch(() => undefined);
  if (o.json) {
    out(JSON.stringify({ ...explained, glass }, null, 2));
    return;
  }
  for (const l of [...explainText(explained, glass), ...podText(glass?.pod ?? explained.pod)]) out(l);
}

/**
 * `gantry ns --kubeconfig F pod/NAME`: one column per container of the pod (and its sandbox),
 * one row per namespace type, each cell the inode and whether it is the sandbox's, the
 * container's own, or the host's; then the pod-level cgroup.
 */
export async function podNamespaces(ref: string, o: PodFlags): Promise<void> {
  const { client, containers, base } = await podThroughApi("ns", ref, o);
  const glasses = await Promise.all(containers.map((c) => client.send<Glass & { pod: PodSection }>("GET", `${base}/${encodeURIComponent(c)}/glass`)));
  const pod = glasses[0]!.pod;
  const sandbox = pod.sandbox?.name;
  const types = [...new Set(glasses.flatMap((g) => g.namespaces.map((n) => n.type)))];
  const cell = (g: Glass, type: string) => {
    const n = g.namespaces.find((x) => x.type === type);
    if (!n) return "-";
    const whose = n.sharedWith.includes("host") ? "host" : sandbox && n.sharedWith.includes(sandbox) ? "sandbox" : "own";
    return `${type}:[${n.inode}] ${whose}`;
  };
  out(`pod ${pod.namespace}/${pod.name} (uid ${pod.uid})${pod.sandbox ? `, sandbox ${pod.sandbox.name} (pid ${pod.sandbox.pid})` : ""}:`);
  table([["NAMESPACE", ...containers], ...types.map((t) => [t, ...glasses.map((g) => cell(g, t))])]);
  const shared = types.filter((t) => glasses.every((g) => cell(g, t).endsWith(" sandbox")));
  out(`shared through the sandbox by every container: ${shared.join(", ") || "none"}`);
  out(`pod cgroup ${pod.cgroup.path}:`);
  for (const f of pod.cgroup.files) out(`  ${f.path} = ${f.value}`);
}

export function registerExplainCommand(program: Command): void {
  program
    .command("explain")
    .description("The kernel steps a container was set up with (recorded at create), then its namespaces and cgroup files now")
    .option("--json", "the recorded steps and the live view as JSON")
    .option("--kubeconfig <file>", "explain pod/NAME of a cluster, through the API server to the pod's node ($KUBECONFIG)")
    .option("-n, --namespace <ns>", "the pod's namespace", "default")
    .option("-c, --container <name>", "the pod's container (default: its first)")
    .argument("<container>", "an engine container (name or id), or pod/NAME with --kubeconfig")
    .action(async (ref: string, o: PodFlags, cmd: Command) => {
      if (o.kubeconfig || /^pods?\//.test(ref)) return explainPod(ref, o);
      const containers = containersOf(cmd);
      const explained = await containers.explain(ref);
      // A stopped container has its record but no process to look at.
      const glass = await containers.glass(ref).catch(() => undefined);
      if (o.json) out(JSON.stringify({ ...explained, glass }, null, 2));
      else for (const l of explainText(explained, glass)) out(l);
    });
}
