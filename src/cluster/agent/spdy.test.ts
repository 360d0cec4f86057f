// SPDY/3.1's header compression, which kubectl's port-forward (Go's spdystream) reads: the
// dictionary is SPDY/3's (its zlib id is the Adler-32 the draft's dictionary has), our stored
// blocks inflate with it, and header blocks sharing one zlib context decode one by one.
import { test } from "node:test";
import assert from "node:assert/strict";
import { constants, createDeflate, inflateSync } from "node:zlib";
import { decodeHeaders, encodeHeaders, HeaderDecompressor, SPDY_DICTIONARY, StoredHeaderCompressor } from "./spdy.ts";

test("the dictionary is SPDY/3's: 1423 bytes, zlib dictionary id 0xe3c6a7c2", () => {
  assert.equal(SPDY_DICTIONARY.length, 1423);
  const stream = new StoredHeaderCompressor().compress(encodeHeaders({}));
  assert.equal(stream.readUInt32BE(2).toString(16), "e3c6a7c2");
});

test("stored header blocks inflate with the dictionary, each ending on a sync-flush marker", () => {
  const c = new StoredHeaderCompressor();
  const first = c.compress(encodeHeaders({ streamtype: "data", port: "80" }));
  const second = c.compress(encodeHeaders({}));
  assert.deepEqual(second.subarray(-5), Buffer.from([0, 0, 0, 0xff, 0xff]));
  const raw = inflateSync(Buffer.concat([first, second]), { dictionary: SPDY_DICTIONARY, finishFlush: constants.Z_SYNC_FLUSH });
  assert.deepEqual(decodeHeaders(raw), { streamtype: "data", port: "80" });
  assert.equal(raw.length, encodeHeaders({ streamtype: "data", port: "80" }).length + 4);
});

test("header blocks from one compressing peer decode in order through one context", async () => {
  const deflate = createDeflate({ dictionary: SPDY_DICTIONARY });
  const blocks: Buffer[] = [];
  const sent = [{ streamtype: "error", port: "80", requestid: "0" }, { streamtype: "data", port: "80", requestid: "0" }, { streamtype: "error", port: "80", requestid: "1" }];
  for (const h of sent) {
    const chunks: Buffer[] = [];
    const onData = (b: Buffer) => chunks.push(b);
    deflate.on("data", onData);
    deflate.write(encodeHeaders(h));
    await new Promise<void>((resolve) => deflate.flush(constants.Z_SYNC_FLUSH, () => setImmediate(resolve)));
    deflate.off("data", onData);
    blocks.push(Buffer.concat(chunks));
  }
  deflate.destroy();
  const d = new HeaderDecompressor();
  const got = [];
  for (const b of blocks) got.push(decodeHeaders(await d.decompress(b)));
  d.close();
  assert.deepEqual(got, sent);
});
