// String orders for sorting what programs name (ids, timestamps, interface names, CIDRs).
// String.prototype.localeCompare is not used for them: its first call makes V8 build ICU's
// collator and check every collation locale, which maps ~2.6 MB of node's ICU data into a
// process that only wanted "eth2" before "eth10" (a node agent's RSS, bench/cluster/pod-startup).

/** Code-unit order (as Go's and Kubernetes' sorts): the same result in every locale. */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Runs of digits compare as numbers ("eth2" before "eth10"), the rest in code-unit order. */
export function compareNatural(a: string, b: string): number {
  const pa = a.match(/\d+|\D+/g) ?? [];
  const pb = b.match(/\d+|\D+/g) ?? [];
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    const x = pa[i]!;
    const y = pb[i]!;
    const numeric = /^\d/.test(x) && /^\d/.test(y);
    const c = (numeric ? Number(x) - Number(y) : 0) || compareStrings(x, y);
    if (c !== 0) return c;
  }
  return pa.length - pb.length;
}
