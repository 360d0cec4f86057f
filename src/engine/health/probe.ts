// A health probe is an exec in the container, as dockerd's cmdProbe: the container's user,
// working directory and environment, no TTY, stdout and stderr collected together (cut at
// 4096 bytes). It goes through the engine's exec path (exec.ts), so it runs under a monitor of
// its own with Gantry's runtime, or through `runc|crun exec`. Aborting kills the process; the
// probe resolves once it has ended, so killed probes never pile up.
import { readFileSync } from "node:fs";
import type { ClientStream } from "../attach.ts";
import { FrameDecoder } from "../attach.ts";
import type { ContainerRecord } from "../container-store.ts";
import type { ExecInstance, ExecTable } from "../exec.ts";
import type { RunProbe } from "./monitor.ts";
import { LimitedOutput } from "./status.ts";

/** A client of the exec that keeps only what the probe printed. */
function collectingClient(out: LimitedOutput): ClientStream {
  const decoder = new FrameDecoder();
  const closeCbs: (() => void)[] = [];
  let closed = false;
  return {
    write: (b) => {
      for (const f of decoder.push(b)) out.write(f.payload);
    },
    end: () => {
      if (closed) return;
      closed = true;
      for (const cb of closeCbs.splice(0)) cb();
    },
    onData: () => {},
    onInputEnd: () => {},
    onClose: (cb) => (closed ? cb() : closeCbs.push(cb)),
    get closed() {
      return closed;
    },
  };
}

/** The exec's process's host pid: Gantry's runtime reports it; runc/crun write it to a file. */
function hostPidOf(ex: ExecInstance): number {
  if (!ex.pidFile) return ex.Pid;
  try {
    return Number(readFileSync(ex.pidFile, "utf8").trim()) || 0;
  } catch {
    return 0;
  }
}

/** SIGKILL to the exec's process; while it is still starting (no pid yet), once it has one.
 * (Killing `runc exec`, the client, would leave the process running in the container.) */
function killExec(ex: ExecInstance, finished: () => boolean): void {
  const attempt = () => {
    if (finished()) return;
    const pid = hostPidOf(ex);
    if (pid > 0) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        /* gone already */
      }
    } else setTimeout(attempt, 50).unref();
  };
  attempt();
}

/** Probes `container()` (read at each probe: the record is replaced on restarts) through `execs`. */
export function execProbe(execs: ExecTable, container: () => ContainerRecord): RunProbe {
  return async (argv, signal) => {
    const rec = container();
    const ex = execs.create(rec, { Cmd: argv, AttachStdout: true, AttachStderr: true, Tty: false });
    const out = new LimitedOutput();
    let finished = false;
    const onAbort = () => killExec(ex, () => finished);
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      const exitCode = await execs.start(ex, rec, collectingClient(out));
      return { exitCode, output: out.text() };
    } finally {
      finished = true;
      signal.removeEventListener("abort", onAbort);
      execs.forget(ex.ID);
    }
  };
}
