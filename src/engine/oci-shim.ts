// The monitor for containers run by another OCI runtime (runc, crun): a detached Node process
// (`gantry _oci-shim SPEC`) that plays the part Gantry's C monitor plays for its own runtime.
// It serves the attach socket (Docker frames: 1/2 out, 0 stdin and 3 control in), waits for
// the engine's "start" control frame, then runs `RUNTIME run --pid-file` in the foreground,
// so it is the runtime's parent and gets the container's exit status; it writes the output as
// json-file log lines (size-based rotation) and the exit file, then leaves.
import { spawn } from "node:child_process";
import { appendFileSync, existsSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer, type Socket } from "node:net";
import { parseSignal } from "../common/signals.ts";
import { FrameDecoder } from "./attach.ts";
import { frame } from "./logs.ts";
import type { MonitorOptions } from "./oci-backend.ts";

interface ShimSpec extends MonitorOptions {
  runtime: string;
  root: string;
  id: string;
  bundle: string;
  pidFile: string;
}

export function runShim(specJson: string): void {
  const spec = JSON.parse(specJson) as ShimSpec;
  const clients = new Set<Socket>();
  let child: ReturnType<typeof spawn> | undefined;
  let stdinClosed = false;

  const log = (stream: "stdout" | "stderr", data: Buffer) => {
    const line = `${JSON.stringify({ log: data.toString("utf8"), stream, time: new Date().toISOString() })}\n`;
    try {
      if (!spec.logPath) throw new Error("the none log driver keeps no log");
      if (spec.logMaxSize && existsSync(spec.logPath) && statSync(spec.logPath).size + line.length > spec.logMaxSize) {
        const files = Math.max(1, spec.logMaxFiles ?? 1);
        if (files <= 1) writeFileSync(spec.logPath, "");
        else {
          for (let i = files - 1; i >= 1; i--) if (existsSync(`${spec.logPath}.${i}`) || i === 1) {
            if (i === 1) renameSync(spec.logPath, `${spec.logPath}.1`);
            else renameSync(`${spec.logPath}.${i - 1}`, `${spec.logPath}.${i}`);
          }
        }
      }
      appendFileSync(spec.logPath, line, { mode: 0o640 });
    } catch {
      /* a full disk must not kill the container */
    }
    for (const c of clients) c.write(frame(stream === "stderr" ? 2 : 1, data));
  };

  const startContainer = () => {
    if (child) return;
    child = spawn(spec.runtime, ["--root", spec.root, "run", "--bundle", spec.bundle, "--pid-file", spec.pidFile, spec.id], {
      stdio: [spec.openStdin ? "pipe" : "ignore", "pipe", "pipe"],
    });
    child.stdout?.on("data", (b: Buffer) => log("stdout", b));
    child.stderr?.on("data", (b: Buffer) => log("stderr", b));
    child.stdin?.on("error", () => {});
    child.on("close", (code, signal) => {
      const exitCode = code ?? (signal ? 128 + parseSignal(signal) : 255);
      const tmp = `${spec.exitFile}.tmp`;
      writeFileSync(tmp, JSON.stringify({ exitCode, signal: 0, finishedAtMs: Date.now() }));
      renameSync(tmp, spec.exitFile);
      server.close();
      rmSync(spec.attachSocket, { force: true });
      // What a client has not read yet waits in its socket's write queue: leave once every
      // queue is sent (or its client is gone), not before, or a slow reader loses the end of
      // the output. After 30 s a client that still has not taken it all is not waited for.
      const pending = new Set(clients);
      const sent = (c: Socket) => {
        pending.delete(c);
        if (!pending.size) process.exit(0);
      };
      if (!pending.size) process.exit(0);
      for (const c of clients) {
        c.end(() => sent(c));
        c.once("close", () => sent(c));
      }
      setTimeout(() => process.exit(0), 30_000);
    });
  };

  const server = createServer((sock) => {
    clients.add(sock);
    const dec = new FrameDecoder();
    sock.on("data", (chunk: Buffer) => {
      for (const f of dec.push(chunk)) {
        if (f.type === 0 && child?.stdin && !stdinClosed) child.stdin.write(f.payload);
        else if (f.type === 3) {
          const text = f.payload.toString();
          if (text === "start") startContainer();
          else if (text === "close-stdin" && child?.stdin) {
            stdinClosed = true;
            child.stdin.end();
          }
        }
      }
    });
    sock.on("close", () => clients.delete(sock));
    sock.on("error", () => clients.delete(sock));
  });
  rmSync(spec.attachSocket, { force: true });
  server.listen(spec.attachSocket);
  process.on("SIGTERM", () => {});
  process.on("SIGHUP", () => {});
}
