// `gantry agent --hollow`: kubemark's hollow nodes behind the agent's command. N Nodes
// register with the capacity given, renew their Leases and report the pods bound to them
// Running, running nothing — so a scheduler or a controller can be tried with many nodes
// from one small machine. Hollow nodes write many Nodes, so they need credentials that may
// (an admin kubeconfig or token); a node token may write only its own Node.
import { parseQuantity } from "../../common/quantity.ts";
import { GantryError, invalidArgument } from "../../common/errors.ts";
import type { Client } from "../../cluster/client/index.ts";
import { startHollowNodes, type HollowNodes } from "../../cluster/hollow/index.ts";

export interface HollowFlags {
  count: string;
  cpu: string;
  memory: string;
  pods: string;
  namePrefix: string;
  leaseRenewMs?: string;
}

/** Checks the flags and starts the hollow nodes; the caller stops them. */
export async function startHollowAgent(client: Client, flags: HollowFlags, log: (m: string) => void): Promise<HollowNodes> {
  const count = Number(flags.count);
  if (!Number.isInteger(count) || count < 1 || count > 100_000) throw invalidArgument(`--count must be a whole number from 1 to 100000, not "${flags.count}"`);
  for (const [flag, value] of [["--cpu", flags.cpu], ["--memory", flags.memory], ["--pods", flags.pods]] as const) {
    const q = parseQuantity(value);
    if (!q || q.num <= 0n) throw invalidArgument(`${flag} must be a positive quantity such as 4, 16Gi or 110, not "${value}"`);
  }
  if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(flags.namePrefix)) throw invalidArgument(`--name-prefix must be a lowercase DNS name prefix (a-z, 0-9, "-", "."), not "${flags.namePrefix}"`);
  const leaseRenewMs = flags.leaseRenewMs === undefined ? undefined : Number(flags.leaseRenewMs);
  if (leaseRenewMs !== undefined && !(leaseRenewMs >= 100)) throw invalidArgument(`--lease-renew-ms must be at least 100, not "${flags.leaseRenewMs}"`);
  const review = await client.send<{ status?: { userInfo?: { username?: string } } }>("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", { apiVersion: "authentication.k8s.io/v1", kind: "SelfSubjectReview" });
  const user = review.status?.userInfo?.username ?? "";
  if (user.startsWith("system:node:")) {
    throw new GantryError("FORBIDDEN", `hollow nodes register ${count} Nodes, and ${user}'s token may write only its own`, { hint: "run gantry agent --hollow with the server's admin.kubeconfig (--kubeconfig)" });
  }
  return startHollowNodes(client, { count, namePrefix: flags.namePrefix, capacity: { cpu: flags.cpu, memory: flags.memory, pods: flags.pods }, ...(leaseRenewMs ? { leaseRenewMs } : {}), log });
}
