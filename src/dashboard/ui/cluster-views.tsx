// The cluster's views: nodes with capacity and what pods have requested of it; workloads with
// their pods and the scale / rollout restart / delete actions; Services with their endpoints;
// events. Each list is live by a watch (api.ts).
import { useState } from "preact/hooks";
import { api, byName, useWatch, type KObject } from "./api.ts";
import { NamespaceHint, useNamespacedWatch } from "./namespace.tsx";
import { age, ErrorNote, formatBytes, formatCpu, parseQuantity, Section, Table } from "./widgets.tsx";

const PODS = "/api/v1/pods";

function podRequests(pod: KObject): { cpu: number; memory: number } {
  let cpu = 0;
  let memory = 0;
  for (const c of pod.spec?.containers ?? []) {
    cpu += parseQuantity(c.resources?.requests?.cpu);
    memory += parseQuantity(c.resources?.requests?.memory);
  }
  return { cpu, memory };
}

const isActive = (pod: KObject) => pod.status?.phase !== "Succeeded" && pod.status?.phase !== "Failed";

function ready(node: KObject): string {
  const c = (node.status?.conditions ?? []).find((c: { type: string }) => c.type === "Ready");
  return c?.status === "True" ? "Ready" : "NotReady";
}

export function NodesView() {
  const nodes = useWatch("/api/v1/nodes");
  const pods = useWatch(PODS);
  return (
    <Section title="Nodes">
      <ErrorNote error={nodes.error ?? pods.error} />
      <Table
        headers={[
          "Node",
          "Status",
          "CPU requested / allocatable",
          "Memory requested / allocatable",
          "Pods / capacity",
        ]}
      >
        {nodes.items.sort(byName).map((node) => {
          const onNode = pods.items.filter((p) => p.spec?.nodeName === node.metadata.name && isActive(p));
          const requested = onNode
            .map(podRequests)
            .reduce((a, b) => ({ cpu: a.cpu + b.cpu, memory: a.memory + b.memory }), {
              cpu: 0,
              memory: 0,
            });
          const alloc = node.status?.allocatable ?? {};
          return (
            <tr data-node={node.metadata.name}>
              <td>{node.metadata.name}</td>
              <td>{ready(node)}</td>
              <td>
                {formatCpu(requested.cpu)} / {formatCpu(parseQuantity(alloc.cpu))}
              </td>
              <td>
                {formatBytes(requested.memory)} / {formatBytes(parseQuantity(alloc.memory))}
              </td>
              <td>
                {onNode.length} / {node.status?.capacity?.pods ?? "?"}
              </td>
            </tr>
          );
        })}
      </Table>
    </Section>
  );
}

/** The workload kinds shown, with where they live in the API and how replicas are read. */
const WORKLOADS = [
  { kind: "Deployment", path: "/apis/apps/v1/deployments", scalable: true, restartable: true },
  { kind: "StatefulSet", path: "/apis/apps/v1/statefulsets", scalable: true, restartable: true },
  { kind: "DaemonSet", path: "/apis/apps/v1/daemonsets", scalable: false, restartable: true },
  { kind: "Job", path: "/apis/batch/v1/jobs", scalable: false, restartable: false },
  { kind: "CronJob", path: "/apis/batch/v1/cronjobs", scalable: false, restartable: false },
] as const;

type WorkloadKind = (typeof WORKLOADS)[number];

const resourcePath = (kind: WorkloadKind, o: KObject) =>
  kind.path.replace(/\/([a-z]+)$/, `/namespaces/${o.metadata.namespace}/$1/${o.metadata.name}`);

function matches(
  selector:
    | {
        matchLabels?: Record<string, string>;
        matchExpressions?: { key: string; operator: string; values?: string[] }[];
      }
    | undefined,
  labels: Record<string, string> = {},
): boolean {
  if (!selector) return false;
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = e.key in labels;
    const inValues = has && (e.values ?? []).includes(labels[e.key]!);
    if (
      (e.operator === "In" && !inValues) ||
      (e.operator === "NotIn" && inValues) ||
      (e.operator === "Exists" && !has) ||
      (e.operator === "DoesNotExist" && has)
    )
      return false;
  }
  return true;
}

function replicas(kind: WorkloadKind, o: KObject): string {
  const s = o.status ?? {};
  switch (kind.kind) {
    case "Deployment":
    case "StatefulSet":
      return `${s.readyReplicas ?? 0}/${o.spec?.replicas ?? 1} ready`;
    case "DaemonSet":
      return `${s.numberReady ?? 0}/${s.desiredNumberScheduled ?? 0} ready`;
    case "Job":
      return `${s.succeeded ?? 0}/${o.spec?.completions ?? 1} succeeded${s.active ? `, ${s.active} active` : ""}`;
    case "CronJob":
      return `${o.spec?.schedule}${o.spec?.suspend ? " (suspended)" : ""}, ${(s.active ?? []).length} active`;
  }
}

export function PodLink({ pod }: { pod: KObject }) {
  const status = pod.metadata.deletionTimestamp ? "Terminating" : (pod.status?.phase ?? "Pending");
  return (
    <a href={`#/pods/${pod.metadata.namespace}/${pod.metadata.name}`} data-pod={pod.metadata.name}>
      {pod.metadata.name} <span class={`phase ${status}`}>{status}</span>
    </a>
  );
}

function ScaleForm({ kind, o, onError }: { kind: WorkloadKind; o: KObject; onError: (e?: Error) => void }) {
  const [value, setValue] = useState(String(o.spec?.replicas ?? 1));
  const id = `scale-${o.metadata.namespace}-${o.metadata.name}`;
  const submit = (e: Event) => {
    e.preventDefault();
    onError(undefined);
    api(`${resourcePath(kind, o)}/scale`, {
      method: "PATCH",
      contentType: "application/merge-patch+json",
      body: { spec: { replicas: Number(value) } },
    }).catch(onError);
  };
  return (
    <form class="inline" onSubmit={submit}>
      <label for={id}>Replicas of {o.metadata.name}</label>
      <input
        id={id}
        type="number"
        value={value}
        onInput={(e) => setValue((e.target as HTMLInputElement).value)}
      />
      <button type="submit">Scale</button>
    </form>
  );
}

function WorkloadRow({
  kind,
  o,
  pods,
  jobs,
}: {
  kind: WorkloadKind;
  o: KObject;
  pods: KObject[];
  jobs: KObject[];
}) {
  const [error, setError] = useState<Error>();
  const ns = o.metadata.namespace;
  // a CronJob's pods are those of the Jobs it owns
  const selectors =
    kind.kind === "CronJob"
      ? jobs
          .filter(
            (j) =>
              j.metadata.namespace === ns &&
              j.metadata.ownerReferences?.some((r) => r.uid === o.metadata.uid),
          )
          .map((j) => j.spec?.selector)
      : [o.spec?.selector];
  const own = pods
    .filter((p) => p.metadata.namespace === ns && selectors.some((s) => matches(s, p.metadata.labels)))
    .sort(byName);
  const restart = () => {
    setError(undefined);
    // what `kubectl rollout restart` does: a new template annotation, so a new rollout
    const patch = {
      spec: {
        template: {
          metadata: { annotations: { "kubectl.kubernetes.io/restartedAt": new Date().toISOString() } },
        },
      },
    };
    api(resourcePath(kind, o), {
      method: "PATCH",
      contentType: "application/strategic-merge-patch+json",
      body: patch,
    }).catch(setError);
  };
  return (
    <li class="workload" data-workload={`${kind.kind}/${ns}/${o.metadata.name}`}>
      <div class="row">
        <span>
          <strong>{o.metadata.name}</strong> <small>{ns}</small>
        </span>
        <span class="replicas">{replicas(kind, o)}</span>
        {kind.scalable && <ScaleForm kind={kind} o={o} onError={setError} />}
        {kind.restartable && (
          <button type="button" aria-label={`Rollout restart ${o.metadata.name}`} onClick={restart}>
            Rollout restart
          </button>
        )}
      </div>
      <ErrorNote error={error} />
      <ul class="pods" aria-label={`Pods of ${o.metadata.name}`}>
        {own.map((p) => (
          <li>
            <PodLink pod={p} />
          </li>
        ))}
      </ul>
    </li>
  );
}

function WorkloadList({ kind, pods, jobs }: { kind: WorkloadKind; pods: KObject[]; jobs: KObject[] }) {
  const list = useNamespacedWatch(kind.path);
  return (
    <Section title={`${kind.kind}s`}>
      <ErrorNote error={list.error} />
      {list.loaded && list.items.length === 0 && <p class="empty">None.</p>}
      <ul class="workloads">
        {list.items.sort(byName).map((o) => (
          <WorkloadRow kind={kind} o={o} pods={pods} jobs={jobs} />
        ))}
      </ul>
    </Section>
  );
}

export function WorkloadsView() {
  const pods = useNamespacedWatch(PODS);
  const jobs = useNamespacedWatch("/apis/batch/v1/jobs");
  const owned = new Set(
    pods.items.filter((p) => p.metadata.ownerReferences?.length).map((p) => p.metadata.uid),
  );
  const bare = pods.items.filter((p) => !owned.has(p.metadata.uid)).sort(byName);
  return (
    <>
      <ErrorNote error={pods.error} />
      <NamespaceHint error={pods.error} />
      {WORKLOADS.map((kind) => (
        <WorkloadList kind={kind} pods={pods.items} jobs={jobs.items} />
      ))}
      <Section title="Pods without a controller">
        <ul class="pods" aria-label="Pods without a controller">
          {bare.map((p) => (
            <li>
              <PodLink pod={p} />
            </li>
          ))}
        </ul>
      </Section>
    </>
  );
}

export function ServicesView() {
  const services = useNamespacedWatch("/api/v1/services");
  const endpoints = useNamespacedWatch("/api/v1/endpoints");
  return (
    <Section title="Services">
      <ErrorNote error={services.error ?? endpoints.error} />
      <NamespaceHint error={services.error ?? endpoints.error} />
      <Table headers={["Service", "Type", "Cluster IP", "Ports", "Endpoints"]}>
        {services.items.sort(byName).map((s) => {
          const ep = endpoints.items.find(
            (e) => e.metadata.namespace === s.metadata.namespace && e.metadata.name === s.metadata.name,
          );
          const addresses = (
            (ep?.subsets as {
              addresses?: { ip: string; targetRef?: { name: string } }[];
              ports?: { port: number }[];
            }[]) ?? []
          ).flatMap((sub) =>
            (sub.addresses ?? []).flatMap((a) =>
              (sub.ports ?? [{ port: 0 }]).map(
                (p) => `${a.ip}${p.port ? `:${p.port}` : ""}${a.targetRef ? ` (${a.targetRef.name})` : ""}`,
              ),
            ),
          );
          return (
            <tr data-service={`${s.metadata.namespace}/${s.metadata.name}`}>
              <td>
                {s.metadata.name} <small>{s.metadata.namespace}</small>
              </td>
              <td>{s.spec?.type}</td>
              <td>{s.spec?.clusterIP}</td>
              <td>
                {(s.spec?.ports ?? [])
                  .map(
                    (p: { port: number; protocol: string; targetPort?: number | string }) =>
                      `${p.port}/${p.protocol}→${p.targetPort ?? p.port}`,
                  )
                  .join(", ")}
              </td>
              <td>{addresses.length ? addresses.join(", ") : <em>none ready</em>}</td>
            </tr>
          );
        })}
      </Table>
    </Section>
  );
}

export function EventsView() {
  const events = useNamespacedWatch("/api/v1/events");
  const when = (e: KObject) => String(e.lastTimestamp ?? e.eventTime ?? e.metadata.creationTimestamp ?? "");
  const newest = events.items.sort((a, b) => when(b).localeCompare(when(a))).slice(0, 200);
  return (
    <Section title="Events">
      <ErrorNote error={events.error} />
      <NamespaceHint error={events.error} />
      <Table headers={["Age", "Type", "Reason", "Object", "Message"]}>
        {newest.map((e) => {
          const io = e.involvedObject as { kind?: string; name?: string; namespace?: string } | undefined;
          return (
            <tr>
              <td>{age(when(e))}</td>
              <td>{String(e.type ?? "")}</td>
              <td>{String(e.reason ?? "")}</td>
              <td>
                {io?.kind}/{io?.name}
              </td>
              <td>
                {String(e.message ?? "")}
                {Number(e.count ?? 1) > 1 ? ` (×${e.count})` : ""}
              </td>
            </tr>
          );
        })}
      </Table>
    </Section>
  );
}
