// The nft script that moves a table from one Ruleset to another, touching only what differs
// (kube-proxy's partial sync, kubernetes PR 126013): new chains and sets are added, changed
// chains flushed and refilled, map elements deleted and added, stale chains and sets removed.
// `nft -f` applies the whole script as one transaction, so packets see the old rules or the
// new ones, never a mix. Pure.
import { baseTable, type MapElement, type ProxyNetwork, type Ruleset } from "./nft-ruleset.ts";

const elementText = (e: MapElement) => (e.value === undefined ? e.key : `${e.key} : ${e.value}`);

/** Script lines for the change; empty when nothing differs. */
export function diffScript(table: string, from: Ruleset, to: Ruleset): string[] {
  const t = `ip ${table}`;
  const out: string[] = [];
  for (const [name, body] of to.sets) {
    if (from.sets.get(name) === body) continue;
    if (from.sets.has(name)) out.push(`delete set ${t} ${name}`); // a new timeout: sets cannot be altered
    out.push(`add set ${t} ${name} { ${body} }`);
  }
  const changed: string[] = [];
  for (const [name, rules] of to.chains) {
    const old = from.chains.get(name);
    if (old && old.length === rules.length && old.every((r, i) => r === rules[i])) continue;
    if (!old) out.push(`add chain ${t} ${name}`);
    changed.push(name);
  }
  for (const name of changed) {
    if (from.chains.has(name)) out.push(`flush chain ${t} ${name}`);
    for (const rule of to.chains.get(name)!) out.push(`add rule ${t} ${name} ${rule}`);
  }
  for (const [k, e] of from.elements) {
    const next = to.elements.get(k);
    if (!next || next.value !== e.value) out.push(`delete element ${t} ${e.map} { ${e.key} }`);
  }
  for (const [k, e] of to.elements) {
    const prev = from.elements.get(k);
    if (!prev || prev.value !== e.value) out.push(`add element ${t} ${e.map} { ${elementText(e)} }`);
  }
  const stale = [...from.chains.keys()].filter((name) => !to.chains.has(name));
  // Flush every stale chain before deleting any: one may still jump to another.
  for (const name of stale) out.push(`flush chain ${t} ${name}`);
  for (const name of stale) out.push(`delete chain ${t} ${name}`);
  for (const name of from.sets.keys()) if (!to.sets.has(name)) out.push(`delete set ${t} ${name}`);
  return out;
}

/**
 * The full sync: the table replaced whole in one transaction (created if missing, so the
 * delete never fails), then every Service added. Used at start, after a failed sync, and
 * for the periodic resync that repairs rules someone else changed.
 */
export function fullScript(table: string, net: ProxyNetwork, to: Ruleset, empty: Ruleset): string[] {
  return [`add table ip ${table}`, `delete table ip ${table}`, baseTable(table, net), ...diffScript(table, empty, to)];
}
