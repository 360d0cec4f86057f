// `GET /containers/{id}/logs`: reads the json-file log the monitor writes (rotated files
// LOG.N … LOG.1 then LOG), applies since/until/tail, and with `follow` keeps reading new
// lines until the container has exited and the file is drained. Lines go out as Docker
// frames ([stream,0,0,0,len BE] + payload) unless the container has a TTY (raw bytes).
import { existsSync, openSync, readSync, closeSync, fstatSync, statSync, readFileSync } from "node:fs";
import type { Stats } from "node:fs";
import type { Writable } from "node:stream";

export interface LogLine {
  log: string;
  stream: "stdout" | "stderr";
  time: string;
}

export interface LogOptions {
  stdout: boolean;
  stderr: boolean;
  follow: boolean;
  /** Number of lines from the end, or undefined for all. */
  tail?: number;
  sinceSec?: number;
  untilSec?: number;
  timestamps: boolean;
  tty: boolean;
}

export function frame(stream: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h[0] = stream;
  h.writeUInt32BE(payload.length, 4);
  return Buffer.concat([h, payload]);
}

function parseLines(text: string): LogLine[] {
  const out: LogLine[] = [];
  for (const l of text.split("\n")) {
    if (!l) continue;
    try {
      out.push(JSON.parse(l) as LogLine);
    } catch {
      /* a torn last line while the monitor writes: read again later */
    }
  }
  return out;
}

/** Every rotated file, oldest first, then the live one. */
export function logFiles(path: string): string[] {
  const files: string[] = [];
  for (let i = 1; existsSync(`${path}.${i}`); i++) files.unshift(`${path}.${i}`);
  if (existsSync(path)) files.push(path);
  return files;
}

export function readLogLines(path: string): LogLine[] {
  return logFiles(path).flatMap((f) => parseLines(readFileSync(f, "utf8")));
}

function timeSec(t: string): number {
  // RFC3339Nano: keep sub-millisecond precision out of Date, it is not needed for filtering.
  return Date.parse(t) / 1000;
}

function encode(line: LogLine, opts: LogOptions): Buffer | undefined {
  if (line.stream === "stdout" && !opts.stdout) return undefined;
  if (line.stream === "stderr" && !opts.stderr) return undefined;
  const text = opts.timestamps ? `${line.time} ${line.log}` : line.log;
  const payload = Buffer.from(text);
  return opts.tty ? payload : frame(line.stream === "stderr" ? 2 : 1, payload);
}

/** Streams the log to `out`; resolves when done (not following, or the container stopped and
 * the file is drained, or the client went away). */
export async function streamLogs(path: string, opts: LogOptions, out: Writable, isRunning: () => boolean): Promise<void> {
  let lines = readLogLines(path);
  if (opts.sinceSec !== undefined) lines = lines.filter((l) => timeSec(l.time) >= (opts.sinceSec as number));
  if (opts.untilSec !== undefined) lines = lines.filter((l) => timeSec(l.time) <= (opts.untilSec as number));
  if (opts.tail !== undefined) lines = opts.tail === 0 ? [] : lines.slice(-opts.tail);
  for (const l of lines) {
    const b = encode(l, opts);
    if (b && !out.destroyed) out.write(b);
  }
  if (!opts.follow) return;
  // Follow: remember where the live file ends and poll for growth (and rotation). The file is
  // read through a descriptor held open, so the last lines a container wrote before it exited
  // are still read when its directory is renamed aside or removed right after (pod deletion).
  let fd = tryOpen(path);
  let offset = fd === undefined ? 0 : fstatSync(fd).size;
  let ino = fd === undefined ? 0 : fstatSync(fd).ino;
  let partial = "";
  let closed = false;
  out.on("close", () => (closed = true));
  let idleAfterExit = 0;
  try {
    while (!closed && !out.destroyed) {
      let grew = false;
      const atPath = statOrUndefined(path);
      if (fd === undefined && atPath) {
        fd = tryOpen(path);
        ino = atPath.ino;
      }
      if (fd !== undefined) {
        const size = fstatSync(fd).size;
        if (size > offset) {
          partial += readFd(fd, offset, size);
          offset = size;
          grew = true;
        }
        if (atPath && atPath.ino !== ino && !grew) {
          // Rotated (the old file is now path.1) and its rest read: start over on the new file.
          closeSync(fd);
          fd = tryOpen(path);
          offset = 0;
          ino = atPath.ino;
          grew = true;
        }
      }
      const nl = partial.lastIndexOf("\n");
      if (nl >= 0) {
        for (const l of parseLines(partial.slice(0, nl + 1))) {
          if (opts.untilSec !== undefined && timeSec(l.time) > opts.untilSec) return;
          const b = encode(l, opts);
          if (b && !out.destroyed) out.write(b);
        }
        partial = partial.slice(nl + 1);
      }
      if (!isRunning()) {
        if (!grew && ++idleAfterExit > 2) return;
      } else idleAfterExit = 0;
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function tryOpen(path: string): number | undefined {
  try {
    return openSync(path, "r");
  } catch {
    return undefined;
  }
}

function statOrUndefined(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

function readFd(fd: number, from: number, to: number): string {
  const buf = Buffer.alloc(to - from);
  const n = readSync(fd, buf, 0, buf.length, from);
  return buf.subarray(0, n).toString("utf8");
}

