// `gantry image …` and Docker's top-level short forms (pull, push, images, rmi, tag, save,
// load, import, history, login, logout). Every verb but login/logout is a client of the daemon
// (-H, GANTRY_HOST, default unix:///run/gantry/gantry.sock), which owns the image store: each
// command parses argv, makes one ImageClient call, and prints. Registry credentials are read
// here, from `gantry login`'s store or ~/.docker/config.json, and sent to the daemon with the
// request, as the docker CLI does.
import { createReadStream, createWriteStream, renameSync, rmSync, statSync } from "node:fs";
import { Command, Option } from "commander";
import { GantryError, invalidArgument } from "../../common/errors.ts";
import { humanSize, type ImageClient } from "../../engine/index.ts";
import { parseReference, lookupCredentials, removeCredentials, saveCredentials, type Credentials, RegistryClient } from "../../image/mod.ts";
import { imagesOf } from "./daemon-client.ts";
import { progressDisplay } from "./progress.ts";


type Out = (line: string) => void;
const out: Out = (line) => process.stdout.write(`${line}\n`);

const shortId = (d: string) => d.replace(/^sha256:/, "").slice(0, 12);

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

const collect = (v: string, prev: string[] = []) => [...prev, v];

function checkPlatform(s: string | undefined): string | undefined {
  if (s !== undefined && !/^[^/]+\/[^/]+(\/[^/]+)?$/.test(s)) throw invalidArgument(`invalid platform "${s}": expected os/arch[/variant]`);
  return s;
}

/** --username/--password, else what `gantry login` or ~/.docker/config.json hold for the
 * image's registry: sent to the daemon, which has no credentials of its own. */
function registryCredentials(image: string, o: { username?: string; password?: string }): { registry: string; credentials?: Credentials } {
  const registry = parseReference(image).registry;
  const credentials = o.username !== undefined ? { username: o.username, password: o.password ?? "" } : lookupCredentials(registry);
  return { registry, credentials };
}

function addCredentialFlags(cmd: Command): Command {
  return cmd
    .addOption(new Option("--username <user>", "registry user (else from gantry login or ~/.docker/config.json)").hideHelp())
    .addOption(new Option("--password <password>", "registry password").hideHelp());
}

/** A pull with the daemon's progress drawn on `stream` (stdout for pull, stderr for run). */
export async function pullWithProgress(images: ImageClient, image: string, o: { platform?: string; username?: string; password?: string; quiet?: boolean }, stream: NodeJS.WriteStream = process.stdout): Promise<void> {
  const display = o.quiet ? undefined : progressDisplay(stream);
  try {
    await images.pull(image, { platform: checkPlatform(o.platform), ...registryCredentials(image, o), onMessage: (m) => display?.onMessage(m) });
  } finally {
    display?.stop();
  }
}

// ---- command definitions: each returns a configured Command so both spellings share it ----

function pullCommand(name: string): Command {
  return addCredentialFlags(new Command(name).description("Download an image from a registry (into the daemon's store)").argument("<image>", "NAME[:TAG] or NAME@DIGEST"))
    .option("--platform <os/arch>", "platform to select from a multi-platform image")
    .option("-q, --quiet", "print only the image name")
    .action(async (image: string, o: { platform?: string; quiet?: boolean; username?: string; password?: string }, cmd: Command) => {
      const canonical = parseReference(image); // a malformed name fails here, before any request
      await pullWithProgress(imagesOf(cmd), image, o);
      out(canonical.digest && !canonical.tag ? `${canonical.registry}/${canonical.repository}@${canonical.digest}` : `${canonical.registry}/${canonical.repository}:${canonical.tag}`);
    });
}

function pushCommand(name: string): Command {
  return addCredentialFlags(new Command(name).description("Upload an image from the daemon's store to a registry").argument("<image>", "NAME[:TAG] (without a tag: every local tag of NAME)"))
    .option("-q, --quiet", "print only the digest")
    .action(async (image: string, o: { quiet?: boolean; username?: string; password?: string }, cmd: Command) => {
      const display = o.quiet ? undefined : progressDisplay();
      try {
        const pushed = await imagesOf(cmd).push(image, { ...registryCredentials(image, o), onMessage: (m) => display?.onMessage(m) });
        if (o.quiet) pushed.forEach((p) => out(p.Digest));
      } finally {
        display?.stop();
      }
    });
}

function listCommand(name: string): Command {
  return new Command(name)
    .description("List images")
    .argument("[repository]", "only images of this repository (REPO or REPO:TAG, * globs)")
    .option("-q, --quiet", "only image IDs")
    .option("--digests", "show digests")
    .option("--no-trunc", "do not truncate IDs")
    .option("--format <format>", "json, or a template like '{{.Repository}}:{{.Tag}}'")
    .action(async (repository: string | undefined, o: { quiet?: boolean; digests?: boolean; trunc: boolean; format?: string }, cmd: Command) => {
      const rows: { Repository: string; Tag: string; Digest: string; ID: string; CreatedSince: string; CreatedAt: string; Size: string }[] = [];
      for (const img of await imagesOf(cmd).list({ reference: repository })) {
        const created = img.Created ? new Date(img.Created * 1000).toISOString() : undefined;
        for (const t of img.RepoTags.length ? img.RepoTags : ["<none>:<none>"]) {
          const colon = t.lastIndexOf(":");
          const repo = t.slice(0, colon);
          rows.push({
            Repository: repo,
            Tag: t.slice(colon + 1),
            Digest: img.RepoDigests.find((d) => d.startsWith(`${repo}@`))?.split("@")[1] ?? "<none>",
            ID: o.trunc ? shortId(img.Id) : img.Id,
            CreatedSince: humanAgo(created),
            CreatedAt: created ?? "",
            Size: humanSize(img.Size),
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
    .action(async (images: string[], o: { format?: string }, cmd: Command) => {
      const client = imagesOf(cmd);
      const docs = [];
      for (const i of images) docs.push(await client.inspect(i));
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
    .action(async (image: string, o: { quiet?: boolean; trunc: boolean }, cmd: Command) => {
      const rows = (await imagesOf(cmd).history(image)).map((h) => {
        let by = h.CreatedBy;
        if (o.trunc && by.length > 45) by = `${by.slice(0, 44)}…`;
        const id = h.Id === "<missing>" || !o.trunc ? h.Id : shortId(h.Id);
        return [id, humanAgo(h.Created ? new Date(h.Created * 1000).toISOString() : undefined), by, humanSize(h.Size), h.Comment];
      });
      if (o.quiet) return rows.forEach((r) => out(r[0] as string));
      table([["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"], ...rows]).forEach((l) => out(l));
    });
}

function tagCommand(name: string): Command {
  return new Command(name)
    .description("Give an image another name")
    .argument("<source>", "image name or ID")
    .argument("<target>", "NAME[:TAG]")
    .action(async (source: string, target: string, _o: unknown, cmd: Command) => {
      parseReference(target);
      await imagesOf(cmd).tag(source, target);
    });
}

function removeCommand(name: string): Command {
  return new Command(name)
    .description("Remove one or more images")
    .argument("<images...>", "names or IDs")
    .option("-f, --force", "remove even when several names or a container refer to it")
    .action(async (images: string[], o: { force?: boolean }, cmd: Command) => {
      const client = imagesOf(cmd);
      let failed: unknown;
      for (const i of images) {
        try {
          for (const r of await client.remove(i, { force: o.force })) out("Untagged" in r ? `Untagged: ${r.Untagged}` : `Deleted: ${r.Deleted}`);
        } catch (err) {
          failed = err;
          process.stderr.write(`Error: ${(err as Error).message}\n`);
        }
      }
      if (failed) throw failed;
    });
}

function pruneCommand(name: string): Command {
  return new Command(name)
    .description("Remove unused image content (and, with -a, every image no container uses)")
    .option("-a, --all", "remove all images not used by a container")
    .option("-f, --force", "do not prompt (there is no prompt; accepted for docker compatibility)")
    .action(async (o: { all?: boolean }, cmd: Command) => {
      const r = await imagesOf(cmd).prune({ all: o.all });
      for (const d of r.ImagesDeleted ?? []) out("Untagged" in d ? `untagged: ${d.Untagged}` : `deleted: ${d.Deleted}`);
      out(`Total reclaimed space: ${humanSize(r.SpaceReclaimed)}`);
    });
}

function saveCommand(name: string): Command {
  return new Command(name)
    .description("Write images to a tar archive (docker-archive, as docker save, or oci-archive)")
    .argument("<images...>")
    .option("-o, --output <file>", "write to a file instead of stdout")
    .addOption(new Option("--format <format>", "archive layout").choices(["docker-archive", "oci-archive"]).default("docker-archive"))
    .action(async (images: string[], o: { output?: string; format: string }, cmd: Command) => {
      const client = imagesOf(cmd);
      if (!o.output && process.stdout.isTTY) throw invalidArgument("refusing to write an archive to a terminal", { hint: "use -o FILE or redirect stdout" });
      if (!o.output) return client.save(images, process.stdout, { format: o.format });
      const tmp = `${o.output}.gantry-tmp`;
      try {
        await client.save(images, createWriteStream(tmp), { format: o.format });
        renameSync(tmp, o.output);
      } finally {
        rmSync(tmp, { force: true });
      }
    });
}

/** A readable file, or a clear error now rather than an ENOENT from deep inside a stream. */
function openInput(file: string) {
  try {
    statSync(file);
  } catch (err) {
    throw new GantryError("NOT_FOUND", `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return createReadStream(file);
}

function loadCommand(name: string): Command {
  return new Command(name)
    .description("Load images from a docker-archive or oci-archive tar (optionally gzip'd)")
    .option("-i, --input <file>", "read from a file instead of stdin")
    .option("--name <name>", "repository for oci-archive entries that carry only a tag")
    .option("-q, --quiet", "print nothing")
    .action(async (o: { input?: string; name?: string; quiet?: boolean }, cmd: Command) => {
      if (!o.input && process.stdin.isTTY) throw invalidArgument("no archive given", { hint: "use -i FILE or pipe the archive in" });
      const lines = await imagesOf(cmd).load(o.input ? openInput(o.input) : process.stdin, { name: o.name });
      if (!o.quiet) lines.forEach((l) => out(l));
    });
}

function importCommand(name: string): Command {
  return new Command(name)
    .description("Create an image from a root filesystem tarball (tar, tar.gz or tar.zst; - for stdin)")
    .argument("<file>", "tarball path or -")
    .argument("[reference]", "NAME[:TAG] for the new image")
    .option("-c, --change <instruction>", "Dockerfile instruction for the config (CMD, ENTRYPOINT, ENV, WORKDIR, USER, EXPOSE, LABEL, VOLUME, STOPSIGNAL)", collect, [])
    .option("-m, --message <message>", "commit message")
    .option("--platform <os/arch>", "platform recorded in the config (default: the daemon's)")
    .action(async (file: string, reference: string | undefined, o: { change: string[]; message?: string; platform?: string }, cmd: Command) => {
      if (reference) parseReference(reference);
      const input = file === "-" ? process.stdin : openInput(file);
      out(await imagesOf(cmd).import(input, { reference, changes: o.change, message: o.message, platform: checkPlatform(o.platform) }));
    });
}

function commitCommand(name: string): Command {
  return new Command(name)
    .description("Make an image from a container's changes (paused meanwhile, unless --no-pause)")
    .argument("<container>")
    .argument("[reference]", "NAME[:TAG] for the new image")
    .option("-a, --author <author>", "author recorded in the image")
    .option("-c, --change <instruction>", "Dockerfile instruction applied to the config (CMD, ENV, …)", collect, [])
    .option("-m, --message <message>", "commit message")
    .option("--no-pause", "do not pause a running container while committing")
    .action(async (container: string, reference: string | undefined, o: { author?: string; change: string[]; message?: string; pause: boolean }, cmd: Command) => {
      if (reference) parseReference(reference);
      const r = await imagesOf(cmd).commit(container, { reference, changes: o.change, message: o.message, author: o.author, pause: o.pause });
      out(r.Id);
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
  program.addCommand(commitCommand("commit"));
  program.addCommand(loginCommand("login"));
  program.addCommand(logoutCommand("logout"));
}

