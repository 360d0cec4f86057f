// State.Health as dockerd keeps it — {Status, FailingStreak, Log} — and the pure rules that
// move it (moby daemon/health.go handleProbeResult): a success makes the container healthy and
// ends the failing streak; a failure adds to the streak, except while it is starting within
// its start period; `retries` failures in a row make it unhealthy. The Log keeps the last five
// probes, each probe's output cut at 4096 bytes with "..." appended.
import { invalidArgument } from "../../common/errors.ts";

export type HealthStatus = "starting" | "healthy" | "unhealthy";

export interface HealthResult {
  /** ISO times of the probe's start and end. */
  Start: string;
  End: string;
  /** 0 healthy, 1 unhealthy, -1 the probe could not run or timed out. */
  ExitCode: number;
  Output: string;
}

export interface HealthState {
  Status: HealthStatus;
  FailingStreak: number;
  /** The last MAX_LOG_ENTRIES probes, oldest first. */
  Log: HealthResult[];
}

export const MAX_LOG_ENTRIES = 5;
export const MAX_OUTPUT_BYTES = 4096;

/** A (re)started container's health: starting, no streak; the Log of earlier runs is kept. */
export function startingHealth(prev: HealthState | undefined): HealthState {
  return { Status: "starting", FailingStreak: 0, Log: prev?.Log ?? [] };
}

/** dockerd marks the health of a container whose check stopped (exit, pause) unhealthy. */
export function stoppedHealth(h: HealthState): HealthState {
  return { ...h, Status: "unhealthy" };
}

export interface ProbeRules {
  retries: number;
  startPeriodMs: number;
  /** When the container started (ms since the epoch). */
  startedAtMs: number;
}

/** The health after one more probe result. */
export function recordProbe(h: HealthState, r: HealthResult, rules: ProbeRules): HealthState {
  const Log = [...h.Log, r].slice(-MAX_LOG_ENTRIES);
  if (r.ExitCode === 0) return { Status: "healthy", FailingStreak: 0, Log };
  // Before a first success, failures inside the start period do not count.
  const inStartPeriod = h.Status === "starting" && Date.parse(r.Start) - rules.startedAtMs < rules.startPeriodMs;
  if (inStartPeriod) return { ...h, Log };
  const FailingStreak = h.FailingStreak + 1;
  return { Status: FailingStreak >= rules.retries ? "unhealthy" : h.Status, FailingStreak, Log };
}

/** Collects a probe's output up to MAX_OUTPUT_BYTES; the text ends in "..." when more came. */
export class LimitedOutput {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  private truncated = false;

  write(b: Buffer): void {
    const keep = Math.min(MAX_OUTPUT_BYTES - this.size, b.length);
    if (keep > 0) {
      this.chunks.push(b.subarray(0, keep));
      this.size += keep;
    }
    if (keep < b.length) this.truncated = true;
  }

  text(): string {
    const s = Buffer.concat(this.chunks).toString("utf8");
    return this.truncated ? `${s}...` : s;
  }
}

/** `docker ps`'s Status suffix: " (healthy)", " (unhealthy)", " (health: starting)". */
export function healthSuffix(h: HealthState | undefined): string {
  if (!h) return "";
  return h.Status === "starting" ? " (health: starting)" : ` (${h.Status})`;
}

const FILTER_VALUES = ["none", "starting", "healthy", "unhealthy"];

/** `--filter health=X`: X is checked as dockerd does (400 for an unknown value). */
export function checkHealthFilter(value: string): void {
  if (!FILTER_VALUES.includes(value)) {
    throw invalidArgument(`invalid filter 'health=${value}': invalid value for health (${value}): must be one of ${FILTER_VALUES.join(", ")}`);
  }
}

/** What `--filter health=` compares with: the status, or "none" without a check. */
export function healthFilterValue(h: HealthState | undefined): string {
  return h?.Status ?? "none";
}
