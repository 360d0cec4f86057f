// Pull and push against a real registry (Debian's docker-registry on loopback): byte-for-byte
// round trips, monolithic and chunked uploads, tampered blobs, manifest lists, basic auth
// with htpasswd, and the bearer-token flow with a token server written here.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { ImageStore } from "../../src/image/store.ts";
import { pullImage } from "../../src/image/pull.ts";
import { pushImage } from "../../src/image/push.ts";
import { resolveImage } from "../../src/image/images.ts";
import { listSnapshots } from "../../src/image/snapshots.ts";
import { collectGarbage } from "../../src/image/gc.ts";
import { RegistryClient } from "../../src/image/registry/client.ts";
import { saveCredentials } from "../../src/image/registry/auth.ts";
import { sha256, type Digest } from "../../src/image/digest.ts";
import { mediaTypes } from "../../src/image/spec.ts";
import { GantryError } from "../../src/common/errors.ts";
import { ensureCa } from "../../src/common/certificates.ts";
import { registryBlobPath, startRegistry, type TestRegistry } from "./_registry.ts";
import { makeImage, randomFile } from "./_images.ts";

const work = mkdtempSync(join(tmpdir(), "gantry-registry-test-"));
let storeN = 0;
const newStore = () => new ImageStore(join(work, `store-${storeN++}`));
const isCode = (code: string) => (e: unknown) => e instanceof GantryError && e.code === code;

after(() => rmSync(work, { recursive: true, force: true }));

describe("registry without auth", () => {
  let reg: TestRegistry;
  before(async () => {
    reg = await startRegistry();
  });
  after(async () => reg?.stop());

  test("push then pull round-trips an image byte for byte (monolithic and chunked uploads)", async () => {
    const src = newStore();
    await makeImage(src, "local/app:v1", [[randomFile("base/data", 300_000)], [randomFile("app/bin", 50_000), { name: "app/link", type: "symlink", linkname: "bin" }]]);
    const progress: string[] = [];
    const pushed = await pushImage(src, "local/app:v1", `${reg.host}/test/app:v1`, { chunkSize: 64 * 1024, onProgress: (p) => progress.push(p.status) });
    assert.equal(pushed.uploaded, 3);
    assert.ok(progress.includes("uploading"));
    // A second push finds every blob there (HEAD) and uploads nothing.
    const again = await pushImage(src, "local/app:v1", `${reg.host}/test/app:v1`, { chunkSize: 0 });
    assert.equal(again.uploaded, 0);
    assert.equal(again.skipped, 3);

    const dst = newStore();
    const pulled = await pullImage(dst, `${reg.host}/test/app:v1`);
    const a = resolveImage(src, "local/app:v1");
    assert.equal(pulled.manifestDigest, a.manifestDigest);
    for (const d of [a.manifestDigest, a.manifest.config.digest, ...a.manifest.layers.map((l) => l.digest)] as Digest[]) {
      assert.deepEqual(dst.readBlob(d), src.readBlob(d), `blob ${d}`);
    }
    assert.equal(listSnapshots(dst).length, 2);
    const b = resolveImage(dst, `${reg.host}/test/app:v1`);
    assert.deepEqual(b.repoDigests, [`${reg.host}/test/app@${a.manifestDigest}`]);
    // By digest too, and pulling again is a no-op for the layers.
    const byDigest = await pullImage(dst, `${reg.host}/test/app@${a.manifestDigest}`);
    assert.equal(byDigest.layersExisting, 2);
  });

  test("concurrent pulls of one image into one store all succeed and share its snapshots", async () => {
    const src = newStore();
    await makeImage(src, "local/conc:v1", [[randomFile("a", 200_000)], [randomFile("b", 200_000)], [randomFile("c", 200_000)]]);
    const pushed = await pushImage(src, "local/conc:v1", `${reg.host}/test/conc:v1`);
    const dst = newStore();
    const results = await Promise.all([1, 2, 3, 4].map(() => pullImage(dst, `${reg.host}/test/conc:v1`)));
    assert.ok(results.every((r) => r.manifestDigest === pushed.digest));
    assert.equal(listSnapshots(dst).length, 3);
    assert.deepEqual(readdirSync(join(dst.root, "ingest")), []);
    assert.deepEqual(readdirSync(join(dst.root, "snapshots")).filter((n) => n.startsWith(".tmp")), []);
  });

  test("garbage collection during a pull keeps what the pull is writing", async () => {
    const src = newStore();
    await makeImage(src, "local/gc:v1", [[randomFile("a", 100_000)], [randomFile("b", 100_000)]]);
    await pushImage(src, "local/gc:v1", `${reg.host}/test/gc:v1`);
    const dst = newStore();
    let collected = 0;
    const r = await pullImage(dst, `${reg.host}/test/gc:v1`, {
      concurrency: 1,
      onProgress: (p) => {
        if (p.status === "done") collected += collectGarbage(dst).blobsRemoved;
      },
    });
    assert.equal(collected, 0);
    const img = resolveImage(dst, `${reg.host}/test/gc:v1`);
    assert.equal(img.manifestDigest, r.manifestDigest);
    for (const l of img.manifest.layers) assert.ok(dst.hasBlob(l.digest as Digest));
    assert.equal(collectGarbage(dst).blobsRemoved, 0);
  });

  test("transient blob failures (503, a stall, a cut-off) are retried and resumed with Range", async () => {
    const src = newStore();
    await makeImage(src, "local/flaky:v1", [[randomFile("a", 50_000)]]);
    await pushImage(src, "local/flaky:v1", `${reg.host}/test/flaky:v1`);
    const layer = resolveImage(src, "local/flaky:v1").manifest.layers[0]?.digest;
    // A proxy in front of the real registry that fails the first blob GET, stalls the second
    // and cuts the third off half-way; the fourth must ask for the rest with a Range.
    let blobGets = 0;
    const ranges: string[] = [];
    const proxy = http.createServer((req, res) => {
      const isBlob = req.method === "GET" && req.url?.includes(`/blobs/${layer}`);
      if (isBlob) ranges.push(String(req.headers.range ?? ""));
      if (isBlob && ++blobGets <= 2) {
        if (blobGets === 1) res.writeHead(503).end();
        return; // the second one: never answered
      }
      if (isBlob && blobGets === 3) {
        const up = http.get({ host: "127.0.0.1", port: Number(reg.host.split(":")[1]), path: req.url, headers: req.headers }, (r) => {
          res.writeHead(200, { "content-length": r.headers["content-length"] ?? "" });
          let sent = 0;
          r.on("data", (c: Buffer) => {
            if (sent >= 20_000) return;
            res.write(c.subarray(0, 20_000 - sent));
            sent += Math.min(c.length, 20_000 - sent);
            if (sent >= 20_000) setTimeout(() => res.destroy(), 20);
          });
        });
        up.on("error", () => res.destroy());
        return;
      }
      const up = http.request({ host: "127.0.0.1", port: Number(reg.host.split(":")[1]), path: req.url, method: req.method, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      req.pipe(up);
    });
    await new Promise<void>((r) => proxy.listen(0, "127.0.0.1", r));
    process.env.GANTRY_REGISTRY_TIMEOUT_MS = "500";
    try {
      const port = (proxy.address() as AddressInfo).port;
      const r = await pullImage(newStore(), `127.0.0.1:${port}/test/flaky:v1`);
      assert.equal(r.manifestDigest, resolveImage(src, "local/flaky:v1").manifestDigest);
      assert.equal(blobGets, 4);
      assert.deepEqual(ranges.slice(0, 3), ["", "", ""]);
      assert.equal(ranges[3], "bytes=20000-", "resumed where the cut-off left it");
    } finally {
      delete process.env.GANTRY_REGISTRY_TIMEOUT_MS;
      proxy.closeAllConnections();
      await new Promise((r) => proxy.close(r));
    }
  });

  test("two pulled images sharing a base layer download and store it once", async () => {
    const src = newStore();
    const baseLayer = [randomFile("base/lib", 100_000)];
    await makeImage(src, "local/one:v1", [baseLayer, [randomFile("one", 1000)]]);
    await makeImage(src, "local/two:v1", [baseLayer, [randomFile("two", 1000)]]);
    await pushImage(src, "local/one:v1", `${reg.host}/share/one:v1`);
    await pushImage(src, "local/two:v1", `${reg.host}/share/two:v1`);
    const dst = newStore();
    assert.equal((await pullImage(dst, `${reg.host}/share/one:v1`)).layersExisting, 0);
    assert.equal((await pullImage(dst, `${reg.host}/share/two:v1`)).layersExisting, 1, "the base layer is already there");
    assert.equal(listSnapshots(dst).length, 3, "base + one + two");
  });

  test("a tampered blob in the registry is rejected and nothing is stored for it", async () => {
    const src = newStore();
    const img = await makeImage(src, "local/tamper:v1", [[randomFile("f", 20_000)]]);
    await pushImage(src, "local/tamper:v1", `${reg.host}/test/tamper:v1`);
    const layer = resolveImage(src, "local/tamper:v1").manifest.layers[0]!.digest as Digest;
    const data = registryBlobPath(reg, layer);
    const bytes = readFileSync(data);
    bytes[bytes.length - 20] = (bytes[bytes.length - 20] ?? 0) ^ 0xff;
    writeFileSync(data, bytes);
    const dst = newStore();
    await assert.rejects(pullImage(dst, `${reg.host}/test/tamper:v1`), isCode("DIGEST_MISMATCH"));
    assert.ok(!dst.hasBlob(layer));
    assert.deepEqual(dst.readRefs(), {});
    assert.ok(img.manifestDigest);
  });

  test("a manifest list selects linux/amd64 by default, another platform on request", async () => {
    const src = newStore();
    const amd = await makeImage(src, "local/multi:amd64", [[{ name: "arch", content: "amd64" }]], { architecture: "amd64" });
    const arm = await makeImage(src, "local/multi:arm64", [[{ name: "arch", content: "arm64" }]], { architecture: "arm64" });
    await pushImage(src, "local/multi:amd64", `${reg.host}/test/multi@${amd.manifestDigest}`);
    await pushImage(src, "local/multi:arm64", `${reg.host}/test/multi@${arm.manifestDigest}`);
    const entry = (d: Digest, architecture: string, variant?: string) => ({
      mediaType: mediaTypes.ociManifest,
      digest: d,
      size: src.blobSize(d),
      platform: { os: "linux", architecture, ...(variant ? { variant } : {}) },
    });
    for (const [type, tag] of [[mediaTypes.dockerManifestList, "list"], [mediaTypes.ociIndex, "index"]] as const) {
      const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: type, manifests: [entry(arm.manifestDigest, "arm64", "v8"), entry(amd.manifestDigest, "amd64")] }));
      await new RegistryClient({ registry: reg.host, repository: "test/multi" }, { push: true }).putManifest(tag, index, type);
      const dst = newStore();
      const r = await pullImage(dst, `${reg.host}/test/multi:${tag}`, { platform: { os: "linux", architecture: "amd64" } });
      assert.equal(r.manifestDigest, amd.manifestDigest);
      assert.equal(r.indexDigest, sha256(index));
      const r2 = await pullImage(dst, `${reg.host}/test/multi:${tag}`, { platform: { os: "linux", architecture: "arm64" } });
      assert.equal(r2.manifestDigest, arm.manifestDigest);
      await assert.rejects(pullImage(dst, `${reg.host}/test/multi:${tag}`, { platform: { os: "linux", architecture: "s390x" } }), /no image for linux\/s390x.*linux\/arm64\/v8, linux\/amd64/);
    }
  });

  test("an unknown tag is NOT_FOUND with the registry's own code", async () => {
    await assert.rejects(pullImage(newStore(), `${reg.host}/test/nothing:here`), (e: unknown) => isCode("NOT_FOUND")(e) && /MANIFEST_UNKNOWN|NAME_UNKNOWN/.test((e as Error).message));
  });
});

describe("registry with htpasswd basic auth", () => {
  let reg: TestRegistry;
  before(async () => {
    reg = await startRegistry({ basic: { alice: "s3cret" } });
  });
  after(async () => {
    delete process.env.GANTRY_AUTH_FILE;
    await reg?.stop();
  });

  test("anonymous and wrong passwords are refused; stored credentials push and pull", async () => {
    const src = newStore();
    await makeImage(src, "local/basic:v1", [[randomFile("f", 1000)]]);
    await assert.rejects(pushImage(src, "local/basic:v1", `${reg.host}/secure/basic:v1`), isCode("UNAUTHORIZED"));
    await assert.rejects(pushImage(src, "local/basic:v1", `${reg.host}/secure/basic:v1`, { credentials: { username: "alice", password: "wrong" } }), isCode("UNAUTHORIZED"));
    process.env.GANTRY_AUTH_FILE = join(work, "auth-basic.json");
    saveCredentials(reg.host, { username: "alice", password: "s3cret" });
    assert.equal((await import("node:fs")).statSync(process.env.GANTRY_AUTH_FILE).mode & 0o777, 0o600);
    await pushImage(src, "local/basic:v1", `${reg.host}/secure/basic:v1`);
    const r = await pullImage(newStore(), `${reg.host}/secure/basic:v1`);
    assert.equal(r.manifestDigest, resolveImage(src, "local/basic:v1").manifestDigest);
  });
});

describe("registry with bearer tokens", () => {
  let reg: TestRegistry;
  before(async () => {
    reg = await startRegistry({ token: { bob: "hunter2" } });
  });
  after(async () => reg?.stop());

  test("the client follows the WWW-Authenticate challenge to the token server", async () => {
    const src = newStore();
    await makeImage(src, "local/token:v1", [[randomFile("f", 5000)], [randomFile("g", 5000)]]);
    const credentials = { username: "bob", password: "hunter2" };
    await assert.rejects(pushImage(src, "local/token:v1", `${reg.host}/tok/app:v1`, { credentials: { username: "bob", password: "x" } }), isCode("UNAUTHORIZED"));
    const pushed = await pushImage(src, "local/token:v1", `${reg.host}/tok/app:v1`, { credentials });
    assert.equal(pushed.uploaded, 3);
    const r = await pullImage(newStore(), `${reg.host}/tok/app:v1`, { credentials });
    assert.equal(r.manifestDigest, pushed.digest);
    assert.ok((reg.token?.issued ?? 0) >= 2);
    // Cross-repository mount: pushing to another repository links the blobs instead of uploading.
    const mounted = await pushImage(src, "local/token:v1", `${reg.host}/tok/other:v1`, { credentials });
    assert.equal(mounted.uploaded, 0);
    assert.equal(mounted.skipped, 3);
  });
});

describe("registry over HTTPS", () => {
  let reg: TestRegistry;
  before(async () => {
    reg = await startRegistry({ tls: true });
  });
  after(async () => {
    delete process.env.SSL_CERT_FILE;
    delete process.env.GANTRY_EXTRA_CA_CERTS;
    delete process.env.NODE_EXTRA_CA_CERTS;
    await reg?.stop();
  });

  test("TLS is verified against the CA bundle (SSL_CERT_FILE, else the system's)", async () => {
    const src = newStore();
    await makeImage(src, "local/tls:v1", [[randomFile("f", 3000)]]);
    // Without our CA the certificate is unknown: HTTPS fails and the loopback fallback to
    // plain HTTP meets a TLS-only server, so the push fails.
    const port = reg.host.split(":")[1];
    await assert.rejects(pushImage(src, "local/tls:v1", `localhost:${port}/tls/app:v1`), isCode("REGISTRY_ERROR"));
    process.env.SSL_CERT_FILE = reg.caFile;
    const pushed = await pushImage(src, "local/tls:v1", `${reg.host}/tls/app:v1`);
    const r = await pullImage(newStore(), `${reg.host}/tls/app:v1`);
    assert.equal(r.manifestDigest, pushed.digest);
  });

  test("the extra CA file is trusted besides the bundle: NODE_EXTRA_CA_CERTS, or GANTRY_EXTRA_CA_CERTS as gantry agent's launcher hands it on", async () => {
    delete process.env.SSL_CERT_FILE;
    const src = newStore();
    await makeImage(src, "local/extra:v1", [[randomFile("f", 2000)]]);
    ensureCa(join(work, "other-ca"), "gantry-test-other-ca");
    // A CA that did not sign the registry's certificate: refused.
    process.env.GANTRY_EXTRA_CA_CERTS = join(work, "other-ca", "ca.crt");
    await assert.rejects(pushImage(src, "local/extra:v1", `localhost:${reg.host.split(":")[1]}/extra/app:v1`), isCode("REGISTRY_ERROR"));
    // The registry's CA, only in the handed-on file.
    process.env.GANTRY_EXTRA_CA_CERTS = reg.caFile;
    const pushed = await pushImage(src, "local/extra:v1", `${reg.host}/extra/app:v1`);
    assert.equal((await pullImage(newStore(), `${reg.host}/extra/app:v1`)).manifestDigest, pushed.digest);
    // node's own variable, for a process whose launcher left it set (node drops it once `ca` is given).
    delete process.env.GANTRY_EXTRA_CA_CERTS;
    process.env.NODE_EXTRA_CA_CERTS = reg.caFile;
    assert.equal((await pullImage(newStore(), `${reg.host}/extra/app:v1`)).manifestDigest, pushed.digest);
    delete process.env.NODE_EXTRA_CA_CERTS;
  });
});
