// The container state machine (container-state.ts): every status and transition of the
// table, legal moves landing where the table says, illegal ones a typed 409 that leaves the
// record as it was.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { ContainerRecord, ContainerStatus } from "./container-store.ts";
import { canTransition, IllegalTransitionError, transition, TRANSITIONS, hasProcess, isUp, isDown, type Transition } from "./container-state.ts";

const STATUSES: ContainerStatus[] = ["created", "running", "paused", "restarting", "removing", "exited", "dead"];
const record = (status: ContainerStatus) => ({ Id: "ab".repeat(32), State: { Status: status } }) as ContainerRecord;

describe("container state machine", () => {
  it("has the lifecycle Docker users know", () => {
    const rec = record("created");
    const path: Array<[Transition, ContainerStatus]> = [
      ["start", "running"],
      ["pause", "paused"],
      ["unpause", "running"],
      ["exit", "exited"],
      ["backOff", "restarting"],
      ["endBackOff", "exited"],
      ["start", "running"],
      ["pause", "paused"],
      ["exit", "exited"],
      ["remove", "removing"],
      ["remove", "removing"],
    ];
    for (const [t, to] of path) assert.equal(transition(rec, t), to, t);
  });

  it("refuses every move the table lacks with a typed 409, leaving the record alone", () => {
    let refused = 0;
    for (const from of STATUSES) {
      for (const t of Object.keys(TRANSITIONS) as Transition[]) {
        const rec = record(from);
        if (canTransition(from, t)) {
          assert.equal(transition(rec, t), TRANSITIONS[t].to);
          continue;
        }
        refused++;
        assert.throws(
          () => transition(rec, t),
          (err: unknown) =>
            err instanceof IllegalTransitionError && err.code === "CONFLICT" && err.httpStatus === 409 && err.from === from && err.transition === t && err.message === `cannot ${t} container abababababab: it is ${from}`,
        );
        assert.equal(rec.State.Status, from, `${t} from ${from} changed nothing`);
      }
    }
    // start of a removing or dead container, exit of one that never ran, pause of a paused one, ...
    assert.ok(refused >= 25, `${refused} illegal moves`);
    assert.equal(canTransition("removing", "start"), false);
    assert.equal(canTransition("created", "exit"), false);
    assert.equal(canTransition("paused", "pause"), false);
  });

  it("uses Docker's words when the caller gives them", () => {
    assert.throws(() => transition(record("paused"), "pause", (from) => (from === "paused" ? "Container x is already paused" : "Container x is not running")), /^IllegalTransitionError: Container x is already paused$|Container x is already paused/);
  });

  it("answers status questions by name", () => {
    assert.deepEqual(STATUSES.filter(hasProcess), ["running", "paused"]);
    assert.deepEqual(STATUSES.filter(isUp), ["running", "paused", "restarting"]);
    assert.deepEqual(STATUSES.filter(isDown), ["created", "exited", "dead"]);
  });
});
