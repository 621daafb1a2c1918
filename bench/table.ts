/** Plain-text tables of `npm run bench`. */

/**
 * A header, a rule of dashes, then the rows, each column padded to its
 * widest cell: right-aligned, but for the first `leftColumns` columns.
 */
export function formatTable(header: string[], rows: string[][], leftColumns = 0): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const out = [header, ...rows].map((r) => r.map((c, i) => (i < leftColumns ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  '));
  out.splice(1, 0, widths.map((w) => '-'.repeat(w)).join('  '));
  return out.join('\n');
}

/** A speed ratio as `1.234x`, or n/a. */
export function ratio(v: number | null): string {
  return v === null ? 'n/a' : `${v.toFixed(3)}x`;
}
