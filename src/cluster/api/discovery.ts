// Discovery documents: /api, /apis (plain and aggregated v2), /api/v1 and /apis/<g>/<v>
// resource lists. Derived from the resource table so they cannot drift from routing.
import { apiVersionOf, groupVersions as groupVersionsOf, METRICS_RESOURCE_TYPES, resourceTypes as storedTypes, REVIEW_RESOURCE_TYPES, verbsOf, type ResourceType } from "./resources.ts";

/** What discovery lists: the stored kinds, then the metrics API and the reviews (served without storage). */
const resourceTypes = [...storedTypes, ...METRICS_RESOURCE_TYPES, ...REVIEW_RESOURCE_TYPES];
const groupVersions = () => groupVersionsOf(resourceTypes);

export const AGGREGATED_V2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";
export const AGGREGATED_V2BETA1 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList";

export function wantsAggregated(accept: string | undefined): string | undefined {
  if (!accept) return undefined;
  for (const part of accept.split(",")) {
    const p = part.replace(/\s+/g, "");
    if (p.includes("as=APIGroupDiscoveryList") && p.includes("g=apidiscovery.k8s.io")) {
      if (p.includes("v=v2beta1")) return AGGREGATED_V2BETA1;
      if (p.includes("v=v2")) return AGGREGATED_V2;
    }
  }
  return undefined;
}

function subresourcesOf(rt: ResourceType) {
  const subs: { subresource: string; responseKind: { group: string; version: string; kind: string }; verbs: string[] }[] = [];
  if (rt.status) subs.push({ subresource: "status", responseKind: { group: rt.group, version: rt.version, kind: rt.kind }, verbs: ["get", "patch", "update"] });
  if (rt.scale) subs.push({ subresource: "scale", responseKind: { group: "autoscaling", version: "v1", kind: "Scale" }, verbs: ["get", "patch", "update"] });
  for (const a of rt.actions ?? []) subs.push({ subresource: a.name, responseKind: { group: a.group ?? "", version: a.version ?? "v1", kind: a.kind }, verbs: a.verbs });
  return subs;
}

function discoveryResource(rt: ResourceType) {
  return {
    resource: rt.plural,
    responseKind: { group: rt.group, version: rt.version, kind: rt.kind },
    scope: rt.namespaced ? "Namespaced" : "Cluster",
    singularResource: rt.singular,
    verbs: verbsOf(rt),
    ...(rt.shortNames ? { shortNames: rt.shortNames } : {}),
    ...(rt.categories ? { categories: rt.categories } : {}),
    ...(subresourcesOf(rt).length ? { subresources: subresourcesOf(rt) } : {}),
  };
}

/** Aggregated discovery for the core group (/api) or all named groups (/apis); a group's versions in table order (the preferred first). */
export function aggregatedDiscovery(core: boolean, apiVersion: string) {
  const byGroup = new Map<string, Map<string, ResourceType[]>>();
  for (const rt of resourceTypes) {
    if ((rt.group === "") !== core) continue;
    const versions = byGroup.get(rt.group) ?? new Map<string, ResourceType[]>();
    versions.set(rt.version, [...(versions.get(rt.version) ?? []), rt]);
    byGroup.set(rt.group, versions);
  }
  return {
    kind: "APIGroupDiscoveryList",
    apiVersion,
    metadata: {},
    items: [...byGroup.entries()].map(([group, versions]) => ({
      metadata: { name: group, creationTimestamp: null },
      versions: [...versions.entries()].map(([version, rts]) => ({ version, freshness: "Current", resources: rts.map(discoveryResource) })),
    })),
  };
}

export function apiVersions(serverAddress: string) {
  return { kind: "APIVersions", versions: ["v1"], serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress }] };
}

/** Each named group with its versions; the preferred one is the first in the table (the stored one). */
function apiGroups() {
  const groups = new Map<string, { groupVersion: string; version: string }[]>();
  for (const gv of groupVersions()) {
    if (gv.group === "") continue;
    groups.set(gv.group, [...(groups.get(gv.group) ?? []), { groupVersion: `${gv.group}/${gv.version}`, version: gv.version }]);
  }
  return [...groups.entries()].map(([name, versions]) => ({ name, versions, preferredVersion: versions[0]! }));
}

export function apiGroupList() {
  return { kind: "APIGroupList", apiVersion: "v1", groups: apiGroups() };
}

export function apiGroup(group: string) {
  const g = apiGroups().find((x) => x.name === group);
  return g ? { kind: "APIGroup", apiVersion: "v1", ...g } : undefined;
}

export function apiResourceList(group: string, version: string) {
  const rts = resourceTypes.filter((r) => r.group === group && r.version === version);
  if (rts.length === 0) return undefined;
  const resources: Record<string, unknown>[] = [];
  for (const rt of rts) {
    resources.push({
      name: rt.plural,
      singularName: rt.singular,
      namespaced: rt.namespaced,
      kind: rt.kind,
      verbs: verbsOf(rt),
      ...(rt.shortNames ? { shortNames: rt.shortNames } : {}),
      ...(rt.categories ? { categories: rt.categories } : {}),
    });
    if (rt.status) resources.push({ name: `${rt.plural}/status`, singularName: "", namespaced: rt.namespaced, kind: rt.kind, verbs: ["get", "patch", "update"] });
    if (rt.scale) resources.push({ name: `${rt.plural}/scale`, singularName: "", namespaced: rt.namespaced, group: "autoscaling", version: "v1", kind: "Scale", verbs: ["get", "patch", "update"] });
    // kubectl drain looks here for pods/eviction with a group and version to POST an Eviction.
    for (const a of rt.actions ?? []) {
      resources.push({ name: `${rt.plural}/${a.name}`, singularName: "", namespaced: rt.namespaced, ...(a.group !== undefined ? { group: a.group, version: a.version } : {}), kind: a.kind, verbs: a.verbs });
    }
  }
  return { kind: "APIResourceList", apiVersion: "v1", groupVersion: apiVersionOf(rts[0]!), resources };
}
