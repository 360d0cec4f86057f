// Draws Docker's JSON message stream (pull, push, build) as the docker CLI does: one progress
// bar per layer on a terminal (cli-progress), and on anything else plain lines, one per layer
// each time its status changes (no byte counts), so logs stay readable.
import cliProgress from "cli-progress";
import { humanSize, type JsonMessage } from "../../engine/index.ts";

export interface ProgressDisplay {
  onMessage(m: JsonMessage): void;
  stop(): void;
}

export function progressDisplay(out: NodeJS.WriteStream = process.stdout): ProgressDisplay {
  return out.isTTY ? terminalDisplay(out) : lineDisplay(out);
}

function lineDisplay(out: NodeJS.WriteStream): ProgressDisplay {
  const lastStatus = new Map<string, string>();
  return {
    onMessage(m) {
      if (m.stream !== undefined) return void out.write(m.stream);
      if (!m.status) return;
      if (!m.id) return void out.write(`${m.status}\n`);
      if (lastStatus.get(m.id) === m.status) return;
      lastStatus.set(m.id, m.status);
      out.write(`${m.id}: ${m.status}\n`);
    },
    stop() {},
  };
}

function terminalDisplay(out: NodeJS.WriteStream): ProgressDisplay {
  const multibar = new cliProgress.MultiBar(
    { format: "{id}: {status} [{bar}] {sizes}", hideCursor: true, clearOnComplete: false, stream: out, barsize: 30, autopadding: true, emptyOnZero: true },
    cliProgress.Presets.shades_classic,
  );
  const bars = new Map<string, cliProgress.SingleBar>();
  const sizes = (current: number, total: number) => (total > 0 ? `${humanSize(current)}/${humanSize(total)}` : "");
  // A line above the bars: through the bar renderer once bars are drawn, so it is not overwritten.
  const line = (text: string) => {
    const t = text.endsWith("\n") ? text : `${text}\n`;
    if (!multibar.isActive) return void out.write(t);
    multibar.log(t);
    multibar.update();
  };
  return {
    onMessage(m) {
      if (m.stream !== undefined) return line(m.stream);
      if (!m.status) return;
      // Layers' messages carry progressDetail (even empty); the rest ("1: Pulling from x",
      // "Digest: …") are lines.
      if (!m.id || m.progressDetail === undefined) return line(m.id ? `${m.id}: ${m.status}` : m.status);
      const current = m.progressDetail.current;
      const total = m.progressDetail.total;
      let bar = bars.get(m.id);
      if (!bar) {
        bar = multibar.create(Math.max(total ?? 1, 1), 0, { id: m.id, status: m.status, sizes: "" });
        bars.set(m.id, bar);
      }
      if (total !== undefined && current !== undefined) {
        bar.setTotal(Math.max(total, 1));
        bar.update(Math.min(current, total), { status: m.status, sizes: sizes(current, total) });
      } else {
        // A status without counts ends a phase ("Download complete", "Pushed", "Already exists").
        const finished = /complete|exists|Pushed|Mounted/i.test(m.status);
        bar.update(finished ? bar.getTotal() : 0, { status: m.status });
      }
    },
    stop() {
      if (multibar.isActive) multibar.update();
      multibar.stop();
    },
  };
}
