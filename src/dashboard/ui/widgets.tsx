// Small pieces the views share: the error line, byte and CPU formatting, a live time-series
// chart (uPlot) and a streaming log.
import type { ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import uPlot from "uplot";

export function ErrorNote({ error }: { error?: Error }) {
  if (!error) return null;
  return (
    <p class="error" role="alert">
      {error.message}
    </p>
  );
}

export function Section({ title, children }: { title: string; children: ComponentChildren }) {
  return (
    <section aria-label={title}>
      <h2>{title}</h2>
      {children}
    </section>
  );
}

/** A table that scrolls sideways inside its box on a narrow screen. */
export function Table({
  headers,
  label,
  children,
}: {
  headers: string[];
  label?: string;
  children: ComponentChildren;
}) {
  return (
    <div class="scroll">
      <table aria-label={label}>
        <thead>
          <tr>
            {headers.map((h) => (
              <th scope="col">{h}</th>
            ))}
          </tr>
        </thead>
        <tbody>{children}</tbody>
      </table>
    </div>
  );
}

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB"];
export function formatBytes(n: number): string {
  let i = 0;
  while (Math.abs(n) >= 1024 && i < UNITS.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${UNITS[i]}`;
}

const SUFFIX: Record<string, number> = {
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  m: 1e-3,
};
/** A Kubernetes quantity ("250m", "1Gi", "2") as a number. */
export function parseQuantity(q: string | undefined): number {
  if (!q) return 0;
  const m = /^([\d.]+)([a-zA-Z]*)$/.exec(q);
  if (!m) return 0;
  return Number(m[1]) * (SUFFIX[m[2]!] ?? 1);
}

export const formatCpu = (cores: number) =>
  cores < 1 ? `${Math.round(cores * 1000)}m` : `${cores.toFixed(2)}`;

export function age(timestamp?: string): string {
  if (!timestamp) return "";
  const s = Math.max(0, Math.round((Date.now() - Date.parse(timestamp)) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86400)}d`;
}

/**
 * One live series drawn by uPlot. The samples are also on the figure as data-values, so a
 * test (or a curious user in devtools) reads exactly what is drawn.
 */
export function Chart({
  label,
  unit,
  samples,
}: {
  label: string;
  unit: (v: number) => string;
  samples: [number, number][];
}) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot>();
  useEffect(() => {
    const el = box.current!;
    plot.current = new uPlot(
      {
        width: Math.min(el.clientWidth || 320, 480),
        height: 140,
        legend: { show: false },
        axes: [{}, { values: (_u, ticks) => ticks.map(unit), size: 70 }],
        series: [{}, { label, stroke: "#2b6cb0", fill: "rgba(43,108,176,0.12)", width: 2 }],
      },
      [[], []],
      el,
    );
    return () => plot.current?.destroy();
  }, [label]);
  useEffect(() => {
    plot.current?.setData([samples.map((s) => s[0] / 1000), samples.map((s) => s[1])]);
  }, [samples]);
  const last = samples[samples.length - 1];
  return (
    <figure
      class="chart"
      aria-label={`${label} chart`}
      data-values={JSON.stringify(samples.map((s) => s[1]))}
    >
      <figcaption>
        {label}: <output>{last ? unit(last[1]) : "…"}</output>
      </figcaption>
      <div ref={box} />
    </figure>
  );
}

/** Lines of a followed stream (logs), newest at the bottom, the last `keep` kept. */
export function useStreamLines(
  open: ((onLine: (line: string) => void, signal: AbortSignal) => Promise<void>) | null,
  deps: unknown[],
  keep = 500,
): { lines: string[]; error?: Error } {
  const [state, setState] = useState<{ lines: string[]; error?: Error }>({ lines: [] });
  useEffect(() => {
    setState({ lines: [] });
    if (!open) return;
    const abort = new AbortController();
    let pending: string[] = [];
    let scheduled = false;
    const flush = () => {
      scheduled = false;
      const add = pending;
      pending = [];
      setState((s) => ({ ...s, lines: [...s.lines, ...add].slice(-keep) }));
    };
    open((line) => {
      pending.push(line);
      if (!scheduled) {
        scheduled = true;
        requestAnimationFrame(flush);
      }
    }, abort.signal).catch((error: Error) => {
      if (!abort.signal.aborted) setState((s) => ({ ...s, error }));
    });
    return () => abort.abort();
  }, deps);
  return state;
}

export function LogView({ label, lines, error }: { label: string; lines: string[]; error?: Error }) {
  const pre = useRef<HTMLPreElement>(null);
  useEffect(() => {
    const el = pre.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [lines]);
  return (
    <>
      <ErrorNote error={error} />
      <pre class="logs" ref={pre} aria-label={label} tabIndex={0} aria-live="off">
        {lines.join("\n")}
      </pre>
    </>
  );
}
