// exec and attach as the kubelet serves them (pkg/kubelet/cri/streaming/remotecommand), over
// either framing kubectl speaks:
//
// - WebSocket, Kubernetes' channel protocol (v5.channel.k8s.io, as kubectl 1.32 speaks it, and
//   v4): each binary message starts with its channel — 0 stdin, 1 stdout, 2 stderr, 3 the
//   final Status (JSON), 4 terminal resize ({"Width","Height"}) — and in v5 the message
//   [255, n] closes channel n (kubectl closes stdin so; `cp` into a pod relies on it to end
//   tar's input).
// - SPDY/3.1 (v4.channel.k8s.io; kubectl before 1.30, client-go's SPDY executor, and kubectl
//   1.32 with KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false): one stream per channel, named by its
//   `streamtype` header (error, stdin, stdout, stderr, resize); the command starts once every
//   stream the options call for is open; a FIN on stdin closes it.
//
// Behind both is the engine's own exec or attach stream over its Docker API socket (Docker's
// 8-byte frames, or raw bytes with a TTY), resized through the engine's resize calls. The
// exec's exit code becomes the Status kubectl exits with.
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import type { WebSocket } from "ws";
import { demux, type ContainerClient } from "../../engine/index.ts";
import { SpdyServerSession, type SpdyStream } from "./spdy.ts";

export const CHANNEL_PROTOCOLS = ["v5.channel.k8s.io", "v4.channel.k8s.io"];
/** The SPDY remotecommand protocol served (X-Stream-Protocol-Version). */
export const SPDY_REMOTE_COMMAND_PROTOCOL = "v4.channel.k8s.io";

const STDIN = 0;
const STDOUT = 1;
const STDERR = 2;
const ERROR = 3;
const RESIZE = 4;
const CLOSE = 255;

/** Output queued toward kubectl above which the engine stream is paused (and resumed below LOW). */
const HIGH_WATER = 1 << 20;
const LOW_WATER = 256 << 10;

/** How long a TTY exec waits for kubectl's first resize, so the command starts at its size. */
const FIRST_SIZE_WAIT_MS = 1000;
/** How long a SPDY client has to open the streams it asked for (the kubelet's streamCreationTimeout). */
const STREAM_CREATION_TIMEOUT_MS = 30_000;

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

interface TerminalSize {
  width: number;
  height: number;
}

function parseSize(payload: Buffer | string): TerminalSize | undefined {
  try {
    const size = JSON.parse(payload.toString()) as { Width?: number; Height?: number };
    return size.Width && size.Height ? { width: size.Width, height: size.Height } : undefined;
  } catch {
    return undefined;
  }
}

/** What the client asked of the command, whatever the framing. */
type ClientEvent = { type: "stdin"; data: Buffer } | { type: "stdin-end" } | { type: "resize"; size: TerminalSize };

/** One framing of the remote command streams (WebSocket channels or SPDY streams). */
interface CommandTransport {
  /** Delivers client events; the transport calls it for each, in order. */
  onEvent(cb: (e: ClientEvent) => void): void;
  onClose(cb: () => void): void;
  /** Sends output; done is called once it is handed to the network (for back-pressure). */
  write(channel: typeof STDOUT | typeof STDERR, data: Buffer, done: () => void): void;
  /** Sends the final Status and ends the session. */
  finish(status: object): void;
  pauseInput(): void;
  resumeInput(): void;
  readonly open: boolean;
}

function exitStatus(code: number | null, command: string[]): object {
  if (code === 0 || code === null) return { metadata: {}, status: "Success" };
  return {
    metadata: {},
    status: "Failure",
    message: `command terminated with non-zero exit code: error executing command [${command.join(" ")}], exit code ${code}`,
    reason: "NonZeroExitCode",
    details: { causes: [{ reason: "ExitCode", message: String(code) }] },
  };
}

/** The channel protocol over an upgraded WebSocket. */
export function websocketTransport(ws: WebSocket): CommandTransport {
  const v5 = ws.protocol === "v5.channel.k8s.io";
  let deliver: (e: ClientEvent) => void = () => {};
  ws.on("message", (msg: Buffer) => {
    if (msg.length === 0) return;
    const payload = msg.subarray(1);
    if (msg[0] === STDIN && payload.length) deliver({ type: "stdin", data: payload });
    else if (msg[0] === RESIZE) {
      const size = parseSize(payload);
      if (size) deliver({ type: "resize", size });
    } else if (msg[0] === CLOSE && v5 && payload[0] === STDIN) deliver({ type: "stdin-end" });
  });
  return {
    onEvent: (cb) => (deliver = cb),
    onClose: (cb) => void ws.on("close", () => cb()),
    write: (channel, data, done) => ws.send(Buffer.concat([Buffer.from([channel]), data]), { binary: true }, () => done()),
    finish(status) {
      if (ws.readyState !== 1) return;
      ws.send(Buffer.concat([Buffer.from([ERROR]), Buffer.from(JSON.stringify(status))]), { binary: true });
      ws.close(1000);
    },
    pauseInput: () => ws.pause(),
    resumeInput: () => ws.resume(),
    get open() {
      return ws.readyState === 1;
    },
  };
}

/**
 * The SPDY protocol over an upgraded connection. Resolves once the client has opened every
 * stream the options call for (error, and stdin/stdout/stderr/resize as asked).
 */
export function spdyTransport(conn: Duplex, head: Buffer, opts: StreamOptions): Promise<CommandTransport> {
  const wanted = ["error", ...(opts.stdin ? ["stdin"] : []), ...(opts.stdout ? ["stdout"] : []), ...(opts.stderr ? ["stderr"] : []), ...(opts.tty ? ["resize"] : [])];
  const streams = new Map<string, number>();
  const typeOf = new Map<number, string>();
  const early: ClientEvent[] = [];
  let deliver: ((e: ClientEvent) => void) | undefined;
  const emit = (e: ClientEvent) => (deliver ? deliver(e) : early.push(e));
  let resizeText = "";
  let closed = false;
  const closeCbs: (() => void)[] = [];
  return new Promise<CommandTransport>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`timed out waiting for the client to open the ${wanted.filter((w) => !streams.has(w)).join(", ")} streams`));
      session.close();
    }, STREAM_CREATION_TIMEOUT_MS);
    const transport: CommandTransport = {
      onEvent(cb) {
        deliver = cb;
        for (const e of early.splice(0)) cb(e);
      },
      onClose: (cb) => void closeCbs.push(cb),
      write(channel, data, done) {
        const id = streams.get(channel === STDERR ? "stderr" : "stdout");
        if (id === undefined || session.write(id, data)) return done();
        session.onDrain(done);
      },
      finish(status) {
        for (const name of ["stdout", "stderr"]) {
          const id = streams.get(name);
          if (id !== undefined) session.write(id, Buffer.alloc(0), true);
        }
        session.write(streams.get("error")!, Buffer.from(JSON.stringify(status)), true);
        // The kubelet closes the connection once the status is written.
        setTimeout(() => session.close(), 100).unref();
      },
      pauseInput: () => session.pauseReading(),
      resumeInput: () => session.resumeReading(),
      get open() {
        return !closed;
      },
    };
    const session = new SpdyServerSession(
      conn,
      {
        onStream(s: SpdyStream) {
          const type = s.headers.streamtype ?? "";
          streams.set(type, s.id);
          typeOf.set(s.id, type);
          if (wanted.every((w) => streams.has(w))) {
            clearTimeout(timer);
            resolve(transport);
          }
        },
        onData(id, data) {
          const type = typeOf.get(id);
          if (type === "stdin") emit({ type: "stdin", data });
          else if (type === "resize") {
            // A stream of JSON objects, one per size.
            resizeText += data.toString();
            let end;
            while ((end = resizeText.indexOf("}")) >= 0) {
              const size = parseSize(resizeText.slice(0, end + 1));
              resizeText = resizeText.slice(end + 1);
              if (size) emit({ type: "resize", size });
            }
          }
        },
        onFin(id) {
          if (typeOf.get(id) === "stdin") emit({ type: "stdin-end" });
        },
        onReset(id) {
          if (typeOf.get(id) === "stdin") emit({ type: "stdin-end" });
        },
        onClose() {
          closed = true;
          clearTimeout(timer);
          reject(new Error("the client closed the connection before opening its streams"));
          for (const cb of closeCbs) cb();
        },
      },
      head,
    );
  });
}

/**
 * Joins a client's streams to the engine stream of an exec or attach. Client events that
 * arrive before the engine stream is open are kept and replayed.
 */
export function serveRemoteCommand(client: CommandTransport, containers: ContainerClient, target: RemoteTarget, opts: StreamOptions, log: (m: string) => void): void {
  let engine: Socket | undefined;
  let execId: string | undefined;
  const early: ClientEvent[] = [];
  let stdinClosed = false;
  let gotFirstSize: (size: TerminalSize | undefined) => void = () => {};
  const firstSize = new Promise<TerminalSize | undefined>((resolve) => {
    gotFirstSize = resolve;
    setTimeout(() => resolve(undefined), FIRST_SIZE_WAIT_MS).unref();
  });

  const resize = (size: TerminalSize) => {
    const done = execId !== undefined ? containers.execResize(execId, size.height, size.width) : containers.resize(target.containerId, size.height, size.width);
    done.catch((err: unknown) => log(`resize: ${(err as Error).message}`));
  };
  const handle = (e: ClientEvent) => {
    if (!engine) {
      // The first size a TTY exec is told becomes its console size at creation.
      if (e.type === "resize" && target.kind === "exec" && early.every((m) => m.type !== "resize")) gotFirstSize(e.size);
      return void early.push(e);
    }
    if (e.type === "stdin") {
      // A command that reads slowly slows kubectl down instead of filling our memory.
      if (opts.stdin && !stdinClosed && !engine.write(e.data)) {
        client.pauseInput();
        engine.once("drain", () => client.resumeInput());
      }
    } else if (e.type === "resize") resize(e.size);
    else if (!stdinClosed) {
      stdinClosed = true;
      engine.end();
    }
  };
  client.onEvent(handle);

  let queued = 0;
  const send = (channel: typeof STDOUT | typeof STDERR, data: Buffer) => {
    if (!client.open) return;
    queued += data.length;
    client.write(channel, data, () => {
      queued -= data.length;
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
    client.finish(exitStatus(code, target.kind === "exec" ? target.command : []));
  };
  client.onClose(() => {
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
      const first = execId !== undefined && opts.tty ? pending.findIndex((m) => m.type === "resize") : -1;
      pending.forEach((m, i) => i !== first && handle(m));
    },
    (err: unknown) => {
      log(`${target.kind}: ${(err as Error).message}`);
      finished = true;
      client.finish({ metadata: {}, status: "Failure", message: (err as Error).message, reason: "InternalError" });
    },
  );
}
