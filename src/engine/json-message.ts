// Docker's JSON message stream: what pull, push, build, load and import answer with, one JSON
// object per line (Docker's pkg/jsonmessage). The daemon writes it (api/json-stream.ts); the
// `gantry` CLI reads it here and draws it (src/cli/gantry/progress.ts). A failure after the
// stream began is a message with `error`/`errorDetail`, since the HTTP status is already sent.
import type { IncomingMessage } from "node:http";
import { GantryError } from "../common/errors.ts";

export interface JsonMessage {
  /** What happened ("Downloading", "Pull complete", "Digest: sha256:…"). */
  status?: string;
  /** The layer (short digest) or tag the status is about. */
  id?: string;
  progressDetail?: { current?: number; total?: number };
  /** Docker's pre-drawn bar, for clients that print it as it is. */
  progress?: string;
  /** Build output, as text with its own newlines. */
  stream?: string;
  /** Results: {"ID": image id} after a build, {"Tag","Digest","Size"} after a push. */
  aux?: Record<string, unknown>;
  error?: string;
  errorDetail?: { code?: number; message: string };
}

/** Docker's HumanSizeWithPrecision: decimal units, `precision` significant digits, trailing
 * zeros dropped (Go's %g): 3 in image lists, 4 in progress bars. */
export function humanSize(bytes: number, precision = 3): string {
  const units = ["B", "kB", "MB", "GB", "TB", "PB"];
  let v = bytes;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${Number(v.toPrecision(precision))}${units[i]}`;
}

/** Docker's progress bar text: `[=====>      ]  1.2MB/3.4MB` (50 columns). */
export function progressBar(current: number, total: number): string {
  if (total <= 0) return humanSize(current, 4);
  const width = 50;
  const done = Math.min(width, Math.floor((current / total) * width));
  const bar = done >= width ? "=".repeat(width) : `${"=".repeat(done)}>${" ".repeat(width - done - 1)}`;
  return `[${bar}] ${humanSize(current, 4).padStart(8)}/${humanSize(total, 4)}`;
}

/** A failure message as the stream carries it; `code` is e.g. a failed RUN's exit code. */
export function errorMessage(err: unknown, code?: number): JsonMessage {
  const message = err instanceof GantryError ? err.describe() : err instanceof Error ? err.message : String(err);
  return { errorDetail: { ...(code !== undefined ? { code } : {}), message }, error: message };
}

/** The error a stream ended with: a GantryError carrying the message (and exit code, if any). */
export class StreamError extends GantryError {
  constructor(
    message: string,
    readonly exitCode?: number,
  ) {
    super("CONFLICT", message);
  }
}

/** Reads a message stream to its end, calling `onMessage` for each; rejects with a
 * StreamError at the first error message (after the stream was read out). */
export async function readJsonMessages(res: IncomingMessage, onMessage: (m: JsonMessage) => void = () => {}): Promise<JsonMessage[]> {
  const all: JsonMessage[] = [];
  let failure: JsonMessage | undefined;
  let buf = "";
  const take = (line: string) => {
    if (!line.trim()) return;
    let m: JsonMessage;
    try {
      m = JSON.parse(line) as JsonMessage;
    } catch {
      m = { stream: `${line}\n` }; // not JSON: show it rather than lose it
    }
    all.push(m);
    if (m.error !== undefined || m.errorDetail !== undefined) failure ??= m;
    else onMessage(m);
  };
  res.setEncoding("utf8");
  for await (const chunk of res) {
    buf += chunk as string;
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      take(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
    }
  }
  take(buf);
  if (failure) throw new StreamError(failure.errorDetail?.message ?? failure.error ?? "unknown error", failure.errorDetail?.code);
  return all;
}
