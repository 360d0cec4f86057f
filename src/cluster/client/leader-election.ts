// Leader election over a coordination.k8s.io/v1 Lease (client-go's tools/leaderelection), so
// that of several processes running the same control loops against one store only one acts:
// kube-controller-manager and kube-scheduler hold kube-system/kube-controller-manager and
// kube-system/kube-scheduler this way.
//
// A candidate tries every retryPeriod: it takes the Lease when nobody holds it, when it holds
// it already (a renewal), or when the holder's record has not changed for leaseDuration *as
// this candidate observed it on its own clock* (never by comparing the record's renewTime
// with the local clock: the two machines' clocks may disagree). Every write is an update
// pinned to the resourceVersion read, so two candidates can never both succeed in taking it.
// A candidate that sees the Lease held tries again at its next retryPeriod or, if sooner,
// the moment the holder's record will have gone unchanged for leaseDuration — so a dead
// leader is replaced leaseDuration after its last renewal was seen, not up to a retryPeriod
// later. The leader renews every retryPeriod; when it has not managed to renew for renewDeadline
// (shorter than leaseDuration, so it stops before anyone else may start) it stops leading
// and becomes a candidate again. On stop a leader gives the Lease up (holder cleared), so
// another candidate takes over without waiting out the duration.
import { realClock, type Clock, type Timer } from "../../common/clock.ts";
import { describeError } from "../../common/errors.ts";
import type { Client, ResourceRef } from "./client.ts";
import { isAlreadyExists, isConflict, isNotFound } from "./errors.ts";
import type { KubeObject } from "./objects.ts";

const LEASES: ResourceRef = { group: "coordination.k8s.io", version: "v1", resource: "leases", kind: "Lease", namespaced: true };

export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  /** Who this candidate is (kube-controller-manager: hostname_uuid). */
  identity: string;
  /** kube-controller-manager's defaults: 15 s, 10 s, 2 s. */
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  clock?: Clock;
  log?: (message: string) => void;
  /** Called when this candidate becomes the leader; what it returns is stopped when it stops leading. */
  onStartedLeading: () => Promise<{ stop(): Promise<void> }>;
  /** Called after the work started by onStartedLeading has stopped (leadership lost or given up). */
  onStoppedLeading?: () => void;
}

export interface LeaderElector {
  isLeader(): boolean;
  /** Stops trying; a leader stops its work and gives the Lease up. */
  stop(): Promise<void>;
}

interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

type Lease = KubeObject & { spec?: LeaseSpec };

/** MicroTime as Kubernetes writes it: RFC 3339 with microseconds. */
const microTime = (ms: number) => new Date(ms).toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");

export function startLeaderElection(client: Client, opts: LeaderElectionOptions): LeaderElector {
  const clock = opts.clock ?? realClock;
  const log = opts.log ?? (() => {});
  const durationMs = opts.leaseDurationMs ?? 15_000;
  const renewDeadlineMs = opts.renewDeadlineMs ?? 10_000;
  const retryMs = opts.retryPeriodMs ?? 2_000;
  const leases = client.resource<Lease>(LEASES);
  const where = `${opts.namespace}/${opts.name}`;

  let stopped = false;
  let leading = false;
  let lastRenewal = 0;
  let work: { stop(): Promise<void> } | undefined;
  let starting: Promise<void> | undefined;
  let timer: Timer | undefined;
  /** The holder's record as last seen, and when (on this clock) it last changed. */
  let observed: { key: string; at: number } | undefined;
  /** For a candidate facing a holder: ms until the holder's Lease expires as observed. */
  let expiresInMs: number | undefined;

  /** One attempt to take or renew the Lease; true when this candidate holds it afterwards. */
  async function tryAcquireOrRenew(): Promise<boolean> {
    const now = clock.now();
    const mine: LeaseSpec = { holderIdentity: opts.identity, leaseDurationSeconds: Math.ceil(durationMs / 1000), acquireTime: microTime(now), renewTime: microTime(now), leaseTransitions: 0 };
    let cur: Lease;
    try {
      cur = await leases.get(opts.namespace, opts.name);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      try {
        await leases.create(opts.namespace, { apiVersion: "coordination.k8s.io/v1", kind: "Lease", metadata: { name: opts.name, namespace: opts.namespace }, spec: mine });
        observed = { key: JSON.stringify(mine), at: now };
        return true;
      } catch (e) {
        if (isAlreadyExists(e)) return false;
        throw e;
      }
    }
    const spec = cur.spec ?? {};
    const key = JSON.stringify(spec);
    if (!observed || observed.key !== key) observed = { key, at: now };
    const held = !!spec.holderIdentity && spec.holderIdentity !== opts.identity;
    const holderDurationMs = (spec.leaseDurationSeconds ?? Math.ceil(durationMs / 1000)) * 1000;
    if (held && observed.at + holderDurationMs > now) {
      expiresInMs = observed.at + holderDurationMs - now;
      return false;
    }
    const next: LeaseSpec =
      spec.holderIdentity === opts.identity
        ? { ...spec, renewTime: mine.renewTime, leaseDurationSeconds: mine.leaseDurationSeconds }
        : { ...mine, leaseTransitions: (spec.leaseTransitions ?? 0) + 1 }; // as client-go counts: every change of holder, from none too
    try {
      await leases.update({ ...cur, spec: next });
    } catch (err) {
      if (isConflict(err)) return false; // another candidate wrote first
      throw err;
    }
    observed = { key: JSON.stringify(next), at: now };
    return true;
  }

  async function startLeading(): Promise<void> {
    leading = true;
    log(`leader election: ${opts.identity} is the leader of ${where}`);
    try {
      work = await opts.onStartedLeading();
    } catch (err) {
      log(`leader election: starting the leader's work failed: ${describeError(err)}`);
      leading = false;
      await release();
    }
  }

  async function stopLeading(why: string): Promise<void> {
    if (!leading) return;
    leading = false;
    log(`leader election: ${opts.identity} stopped leading ${where}: ${why}`);
    await starting;
    const w = work;
    work = undefined;
    await w?.stop();
    opts.onStoppedLeading?.();
  }

  async function release(): Promise<void> {
    try {
      const cur = await leases.get(opts.namespace, opts.name);
      if (cur.spec?.holderIdentity !== opts.identity) return;
      await leases.update({ ...cur, spec: { ...cur.spec, holderIdentity: "", leaseDurationSeconds: 1, renewTime: microTime(clock.now()) } });
    } catch (err) {
      log(`leader election: giving up ${where}: ${describeError(err)}`);
    }
  }

  async function round(): Promise<void> {
    let ok = false;
    expiresInMs = undefined;
    try {
      ok = await tryAcquireOrRenew();
    } catch (err) {
      log(`leader election: ${where}: ${describeError(err)}`);
    }
    if (stopped) return;
    const now = clock.now();
    if (ok) {
      lastRenewal = now;
      if (!leading) {
        starting = startLeading();
        await starting;
      }
    } else if (leading && now - lastRenewal >= renewDeadlineMs) {
      await stopLeading(`the Lease was not renewed for ${renewDeadlineMs} ms`);
    } else if (leading && !ok) {
      // Someone else holds it now (renewal refused): stop at once rather than at the deadline.
      try {
        const cur = await leases.get(opts.namespace, opts.name);
        if (cur.spec?.holderIdentity && cur.spec.holderIdentity !== opts.identity) await stopLeading(`${cur.spec.holderIdentity} holds the Lease`);
      } catch {
        // Unknown: the deadline decides.
      }
    }
  }

  log(`leader election: ${opts.identity} is a candidate for ${where}`);
  let running: Promise<void> = Promise.resolve();
  const tick = () => {
    if (stopped) return;
    running = round().finally(() => {
      // A few ms past the expiry, so the attempt sees it expired on a timer that fires early.
      if (!stopped) timer = clock.after(!leading && expiresInMs !== undefined ? Math.min(retryMs, expiresInMs + 5) : retryMs, tick);
    });
  };
  tick();

  return {
    isLeader: () => leading,
    async stop() {
      stopped = true;
      timer?.cancel();
      await running;
      if (leading) {
        await stopLeading("stopping");
        await release();
      }
    },
  };
}
