// Every data request the app makes: through the dashboard to the real API, with the bearer
// token the user typed (kept in sessionStorage: gone with the tab). The API decides; its
// errors are shown as it words them.
import { useEffect, useState } from "preact/hooks";
import { ApiError, session } from "./session.ts";
import { streamLines } from "./streams.ts";

export { ApiError, session };

/** The API's own words: a Kubernetes Status's message, the engine's {message}, or the body. */
async function errorOf(res: Response): Promise<ApiError> {
  const text = await res.text();
  let message = text.trim() || res.statusText;
  try {
    const body = JSON.parse(text) as { message?: string; reason?: string };
    if (body.message) message = body.message;
  } catch {
    // not JSON: the text as it came
  }
  return new ApiError(res.status, `${res.status} ${message}`);
}

export interface RequestOptions {
  method?: string;
  body?: unknown;
  contentType?: string;
  signal?: AbortSignal;
}

export async function send(path: string, opts: RequestOptions = {}): Promise<Response> {
  const headers: Record<string, string> = { accept: "application/json" };
  const token = session.token();
  if (token) headers.authorization = `Bearer ${token}`;
  if (opts.body !== undefined) headers["content-type"] = opts.contentType ?? "application/json";
  const init = {
    method: opts.method ?? "GET",
    headers,
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    signal: opts.signal,
  };
  let res: Response;
  try {
    res = await fetch(path, init);
  } catch (err) {
    // Chromium fails requests in flight when the host's addresses change (ERR_NETWORK_CHANGED),
    // which a node does whenever a pod starts: one more try. Every request the app sends may
    // be repeated (GETs, merge patches, deletes).
    if (opts.signal?.aborted) throw err;
    await new Promise((r) => setTimeout(r, 300));
    res = await fetch(path, init);
  }
  if (!res.ok) throw await errorOf(res);
  return res;
}

export async function api<T>(path: string, opts: RequestOptions = {}): Promise<T> {
  const res = await send(path, opts);
  return (await res.json()) as T;
}

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid: string;
  resourceVersion?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: { kind: string; name: string; uid: string; controller?: boolean }[];
  creationTimestamp?: string;
  deletionTimestamp?: string;
}

export interface KObject {
  metadata: ObjectMeta;
  // the views read the fields of each kind they know
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  spec?: any;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  status?: any;
  [field: string]: unknown;
}

interface ObjectList {
  metadata: { resourceVersion: string };
  items: KObject[];
}

interface WatchEvent {
  type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
  object: KObject & { code?: number; message?: string };
}

/**
 * A live list: LIST, then WATCH from its resourceVersion (the reflector's loop in client-go).
 * A watch that ends is resumed from the last version seen; one the server says is too old
 * (410 Gone) starts over with a LIST. Returns the function that stops it.
 */
export function watchList(
  path: string,
  onItems: (items: KObject[]) => void,
  onError: (err: Error | undefined) => void,
): () => void {
  const abort = new AbortController();
  const sep = path.includes("?") ? "&" : "?";
  const byUid = new Map<string, KObject>();
  const publish = () => onItems([...byUid.values()]);
  void (async () => {
    let version: string | undefined;
    while (!abort.signal.aborted) {
      try {
        if (version === undefined) {
          const list = await api<ObjectList>(path, { signal: abort.signal });
          byUid.clear();
          for (const item of list.items) byUid.set(item.metadata.uid, item);
          version = list.metadata.resourceVersion;
          publish();
          onError(undefined);
        }
        await streamLines(
          `${path}${sep}watch=1&allowWatchBookmarks=true&resourceVersion=${encodeURIComponent(version)}`,
          (line) => {
            if (!line.trim()) return;
            const event = JSON.parse(line) as WatchEvent;
            if (event.type === "ERROR") {
              // 410: the version is compacted away; anything else is worth a fresh LIST too
              version = undefined;
              return;
            }
            if (event.object.metadata?.resourceVersion) version = event.object.metadata.resourceVersion;
            if (event.type === "BOOKMARK") return;
            if (event.type === "DELETED") byUid.delete(event.object.metadata.uid);
            else byUid.set(event.object.metadata.uid, event.object);
            publish();
          },
          abort.signal,
        );
      } catch (err) {
        if (abort.signal.aborted) return;
        onError(err as Error);
        version = undefined;
        await new Promise((r) => setTimeout(r, 2000));
      }
    }
  })();
  return () => abort.abort();
}

/** The live items at PATH (null: nothing to watch), and the last error the API gave. */
export function useWatch(path: string | null): { items: KObject[]; error?: Error; loaded: boolean } {
  const [state, setState] = useState<{ items: KObject[]; error?: Error; loaded: boolean }>({
    items: [],
    loaded: false,
  });
  useEffect(() => {
    setState({ items: [], loaded: false });
    if (!path) return;
    return watchList(
      path,
      (items) => setState((s) => ({ ...s, items, loaded: true })),
      (error) => setState((s) => ({ ...s, error })),
    );
  }, [path]);
  return state;
}

export const keyOf = (o: KObject) => `${o.metadata.namespace ?? ""}/${o.metadata.name}`;
export const byName = (a: KObject, b: KObject) => keyOf(a).localeCompare(keyOf(b));
