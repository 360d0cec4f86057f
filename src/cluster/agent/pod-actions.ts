// What one sync of a pod must do, decided from the pod's spec and what the engine runs
// (kubelet's computePodActions, cut to what Gantry runs): a sandbox when there is none
// running, init containers one at a time in order, then every app container that is not
// running and whose restart policy says it should run, each failed one only after its
// CrashLoopBackOff delay. Pure: the worker carries the actions out.
import { goDuration, type CrashBackoff } from "./crash-backoff.ts";
import { hasExited, isRunning, type RuntimeContainer, type RuntimePod } from "./runtime-pods.ts";
import { podDescription, type Container, type Pod, type RestartPolicy } from "./pod-types.ts";

export interface Waiting {
  reason: string;
  message?: string;
}

export interface PodActions {
  /** Make a new sandbox (attempt number): none runs. Everything else in the pod is stopped first. */
  createSandbox?: number;
  /** Containers to start, with their attempt numbers (an init container is alone here). */
  start: { container: Container; init: boolean; attempt: number }[];
  /** Why containers that are not running wait (CrashLoopBackOff), by name. */
  waiting: Map<string, Waiting>;
  /** Sync again this much later (a back-off ends). */
  retryAfterMs?: number;
  /** Nothing will run again: stop the sandbox (the pod's phase is final). */
  done: boolean;
}

export function backoffKey(pod: Pod, name: string): string {
  return `${pod.metadata.uid}/${name}`;
}

const exitCodeOf = (c: RuntimeContainer) => c.record.State.ExitCode;

function shouldRestart(policy: RestartPolicy, c: RuntimeContainer): boolean {
  if (policy === "Always") return true;
  if (policy === "OnFailure") return exitCodeOf(c) !== 0;
  return false;
}

/**
 * Whether a failed container may start again now; records the restart in the back-off when
 * it may, or says why it waits.
 */
function restartOrWait(pod: Pod, latest: RuntimeContainer, backoff: CrashBackoff, actions: PodActions, now: number): boolean {
  const key = backoffKey(pod, latest.name);
  const finished = Date.parse(latest.record.State.FinishedAt) || now;
  const remaining = backoff.remainingMs(key, finished);
  if (remaining > 0) {
    actions.waiting.set(latest.name, {
      reason: "CrashLoopBackOff",
      message: `back-off ${goDuration(backoff.delayMs(key))} restarting failed container=${latest.name} pod=${podDescription(pod)}`,
    });
    actions.retryAfterMs = Math.min(actions.retryAfterMs ?? Infinity, remaining);
    return false;
  }
  backoff.next(key);
  return true;
}

export function computePodActions(pod: Pod, rp: RuntimePod | undefined, backoff: CrashBackoff, now: number): PodActions {
  const actions: PodActions = { start: [], waiting: new Map(), done: false };
  const policy = pod.spec.restartPolicy ?? "Always";
  const latestOf = (name: string) => rp?.containers.get(name)?.[0];
  const phase = pod.status?.phase;
  if (phase === "Succeeded" || phase === "Failed") {
    actions.done = true; // a terminal pod never runs again
    return actions;
  }
  const sandbox = rp?.sandboxes[0];
  if (!isRunning(sandbox)) {
    // Without a sandbox nothing can run. A pod whose containers all finished for good needs none.
    if (sandbox && podFinished(pod, rp)) {
      actions.done = true;
      return actions;
    }
    actions.createSandbox = sandbox ? sandbox.attempt + 1 : 0;
  }

  // Init containers: the first one not done successfully runs (or waits to run again).
  for (const ic of pod.spec.initContainers ?? []) {
    const latest = latestOf(ic.name);
    if (!latest) {
      actions.start.push({ container: ic, init: true, attempt: 0 });
      return actions;
    }
    if (isRunning(latest)) return actions;
    if (!hasExited(latest)) {
      actions.start.push({ container: ic, init: true, attempt: latest.attempt + 1 });
      return actions;
    }
    if (exitCodeOf(latest) === 0 && !latest.record.State.Error) continue;
    if (policy === "Never") {
      actions.done = true;
      return actions;
    }
    if (restartOrWait(pod, latest, backoff, actions, now)) actions.start.push({ container: ic, init: true, attempt: latest.attempt + 1 });
    return actions;
  }

  for (const c of pod.spec.containers) {
    const latest = latestOf(c.name);
    if (!latest) {
      actions.start.push({ container: c, init: false, attempt: 0 });
      continue;
    }
    if (isRunning(latest)) continue;
    if (!hasExited(latest)) {
      // Made but never started (the agent stopped in between): run it as a new attempt.
      actions.start.push({ container: c, init: false, attempt: latest.attempt + 1 });
      continue;
    }
    // A new sandbox means new namespaces: a container that should run again runs in it.
    if (!shouldRestart(policy, latest)) continue;
    if (restartOrWait(pod, latest, backoff, actions, now)) actions.start.push({ container: c, init: false, attempt: latest.attempt + 1 });
  }
  if (!actions.start.length && !actions.waiting.size && podFinished(pod, rp)) {
    actions.done = true;
    delete actions.createSandbox;
  }
  return actions;
}

/** Every app container has run and exited, and the restart policy runs none again. */
export function podFinished(pod: Pod, rp: RuntimePod | undefined): boolean {
  const policy = pod.spec.restartPolicy ?? "Always";
  if (policy === "Always") return false;
  const initFailed = (pod.spec.initContainers ?? []).some((ic) => {
    const l = rp?.containers.get(ic.name)?.[0];
    return policy === "Never" && l && hasExited(l) && (exitCodeOf(l) !== 0 || !!l.record.State.Error);
  });
  if (initFailed) return true;
  return pod.spec.containers.every((c) => {
    const l = rp?.containers.get(c.name)?.[0];
    return !!l && hasExited(l) && !shouldRestart(policy, l);
  });
}
