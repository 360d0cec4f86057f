// Drives CNI plugins by the CNI 1.0 spec (github.com/containernetworking/cni SPEC.md):
// each plugin of a conflist is an executable found in CNI_PATH, told what to do by
// CNI_COMMAND/CNI_CONTAINERID/CNI_NETNS/CNI_IFNAME/CNI_ARGS/CNI_PATH and given its
// configuration on stdin; it answers a result (or {code,msg}) on stdout.
//
//   ADD   plugins in order; each gets the previous plugin's result as prevResult
//   CHECK plugins in order; each gets the cached ADD result as prevResult
//   DEL   plugins in reverse order; each gets the cached ADD result as prevResult
//
// The spec asks runtimes to cache the ADD result and the configuration it was made with,
// and to use that cache for CHECK and DEL (the conflist may have changed since); this file
// writes that cache (one JSON file per network, container and interface).
import { join } from "node:path";
import { rmSync, statSync } from "node:fs";
import { GantryError } from "../common/errors.ts";
import { readJsonIfExists, writeJsonAtomic } from "../common/atomic-file.ts";
import { runCommand } from "./exec.ts";

export const CNI_VERSION = "1.0.0";

export interface CniPluginConf {
  type: string;
  capabilities?: Record<string, boolean>;
  [key: string]: unknown;
}

export interface CniConflist {
  cniVersion: string;
  name: string;
  plugins: CniPluginConf[];
}

export interface CniInterface {
  name: string;
  mac?: string;
  sandbox?: string;
}

export interface CniResult {
  cniVersion: string;
  interfaces?: CniInterface[];
  ips?: Array<{ interface?: number; address: string; gateway?: string }>;
  routes?: Array<{ dst: string; gw?: string }>;
  dns?: { nameservers?: string[]; domain?: string; search?: string[]; options?: string[] };
}

/** One attachment of a container's network namespace, as the plugins see it. */
export interface CniAttachment {
  containerId: string;
  /** Path of the network namespace (/proc/PID/ns/net or a bind-mounted netns file). */
  netns: string;
  ifName: string;
  /** CNI_ARGS as key=value pairs (IgnoreUnknown=1 is always added). */
  args?: Record<string, string>;
  /** runtimeConfig values, handed only to plugins that declare the capability. */
  capabilityArgs?: Record<string, unknown>;
}

/** What the runtime keeps after ADD, for CHECK and DEL (libcni calls it the result cache). */
export interface CniCacheEntry {
  kind: "cniCacheV1";
  containerId: string;
  ifName: string;
  networkName: string;
  netns: string;
  /** "dev:ino" of the namespace at ADD; DEL enters the path only while it still names it. */
  netnsInode?: string;
  cniArgs: Record<string, string>;
  capabilityArgs: Record<string, unknown>;
  config: CniConflist;
  result: CniResult;
}

export interface CniOptions {
  /** Directories holding the plugin binaries. */
  pluginDirs: string[];
  /** Where ADD results are cached. */
  cacheDir: string;
}

function cniArgsText(args: Record<string, string> | undefined): string {
  const all = { IgnoreUnknown: "1", ...(args ?? {}) };
  return Object.entries(all)
    .map(([k, v]) => `${k}=${v}`)
    .join(";");
}

/** The per-plugin configuration the spec derives from a conflist entry. */
export function pluginConfig(
  list: CniConflist,
  plugin: CniPluginConf,
  capabilityArgs: Record<string, unknown>,
  prevResult: CniResult | undefined,
): Record<string, unknown> {
  const conf: Record<string, unknown> = { ...plugin, cniVersion: list.cniVersion, name: list.name };
  const runtimeConfig: Record<string, unknown> = {};
  for (const [cap, on] of Object.entries(plugin.capabilities ?? {})) {
    if (on && capabilityArgs[cap] !== undefined) runtimeConfig[cap] = capabilityArgs[cap];
  }
  if (Object.keys(runtimeConfig).length > 0) conf.runtimeConfig = runtimeConfig;
  if (prevResult) conf.prevResult = prevResult;
  return conf;
}

async function execPlugin(
  command: "ADD" | "CHECK" | "DEL",
  plugin: CniPluginConf,
  conf: Record<string, unknown>,
  att: CniAttachment,
  opts: CniOptions,
): Promise<CniResult | undefined> {
  const env: NodeJS.ProcessEnv = {
    PATH: `${process.env.PATH ?? ""}:/usr/local/sbin:/usr/sbin:/sbin`,
    CNI_COMMAND: command,
    CNI_CONTAINERID: att.containerId,
    CNI_NETNS: att.netns,
    CNI_IFNAME: att.ifName,
    CNI_ARGS: cniArgsText(att.args),
    CNI_PATH: opts.pluginDirs.join(":"),
  };
  const binary = await findPlugin(plugin.type, opts.pluginDirs);
  const r = await runCommand(binary, [], { env, input: JSON.stringify(conf), timeoutMs: 60_000 });
  if (r.code !== 0) {
    let msg = (r.stdout || r.stderr).trim();
    let code = "?";
    try {
      const e = JSON.parse(r.stdout) as { code?: number; msg?: string; details?: string };
      code = String(e.code ?? "?");
      msg = [e.msg, e.details].filter(Boolean).join(": ");
    } catch {
      /* not JSON: keep the raw text */
    }
    throw new GantryError(
      "NETWORK_PLUGIN_FAILED",
      `CNI plugin ${plugin.type} ${command} for container ${att.containerId} on network "${String(conf.name)}" failed (code ${code}): ${msg}`,
      { step: `cni ${command} ${plugin.type}` },
    );
  }
  if (command !== "ADD") return undefined;
  try {
    return JSON.parse(r.stdout) as CniResult;
  } catch (err) {
    throw new GantryError(
      "NETWORK_PLUGIN_FAILED",
      `CNI plugin ${plugin.type} ADD printed a result that is not JSON`,
      {
        cause: err,
      },
    );
  }
}

const pluginPaths = new Map<string, string>();
async function findPlugin(type: string, dirs: string[]): Promise<string> {
  if (!/^[A-Za-z0-9_.-]+$/.test(type))
    throw new GantryError("INVALID_SPEC", `invalid CNI plugin type "${type}"`);
  const known = pluginPaths.get(type);
  if (known) return known;
  const { access, constants } = await import("node:fs/promises");
  for (const d of dirs) {
    const p = join(d, type);
    try {
      await access(p, constants.X_OK);
      pluginPaths.set(type, p);
      return p;
    } catch {
      /* try the next directory */
    }
  }
  throw new GantryError("KERNEL_FEATURE_MISSING", `CNI plugin "${type}" not found in ${dirs.join(":")}`, {
    hint: "apt-get install -y containernetworking-plugins",
  });
}

/** "dev:ino" of a namespace file, or undefined when it is gone. */
export function inodeOf(path: string): string | undefined {
  try {
    const st = statSync(path);
    return `${st.dev}:${st.ino}`;
  } catch {
    return undefined;
  }
}

export function cachePath(
  opts: CniOptions,
  networkName: string,
  containerId: string,
  ifName: string,
): string {
  return join(opts.cacheDir, `${networkName}-${containerId}-${ifName}.json`);
}

export function readCache(
  opts: CniOptions,
  networkName: string,
  containerId: string,
  ifName: string,
): CniCacheEntry | undefined {
  return readJsonIfExists<CniCacheEntry>(cachePath(opts, networkName, containerId, ifName));
}

/**
 * ADD over the whole list. On failure the plugins that may have done something are asked to
 * DEL (the spec's advice), so a failed attach leaves no veth, lease or rule.
 */
export async function cniAdd(
  list: CniConflist,
  att: CniAttachment,
  opts: CniOptions,
  cache = true,
): Promise<CniResult> {
  let prev: CniResult | undefined;
  const caps = att.capabilityArgs ?? {};
  try {
    for (const plugin of list.plugins) {
      prev = await execPlugin("ADD", plugin, pluginConfig(list, plugin, caps, prev), att, opts);
    }
  } catch (err) {
    await cniDel(list, att, opts, prev).catch(() => undefined);
    throw err;
  }
  const result = prev ?? { cniVersion: list.cniVersion };
  if (!cache) return result;
  const entry: CniCacheEntry = {
    kind: "cniCacheV1",
    containerId: att.containerId,
    ifName: att.ifName,
    networkName: list.name,
    netns: att.netns,
    netnsInode: inodeOf(att.netns),
    cniArgs: att.args ?? {},
    capabilityArgs: caps,
    config: list,
    result,
  };
  writeJsonAtomic(cachePath(opts, list.name, att.containerId, att.ifName), entry);
  return result;
}

/** CHECK with the cached configuration and result; throws when a plugin finds a fault. */
export async function cniCheck(entry: CniCacheEntry, opts: CniOptions): Promise<void> {
  const att = attachmentOf(entry);
  for (const plugin of entry.config.plugins) {
    await execPlugin(
      "CHECK",
      plugin,
      pluginConfig(entry.config, plugin, entry.capabilityArgs, entry.result),
      att,
      opts,
    );
  }
}

/**
 * DEL in reverse order. Every plugin is asked even if one fails (DEL must be idempotent and
 * leave as little as possible); the first error is thrown after all have run.
 */
export async function cniDel(
  list: CniConflist,
  att: CniAttachment,
  opts: CniOptions,
  prevResult?: CniResult,
): Promise<void> {
  let first: unknown;
  for (const plugin of [...list.plugins].reverse()) {
    try {
      await execPlugin(
        "DEL",
        plugin,
        pluginConfig(list, plugin, att.capabilityArgs ?? {}, prevResult),
        att,
        opts,
      );
    } catch (err) {
      first ??= err;
    }
  }
  if (first) throw first;
  rmSync(cachePath(opts, list.name, att.containerId, att.ifName), { force: true });
}

export function attachmentOf(entry: CniCacheEntry): CniAttachment {
  return {
    containerId: entry.containerId,
    netns: entry.netns,
    ifName: entry.ifName,
    args: entry.cniArgs,
    capabilityArgs: entry.capabilityArgs,
  };
}

/** The container's address on an attachment: the first IPv4 in the result. */
export function resultAddress(
  result: CniResult,
): { address: string; prefix: number; gateway?: string } | undefined {
  for (const ip of result.ips ?? []) {
    const [address, len] = ip.address.split("/");
    if (address && !address.includes(":")) return { address, prefix: Number(len ?? 32), gateway: ip.gateway };
  }
  return undefined;
}

/** The first IPv6 address of a result (an `--ipv6` network's second range). */
export function resultAddress6(result: CniResult): { address: string; prefix: number; gateway?: string } | undefined {
  for (const ip of result.ips ?? []) {
    const [address, len] = ip.address.split("/");
    if (address && address.includes(":")) return { address, prefix: Number(len ?? 128), gateway: ip.gateway };
  }
  return undefined;
}

/** The MAC of the interface inside the sandbox. */
export function resultMac(result: CniResult, ifName: string): string | undefined {
  return result.interfaces?.find((i) => i.name === ifName && i.sandbox)?.mac;
}
