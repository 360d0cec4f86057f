// Pod → engine create requests. A pod is a sandbox container (the static gantry-pause alone
// in a local image: it holds the network, IPC and UTS namespaces and is what the CNI bridge
// attaches) and one engine container per spec container that joins the sandbox's namespaces
// through the engine's `container:` modes (the user namespace too, with hostUsers: false), in
// the pod's cgroup (kubepods/<qos>/pod<uid>).
// Pure: the worker resolves env and images first.
import type { CreateBody, DockerMount, HostConfig } from "../../engine/index.ts";
import { expand } from "./env.ts";
import { containerResources } from "./resources.ts";
import { DEFAULT_TERMINATION_MESSAGE_PATH } from "./termination-message.ts";
import { LABEL_ATTEMPT, LABEL_CONTAINER_NAME, LABEL_GRACE, LABEL_INIT, LABEL_POD_NAME, LABEL_POD_NAMESPACE, LABEL_POD_UID, LABEL_SANDBOX_ID, LABEL_TYPE, SANDBOX_NAME } from "./runtime-pods.ts";
import type { Container, Pod } from "./pod-types.ts";

/** The pod's hostname: spec.hostname, else its name (cut to 63 characters, as the kubelet does). */
export function podHostname(pod: Pod): string {
  return (pod.spec.hostname || pod.metadata.name || "pod").slice(0, 63).replace(/[-.]+$/, "");
}

function podLabels(pod: Pod, name: string, attempt: number, type: "podsandbox" | "container"): Record<string, string> {
  return {
    [LABEL_POD_NAME]: pod.metadata.name ?? "",
    [LABEL_POD_NAMESPACE]: pod.metadata.namespace ?? "",
    [LABEL_POD_UID]: pod.metadata.uid ?? "",
    [LABEL_CONTAINER_NAME]: name,
    [LABEL_TYPE]: type,
    [LABEL_ATTEMPT]: String(attempt),
    [LABEL_GRACE]: String(pod.spec.terminationGracePeriodSeconds ?? 30),
  };
}

export function sandboxSpec(pod: Pod, opts: { image: string; cgroupParent: string; attempt: number }): CreateBody {
  const sysctls = Object.fromEntries((pod.spec.securityContext?.sysctls ?? []).map((s) => [s.name, s.value]));
  return {
    Image: opts.image,
    Entrypoint: ["/pause"],
    Cmd: [],
    Hostname: pod.spec.hostNetwork ? undefined : podHostname(pod),
    Labels: podLabels(pod, SANDBOX_NAME, opts.attempt, "podsandbox"),
    HostConfig: {
      NetworkMode: pod.spec.hostNetwork ? "host" : "default",
      IpcMode: pod.spec.hostIPC ? "host" : "shareable",
      UTSMode: pod.spec.hostNetwork ? "host" : "",
      PidMode: pod.spec.hostPID ? "host" : "",
      CgroupParent: opts.cgroupParent,
      RestartPolicy: { Name: "no" },
      CpuShares: 2,
      ...(Object.keys(sysctls).length ? { Sysctls: sysctls } : {}),
    },
  };
}

export interface ContainerInputs {
  sandboxId: string;
  cgroupParent: string;
  attempt: number;
  init: boolean;
  /** The resolved environment, NAME=value. */
  env: string[];
  /** The container's volumeMounts as engine binds (volume-mounts.ts). */
  mounts?: DockerMount[];
  /** The host file bound at the container's terminationMessagePath (termination-message.ts). */
  terminationLog?: string;
  /** The pod's resolv.conf on the host, bound over the container's (pod-dns.ts). */
  resolvConf?: string;
}

/** The pod's fsGroup and supplementalGroups: every container process holds them. */
function podGroups(pod: Pod): string[] {
  const sc = pod.spec.securityContext ?? {};
  return [...new Set([...(sc.fsGroup !== undefined ? [sc.fsGroup] : []), ...(sc.supplementalGroups ?? [])])].map(String);
}

/** User "uid[:gid]" from the container's, else the pod's, securityContext; undefined keeps the image's USER. */
function userOf(pod: Pod, c: Container): string | undefined {
  const uid = c.securityContext?.runAsUser ?? pod.spec.securityContext?.runAsUser;
  const gid = c.securityContext?.runAsGroup ?? pod.spec.securityContext?.runAsGroup;
  if (uid === undefined) return undefined; // a group alone cannot be said to the engine; the image's USER stays
  return gid === undefined ? String(uid) : `${uid}:${gid}`;
}

export function containerSpec(pod: Pod, c: Container, image: string, i: ContainerInputs): CreateBody {
  const vars = new Map(i.env.map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)] as [string, string]));
  const sc = c.securityContext ?? {};
  const join = `container:${i.sandboxId}`;
  const hc: HostConfig = {
    NetworkMode: join,
    IpcMode: join,
    UTSMode: join,
    PidMode: pod.spec.hostPID ? "host" : pod.spec.shareProcessNamespace ? join : "",
    // hostUsers: false — the sandbox has the pod's user namespace; its containers join it too.
    ...(pod.spec.hostUsers === false ? { UsernsMode: join } : {}),
    CgroupParent: i.cgroupParent,
    RestartPolicy: { Name: "no" },
    ...containerResources(c),
    ...(sc.privileged ? { Privileged: true } : {}),
    ...(sc.readOnlyRootFilesystem ? { ReadonlyRootfs: true } : {}),
    ...(sc.capabilities?.add?.length ? { CapAdd: sc.capabilities.add } : {}),
    ...(sc.capabilities?.drop?.length ? { CapDrop: sc.capabilities.drop } : {}),
    ...(sc.allowPrivilegeEscalation === false ? { SecurityOpt: ["no-new-privileges"] } : {}),
    ...(i.mounts?.length ? { Mounts: i.mounts } : {}),
    ...(podGroups(pod).length ? { GroupAdd: podGroups(pod) } : {}),
    ...(i.terminationLog || i.resolvConf
      ? {
          Binds: [
            ...(i.terminationLog ? [`${i.terminationLog}:${c.terminationMessagePath || DEFAULT_TERMINATION_MESSAGE_PATH}`] : []),
            ...(i.resolvConf ? [`${i.resolvConf}:/etc/resolv.conf:ro`] : []),
          ],
        }
      : {}),
  };
  const body: CreateBody = {
    Image: image,
    Hostname: pod.spec.hostNetwork ? undefined : podHostname(pod),
    Env: i.env,
    Labels: { ...podLabels(pod, c.name, i.attempt, "container"), [LABEL_SANDBOX_ID]: i.sandboxId, ...(i.init ? { [LABEL_INIT]: "true" } : {}) },
    Tty: !!c.tty,
    OpenStdin: !!c.stdin,
    StdinOnce: !!c.stdinOnce,
    StopTimeout: pod.spec.terminationGracePeriodSeconds ?? 30,
    // An image's HEALTHCHECK is not run for pods: the kubelet has probes instead (dockershim
    // set the same NONE, kubernetes#25829; containerd never runs one).
    Healthcheck: { Test: ["NONE"] },
    HostConfig: hc,
  };
  // command replaces the image's ENTRYPOINT (and drops its CMD), args replace its CMD;
  // $(VAR) in either refers to the container's environment.
  if (c.command?.length) body.Entrypoint = c.command.map((a) => expand(a, vars));
  if (c.args?.length) body.Cmd = c.args.map((a) => expand(a, vars));
  if (c.workingDir) body.WorkingDir = c.workingDir;
  const user = userOf(pod, c);
  if (user) body.User = user;
  return body;
}
