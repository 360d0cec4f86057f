// GET /containerLogs/{namespace}/{pod}/{container}: a container's log as the kubelet serves it
// (pkg/kubelet/server/server.go getContainerLogs, kubelet_pods.go validateContainerLogStatus):
// which container — the current attempt, or with previous=true the one before — is chosen
// from what the engine holds, and the kubelet's messages explain why there is none. stdout
// and stderr come interleaved as written; timestamps are RFC 3339 with nanoseconds.
import type { ServerResponse } from "node:http";
import { demux, type ContainerClient } from "../../engine/index.ts";
import type { Pod } from "./pod-types.ts";
import type { RuntimeContainer } from "./runtime-pods.ts";

/** A request the kubelet refuses, with its HTTP status and message. */
export class KubeletRequestError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface LogQuery {
  follow: boolean;
  previous: boolean;
  timestamps: boolean;
  tailLines?: number;
  limitBytes?: number;
  /** Unix seconds: lines before it are left out (sinceSeconds or sinceTime). */
  since?: number;
}

const bad = (message: string) => new KubeletRequestError(400, message);

function nonNegative(q: URLSearchParams, key: string, min = 0): number | undefined {
  const v = q.get(key);
  if (v === null || v === "") return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw bad(`${key} must be an integer of at least ${min}, not "${v}"`);
  return n;
}

export function parseLogQuery(q: URLSearchParams, now: number): LogQuery {
  const flag = (k: string) => ["true", "1"].includes(q.get(k) ?? "");
  const sinceSeconds = nonNegative(q, "sinceSeconds", 1);
  const sinceTime = q.get("sinceTime");
  if (sinceSeconds !== undefined && sinceTime) throw bad("at most one of sinceTime or sinceSeconds may be specified");
  let since: number | undefined;
  if (sinceSeconds !== undefined) since = now / 1000 - sinceSeconds;
  if (sinceTime) {
    const t = Date.parse(sinceTime);
    if (Number.isNaN(t)) throw bad(`sinceTime "${sinceTime}" is not an RFC 3339 time`);
    since = t / 1000;
  }
  return { follow: flag("follow"), previous: flag("previous"), timestamps: flag("timestamps"), tailLines: nonNegative(q, "tailLines"), limitBytes: nonNegative(q, "limitBytes", 1), since };
}

/**
 * The engine container whose log is asked for: the newest attempt, or the one before it with
 * previous. Without one, the kubelet's reason, from the pod's status as this agent wrote it.
 */
export function logContainer(pod: Pod, name: string, attempts: RuntimeContainer[], previous: boolean): RuntimeContainer {
  const podName = pod.metadata.name;
  if (previous) {
    const prev = attempts[1];
    if (!prev) throw bad(`previous terminated container "${name}" in pod "${podName}" not found`);
    return prev;
  }
  if (attempts[0]) return attempts[0];
  const status = [...(pod.status?.containerStatuses ?? []), ...(pod.status?.initContainerStatuses ?? [])].find((s) => s.name === name);
  const reason = status?.state.waiting?.reason;
  if (reason === "ErrImagePull") throw bad(`container "${name}" in pod "${podName}" is waiting to start: image can't be pulled`);
  if (reason === "ImagePullBackOff") throw bad(`container "${name}" in pod "${podName}" is waiting to start: trying and failing to pull image`);
  if (reason) throw bad(`container "${name}" in pod "${podName}" is waiting to start: ${reason}`);
  if (status?.state.terminated) throw bad(`container "${name}" in pod "${podName}" is terminated`);
  throw bad(`container "${name}" in pod "${podName}" is waiting to start - no logs yet`);
}

/** Streams the container's log to res (text/plain), applying tail, since, timestamps and limitBytes. */
export async function serveContainerLogs(containers: ContainerClient, c: RuntimeContainer, q: LogQuery, res: ServerResponse): Promise<void> {
  const follow = q.follow && c.record.State.Status === "running";
  const log = await containers.logs(c.id, { follow, tail: q.tailLines === undefined ? undefined : String(q.tailLines), since: q.since === undefined ? undefined : q.since.toFixed(6), timestamps: q.timestamps });
  res.writeHead(200, { "Content-Type": "text/plain", "Cache-Control": "no-cache, private" });
  res.flushHeaders();
  let left = q.limitBytes ?? Infinity;
  const out = (b: Buffer) => {
    if (left <= 0 || res.destroyed) return;
    const part = b.length > left ? b.subarray(0, left) : b;
    left -= part.length;
    res.write(part);
    if (left <= 0) log.destroy();
  };
  const tty = !!c.record.Config.Tty;
  const onChunk = tty ? out : demux((_stream, payload) => out(payload));
  res.on("close", () => log.destroy());
  await new Promise<void>((resolve) => {
    log.on("data", onChunk);
    log.on("end", resolve);
    log.on("close", resolve);
    log.on("error", () => resolve());
  });
  res.end();
}
