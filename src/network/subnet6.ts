// IPv6 addresses and CIDR subnets as BigInts, for a network's second (IPv6) IPAM config
// (`docker network create --ipv6 --subnet fd00:1::/64`): parse, format in RFC 5952's short
// form (as dockerd prints them), membership, overlap and the default gateway (::1).
import { isIPv6 } from "node:net";
import { invalidArgument } from "../common/errors.ts";

export interface Subnet6 {
  base: bigint;
  prefix: number;
}

export function parseIpv6(text: string, what = "IPv6 address"): bigint {
  if (!isIPv6(text) || text.includes(".")) throw invalidArgument(`invalid ${what} "${text}"`, { hint: "use IPv6 form such as fd00:1::1" });
  const [head = "", tail] = text.split("::");
  const groups = (s: string) => (s === "" ? [] : s.split(":"));
  const h = groups(head);
  const t = tail === undefined ? [] : groups(tail);
  const all = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill("0"), ...t];
  return all.reduce((n, g) => (n << 16n) | BigInt(parseInt(g, 16)), 0n);
}

/** RFC 5952: lower case, no leading zeros, the longest run of two or more zero groups as "::". */
export function formatIpv6(n: bigint): string {
  const g = Array.from({ length: 8 }, (_, i) => Number((n >> BigInt(112 - 16 * i)) & 0xffffn));
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (best < 0) return hex.join(":");
  return `${hex.slice(0, best).join(":")}::${hex.slice(best + bestLen).join(":")}`;
}

const mask = (prefix: number): bigint => ((1n << 128n) - 1n) ^ ((1n << BigInt(128 - prefix)) - 1n);

/** "fd00:1::/64": host bits set below the prefix are refused, as for IPv4; /64 to /120. */
export function parseSubnet6(text: string): Subnet6 {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(text);
  if (!m) throw invalidArgument(`invalid subnet "${text}"`, { hint: "use CIDR form such as fd00:1::/64" });
  const prefix = Number(m[2]);
  if (prefix < 48 || prefix > 120) throw invalidArgument(`invalid subnet "${text}": IPv6 prefix length must be between /48 and /120`);
  const base = parseIpv6(m[1]!, "subnet address");
  if ((base & mask(prefix)) !== base) throw invalidArgument(`invalid subnet "${text}": host bits are set below /${prefix}`);
  return { base, prefix };
}

export function formatSubnet6(s: Subnet6): string {
  return `${formatIpv6(s.base)}/${s.prefix}`;
}

export function subnet6Contains(s: Subnet6, ip: bigint): boolean {
  return (ip & mask(s.prefix)) === s.base;
}

export function subnets6Overlap(a: Subnet6, b: Subnet6): boolean {
  const p = Math.min(a.prefix, b.prefix);
  return (a.base & mask(p)) === (b.base & mask(p));
}

/** The subnet's first address after the network address: the default gateway (dockerd's too). */
export function firstHost6(s: Subnet6): bigint {
  return s.base + 1n;
}
