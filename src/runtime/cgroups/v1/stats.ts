// Reading v1 counters (spread over several hierarchies) into the runc-shaped stats.
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { parseKeyValues, readNumber, readOptional } from "../cgroup-fs.ts";
import type { BlkioEntry, CgroupStats } from "../types.ts";

/** blkio.throttle.io_service_bytes_recursive: "8:0 Read 4096" lines, then "Total N". */
export function parseBlkioRecursive(text: string | undefined): BlkioEntry[] {
  const out: BlkioEntry[] = [];
  for (const line of (text ?? "").split("\n")) {
    const m = /^(\d+):(\d+)\s+(\S+)\s+(\d+)$/.exec(line.trim());
    if (m) out.push({ major: Number(m[1]), minor: Number(m[2]), op: m[3] ?? "", value: Number(m[4]) });
  }
  return out;
}

/** USER_HZ: cpuacct.stat counts in clock ticks of 1/100 s on every Linux architecture we run on. */
const nsPerTick = 10_000_000;

export function readV1Stats(paths: Record<string, string>): CgroupStats {
  const at = (controller: string, file: string): string | undefined => {
    const dir = paths[controller];
    return dir === undefined ? undefined : join(dir, file);
  };
  const num = (controller: string, file: string): number => {
    const p = at(controller, file);
    return p === undefined ? 0 : readNumber(p);
  };
  const text = (controller: string, file: string): string | undefined => {
    const p = at(controller, file);
    return p === undefined ? undefined : readOptional(p);
  };

  const cpuStat = parseKeyValues(text("cpu", "cpu.stat"));
  const acctStat = parseKeyValues(text("cpuacct", "cpuacct.stat"));
  const percpu = (text("cpuacct", "cpuacct.usage_percpu") ?? "").split(/\s+/).filter(Boolean).map(Number);
  // cpuacct.usage_user/_sys are exact ns (Linux 4.7+); cpuacct.stat is in ticks otherwise.
  const user = text("cpuacct", "cpuacct.usage_user") !== undefined ? num("cpuacct", "cpuacct.usage_user") : (acctStat.user ?? 0) * nsPerTick;
  const kernel = text("cpuacct", "cpuacct.usage_sys") !== undefined ? num("cpuacct", "cpuacct.usage_sys") : (acctStat.system ?? 0) * nsPerTick;

  const raw = parseKeyValues(text("memory", "memory.stat"));
  const hugetlb: CgroupStats["hugetlb"] = {};
  const hugeDir = paths.hugetlb;
  if (hugeDir) {
    for (const name of safeList(hugeDir)) {
      const m = /^hugetlb\.([0-9]+[KMG]B)\.usage_in_bytes$/.exec(name);
      if (!m?.[1]) continue;
      const size = m[1];
      hugetlb[size] = {
        usage: readNumber(join(hugeDir, name)),
        max: readNumber(join(hugeDir, `hugetlb.${size}.max_usage_in_bytes`)),
        failcnt: readNumber(join(hugeDir, `hugetlb.${size}.failcnt`)),
      };
    }
  }

  return {
    cpu: {
      usage: { total: num("cpuacct", "cpuacct.usage"), percpu, kernel, user },
      throttling: { periods: cpuStat.nr_periods ?? 0, throttledPeriods: cpuStat.nr_throttled ?? 0, throttledTime: cpuStat.throttled_time ?? 0 },
    },
    memory: {
      // total_cache counts the whole subtree, which is what a container with sub-cgroups uses.
      cache: raw.total_cache ?? raw.cache ?? 0,
      usage: {
        usage: num("memory", "memory.usage_in_bytes"),
        limit: num("memory", "memory.limit_in_bytes"),
        max: num("memory", "memory.max_usage_in_bytes"),
        failcnt: num("memory", "memory.failcnt"),
      },
      // v1 has no swap-only counters: like runc, report memory+swap.
      swap: {
        usage: num("memory", "memory.memsw.usage_in_bytes"),
        limit: num("memory", "memory.memsw.limit_in_bytes"),
        max: num("memory", "memory.memsw.max_usage_in_bytes"),
        failcnt: num("memory", "memory.memsw.failcnt"),
      },
      raw,
    },
    // As in runc, a limit of 0 means "max" (no limit).
    pids: { current: num("pids", "pids.current"), limit: num("pids", "pids.max") },
    blkio: {
      ioServiceBytesRecursive: parseBlkioRecursive(text("blkio", "blkio.throttle.io_service_bytes_recursive")),
      ioServicedRecursive: parseBlkioRecursive(text("blkio", "blkio.throttle.io_serviced_recursive")),
    },
    hugetlb,
    oomKillCount: parseKeyValues(text("memory", "memory.oom_control")).oom_kill ?? 0,
  };
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
