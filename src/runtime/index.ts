// The runtime layer's public module: what the engine, the image builder and the runtime's
// CLI may use (scripts/check-layers.mjs refuses imports of any other runtime file from
// outside). The OCI spec enters as types only: its schemas are the largest part of the
// runtime CLI's start-up, so code that validates a spec loads them on demand (below).
import type { OciProcess } from "./spec/oci.ts";

export { Runtime, OCI_VERSION, type CreateOptions, type ExecOptions, type CreatedContainer } from "./runtime.ts";
export { DEFAULT_ROOT } from "./state.ts";
export type { ExplainRecord, ExplainStep } from "./explain.ts";
export { describeStep } from "./explain-text.ts";
export { findHelper } from "./helper.ts";
export { mountOnHost } from "./host-mount.ts";
export { defaultSpec } from "./default-spec.ts";
export { inUserNamespace } from "./rootless.ts";
export { CAPABILITIES } from "./plan/linux-constants.ts";
export type { HostMount, IdmappedOverlayMount } from "./plan/plan.ts";
export { idMapText } from "./plan/plan.ts";
export { planSeccomp } from "./plan/seccomp.ts";
export { openCgroups, detectCgroupVersion, type CgroupStats, type CgroupManager } from "./cgroups/index.ts";
export type { OciConfig, OciProcess, OciMount, OciHook, OciHooks, OciState, LinuxResources, LinuxSeccomp, LinuxDevice, IdMapping, NamespaceType } from "./spec/oci.ts";

/** Validates an OCI process object (runc exec --process), loading the schemas on first use. */
export async function parseProcessSpec(json: unknown, source: string): Promise<OciProcess> {
  const { parseProcess } = await import("./spec/parse.ts");
  return parseProcess(json, source);
}
