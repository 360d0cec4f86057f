// postStart and preStop hooks (kubelet's lifecycle handler runner): the same handlers as
// probes, run once, and on failure the kubelet's message for the FailedPostStartHook or
// FailedPreStopHook event. The worker decides what a failure means (postStart: the container
// is killed; preStop: stopping goes on).
import { HandlerError, runHandler, type HandlerTarget } from "./handlers.ts";
import { podDescription, type Handler, type Pod } from "./pod-types.ts";

/** How long a postStart hook may run; the kubelet sets none, but a hung one would hold the pod's worker forever. */
export const POST_START_TIMEOUT_MS = 120_000;

/** Runs a hook; undefined when it succeeded, else the kubelet's failure message. */
export async function runHook(h: Handler, pod: Pod, t: HandlerTarget, timeoutMs: number): Promise<string | undefined> {
  const c = t.container.name;
  const where = `for Container "${c}" in Pod "${podDescription(pod)}"`;
  try {
    const o = await runHandler(h, t, timeoutMs);
    if (o.ok) return undefined;
    if (h.exec) {
      const cmd = (h.exec.command ?? []).join(" ");
      const error = o.exitCode === undefined ? o.output : `command '${cmd}' exited with ${o.exitCode}: ${o.output}`;
      return `Exec lifecycle hook ([${cmd}]) ${where} failed - error: ${error}, message: ${JSON.stringify(o.output)}`;
    }
    if (h.httpGet) return `HTTP lifecycle hook (${h.httpGet.path ?? ""}) ${where} failed - error: ${o.output}`;
    return `Lifecycle hook ${where} failed - error: ${o.output}`;
  } catch (err) {
    if (!(err instanceof HandlerError)) throw err;
    return `Lifecycle hook ${where} failed - error: ${err.message}`;
  }
}
