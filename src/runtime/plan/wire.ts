// The record framing shared with the C helper (native/src/wire.h has the diagram):
// u32 field count, then per field u32 length + bytes, little endian. Field 0 is the op.

/** One plan step or report: the op name and its arguments as text. */
export type PlanRecord = readonly [op: string, ...args: string[]];

export function encodeRecords(records: readonly PlanRecord[]): Buffer {
  // One allocation for the whole plan: a plan has hundreds of fields, and a buffer per
  // field showed up in the CLI's start-up profile.
  let size = 0;
  for (const rec of records) {
    size += 4;
    for (const field of rec) size += 4 + Buffer.byteLength(field, "utf8");
  }
  const out = Buffer.allocUnsafe(size);
  let off = 0;
  for (const rec of records) {
    off = out.writeUInt32LE(rec.length, off);
    for (const field of rec) {
      const len = out.write(field, off + 4, "utf8");
      out.writeUInt32LE(len, off);
      off += 4 + len;
    }
  }
  return out;
}

/** Incremental decoder for the helper's report stream. */
export class RecordDecoder {
  private buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): PlanRecord[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out: PlanRecord[] = [];
    for (;;) {
      const rec = this.tryOne();
      if (!rec) break;
      out.push(rec);
    }
    return out;
  }

  private tryOne(): PlanRecord | undefined {
    if (this.buf.length < 4) return undefined;
    const n = this.buf.readUInt32LE(0);
    let off = 4;
    const fields: string[] = [];
    for (let i = 0; i < n; i++) {
      if (this.buf.length < off + 4) return undefined;
      const len = this.buf.readUInt32LE(off);
      off += 4;
      if (this.buf.length < off + len) return undefined;
      fields.push(this.buf.subarray(off, off + len).toString("utf8"));
      off += len;
    }
    this.buf = this.buf.subarray(off);
    return fields as unknown as PlanRecord;
  }
}
