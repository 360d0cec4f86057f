// IPv4 addresses and CIDR subnets as numbers, so overlap and membership are arithmetic.
// Gantry's networks are IPv4 only (see docs/ARCHITECTURE.md "Networks").
import { invalidArgument } from "../common/errors.ts";

export interface Subnet {
  /** Network address as an unsigned 32-bit number. */
  base: number;
  prefix: number;
}

export function parseIpv4(text: string, what = "IP address"): number {
  const parts = text.split(".");
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) {
    throw invalidArgument(`invalid ${what} "${text}"`, { hint: "use dotted IPv4 form such as 10.231.0.1" });
  }
  return parts.reduce((n, p) => n * 256 + Number(p), 0);
}

export function formatIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

export function isIpv4(text: string): boolean {
  try {
    parseIpv4(text);
    return true;
  } catch {
    return false;
  }
}

const maskOf = (prefix: number): number => (prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0);

/** Parses "10.231.1.0/24". A host address with bits below the prefix is refused, like Docker does. */
export function parseSubnet(text: string): Subnet {
  const m = /^([^/]+)\/(\d{1,2})$/.exec(text);
  if (!m) throw invalidArgument(`invalid subnet "${text}"`, { hint: "use CIDR form such as 10.231.1.0/24" });
  const prefix = Number(m[2]);
  if (prefix > 30 || prefix < 8) {
    throw invalidArgument(`invalid subnet "${text}": prefix length must be between /8 and /30`);
  }
  const addr = parseIpv4(m[1]!, "subnet address");
  const base = (addr & maskOf(prefix)) >>> 0;
  if (base !== addr) {
    throw invalidArgument(`invalid subnet "${text}": host bits are set`, {
      hint: `did you mean ${formatIpv4(base)}/${prefix}?`,
    });
  }
  return { base, prefix };
}

export function formatSubnet(s: Subnet): string {
  return `${formatIpv4(s.base)}/${s.prefix}`;
}

export function subnetSize(s: Subnet): number {
  return 2 ** (32 - s.prefix);
}

export function subnetContains(s: Subnet, ip: number): boolean {
  return (ip & maskOf(s.prefix)) >>> 0 === s.base;
}

export function subnetsOverlap(a: Subnet, b: Subnet): boolean {
  const p = Math.min(a.prefix, b.prefix);
  return (a.base & maskOf(p)) >>> 0 === (b.base & maskOf(p)) >>> 0;
}

/** The first usable host address, which Docker also picks as the default gateway. */
export function firstHost(s: Subnet): number {
  return s.base + 1;
}

/** True for the network and broadcast addresses, which no interface may have. */
export function isReservedAddress(s: Subnet, ip: number): boolean {
  return ip === s.base || ip === s.base + subnetSize(s) - 1;
}

/** Parses `ip route` destination words ("default", "10.0.0.0/8", "192.0.2.7") into subnets. */
export function routeDestination(dst: string): Subnet | undefined {
  if (dst === "default") return undefined;
  const [addr, len] = dst.split("/");
  if (!addr || !isIpv4(addr)) return undefined;
  const prefix = len === undefined ? 32 : Number(len);
  return { base: (parseIpv4(addr) & maskOf(prefix)) >>> 0, prefix };
}
