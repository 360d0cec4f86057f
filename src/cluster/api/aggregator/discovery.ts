// Discovery of aggregated groups: the extension servers' resource lists merged into this
// server's /apis, /apis/GROUP and aggregated (v2) documents, as kube-aggregator merges them.
// A backend's legacy APIResourceList is turned into the v2 shape (subresources nested under
// their resource), which kubectl 1.32 reads.
import type { Backend } from "./aggregator.ts";

type Resource = { name: string; singularName?: string; namespaced?: boolean; kind?: string; verbs?: string[]; shortNames?: string[]; categories?: string[]; group?: string; version?: string };

/** Aggregated groups with their versions, best version first. */
function byGroup(backends: Backend[]): Map<string, Backend[]> {
  const groups = new Map<string, Backend[]>();
  for (const b of backends) groups.set(b.group, [...(groups.get(b.group) ?? []), b]);
  return groups;
}

const versionEntry = (b: Backend) => ({ groupVersion: `${b.group}/${b.version}`, version: b.version });

/** APIGroup documents of the aggregated groups that LOCAL does not already serve. */
export function aggregatedApiGroups(backends: Backend[], local: Set<string>) {
  return [...byGroup(backends)].filter(([g]) => !local.has(g)).map(([name, bs]) => ({ name, versions: bs.map(versionEntry), preferredVersion: versionEntry(bs[0]!) }));
}

function v2Resource(r: Resource, all: Resource[], b: Backend) {
  const subresources = all
    .filter((s) => s.name.startsWith(`${r.name}/`))
    .map((s) => ({ subresource: s.name.slice(r.name.length + 1), responseKind: { group: s.group ?? b.group, version: s.version ?? b.version, kind: s.kind ?? "" }, verbs: s.verbs ?? [] }));
  return {
    resource: r.name,
    responseKind: { group: b.group, version: b.version, kind: r.kind ?? "" },
    scope: r.namespaced ? "Namespaced" : "Cluster",
    singularResource: r.singularName || r.name,
    verbs: r.verbs ?? [],
    ...(r.shortNames?.length ? { shortNames: r.shortNames } : {}),
    ...(r.categories?.length ? { categories: r.categories } : {}),
    ...(subresources.length ? { subresources } : {}),
  };
}

/** APIGroupDiscovery items (aggregated discovery v2) of the aggregated groups LOCAL does not serve. */
export function aggregatedDiscoveryItems(backends: Backend[], local: Set<string>) {
  return [...byGroup(backends)]
    .filter(([g]) => !local.has(g))
    .map(([name, bs]) => ({
      metadata: { name, creationTimestamp: null },
      versions: bs.map((b) => {
        const all = (b.resources?.resources ?? []) as Resource[];
        return { version: b.version, freshness: "Current", resources: all.filter((r) => !r.name.includes("/")).map((r) => v2Resource(r, all, b)) };
      }),
    }));
}
