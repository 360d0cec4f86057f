// One pod: its status (live by a watch on just that pod), delete, and for each container its
// streaming log, usage charts, namespaces, cgroup files and recorded kernel steps. Container
// details come from the pod's node through the API's node proxy, so RBAC's nodes/proxy
// decides who sees them.
import { useEffect, useState } from "preact/hooks";
import { api, useWatch, type KObject } from "./api.ts";
import { streamLines } from "./streams.ts";
import { appendSample, ExplainView, GlassView, UsageCharts, type Usage } from "./glass.tsx";
import { age, ErrorNote, LogView, Section, useStreamLines } from "./widgets.tsx";

interface SummaryContainer {
  name: string;
  cpu?: { time?: string; usageCoreNanoSeconds?: number };
  memory?: { time?: string; workingSetBytes?: number };
  processes?: number;
}
interface StatsSummary {
  pods: { podRef: { name: string; namespace: string }; containers: SummaryContainer[] }[];
}

const SAMPLE_EVERY_MS = 2000;

/** The pod's containers' usage, sampled from its node's /stats/summary (cgroup statistics). */
function usePodUsage(
  node: string | undefined,
  namespace: string,
  name: string,
): { byContainer: Record<string, Usage[]>; error?: Error } {
  const [state, setState] = useState<{ byContainer: Record<string, Usage[]>; error?: Error }>({
    byContainer: {},
  });
  useEffect(() => {
    if (!node) return;
    let stopped = false;
    const sample = async () => {
      try {
        const summary = await api<StatsSummary>(
          `/api/v1/nodes/${encodeURIComponent(node)}/proxy/stats/summary`,
        );
        const pod = summary.pods.find((p) => p.podRef.namespace === namespace && p.podRef.name === name);
        setState((s) => {
          const next = { ...s.byContainer };
          for (const c of pod?.containers ?? []) {
            const at = Date.parse(c.memory?.time ?? c.cpu?.time ?? "") || Date.now();
            next[c.name] = appendSample(next[c.name] ?? [], {
              at,
              cpuNs: c.cpu?.usageCoreNanoSeconds ?? 0,
              memoryBytes: c.memory?.workingSetBytes ?? 0,
              pids: c.processes ?? 0,
            });
          }
          return { byContainer: next };
        });
      } catch (error) {
        setState((s) => ({ ...s, error: error as Error }));
      }
      if (!stopped) timer = setTimeout(sample, SAMPLE_EVERY_MS);
    };
    let timer = setTimeout(sample, 0);
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [node, namespace, name]);
  return state;
}

function ContainerPanel({ pod, container, usage }: { pod: KObject; container: string; usage: Usage[] }) {
  const [tab, setTab] = useState<"logs" | "usage" | "namespaces" | "explain">("logs");
  const { namespace, name } = pod.metadata;
  const node = pod.spec?.nodeName as string | undefined;
  const base = `/api/v1/nodes/${encodeURIComponent(node ?? "")}/proxy/gantry/pods/${encodeURIComponent(namespace!)}/${encodeURIComponent(name)}/${encodeURIComponent(container)}`;
  const logs = useStreamLines(
    tab === "logs"
      ? (onLine, signal) =>
          streamLines(
            `/api/v1/namespaces/${namespace}/pods/${name}/log?container=${encodeURIComponent(container)}&follow=true&tailLines=500`,
            onLine,
            signal,
          )
      : null,
    [tab, namespace, name, container],
  );
  const tabs = [
    ["logs", "Logs"],
    ["usage", "Usage"],
    ["namespaces", "Namespaces & cgroup"],
    ["explain", "Kernel steps"],
  ] as const;
  return (
    <section class="container" aria-label={`Container ${container}`}>
      <h3>{container}</h3>
      <div role="tablist" aria-label={`Views of ${container}`}>
        {tabs.map(([id, label]) => (
          <button type="button" role="tab" aria-selected={tab === id} onClick={() => setTab(id)}>
            {label}
          </button>
        ))}
      </div>
      <div role="tabpanel">
        {tab === "logs" && <LogView label={`Logs of ${container}`} lines={logs.lines} error={logs.error} />}
        {tab === "usage" && <UsageCharts samples={usage} name={container} />}
        {tab === "namespaces" &&
          (node ? <GlassView path={`${base}/glass`} name={container} /> : <p>Not scheduled yet.</p>)}
        {tab === "explain" &&
          (node ? <ExplainView path={`${base}/explain`} name={container} /> : <p>Not scheduled yet.</p>)}
      </div>
    </section>
  );
}

export function PodView({ namespace, name }: { namespace: string; name: string }) {
  const watch = useWatch(
    `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods?fieldSelector=${encodeURIComponent(`metadata.name=${name}`)}`,
  );
  const pod = watch.items[0];
  const usage = usePodUsage(pod?.spec?.nodeName, namespace, name);
  const [error, setError] = useState<Error>();
  const remove = () => {
    setError(undefined);
    api(`/api/v1/namespaces/${namespace}/pods/${name}`, { method: "DELETE" }).catch(setError);
  };
  return (
    <Section title={`Pod ${namespace}/${name}`}>
      <ErrorNote error={watch.error ?? error ?? usage.error} />
      {watch.loaded && !pod && <p>This pod is gone.</p>}
      {pod && (
        <>
          <dl class="facts">
            <dt>Phase</dt>
            <dd>
              <span class={`phase ${pod.metadata.deletionTimestamp ? "Terminating" : pod.status?.phase}`}>
                {pod.metadata.deletionTimestamp ? "Terminating" : pod.status?.phase}
              </span>
            </dd>
            <dt>Node</dt>
            <dd>{pod.spec?.nodeName ?? "(not scheduled)"}</dd>
            <dt>Pod IP</dt>
            <dd>{pod.status?.podIP ?? ""}</dd>
            <dt>Age</dt>
            <dd>{age(pod.metadata.creationTimestamp)}</dd>
            <dt>Containers</dt>
            <dd>
              {(pod.status?.containerStatuses ?? [])
                .map(
                  (c: {
                    name: string;
                    ready: boolean;
                    restartCount: number;
                    state?: Record<string, unknown>;
                  }) =>
                    `${c.name}: ${Object.keys(c.state ?? {})[0] ?? "?"}${c.ready ? ", ready" : ""}, ${c.restartCount} restarts`,
                )
                .join("; ")}
            </dd>
          </dl>
          <button type="button" class="danger" aria-label={`Delete pod ${name}`} onClick={remove}>
            Delete pod
          </button>
          {(pod.spec?.containers ?? []).map((c: { name: string }) => (
            <ContainerPanel pod={pod} container={c.name} usage={usage.byContainer[c.name] ?? []} />
          ))}
        </>
      )}
    </Section>
  );
}
