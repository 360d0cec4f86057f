// The NetworkPolicy enforcer of one node: pods, namespaces and policies from the API
// (informers), the node's nft table kept equal to what they ask for. Events only mark the state
// dirty; one sync at a time renders the desired table (data, cheap) and applies the difference
// from the last one applied as one nft transaction (common/nft.ts): set elements alone when only who a
// selector picks changed, the table replaced whole otherwise (atomically: packets see the old
// rules or the new, and established connections keep flowing through conntrack).
import { readFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { resolve } from "node:path";
import { describeError } from "../../common/errors.ts";
import { nftRunner } from "../../common/nft.ts";
import { startSyncRunner } from "../../common/sync-runner.ts";
import { InformerFactory, type Client, type KubeObject } from "../client/index.ts";
import { NAMESPACES, NETWORK_POLICIES, PODS, type NetworkPolicy, type Pod } from "./_types.ts";
import { policyScript, renderPolicies, type PolicyRuleset } from "./ruleset.ts";

/** The table of the node whose state is under dataRoot: stable across restarts, distinct per node. */
export const netpolTableName = (dataRoot: string) => `gantry-np-${createHash("sha256").update(resolve(dataRoot)).digest("hex").slice(0, 10)}`;

export interface NetworkPolicyOptions {
  client: Client;
  nodeName: string;
  table: string;
  /** A network namespace file (/run/netns/NAME); the caller's own when absent. */
  netns?: string;
  informers?: InformerFactory;
  log?: (message: string) => void;
  coalesceMs?: number;
}

export interface RunningNetworkPolicy {
  table: string;
  /** Resolves after a sync that started after this call has been applied. */
  synced(): Promise<void>;
  stop(): Promise<void>;
}

/** Whether frames bridged between two pods of this node pass the ip forward hook (br_netfilter). */
function bridgedTrafficFiltered(): boolean {
  try {
    return readFileSync("/proc/sys/net/bridge/bridge-nf-call-iptables", "utf8").trim() === "1";
  } catch {
    return false;
  }
}

export async function startNetworkPolicy(opts: NetworkPolicyOptions): Promise<RunningNetworkPolicy> {
  const log = opts.log ?? (() => undefined);
  const ownFactory = !opts.informers;
  const factory = opts.informers ?? new InformerFactory(opts.client, { log });
  const pods = factory.informerFor<Pod>(PODS);
  const namespaces = factory.informerFor<KubeObject>(NAMESPACES);
  const policies = factory.informerFor<NetworkPolicy>(NETWORK_POLICIES);

  const nft = nftRunner(opts.netns);
  let applied: PolicyRuleset | undefined;

  const syncOnce = async () => {
    const ns = new Map(namespaces.cache.list().map((n) => [n.metadata.name ?? "", n.metadata.labels ?? {}]));
    const desired = renderPolicies(opts.table, opts.nodeName, { pods: pods.cache.list(), namespaces: ns, policies: policies.cache.list() });
    const lines = policyScript(opts.table, applied, desired);
    await nft.apply(lines);
    applied = desired;
  };

  const runner = startSyncRunner({
    sync: syncOnce,
    coalesceMs: opts.coalesceMs,
    onError: (err, retryMs) => {
      applied = undefined; // the next sync replaces the table whole
      log(`network policy: sync failed (retry in ${retryMs} ms): ${describeError(err)}`);
    },
  });

  const onChange = { onAdd: () => runner.request(), onUpdate: () => runner.request(), onDelete: () => runner.request() };
  pods.addHandlers(onChange);
  namespaces.addHandlers(onChange);
  policies.addHandlers(onChange);
  if (ownFactory) factory.start();
  await factory.whenSynced();
  await runner.synced(0);
  if (!bridgedTrafficFiltered()) log("network policy: net.bridge.bridge-nf-call-iptables is not 1 (modprobe br_netfilter): traffic between pods on one bridge is not policed");
  log(`network policy: node ${opts.nodeName}: table ip ${opts.table}${opts.netns ? ` in ${opts.netns}` : ""} in sync`);

  return {
    table: opts.table,
    synced: () => runner.synced(),
    async stop() {
      await runner.stop();
      if (ownFactory) await factory.stop();
      nft.close();
      await nft.run(["delete", "table", "ip", opts.table]).catch((err: unknown) => log(`network policy: cleanup: ${describeError(err)}`));
    },
  };
}
