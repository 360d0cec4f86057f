// `gantry build`: runs a parsed Dockerfile against the image store. Each filesystem step
// (RUN, COPY, ADD, WORKDIR that creates its directory) gets a throw-away container rootfs
// (overlay over the current layers), its upper directory is packed into one new layer, and
// the rootfs is removed again whatever happens. Config-only steps change the config and
// history. Steps are cached by a key over the parent layers, the config so far, the expanded
// instruction and (COPY/ADD) the copied content, so a rebuild reuses layers and IDs.
// RUN steps have no network: the default spec's network namespace is kept empty.
import { createHash, randomBytes } from "node:crypto";
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import { GantryError } from "../../common/errors.ts";
import { writeJsonAtomic } from "../../common/atomic-file.ts";
import { Runtime, defaultSpec } from "../../runtime/index.ts";
import { commitManifest, storeLayer, type StoredLayer } from "../commit.ts";
import type { Digest } from "../digest.ts";
import { resolveImage } from "../images.ts";
import { packDirectory } from "../pack.ts";
import { imageRuntimeConfig, resolveUser } from "../runtime-config.ts";
import { ensureSnapshots, mountRootfs, prepareContainerRootfs, removeContainerRootfs, unmountRootfs } from "../snapshots.ts";
import { mediaTypes, type ContainerConfig, type HistoryEntry, type ImageConfig, type Manifest } from "../spec.ts";
import type { ImageStore } from "../store.ts";
import type { Lease } from "../store.ts";
import { copyIntoRootfs, digestSources, parseCopy } from "./copy.ts";
import { parseHealthcheck } from "./healthcheck.ts";
import { expandVariables, parseDockerfile, parseJsonForm, parseKeyValues, splitFlags, splitWords, type Instruction } from "./parse.ts";

/** A RUN step exited non-zero: carries the exit code so the CLI can exit with it. */
export class RunStepFailed extends GantryError {
  constructor(
    readonly argv: string[],
    readonly exitCode: number,
    signal: number,
  ) {
    super("CONFLICT", `RUN ${JSON.stringify(argv)} failed with exit code ${exitCode}${signal ? ` (signal ${signal})` : ""}`, { step: "RUN" });
  }
}

export interface BuildOptions {
  contextDir: string;
  dockerfile: string;
  tag?: string;
  buildArgs?: Record<string, string>;
  noCache?: boolean;
  /** Progress lines (`Step 2/5 : RUN …`, ` ---> Using cache`). */
  log?: (line: string) => void;
  /** Where RUN steps' stdout and stderr go (default: this process's own). */
  output?: (chunk: Buffer) => void;
  /** Fetches a FROM image the store lacks (the daemon pulls it); without it, a missing base
   * image is an error. */
  pullBase?: (reference: string) => Promise<void>;
}

export interface BuildResult {
  id: Digest;
  manifestDigest: Digest;
  name?: string;
  cachedSteps: number;
  executedSteps: number;
}

interface CacheEntry {
  layer: StoredLayer;
  created: string;
}

interface BuildState {
  layers: StoredLayer[];
  config: ContainerConfig;
  history: HistoryEntry[];
  architecture: string;
  os: string;
  baseCreated?: string;
}

function cachePath(store: ImageStore): string {
  return join(store.root, "build-cache.json");
}

function readCache(store: ImageStore): Record<string, CacheEntry> {
  try {
    return JSON.parse(readFileSync(cachePath(store), "utf8")) as Record<string, CacheEntry>;
  } catch {
    return {};
  }
}

function stepEnv(state: BuildState, args: Record<string, string>): Record<string, string> {
  const vars: Record<string, string> = { ...args };
  for (const e of state.config.Env ?? []) {
    const eq = e.indexOf("=");
    if (eq > 0) vars[e.slice(0, eq)] = e.slice(eq + 1);
  }
  return vars;
}

function setEnv(config: ContainerConfig, key: string, value: string): void {
  const env = (config.Env ?? []).filter((e) => !e.startsWith(`${key}=`));
  env.push(`${key}=${value}`);
  config.Env = env;
}

function imageConfigOf(state: BuildState, created: string): ImageConfig {
  return {
    created,
    architecture: state.architecture,
    os: state.os,
    config: state.config,
    rootfs: { type: "layers", diff_ids: state.layers.map((l) => l.diffId) },
    history: state.history,
  } as ImageConfig;
}

function manifestOf(state: BuildState): Manifest {
  return {
    schemaVersion: 2,
    mediaType: mediaTypes.ociManifest,
    config: { mediaType: mediaTypes.ociConfig, digest: `sha256:${"0".repeat(64)}`, size: 0 },
    layers: state.layers.map((l) => l.descriptor),
  } as Manifest;
}

/** Mounts a container rootfs over the current layers, runs `change` on it, packs the upper
 * directory as a layer; every mount and temp dir is removed, even on failure. */
async function layerStep(store: ImageStore, lease: Lease, state: BuildState, change: (root: string, work: string) => Promise<void>): Promise<StoredLayer> {
  const containerId = `build-${randomBytes(6).toString("hex")}`;
  const work = mkdtempSync(join(store.root, "tmp-build-"));
  const root = join(work, "bundle", "rootfs");
  let mounted = false;
  try {
    const chain = await ensureSnapshots(store, manifestOf(state), imageConfigOf(state, ""), { lease });
    const rootfs = prepareContainerRootfs(store, containerId, "build", chain);
    mkdirSync(root, { recursive: true });
    mountRootfs(store, rootfs, root);
    mounted = true;
    await change(root, work);
    unmountRootfs(root);
    mounted = false;
    const tarPath = join(work, "layer.tar.gz");
    const gzip = createGzip();
    const written = pipeline(gzip, createWriteStream(tarPath));
    await packDirectory(rootfs.upperdir, gzip, "overlay-upper");
    await written;
    const layer = await storeLayer(store, { path: tarPath });
    lease.add(layer.descriptor.digest);
    return layer;
  } finally {
    if (mounted) {
      try {
        unmountRootfs(root);
      } catch {
        /* reported by the step's own error */
      }
    }
    removeContainerRootfs(store, containerId);
    rmSync(work, { recursive: true, force: true });
  }
}

async function runInRootfs(root: string, work: string, state: BuildState, argv: string[], vars: Record<string, string>, output?: (chunk: Buffer) => void): Promise<void> {
  const rc = imageRuntimeConfig(imageConfigOf(state, ""), { cmd: argv, entrypoint: [] });
  const bundle = join(work, "bundle");
  const spec = defaultSpec();
  const passwd = existsSync(join(root, "etc/passwd")) ? readFileSync(join(root, "etc/passwd"), "utf8") : undefined;
  const group = existsSync(join(root, "etc/group")) ? readFileSync(join(root, "etc/group"), "utf8") : undefined;
  const user = state.config.User ? resolveUser(state.config.User, passwd, group) : { uid: 0, gid: 0 };
  const env = [...rc.env];
  // Build args are visible to RUN (as Docker does) unless an ENV of the same name wins.
  for (const [k, v] of Object.entries(vars)) if (!env.some((e) => e.startsWith(`${k}=`))) env.push(`${k}=${v}`);
  if (state.config.WorkingDir) mkdirSync(join(root, state.config.WorkingDir), { recursive: true });
  spec.process = { ...spec.process!, terminal: false, args: argv, env, cwd: rc.cwd || "/", user: { uid: user.uid, gid: user.gid } };
  spec.root = { path: "rootfs", readonly: false };
  spec.hostname = "gantry-build";
  writeFileSync(join(bundle, "config.json"), JSON.stringify(spec));
  const runtime = new Runtime(join(work, "state"));
  const id = `build-${randomBytes(6).toString("hex")}`;
  const created = await runtime.create(id, { bundle, foreground: true, captureOutput: output !== undefined });
  const drained = Promise.all(
    [created.output?.stdout, created.output?.stderr].map(
      (s) =>
        s &&
        new Promise<void>((resolve) => {
          s.on("data", (c: Buffer) => output?.(c));
          s.on("close", () => resolve());
          s.on("error", () => resolve());
        }),
    ),
  );
  try {
    await runtime.start(id);
    const { code, signal } = await created.exited!;
    await drained;
    if (code !== 0 || signal !== 0) {
      throw new RunStepFailed(argv, code, signal);
    }
  } finally {
    await runtime.delete(id, true).catch(() => {});
  }
}

export async function buildImage(store: ImageStore, opts: BuildOptions): Promise<BuildResult> {
  const log = opts.log ?? (() => {});
  const text = readFileSync(opts.dockerfile, "utf8");
  const instructions: Instruction[] = parseDockerfile(text);
  const buildArgs = opts.buildArgs ?? {};
  const cache = opts.noCache ? {} : readCache(store);
  const newCache: Record<string, CacheEntry> = {};
  let cachedSteps = 0;
  let executedSteps = 0;
  let buildTime: string | undefined;
  const now = new Date().toISOString();
  const args: Record<string, string> = {};
  const state: BuildState = { layers: [], config: {}, history: [], architecture: "amd64", os: "linux" };

  return store.withLease(async (lease) => {
    let n = 0;
    for (const ins of instructions) {
      n++;
      log(`Step ${n}/${instructions.length} : ${ins.name} ${ins.args}`);
      const vars = stepEnv(state, args);
      const expand = (s: string) => expandVariables(s, vars);
      const where = `Dockerfile line ${ins.line}`;
      const fsStep = async (createdBy: string, contentDigest: string, change: (root: string, work: string) => Promise<void>) => {
        const key = createHash("sha256")
          .update(JSON.stringify({ parent: state.layers.map((l) => l.diffId), config: state.config, step: createdBy, content: contentDigest }))
          .digest("hex");
        const hit = cache[key];
        let entry: CacheEntry;
        if (hit && existsSync(store.blobPath(hit.layer.descriptor.digest as Digest))) {
          log(" ---> Using cache");
          lease.add(hit.layer.descriptor.digest);
          entry = hit;
          cachedSteps++;
        } else {
          executedSteps++;
          entry = { layer: await layerStep(store, lease, state, change), created: now };
        }
        newCache[key] = entry;
        // A fully cached build reuses the newest cached time, so the image ID repeats.
        if (executedSteps > 0) buildTime = now;
        else if (!buildTime || entry.created > buildTime) buildTime = entry.created;
        state.layers.push(entry.layer);
        state.history.push({ created: entry.created, created_by: createdBy });
      };
      const configStep = (createdBy: string) => state.history.push({ created: "", created_by: createdBy, empty_layer: true });

      switch (ins.name) {
        case "FROM": {
          const ref = expand(ins.args).split(/\s+/)[0] ?? "";
          if (/\s+AS\s+/i.test(ins.args) || n > 1 && instructions.slice(0, n - 1).some((i) => i.name === "FROM")) {
            throw new GantryError("UNSUPPORTED_OPTION", `${where}: multi-stage builds are not supported`);
          }
          if (ref !== "scratch") {
            let img;
            try {
              img = resolveImage(store, ref);
            } catch (err) {
              if (!(opts.pullBase && err instanceof GantryError && err.code === "NOT_FOUND")) throw err;
              await opts.pullBase(ref);
              img = resolveImage(store, ref);
            }
            lease.add(img.manifestDigest);
            state.layers = img.manifest.layers.map((descriptor, i) => ({ descriptor, diffId: img.config.rootfs.diff_ids[i] as Digest }));
            state.config = structuredClone(img.config.config ?? {});
            state.history = structuredClone(img.config.history ?? []);
            state.architecture = img.config.architecture ?? "amd64";
            state.os = img.config.os ?? "linux";
            state.baseCreated = img.config.created;
          }
          break;
        }
        case "ARG": {
          for (const [k, v] of parseKeyValues(ins.args, false)) {
            const [name, def] = k.includes("=") ? k.split("=", 2) : [k, v];
            args[name ?? k] = buildArgs[name ?? k] ?? expand(def ?? "");
          }
          break;
        }
        case "ENV":
          for (const [k, v] of parseKeyValues(ins.args, true)) setEnv(state.config, k, expand(v));
          configStep(`ENV ${expand(ins.args)}`);
          break;
        case "LABEL":
          state.config.Labels = { ...(state.config.Labels ?? {}) };
          for (const [k, v] of parseKeyValues(ins.args, true)) state.config.Labels[expand(k)] = expand(v);
          configStep(`LABEL ${expand(ins.args)}`);
          break;
        case "USER":
          state.config.User = expand(ins.args);
          configStep(`USER ${state.config.User}`);
          break;
        case "EXPOSE":
          state.config.ExposedPorts = { ...(state.config.ExposedPorts ?? {}) };
          for (const p of splitWords(expand(ins.args))) state.config.ExposedPorts[p.includes("/") ? p : `${p}/tcp`] = {};
          configStep(`EXPOSE ${expand(ins.args)}`);
          break;
        case "VOLUME": {
          state.config.Volumes = { ...(state.config.Volumes ?? {}) };
          for (const v of parseJsonForm(ins.args) ?? splitWords(expand(ins.args))) state.config.Volumes[v] = {};
          configStep(`VOLUME ${ins.args}`);
          break;
        }
        case "CMD":
        case "ENTRYPOINT": {
          const argv = parseJsonForm(ins.args) ?? ["/bin/sh", "-c", ins.args];
          if (ins.name === "CMD") state.config.Cmd = argv;
          else state.config.Entrypoint = argv;
          configStep(`${ins.name} ${JSON.stringify(argv)}`);
          break;
        }
        case "HEALTHCHECK":
          // Not variable-expanded, as in Docker (the check runs a shell in the container).
          state.config.Healthcheck = parseHealthcheck(ins.args, where);
          configStep(`HEALTHCHECK ${JSON.stringify(state.config.Healthcheck)}`);
          break;
        case "WORKDIR": {
          const dir = expand(ins.args);
          const abs = dir.startsWith("/") ? dir : join(state.config.WorkingDir ?? "/", dir);
          state.config.WorkingDir = abs;
          await fsStep(`WORKDIR ${abs}`, "", async (root) => {
            mkdirSync(join(root, abs), { recursive: true });
          });
          break;
        }
        case "RUN": {
          const { flags, rest } = splitFlags(ins.args);
          if (Object.keys(flags).length > 0) throw new GantryError("UNSUPPORTED_OPTION", `${where}: RUN --${Object.keys(flags)[0]} is not supported`);
          const argv = parseJsonForm(rest) ?? ["/bin/sh", "-c", rest];
          const argDesc = Object.entries(args).map(([k, v]) => `${k}=${v}`).join(" ");
          await fsStep(`RUN ${argDesc ? `|${argDesc} ` : ""}${JSON.stringify(argv)}`, "", (root, work) => runInRootfs(root, work, state, argv, args, opts.output));
          break;
        }
        case "COPY":
        case "ADD": {
          const spec = parseCopy(ins.name, expand(ins.args), where);
          const content = await digestSources(opts.contextDir, spec, where);
          await fsStep(`${ins.name} ${expand(ins.args)}`, content, (root) => copyIntoRootfs(root, opts.contextDir, spec, state.config.WorkingDir ?? "/", where));
          break;
        }
      }
    }
    const created = buildTime ?? state.baseCreated ?? now;
    for (const h of state.history) if (!h.created) h.created = created;
    const configBytes = Buffer.from(JSON.stringify(imageConfigOf(state, created)));
    const r = await commitManifest(store, { name: opts.tag, configBytes, layers: state.layers, created });
    if (!opts.noCache) writeJsonAtomic(cachePath(store), { ...readCache(store), ...newCache }, 0o644);
    return { id: r.configDigest, manifestDigest: r.manifestDigest, name: r.name, cachedSteps, executedSteps };
  });
}
