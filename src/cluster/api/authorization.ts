// What a user may do. The admin (system:masters) may do everything; a node identity gets
// what Kubernetes' Node authorizer, its system:node role and the NodeRestriction admission
// plugin together give a kubelet, cut down to what Gantry's node agent needs:
//
//   read (get/list/watch)   nodes pods services endpoints endpointslices configmaps secrets
//                           persistentvolumeclaims persistentvolumes namespaces networkpolicies
//                           (and their status), except node-token Secrets
//   its own Node            create (name checked on the body), update/patch, status update/patch
//   its own Lease           get/create/update in kube-node-lease
//   pods bound to it        update/patch status, delete (spec.nodeName == NAME)
//   events                  create/patch
//   serviceaccounts/token   create, bound to a pod on the node (checked by the TokenRequest handler)
//   local PersistentVolumes  create and delete those pinned to it alone by node affinity
//                           (kubernetes.io/hostname In [NAME]): the agent is its node's
//                           local-path provisioner (Gantry's choice; a kubelet cannot)
//
// authorize() is pure: it answers from the request's attributes alone, and hands back the
// checks that need an object (the stored one, or the one being created) for enforceAccess()
// and the create handler to run, as the NodeRestriction admission plugin does in Kubernetes.
//
// What it refuses goes on to RBAC (rbac-authorizer.ts), as kube-apiserver's
// --authorization-mode=Node,RBAC chains them: RequestAuthorizer is the chain. Writes of
// roles and bindings by users who are not admins are also checked for escalation there.
import type { UserInfo } from "./authentication.ts";
import type { ResourceRequest } from "./handlers.ts";
import { NODE_TOKEN_TYPE } from "./node-tokens.ts";
import { getPath, isPlainObject, type KubeObject } from "./objects.ts";
import { boolParam } from "./query-params.ts";
import { RbacAuthorizer } from "./rbac-authorizer.ts";
import type { RbacSource } from "./rbac-cache.ts";
import { RBAC_GROUP, roleRefOf, rulesOf, type ResourceAttributes } from "./rbac-rules.ts";
import type { ObjectRegistry } from "./registry.ts";
import { findResource } from "./resources.ts";
import { errForbidden, errNotFound } from "./status.ts";

export type { ResourceAttributes };

/** A condition on an object, with the reason given when it fails. */
export interface ObjectCheck {
  allows(o: KubeObject): boolean;
  reason: string;
}

/** What an allowed request is still subject to. */
export interface Grant {
  /** The stored object the request acts on must pass (a missing object is left to the handler's 404). */
  stored?: ObjectCheck;
  /** An object being created must pass (its name is only known from the body). */
  created?: ObjectCheck;
  /** Lists and watches see only the objects matching this field selector. */
  fieldSelector?: string;
}

export type Decision = { allowed: true; grant: Grant } | { allowed: false; reason: string };

export const NODE_LEASE_NAMESPACE = "kube-node-lease";

/** The kinds a node may read, by resource, with their API group. */
const NODE_READABLE: Record<string, string> = {
  nodes: "",
  pods: "",
  services: "",
  endpoints: "",
  configmaps: "",
  secrets: "",
  persistentvolumeclaims: "",
  persistentvolumes: "",
  namespaces: "",
  endpointslices: "discovery.k8s.io",
  networkpolicies: "networking.k8s.io",
  storageclasses: "storage.k8s.io",
};

/** Whether a PersistentVolume's node affinity pins it to exactly this node (a local volume of the node). */
export function pinnedToNode(o: KubeObject, node: string): boolean {
  const terms = getPath(o, ["spec", "nodeAffinity", "required", "nodeSelectorTerms"]);
  if (!Array.isArray(terms) || terms.length !== 1 || !isPlainObject(terms[0])) return false;
  const exprs = terms[0].matchExpressions;
  if (!Array.isArray(exprs) || exprs.length !== 1 || !isPlainObject(exprs[0])) return false;
  const e = exprs[0];
  return e.key === "kubernetes.io/hostname" && e.operator === "In" && Array.isArray(e.values) && e.values.length === 1 && e.values[0] === node;
}

const READ_VERBS = new Set(["get", "list", "watch"]);

const allow = (grant: Grant = {}): Decision => ({ allowed: true, grant });
const deny = (reason = ""): Decision => ({ allowed: false, reason });
const nodeNameOf = (o: KubeObject) => (isPlainObject(o.spec) ? o.spec.nodeName : undefined);

export const isAdmin = (user: UserInfo) => user.groups.includes("system:masters");

export function authorize(user: UserInfo, a: ResourceAttributes): Decision {
  if (isAdmin(user)) return allow();
  if (user.node !== undefined) return authorizeNode(user.node, a);
  return deny();
}

function authorizeNode(node: string, a: ResourceAttributes): Decision {
  const sub = a.subresource ?? "";
  const core = a.group === "";
  if (READ_VERBS.has(a.verb) && NODE_READABLE[a.resource] === a.group && (sub === "" || sub === "status")) {
    if (a.resource !== "secrets") return allow();
    // Token Secrets hold other nodes' token hashes: hidden from lists, refused to gets.
    return allow({ stored: { allows: (o) => o.type !== NODE_TOKEN_TYPE, reason: `node "${node}" may not read node token secrets` }, fieldSelector: `type!=${NODE_TOKEN_TYPE}` });
  }
  if (core && a.resource === "nodes" && (sub === "" || sub === "status")) {
    const ownNode = `node "${node}" is not allowed to modify node "${a.name ?? ""}"`;
    if (a.verb === "create" && sub === "") return allow({ created: { allows: (o) => o.metadata.name === node, reason: `node "${node}" may only create its own Node object` } });
    if (a.verb === "update" || a.verb === "patch") return a.name === node ? allow() : deny(ownNode);
    return deny();
  }
  if (a.group === "coordination.k8s.io" && a.resource === "leases" && sub === "") {
    if (a.namespace !== NODE_LEASE_NAMESPACE) return deny(`nodes may only use leases in the ${NODE_LEASE_NAMESPACE} namespace`);
    if (a.verb === "create") return allow({ created: { allows: (o) => o.metadata.name === node, reason: `node "${node}" may only create its own Lease` } });
    if (a.verb === "get" || a.verb === "update") return a.name === node ? allow() : deny(`node "${node}" may only use its own Lease`);
    return deny();
  }
  if (core && a.resource === "pods") {
    if (sub === "status" && (a.verb === "update" || a.verb === "patch")) {
      return allow({ stored: { allows: (o) => nodeNameOf(o) === node, reason: `node "${node}" can only update pod status for pods with spec.nodeName set to itself` } });
    }
    if (sub === "" && a.verb === "delete") {
      return allow({ stored: { allows: (o) => nodeNameOf(o) === node, reason: `node "${node}" can only delete pods with spec.nodeName set to itself` } });
    }
    return deny();
  }
  if (core && a.resource === "events" && sub === "" && (a.verb === "create" || a.verb === "patch")) return allow();
  if (core && a.resource === "serviceaccounts" && sub === "token" && a.verb === "create") return allow();
  if (core && a.resource === "persistentvolumes" && sub === "") {
    const reason = `node "${node}" may only create and delete persistent volumes pinned to itself`;
    if (a.verb === "create") return allow({ created: { allows: (o) => pinnedToNode(o, node), reason } });
    if (a.verb === "delete") return allow({ stored: { allows: (o) => pinnedToNode(o, node), reason } });
    return deny();
  }
  return deny();
}

/** The request's verb, as Kubernetes derives it from the method and path. */
export function requestVerb(method: string, r: Pick<ResourceRequest, "name" | "url">): string {
  const watch = boolParam(r.url.searchParams, "watch") === true;
  switch (method) {
    case "GET":
    case "HEAD":
      return watch ? "watch" : r.name === undefined ? "list" : "get";
    case "POST":
      return "create";
    case "PUT":
      return "update";
    case "PATCH":
      return "patch";
    case "DELETE":
      return r.name === undefined ? "deletecollection" : "delete";
    default:
      return method.toLowerCase();
  }
}

export const attributesOf = (r: ResourceRequest, verb: string): ResourceAttributes => ({
  verb,
  group: r.rt.group,
  resource: r.rt.plural,
  subresource: r.subresource,
  namespace: r.namespace,
  name: r.name,
});

/** Kubernetes' 403 for a request the authorizer refused (apiserver responsewriters.forbiddenMessage). */
export function errRequestForbidden(user: UserInfo, a: ResourceAttributes, reason: string) {
  const resource = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  const scope = a.namespace ? `in the namespace "${a.namespace}"` : "at the cluster scope";
  const why = `User "${user.username}" cannot ${a.verb} resource "${resource}" in API group "${a.group}" ${scope}${reason ? `: ${reason}` : ""}`;
  return errObjectForbidden(a, why);
}

/** Kubernetes' 403 for a refused request on a path that is no resource. */
export const errPathForbidden = (user: UserInfo, verb: string, path: string) => errForbidden(`forbidden: User "${user.username}" cannot ${verb} path "${path}"`);

/** A 403 for a request refused because of the object it touches (an admission plugin's answer). */
export function errObjectForbidden(a: Pick<ResourceAttributes, "group" | "resource" | "name">, why: string) {
  const qualified = a.group ? `${a.resource}.${a.group}` : a.resource;
  const subject = a.name ? `${qualified} "${a.name}"` : qualified;
  return errForbidden(`${subject} is forbidden: ${why}`, { name: a.name, group: a.group || undefined, kind: a.resource });
}

/** The authorizers every request passes through: Node (authorize() above), then RBAC. */
export class RequestAuthorizer {
  readonly rbac: RbacAuthorizer;

  /** With CACHE (rbac-cache.ts), RBAC answers from memory, asking the store only before a no. */
  constructor(
    readonly registry: ObjectRegistry,
    cache?: RbacSource,
  ) {
    this.rbac = new RbacAuthorizer(registry, cache);
  }

  async authorize(user: UserInfo, a: ResourceAttributes): Promise<Decision> {
    const decision = authorize(user, a);
    if (decision.allowed) return decision;
    return (await this.rbac.allows(user, a)) ? allow() : decision;
  }

  /** A request for a path that is no resource (kube's "User x cannot get path /y"). */
  async authorizeNonResource(user: UserInfo, verb: string, path: string): Promise<boolean> {
    return isAdmin(user) || (await this.rbac.allowsNonResource(user, verb, path));
  }

  /**
   * Lets the request through or throws 403: asks the authorizers, then runs the checks they
   * returned that need the stored object, narrows lists by the grant's field selector and
   * leaves the checks on a written object to the write (r.admit, r.admitWrite).
   */
  async enforce(user: UserInfo, r: ResourceRequest, method: string): Promise<void> {
    const a = attributesOf(r, requestVerb(method, r));
    const decision = await this.authorize(user, a);
    if (!decision.allowed) throw errRequestForbidden(user, a, decision.reason);
    const { stored, created, fieldSelector } = decision.grant;
    if (stored && r.name !== undefined) {
      const cur = await this.registry.tryGet(r.rt, r.namespace, r.name);
      if (cur && !stored.allows(cur)) throw errObjectForbidden(a, stored.reason);
    }
    if (fieldSelector) {
      const asked = r.url.searchParams.get("fieldSelector");
      r.url.searchParams.set("fieldSelector", asked ? `${asked},${fieldSelector}` : fieldSelector);
    }
    if (created) {
      r.admit = (o) => {
        if (!created.allows(o)) throw errObjectForbidden({ ...a, name: o.metadata.name }, created.reason);
      };
    }
    if (r.rt.group === RBAC_GROUP && !isAdmin(user) && ["create", "update", "patch"].includes(a.verb)) r.admitWrite = (next, old) => this.confirmNoEscalation(user, r.rt.plural, next, old);
  }

  /**
   * Escalation prevention (pkg/registry/rbac): a role may only grant what its writer holds,
   * unless the writer may `escalate` it; a binding only what the role it names grants, unless
   * the writer holds it or may `bind` that role.
   */
  private async confirmNoEscalation(user: UserInfo, plural: string, next: KubeObject, old: KubeObject | undefined): Promise<void> {
    const namespace = next.metadata.namespace;
    const name = next.metadata.name ?? "";
    if (plural === "roles" || plural === "clusterroles") {
      if (old && JSON.stringify(old.rules ?? []) === JSON.stringify(next.rules ?? []) && JSON.stringify(old.aggregationRule) === JSON.stringify(next.aggregationRule)) return;
      if ((await this.authorize(user, { verb: "escalate", group: RBAC_GROUP, resource: plural, namespace, name })).allowed) return;
      await this.rbac.confirmNoEscalation(user, plural, next, namespace, rulesOf(next));
      // An aggregation rule can gather anything, so it takes everything to write one.
      if (next.aggregationRule !== undefined && next.aggregationRule !== null) {
        const all = [{ apiGroups: ["*"], resources: ["*"], verbs: ["*"] }, { nonResourceURLs: ["*"], verbs: ["*"] }];
        await this.rbac.confirmNoEscalation(user, plural, next, undefined, all).catch(() => {
          throw errForbidden(`${plural}.${RBAC_GROUP} "${name}" is forbidden: must have cluster-admin privileges to use the aggregationRule`, { name, group: RBAC_GROUP, kind: plural });
        });
      }
      return;
    }
    const ref = roleRefOf(next);
    if (!ref) return;
    const roleResource = ref.kind === "ClusterRole" ? "clusterroles" : "roles";
    if ((await this.authorize(user, { verb: "bind", group: RBAC_GROUP, resource: roleResource, namespace, name: ref.name })).allowed) return;
    const roleType = findResource(RBAC_GROUP, "v1", roleResource)!;
    const role = await this.registry.tryGet(roleType, roleType.namespaced ? namespace : undefined, ref.name);
    if (!role) throw errNotFound(roleResource, RBAC_GROUP, ref.name);
    await this.rbac.confirmNoEscalation(user, plural, next, namespace, rulesOf(role));
  }
}
