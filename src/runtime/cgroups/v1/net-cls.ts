// v1 net_cls controller: tags the container's packets with a class id for tc/iptables.
import type { LinuxResources } from "../../spec/oci.ts";
import type { CgroupFile } from "../types.ts";

export const controller = "net_cls";

export function toFiles(resources: LinuxResources | undefined): CgroupFile[] {
  const id = resources?.network?.classID;
  // The kernel takes the 0xAAAABBBB handle as a decimal u32.
  return id === undefined ? [] : [{ file: "net_cls.classid", value: String(id), field: "network.classID" }];
}
