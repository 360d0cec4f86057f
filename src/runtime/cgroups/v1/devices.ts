// v1 devices controller: the allow/deny list the kernel checks on open and mknod.
import type { LinuxResources } from "../../spec/oci.ts";
import type { CgroupFile } from "../types.ts";
import { deviceRules, deviceRuleText } from "../devices/rules.ts";

export const controller = "devices";

export function toFiles(resources: LinuxResources | undefined): CgroupFile[] {
  const rules = deviceRules(resources);
  if (!rules) return [];
  // A new cgroup inherits its parent's list (usually "allow everything"). Denying all first
  // makes the OCI list the whole truth, as runc does; the rules then apply in order, and
  // the kernel merges them exactly as the v2 eBPF emulation in devices/ebpf.ts does.
  const files: CgroupFile[] = [{ file: "devices.deny", value: "a", field: "devices" }];
  for (const r of rules) {
    files.push({ file: r.allow ? "devices.allow" : "devices.deny", value: r.type === "a" ? "a" : deviceRuleText(r), field: "devices" });
  }
  return files;
}
