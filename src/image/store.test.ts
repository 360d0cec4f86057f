import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sha256 } from "./digest.ts";
import { ImageStore } from "./store.ts";
import { GantryError } from "../common/errors.ts";

let root: string;
let store: ImageStore;
before(() => {
  root = mkdtempSync(join(tmpdir(), "gantry-store-"));
  store = new ImageStore(root);
});
after(() => rmSync(root, { recursive: true, force: true }));

test("a blob is stored under its sha256 and read back", async () => {
  const { digest, size } = await store.putBlob("hello");
  assert.equal(digest, sha256("hello"));
  assert.equal(size, 5);
  assert.equal(store.readBlob(digest).toString(), "hello");
  assert.ok(store.hasBlob(digest));
});

test("a wrong digest is refused and nothing half-written remains", async () => {
  const claimed = sha256("something else");
  await assert.rejects(store.putBlob("tampered", claimed), (e: unknown) => e instanceof GantryError && e.code === "DIGEST_MISMATCH");
  assert.ok(!store.hasBlob(claimed));
  assert.ok(!store.hasBlob(sha256("tampered")));
  assert.deepEqual(readdirSync(join(root, "ingest")), []);
});

test("a size larger than the descriptor's is refused while streaming", async () => {
  async function* endless() {
    for (let i = 0; i < 100; i++) yield Buffer.alloc(1024, 1);
  }
  await assert.rejects(store.writeBlob(endless(), { expectedSize: 2048 }), /larger than its descriptor/);
  assert.deepEqual(readdirSync(join(root, "ingest")), []);
});

test("concurrent writers of the same blob both succeed", async () => {
  const body = Buffer.alloc(1 << 20, 7);
  const results = await Promise.all(Array.from({ length: 8 }, () => store.putBlob(body, sha256(body))));
  assert.equal(new Set(results.map((r) => r.digest)).size, 1);
  assert.equal(store.readBlob(sha256(body)).length, body.length);
});

test("refs updated by concurrent processes lose no update", async () => {
  const script = `
    import { ImageStore } from ${JSON.stringify(new URL("./store.ts", import.meta.url).pathname)};
    const s = new ImageStore(process.argv[1]);
    for (let i = 0; i < 25; i++) s.setRef("p" + process.argv[2] + "-" + i, { digest: "sha256:" + "a".repeat(64), mediaType: "x", created: "" });
  `;
  const runs = Array.from({ length: 4 }, (_, p) =>
    new Promise<number>((resolve) => {
      const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script, root, String(p)], { stdio: "inherit" });
      child.on("close", (code) => resolve(code ?? 1));
    }),
  );
  assert.deepEqual(await Promise.all(runs), [0, 0, 0, 0]);
  const names = Object.keys(store.readRefs()).filter((n) => n.startsWith("p"));
  assert.equal(names.length, 100);
});

test("names win over ID prefixes; IDs and name@digest resolve", async () => {
  const { commitImage } = await import("./commit.ts");
  const { resolveImage, removeImage } = await import("./images.ts");
  const a = await commitImage(store, { name: "cafe", layers: [], config: { Cmd: ["a"] } });
  const b = await commitImage(store, { name: "other:1", layers: [], config: { Cmd: ["b"] } });
  assert.equal(resolveImage(store, "cafe").id, a.configDigest);
  assert.equal(resolveImage(store, b.configDigest.slice(7, 19)).id, b.configDigest);
  assert.equal(resolveImage(store, b.configDigest).id, b.configDigest);
  assert.equal(resolveImage(store, `other@${b.manifestDigest}`).id, b.configDigest);
  assert.throws(() => resolveImage(store, `cafe@${b.manifestDigest}`), /not in the local store/);
  assert.deepEqual(removeImage(store, "cafe").untagged, ["cafe:latest"]);
});
