// Published ports: Docker's `-p` / `--publish` syntax, `-P` from exposed ports, the Engine
// API's PortBindings map, and the check that a host port is free before portmap claims it.
//
//   -p 8080:80          all host addresses, host port 8080 -> container port 80/tcp
//   -p 127.0.0.1:8080:80/udp
//   -p 127.0.0.1::80    a random host port on 127.0.0.1
//   -p 80               a random host port on all addresses
//   -p 8000-8001:80-81  ranges of equal length map pairwise
import { createServer } from "node:net";
import { createSocket } from "node:dgram";
import { GantryError, invalidArgument } from "../common/errors.ts";
import { isIpv4 } from "./subnet.ts";

export type PortProtocol = "tcp" | "udp" | "sctp";

export interface PortMapping {
  /** Host address to listen on; "" means every address (0.0.0.0). */
  hostIp: string;
  /** Host port; 0 until a random one is chosen. */
  hostPort: number;
  containerPort: number;
  protocol: PortProtocol;
}

/** Docker Engine API shapes (HostConfig.PortBindings, Config.ExposedPorts). */
export type DockerPortBindings = Record<string, Array<{ HostIp?: string; HostPort?: string }> | null>;
export type DockerExposedPorts = Record<string, object>;

const protocols: readonly string[] = ["tcp", "udp", "sctp"];

function parsePort(text: string, what: string, spec: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) < 1 || Number(text) > 65535) {
    throw invalidArgument(`invalid ${what} "${text}" in port mapping "${spec}"`, {
      hint: "ports are numbers from 1 to 65535",
    });
  }
  return Number(text);
}

function parseRange(text: string, what: string, spec: string): [number, number] {
  const [a, b, ...rest] = text.split("-");
  if (rest.length > 0 || a === undefined)
    throw invalidArgument(`invalid ${what} "${text}" in port mapping "${spec}"`);
  const start = parsePort(a, what, spec);
  const end = b === undefined ? start : parsePort(b, what, spec);
  if (end < start)
    throw invalidArgument(`invalid ${what} range "${text}" in port mapping "${spec}": end is below start`);
  return [start, end];
}

function parseProtocol(text: string | undefined, spec: string): PortProtocol {
  const p = (text ?? "tcp").toLowerCase();
  if (!protocols.includes(p)) {
    throw invalidArgument(`invalid protocol "${text}" in port mapping "${spec}"`, {
      hint: "use tcp, udp or sctp",
    });
  }
  return p as PortProtocol;
}

/** Parses one `-p` value into one mapping per container port. */
export function parsePublish(spec: string): PortMapping[] {
  const s = spec.trim();
  if (s === "")
    throw invalidArgument("empty port mapping", { hint: "use -p [ip:][hostPort:]containerPort[/protocol]" });
  if (s.startsWith("[")) {
    throw new GantryError(
      "UNSUPPORTED_OPTION",
      `port mapping "${spec}": IPv6 host addresses are not supported`,
      {
        hint: "Gantry networks are IPv4 only",
      },
    );
  }
  const slash = s.split("/");
  if (slash.length > 2) throw invalidArgument(`invalid port mapping "${spec}": more than one "/"`);
  const protocol = parseProtocol(slash[1], spec);
  const fields = slash[0]!.split(":");
  let hostIp = "";
  let hostPart = "";
  let ctrPart: string;
  if (fields.length === 1) ctrPart = fields[0]!;
  else if (fields.length === 2) [hostPart, ctrPart] = fields as [string, string];
  else if (fields.length === 3) [hostIp, hostPart, ctrPart] = fields as [string, string, string];
  else {
    throw invalidArgument(`invalid port mapping "${spec}": too many ":"`, {
      hint: "use -p [ip:][hostPort:]containerPort[/protocol]",
    });
  }
  if (hostIp !== "" && !isIpv4(hostIp)) {
    throw invalidArgument(`invalid host address "${hostIp}" in port mapping "${spec}"`, {
      hint: "use an IPv4 address such as 127.0.0.1",
    });
  }
  if (hostIp === "0.0.0.0") hostIp = "";
  const [cStart, cEnd] = parseRange(ctrPart, "container port", spec);
  const out: PortMapping[] = [];
  if (hostPart === "") {
    for (let p = cStart; p <= cEnd; p++) out.push({ hostIp, hostPort: 0, containerPort: p, protocol });
    return out;
  }
  const [hStart, hEnd] = parseRange(hostPart, "host port", spec);
  if (hEnd - hStart !== cEnd - cStart) {
    throw invalidArgument(`invalid port mapping "${spec}": host and container port ranges differ in length`);
  }
  for (let i = 0; i <= cEnd - cStart; i++) {
    out.push({ hostIp, hostPort: hStart + i, containerPort: cStart + i, protocol });
  }
  return out;
}

/** Parses an exposed-port key such as "80/tcp" or "53/udp" (image EXPOSE, Config.ExposedPorts). */
export function parseExposedPort(key: string): { port: number; protocol: PortProtocol } {
  const [port, proto, ...rest] = key.split("/");
  if (rest.length > 0 || port === undefined) throw invalidArgument(`invalid exposed port "${key}"`);
  return { port: parsePort(port, "exposed port", key), protocol: parseProtocol(proto, key) };
}

/** `-P`: every exposed port gets a random host port on all addresses. */
export function publishAll(exposed: DockerExposedPorts | string[]): PortMapping[] {
  const keys = Array.isArray(exposed) ? exposed : Object.keys(exposed);
  return keys.map((k) => {
    const { port, protocol } = parseExposedPort(k);
    return { hostIp: "", hostPort: 0, containerPort: port, protocol };
  });
}

/** HostConfig.PortBindings (+ PublishAllPorts over ExposedPorts) into mappings. */
export function fromDockerPortBindings(
  bindings: DockerPortBindings | undefined,
  exposed?: DockerExposedPorts,
  publishAllPorts = false,
): PortMapping[] {
  const out: PortMapping[] = [];
  const bound = new Set<string>();
  for (const [key, list] of Object.entries(bindings ?? {})) {
    const { port, protocol } = parseExposedPort(key);
    bound.add(`${port}/${protocol}`);
    for (const b of list ?? [{}]) {
      const hostIp = b.HostIp ?? "";
      if (hostIp !== "" && !isIpv4(hostIp)) {
        throw invalidArgument(`invalid HostIp "${hostIp}" for port ${key}`, { hint: "use an IPv4 address" });
      }
      const hostPort =
        b.HostPort === undefined || b.HostPort === "" ? 0 : parsePort(b.HostPort, "host port", key);
      out.push({ hostIp: hostIp === "0.0.0.0" ? "" : hostIp, hostPort, containerPort: port, protocol });
    }
  }
  if (publishAllPorts && exposed) {
    for (const m of publishAll(exposed)) if (!bound.has(`${m.containerPort}/${m.protocol}`)) out.push(m);
  }
  return out;
}

/** Mappings back into Docker's PortBindings map (what `docker run -p` sends). */
export function toDockerPortBindings(mappings: PortMapping[]): DockerPortBindings {
  const out: DockerPortBindings = {};
  for (const m of mappings) {
    (out[`${m.containerPort}/${m.protocol}`] ??= [])!.push({
      HostIp: m.hostIp,
      HostPort: m.hostPort === 0 ? "" : String(m.hostPort),
    });
  }
  return out;
}

/** Two mappings claim the same host socket. */
export function mappingsClash(a: PortMapping, b: PortMapping): boolean {
  return (
    a.protocol === b.protocol &&
    a.hostPort === b.hostPort &&
    (a.hostIp === b.hostIp || a.hostIp === "" || b.hostIp === "")
  );
}

/**
 * Tries to bind the host socket and releases it at once: a listening process (or a port
 * another system holds) makes the mapping fail now with a clear error rather than have
 * portmap's DNAT silently steal its traffic. Port 0 asks the kernel for a free one.
 */
export async function probeHostPort(hostIp: string, port: number, protocol: PortProtocol): Promise<number> {
  const address = hostIp === "" ? "0.0.0.0" : hostIp;
  try {
    if (protocol === "udp") {
      const sock = createSocket("udp4");
      return await new Promise<number>((resolve, reject) => {
        sock.once("error", reject);
        sock.bind(port, address, () => {
          const got = sock.address().port;
          sock.close(() => resolve(got));
        });
      });
    }
    // sctp sockets cannot be opened from Node; TCP is the closest probe for the number.
    const server = createServer();
    return await new Promise<number>((resolve, reject) => {
      server.once("error", reject);
      server.listen({ port, host: address, exclusive: true }, () => {
        const a = server.address();
        const got = typeof a === "object" && a ? a.port : port;
        server.close(() => resolve(got));
      });
    });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "EADDRINUSE") {
      throw new GantryError("CONFLICT", `host port ${address}:${port}/${protocol} is already in use`, {
        hint: "stop what listens there or publish a different host port",
        errno: code,
      });
    }
    if (code === "EADDRNOTAVAIL") {
      throw invalidArgument(`cannot publish on ${address}: no interface on this host has that address`, {
        errno: code,
      });
    }
    throw new GantryError(
      "SYSCALL_FAILED",
      `probe host port ${address}:${port}/${protocol}: ${(err as Error).message}`,
      {
        errno: code,
        cause: err,
      },
    );
  }
}

export function describeMapping(m: PortMapping): string {
  return `${m.hostIp === "" ? "0.0.0.0" : m.hostIp}:${m.hostPort}->${m.containerPort}/${m.protocol}`;
}
