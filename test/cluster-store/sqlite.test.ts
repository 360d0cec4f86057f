import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openStore } from "../../src/cluster/store/types.ts";
import { storeContract, record } from "./_contract.ts";

describe("SQLite store", () => {
  let dir: string;
  let n = 0;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "gantry-store-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  storeContract(() => openStore({ kind: "sqlite", path: join(dir, `store-${++n}.db`) }));

  it("feeds a watcher from writes made by another connection to the same file", async () => {
    const path = join(dir, "shared.db");
    const reader = await openStore({ kind: "sqlite", path });
    const writer = await openStore({ kind: "sqlite", path });
    try {
      const w = record(reader, "/registry/", await reader.currentRevision());
      for (let i = 0; i < 5; i++) await writer.create(`/registry/x${i}`, "{}");
      await w.until(() => w.events.length === 5, "5 events polled from the file");
      assert.deepEqual(w.events.map((e) => e.object.key), ["/registry/x0", "/registry/x1", "/registry/x2", "/registry/x3", "/registry/x4"]);
      w.cancel();
    } finally {
      await reader.close();
      await writer.close();
    }
  });
});
