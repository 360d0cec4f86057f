// `gantry image …` and Docker's top-level short forms (pull, push, images, rmi, tag, save,
// load, import, history, login, logout). Each command parses argv, calls one function of
// src/image on the local store (--root or GANTRY_ROOT, default /var/lib/gantry) and prints.
import { createWriteStream, renameSync, rmSync, statSync } from "node:fs";
import { pipeline } from "node:stream/promises";
import { Command, Option } from "commander";
import cliProgress from "cli-progress";
import { GantryError, invalidArgument } from "../../common/errors.ts";
import {
  loadArchive,
  saveImages,
  type ArchiveFormat,
  chainIds,
  hexOf,
  type Digest,
  collectGarbage,
  listImages,
  removeImage,
  resolveImage,
  tagImage,
  type LocalImage,
  importRootfs,
  pullImage,
  type PullProgress,
  pushImage,
  type PushProgress,
  familiarName,
  parseReference,
  type HistoryEntry,
  removeCredentials,
  saveCredentials,
  RegistryClient,
  listContainerRootfs,
  ImageStore,
} from "../../image/mod.ts";

type Out = (line: string) => void;
const out: Out = (line) => process.stdout.write(`${line}\n`);

function storeFrom(cmd: Command): ImageStore {
  const root = (cmd.optsWithGlobals() as { root?: string }).root;
  return new ImageStore(root || process.env.GANTRY_ROOT || undefined);
}

const shortId = (d: string) => hexOf(d as Digest).slice(0, 12);

export function humanSize(bytes: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let v = bytes;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)}${units[i]}`;
}

export function humanAgo(iso: string | undefined, now = Date.now()): string {
  if (!iso) return "N/A";
  const s = Math.max(0, (now - Date.parse(iso)) / 1000);
  if (Number.isNaN(s)) return "N/A";
  const steps: [number, string][] = [[60, "second"], [60, "minute"], [24, "hour"], [7, "day"], [4.35, "week"], [12, "month"], [Infinity, "year"]];
  let v = s;
  for (const [size, unit] of steps) {
    if (v < size) {
      const n = Math.floor(v);
      if (unit === "second" && n < 1) return "Less than a second ago";
      return `${n} ${unit}${n === 1 ? "" : "s"} ago`;
    }
    v /= size;
  }
  return "N/A";
}

function table(rows: string[][]): string[] {
  const widths = rows[0]?.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? "").length))) ?? [];
  return rows.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd((widths[c] ?? 0) + 3))).join("").trimEnd());
}

/** A small subset of Go templates: {{.A.B}} and {{json .A}}. */
export function renderTemplate(template: string, value: unknown): string {
  return template.replace(/\{\{\s*(json\s+)?\.([\w.]*)\s*\}\}/g, (_m, json: string | undefined, path: string) => {
    let v: unknown = value;
    for (const k of path.split(".").filter(Boolean)) v = v === null || v === undefined ? undefined : (v as Record<string, unknown>)[k];
    if (json) return JSON.stringify(v ?? null);
    if (v === undefined || v === null) return "<no value>";
    if (Array.isArray(v)) return `[${v.join(" ")}]`;
    if (typeof v === "object") return `map[${Object.entries(v as Record<string, unknown>).map(([k, x]) => `${k}:${String(x)}`).join(" ")}]`;
    return String(v);
  });
}

function parsePlatform(s: string | undefined): { os: string; architecture: string; variant?: string } | undefined {
  if (!s) return undefined;
  const [os, architecture, variant] = s.split("/");
  if (!os || !architecture) throw invalidArgument(`invalid platform "${s}": expected os/arch[/variant]`);
  return { os, architecture, variant };
}

const collect = (v: string, prev: string[] = []) => [...prev, v];

/** Progress: bars on a terminal (cli-progress), one line per finished blob otherwise. */
function progressReporter(enabled: boolean) {
  const tty = process.stderr.isTTY === true;
  let multibar = tty && enabled ? new cliProgress.MultiBar({ format: " {id} [{bar}] {percentage}% {status}", hideCursor: true, clearOnComplete: false, stream: process.stderr }, cliProgress.Presets.shades_classic) : undefined;
  const bars = new Map<string, cliProgress.SingleBar>();
  const announced = new Set<string>();
  return {
    update(p: PullProgress | PushProgress) {
      if (!enabled) return;
      const id = shortId(p.digest);
      if (multibar) {
        let bar = bars.get(id);
        if (!bar) {
          bar = multibar.create(Math.max(p.total, 1), 0, { id, status: p.status });
          bars.set(id, bar);
        }
        bar.update(Math.min(p.current, Math.max(p.total, 1)), { status: p.status });
      } else if (p.status !== "downloading" && p.status !== "uploading" && !announced.has(`${id}${p.status}`)) {
        announced.add(`${id}${p.status}`);
        const words: Record<string, string> = { exists: "Already exists", done: "Complete", unpacked: "Pull complete", mounted: "Mounted from another repository" };
        process.stderr.write(`${id}: ${words[p.status] ?? p.status}\n`);
      }
    },
    stop() {
      multibar?.stop();
      multibar = undefined;
    },
  };
}

function inspectJson(img: LocalImage): Record<string, unknown> {
  const size = img.manifest.layers.reduce((a, l) => a + l.size, 0);
  return {
    Id: img.id,
    RepoTags: img.names.filter((n) => !n.includes("@")).map(familiarName),
    RepoDigests: [...new Set([...img.repoDigests, ...img.names.filter((n) => n.includes("@"))])].map(familiarName),
    Created: img.config.created ?? "",
    Author: img.config.author ?? "",
    Architecture: img.config.architecture,
    Variant: img.config.variant,
    Os: img.config.os,
    Config: img.config.config ?? {},
    Size: size,
    RootFS: { Type: "layers", Layers: img.config.rootfs.diff_ids },
    Metadata: { ManifestDigest: img.manifestDigest, ManifestMediaType: img.mediaType },
  };
}

function addRegistryFlags(cmd: Command): Command {
  return cmd
    .option("--insecure-registry <host>", "allow plain HTTP to this registry (repeatable; loopback always may)", collect, [])
    .addOption(new Option("--username <user>", "registry user (else from gantry login or ~/.docker/config.json)").hideHelp())
    .addOption(new Option("--password <password>", "registry password").hideHelp());
}

function credentialsFrom(o: { username?: string; password?: string }) {
  return o.username !== undefined ? { username: o.username, password: o.password ?? "" } : undefined;
}

// ---- command definitions: each returns a configured Command so both spellings share it ----

function pullCommand(name: string): Command {
  return addRegistryFlags(new Command(name).description("Download an image from a registry").argument("<image>", "NAME[:TAG] or NAME@DIGEST"))
    .option("--platform <os/arch>", "platform to select from a multi-platform image")
    .option("-q, --quiet", "print only the image name")
    .action(async (image: string, o: { platform?: string; quiet?: boolean; insecureRegistry: string[]; username?: string; password?: string }, cmd: Command) => {
      const store = storeFrom(cmd);
      const progress = progressReporter(!o.quiet);
      try {
        const r = await pullImage(store, image, { platform: parsePlatform(o.platform), insecureRegistries: o.insecureRegistry, credentials: credentialsFrom(o), onProgress: (p) => progress.update(p) });
        progress.stop();
        if (o.quiet) return out(familiarName(r.name));
        out(`Digest: ${r.indexDigest ?? r.manifestDigest}`);
        out(`Status: ${r.layersExisting === r.layers ? "Image is up to date" : "Downloaded newer image"} for ${familiarName(r.name)}`);
        out(familiarName(r.name));
      } finally {
        progress.stop();
      }
    });
}

function pushCommand(name: string): Command {
  return addRegistryFlags(new Command(name).description("Upload an image to a registry").argument("<image>", "local image").argument("[destination]", "NAME[:TAG] to push as (default: the image's name)"))
    .option("--chunk-size <bytes>", "upload blobs larger than this in chunks (0: always one request)", (v) => Number.parseInt(v, 10))
    .option("-q, --quiet", "print only the digest")
    .action(async (image: string, destination: string | undefined, o: { chunkSize?: number; quiet?: boolean; insecureRegistry: string[]; username?: string; password?: string }, cmd: Command) => {
      const store = storeFrom(cmd);
      const progress = progressReporter(!o.quiet);
      try {
        const r = await pushImage(store, image, destination ?? image, { chunkSize: o.chunkSize, insecureRegistries: o.insecureRegistry, credentials: credentialsFrom(o), onProgress: (p) => progress.update(p) });
        progress.stop();
        if (o.quiet) return out(r.digest);
        out(`${parseReference(destination ?? image).tag ?? "latest"}: digest: ${r.digest} (${r.uploaded} uploaded, ${r.skipped} already there)`);
      } finally {
        progress.stop();
      }
    });
}

function listCommand(name: string): Command {
  return new Command(name)
    .description("List images")
    .argument("[repository]", "only images of this repository")
    .option("-q, --quiet", "only image IDs")
    .option("--digests", "show digests")
    .option("--no-trunc", "do not truncate IDs")
    .option("--format <format>", "json, or a template like '{{.Repository}}:{{.Tag}}'")
    .action((repository: string | undefined, o: { quiet?: boolean; digests?: boolean; trunc: boolean; format?: string }, cmd: Command) => {
      const store = storeFrom(cmd);
      const rows: { Repository: string; Tag: string; Digest: string; ID: string; CreatedSince: string; CreatedAt: string; Size: string }[] = [];
      for (const img of listImages(store)) {
        const tags = img.repoTags.length ? img.repoTags : ["<none>:<none>"];
        for (const t of tags) {
          const colon = t.lastIndexOf(":");
          const repo = t.slice(0, colon);
          if (repository && repo !== repository && repo !== familiarName(`${repository}:x`).slice(0, -2)) continue;
          const digest = img.repoDigests.find((d) => d.startsWith(`${repo}@`))?.split("@")[1] ?? "<none>";
          rows.push({
            Repository: repo,
            Tag: t.slice(colon + 1),
            Digest: digest,
            ID: o.trunc ? shortId(img.id) : img.id,
            CreatedSince: humanAgo(img.created),
            CreatedAt: img.created ?? "",
            Size: humanSize(img.size),
          });
        }
      }
      if (o.quiet) return [...new Set(rows.map((r) => r.ID))].forEach((id) => out(id));
      if (o.format === "json") return rows.forEach((r) => out(JSON.stringify(r)));
      if (o.format) return rows.forEach((r) => out(renderTemplate(o.format as string, r)));
      const header = o.digests ? ["REPOSITORY", "TAG", "DIGEST", "IMAGE ID", "CREATED", "SIZE"] : ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"];
      const body = rows.map((r) => (o.digests ? [r.Repository, r.Tag, r.Digest, r.ID, r.CreatedSince, r.Size] : [r.Repository, r.Tag, r.ID, r.CreatedSince, r.Size]));
      table([header, ...body]).forEach((l) => out(l));
    });
}

function inspectCommand(name: string): Command {
  return new Command(name)
    .description("Show an image's details as JSON")
    .argument("<images...>", "names or IDs")
    .option("-f, --format <template>", "Go-template subset: {{.Id}}, {{json .Config}}")
    .action((images: string[], o: { format?: string }, cmd: Command) => {
      const store = storeFrom(cmd);
      const docs = images.map((i) => inspectJson(resolveImage(store, i)));
      if (o.format) return docs.forEach((d) => out(renderTemplate(o.format as string, d)));
      out(JSON.stringify(docs, null, 4));
    });
}

function historyCommand(name: string): Command {
  return new Command(name)
    .description("Show how an image was made, layer by layer")
    .argument("<image>")
    .option("-q, --quiet", "only IDs")
    .option("--no-trunc", "do not truncate output")
    .action((image: string, o: { quiet?: boolean; trunc: boolean }, cmd: Command) => {
      const img = resolveImage(storeFrom(cmd), image);
      const history: HistoryEntry[] = img.config.history?.length ? img.config.history : img.manifest.layers.map(() => ({}));
      let layer = img.manifest.layers.length;
      const rows: string[][] = [];
      const reversed = [...history].reverse();
      for (const [i, h] of reversed.entries()) {
        const size = h.empty_layer ? 0 : (img.manifest.layers[--layer]?.size ?? 0);
        const id = i === 0 ? (o.trunc ? shortId(img.id) : img.id) : "<missing>";
        let by = h.created_by ?? "";
        if (o.trunc && by.length > 45) by = `${by.slice(0, 44)}…`;
        rows.push([id, humanAgo(h.created), by, humanSize(size), h.comment ?? ""]);
      }
      if (o.quiet) return rows.forEach((r) => out(r[0] as string));
      table([["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"], ...rows]).forEach((l) => out(l));
    });
}

function tagCommand(name: string): Command {
  return new Command(name)
    .description("Give an image another name")
    .argument("<source>", "image name or ID")
    .argument("<target>", "NAME[:TAG]")
    .action((source: string, target: string, _o: unknown, cmd: Command) => {
      tagImage(storeFrom(cmd), source, target);
    });
}

function removeCommand(name: string): Command {
  return new Command(name)
    .description("Remove one or more images")
    .argument("<images...>", "names or IDs")
    .option("-f, --force", "remove even when several names or a container refer to it")
    .action((images: string[], o: { force?: boolean }, cmd: Command) => {
      const store = storeFrom(cmd);
      let failed: unknown;
      for (const i of images) {
        try {
          const r = removeImage(store, i, { force: o.force });
          r.untagged.forEach((u) => out(`Untagged: ${u}`));
          if (r.deleted) out(`Deleted: ${r.deleted}`);
        } catch (err) {
          failed = err;
          process.stderr.write(`Error: ${(err as Error).message}\n`);
        }
      }
      collectGarbage(store);
      if (failed) throw failed;
    });
}

function pruneCommand(name: string): Command {
  return new Command(name)
    .description("Remove unused image content (and, with -a, every image no container uses)")
    .option("-a, --all", "remove all images not used by a container")
    .option("-f, --force", "do not prompt (there is no prompt; accepted for docker compatibility)")
    .action((o: { all?: boolean }, cmd: Command) => {
      const store = storeFrom(cmd);
      if (o.all) {
        const used = new Set(listContainerRootfs(store).map((c) => c.chainIds.at(-1)));
        for (const img of listImages(store)) {
          const full = resolveImage(store, img.id);
          if (used.has(chainIds(full.config.rootfs.diff_ids as Digest[]).at(-1))) continue;
          const r = removeImage(store, img.id, { force: true });
          r.untagged.forEach((u) => out(`untagged: ${u}`));
          if (r.deleted) out(`deleted: ${r.deleted}`);
        }
      }
      const gc = collectGarbage(store);
      out(`Removed ${gc.blobsRemoved} blobs and ${gc.snapshotsRemoved} snapshots`);
      out(`Total reclaimed space: ${humanSize(gc.bytesFreed)}`);
    });
}

function saveCommand(name: string): Command {
  return new Command(name)
    .description("Write images to a tar archive (docker-archive, as docker save, or oci-archive)")
    .argument("<images...>")
    .option("-o, --output <file>", "write to a file instead of stdout")
    .addOption(new Option("--format <format>", "archive layout").choices(["docker-archive", "oci-archive"]).default("docker-archive"))
    .action(async (images: string[], o: { output?: string; format: ArchiveFormat }, cmd: Command) => {
      const store = storeFrom(cmd);
      if (!o.output && process.stdout.isTTY) throw invalidArgument("refusing to write an archive to a terminal", { hint: "use -o FILE or redirect stdout" });
      if (!o.output) return saveImages(store, images, o.format, process.stdout);
      const tmp = `${o.output}.gantry-tmp`;
      try {
        await saveImages(store, images, o.format, createWriteStream(tmp));
        renameSync(tmp, o.output);
      } finally {
        rmSync(tmp, { force: true });
      }
    });
}

function loadCommand(name: string): Command {
  return new Command(name)
    .description("Load images from a docker-archive or oci-archive tar (optionally gzip'd)")
    .option("-i, --input <file>", "read from a file instead of stdin")
    .option("--name <name>", "repository for oci-archive entries that carry only a tag")
    .option("-q, --quiet", "print nothing")
    .action(async (o: { input?: string; name?: string; quiet?: boolean }, cmd: Command) => {
      const store = storeFrom(cmd);
      let input = o.input;
      let tmp: string | undefined;
      if (!input) {
        if (process.stdin.isTTY) throw invalidArgument("no archive given", { hint: "use -i FILE or pipe the archive in" });
        tmp = store.tempPath("stdin");
        await pipeline(process.stdin, createWriteStream(tmp));
        input = tmp;
      }
      try {
        const r = await loadArchive(store, input, { name: o.name });
        if (o.quiet) return;
        for (const img of r.images) {
          if (img.names.length === 0) out(`Loaded image ID: ${img.id}`);
          for (const n of img.names) out(`Loaded image: ${n}`);
        }
      } finally {
        if (tmp) rmSync(tmp, { force: true });
      }
    });
}

function importCommand(name: string): Command {
  return new Command(name)
    .description("Create an image from a root filesystem tarball (tar, tar.gz or tar.zst; - for stdin)")
    .argument("<file>", "tarball path or -")
    .argument("[reference]", "NAME[:TAG] for the new image")
    .option("-c, --change <instruction>", "Dockerfile instruction for the config (CMD, ENTRYPOINT, ENV, WORKDIR, USER, EXPOSE, LABEL, VOLUME, STOPSIGNAL)", collect, [])
    .option("-m, --message <message>", "commit message")
    .option("--platform <os/arch>", "platform recorded in the config (default: this host's)")
    .action(async (file: string, reference: string | undefined, o: { change: string[]; message?: string; platform?: string }, cmd: Command) => {
      const store = storeFrom(cmd);
      let path = file;
      let tmp: string | undefined;
      if (file === "-") {
        tmp = store.tempPath("stdin");
        await pipeline(process.stdin, createWriteStream(tmp));
        path = tmp;
      } else {
        // Fail early with a clear message rather than an ENOENT from deep inside.
        try {
          statSync(file);
        } catch (err) {
          throw new GantryError("NOT_FOUND", `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
        }
      }
      try {
        const p = parsePlatform(o.platform);
        const r = await importRootfs(store, path, { name: reference, changes: o.change, message: o.message, platform: p });
        out(r.id);
      } finally {
        if (tmp) rmSync(tmp, { force: true });
      }
    });
}

function loginCommand(name: string): Command {
  return new Command(name)
    .description("Store credentials for a registry (in ~/.config/gantry/auth.json, mode 0600)")
    .argument("[server]", "registry host[:port]", "docker.io")
    .option("-u, --username <user>")
    .option("-p, --password <password>")
    .option("--password-stdin", "read the password from stdin")
    .option("--insecure-registry <host>", "allow plain HTTP to this registry", collect, [])
    .action(async (server: string, o: { username?: string; password?: string; passwordStdin?: boolean; insecureRegistry: string[] }) => {
      if (!o.username) throw invalidArgument("login needs --username");
      let password = o.password;
      if (o.passwordStdin) {
        const chunks: Buffer[] = [];
        for await (const c of process.stdin) chunks.push(c as Buffer);
        password = Buffer.concat(chunks).toString("utf8").replace(/\r?\n$/, "");
      }
      if (password === undefined) throw invalidArgument("login needs --password or --password-stdin");
      const registry = server.replace(/^https?:\/\//, "").replace(/\/.*$/, "");
      const credentials = { username: o.username, password };
      await new RegistryClient({ registry, repository: "library/gantry-login-check" }, { credentials, insecureRegistries: o.insecureRegistry }).ping();
      const path = saveCredentials(registry, credentials);
      out(`Login Succeeded (credentials stored in ${path})`);
    });
}

function logoutCommand(name: string): Command {
  return new Command(name)
    .description("Remove stored credentials for a registry")
    .argument("[server]", "registry host[:port]", "docker.io")
    .action((server: string) => {
      out(removeCredentials(server) ? `Removing login credentials for ${server}` : `Not logged in to ${server}`);
    });
}

export function registerImageCommands(program: Command): void {
  if (!program.options.some((opt) => opt.long === "--root")) {
    program.option("--root <dir>", "state directory (default: $GANTRY_ROOT or /var/lib/gantry)");
  }
  const image = program.command("image").description("Manage images");
  image.addCommand(pullCommand("pull"));
  image.addCommand(pushCommand("push"));
  image.addCommand(listCommand("ls").alias("list"));
  image.addCommand(inspectCommand("inspect"));
  image.addCommand(historyCommand("history"));
  image.addCommand(tagCommand("tag"));
  image.addCommand(removeCommand("rm"));
  image.addCommand(pruneCommand("prune"));
  image.addCommand(saveCommand("save"));
  image.addCommand(loadCommand("load"));
  image.addCommand(importCommand("import"));
  image.addCommand(loginCommand("login"));
  image.addCommand(logoutCommand("logout"));
  // Docker's short forms.
  program.addCommand(pullCommand("pull"));
  program.addCommand(pushCommand("push"));
  program.addCommand(listCommand("images"));
  program.addCommand(removeCommand("rmi"));
  program.addCommand(tagCommand("tag"));
  program.addCommand(saveCommand("save"));
  program.addCommand(loadCommand("load"));
  program.addCommand(importCommand("import"));
  program.addCommand(historyCommand("history"));
  program.addCommand(loginCommand("login"));
  program.addCommand(logoutCommand("logout"));
}

