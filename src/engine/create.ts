// Request translation: a Docker create request (name, Config and HostConfig) checked and
// turned into the container's record, with the mount requests and the warnings to answer —
// everything create decides before anything is made on disk. Docker's defaulting and
// dockerd's messages live here; the engine then prepares the rootfs and saves the record.
import { GantryError, invalidArgument } from "../common/errors.ts";
import { parseSignal } from "../common/signals.ts";
import { imageRuntimeConfig, type LocalImage } from "../image/mod.ts";
import { fromDockerPortBindings, type Networks } from "../network/index.ts";
import { connectedAtCreate, type EndpointConfigBody } from "./network-connect.ts";
import { fromDockerMountFields, type MountRequest } from "../volume/index.ts";
import type { ContainerConfig, CreateBody, HostConfig } from "./api-types.ts";
import { validateName, type ContainerRecord } from "./container-store.ts";
import { cgroupsPathOf, checkSecurityOptions, deviceCgroupRules } from "./oci-spec.ts";
import { adaptHostConfig, refuseLimitsWithoutCgroups, verifyResources, type HostFacts } from "./resources.ts";
import { checkRestartPolicy } from "./restart-policy.ts";
import { mergeHealthConfig, validateHealthConfig, type HealthConfig } from "./health/config.ts";

/** Docker's time zero: a container that never started or never finished. */
export const ZERO_TIME = "0001-01-01T00:00:00Z";

/** What translation needs to know of the engine. */
export interface CreateContext {
  host: HostFacts;
  /** The local image `ref` names (NOT_FOUND as Docker words it). */
  resolveImage(ref: string): LocalImage;
  /** The container that has `name`, if one does. */
  nameInUse(name: string): ContainerRecord | undefined;
  /** A generated name no container has ("/adjective_name"). */
  uniqueName(): string;
  /** The engine's OCI runtime ("gantry", or runc/crun with --runtime). */
  runtimeName: string;
  /** The container a link names (NOT_FOUND when none has that name or id). */
  linkTarget(ref: string): ContainerRecord;
  /** The network library, when the daemon has bridge networking. */
  networks: Networks | undefined;
  /** A rootless daemon's slirp4netns networking: the default network, with published ports. */
  slirp?: boolean;
  logPath(id: string): string;
  newId(): string;
  now(): Date;
}

export interface CreateTranslation {
  rec: ContainerRecord;
  image: LocalImage;
  /** -v, --mount, --tmpfs and the image's VOLUMEs, parsed. */
  mountRequests: MountRequest[];
  warnings: string[];
}

/** Checks a create request and builds the record it makes; throws before anything exists. */
export function translateCreate(nameParam: string | undefined, body: CreateBody, ctx: CreateContext): CreateTranslation {
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw invalidArgument("the request body must be a JSON object");
  if (typeof body.Image !== "string" || body.Image === "") throw invalidArgument("Config.Image is required");
  const hc: HostConfig = { ...(body.HostConfig ?? {}) };
  const name = nameParam ? validateName(nameParam) : undefined;
  const other = name ? ctx.nameInUse(name) : undefined;
  if (other) {
    throw new GantryError(
      "ALREADY_EXISTS",
      `Conflict. The container name "${name}" is already in use by container "${other.Id}". You have to remove (or rename) that container to be able to reuse that name.`,
    );
  }
  const image = ctx.resolveImage(body.Image);
  refuseLimitsWithoutCgroups(hc, ctx.host); // before adapting adds a swap limit the user did not ask for
  adaptHostConfig(hc, ctx.host);
  const warnings = verifyResources(hc, ctx.host);
  checkSecurityOptions(hc, ctx.host.boundingCaps);
  cgroupsPathOf(hc, "check"); // a bad --cgroup-parent fails create, not start
  deviceCgroupRules(hc.DeviceCgroupRules); // and a bad --device-cgroup-rule
  if (body.StopSignal) parseSignal(body.StopSignal); // dockerd refuses a bad one at create, not at stop
  const healthcheck = mergeHealthConfig(validateHealthConfig(body.Healthcheck), image.config.config?.Healthcheck as HealthConfig | null | undefined);
  // Docker records label=disable for the modes SELinux labels cannot confine (moby's
  // generateSecurityOpt), unless the request set a label option itself.
  if ((hc.Privileged || hc.PidMode === "host" || hc.IpcMode === "host") && !(hc.SecurityOpt ?? []).some((o) => /^label[=:]/.test(o))) {
    hc.SecurityOpt = [...(hc.SecurityOpt ?? []), "label=disable"];
  }
  checkNetworking(hc, body, ctx.networks, !!ctx.slirp);
  checkRestartPolicy(hc.RestartPolicy);
  if (hc.AutoRemove && hc.RestartPolicy?.Name && !["", "no"].includes(hc.RestartPolicy.Name)) {
    throw invalidArgument("can't create 'AutoRemove' container with restart policy");
  }
  // -v, --mount, --tmpfs, and the anonymous volumes: the image's VOLUMEs and the request's
  // Config.Volumes (the docker CLI sends `-v /path` there), parsed (and refused when
  // malformed) before anything is made.
  const mountRequests = fromDockerMountFields(
    { Binds: hc.Binds ?? undefined, Mounts: (hc.Mounts ?? undefined) as never, Tmpfs: hc.Tmpfs ?? undefined },
    { ...(image.config.config?.Volumes ?? {}), ...(body.Volumes ?? {}) },
  );
  const pieces = imageRuntimeConfig(image.config, {
    entrypoint: body.Entrypoint ?? undefined,
    cmd: body.Cmd && body.Cmd.length ? body.Cmd : undefined,
    env: body.Env ?? undefined,
    workingDir: body.WorkingDir || undefined,
    user: body.User || undefined,
  });
  const id = ctx.newId();
  const config: ContainerConfig = {
    Hostname: body.Hostname || id.slice(0, 12),
    Domainname: body.Domainname ?? "",
    User: pieces.user,
    AttachStdin: !!body.AttachStdin,
    AttachStdout: !!body.AttachStdout,
    AttachStderr: !!body.AttachStderr,
    ExposedPorts: body.ExposedPorts ?? undefined,
    Tty: !!body.Tty,
    OpenStdin: !!body.OpenStdin,
    StdinOnce: !!body.StdinOnce,
    Env: pieces.env,
    Cmd: body.Cmd && body.Cmd.length ? body.Cmd : (body.Entrypoint !== undefined && body.Entrypoint !== null ? [] : (image.config.config?.Cmd ?? [])),
    Image: body.Image,
    Volumes: body.Volumes ?? null,
    WorkingDir: body.WorkingDir ?? "",
    Entrypoint: body.Entrypoint ?? image.config.config?.Entrypoint ?? null,
    Labels: { ...pieces.labels, ...(body.Labels ?? {}) },
    StopSignal: body.StopSignal || pieces.stopSignal,
    ...(body.StopTimeout !== undefined && body.StopTimeout !== null ? { StopTimeout: body.StopTimeout } : {}),
    ...(healthcheck ? { Healthcheck: healthcheck } : {}),
  };
  if (!hc.NetworkMode) hc.NetworkMode = "default";
  hc.Runtime = runtimeOf(hc.Runtime, ctx.runtimeName);
  const finalName = name ?? ctx.uniqueName();
  if (hc.Links?.length) hc.Links = normalizeLinks(hc.Links, finalName, ctx, hc.NetworkMode);
  if (!hc.RestartPolicy) hc.RestartPolicy = { Name: "no", MaximumRetryCount: 0 };
  if (!hc.LogConfig?.Type) hc.LogConfig = { Type: "json-file", Config: hc.LogConfig?.Config ?? {} };
  if (!["json-file", "none"].includes(hc.LogConfig.Type ?? "")) {
    throw new GantryError("UNSUPPORTED_OPTION", `logging driver ${hc.LogConfig.Type} is not supported (json-file or none)`);
  }
  // `none` keeps no log file (the monitor still relays attached streams), so takes no options.
  if (hc.LogConfig.Type === "none" && Object.keys(hc.LogConfig.Config ?? {}).length) throw invalidArgument("invalid logging opts for driver none");

  // --network-alias: the endpoint config of the network the container joins.
  const endpoints = (body.NetworkingConfig as { EndpointsConfig?: Record<string, EndpointConfigBody | null> } | null | undefined)?.EndpointsConfig;
  const aliases = endpoints?.[hc.NetworkMode]?.Aliases ?? [];
  // --mac-address: Config.MacAddress before API 1.44, the endpoint's MacAddress since.
  const mac = macAddressOf(endpoints?.[hc.NetworkMode]?.MacAddress || body.MacAddress, hc.NetworkMode);
  if (mac) config.MacAddress = mac;
  const ipv4 = endpoints?.[hc.NetworkMode]?.IPAMConfig?.IPv4Address;
  if (ipv4 && ["default", "bridge", "none", "host"].includes(hc.NetworkMode)) throw invalidArgument("user specified IP address is supported on user defined networks only");
  // More than one network (API 1.44's `run --network a --network b`): the others are joined
  // at start as `network connect` would (network-connect.ts).
  const connected = connectedAtCreate(hc.NetworkMode, endpoints ?? {}, ctx.networks);
  if (aliases.length && ["default", "bridge", "none", "host"].includes(hc.NetworkMode)) throw invalidArgument("network-scoped alias is supported only for containers in user defined networks");
  const rec: ContainerRecord = {
    Id: id,
    Name: finalName,
    Created: ctx.now().toISOString(),
    Path: pieces.args[0]!,
    Args: pieces.args.slice(1),
    Config: config,
    HostConfig: hc,
    Image: image.id,
    State: { Status: "created", Pid: 0, ExitCode: 0, Error: "", OOMKilled: false, StartedAt: ZERO_TIME, FinishedAt: ZERO_TIME },
    RestartCount: 0,
    ManuallyStopped: false,
    MonitorPid: 0,
    Rootfs: "",
    LogPath: hc.LogConfig.Type === "none" ? "" : ctx.logPath(id),
    Warnings: warnings,
    ...(aliases.length ? { NetworkAliases: [...aliases] } : {}),
    ...(ipv4 ? { NetworkIPv4Address: ipv4 } : {}),
    ...(mac ? { NetworkMacAddress: mac } : {}),
    ...(Object.keys(connected).length ? { ConnectedNetworks: connected } : {}),
  };
  return { rec, image, mountRequests, warnings };
}

/** The network mode names a network that exists; published ports are possible with it. */
function checkNetworking(hc: HostConfig, body: CreateBody, networks: Networks | undefined, slirp: boolean): void {
  const mode = hc.NetworkMode ?? "default";
  const special = ["default", "bridge", "none", "host"].includes(mode) || mode.startsWith("container:");
  if (!special) {
    // 400, not 404: the docker CLI answers a 404 from create by pulling the image.
    if (!networks) throw invalidArgument(`network ${mode} not found`);
    try {
      networks.get(mode);
    } catch (err) {
      if (err instanceof GantryError && err.code === "NOT_FOUND") throw invalidArgument(`network ${mode} not found`);
      throw err;
    }
  }
  const wantsPorts = Object.values(hc.PortBindings ?? {}).some((b) => b && b.length > 0) || !!hc.PublishAllPorts;
  if (!wantsPorts) return;
  if (!networks && !slirp) {
    throw new GantryError("UNSUPPORTED_OPTION", "port publishing (-p/-P) needs bridge networking, which is unavailable on this daemon", {
      hint: "start the daemon with the CNI plugins installed (apt-get install containernetworking-plugins iptables)",
    });
  }
  if (mode === "none" || mode === "host" || mode.startsWith("container:")) {
    throw invalidArgument(`conflicting options: port publishing and the container type network mode (${mode})`);
  }
  fromDockerPortBindings(hc.PortBindings ?? undefined, body.ExposedPorts ?? undefined, !!hc.PublishAllPorts);
}

/**
 * HostConfig.Runtime as dockerd records it: "runc", its default runtime's name, when the
 * request names none. Gantry's own runtime stands in for runc (the same OCI runtime CLI and
 * behaviour); with `gantry daemon --runtime crun` that runtime's name is the default. Any
 * other name is refused as dockerd refuses a runtime it has not configured.
 */
function runtimeOf(requested: string | undefined, engineRuntime: string): string {
  const byDefault = engineRuntime === "gantry" ? "runc" : engineRuntime;
  if (!requested) return byDefault;
  if (requested !== byDefault && requested !== engineRuntime) throw invalidArgument(`Unknown runtime specified ${requested}`);
  return requested;
}

const MAC_RE = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;

/** A --mac-address, checked: only for a container with its own network namespace. */
function macAddressOf(mac: unknown, mode: string): string | undefined {
  if (mac === undefined || mac === null || mac === "") return undefined;
  if (typeof mac !== "string" || !MAC_RE.test(mac)) throw invalidArgument(`invalid MAC address: ${String(mac)}`);
  if (mode === "host" || mode === "none" || mode.startsWith("container:")) throw invalidArgument("conflicting options: mac-address and the network mode");
  return mac.toLowerCase();
}

/**
 * --link NAME[:ALIAS] as dockerd keeps it in HostConfig.Links: "/child:/parent/alias". The
 * linked container must exist (dockerd's "could not get container for" error); links need
 * a network namespace of the container's own.
 */
function normalizeLinks(links: string[], name: string, ctx: CreateContext, mode: string): string[] {
  if (mode === "host" || mode === "none" || mode.startsWith("container:")) throw invalidArgument("conflicting options: links and the network mode");
  return links.map((link) => {
    const [target = "", alias] = link.split(":");
    const child = target.replace(/^\//, "");
    const as = (alias ?? child).replace(/^.*\//, "");
    if (!child || !as) throw invalidArgument(`invalid link: ${link}`);
    let rec: ContainerRecord;
    try {
      rec = ctx.linkTarget(child);
    } catch (err) {
      if (err instanceof GantryError && err.code === "NOT_FOUND") throw invalidArgument(`could not get container for ${child}: No such container: ${child}`);
      throw err;
    }
    return `${rec.Name}:${name}/${as}`;
  });
}
