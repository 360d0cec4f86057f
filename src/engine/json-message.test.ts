// Docker's progress text, the image-name split the client sends, and the `reference` filter.
import { test } from "node:test";
import assert from "node:assert/strict";
import { humanSize, progressBar } from "./json-message.ts";
import { splitTag } from "./image-client.ts";
import { matchesReference } from "./image-views.ts";

test("progress bars are 50 columns with sizes, as dockerd draws them", () => {
  assert.equal(progressBar(0, 1000), `[>${" ".repeat(49)}]       0B/1kB`);
  assert.equal(progressBar(500_000, 1_000_000), `[${"=".repeat(25)}>${" ".repeat(24)}]    500kB/1MB`);
  assert.equal(progressBar(2_140_000, 2_140_000), `[${"=".repeat(50)}]   2.14MB/2.14MB`);
  assert.equal(progressBar(1234, 0), "1.234kB");
  assert.equal(humanSize(999), "999B");
  assert.equal(humanSize(1_040_000), "1.04MB");
  assert.equal(humanSize(12_345_678), "12.3MB");
  assert.equal(humanSize(12_345_678, 4), "12.35MB");
});

test("splitTag: NAME[:TAG|@DIGEST], a registry port is not a tag", () => {
  assert.deepEqual(splitTag("busybox"), { name: "busybox" });
  assert.deepEqual(splitTag("busybox:1.36"), { name: "busybox", tag: "1.36" });
  assert.deepEqual(splitTag("127.0.0.1:5000/x/y"), { name: "127.0.0.1:5000/x/y" });
  assert.deepEqual(splitTag("127.0.0.1:5000/x/y:2"), { name: "127.0.0.1:5000/x/y", tag: "2" });
  const digest = `sha256:${"a".repeat(64)}`;
  assert.deepEqual(splitTag(`reg:5000/x@${digest}`), { name: "reg:5000/x", tag: digest });
});

test("the reference filter matches repo or repo:tag, with * inside one path component", () => {
  const tags = ["busybox:latest", "127.0.0.1:5000/test/bb:1"];
  assert.ok(matchesReference(tags, []));
  assert.ok(matchesReference(tags, ["busybox"]));
  assert.ok(matchesReference(tags, ["busybox:latest"]));
  assert.ok(!matchesReference(tags, ["busybox:1"]));
  assert.ok(matchesReference(tags, ["127.0.0.1:5000/test/*"]));
  assert.ok(!matchesReference(tags, ["127.0.0.1:5000/*"]));
  assert.ok(!matchesReference(tags, ["busy"]));
  assert.ok(!matchesReference(["a.b:1"], ["a+b"]), "regex characters are literal");
});
