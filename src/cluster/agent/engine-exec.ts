// Exec probes and hooks run through the node engine's own exec (the table behind `docker exec`
// on the node's socket): a process in the container's namespaces and cgroup, stdout and stderr
// collected together as the kubelet's exec prober reads them. A run past its timeout is
// reported as timed out at once and its process killed, so a hung probe cannot pile up.
import type { Clock } from "../../common/clock.ts";
import { demux, type Daemon } from "../../engine/index.ts";
import type { ExecRunner } from "./handlers.ts";

/** At most this much output is kept (the kubelet reads 10 KiB). */
const MAX_OUTPUT = 10 * 1024;

export function engineExecRunner(daemon: Daemon, clock: Clock): ExecRunner {
  return async (containerId, command, timeoutMs) => {
    const rec = daemon.engine.containers.get(containerId);
    const ex = daemon.api.execs.create(rec, { Cmd: command, AttachStdout: true, AttachStderr: true, Tty: false });
    let output = "";
    let closed = false;
    const onChunk = demux((_stream, payload) => {
      if (output.length < MAX_OUTPUT) output += payload.toString("utf8");
    });
    const client = {
      write: (b: Buffer) => onChunk(b),
      end: () => {
        closed = true;
      },
      onData: () => {},
      onInputEnd: () => {},
      onClose: () => {},
      get closed() {
        return closed;
      },
    };
    const finished = daemon.api.execs.start(ex, rec, client);
    let timer: { cancel(): void } | undefined;
    const timedOut = new Promise<"timeout">((resolve) => (timer = clock.after(timeoutMs, () => resolve("timeout"))));
    try {
      const r = await Promise.race([finished, timedOut]);
      if (r !== "timeout") return { exitCode: r, output: output.slice(0, MAX_OUTPUT), timedOut: false };
    } finally {
      timer?.cancel();
    }
    // Past its time: the probe fails now; the process is killed once the engine knows its pid.
    finished.catch(() => {});
    killWhenKnown(ex, clock);
    return { exitCode: -1, output: output.slice(0, MAX_OUTPUT), timedOut: true };
  };
}

/** SIGKILLs an exec's process, waiting (a little) for its pid if it is still being started. */
function killWhenKnown(ex: { Pid: number; Running: boolean; ExitCode: number | null }, clock: Clock, triesLeft = 50): void {
  if (ex.ExitCode !== null) return;
  if (ex.Pid > 0) {
    try {
      process.kill(ex.Pid, "SIGKILL");
    } catch {
      /* gone already */
    }
    return;
  }
  if (triesLeft > 0) clock.after(100, () => killWhenKnown(ex, clock, triesLeft - 1));
}
