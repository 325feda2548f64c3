// Formatting shared by error messages.

/** A byte count for messages: exact below 1 KiB, else in KiB, MiB or GiB to three digits, with the bytes. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} bytes`;
  const [value, unit] = n < 2 ** 20 ? [n / 1024, 'KiB'] : n < 2 ** 30 ? [n / 2 ** 20, 'MiB'] : [n / 2 ** 30, 'GiB'];
  return `${Number(value.toPrecision(3))} ${unit} (${n} bytes)`;
}
