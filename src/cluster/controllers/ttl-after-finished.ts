// The TTL-after-finished controller (pkg/controller/ttlafterfinished): a Job with
// spec.ttlSecondsAfterFinished is deleted (Foreground, so its pods go first) that many
// seconds after it completed or failed. It waits on the clock for the expiry, never polls;
// the expiry is checked again against a fresh read before deleting, since the TTL may
// have been changed meanwhile.
import { isNotFound, objectKey, type Informer } from "../client/index.ts";
import { Controller, type ControllerContext } from "./controller.ts";
import { finishedConditionOf, JOBS, type Job } from "./_batch-types.ts";

/** When the Job expires (ms since the epoch), or undefined if it does not (not finished, no TTL, being deleted). */
export function jobExpiry(job: Job): number | undefined {
  const ttl = job.spec.ttlSecondsAfterFinished;
  const done = finishedConditionOf(job);
  if (ttl === undefined || ttl === null || !done || job.metadata.deletionTimestamp) return undefined;
  const finishedAt = Date.parse((done.type === "Complete" ? job.status?.completionTime : undefined) ?? done.lastTransitionTime ?? "");
  return Number.isNaN(finishedAt) ? undefined : finishedAt + ttl * 1000;
}

export class TtlAfterFinishedController extends Controller {
  private readonly jobs: Informer<Job>;

  constructor(ctx: ControllerContext) {
    super("ttl-after-finished", ctx);
    this.jobs = ctx.informers.informerFor<Job>(JOBS);
    const enqueue = (job: Job) => {
      if (jobExpiry(job) !== undefined) this.queue.add(objectKey(job));
    };
    this.jobs.addHandlers({ onAdd: enqueue, onUpdate: (_old, job) => enqueue(job) });
  }

  async reconcile(key: string): Promise<void> {
    const cached = this.jobs.cache.get(key);
    if (!cached || !(this.expired(cached, key))) return;
    const jobs = this.ctx.client.resource<Job>(JOBS);
    let fresh: Job;
    try {
      fresh = await jobs.get(cached.metadata.namespace, cached.metadata.name!);
    } catch (err) {
      if (isNotFound(err)) return;
      throw err;
    }
    if (!(this.expired(fresh, key))) return;
    try {
      await jobs.delete(fresh.metadata.namespace, fresh.metadata.name!, { propagationPolicy: "Foreground", preconditions: { uid: fresh.metadata.uid } });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  /** Expired now; if it will later, the key comes back then. */
  private expired(job: Job, key: string): boolean {
    const expiry = jobExpiry(job);
    if (expiry === undefined) return false;
    const left = expiry - this.ctx.clock.now();
    if (left > 0) this.queue.addAfter(key, left);
    return left <= 0;
  }
}
