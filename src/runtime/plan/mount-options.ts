// OCI mount options → mount(2) flags, propagation flags and filesystem data, as runc reads them.
import { MS } from "./linux-constants.ts";

interface FlagOption {
  set: boolean;
  flag: number;
}

const FLAG_OPTIONS: Record<string, FlagOption> = {
  ro: { set: true, flag: MS.RDONLY },
  rw: { set: false, flag: MS.RDONLY },
  nosuid: { set: true, flag: MS.NOSUID },
  suid: { set: false, flag: MS.NOSUID },
  nodev: { set: true, flag: MS.NODEV },
  dev: { set: false, flag: MS.NODEV },
  noexec: { set: true, flag: MS.NOEXEC },
  exec: { set: false, flag: MS.NOEXEC },
  sync: { set: true, flag: MS.SYNCHRONOUS },
  async: { set: false, flag: MS.SYNCHRONOUS },
  dirsync: { set: true, flag: MS.DIRSYNC },
  remount: { set: true, flag: MS.REMOUNT },
  mand: { set: true, flag: MS.MANDLOCK },
  nomand: { set: false, flag: MS.MANDLOCK },
  atime: { set: false, flag: MS.NOATIME },
  noatime: { set: true, flag: MS.NOATIME },
  diratime: { set: false, flag: MS.NODIRATIME },
  nodiratime: { set: true, flag: MS.NODIRATIME },
  relatime: { set: true, flag: MS.RELATIME },
  norelatime: { set: false, flag: MS.RELATIME },
  strictatime: { set: true, flag: MS.STRICTATIME },
  nostrictatime: { set: false, flag: MS.STRICTATIME },
  lazytime: { set: true, flag: MS.LAZYTIME },
  nolazytime: { set: false, flag: MS.LAZYTIME },
  nosymfollow: { set: true, flag: MS.NOSYMFOLLOW },
  symfollow: { set: false, flag: MS.NOSYMFOLLOW },
  bind: { set: true, flag: MS.BIND },
  rbind: { set: true, flag: MS.BIND | MS.REC },
};

const PROPAGATION: Record<string, number> = {
  private: MS.PRIVATE,
  rprivate: MS.PRIVATE | MS.REC,
  shared: MS.SHARED,
  rshared: MS.SHARED | MS.REC,
  slave: MS.SLAVE,
  rslave: MS.SLAVE | MS.REC,
  unbindable: MS.UNBINDABLE,
  runbindable: MS.UNBINDABLE | MS.REC,
};

/** Options that runc understands but that need mount_setattr or idmaps; refused by name. */
const UNSUPPORTED = new Set(["rro", "rrw", "rnosuid", "rsuid", "rnodev", "rdev", "rnoexec", "rexec", "idmap", "ridmap", "tmpcopyup"]);

export interface ParsedMountOptions {
  flags: number;
  propagation: number[];
  data: string;
  unsupported: string[];
}

export function parseMountOptions(options: readonly string[] = []): ParsedMountOptions {
  let flags = 0;
  const propagation: number[] = [];
  const data: string[] = [];
  const unsupported: string[] = [];
  for (const opt of options) {
    const f = FLAG_OPTIONS[opt];
    if (f) {
      flags = f.set ? flags | f.flag : flags & ~f.flag;
    } else if (opt in PROPAGATION) {
      propagation.push(PROPAGATION[opt]!);
    } else if (UNSUPPORTED.has(opt)) {
      unsupported.push(opt);
    } else {
      data.push(opt);
    }
  }
  return { flags, propagation, data: data.join(","), unsupported };
}

export function propagationFlag(name: string): number | undefined {
  return PROPAGATION[name];
}
