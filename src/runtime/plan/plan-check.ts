// The plan checked against the table of operations (plan-ops.ts, generated with the helper's
// own table by scripts/gen-wire.mjs) by the same rules the helper applies before it runs a
// step (native/src/plan-check.c): known op in its section, field count, numbers, enumerated
// values. The helper is the guard; this is for tests, which check every plan the planner makes.
import { GantryError } from "../../common/errors.ts";
import { HELPER_MESSAGES, PLAN_OPS, type HelperMessageName, type PlanOp, type PlanOpSpec } from "./plan-ops.ts";
import type { PlanRecord } from "./wire.ts";

const U64_MAX = (1n << 64n) - 1n;

/** Why TEXT is not a u64 as the helper reads it, or undefined when it is one. */
export function u64Problem(text: string): string | undefined {
  if (text === "") return "is empty";
  if (!/^(0|[1-9][0-9]*|0x[0-9a-f]+)$/.test(text)) return /^0[0-9]/.test(text) ? "has a leading zero" : "is not a number";
  return BigInt(text) > U64_MAX ? "is out of range (more than 2^64-1)" : undefined;
}

/** What is wrong with the fields of record `name` by its table entry, or undefined. */
function fieldsProblem(name: string, spec: Pick<PlanOpSpec, "fields" | "rest" | "group">, args: readonly string[]): string | undefined {
  const n = spec.fields.length;
  if (args.length < n || (!spec.rest && args.length > n)) {
    const names = spec.fields.map(([f]) => f).join(", ");
    return `"${name}" takes ${spec.rest ? "at least " : ""}${n} field${n === 1 ? "" : "s"} (${names}), got ${args.length}`;
  }
  if (spec.rest && (args.length - n) % (spec.group ?? 1)) {
    return `"${name}" takes its trailing fields in groups of ${spec.group}, got ${args.length - n}`;
  }
  for (const [k, value] of args.entries()) {
    const [fname, type] = k < n ? spec.fields[k]! : ["trailing field", spec.rest![1]];
    const why = type === "u64" ? u64Problem(value) : type !== "str" && !type.includes(value) ? `is not one of ${type.map((v) => JSON.stringify(v)).join(", ")}` : undefined;
    if (why) return `"${name}" field ${k + 1} (${fname}): ${JSON.stringify(value)} ${why}`;
  }
  return undefined;
}

/** What is wrong with a message the helper sent (the table's names, field counts, numbers), or undefined. */
export function messageProblem(rec: readonly string[]): string | undefined {
  const [name = "", ...args] = rec;
  if (!Object.hasOwn(HELPER_MESSAGES, name)) return `unknown message ${JSON.stringify(name)}`;
  return fieldsProblem(name, HELPER_MESSAGES[name as HelperMessageName], args);
}

/** The first problem in PLAN as [step index, message], or undefined when the helper will take it. */
export function planProblem(plan: readonly PlanRecord[]): [number, string] | undefined {
  let inChild = false;
  for (const [i, rec] of plan.entries()) {
    const [name, ...args] = rec;
    const spec = Object.hasOwn(PLAN_OPS, name) ? PLAN_OPS[name as PlanOp] : undefined;
    if (!spec) return [i, `unknown operation ${JSON.stringify(name)}`];
    if (spec.section === "monitor" && inChild) return [i, `"${name}" belongs before "child" (the monitor's section)`];
    if (spec.section === "child" && !inChild) return [i, `"${name}" belongs after "child" (the child's section)`];
    const problem = fieldsProblem(name, spec, args);
    if (problem) return [i, problem];
    if (name === "child") {
      if (inChild) return [i, `a second "child" marker`];
      inChild = true;
    }
  }
  if (!inChild) return [Math.max(0, plan.length - 1), `the plan has no "child" marker`];
  return undefined;
}

export function checkPlan(plan: readonly PlanRecord[]): void {
  const problem = planProblem(plan);
  if (problem) throw new GantryError("INTERNAL", `malformed plan at step ${problem[0]}: ${problem[1]}`, { step: plan[problem[0]]?.[0] });
}
