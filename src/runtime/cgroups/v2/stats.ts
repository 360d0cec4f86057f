// Reading a v2 cgroup's counters into the runc-shaped stats.
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { parseKeyValues, readNumber, readOptional } from "../cgroup-fs.ts";
import type { BlkioEntry, CgroupStats } from "../types.ts";

/** io.stat: "8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0" per device. */
export function parseIoStat(text: string | undefined): { bytes: BlkioEntry[]; ios: BlkioEntry[] } {
  const bytes: BlkioEntry[] = [];
  const ios: BlkioEntry[] = [];
  for (const line of (text ?? "").split("\n")) {
    const [dev, ...pairs] = line.trim().split(/\s+/);
    const m = /^(\d+):(\d+)$/.exec(dev ?? "");
    if (!m) continue;
    const major = Number(m[1]);
    const minor = Number(m[2]);
    const kv = Object.fromEntries(pairs.map((p) => p.split("=") as [string, string]));
    // Named as v1's blkio ops so consumers of runc's JSON read both the same way.
    bytes.push({ major, minor, op: "Read", value: Number(kv.rbytes ?? 0) }, { major, minor, op: "Write", value: Number(kv.wbytes ?? 0) });
    ios.push({ major, minor, op: "Read", value: Number(kv.rios ?? 0) }, { major, minor, op: "Write", value: Number(kv.wios ?? 0) });
  }
  return { bytes, ios };
}

/** hugetlb.<size>.current/.max/.events; also read by the v1 driver on hybrid hosts. */
export function readV2Hugetlb(dir: string): CgroupStats["hugetlb"] {
  const hugetlb: CgroupStats["hugetlb"] = {};
  for (const name of safeList(dir)) {
    const m = /^hugetlb\.([0-9]+[KMG]B)\.current$/.exec(name);
    if (!m?.[1]) continue;
    const size = m[1];
    hugetlb[size] = {
      usage: readNumber(join(dir, name)),
      max: readNumber(join(dir, `hugetlb.${size}.max`)),
      failcnt: parseKeyValues(readOptional(join(dir, `hugetlb.${size}.events`))).max ?? 0,
    };
  }
  return hugetlb;
}

export function readV2Stats(dir: string): CgroupStats {
  const cpu = parseKeyValues(readOptional(join(dir, "cpu.stat")));
  const mem = parseKeyValues(readOptional(join(dir, "memory.stat")));
  const memEvents = parseKeyValues(readOptional(join(dir, "memory.events")));
  const io = parseIoStat(readOptional(join(dir, "io.stat")));
  const hugetlb = readV2Hugetlb(dir);
  // v2 counts CPU in µs; runc's JSON (and v1) use ns.
  return {
    cpu: {
      usage: { total: (cpu.usage_usec ?? 0) * 1000, kernel: (cpu.system_usec ?? 0) * 1000, user: (cpu.user_usec ?? 0) * 1000 },
      throttling: { periods: cpu.nr_periods ?? 0, throttledPeriods: cpu.nr_throttled ?? 0, throttledTime: (cpu.throttled_usec ?? 0) * 1000 },
    },
    memory: {
      cache: mem.file ?? 0,
      usage: {
        usage: readNumber(join(dir, "memory.current")),
        limit: readNumber(join(dir, "memory.max")),
        max: readNumber(join(dir, "memory.peak")),
        failcnt: memEvents.max ?? 0,
      },
      swap: {
        usage: readNumber(join(dir, "memory.swap.current")),
        limit: readNumber(join(dir, "memory.swap.max")),
        max: readNumber(join(dir, "memory.swap.peak")),
        failcnt: parseKeyValues(readOptional(join(dir, "memory.swap.events"))).max ?? 0,
      },
      raw: mem,
    },
    // As in runc, a limit of 0 means "max" (no limit).
    pids: { current: readNumber(join(dir, "pids.current")), limit: readNumber(join(dir, "pids.max")) },
    blkio: { ioServiceBytesRecursive: io.bytes, ioServicedRecursive: io.ios },
    hugetlb,
    oomKillCount: memEvents.oom_kill ?? 0,
  };
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
