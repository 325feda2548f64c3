// Turning results into output: JSON without losing NaN, gradient norms, and aligned text tables.

/** The L2 norm of all the given arrays taken together (double accumulation). */
export function l2Norm(...arrays: Float32Array[]): number {
  let sum = 0;
  for (const a of arrays) for (let i = 0; i < a.length; i++) sum += a[i] * a[i];
  return Math.sqrt(sum);
}

// JSON has no NaN or Infinity (JSON.stringify would write null, which reads as "no value"):
// they are written as the strings "NaN", "Infinity", "-Infinity". Typed arrays become plain arrays.
function jsonValue(_key: string, value: unknown): unknown {
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  if (ArrayBuffer.isView(value) && !(value instanceof DataView))
    return Array.from(value as unknown as ArrayLike<number>);
  return value;
}

/** One line of JSON for a result object, NaN kept as "NaN" and typed arrays as arrays. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, jsonValue);
}

/** A number for people: 6 significant digits, NaN and infinities by name. */
export function formatNumber(value: number | null): string {
  if (value === null) return '-';
  if (!Number.isFinite(value) || value === 0) return String(value);
  if (Math.abs(value) < 1e-4 || Math.abs(value) >= 1e6) return value.toExponential(5);
  return value.toPrecision(6);
}

/** Rows of cells as aligned columns: numbers-looking columns right-aligned, the rest left. */
export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  const numeric = header.map((_, c) => rows.every((r) => /^[-+\d.eNaInfity]+$/.test(r[c])));
  const line = (cells: string[]) =>
    cells
      .map((s, c) => (numeric[c] ? s.padStart(widths[c]) : s.padEnd(widths[c])))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}
