// How the container verbs print: one line at a time, and Docker's padded tables.
export const out = (line: string) => process.stdout.write(`${line}\n`);

/** Columns padded to the widest cell plus three spaces, the last one left as is. */
export function tableLines(rows: string[][]): string[] {
  const widths = rows[0]?.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? "").length))) ?? [];
  return rows.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd((widths[c] ?? 0) + 3))).join("").trimEnd());
}

export function table(rows: string[][]): void {
  for (const line of tableLines(rows)) out(line);
}
