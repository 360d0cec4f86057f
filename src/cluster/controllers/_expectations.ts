// Expectations (pkg/controller/controller_utils.go, UIDTrackingControllerExpectations):
// what a controller has asked for and not yet seen in its informer. Until the creations
// and deletions it made show up (or 5 minutes pass, in case an event was lost), the
// controller does not act on its cache for that key again — a slow informer would
// otherwise make it create the same pods twice.
import type { Clock } from "../../common/clock.ts";

/** How long expectations hold before a sync goes ahead anyway (ExpectationsTimeout). */
export const EXPECTATIONS_TIMEOUT_MS = 5 * 60_000;

interface Expected {
  adds: number;
  /** Keys (namespace/name) of objects whose deletion is awaited. */
  deletes: Set<string>;
  since: number;
}

export class Expectations {
  private readonly byKey = new Map<string, Expected>();

  constructor(private readonly clock: Clock) {}

  /** Whether the controller may trust its cache for key: nothing awaited, or waited too long. */
  satisfied(key: string): boolean {
    const e = this.byKey.get(key);
    if (!e) return true;
    if (e.adds <= 0 && e.deletes.size === 0) return true;
    return this.clock.now() - e.since > EXPECTATIONS_TIMEOUT_MS;
  }

  /** Records that `adds` creations and the deletion of `deletes` are on their way (replacing what was awaited). */
  expect(key: string, adds: number, deletes: string[] = []): void {
    this.byKey.set(key, { adds, deletes: new Set(deletes), since: this.clock.now() });
  }

  creationObserved(key: string): void {
    const e = this.byKey.get(key);
    if (e) e.adds--;
  }

  deletionObserved(key: string, objectKey: string): void {
    this.byKey.get(key)?.deletes.delete(objectKey);
  }

  /** The owner is gone: forget what it awaited. */
  forget(key: string): void {
    this.byKey.delete(key);
  }
}
