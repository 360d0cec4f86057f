import { test } from "node:test";
import assert from "node:assert/strict";
import type { ContainerRecord } from "./container-store.ts";
import type { Engine } from "./engine.ts";
import { matchesPsFilters } from "./views.ts";

test("ps filters: values of one key are alternatives, but every label filter must hold (as Docker)", () => {
  const rec = { Id: "abc123", Name: "/web", State: { Status: "running", ExitCode: 0 }, Config: { Labels: { app: "web", tier: "front" } } } as unknown as ContainerRecord;
  const engine = {} as Engine;
  assert.ok(matchesPsFilters(engine, rec, { label: ["app=web", "tier=front"] }));
  assert.equal(matchesPsFilters(engine, rec, { label: ["app=web", "tier=back"] }), false);
  assert.ok(matchesPsFilters(engine, rec, { label: ["app"] }));
  assert.ok(matchesPsFilters(engine, rec, { status: ["exited", "running"] }));
  assert.equal(matchesPsFilters(engine, rec, { status: ["running"], label: ["nope"] }), false);
});
