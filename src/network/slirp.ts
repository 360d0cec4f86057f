// Rootless networking: one slirp4netns per container, as rootless Podman does. A rootless
// daemon may not make bridges or NAT rules in the host's network namespace, so each
// container's own namespace gets a tap device whose traffic slirp4netns (a user-space TCP/IP
// stack, started by the daemon in the host's network namespace) turns into ordinary sockets
// of the user. Published ports are slirp4netns `add_hostfwd` requests on its API socket: the
// listening socket is slirp4netns's own, on the host.
//
//   container netns: tap0 10.0.2.100/24, gateway 10.0.2.2, DNS 10.0.2.3 (slirp's resolver)
//   slirp4netns --configure --mtu=65520 --disable-host-loopback --api-socket S --ready-fd 3 --exit-fd 4 PID tap0
//
// --exit-fd is a pipe whose other end only the daemon holds: when the daemon ends, so do
// its slirp4netns processes (a rootless daemon's containers stop with it).
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, rmSync } from "node:fs";
import { connect, createServer } from "node:net";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { GantryError } from "../common/errors.ts";
import { writeContainerFiles, renderHosts, renderResolvConf } from "./container-files.ts";
import { describeMapping, type PortMapping } from "./ports.ts";
import type { EndpointRecord } from "./registry.ts";

export const SLIRP_NETWORK = "slirp4netns";
export const SLIRP_ADDRESS = "10.0.2.100";
export const SLIRP_GATEWAY = "10.0.2.2";
export const SLIRP_DNS = "10.0.2.3";
/** Published ports without a host address listen on loopback only (ask 0.0.0.0 for every address). */
export const SLIRP_DEFAULT_HOST_IP = "127.0.0.1";

/** The args of one slirp4netns for the process `pid`'s network namespace. */
export function slirpArgs(pid: number, apiSocket: string): string[] {
  return ["--configure", "--mtu=65520", "--disable-host-loopback", "--api-socket", apiSocket, "--ready-fd=3", "--exit-fd=4", String(pid), "tap0"];
}

/** One slirp4netns API request; its answer's `return`, or its `error.desc` as an error. */
function slirpRequest(apiSocket: string, request: object): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const sock = connect(apiSocket);
    let text = "";
    sock.on("data", (b: Buffer) => (text += b.toString()));
    sock.on("error", (err) => reject(new GantryError("NETWORK_PLUGIN_FAILED", `slirp4netns API ${apiSocket}: ${err.message}`)));
    sock.on("close", () => {
      try {
        const answer = JSON.parse(text) as { return?: Record<string, unknown>; error?: { desc?: string } };
        if (answer.error) reject(new GantryError("NETWORK_PLUGIN_FAILED", `slirp4netns: ${answer.error.desc ?? JSON.stringify(answer.error)}`));
        else resolve(answer.return ?? {});
      } catch {
        reject(new GantryError("NETWORK_PLUGIN_FAILED", `slirp4netns API ${apiSocket}: unreadable answer ${JSON.stringify(text)}`));
      }
    });
    sock.end(JSON.stringify(request));
  });
}

/** A free port on `host` for a mapping without one (-P, -p :80), as the kernel picks it. */
function freePort(host: string, protocol: string): Promise<number> {
  if (protocol !== "tcp") return Promise.reject(new GantryError("UNSUPPORTED_OPTION", `a random host port for ${protocol} is not supported rootless: give one`));
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      srv.close(() => resolve(typeof addr === "object" && addr ? addr.port : 0));
    });
  });
}

function waitReady(child: ChildProcess, ready: Readable): Promise<void> {
  return new Promise((resolve, reject) => {
    let stderr = "";
    child.stderr?.on("data", (b: Buffer) => (stderr += b.toString()));
    const fail = (why: string) => reject(new GantryError("NETWORK_PLUGIN_FAILED", `slirp4netns ${why}${stderr.trim() ? `: ${stderr.trim()}` : ""}`));
    ready.once("data", () => resolve());
    child.once("error", (err) => fail(`could not start (${err.message})`));
    child.once("exit", (code, signal) => fail(`exited before it was ready (${signal ?? `status ${code}`})`));
  });
}

interface SlirpEndpoint {
  child: ChildProcess;
  apiSocket: string;
  endpoint: EndpointRecord;
}

export class SlirpNetworks {
  private readonly byContainer = new Map<string, SlirpEndpoint>();

  constructor(
    private readonly runDir: string,
    private readonly binary = "slirp4netns",
  ) {
    mkdirSync(runDir, { recursive: true, mode: 0o700 });
  }

  /** Gives the network namespace of `pid` a slirp4netns and the published ports; resolves once it forwards. */
  async attach(o: { containerId: string; containerName: string; pid: number; ports: PortMapping[] }): Promise<EndpointRecord> {
    await this.detach(o.containerId);
    const apiSocket = join(this.runDir, `${o.containerId.slice(0, 32)}.sock`);
    rmSync(apiSocket, { force: true });
    const child = spawn(this.binary, slirpArgs(o.pid, apiSocket), { stdio: ["ignore", "ignore", "pipe", "pipe", "pipe"] });
    const endpoint: EndpointRecord = {
      endpointId: o.containerId,
      networkId: SLIRP_NETWORK,
      networkName: SLIRP_NETWORK,
      containerId: o.containerId,
      containerName: o.containerName,
      aliases: [],
      ifName: "tap0",
      netns: `/proc/${o.pid}/ns/net`,
      netnsInode: "",
      address: SLIRP_ADDRESS,
      prefix: 24,
      gateway: SLIRP_GATEWAY,
      ports: [],
      dns: [SLIRP_DNS],
      created: new Date().toISOString(),
    };
    const entry = { child, apiSocket, endpoint };
    this.byContainer.set(o.containerId, entry);
    try {
      await waitReady(child, child.stdio[3] as Readable);
      child.stderr?.resume();
      for (const p of o.ports) {
        const hostIp = p.hostIp || SLIRP_DEFAULT_HOST_IP;
        const hostPort = p.hostPort || (await freePort(hostIp, p.protocol));
        await slirpRequest(apiSocket, { execute: "add_hostfwd", arguments: { proto: p.protocol, host_addr: hostIp, host_port: hostPort, guest_port: p.containerPort } }).catch((err: Error) => {
          throw new GantryError("NETWORK_PLUGIN_FAILED", `publishing ${describeMapping({ ...p, hostIp, hostPort })}: ${err.message}`, { hint: "is the host port in use?" });
        });
        endpoint.ports.push({ ...p, hostIp, hostPort });
      }
      return endpoint;
    } catch (err) {
      await this.detach(o.containerId);
      throw err;
    }
  }

  /** hosts and resolv.conf for a slirp container: its address and slirp4netns's resolver. */
  containerFiles(o: { dir: string; hostname: string; domainname?: string }): void {
    writeContainerFiles(o.dir, {
      hostname: `${o.hostname}\n`,
      hosts: renderHosts({ hostname: o.hostname, domainname: o.domainname, addresses: [SLIRP_ADDRESS] }),
      resolvConf: renderResolvConf({ nameservers: [SLIRP_DNS] }),
    });
  }

  endpointsOf(containerId: string): EndpointRecord[] {
    const e = this.byContainer.get(containerId);
    return e ? [e.endpoint] : [];
  }

  /** Ends the container's slirp4netns (its ports close with it). */
  async detach(containerId: string): Promise<void> {
    const e = this.byContainer.get(containerId);
    if (!e) return;
    this.byContainer.delete(containerId);
    if (e.child.exitCode === null && e.child.signalCode === null) {
      const exited = new Promise((r) => e.child.once("exit", r));
      e.child.kill("SIGTERM");
      await exited;
    }
    rmSync(e.apiSocket, { force: true });
  }

  async close(): Promise<void> {
    await Promise.all([...this.byContainer.keys()].map((id) => this.detach(id)));
  }
}
