// Exec probes and hooks run through the node engine's own exec (the table behind `docker exec`
// on the node's socket): a process in the container's namespaces and cgroup, stdout and stderr
// collected together as the kubelet's exec prober reads them. A run past its timeout is
// reported as timed out and its process killed, so a hung probe cannot pile up.
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
    let timedOut = false;
    const timer = clock.after(timeoutMs, () => {
      timedOut = true;
      if (ex.Pid > 0) {
        try {
          process.kill(ex.Pid, "SIGKILL");
        } catch {
          /* gone already */
        }
      }
    });
    try {
      const exitCode = await daemon.api.execs.start(ex, rec, client);
      return { exitCode, output: output.slice(0, MAX_OUTPUT), timedOut };
    } finally {
      timer.cancel();
    }
  };
}
