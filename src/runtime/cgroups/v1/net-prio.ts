// v1 net_prio controller: per-interface priority of the container's traffic.
import type { LinuxResources } from "../../spec/oci.ts";
import type { CgroupFile } from "../types.ts";

export const controller = "net_prio";

export function toFiles(resources: LinuxResources | undefined): CgroupFile[] {
  // One "ifname prio" per write: the kernel reads a single pair each time.
  return (resources?.network?.priorities ?? []).map((p) => ({
    file: "net_prio.ifpriomap",
    value: `${p.name} ${p.priority}`,
    field: "network.priorities",
  }));
}
