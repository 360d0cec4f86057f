// The glass box of a pod's container, on the kubelet server (reached through the API server
// as /api/v1/nodes/NODE/proxy/gantry/pods/...):
//
//   GET /gantry/pods/{namespace}/{pod}/{container}/explain → the engine's explain of the
//       container's current run, plus `pod`
//   GET /gantry/pods/{namespace}/{pod}/{container}/glass   → the engine's glass, plus `pod`
//
// `pod` = { namespace, name, uid, container, containerId, sandbox: {name, id, pid} | null,
// sharedThroughSandbox: ["ipc", "net", "uts", ...], cgroup: {path, paths, files} }: which of
// the container's namespaces are the sandbox's (from the recorded setns steps for explain,
// from the live inodes for glass), and the pod-level cgroup (kubepods/<qos>/pod<uid>) with
// its limit files as they are now. Shapes in src/engine/glass.ts and docs/ARCHITECTURE.md.
import { dirname } from "node:path";
import { GantryError } from "../../common/errors.ts";
import { cgroupLimitFiles, type ContainerClient, type Explained, type Glass } from "../../engine/index.ts";
import { KubeletRequestError } from "./container-logs.ts";
import type { Pod } from "./pod-types.ts";
import type { RuntimePod } from "./runtime-pods.ts";

export interface PodGlassSection {
  namespace: string;
  name: string;
  uid: string;
  container: string;
  containerId: string;
  sandbox: { name: string; id: string; pid: number } | null;
  sharedThroughSandbox: string[];
  cgroup: { path: string; paths: Record<string, string>; files: { name: string; value: string; path: string }[] };
}

const GLASS_PATH = /^\/gantry\/pods\/([^/]+)\/([^/]+)\/([^/]+)\/(explain|glass)$/;

/** Whether the kubelet server should hand this path to serveGlass. */
export const isGlassPath = (path: string): boolean => GLASS_PATH.test(path);

function engineError(err: unknown): never {
  if (err instanceof GantryError) {
    const status = err.code === "NOT_FOUND" ? 404 : err.code === "CONFLICT" ? 409 : err.code === "UNSUPPORTED_OPTION" ? 400 : 500;
    throw new KubeletRequestError(status, err.message.replace(/^Error response from daemon: /, ""));
  }
  throw err;
}

export async function serveGlass(
  path: string,
  o: { containers: ContainerClient; pod(namespace: string, name: string): Pod | undefined; runtimePod(uid: string): RuntimePod | undefined },
): Promise<unknown> {
  const m = GLASS_PATH.exec(path)!;
  const [namespace, name, container, view] = m.slice(1).map(decodeURIComponent) as [string, string, string, "explain" | "glass"];
  const pod = o.pod(namespace, name);
  if (!pod) throw new KubeletRequestError(404, `pod "${name}" in namespace "${namespace}" not found on this node`);
  const runtime = pod.metadata.uid ? o.runtimePod(pod.metadata.uid) : undefined;
  const current = runtime?.containers.get(container)?.[0];
  if (!current) throw new KubeletRequestError(404, `container "${container}" of pod "${name}" has not been created on this node`);
  const sandbox = runtime?.sandboxes[0];
  const sandboxName = sandbox?.record.Name.replace(/^\//, "");
  const body: Explained | Glass = await (view === "explain" ? o.containers.explain(current.id) : o.containers.glass(current.id)).catch(engineError);
  const info = await o.containers.inspect(current.id).catch(engineError);
  const podCgroup = String((info.HostConfig as { CgroupParent?: string } | undefined)?.CgroupParent ?? "");
  const paths = Object.fromEntries(Object.entries((info.Gantry?.CgroupPaths ?? {}) as Record<string, string>).map(([k, dir]) => [k, dirname(dir)]));
  const shared =
    "steps" in body
      ? body.steps.filter((s) => s.step === "setns" && sandboxName && s.sharedWith === sandboxName).map((s) => String(s.namespace))
      : // the host's namespaces (user, time) are the sandbox's too, but not through it
        body.namespaces.filter((n) => sandboxName && n.sharedWith.includes(sandboxName) && !n.sharedWith.includes("host")).map((n) => n.type);
  const section: PodGlassSection = {
    namespace,
    name,
    uid: pod.metadata.uid ?? "",
    container,
    containerId: current.id,
    sandbox: sandbox && sandboxName ? { name: sandboxName, id: sandbox.id, pid: sandbox.record.State.Pid } : null,
    sharedThroughSandbox: [...new Set(shared)].sort(),
    cgroup: { path: podCgroup, paths, files: cgroupLimitFiles(Object.values(paths)) },
  };
  return { ...body, pod: section };
}
