// Key ranges and size limits shared by both backends. Keys are compared as UTF-8 bytes (etcd's order, and
// SQLite's BINARY collation on UTF-8 text), which is also Unicode code point order.
import { invalidArgument } from "../../common/errors.ts";

/** Largest key size etcd accepts by default is far larger; this bounds a hostile key. */
export const MAX_KEY_BYTES = 4096;

/**
 * Largest value either backend takes: etcd refuses requests over 1.5 MiB by default
 * (--max-request-bytes), so SQLite keeps the same limit and both say so in the same words.
 */
export const MAX_VALUE_BYTES = 1_500_000;

export function checkValue(key: string, value: string): void {
  if (typeof value !== "string")
    throw invalidArgument(`value for key ${key} must be a string of JSON text`, { path: key });
  const size = Buffer.byteLength(value);
  if (size > MAX_VALUE_BYTES) {
    throw invalidArgument(
      `value for key ${key} is ${size} bytes, more than the store's limit of ${MAX_VALUE_BYTES}`,
      {
        path: key,
        hint: "objects this large belong in a volume or an image, not the cluster store",
      },
    );
  }
}

export function checkKey(key: string): void {
  if (typeof key !== "string" || key.length === 0)
    throw invalidArgument("store key must be a non-empty string");
  if (Buffer.byteLength(key) > MAX_KEY_BYTES) {
    throw invalidArgument(`store key is longer than ${MAX_KEY_BYTES} bytes`, { path: key.slice(0, 80) });
  }
}

/**
 * The smallest string greater than every string that starts with prefix, or undefined when
 * there is none (empty prefix, or a prefix of only U+10FFFF). Incrementing the last code
 * point is exact in code point order: x >= prefix && x < end  ⇔  x starts with prefix.
 */
export function prefixEndString(prefix: string): string | undefined {
  const cps = Array.from(prefix);
  while (cps.length > 0) {
    const last = cps.pop()!.codePointAt(0)!;
    if (last < 0x10ffff) {
      // Skip the surrogate block: those code points have no UTF-8 form.
      const next = last === 0xd7ff ? 0xe000 : last + 1;
      return cps.join("") + String.fromCodePoint(next);
    }
  }
  return undefined;
}

/** The same bound on bytes, as etcd's range_end ("\0" means no upper bound). */
export function prefixEndBytes(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]! += 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}
