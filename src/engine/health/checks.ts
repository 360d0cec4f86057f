// The engine's health checks: one HealthMonitor per running container with a check, held by
// the container's supervisor (supervisor.ts) so it lives exactly as long as the engine keeps
// the container running. The engine calls begin() when a container starts, is unpaused or is
// re-adopted after a daemon restart, and end() when it exits, is paused or removed. Each
// result is written into State.Health of the record and saved, so inspect shows it and a
// restarted daemon still has it; a change of status is a `health_status: X` event.
import type { Clock } from "../../common/clock.ts";
import type { ContainerRecord } from "../container-store.ts";
import type { ExecTable } from "../exec.ts";
import type { Supervisors } from "../supervisor.ts";
import { healthSettings, type HealthConfig, type HealthSettings } from "./config.ts";
import { HealthMonitor } from "./monitor.ts";
import { execProbe } from "./probe.ts";
import { recordProbe, startingHealth, stoppedHealth, type HealthResult } from "./status.ts";

export interface HealthChecksDeps {
  execs: ExecTable;
  clock: Clock;
  supervisors: Supervisors;
  /** The container's current record, if it still exists. */
  find(id: string): ContainerRecord | undefined;
  save(rec: ContainerRecord): void;
  publish(rec: ContainerRecord, action: string): void;
}

export class HealthChecks {
  constructor(private readonly deps: HealthChecksDeps) {}

  /**
   * Starts the container's check loop if it has a check. `fresh`: a (re)start, which resets
   * the status to starting (the Log stays); otherwise (unpause, daemon restart) the status
   * the record has is kept. The caller saves the record.
   */
  begin(rec: ContainerRecord, opts: { fresh: boolean }): void {
    const settings = healthSettings(rec.Config.Healthcheck as HealthConfig | undefined);
    if (!settings) return;
    const sup = this.deps.supervisors.of(rec.Id);
    void sup.health?.stop();
    if (opts.fresh || !rec.State.Health) rec.State.Health = startingHealth(rec.State.Health);
    const id = rec.Id;
    const monitor = new HealthMonitor({
      settings,
      clock: this.deps.clock,
      startedAtMs: Date.parse(rec.State.StartedAt),
      status: () => this.deps.find(id)?.State.Health?.Status ?? "starting",
      run: execProbe(this.deps.execs, () => this.deps.find(id) ?? rec),
      onResult: (result) => this.record(id, result, settings),
    });
    sup.health = monitor;
    monitor.start();
  }

  /**
   * Ends the container's check loop (killing a running probe). `markUnhealthy`: on an exit
   * or a pause dockerd reports the stopped check's container unhealthy; the record is changed
   * here, the caller saves it. Resolves once a running probe has ended.
   */
  end(rec: ContainerRecord, opts: { markUnhealthy: boolean }): Promise<void> {
    const sup = this.deps.supervisors.peek(rec.Id);
    const monitor = sup?.health;
    if (!sup || !monitor) return Promise.resolve();
    sup.health = undefined;
    this.deps.supervisors.release(rec.Id);
    if (opts.markUnhealthy && rec.State.Health) rec.State.Health = stoppedHealth(rec.State.Health);
    return monitor.stop();
  }

  private record(id: string, result: HealthResult, settings: HealthSettings): void {
    const rec = this.deps.find(id);
    if (!rec?.State.Health) return;
    const before = rec.State.Health.Status;
    rec.State.Health = recordProbe(rec.State.Health, result, { retries: settings.retries, startPeriodMs: settings.startPeriodMs, startedAtMs: Date.parse(rec.State.StartedAt) });
    this.deps.save(rec);
    const after = rec.State.Health.Status;
    if (after !== before) this.deps.publish(rec, `health_status: ${after}`);
  }
}
