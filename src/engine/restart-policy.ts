// Restart policies as Docker applies them (moby restartmanager): no, always, unless-stopped,
// on-failure[:N]. A manual stop never restarts. The back-off starts at 100 ms and doubles per
// consecutive restart, capped at one minute; a run longer than 10 s resets it.
import { invalidArgument } from "../common/errors.ts";
import type { RestartPolicy } from "./api-types.ts";

export interface RestartDecision {
  restart: boolean;
  delayMs: number;
}

const BACKOFF_START_MS = 100;
const BACKOFF_MAX_MS = 60_000;
const RESET_AFTER_MS = 10_000;

export function restartDecision(
  policy: RestartPolicy | undefined,
  exitCode: number,
  restartCount: number,
  manuallyStopped: boolean,
  ranForMs: number,
  previousDelayMs = 0,
): RestartDecision {
  const name = policy?.Name || "no";
  let restart = false;
  if (!manuallyStopped) {
    if (name === "always" || name === "unless-stopped") restart = true;
    else if (name === "on-failure") {
      const max = policy?.MaximumRetryCount ?? 0;
      restart = exitCode !== 0 && (max === 0 || restartCount < max);
    }
  }
  let delayMs = previousDelayMs > 0 ? previousDelayMs * 2 : BACKOFF_START_MS * 2 ** Math.min(restartCount, 10);
  if (ranForMs > RESET_AFTER_MS) delayMs = BACKOFF_START_MS;
  return { restart, delayMs: Math.min(delayMs, BACKOFF_MAX_MS) };
}

/** dockerd's checks of a restart policy (create and update). */
export function checkRestartPolicy(policy: RestartPolicy | undefined): void {
  if (policy?.Name && !["", "no", "always", "unless-stopped", "on-failure"].includes(policy.Name)) {
    throw invalidArgument(`invalid restart policy '${policy.Name}'`);
  }
  if (policy?.Name !== "on-failure" && (policy?.MaximumRetryCount ?? 0) > 0) {
    throw invalidArgument(`invalid restart policy: maximum retry count can only be used with 'on-failure'`);
  }
}
