// `gantry daemon --dashboard-listen`: one engine's containers, live by the engine's event
// stream (GET /events), and for each container its log, its stats stream (cgroup statistics)
// as charts, and its glass box.
import { useEffect, useState } from "preact/hooks";
import { api } from "./api.ts";
import { openStream, streamLines } from "./streams.ts";
import { appendSample, ExplainView, GlassView, UsageCharts, type Usage } from "./glass.tsx";
import { ErrorNote, LogView, Section, Table, useStreamLines } from "./widgets.tsx";

interface ContainerSummary {
  Id: string;
  Names: string[];
  Image: string;
  State: string;
  Status: string;
}

const shortId = (id: string) => id.slice(0, 12);
const nameOf = (c: ContainerSummary) => (c.Names[0] ?? shortId(c.Id)).replace(/^\//, "");

/**
 * The container list, listed again whenever the engine reports a container event. The first
 * listing waits until the event stream is open on the engine's side: listed before, a container
 * made in between would be in neither (seen on a loaded machine).
 */
function useContainers(): { items: ContainerSummary[]; error?: Error } {
  const [state, setState] = useState<{ items: ContainerSummary[]; error?: Error }>({ items: [] });
  useEffect(() => {
    const abort = new AbortController();
    // events come in bursts (create, start, ...): only the newest listing's answer is shown,
    // whatever order the answers arrive in
    let newest = 0;
    const list = () => {
      const n = ++newest;
      return api<ContainerSummary[]>("/engine/containers/json?all=1", { signal: abort.signal }).then(
        (items) => n === newest && setState({ items }),
        (error: Error) => !abort.signal.aborted && n === newest && setState((s) => ({ ...s, error })),
      );
    };
    void (async () => {
      while (!abort.signal.aborted) {
        try {
          await streamLines(
            `/engine/events?filters=${encodeURIComponent(JSON.stringify({ type: ["container"] }))}`,
            (line) => line.trim() && void list(),
            abort.signal,
            () => void list(),
          );
        } catch (error) {
          if (abort.signal.aborted) return;
          setState((s) => ({ ...s, error: error as Error }));
          await new Promise((r) => setTimeout(r, 2000));
        }
      }
    })();
    return () => abort.abort();
  }, []);
  return state;
}

export function ContainersView() {
  const { items, error } = useContainers();
  return (
    <Section title="Containers">
      <ErrorNote error={error} />
      <Table headers={["Name", "Image", "Status"]}>
        {items.map((c) => (
          <tr data-container={nameOf(c)}>
            <td>
              <a href={`#/containers/${c.Id}`}>{nameOf(c)}</a>
            </td>
            <td>{c.Image}</td>
            <td>{c.Status}</td>
          </tr>
        ))}
      </Table>
    </Section>
  );
}

interface DockerStats {
  read: string;
  cpu_stats?: { cpu_usage?: { total_usage?: number } };
  memory_stats?: { usage?: number; stats?: { inactive_file?: number } };
  pids_stats?: { current?: number };
}

/** Samples from the engine's stats stream (one JSON document a second, as dockerd sends). */
function useStatsStream(id: string): { samples: Usage[]; error?: Error } {
  const [state, setState] = useState<{ samples: Usage[]; error?: Error }>({ samples: [] });
  useEffect(() => {
    const abort = new AbortController();
    streamLines(
      `/engine/containers/${id}/stats?stream=1`,
      (line) => {
        if (!line.trim()) return;
        const s = JSON.parse(line) as DockerStats;
        // the working set, as `docker stats` shows it: usage less inactive page cache
        const memory = (s.memory_stats?.usage ?? 0) - (s.memory_stats?.stats?.inactive_file ?? 0);
        setState((st) => ({
          samples: appendSample(st.samples, {
            at: Date.parse(s.read) || Date.now(),
            cpuNs: s.cpu_stats?.cpu_usage?.total_usage ?? 0,
            memoryBytes: Math.max(0, memory),
            pids: s.pids_stats?.current ?? 0,
          }),
        }));
      },
      abort.signal,
    ).catch((error: Error) => !abort.signal.aborted && setState((st) => ({ ...st, error })));
    return () => abort.abort();
  }, [id]);
  return state;
}

/**
 * A container's log stream as lines. Without a TTY the engine multiplexes stdout and stderr
 * into frames (1 byte stream, 3 padding, 4 length, then the payload), as dockerd does.
 */
async function followLogs(
  id: string,
  tty: boolean,
  onLine: (line: string) => void,
  signal: AbortSignal,
): Promise<void> {
  const path = `/engine/containers/${id}/logs?follow=1&stdout=1&stderr=1&tail=500`;
  if (tty) return streamLines(path, onLine, signal);
  const decoder = new TextDecoder();
  let buf = new Uint8Array(0);
  let text = "";
  await openStream(
    path,
    (value) => {
      const joined = new Uint8Array(buf.length + value.length);
      joined.set(buf);
      joined.set(value, buf.length);
      buf = joined;
      while (buf.length >= 8) {
        const size = new DataView(buf.buffer, buf.byteOffset).getUint32(4);
        if (buf.length < 8 + size) break;
        text += decoder.decode(buf.subarray(8, 8 + size));
        buf = buf.slice(8 + size);
      }
      let nl: number;
      while ((nl = text.indexOf("\n")) >= 0) {
        onLine(text.slice(0, nl));
        text = text.slice(nl + 1);
      }
    },
    signal,
  );
  if (text) onLine(text);
}

export function EngineContainerView({ id }: { id: string }) {
  const [info, setInfo] = useState<{
    Name: string;
    Config?: { Tty?: boolean };
    State?: { Status?: string; Pid?: number };
  }>();
  const [error, setError] = useState<Error>();
  useEffect(() => {
    api<typeof info>(`/engine/containers/${id}/json`).then(setInfo, setError);
  }, [id]);
  const stats = useStatsStream(id);
  const name = info?.Name.replace(/^\//, "") ?? shortId(id);
  const logs = useStreamLines(
    info ? (onLine, signal) => followLogs(id, !!info.Config?.Tty, onLine, signal) : null,
    [id, info?.Config?.Tty],
  );
  return (
    <Section title={`Container ${name}`}>
      <ErrorNote error={error ?? stats.error} />
      {info && <p>State: {info.State?.Status}</p>}
      <h3>Usage</h3>
      <UsageCharts samples={stats.samples} name={name} />
      <h3>Namespaces & cgroup</h3>
      <GlassView path={`/engine/gantry/containers/${id}/glass`} name={name} />
      <h3>Kernel steps</h3>
      <ExplainView path={`/engine/gantry/containers/${id}/explain`} name={name} />
      <h3>Logs</h3>
      <LogView label={`Logs of ${name}`} lines={logs.lines} error={logs.error} />
    </Section>
  );
}
