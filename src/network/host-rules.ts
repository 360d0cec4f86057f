// What the CNI plugins leave on the host, and how Gantry removes it without touching rules
// it did not make (never a flush of a built-in chain, never a delete of a chain that still
// holds someone's rules).
//
// Found by experiment with plugins 1.1.1 (docs/ARCHITECTURE.md "Networks"):
// - bridge DEL with the namespace gone skips its ipMasq teardown: the per-container chain
//   CNI-<hash> and its POSTROUTING jump stay. Both carry the comment
//   `name: "<network>" id: "<container>"`, which is how they are found here.
// - portmap DEL leaves CNI-HOSTPORT-DNAT/-SETMARK/-MASQ and their jumps from PREROUTING,
//   OUTPUT and POSTROUTING, and an empty `table ip6 nat`.
// - firewall DEL leaves CNI-FORWARD, the admin chain and the FORWARD jump.
// - the bridge device stays, with the gateway address.
import { runCommand, runChecked } from "./exec.ts";

/** Splits an `iptables -S` line into argv words (double quotes with backslash escapes). */
export function splitRuleWords(line: string): string[] {
  const words: string[] = [];
  let cur = "";
  let inWord = false;
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quoted) {
      if (c === "\\" && i + 1 < line.length) cur += line[++i];
      else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"') {
      quoted = true;
      inWord = true;
    } else if (c === " ") {
      if (inWord) words.push(cur);
      cur = "";
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (inWord) words.push(cur);
  return words;
}

type Tool = "iptables" | "ip6tables";

async function listRules(tool: Tool, table: string, chain?: string): Promise<string[][] | undefined> {
  const r = await runCommand(tool, ["-w", "-t", table, "-S", ...(chain ? [chain] : [])]);
  if (r.code !== 0) return undefined;
  return r.stdout
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map(splitRuleWords);
}

const commentOf = (words: string[]): string | undefined => {
  const i = words.indexOf("--comment");
  return i >= 0 ? words[i + 1] : undefined;
};
const targetOf = (words: string[]): string | undefined => {
  const i = words.indexOf("-j");
  return i >= 0 ? words[i + 1] : undefined;
};

/** Shared chains of the standard plugins: never removed as one container's leftovers. */
const sharedChains = new Set([
  "CNI-HOSTPORT-DNAT",
  "CNI-HOSTPORT-SETMARK",
  "CNI-HOSTPORT-MASQ",
  "CNI-FORWARD",
  "CNI-ADMIN",
]);

const commentPattern = /(?:^|\s)name: "([^"]*)" id: "([^"]*)"$/;

/** The (network, container) pairs that own per-container rules, from the rules' comments. */
export async function ruleOwners(): Promise<Array<{ network: string; containerId: string }>> {
  const seen = new Map<string, { network: string; containerId: string }>();
  for (const table of ["nat", "filter"]) {
    for (const words of (await listRules("iptables", table)) ?? []) {
      const m = commentPattern.exec(commentOf(words) ?? "");
      if (m) seen.set(`${m[1]}\0${m[2]}`, { network: m[1]!, containerId: m[2]! });
    }
  }
  return [...seen.values()];
}

/**
 * Removes every rule whose comment names this network and container, then the per-container
 * chains those rules jumped to. Returns how many rules went.
 */
export async function removeContainerRules(network: string, containerId: string): Promise<number> {
  let removed = 0;
  for (const table of ["nat", "filter"]) {
    const rules = (await listRules("iptables", table)) ?? [];
    const chains = new Set<string>();
    for (const words of rules) {
      if (words[0] !== "-A") continue;
      const m = commentPattern.exec(commentOf(words) ?? "");
      if (!m || m[1] !== network || m[2] !== containerId) continue;
      const target = targetOf(words);
      if (target?.startsWith("CNI-") && !sharedChains.has(target)) chains.add(target);
      const r = await runCommand("iptables", ["-w", "-t", table, "-D", ...words.slice(1)]);
      if (r.code === 0) removed++;
    }
    for (const chain of chains) {
      // Only a chain nothing else jumps to any more can go; -X refuses otherwise.
      await runCommand("iptables", ["-w", "-t", table, "-F", chain]);
      await runCommand("iptables", ["-w", "-t", table, "-X", chain]);
    }
  }
  return removed;
}

async function chainExists(tool: Tool, table: string, chain: string): Promise<boolean> {
  return (await runCommand(tool, ["-w", "-t", table, "-S", chain])).code === 0;
}

/** Deletes every rule in `chain` (a built-in chain) that jumps to `target`; returns them as -A words. */
async function removeJumps(tool: Tool, table: string, chain: string, target: string): Promise<string[][]> {
  const gone: string[][] = [];
  for (const words of (await listRules(tool, table, chain)) ?? []) {
    if (words[0] === "-A" && targetOf(words) === target) {
      if ((await runCommand(tool, ["-w", "-t", table, "-D", ...words.slice(1)])).code === 0) gone.push(words);
    }
  }
  return gone;
}

/** How many rules jump to `chain` (the "(N references)" of `iptables -L`). */
async function references(tool: Tool, table: string, chain: string): Promise<number> {
  const r = await runCommand(tool, ["-w", "-t", table, "-n", "-L", chain]);
  const m = /\((\d+) references\)/.exec(r.stdout);
  return m ? Number(m[1]) : 0;
}

async function rulesIn(tool: Tool, table: string, chain: string): Promise<string[][]> {
  return ((await listRules(tool, table, chain)) ?? []).filter((w) => w[0] === "-A");
}

/**
 * Removes portmap's and the firewall plugin's shared chains when no container uses them any
 * more (no per-container rule left in them, whoever made it). Safe to call at any time.
 */
export async function removeIdleSharedChains(adminChain: string): Promise<string[]> {
  const removed: string[] = [];
  for (const tool of ["iptables", "ip6tables"] as const) {
    if (await chainExists(tool, "nat", "CNI-HOSTPORT-DNAT")) {
      if ((await rulesIn(tool, "nat", "CNI-HOSTPORT-DNAT")).length === 0) {
        // Even under the host lock a process using another lock (or another CNI user) may be
        // adding a port right now: the DNAT chain is deleted without a flush, so a rule that
        // arrived meanwhile makes -X fail, and then the jumps are put back.
        const jumps = [
          ...(await removeJumps(tool, "nat", "PREROUTING", "CNI-HOSTPORT-DNAT")),
          ...(await removeJumps(tool, "nat", "OUTPUT", "CNI-HOSTPORT-DNAT")),
        ];
        if ((await runCommand(tool, ["-w", "-t", "nat", "-X", "CNI-HOSTPORT-DNAT"])).code !== 0) {
          for (const words of jumps) await runCommand(tool, ["-w", "-t", "nat", ...words]);
          continue;
        }
        removed.push(`${tool} nat CNI-HOSTPORT-DNAT`);
        for (const chain of ["CNI-HOSTPORT-SETMARK", "CNI-HOSTPORT-MASQ"]) {
          // They hold only portmap's fixed rules; a per-container chain still jumping to
          // SETMARK means a port is in use, and then both stay.
          if (
            !(await chainExists(tool, "nat", chain)) ||
            (await references(tool, "nat", chain)) > (chain === "CNI-HOSTPORT-MASQ" ? 1 : 0)
          )
            break;
          if (chain === "CNI-HOSTPORT-MASQ") await removeJumps(tool, "nat", "POSTROUTING", chain);
          await runCommand(tool, ["-w", "-t", "nat", "-F", chain]);
          if ((await runCommand(tool, ["-w", "-t", "nat", "-X", chain])).code === 0)
            removed.push(`${tool} nat ${chain}`);
        }
      }
    }
  }
  if (await chainExists("iptables", "filter", "CNI-FORWARD")) {
    const rules = await rulesIn("iptables", "filter", "CNI-FORWARD");
    const onlyOurAdmin = rules.every((w) => targetOf(w) === adminChain);
    const adminEmpty =
      !(await chainExists("iptables", "filter", adminChain)) ||
      (await rulesIn("iptables", "filter", adminChain)).length === 0;
    if (onlyOurAdmin && adminEmpty) {
      await removeJumps("iptables", "filter", "FORWARD", "CNI-FORWARD");
      await runCommand("iptables", ["-w", "-t", "filter", "-F", "CNI-FORWARD"]);
      if ((await runCommand("iptables", ["-w", "-t", "filter", "-X", "CNI-FORWARD"])).code === 0)
        removed.push("iptables filter CNI-FORWARD");
      if ((await runCommand("iptables", ["-w", "-t", "filter", "-X", adminChain])).code === 0)
        removed.push(`iptables filter ${adminChain}`);
    }
  }
  // ip6tables-nft makes `table ip6 nat` for portmap; drop it when it has no chain left.
  const t6 = await runCommand("nft", ["list", "table", "ip6", "nat"]);
  if (t6.code === 0 && !/\bchain\b/.test(t6.stdout)) {
    if ((await runCommand("nft", ["delete", "table", "ip6", "nat"])).code === 0)
      removed.push("nft table ip6 nat");
  }
  return removed;
}

export async function linkExists(name: string): Promise<boolean> {
  return (await runCommand("ip", ["link", "show", "dev", name])).code === 0;
}

/** Deletes a network device if it exists (a bridge whose last container left). */
export async function deleteLink(name: string): Promise<void> {
  if (await linkExists(name)) await runChecked("ip", ["link", "delete", "dev", name]);
}

/** Host routes as `ip route` destinations, to refuse subnets that clash with the host's. */
export async function hostRoutes(): Promise<Array<{ dst: string; dev?: string }>> {
  const r = await runCommand("ip", ["-4", "-j", "route", "show", "table", "all"]);
  if (r.code !== 0) return [];
  try {
    return (JSON.parse(r.stdout) as Array<{ dst: string; dev?: string; type?: string; table?: string }>)
      .filter(
        (x) =>
          (x.type === undefined || x.type === "unicast") && (x.table === undefined || x.table === "main"),
      )
      .map((x) => ({ dst: x.dst, dev: x.dev }));
  } catch {
    return [];
  }
}
