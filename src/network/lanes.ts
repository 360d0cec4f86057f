// The network library's two lanes of work. Mutations of the registry and the host run one at
// a time in the serial lane, so the two stay consistent; tasks that need no ordering with
// them (prepared namespaces made and torn down: plugin ids of their own) run in the
// background lane, several at once, and close() and reconcile() wait for them to settle.
export class MutationLanes {
  private queue: Promise<unknown> = Promise.resolve();
  private readonly backgroundTasks = new Set<Promise<unknown>>();

  /** Runs `fn` after every mutation queued before it. */
  serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Runs `task` now, beside the serial lane; quiesce() waits for it. */
  inBackground<T>(task: () => Promise<T>): Promise<T> {
    const run = task();
    const settled: Promise<unknown> = run.then(
      () => this.backgroundTasks.delete(settled),
      () => this.backgroundTasks.delete(settled),
    );
    this.backgroundTasks.add(settled);
    return run;
  }

  /** Waits until no background task runs (with refills paused, none starts). */
  async quiesce(): Promise<void> {
    while (this.backgroundTasks.size > 0) await Promise.allSettled([...this.backgroundTasks]);
  }
}
