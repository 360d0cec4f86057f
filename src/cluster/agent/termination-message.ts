// terminationMessagePath and terminationMessagePolicy, as the kubelet does them: every
// container gets a host file (<pods root>/<uid>/containers/<name>/<attempt>) bound at its
// terminationMessagePath (default /dev/termination-log), and when it has terminated, what it
// wrote there (at most 4 KiB) is its terminated state's message. With FallbackToLogsOnError an
// empty file and a non-zero exit take the tail of its log instead (80 lines, at most 2 KiB).
import { chmodSync, closeSync, fstatSync, mkdirSync, openSync, readSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { Container } from "./pod-types.ts";

export const DEFAULT_TERMINATION_MESSAGE_PATH = "/dev/termination-log";
/** kubelet's MaxContainerTerminationMessageLength. */
const MAX_MESSAGE_BYTES = 4096;
/** kubelet's MaxContainerTerminationMessageLogLines and ...LogLength. */
const MAX_LOG_LINES = 80;
const MAX_LOG_BYTES = 2048;

export function terminationLogFile(podsRoot: string, uid: string, container: string, attempt: number): string {
  return join(podsRoot, uid, "containers", container, String(attempt));
}

/** Makes the empty host file, writable by any user the container runs as. */
export function prepareTerminationLog(file: string): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o750 });
  writeFileSync(file, "");
  chmodSync(file, 0o666);
}

/** The last `max` bytes of a file ("" when it cannot be read), and whether that cut it. */
function tail(file: string, max: number): { text: string; cut: boolean } {
  let fd: number;
  try {
    fd = openSync(file, "r");
  } catch {
    return { text: "", cut: false };
  }
  try {
    const size = fstatSync(fd).size;
    const len = Math.min(size, max);
    const buf = Buffer.alloc(len);
    readSync(fd, buf, 0, len, size - len);
    return { text: buf.toString("utf8"), cut: len < size };
  } finally {
    closeSync(fd);
  }
}

/** The first `max` bytes of a file. */
function head(file: string, max: number): string {
  let fd: number;
  try {
    fd = openSync(file, "r");
  } catch {
    return "";
  }
  try {
    const buf = Buffer.alloc(max);
    return buf.subarray(0, readSync(fd, buf, 0, max, 0)).toString("utf8");
  } finally {
    closeSync(fd);
  }
}

/** The last lines of the engine's json-file log, as the container wrote them. */
function logTail(jsonLog: string): string {
  const { text: raw, cut } = tail(jsonLog, 256 * 1024);
  const lines = raw.split("\n").slice(cut ? 1 : 0); // a cut first line is not whole JSON
  const text = lines
    .filter(Boolean)
    .slice(-MAX_LOG_LINES)
    .map((l) => {
      try {
        return (JSON.parse(l) as { log: string }).log;
      } catch {
        return "";
      }
    })
    .join("");
  const bytes = Buffer.from(text);
  return bytes.length > MAX_LOG_BYTES ? bytes.subarray(bytes.length - MAX_LOG_BYTES).toString("utf8") : text;
}

/** The terminated state's message, or undefined when there is none. */
export function terminationMessage(c: Container, file: string, exitCode: number, jsonLog: string): string | undefined {
  const written = head(file, MAX_MESSAGE_BYTES);
  if (written) return written;
  if (c.terminationMessagePolicy === "FallbackToLogsOnError" && exitCode !== 0) return logTail(jsonLog) || undefined;
  return undefined;
}
