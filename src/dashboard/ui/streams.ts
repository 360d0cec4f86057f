// Long-lived reads (watches, followed logs, stats) over the dashboard's one WebSocket (the
// protocol is drawn in src/dashboard/streams.ts): a browser holds at most six HTTP/1.1
// connections to a host, so seven watches as fetches would stall every later request.
import { ApiError, session } from "./session.ts";

interface Pending {
  onChunk: (bytes: Uint8Array) => void;
  onOpen?: () => void;
  resolve: () => void;
  reject: (err: Error) => void;
}

type ServerMessage =
  | { op: "ready" }
  | { op: "refused"; message: string }
  | { op: "open"; id: number; status: number }
  | { op: "end"; id: number }
  | { op: "error"; id: number; status: number; message: string };

class Connection {
  private readonly streams = new Map<number, Pending>();
  private nextId = 1;
  readonly ready: Promise<void>;
  private closed = false;

  constructor(
    private readonly ws: WebSocket,
    token: string,
    onClose: () => void,
  ) {
    ws.binaryType = "arraybuffer";
    this.ready = new Promise((resolve, reject) => {
      ws.onopen = () => ws.send(JSON.stringify({ op: "auth", token }));
      ws.onmessage = (e: MessageEvent) => {
        if (e.data instanceof ArrayBuffer) {
          const id = new DataView(e.data).getUint32(0);
          this.streams.get(id)?.onChunk(new Uint8Array(e.data, 4));
          return;
        }
        const msg = JSON.parse(String(e.data)) as ServerMessage;
        if (msg.op === "ready") resolve();
        else if (msg.op === "refused") reject(new ApiError(401, `401 ${msg.message}`));
        else if (msg.op === "open") this.streams.get(msg.id)?.onOpen?.();
        else if (msg.op === "end") this.settle(msg.id)?.resolve();
        else if (msg.op === "error")
          this.settle(msg.id)?.reject(new ApiError(msg.status, `${msg.status} ${msg.message}`));
      };
      ws.onclose = () => {
        this.closed = true;
        onClose();
        const gone = new Error("the dashboard's stream connection closed");
        reject(gone);
        for (const s of this.streams.values()) s.reject(gone);
        this.streams.clear();
      };
    });
  }

  private settle(id: number): Pending | undefined {
    const s = this.streams.get(id);
    this.streams.delete(id);
    return s;
  }

  async open(
    path: string,
    onChunk: (bytes: Uint8Array) => void,
    signal?: AbortSignal,
    onOpen?: () => void,
  ): Promise<void> {
    await this.ready;
    if (this.closed) throw new Error("the dashboard's stream connection closed");
    const id = this.nextId++;
    return new Promise<void>((resolve, reject) => {
      this.streams.set(id, { onChunk, onOpen, resolve, reject });
      this.ws.send(JSON.stringify({ op: "open", id, path }));
      signal?.addEventListener("abort", () => {
        if (!this.streams.has(id)) return;
        this.streams.delete(id);
        if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify({ op: "close", id }));
        reject(new DOMException("aborted", "AbortError"));
      });
    });
  }

  close(): void {
    this.ws.close();
  }
}

let current: { token: string; connection: Connection } | undefined;

function connection(): Connection {
  const token = session.token() ?? "";
  if (current && current.token !== token) current.connection.close();
  if (!current || current.token !== token) {
    const url = new URL("/dashboard/streams", location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    const c = new Connection(new WebSocket(url), token, () => {
      if (current?.connection === c) current = undefined;
    });
    current = { token, connection: c };
  }
  return current.connection;
}

/**
 * GET PATH as a stream: its body's bytes as they come; resolves when the API ends it. onOpen is
 * called when the API has answered 2xx, i.e. the stream is established on the API's side.
 */
export function openStream(
  path: string,
  onChunk: (bytes: Uint8Array) => void,
  signal?: AbortSignal,
  onOpen?: () => void,
): Promise<void> {
  return connection().open(path, onChunk, signal, onOpen);
}

/** GET PATH as a stream of lines (watch events, followed logs, stats documents). */
export async function streamLines(
  path: string,
  onLine: (line: string) => void,
  signal?: AbortSignal,
  onOpen?: () => void,
): Promise<void> {
  const decoder = new TextDecoder();
  let buffered = "";
  const take = () => {
    let nl: number;
    while ((nl = buffered.indexOf("\n")) >= 0) {
      onLine(buffered.slice(0, nl));
      buffered = buffered.slice(nl + 1);
    }
  };
  await openStream(
    path,
    (bytes) => {
      buffered += decoder.decode(bytes, { stream: true });
      take();
    },
    signal,
    onOpen,
  );
  buffered += decoder.decode();
  take();
  if (buffered) onLine(buffered);
}

export function closeStreams(): void {
  current?.connection.close();
  current = undefined;
}
