// Which namespace the cluster's lists show. "All namespaces" is the cluster-wide list, which
// RBAC gives only to users bound by a ClusterRole; a user a RoleBinding lets into one
// namespace sees their namespace's objects through its namespaced list and watch paths
// (/api/v1/namespaces/NS/pods, as `kubectl -n NS get pods`). The choice is kept in
// sessionStorage with the token; on login, a SelfSubjectAccessReview says whether the
// cluster-wide list is allowed, and a namespace list (when RBAC lets the user read it) fills
// the picker; without one the user types the namespace.
import { createContext } from "preact";
import { useContext, useEffect, useState } from "preact/hooks";
import { api, ApiError, byName, useWatch } from "./api.ts";

const NAMESPACE_KEY = "gantry.dashboard.namespace";
/** "" is every namespace. */
export const ALL = "";

export const NamespaceContext = createContext<string>(ALL);

/** PATH (a cluster-wide list like /api/v1/pods or /apis/apps/v1/deployments) within NS. */
export function inNamespace(path: string, ns: string): string {
  if (ns === ALL) return path;
  const q = path.indexOf("?");
  const [base, query] = q < 0 ? [path, ""] : [path.slice(0, q), path.slice(q)];
  const cut = base.lastIndexOf("/");
  return `${base.slice(0, cut)}/namespaces/${encodeURIComponent(ns)}${base.slice(cut)}${query}`;
}

/** The live list at PATH, in the namespace the header's picker shows. */
export function useNamespacedWatch(path: string) {
  return useWatch(inNamespace(path, useContext(NamespaceContext)));
}

/** Whether the API lets this user list pods in every namespace. */
async function mayListEverywhere(): Promise<boolean> {
  const review = await api<{ status?: { allowed?: boolean } }>(
    "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
    {
      method: "POST",
      body: {
        apiVersion: "authorization.k8s.io/v1",
        kind: "SelfSubjectAccessReview",
        spec: { resourceAttributes: { verb: "list", resource: "pods" } },
      },
    },
  );
  return review.status?.allowed === true;
}

/** The chosen namespace and its setter, remembered for the tab. */
export function useNamespaceChoice(): [string, (ns: string) => void] {
  const [ns, setNs] = useState(() => sessionStorage.getItem(NAMESPACE_KEY) ?? ALL);
  const choose = (next: string) => {
    sessionStorage.setItem(NAMESPACE_KEY, next);
    setNs(next);
  };
  return [ns, choose];
}

export function forgetNamespace(): void {
  sessionStorage.removeItem(NAMESPACE_KEY);
}

/** The header's picker: a select of the namespaces the user may list, else a text field. */
export function NamespacePicker({ value, onChange }: { value: string; onChange: (ns: string) => void }) {
  const [everywhere, setEverywhere] = useState<boolean>();
  const namespaces = useWatch("/api/v1/namespaces");
  const [typed, setTyped] = useState(value);
  useEffect(() => {
    mayListEverywhere().then(setEverywhere, () => setEverywhere(false));
  }, []);
  const readable = namespaces.loaded && !namespaces.error;
  if (!readable) {
    // no namespace list for this user: the namespace is typed (what a RoleBinding names)
    return (
      <form
        class="namespace"
        onSubmit={(e) => {
          e.preventDefault();
          onChange(typed.trim());
        }}
      >
        <input
          aria-label="Namespace"
          placeholder={everywhere ? "All namespaces" : "namespace"}
          value={typed}
          onInput={(e) => setTyped((e.target as HTMLInputElement).value)}
        />
        <button type="submit">Show</button>
      </form>
    );
  }
  const names = namespaces.items.sort(byName).map((n) => n.metadata.name);
  if (value !== ALL && !names.includes(value)) names.push(value);
  return (
    <select
      class="namespace"
      aria-label="Namespace"
      value={value}
      onChange={(e) => onChange((e.target as HTMLSelectElement).value)}
    >
      <option value={ALL} disabled={everywhere === false}>
        All namespaces
      </option>
      {names.map((n) => (
        <option value={n}>{n}</option>
      ))}
    </select>
  );
}

/** Under a refused cluster-wide list: what to do about it. */
export function NamespaceHint({ error }: { error?: Error }) {
  const ns = useContext(NamespaceContext);
  if (!(error instanceof ApiError) || error.status !== 403 || ns !== ALL) return null;
  return (
    <p class="hint" role="note">
      Listing every namespace is not allowed for you: choose your namespace with the Namespace picker above.
    </p>
  );
}
