// sha256 digests: the identity of every blob, the chain IDs of snapshots, and the check that
// content is what its descriptor says.
import { createHash } from "node:crypto";
import { GantryError } from "../common/errors.ts";
import { digestPattern } from "./spec.ts";

export type Digest = `sha256:${string}`;

export function sha256(bytes: Uint8Array | string): Digest {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

export function isDigest(s: string): s is Digest {
  return digestPattern.test(s);
}

export function assertDigest(s: string, what = "digest"): Digest {
  if (s.startsWith("sha512:") || s.startsWith("sha384:")) {
    throw new GantryError("UNSUPPORTED_OPTION", `${what} ${s.slice(0, 7)}…: only sha256 digests are supported`);
  }
  if (!isDigest(s)) throw new GantryError("INVALID_ARGUMENT", `${what} "${s}" is not sha256:<64 hex digits>`);
  return s;
}

export const hexOf = (d: Digest): string => d.slice("sha256:".length);

/** Chain ID of a layer stack (OCI image spec, "Layer ChainID"): ChainID(L0) = DiffID(L0),
 * ChainID(L0..n) = sha256(ChainID(L0..n-1) + " " + DiffID(Ln)). Equal chain IDs mean equal
 * filesystems, which is what lets images share snapshots. */
export function chainIds(diffIds: readonly Digest[]): Digest[] {
  const out: Digest[] = [];
  for (const d of diffIds) {
    const prev = out[out.length - 1];
    out.push(prev === undefined ? d : sha256(`${prev} ${d}`));
  }
  return out;
}
