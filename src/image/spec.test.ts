import { test } from "node:test";
import assert from "node:assert/strict";
import { chainIds, sha256 } from "./digest.ts";
import { familiarName, formatReference, parseReference } from "./reference.ts";
import { layerCompression, mediaTypes, parseImageConfig, parseManifest } from "./spec.ts";

const d = (c: string) => `sha256:${c.repeat(64)}`;

test("a Docker schema2 manifest and an umoci manifest without mediaType both parse", () => {
  const docker = parseManifest(
    JSON.stringify({ schemaVersion: 2, mediaType: mediaTypes.dockerManifest, config: { mediaType: mediaTypes.dockerConfig, digest: d("a"), size: 1 }, layers: [] }),
  );
  assert.equal(docker.kind, "manifest");
  assert.equal(docker.mediaType, mediaTypes.dockerManifest);
  const umoci = parseManifest(JSON.stringify({ schemaVersion: 2, config: { mediaType: mediaTypes.ociConfig, digest: d("b"), size: 2 }, layers: [] }));
  assert.equal(umoci.mediaType, mediaTypes.ociManifest);
  const index = parseManifest(JSON.stringify({ schemaVersion: 2, manifests: [] }), mediaTypes.dockerManifestList);
  assert.equal(index.kind, "index");
  assert.equal(index.mediaType, mediaTypes.dockerManifestList);
});

test("schema1, bad digests and missing fields are refused with the JSON path", () => {
  assert.throws(() => parseManifest(JSON.stringify({ schemaVersion: 1, fsLayers: [] })), /schema1/);
  assert.throws(
    () => parseManifest(JSON.stringify({ schemaVersion: 2, config: { mediaType: "x", digest: "md5:00", size: 1 }, layers: [] })),
    /config\.digest/,
  );
  assert.throws(() => parseImageConfig("{}"), /invalid image config/);
  assert.throws(() => parseManifest("not json"), /not JSON/);
});

test("layer media types map to compressions", () => {
  assert.equal(layerCompression(mediaTypes.dockerLayerGzip), "gzip");
  assert.equal(layerCompression(mediaTypes.ociLayer), "none");
  assert.equal(layerCompression("application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"), "zstd");
  assert.throws(() => layerCompression("text/plain"), /unsupported layer media type/);
});

test("chain IDs follow the OCI definition", () => {
  const [a, b] = [d("1"), d("2")] as [`sha256:${string}`, `sha256:${string}`];
  const chain = chainIds([a, b]);
  assert.equal(chain[0], a);
  assert.equal(chain[1], sha256(`${a} ${b}`));
});

test("references normalise like docker's", () => {
  assert.equal(formatReference(parseReference("busybox")), "docker.io/library/busybox:latest");
  assert.equal(formatReference(parseReference("127.0.0.1:5000/a/b:v1")), "127.0.0.1:5000/a/b:v1");
  assert.equal(formatReference(parseReference("localhost/x")), "localhost/x:latest");
  const pinned = parseReference(`quay.io/x/y@${d("c")}`);
  assert.equal(pinned.tag, undefined);
  assert.equal(pinned.digest, d("c"));
  assert.equal(familiarName("docker.io/library/busybox:latest"), "busybox:latest");
  assert.throws(() => parseReference("Upper/Case"), /invalid repository name/);
  assert.throws(() => parseReference("x@sha256:zz"), /not sha256/);
});
