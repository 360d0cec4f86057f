// `gantry build [-t NAME]… [-f FILE] [--build-arg K=V] [--no-cache] [-q] DIR`: a client of the
// daemon's legacy builder (`POST /build`, as `DOCKER_BUILDKIT=0 docker build`). The context
// directory goes as a tar (owners 0:0, as the docker CLI sends it); a Dockerfile outside it is
// added under a generated name. The daemon's output is printed as it comes; a failing RUN
// makes this exit with the step's exit code.
import { spawn } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import { basename, dirname, join, relative, resolve } from "node:path";
import { randomBytes } from "node:crypto";
import type { Readable } from "node:stream";
import type { Command } from "commander";
import { GantryError, invalidArgument } from "../../common/errors.ts";
import { parseReference, lookupCredentials, type Credentials } from "../../image/mod.ts";
import { imagesOf } from "./daemon-client.ts";
import { progressDisplay } from "./progress.ts";

/** The context as a tar stream from GNU tar, and the Dockerfile's name inside it. */
export function contextTar(dir: string, dockerfile: string): { tar: Readable; dockerfileName: string; done: Promise<void> } {
  const args = ["--numeric-owner", "--owner=0", "--group=0", "-C", dir, "-c", "."];
  let dockerfileName = relative(dir, dockerfile);
  if (dockerfileName.startsWith("..") || dockerfileName === "") {
    dockerfileName = `.dockerfile.${randomBytes(6).toString("hex")}`;
    const name = basename(dockerfile).replace(/[\\^$.*+?()[\]{}|,]/g, "\\$&");
    // Entries from `-C dir .` start with "./", so only the Dockerfile's own entry matches.
    args.push("-C", dirname(dockerfile), `--transform=s,^${name}$,${dockerfileName},SH`, basename(dockerfile));
  }
  const child = spawn("tar", args, { stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  child.stderr.on("data", (c: Buffer) => (err += c.toString()));
  const done = new Promise<void>((resolveDone, reject) => {
    child.on("error", (e) => reject(new GantryError("KERNEL_FEATURE_MISSING", `tar: ${e.message}`, { hint: "install GNU tar" })));
    child.on("close", (code) => (code === 0 ? resolveDone() : reject(invalidArgument(`packing the build context ${dir} failed: ${err.trim()}`))));
  });
  return { tar: child.stdout, dockerfileName, done };
}

/** Credentials for the registries the Dockerfile's FROM lines name (X-Registry-Config), so
 * the daemon can pull a base image it lacks. */
function baseImageCredentials(dockerfile: string): Record<string, Credentials> {
  const out: Record<string, Credentials> = {};
  for (const m of readFileSync(dockerfile, "utf8").matchAll(/^\s*FROM\s+(\S+)/gim)) {
    try {
      const registry = parseReference(m[1]!).registry;
      const c = lookupCredentials(registry);
      if (c) out[registry] = c;
    } catch {
      /* scratch, ${ARG} forms: the daemon judges them */
    }
  }
  return out;
}

export function registerBuildCommand(program: Command): void {
  program
    .command("build")
    .description("Build an image from a Dockerfile on the daemon (a subset: no multi-stage, no URLs, RUN without network)")
    .option("-t, --tag <name>", "name for the image (repeatable)", (v: string, prev: string[]) => [...prev, v], [])
    .option("-f, --file <path>", "Dockerfile (default: DIR/Dockerfile, else DIR/Containerfile)")
    .option("--build-arg <k=v>", "set a build argument (repeatable)", (v: string, prev: string[] = []) => [...prev, v])
    .option("--no-cache", "do not use cached steps")
    .option("-q, --quiet", "print only the image ID")
    .argument("<dir>", "build context directory")
    .action(async (dir: string, o: { tag: string[]; file?: string; buildArg?: string[]; cache: boolean; quiet?: boolean }, cmd: Command) => {
      for (const t of o.tag) parseReference(t);
      const buildArgs: Record<string, string> = {};
      for (const kv of o.buildArg ?? []) {
        const eq = kv.indexOf("=");
        if (eq <= 0) throw invalidArgument(`--build-arg ${kv}: expected KEY=VALUE`);
        buildArgs[kv.slice(0, eq)] = kv.slice(eq + 1);
      }
      if (!existsSync(dir) || !statSync(dir).isDirectory()) throw invalidArgument(`build context ${dir} is not a directory`);
      const dockerfile = resolve(o.file ?? (existsSync(join(dir, "Dockerfile")) ? join(dir, "Dockerfile") : join(dir, "Containerfile")));
      if (!existsSync(dockerfile)) throw invalidArgument(`no Dockerfile: ${dockerfile} does not exist`, { hint: "use -f FILE" });
      const context = contextTar(resolve(dir), dockerfile);
      const display = o.quiet ? undefined : progressDisplay();
      try {
        const [id] = await Promise.all([
          imagesOf(cmd).build(context.tar, {
            dockerfile: context.dockerfileName,
            tags: o.tag,
            buildArgs,
            noCache: !o.cache,
            quiet: o.quiet,
            credentials: baseImageCredentials(dockerfile),
            onMessage: (m) => display?.onMessage(m),
          }),
          context.done,
        ]);
        if (o.quiet) process.stdout.write(`${id}\n`);
      } finally {
        display?.stop();
      }
    });
}
