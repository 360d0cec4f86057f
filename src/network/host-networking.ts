// What the network library shares with every other Gantry process on the host: the CNI
// plugins and their cache, portmap's shared chains, and this root's per-network rules. Edits
// of shared host state run under one host-wide lock, so two processes (an engine and a test,
// two test files) never see a chain empty and remove it while the other adds a rule to it.
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { withPidLock } from "../common/pid-lock.ts";
import type { CniOptions } from "./cni.ts";
import { removeIdleSharedChains } from "./host-rules.ts";
import { removeNetworkRules, ruleNamesOf, syncNetworkRules } from "./network-rules.ts";
import type { NetworkRuleNames } from "./network-rules.ts";

const DEFAULT_HOST_LOCK = "/run/gantry/network.lock";

/** A network as its per-network host rules see it. */
export interface RuledNetwork {
  bridge: string;
  subnet: string;
  internal: boolean;
  isDefault?: boolean;
}

export class HostNetworking {
  readonly cni: CniOptions;
  /** Names of this root's nft table and iptables chains (network-rules.ts). */
  readonly ruleNames: NetworkRuleNames;
  private readonly adminChain: string;
  private readonly hostLock: string;
  /** The per-network host rules match the registry (made by this process since it opened). */
  private rulesInPlace = false;
  /** Where the default network's traffic goes unmasqueraded (a node agent's cluster CIDR). */
  private readonly defaultNoMasqueradeTo: string | undefined;

  constructor(o: { root: string; pluginDirs?: string[]; firewallAdminChain?: string; hostLock?: string; defaultNoMasqueradeTo?: string }) {
    this.defaultNoMasqueradeTo = o.defaultNoMasqueradeTo;
    this.cni = {
      pluginDirs: o.pluginDirs ?? ["/usr/lib/cni", "/opt/cni/bin"],
      cacheDir: join(o.root, "cni-cache"),
    };
    this.ruleNames = ruleNamesOf(o.root);
    this.adminChain = o.firewallAdminChain ?? "GANTRY-ADMIN";
    this.hostLock = o.hostLock ?? DEFAULT_HOST_LOCK;
  }

  /** Runs `fn` holding the host-wide lock. */
  locked<T>(fn: () => Promise<T>): Promise<T> {
    mkdirSync(dirname(this.hostLock), { recursive: true });
    return withPidLock(this.hostLock, fn, {
      timeoutMs: 120_000,
      what: "host networking",
      hint: "another Gantry process is changing host networking; if none runs, remove the file",
    });
  }

  /** Makes this root's rules those of exactly `networks` (callers hold the lock or need none). */
  async syncRules(networks: RuledNetwork[]): Promise<void> {
    this.rulesInPlace = false;
    await syncNetworkRules(
      this.ruleNames,
      networks.map((n) => ({ bridge: n.bridge, subnet: n.subnet, internal: n.internal, noMasqueradeTo: n.isDefault ? this.defaultNoMasqueradeTo : undefined })),
    );
    this.rulesInPlace = true;
  }

  /** The rules once per process (a root reopened after a reboot or close), under the lock. */
  async ensureRules(networks: () => RuledNetwork[]): Promise<void> {
    if (this.rulesInPlace) return;
    await this.locked(async () => {
      if (!this.rulesInPlace) await this.syncRules(networks());
    });
  }

  /** Removes this root's rules (callers hold the lock). */
  async removeRules(): Promise<void> {
    await removeNetworkRules(this.ruleNames).catch(() => undefined);
    this.rulesInPlace = false;
  }

  /** Removes portmap's shared chains when no rule is left in them (callers hold the lock). */
  removeIdleSharedChains(): Promise<string[]> {
    return removeIdleSharedChains(this.adminChain);
  }
}
