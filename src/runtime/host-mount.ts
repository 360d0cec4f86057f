// Mounts on the host made by the native helper alone, for a caller that needs one outside a
// container's start (the engine's own mount of a user-namespaced container's rootfs for cp,
// export and volume copy-up): an idmapped overlay needs the new mount API, which Node and
// util-linux 2.38's mount(8) do not offer. The plan is the monitor's mount steps and no
// "clone": the helper makes the mounts, leaves them, and exits (native/src/monitor.c).
import { spawnSync } from "node:child_process";
import { GantryError } from "../common/errors.ts";
import { findHelper, helperError } from "./helper.ts";
import { hostMountStep, type HostMount } from "./plan/plan.ts";
import type { PlanStep } from "./plan/plan-ops.ts";
import { encodeRecords, RecordDecoder } from "./plan/wire.ts";

export function mountOnHost(mounts: readonly HostMount[]): void {
  const plan: PlanStep[] = [["mode", "detach"], ...mounts.map((m) => hostMountStep({ ...m, unmountOnExit: false })), ["child"], ["end"]];
  const r = spawnSync(findHelper(), ["--plan-fd", "0", "--report-fd", "2"], { input: encodeRecords(plan), stdio: ["pipe", "ignore", "pipe"] });
  if (r.status === 0) return;
  const reports = r.stderr ? new RecordDecoder().push(r.stderr) : [];
  const error = reports.find((rec) => rec[0] === "error");
  if (error) throw helperError(error, plan);
  throw new GantryError("SYSCALL_FAILED", `the helper mounting ${mounts.map((m) => m.target).join(", ")} failed (${r.error?.message ?? `status ${r.status}, signal ${r.signal}`})`);
}
