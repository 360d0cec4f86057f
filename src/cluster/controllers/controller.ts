// The shape every controller has (Kubernetes' sample-controller): shared informers whose
// handlers only enqueue keys, one keyed work queue, and a level-triggered reconcile(key)
// that reads the cache, compares desired with actual, and acts through the client. A key
// that fails comes back after the queue's back-off; one that succeeds is forgotten. A key
// is never reconciled by two workers at once.
import type { Clock } from "../../common/clock.ts";
import { describeError } from "../../common/errors.ts";
import { WorkQueue, type Client, type DiscoveredResource, type InformerFactory } from "../client/index.ts";

/** What the controller manager gives every controller. */
export interface ControllerContext {
  client: Client;
  /** The process's shared informers: one per kind. */
  informers: InformerFactory;
  /** The resources the server serves (discovery, read once at start). */
  resources: DiscoveredResource[];
  clock: Clock;
  log: (message: string) => void;
  /** The CA of the API server's certificate (from the transport), published to namespaces as kube-root-ca.crt. */
  rootCA?: string;
}

export abstract class Controller {
  readonly queue: WorkQueue;
  /** Reconciles that failed (and were requeued with back-off), for logs and tests. */
  failures = 0;

  constructor(
    readonly name: string,
    protected readonly ctx: ControllerContext,
  ) {
    this.queue = new WorkQueue({ clock: ctx.clock, name });
  }

  /** Makes the state named by key match what its objects ask for; throws to be retried with back-off. */
  abstract reconcile(key: string): Promise<void>;

  /** Runs `workers` loops until the queue shuts down; resolves when all have ended. */
  async run(workers: number): Promise<void> {
    await Promise.all(Array.from({ length: Math.max(1, workers) }, () => this.worker()));
  }

  private async worker(): Promise<void> {
    for (let key = await this.queue.get(); key !== undefined; key = await this.queue.get()) {
      try {
        await this.reconcile(key);
        this.queue.forget(key);
      } catch (err) {
        this.failures++;
        if (!this.queue.isShuttingDown) {
          this.ctx.log(`${this.name}: ${key}: ${describeError(err)} (retry ${this.queue.retries(key) + 1})`);
          this.queue.addRateLimited(key);
        }
      } finally {
        this.queue.done(key);
      }
    }
  }
}
