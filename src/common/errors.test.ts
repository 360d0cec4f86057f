import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { errorCatalogue, GantryError } from "./errors.ts";

test("every error code is documented in docs/ERRORS.md", () => {
  const doc = readFileSync(new URL("../../docs/ERRORS.md", import.meta.url), "utf8");
  for (const code of Object.keys(errorCatalogue)) {
    assert.ok(doc.includes(`\`${code}\``), `docs/ERRORS.md lacks ${code}`);
  }
});

test("a GantryError carries its code, HTTP status and hint", () => {
  const e = new GantryError("NOT_FOUND", "container x does not exist", { hint: "run `gantry-runtime list`" });
  assert.equal(e.httpStatus, 404);
  assert.equal(e.describe(), "container x does not exist (hint: run `gantry-runtime list`)");
});
