// A pod's status as the kubelet writes it (pkg/kubelet/kubelet_pods.go generateAPIPodStatus,
// getPhase, and status/generate.go for the conditions), computed from the spec, what the
// engine runs and why containers wait. Pure: times come in as `now`, the previous status
// keeps transition times and startTime.
import { hasExited, isRunning, type RuntimeContainer, type RuntimePod } from "./runtime-pods.ts";
import { qosClassOf } from "./resources.ts";
import type { Waiting } from "./pod-actions.ts";
import type { Container, ContainerState, ContainerStateTerminated, ContainerStatus, Pod, PodCondition, PodPhase, PodStatus } from "./pod-types.ts";

export const CONTAINER_ID_PREFIX = "gantry://";

export interface ProbeView {
  started(name: string, containerId: string, running: boolean): boolean;
  ready(name: string, containerId: string, running: boolean): boolean;
}

const noProbes: ProbeView = { started: (_n, _id, running) => running, ready: (_n, _id, running) => running };

export interface StatusInputs {
  pod: Pod;
  runtime: RuntimePod | undefined;
  /** Why containers that do not run wait, by name (CrashLoopBackOff, ErrImagePull, ...). */
  waiting: Map<string, Waiting>;
  hostIP: string;
  /** The sandbox's address; the node's for hostNetwork pods. */
  podIP?: string;
  /** What the probes say of a container (by spec name and container ID); without it a running container is started and ready. */
  probes?: ProbeView;
  /** A terminated container's message (terminationMessagePath, or its log's tail). */
  terminationMessage?: (c: RuntimeContainer) => string | undefined;
  /** The pod is being stopped for good: nothing restarts, so the phase is final once all stopped. */
  terminating?: boolean;
  now: string;
}

function terminatedOf(c: RuntimeContainer, messageOf: StatusInputs["terminationMessage"]): ContainerStateTerminated {
  const s = c.record.State;
  const startFailed = !!s.Error && s.StartedAt.startsWith("0001");
  const reason = s.OOMKilled ? "OOMKilled" : startFailed ? "StartError" : s.ExitCode === 0 ? "Completed" : "Error";
  const message = startFailed ? s.Error : messageOf?.(c);
  return {
    exitCode: s.ExitCode,
    reason,
    ...(message ? { message } : {}),
    startedAt: startFailed ? s.FinishedAt : trimTime(s.StartedAt),
    finishedAt: trimTime(s.FinishedAt),
    containerID: CONTAINER_ID_PREFIX + c.id,
  };
}

/** Kubernetes times are RFC 3339 in whole seconds. */
export function trimTime(iso: string): string {
  if (!iso || iso.startsWith("0001")) return iso;
  return new Date(Math.floor(Date.parse(iso) / 1000) * 1000).toISOString().replace(".000Z", "Z");
}

function containerStatus(c: Container, history: RuntimeContainer[] | undefined, waiting: Waiting | undefined, defaultWaiting: string, probes: ProbeView, messageOf: StatusInputs["terminationMessage"]): ContainerStatus {
  const latest = history?.[0];
  const previous = history?.[1];
  let state: ContainerState;
  let lastState: ContainerState = previous && hasExited(previous) ? { terminated: terminatedOf(previous, messageOf) } : {};
  if (waiting) {
    state = { waiting: { reason: waiting.reason, ...(waiting.message ? { message: waiting.message } : {}) } };
    if (latest && hasExited(latest)) lastState = { terminated: terminatedOf(latest, messageOf) };
  } else if (latest && isRunning(latest)) {
    state = { running: { startedAt: trimTime(latest.record.State.StartedAt) } };
  } else if (latest && hasExited(latest)) {
    state = { terminated: terminatedOf(latest, messageOf) };
  } else {
    state = { waiting: { reason: defaultWaiting } };
  }
  const running = !!state.running;
  const id = latest?.id ?? "";
  return {
    name: c.name,
    state,
    lastState,
    ready: probes.ready(c.name, id, running),
    restartCount: latest?.attempt ?? 0,
    image: c.image,
    imageID: latest ? latest.record.Image : "",
    ...(latest ? { containerID: CONTAINER_ID_PREFIX + latest.id } : {}),
    started: probes.started(c.name, id, running),
  };
}

/** getPhase: from the init containers' and the app containers' states and the restart policy. */
export function podPhase(pod: Pod, init: ContainerStatus[], app: ContainerStatus[], terminating: boolean): PodPhase {
  const policy = terminating ? "Never" : (pod.spec.restartPolicy ?? "Always");
  let pendingInit = false;
  for (const s of init) {
    if (s.state.terminated && s.state.terminated.exitCode === 0) continue;
    if (s.state.terminated && policy === "Never") return "Failed";
    if (s.state.waiting?.reason === "CrashLoopBackOff" && policy === "Never") return "Failed";
    pendingInit = true;
  }
  let running = 0;
  let waiting = 0;
  let stopped = 0;
  let succeeded = 0;
  for (const s of app) {
    if (s.state.running) running++;
    else if (s.state.terminated) {
      stopped++;
      if (s.state.terminated.exitCode === 0) succeeded++;
    } else if (s.state.waiting) {
      if (s.lastState.terminated) stopped++;
      else waiting++;
    }
  }
  if (pendingInit && !terminating) return "Pending";
  if (waiting > 0 && !terminating) return "Pending";
  if (running > 0) return "Running";
  if (stopped > 0) {
    if (policy === "Always") return "Running";
    if (stopped === succeeded) return "Succeeded";
    if (policy === "Never") return "Failed";
    return "Running";
  }
  return terminating ? "Failed" : "Pending";
}

function condition(type: string, ok: boolean, reason?: string, message?: string): PodCondition {
  return { type, status: ok ? "True" : "False", ...(ok || !reason ? {} : { reason }), ...(ok || !message ? {} : { message }), lastProbeTime: null };
}

/** Keeps lastTransitionTime from the previous condition of a type while its status holds. */
function stamp(conds: PodCondition[], old: PodCondition[] | undefined, now: string): PodCondition[] {
  return conds.map((c) => {
    const prev = old?.find((o) => o.type === c.type);
    return { ...c, lastTransitionTime: prev && prev.status === c.status && prev.lastTransitionTime ? prev.lastTransitionTime : trimTime(now) };
  });
}

export function computePodStatus(i: StatusInputs): PodStatus {
  const { pod, runtime } = i;
  const initSpecs = pod.spec.initContainers ?? [];
  const initDone = (s: ContainerStatus) => !!s.state.terminated && s.state.terminated.exitCode === 0;
  const init = initSpecs.map((c) => containerStatus(c, runtime?.containers.get(c.name), i.waiting.get(c.name), "PodInitializing", noProbes, i.terminationMessage));
  const initialized = init.every(initDone);
  const app = pod.spec.containers.map((c) => containerStatus(c, runtime?.containers.get(c.name), i.waiting.get(c.name), initialized ? "ContainerCreating" : "PodInitializing", i.probes ?? noProbes, i.terminationMessage));
  const phase = podPhase(pod, init, app, !!i.terminating);
  const sandboxUp = isRunning(runtime?.sandboxes[0]);
  const unready = app.filter((s) => !s.ready).map((s) => s.name);
  const incomplete = init.filter((s) => !initDone(s)).map((s) => s.name);
  const completed = phase === "Succeeded";
  const containersReady = unready.length === 0 && !completed;
  const old = pod.status?.conditions;
  const scheduled = old?.find((c) => c.type === "PodScheduled") ?? { type: "PodScheduled", status: "True" as const, lastProbeTime: null };
  const conditions = stamp(
    [
      condition("PodReadyToStartContainers", sandboxUp),
      condition("Initialized", initialized, "ContainersNotInitialized", `containers with incomplete status: [${incomplete.join(" ")}]`),
      condition("Ready", containersReady, completed ? "PodCompleted" : "ContainersNotReady", completed ? undefined : `containers with unready status: [${unready.join(" ")}]`),
      condition("ContainersReady", containersReady, completed ? "PodCompleted" : "ContainersNotReady", completed ? undefined : `containers with unready status: [${unready.join(" ")}]`),
    ],
    old,
    i.now,
  );
  conditions.push(scheduled);
  const status: PodStatus = {
    phase,
    conditions,
    hostIP: i.hostIP,
    hostIPs: [{ ip: i.hostIP }],
    startTime: pod.status?.startTime ?? trimTime(i.now),
    qosClass: qosClassOf(pod),
    containerStatuses: app,
  };
  if (i.podIP) {
    status.podIP = i.podIP;
    status.podIPs = [{ ip: i.podIP }];
  }
  if (init.length) status.initContainerStatuses = init;
  return status;
}
