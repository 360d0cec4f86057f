// NetworkPolicy as nftables rules for the pods of one node. Pure: the cluster's pods,
// namespaces and policies in, the desired table out, as its structure (chains, set
// declarations) and its sets' elements apart, so a pod coming or going that only changes who
// a selector picks is applied as element changes alone.
//
//   forward (filter, after the service proxy's DNAT, so a ClusterIP is judged as its pod)
//     ct state established,related accept          policies govern new connections only
//     ip saddr vmap @egress-pods   ─► egress-<pod>:  allowed peer/port ─► return; else reject
//     ip daddr vmap @ingress-pods  ─► ingress-<pod>: allowed peer/port ─► accept; else reject
//
// A pod is isolated in a direction when some policy of its namespace selects it with that
// policy type; its chain then allows the union of those policies' rules. A peer's pods are a
// named set of IPs (peer-<hash>), shared by every rule naming the same selector pair.
import { createHash } from "node:crypto";
import type { NetworkPolicy, Pod, PolicyPeer, PolicyPort } from "./_types.ts";
import { selects } from "./selector.ts";
import { compareStrings } from "../../common/compare.ts";

export interface PolicyState {
  pods: Pod[];
  /** Namespace name → its labels (kubernetes.io/metadata.name among them). */
  namespaces: Map<string, Record<string, string>>;
  policies: NetworkPolicy[];
}

export interface NamedSet {
  type: string;
  elements: string[];
}

export interface PolicyRuleset {
  /** The table's chains and maps, and the sets' declarations (no elements). */
  structure: string[];
  sets: Map<string, NamedSet>;
}

const REJECT = "reject with icmp type admin-prohibited";
const hash = (text: string) => createHash("sha256").update(text).digest("hex").slice(0, 12);
const podKey = (p: Pod) => `${p.metadata.namespace}/${p.metadata.name}`;
const IPV4 = /^\d+\.\d+\.\d+\.\d+$/;

/** Pods that have a pod-network address (host-network pods share the node's and are not policed). */
const addressed = (pods: Pod[]) => pods.filter((p) => !p.spec?.hostNetwork && IPV4.test(p.status?.podIP ?? "") && p.status?.phase !== "Succeeded" && p.status?.phase !== "Failed");

function policyTypes(np: NetworkPolicy): Set<"Ingress" | "Egress"> {
  const given = np.spec?.policyTypes;
  if (given?.length) return new Set(given);
  return new Set(np.spec?.egress ? ["Ingress", "Egress"] : ["Ingress"]);
}

/** The pods a peer's selectors pick, seen from a policy in namespace ns. */
function peerPods(state: PolicyState, ns: string, peer: PolicyPeer, pods: Pod[]): Pod[] {
  return pods.filter((p) => {
    const podNs = p.metadata.namespace ?? "default";
    if (peer.namespaceSelector) {
      if (!selects(peer.namespaceSelector, state.namespaces.get(podNs))) return false;
    } else if (podNs !== ns) return false;
    return !peer.podSelector || selects(peer.podSelector, p.metadata.labels);
  });
}

/** Container ports of a pod by name and protocol. */
function namedPorts(pod: Pod, name: string, protocol: string): number[] {
  const out: number[] = [];
  for (const c of pod.spec?.containers ?? []) for (const p of c.ports ?? []) if (p.name === name && (p.protocol ?? "TCP") === protocol) out.push(p.containerPort);
  return out;
}

const proto = (p: PolicyPort) => (p.protocol ?? "TCP").toLowerCase();
const PROTOCOLS = new Set(["tcp", "udp", "sctp"]);
const validPort = (n: number) => Number.isInteger(n) && n >= 1 && n <= 65535;
/** An IPv4 CIDR nft accepts; anything else (IPv6, garbage the API let through) matches no IPv4 packet. */
function ipv4Cidr(text: string): boolean {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)(?:\/(\d+))?$/.exec(text);
  return !!m && m.slice(1, 5).every((o) => Number(o) <= 255) && (m[5] === undefined || Number(m[5]) <= 32);
}

class Builder {
  readonly sets = new Map<string, NamedSet>();
  readonly chains: [string, string[]][] = [];
  constructor(private readonly state: PolicyState, private readonly pods: Pod[]) {}

  /** The named set of the pods a peer picks (one per distinct namespace + selector pair). */
  peerSet(ns: string, peer: PolicyPeer): string {
    const name = `peer-${hash(JSON.stringify([peer.namespaceSelector ? null : ns, peer.namespaceSelector ?? null, peer.podSelector ?? null]))}`;
    if (!this.sets.has(name)) this.sets.set(name, { type: "ipv4_addr", elements: [...new Set(peerPods(this.state, ns, peer, this.pods).map((p) => p.status!.podIP!))].sort() });
    return name;
  }

  /** ip . port pairs of a named port on the given pods (egress to a named port). */
  namedPortSet(pods: Pod[], port: string, protocol: string): string {
    const pairs = new Set<string>();
    for (const p of pods) for (const n of namedPorts(p, port, protocol)) pairs.add(`${p.status!.podIP!} . ${n}`);
    const name = `nport-${hash(JSON.stringify([pods.map(podKey).sort(), port, protocol]))}`;
    this.sets.set(name, { type: "ipv4_addr . inet_service", elements: [...pairs].sort() });
    return name;
  }

  /** Rule fragments for a peer list seen from a side ("saddr" for ingress, "daddr" for egress); [""] means anyone. */
  peerMatches(ns: string, peers: PolicyPeer[] | undefined, side: "saddr" | "daddr"): { match: string; pods?: Pod[] }[] {
    if (!peers?.length) return [{ match: "", pods: this.pods }];
    const out: { match: string; pods?: Pod[] }[] = [];
    for (const peer of peers) {
      if (peer.ipBlock) {
        if (!ipv4Cidr(peer.ipBlock.cidr)) continue; // one bad policy must not stop the node's others from applying
        const except = (peer.ipBlock.except ?? []).filter(ipv4Cidr);
        out.push({ match: `ip ${side} ${peer.ipBlock.cidr}${except.length ? ` ip ${side} != { ${except.join(", ")} }` : ""}` });
      } else out.push({ match: `ip ${side} @${this.peerSet(ns, peer)}`, pods: peerPods(this.state, ns, peer, this.pods) });
    }
    return out;
  }

  /** The ports of a rule as match fragments, a named port resolved on the destination pod; [""] means every port. */
  portMatches(ports: PolicyPort[] | undefined, destination: Pod | undefined): string[] {
    if (!ports?.length) return [""];
    const out: string[] = [];
    for (const p of ports) {
      if (!PROTOCOLS.has(proto(p))) continue;
      if (p.port === undefined) out.push(`meta l4proto ${proto(p)}`);
      else if (typeof p.port === "number" || /^\d+$/.test(p.port)) {
        const n = Number(p.port);
        if (!validPort(n) || (p.endPort !== undefined && !validPort(p.endPort))) continue;
        out.push(`meta l4proto ${proto(p)} th dport ${p.endPort && p.endPort > n ? `${n}-${p.endPort}` : n}`);
      } else if (destination) {
        const numbers = namedPorts(destination, p.port, p.protocol ?? "TCP");
        if (numbers.length) out.push(`meta l4proto ${proto(p)} th dport { ${numbers.join(", ")} }`);
      }
    }
    return out;
  }

  ingressChain(pod: Pod, policies: NetworkPolicy[]): string[] {
    const rules: string[] = [];
    for (const np of policies)
      for (const rule of np.spec?.ingress ?? [])
        for (const peer of this.peerMatches(np.metadata.namespace ?? "default", rule.from, "saddr"))
          for (const port of this.portMatches(rule.ports, pod)) rules.push([peer.match, port, "accept"].filter(Boolean).join(" "));
    return [...rules, REJECT];
  }

  egressChain(policies: NetworkPolicy[]): string[] {
    const rules: string[] = [];
    for (const np of policies)
      for (const rule of np.spec?.egress ?? [])
        for (const peer of this.peerMatches(np.metadata.namespace ?? "default", rule.to, "daddr")) {
          const plain = (rule.ports ?? []).filter((p) => typeof p.port !== "string" || /^\d+$/.test(p.port));
          const named = (rule.ports ?? []).filter((p) => typeof p.port === "string" && !/^\d+$/.test(p.port));
          const ports = rule.ports?.length ? (plain.length ? this.portMatches(plain, undefined) : []) : [""];
          for (const port of ports) rules.push([peer.match, port, "return"].filter(Boolean).join(" "));
          // A named port means a different number on each destination pod: ip . port pairs.
          for (const p of named) if (peer.pods && PROTOCOLS.has(proto(p))) rules.push(`meta l4proto ${proto(p)} ip daddr . th dport @${this.namedPortSet(peer.pods, String(p.port), p.protocol ?? "TCP")} return`);
        }
    return [...rules, REJECT];
  }
}

/** The desired table for the pods of nodeName. */
export function renderPolicies(table: string, nodeName: string, state: PolicyState): PolicyRuleset {
  const pods = addressed(state.pods);
  const b = new Builder(state, pods);
  const ingressPods: string[] = [];
  const egressPods: string[] = [];
  const local = pods.filter((p) => p.spec?.nodeName === nodeName).sort((x, y) => compareStrings(podKey(x), podKey(y)));
  for (const pod of local) {
    const ns = pod.metadata.namespace ?? "default";
    const mine = state.policies.filter((np) => (np.metadata.namespace ?? "default") === ns && selects(np.spec?.podSelector, pod.metadata.labels));
    const id = hash(podKey(pod));
    const ip = pod.status!.podIP!;
    const ingress = mine.filter((np) => policyTypes(np).has("Ingress"));
    if (ingress.length) {
      b.chains.push([`ingress-${id}`, b.ingressChain(pod, ingress)]);
      ingressPods.push(`${ip} : jump ingress-${id}`);
    }
    const egress = mine.filter((np) => policyTypes(np).has("Egress"));
    if (egress.length) {
      b.chains.push([`egress-${id}`, b.egressChain(egress)]);
      egressPods.push(`${ip} : jump egress-${id}`);
    }
  }
  const elements = (list: string[]) => (list.length ? ` elements = { ${list.join(", ")} };` : "");
  const structure = [
    `table ip ${table} {`,
    ...[...b.sets].map(([name, s]) => `  set ${name} { type ${s.type}; }`),
    ...b.chains.flatMap(([name, rules]) => [`  chain ${name} {`, ...rules.map((r) => `    ${r}`), "  }"]),
    `  map ingress-pods { type ipv4_addr : verdict;${elements(ingressPods)} }`,
    `  map egress-pods { type ipv4_addr : verdict;${elements(egressPods)} }`,
    "  chain forward {",
    "    type filter hook forward priority 0; policy accept;",
    "    ct state established,related accept",
    "    ip saddr vmap @egress-pods",
    "    ip daddr vmap @ingress-pods",
    "  }",
    "}",
  ];
  return { structure, sets: b.sets };
}

/**
 * The script from one ruleset to the next: elements only when the structure is the same,
 * else the table replaced whole. Either way one `nft -f` transaction.
 */
export function policyScript(table: string, from: PolicyRuleset | undefined, to: PolicyRuleset): string[] {
  const same = from && from.structure.length === to.structure.length && from.structure.every((l, i) => l === to.structure[i]);
  if (!same) {
    const fill = [...to.sets].filter(([, s]) => s.elements.length).map(([name, s]) => `add element ip ${table} ${name} { ${s.elements.join(", ")} }`);
    return [`add table ip ${table}`, `delete table ip ${table}`, ...to.structure, ...fill];
  }
  const out: string[] = [];
  for (const [name, s] of to.sets) {
    const before = new Set(from.sets.get(name)?.elements ?? []);
    const after = new Set(s.elements);
    const gone = [...before].filter((e) => !after.has(e));
    const added = [...after].filter((e) => !before.has(e));
    if (gone.length) out.push(`delete element ip ${table} ${name} { ${gone.join(", ")} }`);
    if (added.length) out.push(`add element ip ${table} ${name} { ${added.join(", ")} }`);
  }
  return out;
}

