// The image layer's public API, for the engine and the CLI (Deno's mod.ts convention): what
// is exported here is what other layers may rely on.
export { ImageStore, defaultRoot, type RefRecord } from "./store.ts";
export { parseReference, formatReference, familiarName, repositoryName, type ImageReference } from "./reference.ts";
export { resolveImage, listImages, tagImage, removeImage, loadManifest, type LocalImage, type ImageSummary, type RemoveResult } from "./images.ts";
export { pullImage, selectPlatform, defaultPlatform, type PullOptions, type PullProgress, type PullResult } from "./pull.ts";
export { pushImage, type PushOptions, type PushProgress, type PushResult } from "./push.ts";
export { prepareRootfs, type PreparedRootfs } from "./rootfs.ts";
export {
  mountRootfs,
  unmountRootfs,
  removeContainerRootfs,
  discardContainerRootfs,
  readContainerRootfs,
  containerRootfs,
  overlayMountData,
  readUnmountedRootfsFile,
  ensureSnapshots,
  overlayOptions,
  listContainerRootfs,
  openTarStream,
  type ContainerRootfsRecord,
} from "./snapshots.ts";
export { unpackLayer } from "./unpack.ts";
export { collectGarbage, type GcResult } from "./gc.ts";
export { saveImages, loadArchive, type ArchiveFormat, type LoadResult } from "./archive.ts";
export { importRootfs, applyChanges, type ImportOptions } from "./import.ts";
export { commitContainer, exportFilesystem, type CommitContainerOptions } from "./container-commit.ts";
export { imageRuntimeConfig, parseExposedPort, resolveUser, type RuntimeConfigPieces, type RunOverrides, type ResolvedUser, type ExposedPort } from "./runtime-config.ts";
export { lookupCredentials, saveCredentials, removeCredentials, type Credentials } from "./registry/auth.ts";
export { RegistryClient, type RegistryOptions } from "./registry/client.ts";
export { mediaTypes, parseManifest, parseImageConfig, type ImageConfig, type Manifest, type Index, type Descriptor, type Platform, type HistoryEntry, type ContainerConfig } from "./spec.ts";
export { sha256, chainIds, hexOf, type Digest } from "./digest.ts";
export { buildImage, RunStepFailed, parseDockerfile, type BuildOptions, type BuildResult } from "./build/mod.ts";
