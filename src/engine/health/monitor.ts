// One container's health check loop (moby daemon/health.go monitor): wait the interval, run
// the probe, hand the result on, wait again — one probe at a time, never overlapping. The
// wait before the first probe is the interval too; during the start period (until a first
// success) it is the start interval, and never longer than what is left of the start period.
// A probe that outlives its timeout is aborted — whoever runs it kills the process — and
// counts as a failure with dockerd's "Health check exceeded timeout (…)". stop() ends the loop
// and kills a running probe: nothing of the loop is left once it resolves.
import type { Clock, Timer } from "../../common/clock.ts";
import { formatGoDuration } from "../../common/go-duration.ts";
import type { HealthSettings } from "./config.ts";
import type { HealthResult, HealthStatus } from "./status.ts";

export interface ProbeOutcome {
  exitCode: number;
  output: string;
}

/** Runs argv in the container; an aborted signal must kill it. Resolves once it has ended. */
export type RunProbe = (argv: string[], signal: AbortSignal) => Promise<ProbeOutcome>;

export interface HealthMonitorOptions {
  settings: HealthSettings;
  clock: Clock;
  /** When the container started (ms since the epoch): the start period counts from it. */
  startedAtMs: number;
  /** The container's health status now (the start interval applies while "starting"). */
  status(): HealthStatus;
  run: RunProbe;
  /** Each probe's result, unless the loop was stopped meanwhile. */
  onResult(result: HealthResult): void;
}

class ProbeTimedOut extends Error {}

export class HealthMonitor {
  private timer: Timer | undefined;
  private probing: { abort: AbortController; done: Promise<void> } | undefined;
  private stopped = false;

  constructor(private readonly opts: HealthMonitorOptions) {}

  start(): void {
    this.schedule();
  }

  /** Ends the loop; a running probe is killed, and the promise resolves once it has ended. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.timer?.cancel();
    this.timer = undefined;
    const probing = this.probing;
    if (!probing) return;
    probing.abort.abort(new Error("the health check was stopped"));
    await probing.done;
  }

  /** Whether a probe or the wait for one is pending (tests check nothing is left). */
  get active(): boolean {
    return this.timer !== undefined || this.probing !== undefined;
  }

  /** dockerd's getInterval: the interval, or inside the start period the start interval. */
  private nextDelay(): number {
    const { settings, clock, startedAtMs } = this.opts;
    const elapsed = clock.now() - startedAtMs;
    if (elapsed >= settings.startPeriodMs) return settings.intervalMs;
    const left = settings.startPeriodMs - elapsed;
    if (left < settings.intervalMs) return left;
    return this.opts.status() === "starting" ? settings.startIntervalMs : settings.intervalMs;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = this.opts.clock.after(this.nextDelay(), () => {
      this.timer = undefined;
      const abort = new AbortController();
      const done = this.probe(abort).finally(() => (this.probing = undefined));
      this.probing = { abort, done };
    });
  }

  private async probe(abort: AbortController): Promise<void> {
    const { settings, clock } = this.opts;
    const start = clock.now();
    const timeout = clock.after(settings.timeoutMs, () => abort.abort(new ProbeTimedOut()));
    let exitCode: number;
    let output: string;
    try {
      ({ exitCode, output } = await this.opts.run(settings.argv, abort.signal));
      if (abort.signal.reason instanceof ProbeTimedOut) {
        const limit = `Health check exceeded timeout (${formatGoDuration(settings.timeoutMs)})`;
        exitCode = -1;
        output = output ? `${limit}: ${output}` : limit;
      }
    } catch (err) {
      exitCode = -1;
      output = (err as Error).message;
    } finally {
      timeout.cancel();
    }
    if (this.stopped) return;
    this.opts.onResult({ Start: new Date(start).toISOString(), End: new Date(clock.now()).toISOString(), ExitCode: exitCode, Output: output });
    this.schedule();
  }
}
