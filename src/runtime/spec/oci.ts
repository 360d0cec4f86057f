// The OCI runtime specification's config.json (v1.0–1.2), as TypeBox schemas: the one
// place these shapes are defined. Checked once at the boundary (parse.ts); the rest of the
// runtime works with the static types and never re-checks them. TypeBox rather than zod
// because its schemas are plain objects: building zod's for this spec cost the runtime CLI
// ~15 ms per container start. `errorMessage` is our own keyword: parse.ts shows it instead
// of TypeBox's generic text where a generic text would not help the user.
import { Type as T, type Static, type TSchema } from "@sinclair/typebox";

const opt = <S extends TSchema>(s: S) => T.Optional(s);
const u32 = T.Integer({ minimum: 0, maximum: 0xffffffff });
const i64 = T.Integer();
const nonNegative = T.Integer({ minimum: 0 });
const stringMap = T.Record(T.String(), T.String());
const anyMap = T.Record(T.String(), T.Unknown());
const strings = T.Array(T.String());
const absolutePath = (errorMessage: string) => T.String({ pattern: "^/", errorMessage });

export const userSchema = T.Object({
  uid: u32,
  gid: u32,
  umask: opt(u32),
  additionalGids: opt(T.Array(u32)),
  username: opt(T.String()),
});

export const capabilitiesSchema = T.Object({
  bounding: opt(strings),
  effective: opt(strings),
  inheritable: opt(strings),
  permitted: opt(strings),
  ambient: opt(strings),
});

export const rlimitSchema = T.Object({ type: T.String(), soft: nonNegative, hard: nonNegative });

export const processSchema = T.Object({
  terminal: opt(T.Boolean()),
  consoleSize: opt(T.Object({ height: u32, width: u32 })),
  user: userSchema,
  args: T.Array(T.String(), { minItems: 1, errorMessage: "process.args must name the program to run" }),
  commandLine: opt(T.String()),
  env: opt(strings),
  cwd: absolutePath("process.cwd must be an absolute path"),
  capabilities: opt(capabilitiesSchema),
  rlimits: opt(T.Array(rlimitSchema)),
  noNewPrivileges: opt(T.Boolean()),
  apparmorProfile: opt(T.String()),
  oomScoreAdj: opt(T.Integer({ minimum: -1000, maximum: 1000 })),
  selinuxLabel: opt(T.String()),
  ioPriority: opt(T.Object({ class: T.String(), priority: T.Integer() })),
  scheduler: opt(anyMap),
  execCPUAffinity: opt(anyMap),
});

export const mountSchema = T.Object({
  destination: T.String({ minLength: 1 }),
  source: opt(T.String()),
  type: opt(T.String()),
  options: opt(strings),
  uidMappings: opt(T.Array(T.Unknown())),
  gidMappings: opt(T.Array(T.Unknown())),
});

export const hookSchema = T.Object({
  path: absolutePath("hook path must be absolute"),
  args: opt(strings),
  env: opt(strings),
  timeout: opt(T.Integer({ exclusiveMinimum: 0 })),
});

const hookList = opt(T.Array(hookSchema));
export const hooksSchema = T.Object({
  prestart: hookList,
  createRuntime: hookList,
  createContainer: hookList,
  startContainer: hookList,
  poststart: hookList,
  poststop: hookList,
});

export const namespaceTypes = ["pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time"] as const;
export type NamespaceType = (typeof namespaceTypes)[number];

export const namespaceSchema = T.Object({
  type: T.Union(
    namespaceTypes.map((t) => T.Literal(t)),
    { errorMessage: `unknown namespace type; expected one of ${namespaceTypes.join(", ")}` },
  ),
  path: opt(T.String()),
});

export const idMappingSchema = T.Object({ containerID: u32, hostID: u32, size: u32 });

export const deviceSchema = T.Object({
  type: T.Union([T.Literal("c"), T.Literal("b"), T.Literal("u"), T.Literal("p")], { errorMessage: "device type must be one of c, b, u, p" }),
  path: absolutePath("device path must be absolute"),
  major: opt(i64),
  minor: opt(i64),
  fileMode: opt(u32),
  uid: opt(u32),
  gid: opt(u32),
});

const nullableInt = opt(T.Union([i64, T.Null()]));
export const deviceCgroupSchema = T.Object({
  allow: T.Boolean(),
  type: opt(T.String()),
  major: nullableInt,
  minor: nullableInt,
  access: opt(T.String()),
});

const throttleDevice = T.Object({ major: i64, minor: i64, rate: nonNegative });
const throttleDevices = opt(T.Array(throttleDevice));
const weightDevice = T.Object({ major: i64, minor: i64, weight: opt(T.Integer()), leafWeight: opt(T.Integer()) });

export const resourcesSchema = T.Object({
  devices: opt(T.Array(deviceCgroupSchema)),
  memory: opt(
    T.Object({
      limit: opt(i64),
      reservation: opt(i64),
      swap: opt(i64),
      kernel: opt(i64),
      kernelTCP: opt(i64),
      swappiness: opt(T.Integer({ minimum: 0, maximum: 100 })),
      disableOOMKiller: opt(T.Boolean()),
      useHierarchy: opt(T.Boolean()),
      checkBeforeUpdate: opt(T.Boolean()),
    }),
  ),
  cpu: opt(
    T.Object({
      shares: opt(nonNegative),
      quota: opt(i64),
      burst: opt(nonNegative),
      period: opt(nonNegative),
      realtimeRuntime: opt(i64),
      realtimePeriod: opt(nonNegative),
      cpus: opt(T.String()),
      mems: opt(T.String()),
      idle: opt(i64),
    }),
  ),
  pids: opt(T.Object({ limit: i64 })),
  blockIO: opt(
    T.Object({
      weight: opt(nonNegative),
      leafWeight: opt(nonNegative),
      weightDevice: opt(T.Array(weightDevice)),
      throttleReadBpsDevice: throttleDevices,
      throttleWriteBpsDevice: throttleDevices,
      throttleReadIOPSDevice: throttleDevices,
      throttleWriteIOPSDevice: throttleDevices,
    }),
  ),
  hugepageLimits: opt(T.Array(T.Object({ pageSize: T.String(), limit: nonNegative }))),
  network: opt(
    T.Object({
      classID: opt(u32),
      priorities: opt(T.Array(T.Object({ name: T.String(), priority: u32 }))),
    }),
  ),
  rdma: opt(anyMap),
  unified: opt(stringMap),
});

export const seccompSchema = T.Object({
  defaultAction: T.String(),
  defaultErrnoRet: opt(u32),
  architectures: opt(strings),
  flags: opt(strings),
  listenerPath: opt(T.String()),
  syscalls: opt(
    T.Array(
      T.Object({
        names: T.Array(T.String(), { minItems: 1 }),
        action: T.String(),
        errnoRet: opt(u32),
        args: opt(T.Array(T.Object({ index: T.Integer({ minimum: 0, maximum: 5 }), value: T.Number(), valueTwo: opt(T.Number()), op: T.String() }))),
      }),
    ),
  ),
});

export const linuxSchema = T.Object({
  namespaces: opt(T.Array(namespaceSchema)),
  uidMappings: opt(T.Array(idMappingSchema)),
  gidMappings: opt(T.Array(idMappingSchema)),
  timeOffsets: opt(anyMap),
  devices: opt(T.Array(deviceSchema)),
  cgroupsPath: opt(T.String()),
  resources: opt(resourcesSchema),
  rootfsPropagation: opt(T.String()),
  seccomp: opt(seccompSchema),
  sysctl: opt(stringMap),
  maskedPaths: opt(strings),
  readonlyPaths: opt(strings),
  mountLabel: opt(T.String()),
  intelRdt: opt(anyMap),
  personality: opt(T.Object({ domain: T.String(), flags: opt(strings) })),
});

export const configSchema = T.Object({
  ociVersion: T.String(),
  root: opt(T.Object({ path: T.String({ minLength: 1 }), readonly: opt(T.Boolean()) })),
  mounts: opt(T.Array(mountSchema)),
  process: opt(processSchema),
  hostname: opt(T.String()),
  domainname: opt(T.String()),
  hooks: opt(hooksSchema),
  annotations: opt(stringMap),
  linux: opt(linuxSchema),
});

export type OciConfig = Static<typeof configSchema>;
export type OciProcess = Static<typeof processSchema>;
export type OciMount = Static<typeof mountSchema>;
export type OciHook = Static<typeof hookSchema>;
export type OciHooks = Static<typeof hooksSchema>;
export type LinuxResources = Static<typeof resourcesSchema>;
export type LinuxSeccomp = Static<typeof seccompSchema>;
export type LinuxDevice = Static<typeof deviceSchema>;
export type IdMapping = Static<typeof idMappingSchema>;

/** OCI state (what `state ID` prints). */
export interface OciState {
  ociVersion: string;
  id: string;
  status: "creating" | "created" | "running" | "stopped" | "paused";
  pid?: number;
  bundle: string;
  annotations?: Record<string, string>;
}
