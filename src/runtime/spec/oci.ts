// The OCI runtime specification's config.json (v1.0–1.2), as zod schemas: the one place
// these shapes are defined. Parsed once at the boundary (parseConfig); the rest of the
// runtime works with the inferred types and never re-checks them.
import { z } from "zod";

const u32 = z.number().int().min(0).max(0xffffffff);
const i64 = z.number().int();
const stringMap = z.record(z.string());

export const userSchema = z.object({
  uid: u32,
  gid: u32,
  umask: u32.optional(),
  additionalGids: z.array(u32).optional(),
  username: z.string().optional(),
});

export const capabilitiesSchema = z.object({
  bounding: z.array(z.string()).optional(),
  effective: z.array(z.string()).optional(),
  inheritable: z.array(z.string()).optional(),
  permitted: z.array(z.string()).optional(),
  ambient: z.array(z.string()).optional(),
});

export const rlimitSchema = z.object({ type: z.string(), soft: z.number().int().min(0), hard: z.number().int().min(0) });

export const processSchema = z.object({
  terminal: z.boolean().optional(),
  consoleSize: z.object({ height: u32, width: u32 }).optional(),
  user: userSchema,
  args: z.array(z.string()).min(1, "process.args must name the program to run"),
  commandLine: z.string().optional(),
  env: z.array(z.string()).optional(),
  cwd: z.string().refine((s) => s.startsWith("/"), "process.cwd must be an absolute path"),
  capabilities: capabilitiesSchema.optional(),
  rlimits: z.array(rlimitSchema).optional(),
  noNewPrivileges: z.boolean().optional(),
  apparmorProfile: z.string().optional(),
  oomScoreAdj: z.number().int().min(-1000).max(1000).optional(),
  selinuxLabel: z.string().optional(),
  ioPriority: z.object({ class: z.string(), priority: z.number().int() }).optional(),
  scheduler: z.record(z.unknown()).optional(),
  execCPUAffinity: z.record(z.unknown()).optional(),
});

export const mountSchema = z.object({
  destination: z.string().min(1),
  source: z.string().optional(),
  type: z.string().optional(),
  options: z.array(z.string()).optional(),
  uidMappings: z.array(z.unknown()).optional(),
  gidMappings: z.array(z.unknown()).optional(),
});

export const hookSchema = z.object({
  path: z.string().refine((s) => s.startsWith("/"), "hook path must be absolute"),
  args: z.array(z.string()).optional(),
  env: z.array(z.string()).optional(),
  timeout: z.number().int().positive().optional(),
});

export const hooksSchema = z.object({
  prestart: z.array(hookSchema).optional(),
  createRuntime: z.array(hookSchema).optional(),
  createContainer: z.array(hookSchema).optional(),
  startContainer: z.array(hookSchema).optional(),
  poststart: z.array(hookSchema).optional(),
  poststop: z.array(hookSchema).optional(),
});

export const namespaceTypes = ["pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time"] as const;
export type NamespaceType = (typeof namespaceTypes)[number];

export const namespaceSchema = z.object({
  type: z.string().refine((t): t is NamespaceType => (namespaceTypes as readonly string[]).includes(t), {
    message: `unknown namespace type; expected one of ${namespaceTypes.join(", ")}`,
  }),
  path: z.string().optional(),
});

export const idMappingSchema = z.object({ containerID: u32, hostID: u32, size: u32 });

export const deviceSchema = z.object({
  type: z.enum(["c", "b", "u", "p"]),
  path: z.string().refine((s) => s.startsWith("/dev/") || s.startsWith("/"), "device path must be absolute"),
  major: i64.optional(),
  minor: i64.optional(),
  fileMode: u32.optional(),
  uid: u32.optional(),
  gid: u32.optional(),
});

export const deviceCgroupSchema = z.object({
  allow: z.boolean(),
  type: z.string().optional(),
  major: i64.nullable().optional(),
  minor: i64.nullable().optional(),
  access: z.string().optional(),
});

const throttleDevice = z.object({ major: i64, minor: i64, rate: z.number().int().min(0) });
const weightDevice = z.object({ major: i64, minor: i64, weight: z.number().int().optional(), leafWeight: z.number().int().optional() });

export const resourcesSchema = z.object({
  devices: z.array(deviceCgroupSchema).optional(),
  memory: z
    .object({
      limit: i64.optional(),
      reservation: i64.optional(),
      swap: i64.optional(),
      kernel: i64.optional(),
      kernelTCP: i64.optional(),
      swappiness: z.number().int().min(0).max(100).optional(),
      disableOOMKiller: z.boolean().optional(),
      useHierarchy: z.boolean().optional(),
      checkBeforeUpdate: z.boolean().optional(),
    })
    .optional(),
  cpu: z
    .object({
      shares: z.number().int().min(0).optional(),
      quota: i64.optional(),
      burst: z.number().int().min(0).optional(),
      period: z.number().int().min(0).optional(),
      realtimeRuntime: i64.optional(),
      realtimePeriod: z.number().int().min(0).optional(),
      cpus: z.string().optional(),
      mems: z.string().optional(),
      idle: i64.optional(),
    })
    .optional(),
  pids: z.object({ limit: i64 }).optional(),
  blockIO: z
    .object({
      weight: z.number().int().min(0).optional(),
      leafWeight: z.number().int().min(0).optional(),
      weightDevice: z.array(weightDevice).optional(),
      throttleReadBpsDevice: z.array(throttleDevice).optional(),
      throttleWriteBpsDevice: z.array(throttleDevice).optional(),
      throttleReadIOPSDevice: z.array(throttleDevice).optional(),
      throttleWriteIOPSDevice: z.array(throttleDevice).optional(),
    })
    .optional(),
  hugepageLimits: z.array(z.object({ pageSize: z.string(), limit: z.number().int().min(0) })).optional(),
  network: z
    .object({
      classID: u32.optional(),
      priorities: z.array(z.object({ name: z.string(), priority: u32 })).optional(),
    })
    .optional(),
  rdma: z.record(z.unknown()).optional(),
  unified: stringMap.optional(),
});

export const seccompSchema = z.object({
  defaultAction: z.string(),
  defaultErrnoRet: u32.optional(),
  architectures: z.array(z.string()).optional(),
  flags: z.array(z.string()).optional(),
  listenerPath: z.string().optional(),
  syscalls: z
    .array(
      z.object({
        names: z.array(z.string()).min(1),
        action: z.string(),
        errnoRet: u32.optional(),
        args: z
          .array(z.object({ index: z.number().int().min(0).max(5), value: z.number(), valueTwo: z.number().optional(), op: z.string() }))
          .optional(),
      }),
    )
    .optional(),
});

export const linuxSchema = z.object({
  namespaces: z.array(namespaceSchema).optional(),
  uidMappings: z.array(idMappingSchema).optional(),
  gidMappings: z.array(idMappingSchema).optional(),
  timeOffsets: z.record(z.unknown()).optional(),
  devices: z.array(deviceSchema).optional(),
  cgroupsPath: z.string().optional(),
  resources: resourcesSchema.optional(),
  rootfsPropagation: z.string().optional(),
  seccomp: seccompSchema.optional(),
  sysctl: stringMap.optional(),
  maskedPaths: z.array(z.string()).optional(),
  readonlyPaths: z.array(z.string()).optional(),
  mountLabel: z.string().optional(),
  intelRdt: z.record(z.unknown()).optional(),
  personality: z.object({ domain: z.string(), flags: z.array(z.string()).optional() }).optional(),
});

export const configSchema = z.object({
  ociVersion: z.string(),
  root: z.object({ path: z.string().min(1), readonly: z.boolean().optional() }).optional(),
  mounts: z.array(mountSchema).optional(),
  process: processSchema.optional(),
  hostname: z.string().optional(),
  domainname: z.string().optional(),
  hooks: hooksSchema.optional(),
  annotations: stringMap.optional(),
  linux: linuxSchema.optional(),
});

export type OciConfig = z.infer<typeof configSchema>;
export type OciProcess = z.infer<typeof processSchema>;
export type OciMount = z.infer<typeof mountSchema>;
export type OciHook = z.infer<typeof hookSchema>;
export type OciHooks = z.infer<typeof hooksSchema>;
export type LinuxResources = z.infer<typeof resourcesSchema>;
export type LinuxSeccomp = z.infer<typeof seccompSchema>;
export type LinuxDevice = z.infer<typeof deviceSchema>;
export type IdMapping = z.infer<typeof idMappingSchema>;

/** OCI state (what `state ID` prints). */
export interface OciState {
  ociVersion: string;
  id: string;
  status: "creating" | "created" | "running" | "stopped" | "paused";
  pid?: number;
  bundle: string;
  annotations?: Record<string, string>;
}
