// Cluster DNS answers as CoreDNS's kubernetes plugin gives them (plugin/kubernetes), pure:
// a question and a view of the cluster in, the response's sections out.
//
//   <svc>.<ns>.svc.<domain>                  A: the ClusterIP (also with no endpoints); headless:
//                                            each ready endpoint; ExternalName: a CNAME
//   <host|1-2-3-4>.<svc>.<ns>.svc.<domain>   A: that endpoint of a headless Service
//   _<port>._<proto>.<svc>.<ns>.svc.<domain> SRV: priority 0, weight ⌊100/n⌋, the target's A in additionals
//   1-2-3-4.<ns>.pod.<domain>                A: 1.2.3.4 (`pods insecure`, k3s's Corefile)
//   d.c.b.a.in-addr.arpa                     PTR: a Service's or an endpoint's name; otherwise forwarded
//
// NXDOMAIN: no such namespace or Service, a headless Service without ready endpoints, a label
// other than svc/pod. NODATA (NOERROR with the zone's SOA, minimum = TTL): the name exists with
// other types (AAAA of an IPv4 Service), `<ns>.svc.<domain>`, `svc.<domain>`, the domain itself.
import type { Answer } from "dns-packet";
import type { EndpointSlice, Service } from "./_types.ts";

export interface ClusterView {
  service(namespace: string, name: string): Service | undefined;
  /** The Service's EndpointSlices. */
  slices(namespace: string, name: string): EndpointSlice[];
  hasNamespace(namespace: string): boolean;
  services(): Iterable<Service>;
}

export interface DnsSettings {
  domain: string;
  ttl: number;
}

export interface Question {
  name: string;
  type: string;
}

export type Resolution = { forward: true } | { forward: false; rcode: "NOERROR" | "NXDOMAIN"; answers: Answer[]; authorities: Answer[]; additionals: Answer[] };

const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;
const dashed = (ip: string) => ip.replace(/\./g, "-");

interface Endpoint {
  ip: string;
  hostname?: string;
  ports: Map<string, { port: number; protocol: string }>;
}

/** Ready endpoints (unset ready counts as ready), deduplicated by address. */
function readyEndpoints(slices: EndpointSlice[]): Endpoint[] {
  const byIP = new Map<string, Endpoint>();
  for (const s of slices) {
    if (s.addressType && s.addressType !== "IPv4") continue;
    for (const e of s.endpoints ?? []) {
      const ip = e.addresses[0];
      if (!ip || e.conditions?.ready === false) continue;
      const ep = byIP.get(ip) ?? { ip, ...(e.hostname ? { hostname: e.hostname } : {}), ports: new Map() };
      for (const p of s.ports ?? []) if (p.port) ep.ports.set(`${p.name ?? ""}/${(p.protocol ?? "TCP").toLowerCase()}`, { port: p.port, protocol: p.protocol ?? "TCP" });
      byIP.set(ip, ep);
    }
  }
  return [...byIP.values()].sort((a, b) => (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : 0));
}

const isHeadless = (svc: Service) => svc.spec?.clusterIP === "None";
const endpointLabel = (e: Endpoint) => e.hostname ?? dashed(e.ip);

export function resolveQuestion(q: Question, view: ClusterView, s: DnsSettings): Resolution {
  const name = q.name.toLowerCase().replace(/\.$/, "");
  const domain = s.domain.toLowerCase();
  const a = (n: string, ip: string): Answer => ({ type: "A", name: n, ttl: s.ttl, class: "IN", data: ip });
  const soa: Answer = { type: "SOA", name: domain, ttl: s.ttl, class: "IN", data: { mname: `ns.dns.${domain}`, rname: `hostmaster.${domain}`, serial: 1, refresh: 7200, retry: 1800, expire: 86400, minimum: s.ttl } };
  const nxdomain = (): Resolution => ({ forward: false, rcode: "NXDOMAIN", answers: [], authorities: [soa], additionals: [] });
  const nodata = (): Resolution => ({ forward: false, rcode: "NOERROR", answers: [], authorities: [soa], additionals: [] });
  const found = (answers: Answer[], additionals: Answer[] = []): Resolution => (answers.length ? { forward: false, rcode: "NOERROR", answers, authorities: [], additionals } : nodata());
  /** Address records of a name: answered for A (and ANY), NODATA for other types. */
  const addresses = (n: string, ips: string[]): Resolution => (q.type === "A" || q.type === "ANY" ? found(ips.map((ip) => a(n, ip))) : nodata());

  if (name.endsWith(".in-addr.arpa")) return reverse(name, q, view, s);
  if (name !== domain && !name.endsWith(`.${domain}`)) return { forward: true };
  if (name === domain) return q.type === "SOA" ? found([soa]) : nodata();
  const labels = name.slice(0, -(domain.length + 1)).split(".");
  const kind = labels.at(-1);
  if (kind === "pod") {
    if (labels.length !== 3) return labels.length === 2 && view.hasNamespace(labels[0]!) ? nodata() : nxdomain();
    const ip = labels[0]!.replace(/-/g, ".");
    return IPV4.test(ip) ? addresses(name, [ip]) : nxdomain();
  }
  if (kind !== "svc") return nxdomain();
  if (labels.length === 1) return nodata();
  const ns = labels.at(-2)!;
  if (labels.length === 2) return view.hasNamespace(ns) ? nodata() : nxdomain();
  const svcName = labels.at(-3)!;
  const svc = view.service(ns, svcName);
  if (!svc) return nxdomain();
  const svcFqdn = `${svcName}.${ns}.svc.${domain}`;
  const rest = labels.slice(0, -3);

  if (rest.length === 0) {
    if (svc.spec?.type === "ExternalName" && svc.spec.externalName) return { forward: false, rcode: "NOERROR", answers: [{ type: "CNAME", name, ttl: s.ttl, class: "IN", data: svc.spec.externalName.replace(/\.$/, "") }], authorities: [], additionals: [] };
    if (q.type === "SRV") return srv(name, svc, svcFqdn, view.slices(ns, svcName), undefined, undefined, s, nodata);
    if (isHeadless(svc)) {
      const eps = readyEndpoints(view.slices(ns, svcName));
      return eps.length ? addresses(name, eps.map((e) => e.ip)) : nxdomain();
    }
    return svc.spec?.clusterIP ? addresses(name, [svc.spec.clusterIP]) : nxdomain();
  }
  if (rest.length === 1) {
    if (!isHeadless(svc)) return nxdomain();
    const ep = readyEndpoints(view.slices(ns, svcName)).find((e) => endpointLabel(e) === rest[0] || dashed(e.ip) === rest[0]);
    return ep ? addresses(name, [ep.ip]) : nxdomain();
  }
  if (rest.length === 2 && rest[0]!.startsWith("_") && rest[1]!.startsWith("_")) {
    const res = srv(name, svc, svcFqdn, view.slices(ns, svcName), rest[0]!.slice(1), rest[1]!.slice(1), s, nxdomain);
    if (res.forward || res.rcode === "NXDOMAIN") return res; // no such port: the name does not exist
    return q.type === "SRV" || q.type === "ANY" ? res : nodata();
  }
  return nxdomain();
}

/** SRV records of a Service's ports (all, or the one named with this protocol). */
function srv(name: string, svc: Service, svcFqdn: string, slices: EndpointSlice[], port: string | undefined, proto: string | undefined, s: DnsSettings, none: () => Resolution): Resolution {
  const answers: Answer[] = [];
  const additionals: Answer[] = [];
  const wanted = (p: { name?: string; protocol?: string }) => !!p.name && (port === undefined || (p.name === port && (p.protocol ?? "TCP").toLowerCase() === proto));
  if (isHeadless(svc)) {
    const eps = readyEndpoints(slices);
    const records: { target: string; port: number; ip: string }[] = [];
    for (const e of eps) {
      for (const [key, p] of e.ports) {
        const [pname] = key.split("/");
        if (wanted({ name: pname, protocol: p.protocol })) records.push({ target: `${endpointLabel(e)}.${svcFqdn}`, port: p.port, ip: e.ip });
      }
    }
    const weight = records.length ? Math.floor(100 / records.length) : 0;
    for (const r of records) {
      answers.push({ type: "SRV", name, ttl: s.ttl, class: "IN", data: { priority: 0, weight, port: r.port, target: r.target } });
      additionals.push({ type: "A", name: r.target, ttl: s.ttl, class: "IN", data: r.ip });
    }
  } else if (svc.spec?.clusterIP && svc.spec.clusterIP !== "None") {
    const ports = (svc.spec.ports ?? []).filter(wanted);
    const weight = ports.length ? Math.floor(100 / ports.length) : 0;
    for (const p of ports) answers.push({ type: "SRV", name, ttl: s.ttl, class: "IN", data: { priority: 0, weight, port: p.port, target: svcFqdn } });
    if (ports.length) additionals.push({ type: "A", name: svcFqdn, ttl: s.ttl, class: "IN", data: svc.spec.clusterIP });
  }
  return answers.length ? { forward: false, rcode: "NOERROR", answers, authorities: [], additionals } : none();
}

/** PTR for a Service's ClusterIP or an endpoint's address; anything else goes upstream (CoreDNS's fallthrough). */
function reverse(name: string, q: Question, view: ClusterView, s: DnsSettings): Resolution {
  const octets = name.slice(0, -".in-addr.arpa".length).split(".");
  if (octets.length !== 4) return { forward: true };
  const ip = octets.reverse().join(".");
  if (!IPV4.test(ip)) return { forward: true };
  const ptr = (target: string): Resolution =>
    q.type === "PTR" || q.type === "ANY"
      ? { forward: false, rcode: "NOERROR", answers: [{ type: "PTR", name, ttl: s.ttl, class: "IN", data: target }], authorities: [], additionals: [] }
      : { forward: false, rcode: "NOERROR", answers: [], authorities: [], additionals: [] };
  for (const svc of view.services()) {
    const ns = svc.metadata.namespace ?? "default";
    const fqdn = `${svc.metadata.name}.${ns}.svc.${s.domain}`;
    if (svc.spec?.clusterIP === ip) return ptr(fqdn);
    if (isHeadless(svc)) {
      const ep = readyEndpoints(view.slices(ns, svc.metadata.name ?? "")).find((e) => e.ip === ip);
      if (ep) return ptr(`${endpointLabel(ep)}.${fqdn}`);
    }
  }
  return { forward: true };
}
