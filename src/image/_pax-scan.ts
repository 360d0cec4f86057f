// tar-stream hands PAX records over as UTF-8 strings, which destroys binary xattr values
// (security.capability, for one). This pass-through scanner walks the same tar headers as
// the bytes flow by and keeps the raw bytes of every SCHILY.xattr.* record, indexed by
// entry number in the order tar-stream emits entries. It runs upstream of the parser, so an
// entry's raw values are known before the parser emits that entry.
import { Transform, type TransformCallback } from "node:stream";

const BLOCK = 512;

function parseSize(header: Buffer): number {
  const field = header.subarray(124, 136);
  if ((field[0] ?? 0) & 0x80) {
    // GNU base-256 for sizes beyond 8 GiB.
    let n = 0;
    for (let i = 1; i < field.length; i++) n = n * 256 + (field[i] ?? 0);
    return n;
  }
  const text = field.toString("latin1").replace(/\0.*$/s, "").trim();
  return text === "" ? 0 : Number.parseInt(text, 8);
}

function headerPath(header: Buffer): string {
  const field = (from: number, len: number) => header.subarray(from, from + len).toString("utf8").replace(/\0.*$/s, "");
  const name = field(0, 100);
  const prefix = header.subarray(257, 262).toString("latin1") === "ustar" ? field(345, 155) : "";
  return prefix ? `${prefix}/${name}` : name;
}

/** Parses PAX records ("LEN key=value\n") keeping values as bytes. */
export function parsePaxRecords(buf: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let off = 0;
  while (off < buf.length) {
    const sp = buf.indexOf(0x20, off);
    if (sp < 0) break;
    const len = Number.parseInt(buf.subarray(off, sp).toString("latin1"), 10);
    if (!len || off + len > buf.length) break;
    const eq = buf.indexOf(0x3d, sp);
    if (eq < 0 || eq >= off + len) break;
    out.set(buf.subarray(sp + 1, eq).toString("utf8"), Buffer.from(buf.subarray(eq + 1, off + len - 1)));
    off += len;
  }
  return out;
}

export class PaxXattrScanner extends Transform {
  /** entry index → the entry's path and its xattrs (name → raw value) */
  readonly xattrs = new Map<number, { path: string; values: Map<string, Buffer> }>();
  private pending = Buffer.alloc(0);
  private skip = 0;
  private collect: { size: number; kind: "x" | "g" | "L" } | undefined;
  private longName: string | undefined;
  private pax: Map<string, Buffer> | undefined;
  private entry = 0;

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.scan(chunk);
    cb(null, chunk);
  }

  private scan(chunk: Buffer): void {
    let data = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = Buffer.alloc(0);
    for (;;) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, data.length);
        this.skip -= n;
        data = data.subarray(n);
        if (this.skip > 0) return;
      }
      if (this.collect) {
        const padded = Math.ceil(this.collect.size / BLOCK) * BLOCK;
        if (data.length < padded) {
          this.pending = Buffer.from(data);
          return;
        }
        if (this.collect.kind === "x") this.pax = parsePaxRecords(data.subarray(0, this.collect.size));
        if (this.collect.kind === "L") this.longName = data.subarray(0, this.collect.size).toString("utf8").replace(/\0.*$/s, "");
        data = data.subarray(padded);
        this.collect = undefined;
        continue;
      }
      if (data.length < BLOCK) {
        this.pending = Buffer.from(data);
        return;
      }
      const header = data.subarray(0, BLOCK);
      data = data.subarray(BLOCK);
      if (header.every((b) => b === 0)) continue; // end-of-archive blocks
      const type = String.fromCharCode(header[156] ?? 0);
      const size = parseSize(header);
      if (type === "x" || type === "g" || type === "L") {
        this.collect = { size, kind: type };
        continue;
      }
      if (type === "K") {
        this.skip = Math.ceil(size / BLOCK) * BLOCK;
        continue;
      }
      let bodySize = size;
      if (this.pax) {
        const xattrs = new Map<string, Buffer>();
        for (const [k, v] of this.pax) if (k.startsWith("SCHILY.xattr.")) xattrs.set(k.slice("SCHILY.xattr.".length), v);
        if (xattrs.size) this.xattrs.set(this.entry, { path: this.pax.get("path")?.toString("utf8") ?? this.longName ?? headerPath(header), values: xattrs });
        const paxSize = this.pax.get("size");
        if (paxSize) bodySize = Number.parseInt(paxSize.toString("latin1"), 10);
        this.pax = undefined;
      }
      this.longName = undefined;
      this.entry++;
      // As tar-stream reads it: every entry but a directory has a body of its size field.
      this.skip = type === "5" ? 0 : Math.ceil(bodySize / BLOCK) * BLOCK;
    }
  }
}
