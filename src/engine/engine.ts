// The engine: containers on one host. It owns their records on disk (container-store.ts),
// turns Docker's create requests into OCI bundles over overlay root filesystems, and drives
// the OCI runtime in monitor mode: the runtime's monitor (not this process) is each
// container's parent, writes its json-file log, serves its attach socket and writes its exit
// file, so containers outlive a daemon crash and are re-adopted by `restore()`.
//
// A container's State.Status changes only through the named transitions of the table drawn
// at the top of container-state.ts (start, exit, pause, unpause, backOff, endBackOff,
// remove); an illegal one is an IllegalTransitionError (409), never an impossible record.
//
// An exit is noticed through the exit file (and the monitor's pid), so one found after a
// restart is handled exactly like one seen live; restore() settles all of them before the
// daemon serves its first request.
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, watch, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { dirname, join } from "node:path";
import { spawnSync } from "node:child_process";
import { GantryError, conflict, invalidArgument, notFound } from "../common/errors.ts";
import { readJsonIfExists, writeJsonAtomic } from "../common/atomic-file.ts";
import { isSameLiveProcess, readProcStat } from "../common/process-identity.ts";
import { parseSignal, SIGNALS } from "../common/signals.ts";
import { mountOnHost, type HostMount } from "../runtime/index.ts";
import {
  resolveImage,
  type LocalImage,
  prepareRootfs,
  containerRootfs,
  mountRootfs,
  overlayMountData,
  readUnmountedRootfsFile,
  removeContainerRootfs,
  discardContainerRootfs,
  unmountRootfs,
  resolveUser,
  familiarName,
  ImageStore,
} from "../image/mod.ts";
import { openNetworks, fromDockerPortBindings, SlirpNetworks, type Networks } from "../network/index.ts";
import { openVolumes, type Volumes } from "../volume/index.ts";
import { overlayTakesVolatile } from "./kernel-release.ts";
import type { CreateBody } from "./api-types.ts";
import { ContainerStore, randomName, validateName, type ContainerRecord } from "./container-store.ts";
import { translateCreate, ZERO_TIME } from "./create.ts";
import { Supervisors, type PreStartHook, type WaitCondition, type WaitResult, type Waiter } from "./supervisor.ts";
import { realClock, type Clock, type Timer } from "../common/clock.ts";
import { assertTransition, canTransition, hasProcess, isDown, isUp, transition } from "./container-state.ts";
import { EventBus } from "./events.ts";
import { readHostFacts } from "./host-facts.ts";
import { buildOciSpec } from "./oci-spec.ts";
import type { HostFacts } from "./resources.ts";
import { restartDecision, type RestartDecision } from "./restart-policy.ts";
import { CliBackend, GantryBackend, type OciBackend } from "./oci-backend.ts";
import { connectedAttachOptions } from "./network-connect.ts";
import { planUpdate, type UpdateBody } from "./update.ts";
import { ExecTable } from "./exec.ts";
import { ALL_CAPS } from "./oci-spec.ts";
import { HealthChecks } from "./health/checks.ts";
import { parseUsernsMode, resolveRemap, UsernsPolicy, type ContainerUserns } from "./userns.ts";
import { ROOTLESS_CGROUPS_REASON } from "./rootless.ts";
import { giveEtcFilesToRemappedRoot, giveToRemappedRoot, openPathsToRemappedRoots, probeLayerShift, remappedRoot, remappedRootfsMount, type LayerShift } from "./userns-rootfs.ts";
import { linkEnvironment, linkHostsLines, parseLinks, withoutLink, type LinkedContainer } from "./links.ts";

export interface EngineOptions {
  /** Persistent state: images (src/image) and <root>/engine. */
  root: string;
  /** Volatile state: the runtime's state dir and attach sockets (default <root>/run). */
  execRoot?: string;
  /** json-file rotation defaults (--log-opt max-size / max-file). */
  logMaxSize?: number;
  logMaxFiles?: number;
  log?: (message: string) => void;
  /** Exit-file poll interval. */
  pollMs?: number;
  /** Bridge networking through src/network (CNI); false gives containers an isolated
   * namespace with loopback only and refuses -p. Default true. */
  networking?: boolean;
  /** The OCI runtime: "gantry" (default), or "runc"/"crun" through their CLI with a Node
   * shim as monitor (`shimCommand` runs it: `gantry _oci-shim`). */
  runtime?: string;
  shimCommand?: { cmd: string; args: string[] };
  /** The OCI backend itself, instead of one made from `runtime` (tests pass a recording fake). */
  ociBackend?: OciBackend;
  /** The default bridge network's device and subnet (tests use their own); a node agent's cluster CIDR is reached without masquerade. */
  defaultBridge?: { bridge?: string; subnet?: string; noMasqueradeTo?: string };
  /** Registries (host[:port]) pulls and pushes may reach over plain HTTP (loopback always may). */
  insecureRegistries?: string[];
  /** dockerd's --userns-remap: "default" or USER[:GROUP] (see userns.ts). */
  usernsRemap?: string;
  /** Run by an ordinary user, inside the user namespace rootless.ts re-executed it into:
   * containers share that namespace, reach the network through slirp4netns, and get no
   * cgroup limits where the host's cgroups (v1) cannot be delegated. */
  rootless?: boolean;
  /** What waits and tells the time (restart back-offs, stop timeouts, the exit poll, record
   * times); default the wall clock. Tests pass a FakeClock. */
  clock?: Clock;
}

/** How a container ended, from its monitor's exit file (or its monitor's death). */
interface ExitReport {
  code: number;
  /** ISO time of the exit. */
  finishedAt: string;
  error: string;
}

export type { WaitCondition, PreStartHook } from "./supervisor.ts";

export class Engine {
  readonly images: ImageStore;
  readonly containers: ContainerStore;
  readonly runtime: OciBackend;
  readonly events = new EventBus();
  readonly host: HostFacts;
  readonly runtimeRoot: string;
  readonly execRoot: string;
  /** One per container the daemon holds something for (waiters, hooks, timers, watches). */
  private readonly supervisors = new Supervisors();
  /** Health check loops, one per running container with a check; their probes are execs. */
  private readonly health: HealthChecks;
  private readonly clock: Clock;
  private poller: Timer | undefined;
  networks: Networks | undefined;
  /** Rootless: the default network is a slirp4netns per container (network/slirp.ts). */
  slirp: SlirpNetworks | undefined;
  volumes!: Volumes;
  private readonly pendingLayerRemovals = new Set<() => void>();
  private readonly layerRemovalsInFlight = new Set<Promise<void>>();
  private readonly log: (m: string) => void;
  /** --userns-remap and the auto ranges live containers hold. */
  readonly userns: UsernsPolicy;
  /** How remapped containers see image layers (probed at start when --userns-remap is on). */
  layerShift: LayerShift = "idmapped";
  private get shiftedLayers(): string {
    return join(this.opts.root, "engine", "userns-layers");
  }

  constructor(readonly opts: EngineOptions) {
    this.log = opts.log ?? ((m) => process.stderr.write(`gantry daemon: ${m}\n`));
    this.images = new ImageStore(opts.root);
    this.containers = new ContainerStore(join(opts.root, "engine", "containers"), this.log);
    this.execRoot = opts.execRoot ?? join(opts.root, "run");
    this.runtimeRoot = join(this.execRoot, "runtime");
    mkdirSync(join(this.execRoot, "attach"), { recursive: true, mode: 0o700 });
    this.clock = opts.clock ?? realClock;
    const rtName = opts.runtime ?? "gantry";
    if (opts.ociBackend) this.runtime = opts.ociBackend;
    else if (rtName === "gantry") this.runtime = new GantryBackend(this.runtimeRoot, (m) => this.log(`runtime: ${m}`));
    else if (rtName === "runc" || rtName === "crun") {
      if (!opts.shimCommand) throw new GantryError("INTERNAL", `--runtime ${rtName} needs the shim command`);
      this.runtime = new CliBackend(rtName, rtName, join(this.execRoot, rtName), opts.shimCommand);
    } else throw invalidArgument(`unknown runtime ${JSON.stringify(rtName)}: use gantry, runc or crun`);
    this.host = readHostFacts();
    if (opts.rootless && this.host.cgroupVersion === 1) this.host.noCgroups = ROOTLESS_CGROUPS_REASON;
    this.health = new HealthChecks({
      execs: new ExecTable(this.runtime, join(this.execRoot, "exec"), this.host.boundingCaps ?? ALL_CAPS),
      clock: this.clock,
      supervisors: this.supervisors,
      find: (id) => this.containers.find(id),
      save: (rec) => this.containers.save(rec),
      publish: (rec, action) => this.publish(rec, action),
    });
    this.userns = new UsernsPolicy(opts.usernsRemap ? resolveRemap(opts.usernsRemap) : undefined);
    if (this.userns.remap) this.prepareForUserns();
  }

  private usernsReady = false;

  /**
   * Once, before the first user-namespaced container: the daemon's directories become
   * traversable by remapped roots, and how image layers reach them is probed. At start with
   * --userns-remap; else when the first container with maps of its own is made (the node
   * agent's `hostUsers: false` pods).
   */
  private prepareForUserns(): void {
    if (this.usernsReady) return;
    this.usernsReady = true;
    openPathsToRemappedRoots(this.opts.root);
    // GANTRY_USERNS_LAYERS=copy forces the fallback (tests; a kernel that misbehaves).
    const probe = process.env.GANTRY_USERNS_LAYERS === "copy" ? { shift: "copy" as const, reason: "GANTRY_USERNS_LAYERS=copy" } : probeLayerShift(join(this.opts.root, "engine", "idmap-probe"));
    this.layerShift = probe.shift;
    if (probe.reason) this.log(`user namespaces: image layers are copied and chowned per range (idmapped layers refused: ${probe.reason})`);
  }

  /**
   * The user namespace a new container gets: the caller's maps (`fixed`), another container's
   * namespace (UsernsMode container:ID, joined at start), or what the daemon's policy says.
   */
  private usernsForNew(id: string, usernsMode: string | undefined, fixed: Pick<ContainerUserns, "UidMappings" | "GidMappings"> | undefined): ContainerUserns | undefined {
    const mode = parseUsernsMode(usernsMode);
    if (fixed) {
      if (mode.kind !== "default") throw invalidArgument(`userns mode ${JSON.stringify(usernsMode)} cannot go with maps of the container's own`);
      if (!fixed.UidMappings.length || !fixed.GidMappings.length) throw invalidArgument("a user namespace of the container's own needs uid and gid maps");
      return { Mode: "fixed", UidMappings: fixed.UidMappings, GidMappings: fixed.GidMappings };
    }
    if (mode.kind === "container") {
      const target = this.containers.get(mode.ref);
      if (!target.Userns) throw invalidArgument(`cannot join the user namespace of container ${target.Id.slice(0, 12)}: it has none of its own (it uses the host's ids)`);
      return { Mode: "container", UidMappings: target.Userns.UidMappings, GidMappings: target.Userns.GidMappings };
    }
    return this.userns.forNewContainer(id, usernsMode);
  }

  // ---- paths ---------------------------------------------------------------------------

  dir(id: string): string {
    return this.containers.containerDir(id);
  }
  exitFile(id: string): string {
    return join(this.dir(id), "exit.json");
  }
  attachSocket(id: string): string {
    return join(this.execRoot, "attach", `${id.slice(0, 24)}.sock`);
  }
  logPath(id: string): string {
    return join(this.dir(id), `${id}-json.log`);
  }

  // ---- start-up: re-adopt what is on disk ------------------------------------------------

  /** Loads every container and reconciles it with the kernel before the daemon answers its
   * first request (dockerd's restore does the same): running ones whose monitor is alive are
   * re-adopted; exits that happened while the daemon was down are recorded with the monitor's
   * exit code and time, cleaned up, and their restart policies applied here, not by the poller
   * a moment after the API already reported them running. */
  async restore(): Promise<void> {
    if (this.opts.networking !== false) {
      try {
        this.networks = await openNetworks({
          root: join(this.opts.root, "network"),
          // Prepared namespaces of the default bridge are bound here (volatile, like runc's state).
          runDir: join(this.execRoot, "netns"),
          // No hostLock: portmap's chains are host-wide, so every Gantry process must share
          // the network library's default lock (/run/gantry/network.lock).
          defaultNetwork: { name: "bridge", ...(this.opts.defaultBridge ?? {}) },
        });
      } catch (err) {
        this.log(`bridge networking is unavailable (${(err as Error).message}); containers get an isolated network namespace`);
        this.networks = undefined;
      }
    }
    if (this.opts.rootless) {
      if (spawnSync("sh", ["-c", "command -v slirp4netns"]).status === 0) this.slirp = new SlirpNetworks(join(this.execRoot, "slirp4netns"));
      else this.log("slirp4netns is not installed (apt-get install slirp4netns): rootless containers get loopback only and -p is refused");
    }
    this.volumes = await openVolumes(this.opts.root);
    const loaded = this.containers.loadAll();
    for (const rec of loaded) this.userns.adopt(rec.Id, rec.Userns);
    await this.volumes.reconcile(loaded.map((c) => c.Id)).catch((e: unknown) => this.log(`volume reconcile: ${(e as Error).message}`));
    await this.networks
      ?.reconcile(loaded.filter((c) => isUp(c.State.Status)).map((c) => c.Id))
      .catch((e: unknown) => this.log(`network reconcile: ${(e as Error).message}`));
    await Promise.all(loaded.map((rec) => this.restoreContainer(rec).catch((err: unknown) => this.log(`restore ${rec.Id.slice(0, 12)}: ${(err as Error).message}`))));
    this.poller = this.clock.every(this.opts.pollMs ?? 100, () => this.pollExits());
  }

  /** One container at start-up; see restore(). */
  private async restoreContainer(rec: ContainerRecord): Promise<void> {
    const status = rec.State.Status;
    if (status === "removing") {
      await this.removeContainer(rec.Id, { force: true, volumes: false });
    } else if (status === "restarting") {
      // Its restart was pending when the daemon stopped; dockerd starts such containers at start-up.
      transition(rec, "endBackOff");
      this.containers.save(rec);
      await this.scheduleRestart(rec, restartDecision(rec.HostConfig.RestartPolicy, rec.State.ExitCode, rec.RestartCount, false, 0), { now: true });
    } else if (status === "running" || status === "paused") {
      this.watchExit(rec.Id); // first, so an exit from now on is noticed too
      const exit = this.exitOf(rec);
      if (exit) {
        // The same path as a live exit (clean-up, die, restart policy with its count), but a
        // restart happens now rather than after the back-off, before the first request.
        await this.handleExit(rec, exit, { restartNow: true });
        return;
      }
      this.ensureMounted(rec);
      const st = this.runtimeStatus(rec.Id);
      // Frozen or thawed while the daemon was down: the record follows the kernel.
      if (st === "paused" && status === "running") transition(rec, "pause");
      if (st === "running" && status === "paused") transition(rec, "unpause");
      // The check goes on with the status the record kept (dockerd would begin at "starting").
      if (rec.State.Status === "running") this.health.begin(rec, { fresh: false });
      this.containers.save(rec);
    } else if (status === "exited" && rec.HostConfig.RestartPolicy?.Name === "always" && !rec.ManuallyStopped) {
      // Docker starts "always" containers when the daemon starts (without counting a restart).
      await this.start(rec.Id).catch((e: unknown) => this.log(`restart ${rec.Id.slice(0, 12)}: ${(e as Error).message}`));
    }
  }

  async close(): Promise<void> {
    this.poller?.cancel();
    const probesEnded: Promise<void>[] = [];
    for (const sup of this.supervisors.all()) {
      sup.stopWatchingExit();
      sup.cancelRestart();
      if (sup.health) probesEnded.push(sup.health.stop());
      sup.health = undefined;
    }
    await Promise.all(probesEnded);
    for (const task of [...this.pendingLayerRemovals]) task();
    await Promise.all([...this.layerRemovalsInFlight]);
    await this.networks?.close().catch(() => {});
    await this.slirp?.close();
    await this.containers.flush();
  }

  private runtimeStatus(id: string): string | undefined {
    try {
      return this.runtime.status(id);
    } catch {
      return undefined;
    }
  }

  /**
   * Mounts the container's overlay on the host (the daemon's own mount, kept until the
   * container is removed) unless it is mounted already. A running container's rootfs is
   * normally its monitor's mount instead (see start); this is for everything else that
   * needs the merged view: cp, export, copy-up into new volumes, a restored daemon.
   */
  private ensureMounted(rec: ContainerRecord): void {
    if (isMountPoint(rec.Rootfs)) return;
    const rootfs = containerRootfs(this.images, rec.Id);
    if (!rootfs) throw notFound(`the root filesystem of container ${rec.Id.slice(0, 12)} is gone`);
    // A user-namespaced container's layers are seen through its maps here too (cp, volume copy-up).
    if (rec.Userns) {
      mountOnHost([{ ...remappedRootfsMount(rootfs, rec.Userns, this.layerShift, this.shiftedLayers), target: rec.Rootfs }]);
    } else mountRootfs(this.images, rootfs, rec.Rootfs);
  }

  /** The container's merged root filesystem on the host, mounted if need be. */
  mountedRootfs(rec: ContainerRecord): string {
    this.ensureMounted(rec);
    return rec.Rootfs;
  }

  /**
   * For start: the overlay as a mount the container's monitor makes before the container and
   * undoes after it exits, so starting and removing a container spawn no mount(8)/umount(8)
   * from this (large) process. Empty when it is mounted already; runtimes that cannot take
   * host mounts get the daemon's mount instead.
   */
  private rootfsHostMounts(rec: ContainerRecord): HostMount[] {
    if (isMountPoint(rec.Rootfs)) return [];
    if (!this.runtime.hostMounts) {
      this.ensureMounted(rec);
      return [];
    }
    const rootfs = containerRootfs(this.images, rec.Id);
    if (!rootfs) throw notFound(`the root filesystem of container ${rec.Id.slice(0, 12)} is gone`);
    if (rec.Userns) return [{ ...remappedRootfsMount(rootfs, rec.Userns, this.layerShift, this.shiftedLayers), target: rec.Rootfs, unmountOnExit: true }];
    const { data, cwd } = overlayMountData(this.images, rootfs);
    if (!rec.HostConfig.AutoRemove || !overlayTakesVolatile) return [{ source: "overlay", target: rec.Rootfs, type: "overlay", data, cwd, unmountOnExit: true }];
    // An AutoRemove container's upper layer is thrown away once it exits (and at a restore
    // after a host crash): mounted `volatile`, its unmount skips syncing the upper filesystem
    // (~5 ms of disk writeback and flush the exit report waited for), as podman does for
    // `run --rm`. The kernel leaves a marker that refuses the next mount; a restart of the
    // same container (the host has not crashed: the daemon is running) removes it first.
    rmSync(join(rootfs.workdir, "work", "incompat", "volatile"), { recursive: true, force: true });
    return [{ source: "overlay", target: rec.Rootfs, type: "overlay", data: `${data},volatile`, cwd, unmountOnExit: true }];
  }

  /** A file of the container's filesystem, read through its layers when it is not mounted. */
  private readRootfsFile(rec: ContainerRecord, path: string): string | undefined {
    const read = (p: string) => {
      try {
        return readFileSync(join(rec.Rootfs, p), "utf8");
      } catch {
        return undefined;
      }
    };
    if (isMountPoint(rec.Rootfs)) return read(path);
    const rootfs = containerRootfs(this.images, rec.Id);
    const content = rootfs ? readUnmountedRootfsFile(rootfs, path) : undefined;
    if (content !== null) return content?.toString("utf8");
    this.ensureMounted(rec); // a symlink or the like: only the merged view can say
    return read(path);
  }

  // ---- create ----------------------------------------------------------------------------

  resolveImage(ref: string): LocalImage {
    try {
      return resolveImage(this.images, ref);
    } catch (err) {
      if (err instanceof GantryError && err.code === "NOT_FOUND") throw notFound(`No such image: ${ref.includes(":") || ref.includes("@") ? ref : `${ref}:latest`}`);
      throw err;
    }
  }

  /**
   * `opts.userns`: a user namespace of the container's own with exactly these maps (no
   * Docker API field says that; the node agent passes each `hostUsers: false` pod's range).
   */
  async createContainer(nameParam: string | undefined, body: CreateBody, opts: { userns?: Pick<ContainerUserns, "UidMappings" | "GidMappings"> } = {}): Promise<{ Id: string; Warnings: string[] }> {
    const { rec, image, mountRequests, warnings } = translateCreate(nameParam, body, {
      host: this.host,
      resolveImage: (ref) => this.resolveImage(ref),
      nameInUse: (name) => this.containers.nameInUse(name),
      uniqueName: () => this.uniqueName(),
      runtimeName: this.runtime.name,
      linkTarget: (ref) => this.containers.get(ref),
      networks: this.networks,
      slirp: !!this.slirp,
      logPath: (id) => this.logPath(id),
      newId: () => randomBytes(32).toString("hex"),
      now: () => new Date(this.clock.now()),
    });
    const id = rec.Id;
    // Before any await: an auto range is reserved under the id at once.
    const userns = this.usernsForNew(id, rec.HostConfig.UsernsMode, opts.userns);
    if (userns) {
      rec.Userns = userns;
      this.prepareForUserns();
    }
    mkdirSync(this.dir(id), { recursive: true, mode: userns ? 0o711 : 0o700 });
    try {
      const rootfs = await prepareRootfs(this.images, image.id, id);
      rec.Rootfs = rootfs.merged;
      if (userns) giveToRemappedRoot(rootfs, userns);
      // Not mounted here: start has the monitor mount it. New volumes copy image content, though.
      if (mountRequests.some((m) => m.type === "volume")) this.ensureMounted(rec);
      // Resolve the user now, against the image's files, so a bad --user fails create (as Docker's does at start).
      this.resolveUserIn(rec);
      this.writeEtcFiles(rec);
      if (userns) giveEtcFilesToRemappedRoot(this.dir(id), userns);
      rec.MountEntries = await this.volumes.resolveMounts({ containerId: id, mounts: mountRequests, rootfs: rec.Rootfs, ...(userns ? { owner: remappedRoot(userns) } : {}) });
      await this.containers.saveNew(rec);
    } catch (err) {
      this.userns.release(id);
      await this.volumes.release(id, true).catch(() => []);
      try {
        if (rec.Rootfs && isMountPoint(rec.Rootfs)) unmountRootfs(rec.Rootfs);
      } catch {
        /* busy: removeContainerRootfs below still takes the layer */
      }
      removeContainerRootfs(this.images, id);
      this.containers.remove(id);
      throw err;
    }
    this.publish(rec, "create");
    return { Id: id, Warnings: warnings };
  }

  /** The CNI network a container joins, or undefined for none/host/container:. */
  networkOf(rec: ContainerRecord): string | undefined {
    const mode = rec.HostConfig.NetworkMode ?? "default";
    if (mode === "none" || mode === "host" || mode.startsWith("container:")) return undefined;
    if (!this.networks || rec.PrimaryDisconnected) return undefined;
    return mode === "default" ? "bridge" : mode;
  }

  private publishedPorts(rec: ContainerRecord) {
    return fromDockerPortBindings(rec.HostConfig.PortBindings ?? undefined, rec.Config.ExposedPorts ?? undefined, !!rec.HostConfig.PublishAllPorts);
  }

  /**
   * A network namespace the network library prepared and attached ahead (the default bridge's
   * warm pool), for a container that publishes no ports: the runtime joins it instead of
   * making one, so the start waits for no plugin. Undefined: attach after create as usual.
   */
  private claimPreparedNetwork(rec: ContainerRecord): string | undefined {
    const network = this.networkOf(rec);
    if (!this.networks || !network || rec.NetworkAliases?.length || this.publishedPorts(rec).length > 0) return undefined;
    // A user-namespaced container's network namespace must be its user namespace's (made with
    // it at clone), or the kernel refuses it sysfs: prepared ones belong to the host's.
    if (rec.Userns) return undefined;
    if (rec.NetworkIPv4Address || rec.NetworkMacAddress || Object.keys(rec.ConnectedNetworks ?? {}).length > 0) return undefined;
    const ep = this.networks.claimPrepared({ containerId: rec.Id, containerName: rec.Name.slice(1), network });
    if (ep) this.writeNetworkFiles(rec);
    return ep?.netns;
  }

  /** Joins the container's fresh network namespace to its network (before the process runs). */
  private async connectNetwork(rec: ContainerRecord, pid: number): Promise<void> {
    const mode = rec.HostConfig.NetworkMode ?? "default";
    if (this.slirp && (mode === "default" || mode === "bridge")) {
      await this.slirp.attach({ containerId: rec.Id, containerName: rec.Name.slice(1), pid, ports: this.publishedPorts(rec) });
      this.slirp.containerFiles({ dir: this.dir(rec.Id), hostname: rec.Config.Hostname || rec.Id.slice(0, 12), domainname: rec.Config.Domainname || undefined });
      return;
    }
    if (!this.networks) return;
    const netns = `/proc/${pid}/ns/net`;
    const network = this.networkOf(rec);
    if (network) {
      await this.networks.attach({
        containerId: rec.Id,
        containerName: rec.Name.slice(1),
        netns,
        network,
        ...(rec.NetworkAliases?.length ? { aliases: rec.NetworkAliases } : {}),
        ...(rec.NetworkIPv4Address ? { ip: rec.NetworkIPv4Address } : {}),
        ...(rec.NetworkMacAddress ? { mac: rec.NetworkMacAddress } : {}),
        ports: this.publishedPorts(rec),
      });
    }
    // Networks joined by `docker network connect` (network-connect.ts) come after it.
    for (const [id, ep] of Object.entries(rec.ConnectedNetworks ?? {})) await this.networks.attach(connectedAttachOptions(rec, netns, id, ep));
    if (network || Object.keys(rec.ConnectedNetworks ?? {}).length > 0) this.writeNetworkFiles(rec);
    // --network none: nothing to do. The runtime set lo up in the namespace it created (runc,
    // crun and gantry-runtime all do), so no loopback plugin runs per container.
  }

  /** hosts and resolv.conf rewritten in place (bind mounts see it) with the address and DNS. */
  writeNetworkFiles(rec: ContainerRecord): void {
    this.networks?.containerFiles({ containerId: rec.Id, hostname: rec.Config.Hostname || rec.Id.slice(0, 12), domainname: rec.Config.Domainname || undefined, dir: this.dir(rec.Id) });
    // A link whose container stopped since start keeps no line (dockerd's hosts file keeps the old one).
    const hosts = linkHostsLines(this.linkedContainers(rec, false));
    if (hosts) appendFileSync(join(this.dir(rec.Id), "hosts"), hosts);
  }

  /** --link targets, with their aliases and addresses; at start each must run (dockerd's check). */
  private linkedContainers(rec: ContainerRecord, mustRun = true): LinkedContainer[] {
    const out: LinkedContainer[] = [];
    const network = this.networkOf(rec);
    for (const { child, alias, link } of parseLinks(rec.HostConfig.Links)) {
      const target = this.containers.find(child);
      if (!target || !hasProcess(target.State.Status)) {
        if (mustRun) throw invalidArgument(`Cannot link to a non running container: ${child} AS ${link}`);
        continue;
      }
      const eps = this.networks?.endpointsOf(target.Id) ?? [];
      const ep = eps.find((x) => x.networkName === network || (!!network && x.networkId.startsWith(network))) ?? eps[0];
      out.push({ alias, link, target, ip: ep?.address ?? "" });
    }
    return out;
  }

  /**
   * Leaves every network. The endpoints are forgotten at once; the promise settles when the
   * plugins' DEL is done (an exit does not wait for it, a removal does).
   */
  private disconnectNetwork(id: string): Promise<void> {
    if (this.slirp?.endpointsOf(id).length) return this.slirp.detach(id);
    return this.networks?.detachAll(id).catch((e: unknown) => this.log(`network detach ${id.slice(0, 12)}: ${(e as Error).message}`)) ?? Promise.resolve();
  }

  private uniqueName(): string {
    for (;;) {
      const n = `/${randomName()}`;
      if (!this.containers.nameInUse(n)) return n;
    }
  }

  private resolveUserIn(rec: ContainerRecord): { uid: number; gid: number; additionalGids: number[]; home: string } {
    return resolveUser(rec.Config.User ?? "", this.readRootfsFile(rec, "etc/passwd"), this.readRootfsFile(rec, "etc/group"));
  }

  private writeEtcFiles(rec: ContainerRecord): void {
    const dir = this.dir(rec.Id);
    const hostname = rec.Config.Hostname || rec.Id.slice(0, 12);
    writeFileSync(join(dir, "hostname"), `${hostname}\n`);
    writeFileSync(
      join(dir, "hosts"),
      `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n`,
    );
    let resolv = "";
    try {
      resolv = readFileSync("/etc/resolv.conf", "utf8");
    } catch {
      resolv = "";
    }
    writeFileSync(join(dir, "resolv.conf"), resolv);
  }

  /** The OCI config for a container, written into its bundle (its engine dir) before each start. */
  private writeBundle(rec: ContainerRecord, netnsPath?: string): { dir: string; spec: unknown } {
    const user = this.resolveUserIn(rec);
    // Links' variables come first: the container's own Env overrides them (dockerd's order).
    // An entry without "=" (`-e NAME` the client had no value for) only unsets that name.
    const own = rec.Config.Env ?? [];
    const named = (key: string) => own.some((e) => e === key || e.startsWith(`${key}=`));
    const linkEnv = rec.HostConfig.Links?.length ? linkEnvironment(this.linkedContainers(rec)).filter((e) => !named(e.slice(0, e.indexOf("=")))) : [];
    const env = [...linkEnv, ...own.filter((e) => e.includes("="))];
    if (!named("HOSTNAME")) env.unshift(`HOSTNAME=${rec.Config.Hostname}`);
    if (!named("HOME")) env.push(`HOME=${user.home}`);
    if (rec.Config.Tty && !named("TERM")) env.push("TERM=xterm");
    const dir = this.dir(rec.Id);
    const spec = buildOciSpec({
      id: rec.Id,
      config: rec.Config,
      hostConfig: rec.HostConfig,
      args: [rec.Path, ...rec.Args],
      env,
      cwd: rec.Config.WorkingDir ? (rec.Config.WorkingDir.startsWith("/") ? rec.Config.WorkingDir : `/${rec.Config.WorkingDir}`) : this.imageWorkingDir(rec),
      user,
      groupFile: rec.HostConfig.GroupAdd?.length ? this.readRootfsFile(rec, "etc/group") : undefined,
      rootfs: rec.Rootfs,
      etcFiles: { hostname: join(dir, "hostname"), hosts: join(dir, "hosts"), resolvConf: join(dir, "resolv.conf") },
      mounts: rec.MountEntries ?? [],
      tmpfsInMounts: true,
      availableCaps: this.host.boundingCaps,
      pidOfContainer: (name) => {
        const other = this.containers.find(name);
        if (!other) throw notFound(`No such container: ${name}`);
        if (!hasProcess(other.State.Status)) {
          throw conflict(`cannot join namespace of a non running container: container ${other.Id} is not running`);
        }
        return other.State.Pid;
      },
      ...(rec.Userns ? { userns: { uidMappings: rec.Userns.UidMappings, gidMappings: rec.Userns.GidMappings } } : {}),
      initPath: this.initBinary(),
    });
    if (netnsPath) {
      // A prepared namespace: join it (by path, as for --network container:NAME).
      const nss = spec.linux?.namespaces ?? [];
      const i = nss.findIndex((ns) => ns.type === "network");
      if (i >= 0) nss[i] = { type: "network", path: netnsPath };
    }
    // Made again before every start, so not fsynced (nothing to recover after a machine crash).
    writeJsonAtomic(join(dir, "config.json"), spec, 0o600, false, false);
    return { dir, spec };
  }

  /** What `--init` runs as the container's pid 1 (the first found; `docker info` names it). */
  initBinary(): string | undefined {
    return ["/usr/bin/tini-static", "/usr/bin/tini", "/usr/bin/catatonit", "/usr/libexec/podman/catatonit", "/usr/bin/docker-init"].find((p) => existsSync(p));
  }

  private imageWorkingDir(rec: ContainerRecord): string {
    try {
      const img = resolveImage(this.images, rec.Image);
      const wd = img.config.config?.WorkingDir;
      return wd ? (wd.startsWith("/") ? wd : `/${wd}`) : "/";
    } catch {
      return "/";
    }
  }

  // ---- start / exit ----------------------------------------------------------------------

  /** Queues a hook run after the monitor exists and before the process runs (attach before start). */
  addPreStart(id: string, hook: PreStartHook, onAbort: () => void): () => void {
    const sup = this.supervisors.of(id);
    hook.abort = onAbort;
    sup.preStart.push(hook);
    return () => {
      sup.preStart = sup.preStart.filter((h) => h !== hook);
      this.supervisors.release(id);
    };
  }

  async start(ref: string): Promise<void> {
    const rec = this.containers.get(ref);
    if (hasProcess(rec.State.Status)) return; // Docker: 304, not an error
    assertTransition(rec, "start", (from) =>
      from === "removing" ? `container ${rec.Id} is marked for removal and cannot be started` : `container ${rec.Id} is ${from} and cannot be started`,
    );
    const sup = this.supervisors.of(rec.Id);
    if (sup.busy) throw conflict(`container ${rec.Id.slice(0, 12)} is being started or removed`);
    sup.busy = true;
    let hooks: PreStartHook[] = [];
    sup.cancelRestart();
    try {
      const hostMounts = this.rootfsHostMounts(rec);
      // A leftover runtime container (from an exit the engine recorded) goes first.
      if (this.runtime.exists(rec.Id)) await this.runtime.delete(rec.Id, true).catch(() => {});
      rmSync(this.exitFile(rec.Id), { force: true });
      this.watchExit(rec.Id);
      const preparedNetns = this.claimPreparedNetwork(rec);
      const { dir: bundle, spec } = this.writeBundle(rec, preparedNetns);
      const logCfg = rec.HostConfig.LogConfig?.Config ?? {};
      const created = await this.runtime.create(rec.Id, bundle, {
        logPath: rec.LogPath,
        logMaxSize: parseSize(logCfg["max-size"]) ?? this.opts.logMaxSize,
        logMaxFiles: logCfg["max-file"] ? Number(logCfg["max-file"]) : this.opts.logMaxFiles,
        attachSocket: this.attachSocket(rec.Id),
        exitFile: this.exitFile(rec.Id),
        // A removed-at-exit container's exit file is read once, by this daemon or, after a
        // crash of it, by its restore (the page cache keeps it): its fsync (~2 ms of disk
        // wait before the exit is seen, perf sched) protected only against a power loss,
        // after which the container is removed anyway.
        exitFileSync: !rec.HostConfig.AutoRemove,
        openStdin: !!rec.Config.OpenStdin,
      }, hostMounts, spec);
      rec.State = { ...rec.State, Pid: created.pid, Error: "", OOMKilled: false };
      rec.MonitorPid = created.monitorPid ?? 0;
      if (this.runtime.netnsBeforeStart && !preparedNetns) await this.connectNetwork(rec, created.pid);
      hooks = sup.takePreStart();
      await Promise.all(hooks.map((h) => h(this.attachSocket(rec.Id)).catch((e: unknown) => this.log(`attach before start: ${(e as Error).message}`))));
      rec.State.Pid = await this.runtime.start(rec.Id);
      // Another runtime's namespace exists only now: attach right after start.
      if (!this.runtime.netnsBeforeStart && !preparedNetns) await this.connectNetwork(rec, rec.State.Pid);
      transition(rec, "start");
      rec.State.StartedAt = new Date(this.clock.now()).toISOString();
      rec.State.FinishedAt = ZERO_TIME;
      rec.ManuallyStopped = false;
      this.health.begin(rec, { fresh: true });
      // Written before the answer (a restarted daemon must find it running, with its pids,
      // and re-adopt it), but on the thread pool: the event loop serves the others meanwhile.
      await this.containers.saveAsync(rec);
      this.publish(rec, "start");
    } catch (err) {
      this.unwatchExit(rec.Id);
      for (const h of [...hooks, ...sup.takePreStart()]) h.abort?.();
      await this.runtime.delete(rec.Id, true).catch(() => {});
      await this.disconnectNetwork(rec.Id);
      // A restart that failed ends its back-off (the policy may begin another); a first start
      // that failed leaves the container created, with Docker's exit code 128.
      if (canTransition(rec.State.Status, "endBackOff")) transition(rec, "endBackOff");
      rec.State = { ...rec.State, Pid: 0, Error: (err as Error).message };
      if (rec.State.Status === "created") rec.State.ExitCode = 128;
      this.containers.save(rec);
      // Docker removes an AutoRemove container whose start failed (`run --rm` waits for that).
      if (rec.HostConfig.AutoRemove) {
        setImmediate(() => void this.removeContainer(rec.Id, { force: true, volumes: true }).catch(() => {}));
      }
      // The docker CLI picks run's exit code from the text: 127 for "no such file or directory".
      if (err instanceof GantryError) throw new GantryError(err.code, err.message.replace("No such file or directory", "no such file or directory"), err.details);
      throw err;
    } finally {
      sup.busy = false;
      this.supervisors.release(rec.Id);
    }
    // An exit while the start was at work (its watch and the poll skip a busy container) is
    // handled now rather than at the next poll, up to 100 ms later: a short program often
    // ends while the start still waits on the runtime or the network.
    this.noticeExit(rec);
  }

  private pollExits(): void {
    for (const rec of this.containers.all()) this.noticeExit(rec);
  }

  /** Handles the container's exit if it has ended and nothing else is at work on it. */
  private noticeExit(rec: ContainerRecord): void {
    if (!hasProcess(rec.State.Status)) return;
    if (this.supervisors.peek(rec.Id)?.busy) return;
    const exit = this.exitOf(rec);
    if (exit) void this.handleExit(rec, exit).catch((e: unknown) => this.log(`exit of ${rec.Id.slice(0, 12)}: ${(e as Error).message}`));
  }

  /** How a container its record calls running has ended, if it has: the exit file its monitor
   * wrote, or a monitor that died (SIGKILLed, it cannot write one) and took the container along. */
  private exitOf(rec: ContainerRecord): ExitReport | undefined {
    // The monitor's death is looked at before its exit file: a monitor that writes the file
    // and exits between the two looks must not count as one that died without writing it
    // (that race made `docker run` exit 255 now and then under load).
    const monitorDead = rec.MonitorPid > 0 && !processAlive(rec.MonitorPid);
    // Looked for before it is read: the poll asks this of every running container ten times a
    // second, and a missing file's read costs an exception (~10 µs; a stat ~1.5 µs).
    const file = this.exitFile(rec.Id);
    const exit = existsSync(file) ? readExitFile(file) : undefined;
    if (exit) return { code: exit.exitCode, finishedAt: new Date(exit.finishedAtMs).toISOString(), error: "" };
    if (monitorDead && !isSameLiveProcess(rec.State.Pid, readProcStat(rec.State.Pid)?.startTime ?? -1)) {
      return { code: 255, finishedAt: new Date(this.clock.now()).toISOString(), error: "the container's monitor died" };
    }
    return undefined;
  }

  /**
   * The monitor renames exit.json into the container's directory: a watch on that directory
   * (not a recursive one on all containers, which node implements by walking the tree on
   * every change) notices at once; the poll is the fallback and catches dead monitors.
   */
  private watchExit(id: string): void {
    const sup = this.supervisors.of(id);
    if (sup.exitWatcher) return;
    try {
      const w = watch(this.dir(id), (_ev, name) => {
        if (name !== "exit.json") return;
        // Only this container's: the poll covers the others (it was a scan of every one).
        const rec = this.containers.find(id);
        if (rec) this.noticeExit(rec);
      });
      w.on("error", () => this.unwatchExit(id));
      sup.exitWatcher = w;
    } catch {
      /* the poll still finds it */
    }
  }

  private unwatchExit(id: string): void {
    this.supervisors.peek(id)?.stopWatchingExit();
    this.supervisors.release(id);
  }

  private async handleExit(rec: ContainerRecord, exit: ExitReport, opts: { restartNow?: boolean } = {}): Promise<void> {
    const sup = this.supervisors.of(rec.Id);
    if (sup.busy) return;
    sup.busy = true;
    this.unwatchExit(rec.Id);
    const { code, finishedAt, error } = exit;
    try {
      let oom = false;
      try {
        oom = this.runtime.oomKillCount(rec.Id) > 0;
      } catch {
        oom = false;
      }
      await this.runtime.delete(rec.Id, true).catch((e: unknown) => this.log(`delete ${rec.Id.slice(0, 12)}: ${(e as Error).message}`));
      // Off the exit's critical path: the endpoints are forgotten now, DEL runs after.
      void this.disconnectNetwork(rec.Id);
      const startedMs = Date.parse(rec.State.StartedAt);
      transition(rec, "exit");
      void this.health.end(rec, { markUnhealthy: true });
      rec.State = { ...rec.State, Pid: 0, ExitCode: code, OOMKilled: oom, FinishedAt: finishedAt, Error: error };
      rec.MonitorPid = 0;
      const decision = restartDecision(rec.HostConfig.RestartPolicy, code, rec.RestartCount, rec.ManuallyStopped, Date.parse(finishedAt) - startedMs);
      const autoRemove = !decision.restart && !!rec.HostConfig.AutoRemove;
      // An exit that removes the container (`run --rm`) is not written: until the removal has
      // taken the directory, the record on disk says running and the exit file is beside it,
      // so a daemon that crashes in between finds the exit again at restore and removes it then.
      if (!autoRemove) this.containers.save(rec);
      if (oom) this.publish(rec, "oom");
      this.publish(rec, "die", { exitCode: String(code) });
      this.resolveWaiters(rec.Id, ["next-exit", "not-running"], code);
      if (decision.restart) {
        sup.busy = false;
        await this.scheduleRestart(rec, decision, { now: !!opts.restartNow });
      } else if (autoRemove) {
        sup.busy = false;
        await this.removeRecord(rec, { force: true, volumes: true }, { exitUnwritten: true }).catch((e: unknown) => this.log(`auto-remove: ${(e as Error).message}`));
      }
    } finally {
      sup.busy = false;
      this.supervisors.release(rec.Id);
    }
  }

  /**
   * Marks the container restarting and starts it again after the policy's back-off, counting
   * the restart (RestartCount, which on-failure's maximum is checked against). `now` skips the
   * back-off and resolves once the container runs: at start-up, as dockerd starts such
   * containers before it serves. A start that fails is retried with a longer back-off.
   */
  private async scheduleRestart(rec: ContainerRecord, decision: RestartDecision, opts: { now?: boolean } = {}): Promise<void> {
    if (!decision.restart) return;
    transition(rec, "backOff");
    this.containers.save(rec);
    if (opts.now) return this.restartNow(rec.Id, decision.delayMs);
    const sup = this.supervisors.of(rec.Id);
    sup.cancelRestart();
    sup.restartTimer = this.clock.after(decision.delayMs, () => {
      sup.restartTimer = undefined;
      void this.restartNow(rec.Id, decision.delayMs);
    });
  }

  private async restartNow(id: string, delayMs: number): Promise<void> {
    const cur = this.containers.find(id);
    if (!cur || !canTransition(cur.State.Status, "endBackOff")) return; // stopped or removed meanwhile
    cur.RestartCount++;
    transition(cur, "endBackOff");
    try {
      await this.start(cur.Id);
      this.publish(cur, "restart");
    } catch (e) {
      this.log(`restart ${cur.Id.slice(0, 12)}: ${(e as Error).message}`);
      const again = restartDecision(cur.HostConfig.RestartPolicy, 128, cur.RestartCount, false, 0, delayMs);
      await this.scheduleRestart(cur, again);
    }
  }

  // ---- stop / kill / pause / restart / rename ------------------------------------------------

  async kill(ref: string, signal = "SIGKILL"): Promise<void> {
    const rec = this.containers.get(ref);
    if (!hasProcess(rec.State.Status)) {
      throw conflict(`Cannot kill container: ${ref}: Container ${rec.Id} is not running`);
    }
    const sig = parseSignal(signal);
    if (sig !== SIGNALS.SIGKILL) {
      this.runtime.kill(rec.Id, signal);
      this.publish(rec, "kill", { signal: String(sig) });
      return;
    }
    // SIGKILL answers once the exit is handled, as dockerd's: `inspect` right after the kill
    // says exited (a restart policy may of course start it again).
    rec.ManuallyStopped = true;
    this.containers.save(rec);
    const exited = this.waitFor(rec.Id, "not-running");
    try {
      if (rec.State.Status === "paused") await this.runtime.resume(rec.Id).catch(() => {});
      this.runtime.kill(rec.Id, signal);
      this.publish(rec, "kill", { signal: String(sig) });
      if ((await Promise.race([exited.promise, this.clock.sleep(10_000).then(() => undefined)])) === undefined) {
        // Something outlived the container's init (a process in a shared pid namespace): all of it.
        this.runtime.kill(rec.Id, signal, true);
        await Promise.race([exited.promise, this.clock.sleep(10_000)]);
      }
    } finally {
      exited.cancel();
    }
  }

  /** Docker's stop: the stop signal, `timeout` seconds, then SIGKILL; waits for the exit. */
  async stop(ref: string, timeoutSec?: number, signal?: string): Promise<boolean> {
    const rec = this.containers.get(ref);
    if (this.supervisors.peek(rec.Id)?.cancelRestart()) {
      this.supervisors.release(rec.Id);
      transition(rec, "endBackOff");
      rec.ManuallyStopped = true;
      this.containers.save(rec);
      return true;
    }
    if (!hasProcess(rec.State.Status)) return false;
    const sig = signal || rec.Config.StopSignal || "SIGTERM";
    const sigNumber = parseSignal(sig); // a bad signal fails before anything changes
    rec.ManuallyStopped = true;
    this.containers.save(rec);
    const exited = this.waitFor(rec.Id, "not-running");
    const timeout = timeoutSec ?? (typeof rec.Config.StopTimeout === "number" ? rec.Config.StopTimeout : 10);
    if (rec.State.Status === "paused") await this.runtime.resume(rec.Id).catch(() => {});
    try {
      this.runtime.kill(rec.Id, sig);
      this.publish(rec, "kill", { signal: String(sigNumber) });
    } catch {
      /* already exiting */
    }
    const done = timeout < 0 ? await exited.promise : await Promise.race([exited.promise, this.clock.sleep(timeout * 1000).then(() => undefined)]);
    if (done === undefined) {
      try {
        this.runtime.kill(rec.Id, "SIGKILL", true);
        this.publish(rec, "kill", { signal: "9" });
      } catch {
        /* gone meanwhile */
      }
      await exited.promise;
    }
    this.publish(this.containers.find(rec.Id) ?? rec, "stop");
    return true;
  }

  async restart(ref: string, timeoutSec?: number, signal?: string): Promise<void> {
    const rec = this.containers.get(ref);
    await this.stop(rec.Id, timeoutSec, signal);
    await this.start(rec.Id);
    this.publish(rec, "restart");
  }

  async pause(ref: string): Promise<void> {
    const rec = this.containers.get(ref);
    const refused = (from: string) => (from === "paused" ? `Container ${rec.Id} is already paused` : `Container ${rec.Id} is not running`);
    assertTransition(rec, "pause", refused);
    await this.runtime.pause(rec.Id);
    transition(rec, "pause", refused);
    void this.health.end(rec, { markUnhealthy: true });
    this.containers.save(rec);
    this.publish(rec, "pause");
  }

  async unpause(ref: string): Promise<void> {
    const rec = this.containers.get(ref);
    const refused = () => `Container ${rec.Id} is not paused`;
    assertTransition(rec, "unpause", refused);
    await this.runtime.resume(rec.Id);
    transition(rec, "unpause", refused);
    this.health.begin(rec, { fresh: false });
    this.containers.save(rec);
    this.publish(rec, "unpause");
  }

  /**
   * `docker update`: new limits and restart policy. A running or paused container gets them in
   * its cgroups at once (the kernel may refuse: then nothing changes); a created, exited or
   * restarting one keeps them in its record for its next start, as every start writes the
   * bundle from the record. The restart policy is read from the record at each exit.
   */
  update(ref: string, body: UpdateBody): { Warnings: string[] } {
    const rec = this.containers.get(ref);
    const refuse = (err: unknown): never => {
      if (err instanceof GantryError && err.code !== "INVALID_ARGUMENT") {
        throw new GantryError(err.code, `Cannot update container ${rec.Id}: ${err.message}`, err.details);
      }
      throw err;
    };
    if (rec.State.Status === "removing" || rec.State.Status === "dead") {
      refuse(conflict(`container is marked for removal and cannot be "update"`));
    }
    let plan: ReturnType<typeof planUpdate>;
    try {
      plan = planUpdate(rec.HostConfig, body, this.host);
    } catch (err) {
      return refuse(err);
    }
    if (plan.resources && hasProcess(rec.State.Status)) {
      try {
        this.runtime.update(rec.Id, plan.resources);
      } catch (err) {
        refuse(err);
      }
    }
    rec.HostConfig = plan.hostConfig;
    this.containers.save(rec);
    this.publish(rec, "update");
    return { Warnings: plan.warnings };
  }

  rename(ref: string, newName: string): void {
    const rec = this.containers.get(ref);
    if (!newName) throw invalidArgument("Neither old nor new names may be empty");
    const name = validateName(newName);
    const other = this.containers.nameInUse(name);
    if (other && other.Id !== rec.Id) {
      throw new GantryError("ALREADY_EXISTS", `Error when allocating new name: Conflict. The container name "${name}" is already in use by container "${other.Id}". You have to remove (or rename) that container to be able to reuse that name.`);
    }
    const old = rec.Name;
    rec.Name = name;
    this.containers.save(rec);
    this.publish(rec, "rename", { oldName: old });
  }

  // ---- remove -------------------------------------------------------------------------------

  /** `docker rm --link /parent/alias` (dockerd's rmLink): the parent's link of that alias goes
   * from its HostConfig.Links; the running parent keeps its hosts line and environment. */
  removeLink(link: string): void {
    const parentName = link.slice(0, link.lastIndexOf("/"));
    const parent = this.containers.find(parentName);
    const kept = parent ? withoutLink(parent.HostConfig.Links, link) : undefined;
    if (!parent || !kept) throw notFound(`No such container: ${link.slice(1)}`);
    parent.HostConfig.Links = kept.length ? kept : null;
    this.containers.save(parent);
  }

  removeContainer(ref: string, opts: { force: boolean; volumes: boolean }): Promise<void> {
    return this.removeRecord(this.containers.get(ref), opts, { exitUnwritten: false });
  }

  /**
   * `exitUnwritten`: called by the exit of an AutoRemove container, whose record on disk still
   * says running beside its exit file — the state a crash from here on must leave, as restore
   * then handles the exit again and removes the container. Marking it "removing" on disk
   * would protect nothing more, so that write is skipped.
   */
  private async removeRecord(rec: ContainerRecord, opts: { force: boolean; volumes: boolean }, how: { exitUnwritten: boolean }): Promise<void> {
    if (isUp(rec.State.Status) && !opts.force) {
      throw conflict(
        `cannot remove container "${rec.Name}": container is ${rec.State.Status}: stop the container before removing or force remove`,
      );
    }
    this.supervisors.peek(rec.Id)?.cancelRestart();
    if (hasProcess(rec.State.Status)) {
      rec.ManuallyStopped = true;
      rec.HostConfig.AutoRemove = false; // we remove it here, not the exit handler
      this.containers.save(rec);
      const exited = this.waitFor(rec.Id, "not-running");
      try {
        if (rec.State.Status === "paused") await this.runtime.resume(rec.Id).catch(() => {});
        this.runtime.kill(rec.Id, "SIGKILL", true);
      } catch {
        /* exited meanwhile */
      }
      await Promise.race([exited.promise, this.clock.sleep(10_000)]);
      exited.cancel();
    }
    transition(rec, "remove");
    void this.health.end(rec, { markUnhealthy: false });
    this.unwatchExit(rec.Id);
    // On disk, "removing" makes a daemon that crashes half-way through finish the removal at
    // restore rather than show a container with half of its resources gone.
    if (!how.exitUnwritten) this.containers.save(rec);
    await this.runtime.delete(rec.Id, true).catch(() => {});
    const leftNetworks = this.disconnectNetwork(rec.Id);
    await this.volumes.release(rec.Id, opts.volumes).catch((e: unknown) => this.log(`volume release: ${(e as Error).message}`));
    rmSync(this.attachSocket(rec.Id), { force: true });
    this.containers.remove(rec.Id);
    this.userns.release(rec.Id);
    this.publish(rec, "destroy");
    this.resolveWaiters(rec.Id, ["removed", "next-exit", "not-running"], rec.State.ExitCode);
    // The writable layer goes last, off the `run --rm` critical path: nothing refers to it now.
    // (A daemon stopped before this runs leaves the mount; restore() does not know it any more,
    // so close() drains these first.)
    const task = () => {
      this.pendingLayerRemovals.delete(task);
      try {
        if (rec.Rootfs && isMountPoint(rec.Rootfs)) unmountRootfs(rec.Rootfs);
      } catch (err) {
        // A busy mount: detach it lazily rather than leave the layer behind.
        spawnSync("umount", ["-l", rec.Rootfs]);
        this.log(`unmount ${rec.Rootfs}: ${(err as Error).message}`);
      }
      // Its files are deleted on the thread pool, not on this event loop.
      const removal = discardContainerRootfs(this.images, rec.Id)
        .catch((e: unknown) => this.log(`remove the layer of ${rec.Id.slice(0, 12)}: ${(e as Error).message}`))
        .finally(() => this.layerRemovalsInFlight.delete(removal));
      this.layerRemovalsInFlight.add(removal);
    };
    this.pendingLayerRemovals.add(task);
    setImmediate(() => {
      if (this.pendingLayerRemovals.has(task)) task();
    });
    // `docker rm` answers when nothing of the container's network is left; the waiters above
    // (`run --rm`'s "removed") did not wait for the plugins' DEL.
    await leftNetworks;
  }

  // ---- wait ---------------------------------------------------------------------------------

  /** Registers a waiter synchronously (docker posts wait before start). */
  waitFor(ref: string, condition: WaitCondition): { promise: Promise<WaitResult>; cancel: () => void } {
    const rec = this.containers.get(ref);
    let waiter!: Waiter;
    const promise = new Promise<WaitResult>((resolve) => {
      waiter = { condition, resolve };
    });
    const st = rec.State.Status;
    if (condition === "not-running" && !isUp(st)) {
      waiter.resolve({ StatusCode: rec.State.ExitCode, Error: null });
      return { promise, cancel: () => {} };
    }
    const sup = this.supervisors.of(rec.Id);
    sup.waiters.push(waiter);
    return {
      promise,
      cancel: () => {
        sup.waiters = sup.waiters.filter((w) => w !== waiter);
        this.supervisors.release(rec.Id);
      },
    };
  }

  private resolveWaiters(id: string, conditions: WaitCondition[], code: number): void {
    const sup = this.supervisors.peek(id);
    if (!sup) return;
    const rec = this.containers.find(id);
    const keep: Waiter[] = [];
    for (const w of sup.waiters) {
      // With a restart policy, not-running waits until the container really stays down.
      if (conditions.includes(w.condition) && !(w.condition === "not-running" && rec && rec.State.Status === "restarting")) {
        w.resolve({ StatusCode: code, Error: null });
      } else keep.push(w);
    }
    sup.waiters = keep;
    this.supervisors.release(id);
  }

  // ---- helpers ------------------------------------------------------------------------------

  publish(rec: ContainerRecord, action: string, extra: Record<string, string> = {}): void {
    this.events.publish("container", action, rec.Id, {
      ...(rec.Config.Labels ?? {}),
      image: rec.Config.Image ?? "",
      name: rec.Name.slice(1),
      ...extra,
    });
  }

  imageName(rec: ContainerRecord): string {
    return rec.Config.Image ?? familiarName(rec.Image);
  }

  async prune(): Promise<{ ContainersDeleted: string[]; SpaceReclaimed: number }> {
    const deleted: string[] = [];
    for (const rec of this.containers.all()) {
      if (isDown(rec.State.Status)) {
        await this.removeContainer(rec.Id, { force: false, volumes: false }).catch(() => {});
        deleted.push(rec.Id);
      }
    }
    return { ContainersDeleted: deleted, SpaceReclaimed: 0 };
  }
}

/**
 * Whether a container's rootfs directory has its overlay mounted: an overlay mount has a
 * device of its own, unlike the directory it sits in. Two stat(2) calls — reading
 * /proc/self/mountinfo instead cost ~0.5 ms, several times per container start.
 */
export function isMountPoint(path: string): boolean {
  const here = statSync(path, { throwIfNoEntry: false });
  const parent = statSync(dirname(path), { throwIfNoEntry: false });
  return here !== undefined && parent !== undefined && here.dev !== parent.dev;
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}


function parseSize(s: string | undefined): number | undefined {
  if (!s) return undefined;
  const m = /^(\d+(?:\.\d+)?)\s*([kmg]?)b?$/i.exec(s.trim());
  if (!m) throw invalidArgument(`invalid max-size ${JSON.stringify(s)}`);
  const mult = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2]!.toLowerCase() as "" | "k" | "m" | "g"];
  return Math.floor(Number(m[1]) * mult);
}

/** A monitor's exit file. Written to a temporary name and renamed, so it is whole or absent;
 * unreadable JSON can only be one written without an fsync (`run --rm`) that a power loss
 * cut short: as if absent (its dead monitor then reports the exit). */
function readExitFile(file: string): { exitCode: number; signal: number; finishedAtMs: number } | undefined {
  try {
    return readJsonIfExists<{ exitCode: number; signal: number; finishedAtMs: number }>(file);
  } catch (err) {
    if (err instanceof SyntaxError) return undefined;
    throw err;
  }
}
