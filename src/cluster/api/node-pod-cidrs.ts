// Node podCIDRs, as kube-controller-manager's node IPAM (range allocator) hands them out with
// --allocate-node-cidrs: a /24 per node from the cluster CIDR, written to spec.podCIDR and
// spec.podCIDRs. Gantry assigns it when the Node is written rather than in a controller, so a
// registering agent gets its range in the create's answer and can set up its pod bridge before
// the first pod; each range is claimed by creating its own store key (ranges.ts), as ClusterIPs
// are, so two API servers never hand one out twice. The lowest free range is taken, so a
// one-node `gantry server` keeps 10.42.0.0/24, the agent's bridge subnet from before.
//
// As Kubernetes does: a node that asks for a range (spec.podCIDR in its create) gets it if it is
// free; a full cluster CIDR leaves the node without one (it still registers); a range never
// changes once set.
import { isPlainObject, type KubeObject } from "./objects.ts";
import { ApiError, type StatusCause } from "./status.ts";
import type { Allocator } from "./strategies/types.ts";

export const CLUSTER_CIDR = "10.42.0.0/16";
const PREFIX = "podcidrs/";
/** /24s of 10.42.0.0/16: the third octet. */
const RANGES = 256;

type R = Record<string, unknown>;

const cidrOf = (n: number) => `10.42.${n}.0/24`;
const keyOf = (n: number) => `${PREFIX}10.42.${n}.0`;

/** The index of a /24 of the cluster CIDR, or undefined for any other range. */
function indexOf(cidr: string): number | undefined {
  const m = /^10\.42\.(\d{1,3})\.0\/24$/.exec(cidr);
  const n = m ? Number(m[1]) : NaN;
  return n >= 0 && n < RANGES ? n : undefined;
}

/** An IPv4 CIDR with its host bits clear (what net.ParseCIDR and the allocator accept). */
export function isIPv4Cidr(text: string): boolean {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(text);
  if (!m) return false;
  const octets = m.slice(1, 5).map(Number);
  const bits = Number(m[5]);
  if (octets.some((o) => o > 255) || bits > 32) return false;
  const addr = octets.reduce((a, o) => a * 256 + o, 0);
  const hostSize = 2 ** (32 - bits);
  return addr % hostSize === 0;
}

function invalid(node: KubeObject, value: string, why: string): ApiError {
  const message = `Invalid value: ${JSON.stringify(value)}: ${why}`;
  const cause: StatusCause = { reason: "FieldValueInvalid", message, field: "spec.podCIDRs" };
  return new ApiError("INVALID_SPEC", 422, "Invalid", `Node "${node.metadata.name}" is invalid: spec.podCIDRs: ${message}`, { name: node.metadata.name, kind: "Node", causes: [cause] });
}

const specOf = (o: KubeObject): R => (isPlainObject(o.spec) ? (o.spec as R) : {});
const podCidrOf = (o: KubeObject): string | undefined => {
  const s = specOf(o);
  const v = typeof s.podCIDR === "string" && s.podCIDR ? s.podCIDR : Array.isArray(s.podCIDRs) && typeof s.podCIDRs[0] === "string" ? s.podCIDRs[0] : undefined;
  return v || undefined;
};

export const nodePodCidrAllocator: Allocator = {
  async assign(node, old, claims) {
    const spec = (isPlainObject(node.spec) ? node.spec : (node.spec = {})) as R;
    const kept = old ? podCidrOf(old) : undefined;
    const asked = podCidrOf(node) ?? kept;
    if (asked) {
      const n = indexOf(asked);
      // A range outside the cluster CIDR is the user's to manage (no claim), as the allocator ignores it.
      if (n !== undefined && !(await claims.claim(keyOf(n)))) throw invalid(node, asked, "failed to allocate pod CIDR: it is already allocated to another node");
      spec.podCIDR = asked;
      spec.podCIDRs = [asked];
      return;
    }
    const taken = await claims.taken(PREFIX);
    for (let n = 0; n < RANGES; n++) {
      if (taken.has(keyOf(n))) continue;
      if (await claims.claim(keyOf(n))) {
        spec.podCIDR = cidrOf(n);
        spec.podCIDRs = [cidrOf(n)];
        return;
      }
    }
    // Full: the node registers without a range (Kubernetes records CIDRNotAvailable and retries).
  },
  held(node) {
    const cidr = podCidrOf(node);
    const n = cidr ? indexOf(cidr) : undefined;
    return n === undefined ? [] : [keyOf(n)];
  },
};
