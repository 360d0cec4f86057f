// Reads and validates a bundle's config.json. Errors name the JSON path at fault
// (e.g. `linux.namespaces[2].type`), because that is what a user needs to fix it.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { ZodIssue } from "zod";
import { GantryError, notFound } from "../../common/errors.ts";
import { configSchema, processSchema, type OciConfig, type OciProcess } from "./oci.ts";

export function formatJsonPath(path: (string | number)[]): string {
  let out = "";
  for (const part of path) out += typeof part === "number" ? `[${part}]` : out ? `.${part}` : part;
  return out || "(root)";
}

function describeIssue(issue: ZodIssue): string {
  return `${formatJsonPath(issue.path)}: ${issue.message}`;
}

export function parseConfig(json: unknown, source = "config.json"): OciConfig {
  const result = configSchema.safeParse(json);
  if (!result.success) {
    const first = result.error.issues[0]!;
    const all = result.error.issues.map(describeIssue).join("; ");
    throw new GantryError("INVALID_SPEC", `invalid ${source}: ${all}`, { path: formatJsonPath(first.path) });
  }
  return result.data;
}

export function loadBundleConfig(bundle: string): OciConfig {
  const file = join(bundle, "config.json");
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") {
      throw notFound(`bundle ${bundle} has no config.json`, {
        path: file,
        hint: "pass --bundle DIR pointing at a directory with config.json and rootfs (gantry-runtime spec writes a default config)",
      });
    }
    throw new GantryError("INVALID_SPEC", `cannot read ${file}: ${(err as Error).message}`, { path: file });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new GantryError("INVALID_SPEC", `${file} is not valid JSON: ${(err as Error).message}`, { path: file });
  }
  return parseConfig(json, file);
}

/** Validates a process.json (exec --process). */
export function parseProcess(json: unknown, source: string): OciProcess {
  const result = processSchema.safeParse(json);
  if (!result.success) {
    const all = result.error.issues.map(describeIssue).join("; ");
    throw new GantryError("INVALID_SPEC", `invalid ${source}: ${all}`, { path: formatJsonPath(result.error.issues[0]!.path) });
  }
  return result.data;
}
