// The dashboard app: a token login, then the cluster's views (nodes, workloads, services,
// events, a pod's containers) or, served by `gantry daemon`, one engine's containers.
// Routes are the URL's #fragment, so a view can be bookmarked and reloaded.
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import "uplot/dist/uPlot.min.css";
import "./style.css";
import { api, session } from "./api.ts";
import { closeStreams } from "./streams.ts";
import { ErrorNote } from "./widgets.tsx";
import { EventsView, NodesView, ServicesView, WorkloadsView } from "./cluster-views.tsx";
import { PodView } from "./pod-view.tsx";
import { forgetNamespace, NamespaceContext, NamespacePicker, useNamespaceChoice } from "./namespace.tsx";
import { ContainersView, EngineContainerView } from "./engine-views.tsx";

type Mode = "cluster" | "engine";

function useRoute(): string[] {
  const read = () => location.hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
  const [route, setRoute] = useState(read);
  useEffect(() => {
    const onChange = () => setRoute(read());
    addEventListener("hashchange", onChange);
    return () => removeEventListener("hashchange", onChange);
  }, []);
  return route;
}

/** Who the token is, as the API sees it: the login check and the name in the header. */
async function whoAmI(mode: Mode): Promise<string> {
  if (mode === "engine") {
    const v = await api<{ Version: string }>("/engine/version");
    return `engine ${v.Version}`;
  }
  const review = await api<{ status?: { userInfo?: { username?: string } } }>(
    "/apis/authentication.k8s.io/v1/selfsubjectreviews",
    {
      method: "POST",
      body: { apiVersion: "authentication.k8s.io/v1", kind: "SelfSubjectReview" },
    },
  );
  return review.status?.userInfo?.username ?? "(unnamed)";
}

function Login({ mode, onLogin }: { mode: Mode; onLogin: (user: string) => void }) {
  const [token, setToken] = useState("");
  const [error, setError] = useState<Error>();
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    session.login(token.trim());
    try {
      onLogin(await whoAmI(mode));
    } catch (err) {
      session.logout();
      setError(err as Error);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="login">
      <h1>Gantry</h1>
      <form onSubmit={submit}>
        <label for="token">
          {mode === "engine"
            ? "Dashboard token (the daemon's dashboard-token file)"
            : "Bearer token (a user's or service account's token)"}
        </label>
        <input
          id="token"
          name="token"
          type="password"
          autocomplete="off"
          required
          value={token}
          onInput={(e) => setToken((e.target as HTMLInputElement).value)}
        />
        <button type="submit" disabled={busy}>
          Log in
        </button>
      </form>
      <ErrorNote error={error} />
    </main>
  );
}

const CLUSTER_TABS = [
  ["nodes", "Nodes"],
  ["workloads", "Workloads"],
  ["services", "Services"],
  ["events", "Events"],
] as const;

function ClusterRoutes({ route }: { route: string[] }) {
  const [view, a, b] = route;
  if (view === "pods" && a && b) return <PodView namespace={a} name={b} />;
  if (view === "workloads") return <WorkloadsView />;
  if (view === "services") return <ServicesView />;
  if (view === "events") return <EventsView />;
  return <NodesView />;
}

function App() {
  const route = useRoute();
  const [mode, setMode] = useState<Mode>();
  const [user, setUser] = useState<string>();
  const [error, setError] = useState<Error>();
  const [namespace, setNamespace] = useNamespaceChoice();
  useEffect(() => {
    fetch("/dashboard/config")
      .then((r) => r.json() as Promise<{ mode: Mode }>)
      .then(({ mode }) => {
        setMode(mode);
        // a reload keeps the tab's session: check the token is still good
        if (session.token()) whoAmI(mode).then(setUser, () => session.logout());
      })
      .catch((err: Error) => setError(err));
  }, []);
  if (error) return <ErrorNote error={error} />;
  if (!mode) return <p>Loading…</p>;
  if (!user) return <Login mode={mode} onLogin={setUser} />;
  const tabs = mode === "cluster" ? CLUSTER_TABS : ([["containers", "Containers"]] as const);
  const current = route[0] ?? tabs[0][0];
  return (
    <>
      <header>
        <strong>Gantry</strong>
        <nav aria-label="Views">
          {tabs.map(([id, label]) => (
            <a href={`#/${id}`} aria-current={current === id ? "page" : undefined}>
              {label}
            </a>
          ))}
        </nav>
        {mode === "cluster" && <NamespacePicker value={namespace} onChange={setNamespace} />}
        <span class="user" aria-label="Signed in as">
          {user}
        </span>
        <button
          type="button"
          onClick={() => {
            session.logout();
            forgetNamespace();
            setNamespace("");
            closeStreams();
            setUser(undefined);
          }}
        >
          Log out
        </button>
      </header>
      <main>
        {mode === "cluster" ? (
          <NamespaceContext.Provider value={namespace}>
            <ClusterRoutes route={route} />
          </NamespaceContext.Provider>
        ) : route[0] === "containers" && route[1] ? (
          <EngineContainerView id={route[1]} />
        ) : (
          <ContainersView />
        )}
      </main>
    </>
  );
}

render(<App />, document.getElementById("app")!);
