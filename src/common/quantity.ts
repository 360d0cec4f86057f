// Kubernetes resource quantities ("100m", "1.5Gi", "2e3", "128974848"), as
// k8s.io/apimachinery/pkg/api/resource parses them: a signed decimal number followed by a
// binary suffix (Ki Mi Gi Ti Pi Ei), a decimal suffix (n u m "" k M G T P E) or a decimal
// exponent (e3, E-2). Values are kept exact (a fraction of BigInts), so "0.1" is one tenth
// and not 0.1000000000000000055; Value() and MilliValue() round up, as Kubernetes' do, so a
// request of "0.5m" cpu is 1m and never 0.
const QUANTITY = /^([+-]?)([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?$/;

const BINARY: Record<string, number> = { Ki: 10, Mi: 20, Gi: 30, Ti: 40, Pi: 50, Ei: 60 };
const DECIMAL: Record<string, number> = { n: -9, u: -6, m: -3, "": 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };

/** A quantity as an exact fraction num/den (den > 0). */
export interface Quantity {
  num: bigint;
  den: bigint;
}

/** Parses a quantity string (numbers are taken as they are); undefined when it is not one. */
export function parseQuantity(value: unknown): Quantity | undefined {
  if (typeof value === "number") return Number.isFinite(value) ? parseQuantity(String(value)) : undefined;
  if (typeof value !== "string") return undefined;
  const m = QUANTITY.exec(value.trim());
  if (!m) return undefined;
  const [, sign, digits, suffix = ""] = m as unknown as [string, string, string, string | undefined];
  const [whole, frac = ""] = digits.split(".");
  let num = BigInt((whole || "0") + frac);
  let den = 10n ** BigInt(frac.length);
  if (sign === "-") num = -num;
  if (suffix in BINARY) num *= 2n ** BigInt(BINARY[suffix]!);
  else {
    const exp = suffix in DECIMAL ? DECIMAL[suffix]! : Number(suffix.slice(1));
    // An absurd exponent is not a quantity a cluster holds (and 10n ** 10^9 would not end).
    if (Math.abs(exp) > 64) return undefined;
    if (exp >= 0) num *= 10n ** BigInt(exp);
    else den *= 10n ** BigInt(-exp);
  }
  return { num, den };
}

/** ceil(num * scale / den): what Kubernetes' Value (scale 1) and MilliValue (scale 1000) return. */
function scaledCeil(q: Quantity, scale: bigint): number {
  const n = q.num * scale;
  let r = n / q.den;
  if (n % q.den !== 0n && n > 0n) r += 1n;
  return Number(r);
}

/** The quantity in whole units, rounded up (memory and storage in bytes, pods as a count); 0 when it is not a quantity. */
export function quantityValue(value: unknown): number {
  const q = parseQuantity(value);
  return q ? scaledCeil(q, 1n) : 0;
}

/** The quantity in thousandths, rounded up (cpu in millicores); 0 when it is not a quantity. */
export function quantityMilliValue(value: unknown): number {
  const q = parseQuantity(value);
  return q ? scaledCeil(q, 1000n) : 0;
}
