// Where port-forward's bytes go: a TCP connection to the pod's port. First to the pod's IP
// (what most servers listen on); refused there, to 127.0.0.1 inside the pod's network
// namespace, as containerd connects, so a server bound to localhost in the pod is reached too.
// Node cannot enter a namespace itself (setns on one thread of many), so the second way is a
// small relay: `nsenter --net=/proc/<sandbox pid>/ns/net` running node with a ten-line script
// that connects and pipes the socket to its stdio; its first byte says it connected.
import { spawn } from "node:child_process";
import { connect, type Socket } from "node:net";
import { Duplex } from "node:stream";

const RELAY = `
const s = require("net").connect(Number(process.argv[1]), "127.0.0.1");
s.on("connect", () => { process.stdout.write("\\0"); process.stdin.pipe(s); s.pipe(process.stdout); });
s.on("error", (e) => { process.stderr.write(e.message); process.exitCode = 1; process.stdin.destroy(); });
`;

function connectDirect(host: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host, port });
    sock.once("connect", () => {
      sock.off("error", reject);
      resolve(sock);
    });
    sock.once("error", reject);
  });
}

/** localhost:port inside the network namespace of process pid, through the relay. */
function connectInNamespace(pid: number, port: number): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const child = spawn("nsenter", [`--net=/proc/${pid}/ns/net`, "--", process.execPath, "-e", RELAY, String(port)], { stdio: ["pipe", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(stderr.trim() || `the relay into the pod's network namespace exited ${code}`)));
    child.stdout.once("readable", function first() {
      const b: Buffer | null = child.stdout.read(1);
      if (b === null) return void child.stdout.once("readable", first);
      const stream = Duplex.from({ readable: child.stdout, writable: child.stdin });
      stream.on("close", () => child.kill("SIGKILL"));
      resolve(stream);
    });
  });
}

export async function dialPod(podIP: string, port: number, sandboxPid: number | undefined): Promise<Duplex> {
  try {
    return await connectDirect(podIP, port);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ECONNREFUSED" || !sandboxPid) throw err;
    try {
      return await connectInNamespace(sandboxPid, port);
    } catch (inner) {
      throw new Error(`${(err as Error).message}; and on localhost inside the pod's network namespace: ${(inner as Error).message}`, { cause: inner });
    }
  }
}
