// The glass box of one container, for pod and engine containers alike: its namespaces (inode,
// who else is in each), the cgroup files that hold its limits, its id maps, the kernel steps
// `gantry explain` recorded, and live cpu / memory / pids charts.
import { useEffect, useState } from "preact/hooks";
import { api } from "./api.ts";
import { Chart, ErrorNote, formatBytes, formatCpu, Table } from "./widgets.tsx";

export interface Glass {
  pid: number;
  namespaces: { type: string; inode: number | string; path: string; sharedWith?: unknown }[];
  cgroup: { path: string; files: { name: string; value: string }[] };
  uidMap?: unknown;
  gidMap?: unknown;
  /** a pod's container (the node agent's answer): its sandbox and the pod-level cgroup */
  pod?: {
    sandbox: { name: string; pid: number } | null;
    sharedThroughSandbox: string[];
    cgroup: { path: string; files: { name: string; value: string }[] };
  };
}

function CgroupFiles({ label, files }: { label: string; files: { name: string; value: string }[] }) {
  return (
    <Table label={label} headers={["File", "Value"]}>
      {files.map((f) => (
        <tr>
          <td>
            <code>{f.name}</code>
          </td>
          <td>
            <code>{f.value}</code>
          </td>
        </tr>
      ))}
    </Table>
  );
}

/** One answer of the API at PATH, fetched again when PATH changes. */
export function useJson<T>(path: string | null): { value?: T; error?: Error } {
  const [state, setState] = useState<{ value?: T; error?: Error }>({});
  useEffect(() => {
    setState({});
    if (!path) return;
    let live = true;
    api<T>(path).then(
      (value) => live && setState({ value }),
      (error: Error) => live && setState({ error }),
    );
    return () => {
      live = false;
    };
  }, [path]);
  return state;
}

const describe = (v: unknown): string => {
  if (v === undefined || v === null || v === "") return "";
  if (Array.isArray(v)) return v.map(describe).join(", ");
  if (typeof v === "object")
    return Object.entries(v as Record<string, unknown>)
      .map(([k, x]) => `${k}: ${describe(x)}`)
      .join(", ");
  return String(v);
};

export function GlassView({ path, name }: { path: string; name: string }) {
  const { value: glass, error } = useJson<Glass>(path);
  if (error) return <ErrorNote error={error} />;
  if (!glass) return <p>Loading the glass box…</p>;
  return (
    <div class="glass">
      <p>
        Process <code aria-label={`pid of ${name}`}>{glass.pid}</code> on the host
      </p>
      <h4>Namespaces</h4>
      <Table label={`Namespaces of ${name}`} headers={["Type", "Inode", "Shared with"]}>
        {glass.namespaces.map((ns) => (
          <tr data-ns-type={ns.type}>
            <td>{ns.type}</td>
            <td class="inode">{String(ns.inode)}</td>
            <td>{describe(ns.sharedWith) || <em>only this container</em>}</td>
          </tr>
        ))}
      </Table>
      <h4>
        Cgroup <code>{glass.cgroup.path}</code>
      </h4>
      <CgroupFiles label={`Cgroup files of ${name}`} files={glass.cgroup.files} />
      {glass.pod && (
        <>
          <p>
            Shared through the pod's sandbox
            {glass.pod.sandbox ? ` (${glass.pod.sandbox.name}, pid ${glass.pod.sandbox.pid})` : ""}:{" "}
            <strong aria-label={`Namespaces ${name} shares through its pod`}>
              {glass.pod.sharedThroughSandbox.join(", ") || "none"}
            </strong>
          </p>
          <h4>
            Pod cgroup <code>{glass.pod.cgroup.path}</code>
          </h4>
          <CgroupFiles label={`Pod cgroup files of ${name}`} files={glass.pod.cgroup.files} />
        </>
      )}
      {(glass.uidMap !== undefined || glass.gidMap !== undefined) && (
        <p>
          uid map: <code>{describe(glass.uidMap) || "none (host ids)"}</code>; gid map:{" "}
          <code>{describe(glass.gidMap) || "none (host ids)"}</code>
        </p>
      )}
    </div>
  );
}

/** A recorded step (runtime/explain.ts): what was done, by whom, when, and its own fields. */
interface Step {
  step: string;
  by?: string;
  when?: string;
  done?: boolean;
  [field: string]: unknown;
}

export function ExplainView({ path, name }: { path: string; name: string }) {
  const { value, error } = useJson<{ steps: Step[] }>(path);
  if (error) return <ErrorNote error={error} />;
  if (!value) return <p>Loading the recorded steps…</p>;
  return (
    <ol class="steps" aria-label={`Kernel steps of ${name}`}>
      {value.steps.map(({ step, by, when, done, ...rest }) => (
        <li data-step={step}>
          <code>{step}</code>{" "}
          <small>{[by, when, done === false ? "not yet" : ""].filter(Boolean).join(", ")}</small>{" "}
          {describe(rest)}
        </li>
      ))}
    </ol>
  );
}

export interface Usage {
  /** ms since the epoch */
  at: number;
  /** cumulative CPU time, ns */
  cpuNs: number;
  memoryBytes: number;
  pids: number;
}

const KEEP = 90;

/** cpu (cores, from the growth of CPU time), memory and pids charts of a sampled series. */
export function UsageCharts({ samples, name }: { samples: Usage[]; name: string }) {
  const cpu: [number, number][] = [];
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1]!;
    const b = samples[i]!;
    if (b.at > a.at) cpu.push([b.at, Math.max(0, (b.cpuNs - a.cpuNs) / ((b.at - a.at) * 1e6))]);
  }
  return (
    <div class="charts" aria-label={`Usage of ${name}`}>
      <Chart label="cpu" unit={formatCpu} samples={cpu} />
      <Chart label="memory" unit={formatBytes} samples={samples.map((s) => [s.at, s.memoryBytes])} />
      <Chart label="pids" unit={(v) => String(Math.round(v))} samples={samples.map((s) => [s.at, s.pids])} />
    </div>
  );
}

/** Appends SAMPLE to a kept window, dropping repeats of the same reading. */
export function appendSample(samples: Usage[], sample: Usage | undefined): Usage[] {
  if (!sample) return samples;
  const last = samples[samples.length - 1];
  if (last && last.at === sample.at && last.cpuNs === sample.cpuNs && last.memoryBytes === sample.memoryBytes)
    return samples;
  return [...samples, sample].slice(-KEEP);
}
