// Whether this runtime runs rootless: inside a user namespace that is not the host's (a
// rootless `gantry daemon` re-executes itself into one, as rootlesskit does), where uid 0
// holds capabilities over its own namespaces only — no host cgroups, no mknod.
import { readFileSync } from "node:fs";

let cached: boolean | undefined;

/** True when /proc/self/uid_map is not the initial namespace's identity map (runc's RunningInUserNS). */
export function inUserNamespace(): boolean {
  if (cached !== undefined) return cached;
  try {
    const lines = readFileSync("/proc/self/uid_map", "utf8").trim().split("\n");
    const [inside, outside, count] = (lines[0] ?? "").trim().split(/\s+/);
    cached = !(lines.length === 1 && inside === "0" && outside === "0" && count === "4294967295");
  } catch {
    cached = false;
  }
  return cached;
}
