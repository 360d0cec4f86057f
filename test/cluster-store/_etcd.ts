// Starts a private etcd on loopback for a test file — one member, or (startCluster) a cluster
// of several: random free ports, a temporary data directory per member, the fast-election
// flags from compat/components.md. stop() kills a member and removes its directory; an exit
// hook does the same if the test process dies first.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const ETCD_BINARY = "/usr/bin/etcd";

/** Why etcd tests cannot run here, or undefined when they can. */
export function etcdSkipReason(): string | undefined {
  return existsSync(ETCD_BINARY)
    ? undefined
    : `${ETCD_BINARY} is absent (scripts/install-deps.sh installs etcd-server)`;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export class TestEtcd {
  private proc: ChildProcess | undefined;
  private log = "";
  private readonly onExit = () => {
    this.proc?.kill("SIGKILL");
    rmSync(this.dataDir, { recursive: true, force: true });
  };

  private constructor(
    readonly clientPort: number,
    readonly peerPort: number,
    readonly dataDir: string,
    /** This member's name and the --initial-cluster list it starts with. */
    private readonly member = { name: "gantry-test", initialCluster: `gantry-test=http://127.0.0.1:${peerPort}` },
  ) {
    process.on("exit", this.onExit);
  }

  /** dataDir: start on an existing member directory (a restored snapshot); removed by stop() like a fresh one. */
  static async start(opts: { dataDir?: string } = {}): Promise<TestEtcd> {
    const etcd = new TestEtcd(await freePort(), await freePort(), opts.dataDir ?? mkdtempSync(join(tmpdir(), "gantry-etcd-")));
    try {
      await etcd.launch();
    } catch (err) {
      await etcd.stop();
      throw err;
    }
    return etcd;
  }

  /** n members on loopback that form one cluster; all started and healthy, or all stopped. */
  static async startCluster(n: number): Promise<TestEtcd[]> {
    const ports: Array<[number, number]> = [];
    for (let i = 0; i < n; i++) ports.push([await freePort(), await freePort()]);
    const initialCluster = ports.map(([, peer], i) => `m${i}=http://127.0.0.1:${peer}`).join(",");
    const members = ports.map(([client, peer], i) => new TestEtcd(client, peer, mkdtempSync(join(tmpdir(), "gantry-etcd-")), { name: `m${i}`, initialCluster }));
    // Each member is healthy only once a quorum has met, so they start together.
    const started = await Promise.allSettled(members.map((m) => m.launch()));
    const failed = started.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) {
      for (const m of members) await m.stop();
      throw failed.reason;
    }
    return members;
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.clientPort}`;
  }

  /** Starts (or restarts, on the same data directory) and waits until /health says true. */
  async launch(): Promise<void> {
    const peer = `http://127.0.0.1:${this.peerPort}`;
    const proc = spawn(
      ETCD_BINARY,
      [
        `--name=${this.member.name}`,
        `--data-dir=${this.dataDir}`,
        `--listen-client-urls=${this.endpoint}`,
        `--advertise-client-urls=${this.endpoint}`,
        `--listen-peer-urls=${peer}`,
        `--initial-advertise-peer-urls=${peer}`,
        `--initial-cluster=${this.member.initialCluster}`,
        "--heartbeat-interval=20",
        "--election-timeout=200",
        "--logger=zap",
        "--log-outputs=stderr",
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    this.proc = proc;
    proc.stderr!.on("data", (b: Buffer) => {
      this.log = (this.log + b.toString()).slice(-4000);
    });
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      if (proc.exitCode !== null) throw new Error(`etcd exited with ${proc.exitCode}: ${this.log}`);
      try {
        const res = await fetch(`${this.endpoint}/health`);
        const body = (await res.json()) as { health?: string };
        if (body.health === "true") return;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`etcd did not become healthy within 15 s: ${this.log}`);
  }

  /** kill -9, as a machine losing power would look to etcd's process. */
  async kill9(): Promise<void> {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((r) => proc.once("exit", r));
    proc.kill("SIGKILL");
    await exited;
  }

  async stop(): Promise<void> {
    await this.kill9();
    process.off("exit", this.onExit);
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}
