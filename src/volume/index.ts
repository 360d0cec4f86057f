// The volume library's public surface (see docs/ARCHITECTURE.md "Volumes").
export { openVolumes, Volumes, toDockerVolume, ANONYMOUS_LABEL } from "./volumes.ts";
export type { VolumeRecord, VolumeCreateOptions, ResolveMountsOptions } from "./volumes.ts";
export {
  parseVolumeFlag,
  parseMountFlag,
  parseTmpfsFlag,
  parseSize,
  checkDuplicateTargets,
} from "./mount-spec.ts";
export type {
  MountRequest,
  BindMountRequest,
  VolumeMountRequest,
  TmpfsMountRequest,
  OciMountEntry,
  Propagation,
} from "./mount-spec.ts";
export { copyUp, resolveInRoot } from "./copy-up.ts";
export { fromDockerMountFields, fromDockerVolumeCreate, toDockerMount } from "./docker-mounts.ts";
export type { DockerMount, DockerMountFields } from "./docker-mounts.ts";
