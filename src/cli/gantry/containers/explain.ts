// `gantry explain CONTAINER`: the kernel steps the runtime recorded when it created the
// container, in order, one line each (runtime/explain-text.ts reads them), then what the
// kernel holds now: its namespaces with who shares them, and its cgroup's limit files.
import type { Command } from "commander";
import type { Explained, Glass } from "../../../engine/index.ts";
import { describeStep } from "../../../runtime/index.ts";
import { containersOf } from "../daemon-client.ts";
import { out } from "./output.ts";

/** The report as text: steps first, then the live namespace table and cgroup files (when running). */
export function explainText(e: Explained, glass: Glass | undefined): string[] {
  const lines = [`${e.name} (${e.id.slice(0, 12)}), set up for pid ${e.pid} at ${e.recordedAt}:`];
  const width = String(e.steps.length).length;
  for (const [i, s] of e.steps.entries()) {
    const when = !s.done ? "  [not yet: runs at start]" : s.when === "start" ? "  [at start]" : "";
    lines.push(`${String(i + 1).padStart(width)}  ${s.by.padEnd(9)} ${s.step.padEnd(17)} ${describeStep(s)}${when}`);
  }
  if (!glass) return lines;
  lines.push("", `namespaces now (pid ${glass.pid}):`);
  for (const n of glass.namespaces) {
    lines.push(`  ${n.type.padEnd(7)} ${`${n.type}:[${n.inode}]`.padEnd(20)} ${n.sharedWith.length ? `shared with: ${n.sharedWith.join(", ")}` : "own"}`);
  }
  lines.push("", `cgroup ${glass.cgroup.path}:`);
  for (const f of glass.cgroup.files) lines.push(`  ${f.path} = ${f.value}`);
  if (glass.uidMap.length) lines.push("", `uid_map: ${glass.uidMap.join("; ")}`, `gid_map: ${glass.gidMap.join("; ")}`);
  return lines;
}

export function registerExplainCommand(program: Command): void {
  program
    .command("explain")
    .description("The kernel steps a container was set up with (recorded at create), then its namespaces and cgroup files now")
    .option("--json", "the recorded steps and the live view as JSON")
    .argument("<container>")
    .action(async (ref: string, o: { json?: boolean }, cmd: Command) => {
      const containers = containersOf(cmd);
      const explained = await containers.explain(ref);
      // A stopped container has its record but no process to look at.
      const glass = await containers.glass(ref).catch(() => undefined);
      if (o.json) out(JSON.stringify({ ...explained, glass }, null, 2));
      else for (const l of explainText(explained, glass)) out(l);
    });
}
