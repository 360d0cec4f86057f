// exec and attach over WebSocket, in Kubernetes' channel protocol (v5.channel.k8s.io, as
// kubectl 1.32 speaks it, and v4): each binary message starts with its channel — 0 stdin,
// 1 stdout, 2 stderr, 3 the final Status (JSON), 4 terminal resize ({"Width","Height"}) —
// and in v5 the message [255, n] closes channel n (kubectl closes stdin so; `cp` into a pod
// relies on it to end tar's input). Behind it is the engine's own exec or attach stream over
// its Docker API socket (Docker's 8-byte frames, or raw bytes with a TTY), resized through
// the engine's resize calls. The exec's exit code becomes the Status kubectl exits with.
import type { Socket } from "node:net";
import type { WebSocket } from "ws";
import { demux, type ContainerClient } from "../../engine/index.ts";

export const CHANNEL_PROTOCOLS = ["v5.channel.k8s.io", "v4.channel.k8s.io"];

const STDIN = 0;
const STDOUT = 1;
const STDERR = 2;
const ERROR = 3;
const RESIZE = 4;
const CLOSE = 255;

export interface StreamOptions {
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
}

/** The kubelet's stream flags (input/output/error/tty, as the API server passes them). */
export function parseStreamOptions(q: URLSearchParams): StreamOptions {
  const flag = (k: string) => ["true", "1"].includes(q.get(k) ?? "");
  const tty = flag("tty");
  // A TTY merges stderr into stdout (remotecommand's NewOptions).
  return { stdin: flag("input"), stdout: flag("output"), stderr: flag("error") && !tty, tty };
}

/** What the remote end is: a command run in the container, or the container's own stdio. */
export type RemoteTarget = { kind: "exec"; containerId: string; command: string[] } | { kind: "attach"; containerId: string };

/** Output queued toward kubectl above which the engine stream is paused (and resumed below LOW). */
const HIGH_WATER = 1 << 20;
const LOW_WATER = 256 << 10;

/** How long a TTY exec waits for kubectl's first resize, so the command starts at its size. */
const FIRST_SIZE_WAIT_MS = 1000;

function parseSize(payload: Buffer): { width: number; height: number } | undefined {
  try {
    const size = JSON.parse(payload.toString()) as { Width?: number; Height?: number };
    return size.Width && size.Height ? { width: size.Width, height: size.Height } : undefined;
  } catch {
    return undefined;
  }
}

function status(code: number | null, command: string[]): Buffer {
  const body =
    code === 0 || code === null
      ? { metadata: {}, status: "Success" }
      : {
          metadata: {},
          status: "Failure",
          message: `command terminated with non-zero exit code: error executing command [${command.join(" ")}], exit code ${code}`,
          reason: "NonZeroExitCode",
          details: { causes: [{ reason: "ExitCode", message: String(code) }] },
        };
  return Buffer.concat([Buffer.from([ERROR]), Buffer.from(JSON.stringify(body))]);
}

/**
 * Joins a WebSocket (already upgraded) to the engine stream of an exec or attach. Client
 * messages that arrive before the engine stream is open are kept and replayed.
 */
export function serveRemoteCommand(ws: WebSocket, containers: ContainerClient, target: RemoteTarget, opts: StreamOptions, log: (m: string) => void): void {
  let engine: Socket | undefined;
  let execId: string | undefined;
  const early: Buffer[] = [];
  let stdinClosed = false;
  const v5 = ws.protocol === "v5.channel.k8s.io";
  let gotFirstSize: (size: { width: number; height: number } | undefined) => void = () => {};
  const firstSize = new Promise<{ width: number; height: number } | undefined>((resolve) => {
    gotFirstSize = resolve;
    setTimeout(() => resolve(undefined), FIRST_SIZE_WAIT_MS).unref();
  });

  const resize = (payload: Buffer) => {
    const size = parseSize(payload);
    if (!size) return;
    const done = execId !== undefined ? containers.execResize(execId, size.height, size.width) : containers.resize(target.containerId, size.height, size.width);
    done.catch((err: unknown) => log(`resize: ${(err as Error).message}`));
  };
  const handle = (msg: Buffer) => {
    if (!engine) {
      // The first size a TTY exec is told becomes its console size at creation.
      if (msg[0] === RESIZE && target.kind === "exec" && early.every((m) => m[0] !== RESIZE)) gotFirstSize(parseSize(msg.subarray(1)));
      return void early.push(msg);
    }
    if (msg.length === 0) return;
    const payload = msg.subarray(1);
    switch (msg[0]) {
      case STDIN:
        // A command that reads slowly slows kubectl down instead of filling our memory.
        if (opts.stdin && !stdinClosed && payload.length && !engine.write(payload)) {
          ws.pause();
          engine.once("drain", () => ws.resume());
        }
        break;
      case RESIZE:
        resize(payload);
        break;
      case CLOSE:
        if (v5 && payload[0] === STDIN && !stdinClosed) {
          stdinClosed = true;
          engine.end();
        }
        break;
    }
  };
  ws.on("message", (data: Buffer) => handle(data));

  let queued = 0;
  const send = (channel: number, data: Buffer) => {
    if (ws.readyState !== 1) return;
    queued += data.length + 1;
    ws.send(Buffer.concat([Buffer.from([channel]), data]), { binary: true }, () => {
      queued -= data.length + 1;
      if (queued < LOW_WATER && engine?.isPaused()) engine.resume();
    });
    if (queued > HIGH_WATER) engine?.pause();
  };
  let finished = false;
  const finish = async () => {
    if (finished) return;
    finished = true;
    let code: number | null = 0;
    if (execId !== undefined) {
      code = await containers
        .execInspect(execId)
        .then((i) => i.ExitCode)
        .catch(() => null);
    }
    if (ws.readyState === 1) {
      ws.send(status(code, target.kind === "exec" ? target.command : []), { binary: true });
      ws.close(1000);
    }
  };
  ws.on("close", () => {
    finished = true;
    engine?.destroy();
  });

  const open = async (): Promise<Socket> => {
    if (target.kind === "attach") return containers.attach(target.containerId, { stdin: opts.stdin });
    const size = opts.tty ? await firstSize : undefined;
    execId = await containers.execCreate(target.containerId, {
      Cmd: target.command,
      AttachStdin: opts.stdin,
      AttachStdout: opts.stdout,
      AttachStderr: opts.stderr,
      Tty: opts.tty,
      ...(size ? { ConsoleSize: [size.height, size.width] as [number, number] } : {}),
    });
    return containers.execStart(execId, { tty: opts.tty });
  };
  open().then(
    (sock) => {
      if (finished) return void sock.destroy();
      engine = sock;
      const out = opts.tty
        ? (b: Buffer) => send(STDOUT, b)
        : demux((stream, payload) => {
            if (stream === 2 ? opts.stderr : opts.stdout) send(stream === 2 ? STDERR : STDOUT, payload);
          });
      sock.on("data", out);
      sock.on("end", () => void finish());
      sock.on("close", () => void finish());
      sock.on("error", () => void finish());
      // The first size, which a TTY exec was created with, is not applied again.
      const pending = early.splice(0);
      const first = execId !== undefined && opts.tty ? pending.findIndex((m) => m[0] === RESIZE) : -1;
      pending.forEach((m, i) => i !== first && handle(m));
    },
    (err: unknown) => {
      log(`${target.kind}: ${(err as Error).message}`);
      send(ERROR, Buffer.from(JSON.stringify({ metadata: {}, status: "Failure", message: (err as Error).message, reason: "InternalError" })));
      ws.close(1000);
    },
  );
}
