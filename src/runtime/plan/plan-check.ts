// The plan checked against the table of operations (plan-ops.ts, generated with the helper's
// own table by scripts/gen-wire.mjs) by the same rules the helper applies before it runs a
// step (native/src/plan-check.c): known op in its section, field count, numbers, enumerated
// values. The helper is the guard; this is for tests, which check every plan the planner makes.
import { GantryError } from "../../common/errors.ts";
import { PLAN_OPS, type PlanOp } from "./plan-ops.ts";
import type { PlanRecord } from "./wire.ts";

const U64_MAX = (1n << 64n) - 1n;

/** Why TEXT is not a u64 as the helper reads it, or undefined when it is one. */
export function u64Problem(text: string): string | undefined {
  if (text === "") return "is empty";
  if (!/^(0|[1-9][0-9]*|0x[0-9a-f]+)$/.test(text)) return /^0[0-9]/.test(text) ? "has a leading zero" : "is not a number";
  return BigInt(text) > U64_MAX ? "is out of range (more than 2^64-1)" : undefined;
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
    const n = spec.fields.length;
    if (args.length < n || (!spec.rest && args.length > n)) {
      const names = spec.fields.map(([f]) => f).join(", ");
      return [i, `"${name}" takes ${spec.rest ? "at least " : ""}${n} field${n === 1 ? "" : "s"} (${names}), got ${args.length}`];
    }
    if (spec.rest && (args.length - n) % (spec.group ?? 1)) {
      return [i, `"${name}" takes its trailing fields in groups of ${spec.group}, got ${args.length - n}`];
    }
    for (const [k, value] of args.entries()) {
      const [fname, type] = k < n ? spec.fields[k]! : ["trailing field", spec.rest![1]];
      const why = type === "u64" ? u64Problem(value) : type !== "str" && !type.includes(value) ? `is not one of ${type.map((v) => JSON.stringify(v)).join(", ")}` : undefined;
      if (why) return [i, `"${name}" field ${k + 1} (${fname}): ${JSON.stringify(value)} ${why}`];
    }
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
