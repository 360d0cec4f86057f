// Kubernetes type schemas, read from the model metadata that the maintained
// @kubernetes/client-node package generates from Kubernetes' published OpenAPI: each
// model class carries an attributeTypeMap (field, JSON name, type, format) and its .d.ts
// carries the field descriptions. From these we serve OpenAPI v2/v3 (kubectl apply's
// validation, kubectl explain) and check unknown fields (fieldValidation=Strict|Warn).
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { isPlainObject } from "./objects.ts";

interface Attribute {
  name: string;
  baseName: string;
  type: string;
  format: string;
}

export interface ModelSchema {
  name: string;
  description: string;
  attributes: Attribute[];
  fieldDescriptions: Map<string, string>;
}

export type JsonSchema = Record<string, unknown>;

let modelsDir: string | undefined;
function modelsDirectory(): string {
  if (!modelsDir) {
    const require = createRequire(import.meta.url);
    modelsDir = join(dirname(require.resolve("@kubernetes/client-node")), "gen", "models");
  }
  return modelsDir;
}

const cache = new Map<string, ModelSchema>();

function parseDescriptions(dts: string): { description: string; fields: Map<string, string> } {
  const fields = new Map<string, string>();
  const clean = (c: string) => c.split("\n").map((l) => l.replace(/^\s*\*\s?/, "").trim()).filter(Boolean).join(" ").replace(/\\'/g, "'").replace(/\\"/g, '"');
  for (const m of dts.matchAll(/\/\*\*([\s\S]*?)\*\/\s*'([^']+)'\??:/g)) fields.set(m[2]!, clean(m[1]!));
  const cls = /\/\*\*([\s\S]*?)\*\/\s*export declare class/.exec(dts);
  return { description: cls ? clean(cls[1]!) : "", fields };
}

export async function loadModel(name: string): Promise<ModelSchema | undefined> {
  const hit = cache.get(name);
  if (hit) return hit;
  const file = join(modelsDirectory(), `${name}.js`);
  let mod: Record<string, { getAttributeTypeMap?: () => Attribute[] }>;
  try {
    mod = (await import(pathToFileURL(file).href)) as typeof mod;
  } catch {
    return undefined;
  }
  const cls = mod[name];
  if (!cls?.getAttributeTypeMap) return undefined;
  let docs = { description: "", fields: new Map<string, string>() };
  try {
    docs = parseDescriptions(readFileSync(join(modelsDirectory(), `${name}.d.ts`), "utf8"));
  } catch {
    // descriptions are a nicety
  }
  const schema: ModelSchema = { name, description: docs.description, attributes: cls.getAttributeTypeMap(), fieldDescriptions: docs.fields };
  cache.set(name, schema);
  return schema;
}

/** The model names a type expression refers to (`Array<V1Container>` -> V1Container). */
function referencedModels(type: string): string[] {
  return [...type.matchAll(/\b([A-Z][A-Za-z0-9]+)\b/g)].map((m) => m[1]!).filter((n) => n !== "Array" && n !== "Date" && n !== "IntOrString");
}

/** Loads a model and every model reachable from it. */
export async function loadModelClosure(roots: string[]): Promise<Map<string, ModelSchema>> {
  const out = new Map<string, ModelSchema>();
  const queue = [...roots];
  while (queue.length) {
    const name = queue.pop()!;
    if (out.has(name)) continue;
    const m = await loadModel(name);
    if (!m) continue;
    out.set(name, m);
    for (const a of m.attributes) for (const r of referencedModels(a.type)) if (!out.has(r)) queue.push(r);
  }
  return out;
}

/** A type expression as JSON schema; refs point at `refPrefix + Model`. */
export function typeSchema(type: string, format: string, refPrefix: string): JsonSchema {
  const t = type.trim();
  let m = /^Array<(.+)>$/.exec(t);
  if (m) return { type: "array", items: typeSchema(m[1]!, "", refPrefix) };
  m = /^\{\s*\[key: string\]:\s*(.+?);\s*\}$/.exec(t);
  if (m) return { type: "object", additionalProperties: typeSchema(m[1]!, "", refPrefix) };
  switch (t) {
    case "string":
      return format === "byte" ? { type: "string", format: "byte" } : { type: "string" };
    case "number":
      return format === "double" || format === "float" ? { type: "number", format } : { type: "integer", format: format || "int64" };
    case "boolean":
      return { type: "boolean" };
    case "Date":
      return { type: "string", format: "date-time" };
    case "any":
      return { type: "object", "x-kubernetes-preserve-unknown-fields": true };
    case "IntOrString":
      return { "x-kubernetes-int-or-string": true, anyOf: [{ type: "integer" }, { type: "string" }] };
    default:
      return { $ref: `${refPrefix}${t}` };
  }
}

export function modelSchema(m: ModelSchema, refPrefix: string, mergeKeys: (field: string) => { key?: string }): JsonSchema {
  const properties: Record<string, JsonSchema> = {};
  for (const a of m.attributes) {
    let s = typeSchema(a.type, a.format, refPrefix);
    // In OpenAPI v3 a $ref cannot have siblings; wrap it so the description survives.
    if (s.$ref) s = { allOf: [s] };
    const description = m.fieldDescriptions.get(a.baseName) ?? m.fieldDescriptions.get(a.name);
    if (description) s.description = description;
    if (s.type === "array") {
      const mk = mergeKeys(a.baseName).key;
      if (mk) {
        s["x-kubernetes-patch-merge-key"] = mk;
        s["x-kubernetes-patch-strategy"] = "merge";
      }
    }
    properties[a.baseName] = s;
  }
  return { type: "object", description: m.description, properties };
}

/**
 * Paths of fields in `value` that the model does not declare (`spec.foo`,
 * `spec.template.spec.containers[0].imagex`), for strict field validation.
 */
export async function unknownFields(model: string, value: unknown, path = "", prune = false): Promise<string[]> {
  const m = await loadModel(model);
  if (!m || !isPlainObject(value)) return [];
  const out: string[] = [];
  const byName = new Map(m.attributes.map((a) => [a.baseName, a]));
  for (const [k, v] of Object.entries(value)) {
    const p = path ? `${path}.${k}` : k;
    const a = byName.get(k);
    if (!a) {
      out.push(p);
      if (prune) delete (value as Record<string, unknown>)[k];
      continue;
    }
    out.push(...(await unknownInType(a.type, v, p, prune)));
  }
  return out;
}

async function unknownInType(type: string, v: unknown, path: string, prune: boolean): Promise<string[]> {
  let m = /^Array<(.+)>$/.exec(type);
  if (m) {
    if (!Array.isArray(v)) return [];
    const out: string[] = [];
    for (let i = 0; i < v.length; i++) out.push(...(await unknownInType(m[1]!, v[i], `${path}[${i}]`, prune)));
    return out;
  }
  m = /^\{\s*\[key: string\]:\s*(.+?);\s*\}$/.exec(type);
  if (m) {
    if (!isPlainObject(v)) return [];
    const out: string[] = [];
    for (const [k, x] of Object.entries(v)) out.push(...(await unknownInType(m[1]!, x, `${path}.${k}`, prune)));
    return out;
  }
  if (/^[A-Z]/.test(type) && type !== "Date" && type !== "IntOrString") return unknownFields(type, v, path, prune);
  return [];
}
