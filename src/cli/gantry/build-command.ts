// `gantry build -t NAME [-f FILE] [--build-arg K=V] [--no-cache] DIR`: parses argv, calls
// buildImage, prints the steps as docker does and exits with a failing RUN's exit code.
import { join } from "node:path";
import type { Command } from "commander";
import { invalidArgument } from "../../common/errors.ts";
import { buildImage, RunStepFailed, ImageStore } from "../../image/mod.ts";

export function registerBuildCommand(program: Command): void {
  program
    .command("build")
    .description("Build an image from a Dockerfile (a subset: no multi-stage, no URLs, RUN without network)")
    .requiredOption("-t, --tag <name>", "name for the image")
    .option("-f, --file <path>", "Dockerfile (default: DIR/Dockerfile, else DIR/Containerfile)")
    .option("--build-arg <k=v>", "set a build argument (repeatable)", (v: string, prev: string[] = []) => [...prev, v])
    .option("--no-cache", "do not use cached steps")
    .argument("<dir>", "build context directory")
    .action(async (dir: string, o: { tag: string; file?: string; buildArg?: string[]; cache: boolean }, cmd: Command) => {
      const root = (cmd.optsWithGlobals() as { root?: string }).root;
      const store = new ImageStore(root || process.env.GANTRY_ROOT || undefined);
      const buildArgs: Record<string, string> = {};
      for (const kv of o.buildArg ?? []) {
        const eq = kv.indexOf("=");
        if (eq <= 0) throw invalidArgument(`--build-arg ${kv}: expected KEY=VALUE`);
        buildArgs[kv.slice(0, eq)] = kv.slice(eq + 1);
      }
      let dockerfile = o.file;
      if (!dockerfile) {
        const { existsSync } = await import("node:fs");
        dockerfile = existsSync(join(dir, "Dockerfile")) ? join(dir, "Dockerfile") : join(dir, "Containerfile");
      }
      try {
        const r = await buildImage(store, { contextDir: dir, dockerfile, tag: o.tag, buildArgs, noCache: !o.cache, log: (l) => process.stdout.write(`${l}\n`) });
        process.stdout.write(`Successfully built ${r.id.slice(7, 19)}\nSuccessfully tagged ${o.tag}\n`);
      } catch (err) {
        if (err instanceof RunStepFailed) {
          process.stderr.write(`gantry: ${err.message}\n`);
          process.exit(err.exitCode || 1);
        }
        throw err;
      }
    });
}
