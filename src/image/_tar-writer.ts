// A small tar writer (POSIX pax format) for packing layers. tar-stream's packer writes PAX
// values as UTF-8 text, which cannot carry binary xattr values such as file capabilities;
// this one writes `SCHILY.xattr.*` records as raw bytes, the form GNU tar, Go's archive/tar
// (Docker, containerd) and our own unpacker read.
import type { Writable } from "node:stream";

export interface TarWriterEntry {
  name: string;
  type: "file" | "directory" | "symlink" | "link" | "character-device" | "block-device" | "fifo";
  mode: number;
  uid: number;
  gid: number;
  mtime: Date;
  size?: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  xattrs?: Map<string, Buffer>;
}

const typeflags: Record<TarWriterEntry["type"], string> = {
  file: "0",
  link: "1",
  symlink: "2",
  "character-device": "3",
  "block-device": "4",
  directory: "5",
  fifo: "6",
};

function octal(value: number, width: number): string {
  return value.toString(8).padStart(width - 1, "0") + "\0";
}

function fits(value: number, width: number): boolean {
  return value >= 0 && value < 8 ** (width - 1);
}

/** One PAX record: "LEN key=value\n" where LEN counts the whole record, itself included. */
function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from("\n")]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len)), body]);
}

function header(name: string, type: string, e: Omit<TarWriterEntry, "name" | "type">, size: number): Buffer {
  const h = Buffer.alloc(512);
  const put = (s: string, off: number, len: number) => h.write(s.slice(0, len), off, len, "utf8");
  put(name, 0, 100);
  put(octal(e.mode & 0o7777, 8), 100, 8);
  put(octal(fits(e.uid, 8) ? e.uid : 0, 8), 108, 8);
  put(octal(fits(e.gid, 8) ? e.gid : 0, 8), 116, 8);
  put(octal(fits(size, 12) ? size : 0, 12), 124, 12);
  put(octal(Math.max(0, Math.floor(e.mtime.getTime() / 1000)), 12), 136, 12);
  h.fill(0x20, 148, 156); // checksum field counts as spaces while summing
  put(type, 156, 1);
  put(e.linkname ?? "", 157, 100);
  put("ustar\0", 257, 6);
  put("00", 263, 2);
  put(octal(e.devmajor ?? 0, 8), 329, 8);
  put(octal(e.devminor ?? 0, 8), 337, 8);
  let sum = 0;
  for (const b of h) sum += b;
  put(octal(sum, 7) + " ", 148, 8);
  return h;
}

const pad = (size: number) => Buffer.alloc((512 - (size % 512)) % 512);

export class TarWriter {
  constructor(private readonly out: Writable) {}

  private write(chunk: Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.out.write(chunk)) resolve();
      else {
        const onDrain = () => {
          this.out.off("error", onError);
          resolve();
        };
        const onError = (err: Error) => {
          this.out.off("drain", onDrain);
          reject(err);
        };
        this.out.once("drain", onDrain);
        this.out.once("error", onError);
      }
    });
  }

  /** Writes one entry; for files, `body` yields exactly `size` bytes. */
  async add(e: TarWriterEntry, body?: AsyncIterable<Buffer>): Promise<void> {
    const size = e.type === "file" ? (e.size ?? 0) : 0;
    const name = e.type === "directory" && !e.name.endsWith("/") ? `${e.name}/` : e.name;
    const records: Buffer[] = [];
    if (Buffer.byteLength(name) > 100) records.push(paxRecord("path", Buffer.from(name)));
    if (e.linkname && Buffer.byteLength(e.linkname) > 100) records.push(paxRecord("linkpath", Buffer.from(e.linkname)));
    if (!fits(size, 12)) records.push(paxRecord("size", Buffer.from(String(size))));
    if (!fits(e.uid, 8)) records.push(paxRecord("uid", Buffer.from(String(e.uid))));
    if (!fits(e.gid, 8)) records.push(paxRecord("gid", Buffer.from(String(e.gid))));
    for (const [k, v] of e.xattrs ?? []) records.push(paxRecord(`SCHILY.xattr.${k}`, v));
    if (records.length) {
      const pax = Buffer.concat(records);
      const paxName = `PaxHeaders/${name.replace(/\/$/, "").split("/").pop() ?? "x"}`.slice(0, 99);
      await this.write(header(paxName, "x", { mode: 0o644, uid: 0, gid: 0, mtime: e.mtime }, pax.length));
      await this.write(Buffer.concat([pax, pad(pax.length)]));
    }
    await this.write(header(name, typeflags[e.type], e, size));
    if (size > 0) {
      let written = 0;
      for await (const chunk of body ?? []) {
        written += chunk.length;
        if (written > size) throw new Error(`${e.name} grew while it was being packed`);
        await this.write(chunk);
      }
      if (written !== size) throw new Error(`${e.name} shrank while it was being packed`);
      await this.write(pad(size));
    }
  }

  /** Two zero blocks end the archive; the output stream is ended. */
  async finish(): Promise<void> {
    await this.write(Buffer.alloc(1024));
    await new Promise<void>((resolve, reject) => {
      this.out.once("error", reject);
      this.out.end(() => resolve());
    });
  }
}
