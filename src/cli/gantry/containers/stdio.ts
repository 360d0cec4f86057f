// Our terminal joined to a container's stream: a hijacked attach or exec socket pumped to
// stdout/stderr (demultiplexed unless it is a TTY), stdin sent the other way, and the pty
// kept at our terminal's size.
import type { Socket } from "node:net";
import { demux } from "../../../engine/index.ts";

/** Pipes a hijacked stream to our stdio; resolves at EOF. */
export function pumpStream(sock: Socket, tty: boolean, stdin: boolean): Promise<void> {
  return new Promise((resolveDone) => {
    if (tty) sock.on("data", (b: Buffer) => process.stdout.write(b));
    else sock.on("data", demux((s, p) => (s === 2 ? process.stderr : process.stdout).write(p)));
    sock.on("end", () => resolveDone());
    sock.on("close", () => resolveDone());
    sock.on("error", () => resolveDone());
    if (stdin) {
      if (tty && process.stdin.isTTY) process.stdin.setRawMode(true);
      process.stdin.on("data", (b: Buffer) => sock.write(b));
      process.stdin.on("end", () => sock.end());
    } else sock.end();
  });
}

/** As the docker CLI does: the pty follows our terminal's size, now and on each SIGWINCH.
 * A failed resize is not worth an error: the program may be exiting. */
export function followTerminalSize(resize: (rows: number, columns: number) => Promise<void>): void {
  if (!process.stdout.isTTY) return;
  const follow = () => void resize(process.stdout.rows, process.stdout.columns).catch(() => {});
  follow();
  process.on("SIGWINCH", follow);
}

export function restoreTerminal(): void {
  if (process.stdin.isTTY) process.stdin.setRawMode(false);
  process.stdin.pause();
}

/** Our terminal's size for a create or exec body, [0, 0] when stdout is not a terminal. */
export function consoleSize(tty: boolean): [number, number] {
  return tty && process.stdout.isTTY ? [process.stdout.rows, process.stdout.columns] : [0, 0];
}
