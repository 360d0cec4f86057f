// linux.cgroupsPath, as runc's cgroupfs driver reads it: "/a/b" is relative to each
// hierarchy root, "a/b" to the runtime's own cgroup, absent means "/gantry/<id>".
import { GantryError } from "../../common/errors.ts";

export const defaultCgroupParent = "/gantry";

/**
 * Normalises a cgroupsPath. ".." is refused outright rather than resolved: a config must
 * not be able to climb out of the hierarchy or into a sibling's cgroup.
 */
export function resolveCgroupPath(cgroupsPath: string | undefined, containerId: string): string {
  if (cgroupsPath === undefined || cgroupsPath === "") {
    if (containerId === "" || containerId.includes("/") || containerId === "." || containerId === "..") {
      throw new GantryError("INVALID_SPEC", `container id ${JSON.stringify(containerId)} cannot name a cgroup`, {
        path: "linux.cgroupsPath",
      });
    }
    return `${defaultCgroupParent}/${containerId}`;
  }
  if (cgroupsPath.includes("\0")) {
    throw new GantryError("INVALID_SPEC", "linux.cgroupsPath contains a NUL byte", { path: "linux.cgroupsPath" });
  }
  const absolute = cgroupsPath.startsWith("/");
  const parts = cgroupsPath.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.includes("..")) {
    throw new GantryError("INVALID_SPEC", `linux.cgroupsPath ${JSON.stringify(cgroupsPath)} has a ".." component`, {
      path: "linux.cgroupsPath",
      hint: "give a path without \"..\"; absolute paths are relative to each cgroup hierarchy root",
    });
  }
  if (parts.length === 0) {
    // The container would own the hierarchy root (or our own cgroup), and destroy would try to remove it.
    throw new GantryError("INVALID_SPEC", `linux.cgroupsPath ${JSON.stringify(cgroupsPath)} names no cgroup below the root`, {
      path: "linux.cgroupsPath",
    });
  }
  return (absolute ? "/" : "") + parts.join("/");
}
