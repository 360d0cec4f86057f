import { test } from "node:test";
import assert from "node:assert/strict";
import { selectorMatches, selectorString, selectsEverything } from "./_label-selector.ts";

test("matchLabels and matchExpressions must all hold", () => {
  const sel = { matchLabels: { app: "web" }, matchExpressions: [{ key: "tier", operator: "In", values: ["a", "b"] }, { key: "legacy", operator: "DoesNotExist" }] };
  assert.equal(selectorMatches(sel, { app: "web", tier: "a" }), true);
  assert.equal(selectorMatches(sel, { app: "web", tier: "c" }), false);
  assert.equal(selectorMatches(sel, { app: "web", tier: "a", legacy: "1" }), false);
  assert.equal(selectorMatches({ matchExpressions: [{ key: "x", operator: "NotIn", values: ["1"] }] }, {}), true);
  assert.equal(selectorMatches({ matchExpressions: [{ key: "x", operator: "Bogus" }] }, { x: "1" }), false);
});

test("an empty selector selects everything; a missing one nothing", () => {
  assert.equal(selectorMatches({}, { a: "b" }), true);
  assert.equal(selectsEverything({}), true);
  assert.equal(selectorMatches(undefined, { a: "b" }), false);
  assert.equal(selectsEverything(undefined), false);
});

test("the text form is what a label-selector query takes", () => {
  assert.equal(selectorString({ matchLabels: { app: "web" }, matchExpressions: [{ key: "t", operator: "In", values: ["b", "a"] }, { key: "x", operator: "DoesNotExist" }] }), "!x,app=web,t in (a,b)");
});
