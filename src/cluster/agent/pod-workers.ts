// One worker per pod UID (kubelet's pod_workers.go): informer handlers and engine exits only
// record the newest desired pod and queue its UID; a keyed queue hands each UID to at most one
// sync at a time, and a UID queued during its sync is synced again afterwards, so the newest
// desired state always wins and no event is lost. Each sync is level-triggered: it compares
// the desired pod with what the engine runs (read back from the engine's labels) and acts.
//
// A pod's life, per UID:
//
//   syncing ──(deletionTimestamp, or gone from the API)──> terminating ──(all stopped)──> terminated
//      │                                                     stop containers with the grace
//      └─ sandbox, init containers in order, app containers;  period, then the sandbox; post
//         restarts per restartPolicy with CrashLoopBackOff;   the final status; DELETE with
//         status posted when it changes                       grace 0 and a uid precondition;
//                                                             remove the engine's containers
//
// Probes (prober.ts) run beside the sync: a changed result queues the pod, readiness goes into
// the status, and a failed liveness or startup probe kills the container (its preStop hook
// first, within the grace period), which then restarts per restartPolicy with the back-off.
import { hash } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Clock, Timer } from "../../common/clock.ts";
import { describeError } from "../../common/errors.ts";
import { ExponentialBackoff, WorkQueue, isConflict, isNotFound, type Client } from "../client/index.ts";
import type { Engine } from "../../engine/index.ts";
import { CONFIGMAPS, PODS, SECRETS } from "./api-refs.ts";
import { CrashBackoff } from "./crash-backoff.ts";
import { containerSpec, sandboxSpec } from "./engine-specs.ts";
import { containerEnv, EnvConfigError, type EnvSources, type ServiceForEnv } from "./env.ts";
import type { EventRecorder } from "./events.ts";
import { HandlerError, runHandler, type ExecRunner, type HandlerTarget } from "./handlers.ts";
import { ensureImage, ensurePauseImage, ImageError } from "./images.ts";
import { POST_START_TIMEOUT_MS, runHook } from "./lifecycle-hooks.ts";
import { backoffKey, computePodActions, type Waiting } from "./pod-actions.ts";
import { podResolvConf, parseResolvConf, type ClusterDnsConfig } from "./pod-dns.ts";
import { computePodStatus } from "./pod-status.ts";
import type { Container, Pod, PodStatus } from "./pod-types.ts";
import { Prober, type ProbeType } from "./prober.ts";
import { openCgroups } from "../../runtime/index.ts";
import { podCgroupParent, podCgroupResources } from "./resources.ts";
import { PodVolumes, VolumeSetUpError, type MountedVolume } from "./pod-volumes.ts";
import { PodUserns } from "./pod-userns.ts";
import { containerMounts } from "./volume-mounts.ts";
import { prepareTerminationLog, terminationLogFile, terminationMessage } from "./termination-message.ts";
import { engineName, hasExited, isRunning, runtimePods, type RuntimeContainer, type RuntimePod } from "./runtime-pods.ts";
import { timeRuntimeOperation } from "./kubelet-metrics.ts";

export type PodLifecycle = "syncing" | "terminating" | "terminated";

export interface PodWorkersOptions {
  engine: Engine;
  client: Client;
  nodeName: string;
  hostIP: () => string;
  allocatable: () => { cpu: string; memory: string; "ephemeral-storage": string };
  clock: Clock;
  events: EventRecorder;
  log: (m: string) => void;
  /** Runs exec probes and hooks in a container (the engine's exec). */
  exec: ExecRunner;
  /** Where pods' directories live (<data root>/pods): volumes and termination message files. */
  podsRoot: string;
  /** The cgroup kubepods lives in (default /kubepods). */
  cgroupRoot?: string;
  /** Syncs of different pods at once. */
  concurrency?: number;
  /** Every pod is synced at least this often (the kubelet's resync), ms. */
  resyncMs?: number;
  /** Pods' resolv.conf: the cluster DNS, the node's own file, and where each pod's is written. */
  dns?: { cluster: ClusterDnsConfig; resolvConf: string; dir: string };
  /** The Services the node knows (for containers' service env vars). */
  services?: () => ServiceForEnv[];
  /** Told when each sync begins and ends (the agent's QuietCollector). */
  activity?: { begin(): void; end(): void };
}

const SANDBOX_STOP_SECONDS = 2;
/** The kubelet's minimumGracePeriodInSeconds: what a container gets to stop even when its preStop hook used up the grace period. */
const MIN_GRACE_SECONDS = 2;
const capitalized = (s: string) => s[0]!.toUpperCase() + s.slice(1);
/** A volume that could not be set up is tried again this soon (the kubelet's volume manager retries continually). */
const VOLUME_RETRY_MS = 5_000;

export class PodWorkers {
  /** The newest desired pod per UID, as the informer last told it; absent once it left the API. */
  private readonly desired = new Map<string, Pod>();
  private readonly lifecycle = new Map<string, PodLifecycle>();
  /** Why containers wait, per pod (kept between syncs for the status). */
  private readonly waiting = new Map<string, Map<string, Waiting>>();
  /** A digest of the status last written per pod (not its JSON: ~1.1 kB a pod), to skip writing the same again. */
  private readonly lastStatus = new Map<string, string>();
  /** The last FailedMount told per pod (its message and when). */
  private readonly mountFailures = new Map<string, { message: string; at: number }>();
  /** Terminated containers' messages, per pod and container ID (they never change once read). */
  private readonly messages = new Map<string, Map<string, string | undefined>>();
  private readonly queue: WorkQueue;
  private readonly crashBackoff: CrashBackoff;
  private readonly pullBackoff: CrashBackoff;
  private readonly pullFailedAt = new Map<string, number>();
  private readonly running: Promise<void>[] = [];
  private readonly prober: Prober;
  private readonly volumes: PodVolumes;
  /** The ranges of pods with a user namespace of their own (hostUsers: false). */
  private readonly userns: PodUserns;
  private resync: Timer | undefined;
  private synced = false;
  private readonly onEngineEvent = (ev: { Type?: string; Action?: string; Actor?: { Attributes?: Record<string, string> } }) => {
    const uid = ev.Actor?.Attributes?.["io.kubernetes.pod.uid"];
    if (uid && ev.Type === "container" && (ev.Action === "die" || ev.Action === "oom")) this.queue.add(uid);
  };

  constructor(private readonly o: PodWorkersOptions) {
    this.queue = new WorkQueue({ clock: o.clock, rateLimiter: new ExponentialBackoff(500, 30_000) });
    this.crashBackoff = new CrashBackoff(o.clock);
    this.pullBackoff = new CrashBackoff(o.clock);
    this.prober = new Prober({
      clock: o.clock,
      pod: (uid) => this.desired.get(uid),
      container: (uid, name) => {
        const latest = this.runtimePod(uid)?.containers.get(name)?.[0];
        return latest && { id: latest.id, running: isRunning(latest), exited: hasExited(latest), startedAtMs: Date.parse(latest.record.State.StartedAt) || 0 };
      },
      run: async (pod, c, probe, _type, containerId) => {
        const o = await runHandler(probe, this.handlerTarget(pod, c, containerId), Math.max(1, probe.timeoutSeconds ?? 1) * 1000);
        return { result: o.ok ? "success" : "failure", output: o.output };
      },
      changed: (uid) => this.queue.add(uid),
      unhealthy: (pod, c, type, output) => this.o.events.pod(pod, "Warning", "Unhealthy", `${capitalized(type)} probe failed: ${output}`, c.name),
      log: o.log,
    });
    this.volumes = new PodVolumes({ root: o.podsRoot, client: o.client, log: o.log });
    this.userns = new PodUserns(o.podsRoot);
  }

  /** The informer's view: a pod bound to this node was added or changed. */
  update(pod: Pod): void {
    const uid = pod.metadata.uid;
    if (!uid) return;
    this.desired.set(uid, pod);
    this.queue.add(uid);
  }

  /** The pod left the API (or this node): whatever runs of it is stopped. */
  remove(pod: Pod): void {
    const uid = pod.metadata.uid;
    if (!uid) return;
    this.desired.delete(uid);
    this.queue.add(uid);
  }

  /**
   * Starts the workers once the desired pods are known (the informer has synced): every pod
   * the engine runs is then queued too, so pods whose API object went away while the agent
   * was down are stopped, and running ones are adopted as they are.
   */
  start(): void {
    this.synced = true;
    this.o.engine.events.on("event", this.onEngineEvent);
    for (const uid of runtimePods(this.o.engine).keys()) this.queue.add(uid);
    // Volume directories of pods that left while the agent was down are removed too.
    for (const uid of this.volumes.podUIDs()) this.queue.add(uid);
    for (let i = 0; i < (this.o.concurrency ?? 5); i++) this.running.push(this.work());
    this.resync = this.o.clock.every(this.o.resyncMs ?? 10_000, () => {
      for (const uid of new Set([...this.desired.keys(), ...runtimePods(this.o.engine).keys()])) this.queue.add(uid);
    });
  }

  async stop(): Promise<void> {
    this.resync?.cancel();
    this.prober.stopAll();
    this.o.engine.events.off("event", this.onEngineEvent);
    this.queue.shutDown();
    await Promise.all(this.running);
  }

  lifecycleOf(uid: string): PodLifecycle | undefined {
    return this.lifecycle.get(uid);
  }

  private async work(): Promise<void> {
    for (;;) {
      const uid = await this.queue.get();
      if (uid === undefined) return;
      this.o.activity?.begin();
      try {
        const retryMs = await this.sync(uid);
        this.queue.forget(uid);
        if (retryMs !== undefined) this.queue.addAfter(uid, retryMs);
      } catch (err) {
        this.o.log(`pod ${this.desired.get(uid)?.metadata.name ?? uid}: sync failed: ${describeError(err)}`);
        this.queue.addRateLimited(uid);
      } finally {
        this.queue.done(uid);
        this.o.activity?.end();
      }
    }
  }

  private runtimePod(uid: string): RuntimePod | undefined {
    return runtimePods(this.o.engine).get(uid);
  }

  /** One level-triggered pass for a pod; returns when to look again, if a timer is due. */
  private async sync(uid: string): Promise<number | undefined> {
    if (!this.synced) return undefined;
    const pod = this.desired.get(uid);
    if (!pod) return this.cleanUp(uid);
    if (pod.metadata.deletionTimestamp) return this.terminate(pod);
    this.lifecycle.set(uid, "syncing");
    const now = this.o.clock.now();
    let rp = this.runtimePod(uid);
    this.prober.syncPod(pod);
    if (await this.killUnhealthy(pod, rp)) rp = this.runtimePod(uid);
    let actions = computePodActions(pod, rp, this.crashBackoff, now);
    if (actions.done) {
      await this.stopPod(pod, rp, SANDBOX_STOP_SECONDS, true);
      await this.postStatus(pod, this.runtimePod(uid), false);
      return undefined;
    }
    // Volumes first, as the kubelet's WaitForAttachAndMount: nothing starts without them. At
    // every sync of a live pod they are refreshed (a changed ConfigMap reaches its files).
    let volumes: Map<string, MountedVolume>;
    try {
      // A pod with a user namespace of its own has its range before its volumes (their owners).
      if (pod.spec.hostUsers === false) this.podRange(pod);
      volumes = await this.volumes.setUp(pod, { hostIP: this.o.hostIP(), podIP: this.podIPOf(pod, rp?.sandboxes[0]) ?? "", allocatable: this.o.allocatable() }, (gid) => this.userns.hostGid(uid, gid));
      this.userns.shareWithPod(uid);
    } catch (err) {
      if (!(err instanceof VolumeSetUpError)) throw err;
      // The same failure is told again only once a minute, not at every retry.
      const told = this.mountFailures.get(uid);
      if (told?.message !== err.message || now - told.at >= 60_000) {
        this.o.events.pod(pod, "Warning", "FailedMount", err.message);
        this.mountFailures.set(uid, { message: err.message, at: now });
      }
      this.waiting.set(uid, new Map(actions.waiting));
      await this.postStatus(pod, rp, false);
      return VOLUME_RETRY_MS;
    }
    this.mountFailures.delete(uid);
    if (actions.createSandbox !== undefined) {
      // New namespaces: whatever still runs in the old ones stops first.
      await this.stopPod(pod, rp, pod.spec.terminationGracePeriodSeconds ?? 30, false);
      await this.createSandbox(pod, actions.createSandbox);
      rp = this.runtimePod(uid);
      actions = computePodActions(pod, rp, this.crashBackoff, now);
    }
    const waiting = new Map(actions.waiting);
    const sandbox = rp?.sandboxes[0];
    let retryMs = actions.retryAfterMs;
    if (sandbox && isRunning(sandbox)) {
      for (const s of actions.start) {
        const w = await this.startContainer(pod, s.container, s.init, s.attempt, sandbox, volumes);
        if (w) {
          waiting.set(s.container.name, w.waiting);
          if (w.retryMs !== undefined) retryMs = Math.min(retryMs ?? Infinity, w.retryMs);
        }
      }
    }
    this.waiting.set(uid, waiting);
    rp = this.runtimePod(uid);
    this.collectGarbage(rp);
    await this.postStatus(pod, rp, false);
    return retryMs;
  }

  // ---- sandbox and containers -------------------------------------------------------------

  private podRef(pod: Pod) {
    return { name: pod.metadata.name ?? "", namespace: pod.metadata.namespace ?? "", uid: pod.metadata.uid ?? "" };
  }

  private async createSandbox(pod: Pod, attempt: number): Promise<void> {
    const image = await ensurePauseImage(this.o.engine);
    const body = sandboxSpec(pod, { image, cgroupParent: podCgroupParent(pod, this.o.cgroupRoot), attempt });
    const userns = pod.spec.hostUsers === false ? this.podRange(pod) : undefined;
    const { Id } = await timeRuntimeOperation("create_podsandbox", () => this.o.engine.createContainer(engineName("POD", this.podRef(pod), attempt), body, userns ? { userns } : {}));
    try {
      await timeRuntimeOperation("start_podsandbox", () => this.o.engine.start(Id));
    } catch (err) {
      await this.o.engine.removeContainer(Id, { force: true, volumes: true }).catch(() => {});
      this.o.events.pod(pod, "Warning", "FailedCreatePodSandBox", `Failed to create pod sandbox: ${(err as Error).message}`);
      throw err;
    }
    this.limitPodCgroup(pod);
  }

  /** The pod's user namespace range (pod-userns.ts); a refusal is told as the kubelet tells a sandbox it could not make. */
  private podRange(pod: Pod) {
    try {
      return this.userns.forPod(pod.metadata.uid!);
    } catch (err) {
      this.o.events.pod(pod, "Warning", "FailedCreatePodSandBox", `Failed to create pod sandbox: ${(err as Error).message}`);
      throw err;
    }
  }

  /**
   * The pod cgroup's own limits (the sum of its containers', podCgroupResources), written once
   * the sandbox has made the directory and before any container runs in it. The engine's
   * runtime owns the directory (it removes it with the pod's last container); this only writes.
   */
  private limitPodCgroup(pod: Pod): void {
    try {
      openCgroups({ cgroupsPath: podCgroupParent(pod, this.o.cgroupRoot), containerId: "", resources: podCgroupResources(pod), create: true });
    } catch (err) {
      this.o.log(`pod ${pod.metadata.namespace}/${pod.metadata.name}: the pod cgroup's limits: ${describeError(err)}`);
    }
  }

  private envSources(): EnvSources {
    const get = async <T>(ref: typeof CONFIGMAPS, ns: string, name: string): Promise<T | undefined> => {
      try {
        return (await this.o.client.resource(ref).get(ns, name)) as T;
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    };
    return { configMap: (ns, name) => get(CONFIGMAPS, ns, name), secret: (ns, name) => get(SECRETS, ns, name) };
  }

  /** Pulls, resolves env, creates and starts one container; says why it waits when it cannot. */
  private async startContainer(pod: Pod, c: Container, init: boolean, attempt: number, sandbox: RuntimeContainer, volumes: Map<string, MountedVolume>): Promise<{ waiting: Waiting; retryMs?: number } | undefined> {
    const key = backoffKey(pod, c.name);
    const failedAt = this.pullFailedAt.get(key);
    if (failedAt !== undefined) {
      const remaining = this.pullBackoff.remainingMs(key, failedAt);
      if (remaining > 0) return { waiting: { reason: "ImagePullBackOff", message: `Back-off pulling image "${c.image}"` }, retryMs: remaining };
    }
    let image: string;
    try {
      image = await ensureImage(this.o.engine, c, (m) => this.o.events.pod(pod, "Warning", "Failed", m, c.name));
      this.pullFailedAt.delete(key);
    } catch (err) {
      if (!(err instanceof ImageError)) throw err;
      this.pullBackoff.next(key);
      this.pullFailedAt.set(key, this.o.clock.now());
      this.o.events.pod(pod, "Warning", "Failed", err.message, c.name);
      return { waiting: { reason: err.reason, message: err.message }, retryMs: this.pullBackoff.delayMs(key) };
    }
    let env: string[];
    try {
      env = await containerEnv(c, { pod, hostIP: this.o.hostIP(), podIP: this.podIPOf(pod, sandbox) ?? "", allocatable: this.o.allocatable(), sources: this.envSources(), services: this.o.services?.() });
    } catch (err) {
      if (!(err instanceof EnvConfigError)) throw err;
      this.o.events.pod(pod, "Warning", "Failed", `Error: ${err.message}`, c.name);
      return { waiting: { reason: "CreateContainerConfigError", message: err.message }, retryMs: 10_000 };
    }
    let mounts;
    try {
      mounts = containerMounts(c, volumes, env);
    } catch (err) {
      if (!(err instanceof VolumeSetUpError)) throw err;
      this.o.events.pod(pod, "Warning", "Failed", `Error: ${err.message}`, c.name);
      return { waiting: { reason: "CreateContainerConfigError", message: err.message }, retryMs: VOLUME_RETRY_MS };
    }
    const terminationLog = terminationLogFile(this.o.podsRoot, pod.metadata.uid!, c.name, attempt);
    prepareTerminationLog(terminationLog);
    this.userns.shareWithPod(pod.metadata.uid!);
    const resolvConf = this.writeResolvConf(pod);
    const body = containerSpec(pod, c, image, { sandboxId: sandbox.id, cgroupParent: podCgroupParent(pod, this.o.cgroupRoot), attempt, init, env, mounts, terminationLog, ...(resolvConf ? { resolvConf } : {}) });
    let id: string;
    try {
      id = (await timeRuntimeOperation("create_container", () => this.o.engine.createContainer(engineName(c.name, this.podRef(pod), attempt), body))).Id;
    } catch (err) {
      this.o.events.pod(pod, "Warning", "Failed", `Error: ${(err as Error).message}`, c.name);
      return { waiting: { reason: "CreateContainerError", message: (err as Error).message }, retryMs: 10_000 };
    }
    this.o.events.pod(pod, "Normal", "Created", `Created container ${c.name}`, c.name);
    try {
      await timeRuntimeOperation("start_container", () => this.o.engine.start(id));
      this.o.events.pod(pod, "Normal", "Started", `Started container ${c.name}`, c.name);
    } catch (err) {
      // The engine keeps it as exited with the error: its status says StartError, and the
      // restart policy and back-off take it from there.
      this.o.events.pod(pod, "Warning", "Failed", `Error: ${(err as Error).message}`, c.name);
      return undefined;
    }
    const postStart = c.lifecycle?.postStart;
    if (postStart) {
      const failure = await runHook(postStart, pod, this.handlerTarget(pod, c, id), POST_START_TIMEOUT_MS);
      if (failure) {
        // As the kubelet: the event, then the container is killed (its preStop runs) and
        // restarts per restartPolicy.
        this.o.events.pod(pod, "Warning", "FailedPostStartHook", failure, c.name);
        const rc = this.runtimePod(pod.metadata.uid!)?.containers.get(c.name)?.find((x) => x.id === id);
        if (rc) await this.killContainer(pod, rc, pod.spec.terminationGracePeriodSeconds ?? 30, "FailedPostStartHook");
        return { waiting: { reason: "PostStartHookError", message: failure } };
      }
    }
    return undefined;
  }

  private handlerTarget(pod: Pod, c: Container, containerId: string): HandlerTarget {
    return { container: c, containerId, podIP: this.podIPOf(pod, this.runtimePod(pod.metadata.uid!)?.sandboxes[0]), exec: this.o.exec, clock: this.o.clock };
  }

  /** Kills the running containers whose liveness or startup probe failed; says whether any was. */
  private async killUnhealthy(pod: Pod, rp: RuntimePod | undefined): Promise<boolean> {
    const kills: Promise<void>[] = [];
    for (const c of pod.spec.containers) {
      const latest = rp?.containers.get(c.name)?.[0];
      if (!latest || !isRunning(latest)) continue;
      const reason: ProbeType | undefined = this.prober.killReason(latest.id);
      if (!reason) continue;
      const probe = reason === "liveness" ? c.livenessProbe : c.startupProbe;
      const restart = (pod.spec.restartPolicy ?? "Always") !== "Never";
      const message = `Container ${c.name} failed ${reason} probe${restart ? ", will be restarted" : ""}`;
      kills.push(this.killContainer(pod, latest, probe?.terminationGracePeriodSeconds ?? pod.spec.terminationGracePeriodSeconds ?? 30, message));
    }
    await Promise.all(kills);
    return kills.length > 0;
  }

  /**
   * kubelet's killContainer: the Killing event, the container's preStop hook within the grace
   * period, then the stop signal with what is left of it (at least 2 s), SIGKILL at its end.
   */
  private async killContainer(pod: Pod | undefined, rc: RuntimeContainer, graceSeconds: number, message?: string): Promise<void> {
    const spec = pod?.spec.containers.find((c) => c.name === rc.name) ?? pod?.spec.initContainers?.find((c) => c.name === rc.name);
    if (pod) this.o.events.pod(pod, "Normal", "Killing", message ?? `Stopping container ${rc.name}`, rc.name);
    let grace = graceSeconds;
    const preStop = spec?.lifecycle?.preStop;
    if (pod && spec && preStop && grace > 0) {
      const started = this.o.clock.now();
      const failure = await runHook(preStop, pod, this.handlerTarget(pod, spec, rc.id), grace * 1000).catch((err: unknown) => (err instanceof HandlerError ? err.message : describeError(err)));
      if (failure) this.o.events.pod(pod, "Warning", "FailedPreStopHook", failure, rc.name);
      grace -= Math.floor((this.o.clock.now() - started) / 1000);
    }
    await this.o.engine.stop(rc.id, Math.max(grace, MIN_GRACE_SECONDS)).catch((err: unknown) => this.o.log(`stop ${rc.id.slice(0, 12)}: ${describeError(err)}`));
  }

  private podIPOf(pod: Pod, sandbox: RuntimeContainer | undefined): string | undefined {
    if (pod.spec.hostNetwork) return this.o.hostIP();
    if (!sandbox || !isRunning(sandbox)) return undefined;
    const ep = this.o.engine.networks?.endpointsOf(sandbox.id)[0];
    return ep?.address.split("/")[0];
  }

  /** Stops the pod's containers (all at once, each with its preStop hook and the grace period), then its sandbox. */
  private async stopPod(pod: Pod | undefined, rp: RuntimePod | undefined, graceSeconds: number, keepSandbox: boolean): Promise<void> {
    if (!rp) return;
    const running = [...rp.containers.values()].flat().filter(isRunning);
    await Promise.all(running.map((c) => this.killContainer(pod, c, graceSeconds)));
    if (keepSandbox && running.length === 0 && !rp.sandboxes.some(isRunning)) return;
    for (const s of rp.sandboxes.filter(isRunning)) {
      await this.o.engine.stop(s.id, SANDBOX_STOP_SECONDS).catch((err: unknown) => this.o.log(`stop sandbox ${s.id.slice(0, 12)}: ${describeError(err)}`));
    }
  }

  /** Keeps the newest two attempts of each container (the running one and --previous) and the newest sandbox. */
  private collectGarbage(rp: RuntimePod | undefined): void {
    if (!rp) return;
    const old = [...[...rp.containers.values()].flatMap((l) => l.slice(2)), ...rp.sandboxes.slice(1)].filter(hasExited);
    for (const c of old) void this.o.engine.removeContainer(c.id, { force: true, volumes: true }).catch(() => {});
  }

  // ---- termination --------------------------------------------------------------------------

  /** deletionTimestamp is set: stop everything within the grace period, post the final status, let the API drop the pod. */
  private async terminate(pod: Pod): Promise<undefined> {
    const uid = pod.metadata.uid!;
    if (this.lifecycle.get(uid) === "terminated") return undefined;
    this.lifecycle.set(uid, "terminating");
    const grace = Math.max(0, pod.metadata.deletionGracePeriodSeconds ?? pod.spec.terminationGracePeriodSeconds ?? 30);
    const rp = this.runtimePod(uid);
    const running = rp ? [...rp.containers.values()].flat().filter(isRunning) : [];
    await this.stopPod(pod, rp, grace, false);
    this.waiting.delete(uid);
    this.o.log(`pod ${pod.metadata.namespace}/${pod.metadata.name}: stopped ${running.length} container(s) within ${grace}s; removing it from the API`);
    await this.postStatus(pod, this.runtimePod(uid), true).catch((err: unknown) => {
      if (!isNotFound(err)) throw err;
    });
    try {
      await this.o.client.resource(PODS).delete(pod.metadata.namespace, pod.metadata.name!, { gracePeriodSeconds: 0, preconditions: { uid } });
    } catch (err) {
      // Gone already, or a new pod of that name (the precondition): either way not ours to delete.
      if (!isNotFound(err) && !isConflict(err)) throw err;
    }
    this.lifecycle.set(uid, "terminated");
    await this.removeAll(uid);
    this.volumes.tearDown(uid);
    this.userns.release(uid);
    return undefined;
  }

  /** The pod is no longer in the API: stop what runs with the grace it was made with, and remove it. */
  private async cleanUp(uid: string): Promise<undefined> {
    const rp = this.runtimePod(uid);
    if (rp) {
      const pending = this.lifecycle.get(uid) !== "terminated";
      if (pending) await this.stopPod(undefined, rp, rp.graceSeconds, false);
      await this.removeAll(uid);
    }
    this.prober.removePod(uid);
    if (this.o.dns) rmSync(join(this.o.dns.dir, `${uid}.resolv.conf`), { force: true });
    this.volumes.tearDown(uid);
    this.userns.release(uid);
    this.messages.delete(uid);
    this.lifecycle.delete(uid);
    this.waiting.delete(uid);
    this.lastStatus.delete(uid);
    this.mountFailures.delete(uid);
    this.crashBackoff.forgetPod(uid);
    this.pullBackoff.forgetPod(uid);
    for (const k of [...this.pullFailedAt.keys()]) if (k.startsWith(`${uid}/`)) this.pullFailedAt.delete(k);
    return undefined;
  }

  /**
   * The pod's resolv.conf (pod-dns.ts), written atomically where its containers bind it over
   * /etc/resolv.conf; rewritten for every container so a changed node file is picked up.
   */
  private writeResolvConf(pod: Pod): string | undefined {
    const dns = this.o.dns;
    if (!dns) return undefined;
    let node = "";
    try {
      node = readFileSync(dns.resolvConf, "utf8");
    } catch {
      /* no node resolv.conf: cluster DNS or dnsConfig only */
    }
    const path = join(dns.dir, `${pod.metadata.uid}.resolv.conf`);
    mkdirSync(dns.dir, { recursive: true });
    writeFileSync(`${path}.tmp`, podResolvConf(pod, dns.cluster, parseResolvConf(node)));
    renameSync(`${path}.tmp`, path);
    return path;
  }

  private async removeAll(uid: string): Promise<void> {
    const rp = this.runtimePod(uid);
    if (!rp) return;
    const all = [...[...rp.containers.values()].flat(), ...rp.sandboxes];
    await Promise.all(all.map((c) => this.o.engine.removeContainer(c.id, { force: true, volumes: true }).catch((err: unknown) => this.o.log(`remove ${c.id.slice(0, 12)}: ${describeError(err)}`))));
  }

  // ---- status ----------------------------------------------------------------------------------

  private terminationMessageOf(pod: Pod, rc: RuntimeContainer): string | undefined {
    const uid = pod.metadata.uid!;
    let byId = this.messages.get(uid);
    if (!byId) this.messages.set(uid, (byId = new Map()));
    if (byId.has(rc.id)) return byId.get(rc.id);
    const spec = pod.spec.containers.find((c) => c.name === rc.name) ?? pod.spec.initContainers?.find((c) => c.name === rc.name);
    const message = spec ? terminationMessage(spec, terminationLogFile(this.o.podsRoot, uid, rc.name, rc.attempt), rc.record.State.ExitCode, this.o.engine.logPath(rc.id)) : undefined;
    byId.set(rc.id, message);
    return message;
  }

  private async postStatus(pod: Pod, rp: RuntimePod | undefined, terminating: boolean): Promise<void> {
    const uid = pod.metadata.uid!;
    const status: PodStatus = computePodStatus({
      pod,
      runtime: rp,
      waiting: this.waiting.get(uid) ?? new Map(),
      hostIP: this.o.hostIP(),
      podIP: this.podIPOf(pod, rp?.sandboxes[0]) ?? pod.status?.podIP,
      probes: {
        started: (name, id, running) => this.prober.isStarted(uid, name, id, running),
        ready: (name, id, running) => this.prober.isReady(uid, name, id, running),
      },
      terminationMessage: (rc) => this.terminationMessageOf(pod, rc),
      terminating,
      now: new Date(this.o.clock.now()).toISOString(),
    });
    const digest = hash("sha1", JSON.stringify(status), "base64");
    if (this.lastStatus.get(uid) === digest) return;
    // The uid in the patch is a precondition: a new pod of the same name is not written to.
    await this.o.client.resource(PODS).patch(pod.metadata.namespace, pod.metadata.name!, "merge", { metadata: { uid }, status }, { subresource: "status" });
    this.lastStatus.set(uid, digest);
  }
}
