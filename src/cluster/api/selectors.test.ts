import { test } from "node:test";
import assert from "node:assert/strict";
import { matchFields, matchLabels, parseFieldSelector, parseLabelSelector } from "./selectors.ts";

test("label selectors: equality, sets and existence", () => {
  const sel = parseLabelSelector("app=web,tier!=db,env in (prod, staging),!legacy,team");
  assert.ok(matchLabels(sel, { app: "web", env: "prod", team: "a" }));
  assert.ok(!matchLabels(sel, { app: "web", env: "dev", team: "a" }));
  assert.ok(!matchLabels(sel, { app: "web", env: "prod", team: "a", legacy: "1" }));
  assert.ok(!matchLabels(sel, { app: "web", env: "prod", team: "a", tier: "db" }));
  assert.ok(matchLabels(parseLabelSelector("env notin (prod)"), {}));
  assert.ok(matchLabels(parseLabelSelector("a==b"), { a: "b" }));
  assert.throws(() => parseLabelSelector("bad key=x"), /invalid label key/);
});

test("field selectors read the object's own fields", () => {
  const ev = { metadata: { name: "e" }, involvedObject: { kind: "Deployment", name: "web" } };
  assert.ok(matchFields(parseFieldSelector("involvedObject.kind=Deployment,involvedObject.name=web"), ev));
  assert.ok(!matchFields(parseFieldSelector("metadata.name!=e"), ev));
  assert.ok(matchFields(parseFieldSelector("status.phase!=Running"), ev));
  assert.throws(() => parseFieldSelector("???"), /invalid selector/);
});
