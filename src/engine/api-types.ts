// The Docker Engine API shapes the engine reads and writes (API 1.41–1.50), only the fields
// Gantry uses. Everything arrives as untrusted JSON; host-config.ts checks it field by field.
import type { DockerMount } from "../volume/index.ts";
import type { HealthConfig } from "./health/config.ts";

/** HostConfig.Mounts items: the volume library reads them (fromDockerMountFields). */
export type { DockerMount };

export interface DockerDevice {
  PathOnHost: string;
  PathInContainer?: string;
  CgroupPermissions?: string;
}

export interface DockerUlimit {
  Name: string;
  Soft: number;
  Hard: number;
}

export interface RestartPolicy {
  Name?: "" | "no" | "always" | "unless-stopped" | "on-failure";
  MaximumRetryCount?: number;
}

export interface HostConfig {
  Binds?: string[] | null;
  NetworkMode?: string;
  PortBindings?: Record<string, Array<{ HostIp?: string; HostPort?: string }> | null> | null;
  PublishAllPorts?: boolean;
  RestartPolicy?: RestartPolicy;
  AutoRemove?: boolean;
  CapAdd?: string[] | null;
  CapDrop?: string[] | null;
  Privileged?: boolean;
  ReadonlyRootfs?: boolean;
  SecurityOpt?: string[] | null;
  PidMode?: string;
  IpcMode?: string;
  UTSMode?: string;
  /** "" / "private" (the daemon's default), "host", or Podman's "auto[:size=N]" */
  UsernsMode?: string;
  Ulimits?: DockerUlimit[] | null;
  Init?: boolean | null;
  Mounts?: DockerMount[] | null;
  Tmpfs?: Record<string, string> | null;
  Devices?: DockerDevice[] | null;
  ConsoleSize?: [number, number];
  OomScoreAdj?: number;
  ShmSize?: number;
  Sysctls?: Record<string, string> | null;
  /** --group-add: supplementary groups, numbers or names from the image's /etc/group. */
  GroupAdd?: string[] | null;
  LogConfig?: { Type?: string; Config?: Record<string, string> };
  /** --cgroup-parent: the container's cgroup is CgroupParent/<id> (cgroupfs layout; a relative
   * parent is taken from the hierarchy roots, as the engine has no cgroup of its own to nest in). */
  CgroupParent?: string;
  Runtime?: string;
  /** --link NAME:ALIAS; kept as dockerd shows it ("/child:/parent/alias"). */
  Links?: string[] | null;
  /** --device-cgroup-rule: "c 42:* rmw" lines for the devices cgroup. */
  DeviceCgroupRules?: string[] | null;
  // Resources
  CpuShares?: number;
  NanoCpus?: number;
  CpuPeriod?: number;
  CpuQuota?: number;
  CpuRealtimePeriod?: number;
  CpuRealtimeRuntime?: number;
  CpusetCpus?: string;
  CpusetMems?: string;
  Memory?: number;
  MemorySwap?: number;
  MemorySwappiness?: number | null;
  MemoryReservation?: number;
  KernelMemory?: number;
  OomKillDisable?: boolean | null;
  PidsLimit?: number | null;
  BlkioWeight?: number;
  [key: string]: unknown;
}

export interface ContainerConfig {
  Hostname?: string;
  Domainname?: string;
  User?: string;
  AttachStdin?: boolean;
  AttachStdout?: boolean;
  AttachStderr?: boolean;
  ExposedPorts?: Record<string, object> | null;
  Tty?: boolean;
  OpenStdin?: boolean;
  StdinOnce?: boolean;
  Env?: string[] | null;
  Cmd?: string[] | null;
  Entrypoint?: string[] | null;
  Image?: string;
  Volumes?: Record<string, object> | null;
  WorkingDir?: string;
  Labels?: Record<string, string> | null;
  StopSignal?: string;
  StopTimeout?: number | null;
  /** Test ["CMD", ...] | ["CMD-SHELL", cmd] | ["NONE"]; durations in ns (health/config.ts). */
  Healthcheck?: HealthConfig | null;
  /** --mac-address before API 1.44 (since then in the endpoint's config). */
  MacAddress?: string;
  [key: string]: unknown;
}

export interface CreateBody extends ContainerConfig {
  HostConfig?: HostConfig;
  NetworkingConfig?: unknown;
}
