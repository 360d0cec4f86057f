// A pod's volumes on the node, laid out as the kubelet lays them out:
//
//   <data root>/pods/<uid>/volumes/kubernetes.io~empty-dir/<name>    (tmpfs with medium Memory)
//   <data root>/pods/<uid>/volumes/kubernetes.io~configmap/<name>    (atomic writer)
//   <data root>/pods/<uid>/volumes/kubernetes.io~secret/<name>       (tmpfs, atomic writer)
//   <data root>/pods/<uid>/volumes/kubernetes.io~downward-api/<name> (atomic writer)
//   <data root>/pods/<uid>/volumes/kubernetes.io~projected/<name>    (tmpfs, atomic writer)
//
// A projected serviceAccountToken source is a token the agent asks the API for (TokenRequest
// bound to the pod), written like the other files and fetched again at 80% of its lifetime.
// hostPath volumes are the host's path (after the type check) and persistentVolumeClaims the
// bound PersistentVolume's path. setUp is idempotent and runs at every sync of a live pod, so
// a changed ConfigMap, Secret or label reaches the files (through the ..data swap) within a
// resync; it throws VolumeSetUpError (the kubelet's FailedMount) while something is missing.
// tearDown unmounts and removes the pod's directory once its containers are gone.
import { execFileSync } from "node:child_process";
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, type Stats } from "node:fs";
import { join, resolve } from "node:path";
import { quantityValue } from "../../common/quantity.ts";
import { isNotFound, type Client } from "../client/index.ts";
import { CONFIGMAPS, PERSISTENTVOLUMECLAIMS, PERSISTENTVOLUMES, SECRETS, SERVICE_ACCOUNTS } from "./api-refs.ts";
import { writePayload, type Payload } from "./atomic-writer.ts";
import type { HostPathType, Pod, ProjectedSource, Volume } from "./pod-types.ts";
import { DEFAULT_MODE, downwardPayload, keyedPayload, projectedPayload, VolumeSetUpError, type KeyedObject, type PayloadContext } from "./volume-payloads.ts";

export { VolumeSetUpError };

/** Where a volume is on the host, and whether every mount of it is read-only. */
export interface MountedVolume {
  path: string;
  readOnly: boolean;
}

export interface PodVolumesOptions {
  /** <data root>/pods */
  root: string;
  client: Client;
  log: (m: string) => void;
}

interface PVCObject {
  metadata: { name?: string; namespace?: string };
  spec?: { volumeName?: string };
  status?: { phase?: string };
}
interface PVObject {
  spec?: { hostPath?: { path: string; type?: HostPathType }; local?: { path: string } };
}

const PLUGIN_DIRS = {
  emptyDir: "kubernetes.io~empty-dir",
  configMap: "kubernetes.io~configmap",
  secret: "kubernetes.io~secret",
  downwardAPI: "kubernetes.io~downward-api",
  projected: "kubernetes.io~projected",
} as const;

/** The kubelet's token manager: a token is fetched again at 80% of its lifetime, or after a day. */
const TOKEN_REFRESH_FRACTION = 0.8;
const TOKEN_MAX_REFRESH_MS = 24 * 3600_000;
const DEFAULT_TOKEN_SECONDS = 3600;

interface FetchedToken {
  token: string;
  refreshAt: number;
  expiresAt: number;
}

export class PodVolumes {
  /** Volumes whose one-time work (tmpfs mount, fsGroup ownership) is done, per pod UID. */
  private readonly prepared = new Map<string, Set<string>>();
  /** Service account tokens of projected volumes, per pod UID, by "<volume>/<path>". */
  private readonly tokens = new Map<string, Map<string, FetchedToken>>();

  constructor(private readonly o: PodVolumesOptions) {}

  podDir(uid: string): string {
    return join(this.o.root, uid);
  }

  /** The UIDs that have a pod directory (so a restarted agent can clean up after pods it no longer knows). */
  podUIDs(): string[] {
    return existsSync(this.o.root) ? readdirSync(this.o.root) : [];
  }

  /**
   * Sets up (or refreshes) every volume of the pod; the map is by volume name. `hostGid`
   * turns the pod's fsGroup into the host's gid (shifted into the range of a pod with a user
   * namespace of its own).
   */
  async setUp(pod: Pod, ctx: Omit<PayloadContext, "pod">, hostGid: (gid: number) => number = (g) => g): Promise<Map<string, MountedVolume>> {
    const out = new Map<string, MountedVolume>();
    const uid = pod.metadata.uid!;
    const podFsGroup = pod.spec.securityContext?.fsGroup;
    const fsGroup = podFsGroup === undefined ? undefined : hostGid(podFsGroup);
    const done = this.prepared.get(uid) ?? new Set<string>();
    this.prepared.set(uid, done);
    for (const v of pod.spec.volumes ?? []) {
      try {
        out.set(v.name, await this.setUpOne(pod, v, { ...ctx, pod }, fsGroup, done));
      } catch (err) {
        const message = err instanceof VolumeSetUpError ? err.message : `${(err as Error).message}`;
        throw new VolumeSetUpError(`MountVolume.SetUp failed for volume "${v.name}" : ${message}`);
      }
    }
    return out;
  }

  private pluginDir(uid: string, plugin: keyof typeof PLUGIN_DIRS, name: string): string {
    const dir = join(this.podDir(uid), "volumes", PLUGIN_DIRS[plugin], name);
    mkdirSync(dir, { recursive: true, mode: 0o750 });
    return dir;
  }

  private async setUpOne(pod: Pod, v: Volume, ctx: PayloadContext, fsGroup: number | undefined, done: Set<string>): Promise<MountedVolume> {
    const uid = pod.metadata.uid!;
    const ns = pod.metadata.namespace ?? "default";
    const first = !done.has(v.name);
    if (v.emptyDir) {
      const dir = this.pluginDir(uid, "emptyDir", v.name);
      if (first) {
        if (v.emptyDir.medium === "Memory") mountTmpfs(dir, v.emptyDir.sizeLimit ? quantityValue(v.emptyDir.sizeLimit) : undefined, 0o777);
        chmodSync(dir, 0o777); // the kubelet's emptyDir is world-writable, so any user in the pod may use it
        if (fsGroup !== undefined) applyFsGroup(dir, fsGroup, false);
        done.add(v.name);
      }
      return { path: dir, readOnly: false };
    }
    if (v.hostPath) {
      checkHostPath(v.hostPath.path, v.hostPath.type ?? "");
      return { path: v.hostPath.path, readOnly: false };
    }
    if (v.configMap || v.secret || v.downwardAPI || v.projected) {
      const plugin = v.configMap ? "configMap" : v.secret ? "secret" : v.downwardAPI ? "downwardAPI" : "projected";
      const dir = this.pluginDir(uid, plugin, v.name);
      // Secrets and projected volumes (which may hold tokens) never touch the disk.
      if (first && (plugin === "secret" || plugin === "projected")) mountTmpfs(dir, undefined, 0o755);
      const payload = await this.payloadOf(v, ns, ctx, pod);
      if (writePayload(dir, payload, fsGroup) && !first) this.o.log(`pod ${ns}/${pod.metadata.name}: volume ${v.name} updated`);
      if (fsGroup !== undefined && first) chownSync(dir, 0, fsGroup);
      done.add(v.name);
      return { path: dir, readOnly: true };
    }
    if (v.persistentVolumeClaim) {
      const path = await this.claimPath(ns, v.persistentVolumeClaim.claimName);
      if (first) {
        if (fsGroup !== undefined) applyFsGroup(path, fsGroup, true);
        done.add(v.name);
      }
      return { path, readOnly: v.persistentVolumeClaim.readOnly === true };
    }
    const kind = Object.keys(v).find((k) => k !== "name") ?? "(none)";
    throw new VolumeSetUpError(`volume source ${kind} is not supported by this node`);
  }

  private async get<T>(ref: typeof CONFIGMAPS, ns: string, name: string): Promise<T | undefined> {
    try {
      return (await this.o.client.resource(ref).get(ns, name)) as T;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  private async payloadOf(v: Volume, ns: string, ctx: PayloadContext, pod: Pod): Promise<Payload> {
    if (v.configMap) return keyedPayload("configmap", v.configMap, await this.get<KeyedObject>(CONFIGMAPS, ns, v.configMap.name), v.configMap.defaultMode ?? DEFAULT_MODE);
    if (v.secret) {
      const name = v.secret.secretName ?? "";
      return keyedPayload("secret", { ...v.secret, name }, await this.get<KeyedObject>(SECRETS, ns, name), v.secret.defaultMode ?? DEFAULT_MODE);
    }
    if (v.downwardAPI) return downwardPayload(v.downwardAPI.items ?? [], ctx, v.downwardAPI.defaultMode ?? DEFAULT_MODE);
    const sources = v.projected?.sources ?? [];
    const cms = new Map<string, KeyedObject | undefined>();
    const secrets = new Map<string, KeyedObject | undefined>();
    const tokens = new Map<string, string>();
    for (const s of sources) {
      if (s.configMap) cms.set(s.configMap.name, await this.get<KeyedObject>(CONFIGMAPS, ns, s.configMap.name));
      if (s.secret) secrets.set(s.secret.name, await this.get<KeyedObject>(SECRETS, ns, s.secret.name));
      if (s.serviceAccountToken) tokens.set(s.serviceAccountToken.path, await this.serviceAccountToken(pod, v.name, s.serviceAccountToken));
    }
    return projectedPayload(sources, { configMap: (n) => cms.get(n), secret: (n) => secrets.get(n), serviceAccountToken: (p) => tokens.get(p) }, ctx, v.projected?.defaultMode ?? DEFAULT_MODE);
  }

  /**
   * A token for the pod's service account bound to the pod (TokenRequest; the node may ask
   * only for its own pods'), kept until 80% of its lifetime has passed. While the server
   * cannot give a new one, the old one is written again until it expires.
   */
  private async serviceAccountToken(pod: Pod, volume: string, src: NonNullable<ProjectedSource["serviceAccountToken"]>): Promise<string> {
    const uid = pod.metadata.uid!;
    const key = `${volume}/${src.path}`;
    const cache = this.tokens.get(uid) ?? new Map<string, FetchedToken>();
    this.tokens.set(uid, cache);
    const held = cache.get(key);
    const now = Date.now();
    if (held && now < held.refreshAt) return held.token;
    const account = pod.spec.serviceAccountName || "default";
    const request = {
      apiVersion: "authentication.k8s.io/v1",
      kind: "TokenRequest",
      spec: { audiences: src.audience ? [src.audience] : [], expirationSeconds: src.expirationSeconds ?? DEFAULT_TOKEN_SECONDS, boundObjectRef: { kind: "Pod", apiVersion: "v1", name: pod.metadata.name, uid } },
    };
    let answer: { status?: { token?: string; expirationTimestamp?: string } };
    try {
      answer = await this.o.client.resource(SERVICE_ACCOUNTS).createSubresource(pod.metadata.namespace ?? "default", account, "token", request);
    } catch (err) {
      if (held && now < held.expiresAt) return held.token;
      throw new VolumeSetUpError(`failed to fetch token: ${(err as Error).message}`);
    }
    const token = answer.status?.token;
    const expiresAt = Date.parse(answer.status?.expirationTimestamp ?? "");
    if (!token || !Number.isFinite(expiresAt)) throw new VolumeSetUpError("failed to fetch token: the TokenRequest answer has no token");
    cache.set(key, { token, expiresAt, refreshAt: now + Math.min((expiresAt - now) * TOKEN_REFRESH_FRACTION, TOKEN_MAX_REFRESH_MS) });
    return token;
  }

  /** A claim's volume path: the claim must be bound, its PersistentVolume a hostPath or local one. */
  private async claimPath(ns: string, claim: string): Promise<string> {
    const pvc = await this.get<PVCObject>(PERSISTENTVOLUMECLAIMS, ns, claim);
    if (!pvc) throw new VolumeSetUpError(`persistentvolumeclaim "${claim}" not found`);
    if (pvc.status?.phase !== "Bound" || !pvc.spec?.volumeName) throw new VolumeSetUpError(`error processing PVC ${ns}/${claim}: PVC is not bound`);
    const pv = await this.get<PVObject>(PERSISTENTVOLUMES, "", pvc.spec.volumeName);
    if (!pv) throw new VolumeSetUpError(`persistentvolume "${pvc.spec.volumeName}" not found`);
    // A hostPath volume is checked (or made) as its type says — local-path's are DirectoryOrCreate;
    // a local volume's directory must be there already, as the kubelet's local plugin wants.
    if (pv.spec?.hostPath) {
      checkHostPath(pv.spec.hostPath.path, pv.spec.hostPath.type ?? "");
      return pv.spec.hostPath.path;
    }
    if (pv.spec?.local) {
      checkHostPath(pv.spec.local.path, "Directory");
      return pv.spec.local.path;
    }
    throw new VolumeSetUpError(`persistentvolume "${pvc.spec.volumeName}": only hostPath and local volumes can be mounted on this node`);
  }

  /** Unmounts and removes the pod's volume directories (its containers are gone). */
  tearDown(uid: string): void {
    this.prepared.delete(uid);
    this.tokens.delete(uid);
    const dir = this.podDir(uid);
    if (!existsSync(dir)) return;
    for (const target of mountsUnder(dir)) {
      try {
        execFileSync("umount", [target], { stdio: "pipe" });
      } catch (err) {
        this.o.log(`umount ${target}: ${(err as Error).message.split("\n")[0]}; detaching it`);
        execFileSync("umount", ["-l", target], { stdio: "pipe" });
      }
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Mount points at or below dir, deepest first. */
function mountsUnder(dir: string): string[] {
  const prefix = resolve(dir);
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[4])
    .filter((t): t is string => !!t && (t === prefix || t.startsWith(`${prefix}/`)))
    .reverse();
}

function mountTmpfs(dir: string, sizeBytes: number | undefined, mode: number): void {
  if (mountsUnder(dir).includes(resolve(dir))) return;
  const opts = [`mode=${mode.toString(8)}`, ...(sizeBytes ? [`size=${sizeBytes}`] : [])];
  execFileSync("mount", ["-t", "tmpfs", "-o", opts.join(","), "tmpfs", dir], { stdio: "pipe" });
}

/**
 * The kubelet's SetVolumeOwnership: everything in the volume gets the fsGroup as its group,
 * group read (and write for a writable volume), and directories the setgid bit, so files made
 * later inherit the group.
 */
function applyFsGroup(dir: string, gid: number, recurse: boolean): void {
  const mask = 0o660;
  const walk = (p: string) => {
    const st = lstatSync(p);
    if (st.isSymbolicLink()) return;
    chownSync(p, st.uid, gid);
    chmodSync(p, (st.mode & 0o7777) | mask | (st.isDirectory() ? 0o2010 : 0));
    if (st.isDirectory() && (recurse || p === dir)) for (const e of readdirSync(p)) walk(join(p, e));
  };
  walk(dir);
}

/** What each hostPath type requires at the path, as the kubelet words it, and its test. */
const HOST_PATH_KINDS: Record<Exclude<HostPathType, "">, [string, (st: Stats) => boolean]> = {
  DirectoryOrCreate: ["directory", (st) => st.isDirectory()],
  Directory: ["directory", (st) => st.isDirectory()],
  FileOrCreate: ["file", (st) => st.isFile()],
  File: ["file", (st) => st.isFile()],
  Socket: ["socket", (st) => st.isSocket()],
  CharDevice: ["character device", (st) => st.isCharacterDevice()],
  BlockDevice: ["block device", (st) => st.isBlockDevice()],
};

/** hostPath's `type`: what must be at the path, or be made there (pkg/volume/hostpath checkType). */
export function checkHostPath(path: string, type: HostPathType): void {
  if (type === "") return;
  const kind = HOST_PATH_KINDS[type];
  if (!kind) throw new VolumeSetUpError(`hostPath type ${String(type)} is not valid`);
  const st = () => {
    try {
      return statSync(path);
    } catch {
      return undefined;
    }
  };
  if (type === "DirectoryOrCreate" && !st()) mkdirSync(path, { recursive: true, mode: 0o755 });
  if (type === "FileOrCreate" && !st()) writeFileSync(path, "", { mode: 0o644, flag: "a" });
  const found = st();
  if (!found || !kind[1](found)) throw new VolumeSetUpError(`hostPath type check failed: ${path} is not a ${kind[0]}`);
}
