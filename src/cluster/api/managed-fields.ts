// Field ownership (metadata.managedFields) and server-side apply. A field set is kept as
// a set of paths; each path segment is in FieldsV1 form: `f:name` for a field, `k:{"name":"web"}`
// for a list element by merge key, `v:"x"` for a set element. Apply conflicts when another
// manager owns a field whose value the applied configuration would change.
import { applyStrategicMergePatch } from "./patch.ts";
import { clone, deepEqual, isPlainObject, nowTimestamp, type KubeObject, type ManagedFieldsEntry } from "./objects.ts";
import { strategyFor } from "./patch-merge-keys.ts";
import { ApiError } from "./status.ts";

type Obj = Record<string, unknown>;
type Path = string[];

const ignoredTopLevel = new Set(["apiVersion", "kind"]);
const ignoredMeta = new Set(["name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"]);

/** The leaf paths an object sets (what it would own if applied). */
export function fieldPaths(o: unknown, withStatus: boolean): Path[] {
  const out: Path[] = [];
  if (!isPlainObject(o)) return out;
  for (const [k, v] of Object.entries(o)) {
    if (ignoredTopLevel.has(k) || (k === "status" && !withStatus)) continue;
    if (k === "metadata" && isPlainObject(v)) {
      for (const [mk, mv] of Object.entries(v)) {
        if (ignoredMeta.has(mk)) continue;
        walk(mv, ["metadata", mk], [`f:metadata`, `f:${mk}`], out);
      }
      continue;
    }
    walk(v, [k], [`f:${k}`], out);
  }
  return out;
}

function walk(v: unknown, fieldPath: string[], path: Path, out: Path[]) {
  if (isPlainObject(v) && Object.keys(v).length > 0) {
    for (const [k, x] of Object.entries(v)) walk(x, [...fieldPath, k], [...path, `f:${k}`], out);
    return;
  }
  if (Array.isArray(v) && v.length > 0) {
    const strategy = strategyFor(fieldPath);
    if (strategy.mergeScalars) {
      for (const x of v) out.push([...path, `v:${JSON.stringify(x)}`]);
      return;
    }
    if (strategy.mergeKey && v.every((x) => isPlainObject(x) && x[strategy.mergeKey!] !== undefined)) {
      for (const item of v as Obj[]) {
        const seg = `k:${JSON.stringify({ [strategy.mergeKey]: item[strategy.mergeKey] })}`;
        out.push([...path, seg, "."]);
        for (const [k, x] of Object.entries(item)) walk(x, [...fieldPath, k], [...path, seg, `f:${k}`], out);
      }
      return;
    }
  }
  out.push(path);
}

const pathKey = (p: Path) => JSON.stringify(p);

export function toFieldsV1(paths: Path[]): Obj {
  const root: Obj = {};
  for (const p of paths) {
    let cur = root;
    for (const seg of p) {
      if (!isPlainObject(cur[seg])) cur[seg] = {};
      cur = cur[seg] as Obj;
    }
  }
  return root;
}

export function fromFieldsV1(f: unknown, prefix: Path = []): Path[] {
  if (!isPlainObject(f)) return [];
  const out: Path[] = [];
  for (const [k, v] of Object.entries(f)) {
    const p = [...prefix, k];
    if (isPlainObject(v) && Object.keys(v).length > 0) out.push(...fromFieldsV1(v, p));
    else out.push(p);
  }
  return out;
}

/**
 * The JSON of a `k:`/`v:` segment, parsed once: the same few segments (a container's name, a
 * condition's type) come back on every write of every pod of a kind.
 */
const parsedSegments = new Map<string, unknown>();
function segmentValue(seg: string): unknown {
  let v = parsedSegments.get(seg);
  if (v === undefined) {
    v = JSON.parse(seg.slice(2));
    if (parsedSegments.size >= 10_000) parsedSegments.clear(); // unique keys (uids) must not pile up
    parsedSegments.set(seg, v);
  }
  return v;
}

/** One step of a field path from `cur` (undefined when absent). */
function step(cur: unknown, seg: string): unknown {
  if (seg === ".") return cur;
  if (seg.startsWith("f:")) return isPlainObject(cur) ? cur[seg.slice(2)] : undefined;
  if (seg.startsWith("k:")) {
    const want = segmentValue(seg) as Obj;
    return Array.isArray(cur) ? cur.find((x) => isPlainObject(x) && Object.entries(want).every(([k, v]) => deepEqual(x[k], v))) : undefined;
  }
  if (seg.startsWith("v:")) {
    const want = segmentValue(seg);
    return Array.isArray(cur) && cur.some((x) => deepEqual(x, want)) ? want : undefined;
  }
  return cur;
}

/** Reads the value at a field path (undefined when absent). */
function valueAt(o: unknown, path: Path): unknown {
  let cur: unknown = o;
  for (const seg of path) {
    if (seg === ".") return cur;
    cur = step(cur, seg);
    if (cur === undefined) return undefined;
  }
  return cur;
}

interface PrefixNode {
  value: unknown;
  next?: Map<string, PrefixNode>;
}

/**
 * valueAt over one object that is not changed meanwhile, each path prefix walked once: an
 * object's paths share their prefixes (every field of a container starts with the container's
 * `k:` lookup), and recordUpdate reads every path of a pod on both versions.
 */
function valueReader(o: unknown): (path: Path) => unknown {
  const root: PrefixNode = { value: o };
  return (path) => {
    let node = root;
    for (const seg of path) {
      if (seg === ".") return node.value;
      let child = node.next?.get(seg);
      if (!child) {
        child = { value: step(node.value, seg) };
        (node.next ??= new Map()).set(seg, child);
      }
      if (child.value === undefined) return undefined;
      node = child;
    }
    return node.value;
  };
}

/** Removes the field at path from o (in place). */
function removeAt(o: unknown, path: Path): void {
  if (path.length === 0) return;
  const last = path[path.length - 1]!;
  if (last === ".") return removeAt(o, path.slice(0, -1));
  const parent = valueAt(o, path.slice(0, -1));
  if (last.startsWith("f:") && isPlainObject(parent)) delete parent[last.slice(2)];
  else if ((last.startsWith("k:") || last.startsWith("v:")) && Array.isArray(parent)) {
    const item = valueAt(o, path);
    const idx = parent.indexOf(item);
    if (idx >= 0) parent.splice(idx, 1);
  }
}

interface Ownership {
  entry: ManagedFieldsEntry;
  paths: Map<string, Path>;
}

function ownerships(o: KubeObject): Ownership[] {
  return (o.metadata.managedFields ?? []).map((entry) => ({
    entry,
    paths: new Map(fromFieldsV1(entry.fieldsV1).map((p) => [pathKey(p), p])),
  }));
}

function writeBack(o: KubeObject, owned: Ownership[]): void {
  const entries = owned
    .filter((x) => x.paths.size > 0)
    .map((x) => ({ ...x.entry, fieldsV1: toFieldsV1([...x.paths.values()]) }));
  if (entries.length) o.metadata.managedFields = entries;
  else delete o.metadata.managedFields;
}

/** Describes a path the way the real server does in conflict messages: .spec.replicas. */
function describePath(p: Path): string {
  return p
    .filter((s) => s !== ".")
    .map((s) => (s.startsWith("f:") ? `.${s.slice(2)}` : s.startsWith("k:") ? `[${Object.entries(JSON.parse(s.slice(2)) as Obj).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(",")}]` : `[${s.slice(2)}]`))
    .join("");
}

/**
 * Records an Update by `manager`: fields whose value changed (or appeared) move to it from
 * any other manager. Called for create, PUT and non-apply PATCH.
 */
export function recordUpdate(old: KubeObject | undefined, next: KubeObject, manager: string, apiVersion: string, subresource?: string): void {
  const withStatus = subresource === "status";
  const owned = ownerships(old ?? next).filter((x) => x.paths.size > 0);
  if (!old) owned.length = 0;
  // Neither version changes until writeBack: their values are read through prefix caches.
  const oldAt = old ? valueReader(old) : undefined;
  const nextAt = valueReader(next);
  const changed = fieldPaths(next, withStatus).filter((p) => !oldAt || !deepEqual(oldAt(p), nextAt(p)));
  // Fields that disappeared leave every owner.
  for (const x of owned) for (const [k, p] of x.paths) if (nextAt(p) === undefined) x.paths.delete(k);
  if (changed.length === 0) return writeBack(next, owned);
  const changedKeys = changed.map(pathKey);
  for (const x of owned) for (const k of changedKeys) x.paths.delete(k);
  let mine = owned.find((x) => x.entry.manager === manager && x.entry.operation === "Update" && (x.entry.subresource ?? "") === (subresource ?? ""));
  if (!mine) {
    mine = { entry: { manager, operation: "Update", apiVersion, fieldsType: "FieldsV1", fieldsV1: {}, ...(subresource ? { subresource } : {}) }, paths: new Map() };
    owned.push(mine);
  }
  mine.entry = { ...mine.entry, time: nowTimestamp(), apiVersion };
  for (let i = 0; i < changed.length; i++) mine.paths.set(changedKeys[i]!, changed[i]!);
  writeBack(next, owned);
}

/**
 * Server-side apply of `applied` (a partial object) by `manager` onto `live` (undefined
 * when creating). Returns the merged object with managedFields updated; throws 409 on
 * conflicts unless force.
 */
export function serverSideApply(live: KubeObject | undefined, applied: KubeObject, manager: string, force: boolean, apiVersion: string, resource: string): KubeObject {
  const base: KubeObject = live ? clone(live) : { metadata: {} };
  const owned = ownerships(base);
  const appliedPaths = fieldPaths(applied, false);
  const conflicts: { manager: string; path: Path }[] = [];
  for (const x of owned) {
    if (x.entry.manager === manager && x.entry.operation === "Apply") continue;
    if (x.entry.subresource) continue;
    for (const p of appliedPaths) {
      if (!x.paths.has(pathKey(p)) || p[p.length - 1] === ".") continue;
      if (!deepEqual(valueAt(base, p), valueAt(applied, p))) conflicts.push({ manager: x.entry.manager, path: p });
    }
  }
  if (conflicts.length && !force) {
    const lines = conflicts.map((c) => `conflict with "${c.manager}"${apiVersion ? ` using ${apiVersion}` : ""}: ${describePath(c.path)}`);
    const message =
      conflicts.length === 1 ? `Apply failed with 1 conflict: ${lines[0]}` : `Apply failed with ${conflicts.length} conflicts: ${lines.join("\n")}`;
    throw new ApiError("CONFLICT", 409, "Conflict", message, {
      name: applied.metadata?.name,
      kind: resource,
      causes: conflicts.map((c) => ({ reason: "FieldManagerConflict", message: `conflict with "${c.manager}"`, field: describePath(c.path) })),
    });
  }
  if (force) for (const c of conflicts) for (const x of owned) if (x.entry.manager === c.manager) x.paths.delete(pathKey(c.path));

  let mine = owned.find((x) => x.entry.manager === manager && x.entry.operation === "Apply" && !x.entry.subresource);
  const previous = mine ? [...mine.paths.values()] : [];
  const appliedKeys = new Set(appliedPaths.map(pathKey));
  const { metadata: appliedMeta, ...appliedRest } = applied;
  const { name: _n, namespace: _ns, resourceVersion: _rv, managedFields: _mf, ...metaRest } = appliedMeta ?? {};
  const merged = applyStrategicMergePatch(base, { ...appliedRest, metadata: metaRest }) as KubeObject;
  // Fields this manager applied before but not now are removed unless someone else owns them.
  for (const p of previous) {
    const k = pathKey(p);
    if (appliedKeys.has(k)) continue;
    if (owned.some((x) => x !== mine && x.paths.has(k))) continue;
    removeAt(merged, p);
  }
  if (!mine) {
    mine = { entry: { manager, operation: "Apply", apiVersion, fieldsType: "FieldsV1", fieldsV1: {} }, paths: new Map() };
    owned.push(mine);
  }
  mine.entry = { ...mine.entry, apiVersion, time: nowTimestamp() };
  mine.paths = new Map(appliedPaths.map((p) => [pathKey(p), p]));
  writeBack(merged, owned);
  return merged;
}
