// Reads and validates a bundle's config.json. Errors name the JSON path at fault
// (e.g. `linux.namespaces[2].type`), because that is what a user needs to fix it.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { TSchema } from "@sinclair/typebox";
import { Check } from "@sinclair/typebox/value";
import { Errors } from "@sinclair/typebox/errors";
import { GantryError, notFound } from "../../common/errors.ts";
import { configSchema, processSchema, type OciConfig, type OciProcess } from "./oci.ts";

export function formatJsonPath(path: (string | number)[]): string {
  let out = "";
  for (const part of path) out += typeof part === "number" ? `[${part}]` : out ? `.${part}` : part;
  return out || "(root)";
}

/** TypeBox reports JSON pointers ("/linux/namespaces/2/type"); users read linux.namespaces[2].type. */
function pointerToPath(pointer: string): (string | number)[] {
  if (!pointer) return [];
  return pointer
    .slice(1)
    .split("/")
    .map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~"))
    .map((p) => (/^\d+$/.test(p) ? Number(p) : p));
}

/** Checks `json` against `schema`; a mismatch throws INVALID_SPEC naming every JSON path at fault. */
function check<S extends TSchema>(schema: S, json: unknown, source: string): void {
  if (Check(schema, json)) return;
  const problems: { path: string; message: string }[] = [];
  for (const e of Errors(schema, json)) {
    const path = formatJsonPath(pointerToPath(e.path));
    // One message per place: a failed union or object also reports its parts.
    if (problems.some((p) => p.path === path)) continue;
    const own = (e.schema as { errorMessage?: string }).errorMessage;
    problems.push({ path, message: own ?? e.message });
    if (problems.length >= 10) break;
  }
  const all = problems.map((p) => `${p.path}: ${p.message}`).join("; ");
  throw new GantryError("INVALID_SPEC", `invalid ${source}: ${all}`, { path: problems[0]?.path ?? "(root)" });
}

export function parseConfig(json: unknown, source = "config.json"): OciConfig {
  check(configSchema, json, source);
  return json as OciConfig;
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
  check(processSchema, json, source);
  return json as OciProcess;
}
