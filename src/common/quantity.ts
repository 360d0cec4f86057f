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

/** Whether a quantity string is written with a binary suffix (Ki … Ei): Kubernetes' BinarySI format. */
export function isBinaryQuantity(value: unknown): boolean {
  return typeof value === "string" && /(Ki|Mi|Gi|Ti|Pi|Ei)$/.test(value.trim());
}

/** a + b, exactly. */
export function addQuantities(a: Quantity, b: Quantity): Quantity {
  return { num: a.num * b.den + b.num * a.den, den: a.den * b.den };
}

/** a - b, exactly. */
export function subtractQuantities(a: Quantity, b: Quantity): Quantity {
  return addQuantities(a, { num: -b.num, den: b.den });
}

/** -1, 0 or 1 as a is less than, equal to or more than b. */
export function compareQuantities(a: Quantity, b: Quantity): number {
  const d = a.num * b.den - b.num * a.den;
  return d < 0n ? -1 : d > 0n ? 1 : 0;
}

const DECIMAL_BY_EXPONENT: [number, string][] = [[18, "E"], [15, "P"], [12, "T"], [9, "G"], [6, "M"], [3, "k"], [0, ""], [-3, "m"], [-6, "u"], [-9, "n"]];
const BINARY_BY_EXPONENT: [number, string][] = [[60, "Ei"], [50, "Pi"], [40, "Ti"], [30, "Gi"], [20, "Mi"], [10, "Ki"]];

/**
 * A quantity in Kubernetes' canonical form (Quantity.String): binary ("1536Mi") when asked
 * for and the value is a whole number of at least 1Ki, else decimal with the largest suffix
 * that keeps the mantissa whole ("500m", "2k", "1500"), rounded up to nano units.
 */
export function formatQuantity(q: Quantity, binary = false): string {
  if (binary && q.num % q.den === 0n) {
    const v = q.num / q.den;
    const abs = v < 0n ? -v : v;
    if (abs >= 1024n) {
      for (const [exp, suffix] of BINARY_BY_EXPONENT) {
        const unit = 2n ** BigInt(exp);
        if (abs % unit === 0n) return `${v / unit}${suffix}`;
      }
      return String(v);
    }
  }
  const n = q.num * 10n ** 9n;
  let nanos = n / q.den;
  if (n % q.den !== 0n && n > 0n) nanos += 1n;
  if (nanos === 0n) return "0";
  for (const [exp, suffix] of DECIMAL_BY_EXPONENT) {
    const unit = 10n ** BigInt(exp + 9);
    if (nanos % unit === 0n) return `${nanos / unit}${suffix}`;
  }
  return `${nanos}n`;
}
