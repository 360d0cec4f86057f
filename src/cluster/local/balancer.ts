// The HA cluster's front door for kubectl: a kubeconfig holds one server per cluster entry,
// so, as kubeadm's HA guide puts haproxy in front of the API servers and k3s its agents'
// load balancer, a small TCP balancer on loopback forwards each connection to one server.
// TLS passes through untouched (every server's certificate names 127.0.0.1 and is signed
// by the cluster's one CA). Each server's /readyz is asked every CHECK_MS; a connection goes
// to the next ready server in turn, and when that server refuses it, to the one after —
// so a server killed between two checks costs no failed kubectl call.
import { request } from "node:https";
import { connect, createServer, type Server, type Socket } from "node:net";

export const CHECK_MS = 1_000;
const CONNECT_TIMEOUT_MS = 3_000;

export interface Backend {
  /** https://HOST:PORT */
  url: string;
  ready: boolean;
}

export interface Balancer {
  readonly port: number;
  readonly backends: readonly Backend[];
  close(): Promise<void>;
}

/** Whether the server at url answers /readyz with 200 (the CA checks it is one of ours). */
export function checkReady(url: string, caCert: string): Promise<boolean> {
  return new Promise((resolve) => {
    const r = request(`${url}/readyz`, { ca: caCert, timeout: CONNECT_TIMEOUT_MS }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    r.on("timeout", () => r.destroy());
    r.on("error", () => resolve(false));
    r.end();
  });
}

export async function startBalancer(o: { host: string; port: number; servers: string[]; caCert: () => string | undefined; log: (m: string) => void }): Promise<Balancer> {
  const backends: Backend[] = o.servers.map((url) => ({ url, ready: true }));
  let next = 0;
  const sockets = new Set<Socket>();

  const mark = (b: Backend, ready: boolean, why: string) => {
    if (b.ready !== ready) o.log(`balancer: ${b.url} ${ready ? "is ready again" : `is out (${why})`}`);
    b.ready = ready;
  };
  const check = async () => {
    const ca = o.caCert();
    if (!ca) return;
    await Promise.all(backends.map(async (b) => mark(b, await checkReady(b.url, ca), "/readyz did not answer 200")));
  };
  const timer = setInterval(() => void check(), CHECK_MS);
  timer.unref();

  /** Ready backends first, from the round-robin position; the others after, as a last resort. */
  const order = (): Backend[] => {
    const start = next++ % backends.length;
    const turn = [...backends.slice(start), ...backends.slice(0, start)];
    return [...turn.filter((b) => b.ready), ...turn.filter((b) => !b.ready)];
  };

  const dial = (client: Socket, candidates: Backend[]) => {
    const b = candidates.shift();
    if (!b) {
      client.destroy();
      return;
    }
    const u = new URL(b.url);
    const upstream = connect(Number(u.port), u.hostname);
    let connected = false;
    const timer = setTimeout(() => upstream.destroy(new Error("connect timeout")), CONNECT_TIMEOUT_MS);
    upstream.once("connect", () => {
      connected = true;
      clearTimeout(timer);
      sockets.add(upstream);
      upstream.on("close", () => sockets.delete(upstream));
      upstream.on("error", () => client.destroy());
      client.on("error", () => upstream.destroy());
      client.pipe(upstream).pipe(client);
      client.resume();
    });
    upstream.once("error", (err) => {
      clearTimeout(timer);
      if (connected) return;
      mark(b, false, err.message);
      dial(client, candidates);
    });
  };

  const server: Server = createServer({ pauseOnConnect: true }, (client) => {
    sockets.add(client);
    client.on("close", () => sockets.delete(client));
    client.on("error", () => undefined);
    dial(client, order());
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(o.port, o.host, () => resolve());
  });
  void check();
  return {
    port: (server.address() as { port: number }).port,
    backends,
    async close() {
      clearInterval(timer);
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
