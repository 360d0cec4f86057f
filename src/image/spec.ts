// OCI image spec (manifest, index, config) and Docker schema2 (manifest, manifest list), as
// zod schemas: the one place these shapes are defined. Registry answers, archives and store
// reads are parsed here once; the rest of src/image works with the inferred types.
import { z } from "zod";
import { GantryError } from "../common/errors.ts";

export const mediaTypes = {
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociIndex: "application/vnd.oci.image.index.v1+json",
  ociConfig: "application/vnd.oci.image.config.v1+json",
  ociLayer: "application/vnd.oci.image.layer.v1.tar",
  ociLayerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  ociLayerZstd: "application/vnd.oci.image.layer.v1.tar+zstd",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerManifestList: "application/vnd.docker.distribution.manifest.list.v2+json",
  dockerConfig: "application/vnd.docker.container.image.v1+json",
  dockerLayerGzip: "application/vnd.docker.image.rootfs.diff.tar.gzip",
  dockerForeignLayerGzip: "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
} as const;

/** Sent on every manifest request: a registry answers 404 or down-converts to schema1 when
 * one family is missing (see shared/compat/components.md). */
export const manifestAcceptTypes = [
  mediaTypes.ociManifest,
  mediaTypes.ociIndex,
  mediaTypes.dockerManifest,
  mediaTypes.dockerManifestList,
];

export const digestPattern = /^sha256:[a-f0-9]{64}$/;
export const digestSchema = z.string().regex(digestPattern, "digest must be sha256:<64 hex digits>");

export const platformSchema = z
  .object({
    architecture: z.string(),
    os: z.string(),
    "os.version": z.string().optional(),
    "os.features": z.array(z.string()).optional(),
    variant: z.string().optional(),
    features: z.array(z.string()).optional(),
  })
  .passthrough();

export const descriptorSchema = z
  .object({
    mediaType: z.string(),
    digest: digestSchema,
    size: z.number().int().min(0),
    urls: z.array(z.string()).optional(),
    annotations: z.record(z.string()).optional(),
    platform: platformSchema.optional(),
  })
  .passthrough();

export const manifestSchema = z
  .object({
    schemaVersion: z.literal(2),
    mediaType: z.string().optional(), // umoci omits it
    config: descriptorSchema,
    layers: z.array(descriptorSchema),
    annotations: z.record(z.string()).optional(),
  })
  .passthrough();

export const indexSchema = z
  .object({
    schemaVersion: z.literal(2),
    mediaType: z.string().optional(),
    manifests: z.array(descriptorSchema),
    annotations: z.record(z.string()).optional(),
  })
  .passthrough();

const nullableStrings = z.array(z.string()).nullable().optional();
const emptyObjectMap = z.record(z.object({}).passthrough()).nullable().optional();

export const containerConfigSchema = z
  .object({
    User: z.string().optional(),
    ExposedPorts: emptyObjectMap,
    Env: nullableStrings,
    Entrypoint: nullableStrings,
    Cmd: nullableStrings,
    Volumes: emptyObjectMap,
    WorkingDir: z.string().optional(),
    Labels: z.record(z.string()).nullable().optional(),
    StopSignal: z.string().optional(),
    // Dockerfile HEALTHCHECK: Test ["CMD", ...] | ["CMD-SHELL", cmd] | ["NONE"]; durations in ns.
    Healthcheck: z
      .object({
        Test: nullableStrings,
        Interval: z.number().optional(),
        Timeout: z.number().optional(),
        StartPeriod: z.number().optional(),
        StartInterval: z.number().optional(),
        Retries: z.number().optional(),
      })
      .passthrough()
      .nullable()
      .optional(),
  })
  .passthrough();

export const historySchema = z
  .object({
    created: z.string().optional(),
    created_by: z.string().optional(),
    author: z.string().optional(),
    comment: z.string().optional(),
    empty_layer: z.boolean().optional(),
  })
  .passthrough();

export const imageConfigSchema = z
  .object({
    created: z.string().optional(),
    author: z.string().optional(),
    architecture: z.string(),
    os: z.string(),
    variant: z.string().optional(),
    config: containerConfigSchema.nullable().optional(),
    rootfs: z.object({ type: z.literal("layers"), diff_ids: z.array(digestSchema) }),
    history: z.array(historySchema).optional(),
  })
  .passthrough();

export type Platform = z.infer<typeof platformSchema>;
export type Descriptor = z.infer<typeof descriptorSchema>;
export type Manifest = z.infer<typeof manifestSchema>;
export type Index = z.infer<typeof indexSchema>;
export type ContainerConfig = z.infer<typeof containerConfigSchema>;
export type ImageConfig = z.infer<typeof imageConfigSchema>;
export type HistoryEntry = z.infer<typeof historySchema>;

export type ParsedManifest =
  | { kind: "manifest"; mediaType: string; manifest: Manifest }
  | { kind: "index"; mediaType: string; index: Index };

function parseWith<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const first = r.error.issues[0];
  const where = first && first.path.length ? first.path.join(".") : "(root)";
  throw new GantryError("INVALID_SPEC", `invalid ${what}: ${where}: ${first?.message ?? "malformed"}`, { path: where });
}

function parseJsonBytes(bytes: Uint8Array | string, what: string): unknown {
  try {
    return JSON.parse(typeof bytes === "string" ? bytes : Buffer.from(bytes).toString("utf8"));
  } catch (err) {
    throw new GantryError("INVALID_SPEC", `invalid ${what}: not JSON`, { cause: err });
  }
}

const indexTypes = new Set<string>([mediaTypes.ociIndex, mediaTypes.dockerManifestList]);
const manifestTypes = new Set<string>([mediaTypes.ociManifest, mediaTypes.dockerManifest]);

/** Parses a manifest or index. The media type comes from the JSON, else the Content-Type
 * the registry sent, else the shape (`manifests` means an index). Schema1 is refused. */
export function parseManifest(bytes: Uint8Array | string, contentType?: string): ParsedManifest {
  const json = parseJsonBytes(bytes, "manifest") as Record<string, unknown> | null;
  if (json === null || typeof json !== "object") throw new GantryError("INVALID_SPEC", "invalid manifest: not an object");
  const declared = typeof json.mediaType === "string" ? json.mediaType : undefined;
  const header = contentType?.split(";")[0]?.trim();
  let mediaType = declared ?? (header && (indexTypes.has(header) || manifestTypes.has(header)) ? header : undefined);
  if (json.schemaVersion === 1 || mediaType?.startsWith("application/vnd.docker.distribution.manifest.v1")) {
    throw new GantryError("INVALID_SPEC", "Docker schema1 manifests are not supported", {
      hint: "the registry down-converted or holds a legacy image; push it again with a current client",
    });
  }
  if (mediaType === undefined) mediaType = Array.isArray(json.manifests) ? mediaTypes.ociIndex : mediaTypes.ociManifest;
  if (indexTypes.has(mediaType)) return { kind: "index", mediaType, index: parseWith(indexSchema, json, "image index") };
  if (manifestTypes.has(mediaType)) {
    return { kind: "manifest", mediaType, manifest: parseWith(manifestSchema, json, "image manifest") };
  }
  throw new GantryError("INVALID_SPEC", `unsupported manifest media type ${mediaType}`);
}

export function parseImageConfig(bytes: Uint8Array | string): ImageConfig {
  return parseWith(imageConfigSchema, parseJsonBytes(bytes, "image config"), "image config");
}

export function parseIndex(bytes: Uint8Array | string): Index {
  return parseWith(indexSchema, parseJsonBytes(bytes, "image index"), "image index");
}

export type Compression = "none" | "gzip" | "zstd";

/** The compression a layer media type declares; unknown types are refused. */
export function layerCompression(mediaType: string): Compression {
  const base = mediaType.replace(".nondistributable", "");
  if (base === mediaTypes.ociLayer || base === "application/vnd.docker.image.rootfs.diff.tar") return "none";
  if (base === mediaTypes.ociLayerGzip || base === mediaTypes.dockerLayerGzip || base === mediaTypes.dockerForeignLayerGzip) {
    return "gzip";
  }
  if (base === mediaTypes.ociLayerZstd) return "zstd";
  throw new GantryError("INVALID_SPEC", `unsupported layer media type ${mediaType}`);
}
