/**
 * Parsing and validation of command-line values. Every failure is a
 * {@link UsageError} whose message says what was wrong and what is accepted.
 */

/** A bad flag value; the CLI prints its message on one line and exits with status 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/**
 * Parses a memory size as QEMU's -m does: a number with an optional suffix
 * K, M, G or T (binary units); a bare number means MiB.
 */
export function parseMemorySize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)([kKmMgGtT]?)(i?[bB])?$/.exec(text.trim());
  if (m === null) throw new UsageError(`invalid memory size '${text}': use a size such as 256M or 1G`);
  const n = Number(m[1]);
  const unit = (m[2] || 'M').toUpperCase();
  const mult = unit === 'K' ? 1024 : unit === 'M' ? 1048576 : unit === 'G' ? 1073741824 : 1099511627776;
  const bytes = Math.round(n * mult);
  if (bytes < 16 * 1048576) throw new UsageError(`memory size '${text}' is too small: the guest needs at least 16M`);
  if (bytes > 16 * 1073741824) throw new UsageError(`memory size '${text}' is too large: at most 16G`);
  if (bytes % 4096 !== 0) throw new UsageError(`memory size '${text}' is not a multiple of 4K`);
  return bytes;
}

/** Parses a positive integer within [min, max]. */
export function parseIntegerIn(text: string, what: string, min: number, max: number): number {
  if (!/^\d+$/.test(text.trim())) throw new UsageError(`invalid ${what} '${text}': expected a whole number from ${min} to ${max}`);
  const n = Number(text);
  if (n < min || n > max) throw new UsageError(`invalid ${what} '${text}': expected a whole number from ${min} to ${max}`);
  return n;
}

/** Parses one of a fixed set of words. */
export function parseChoice<T extends string>(text: string, what: string, choices: readonly T[]): T {
  if ((choices as readonly string[]).includes(text)) return text as T;
  throw new UsageError(`invalid ${what} '${text}': expected one of ${choices.join(', ')}`);
}

/** A parsed --drive value. */
export interface DriveSpec {
  path: string;
  readOnly: boolean;
}

/** Parses QEMU-style `file=PATH[,readonly=on|off][,format=raw]` (a bare PATH is accepted too). */
export function parseDrive(text: string): DriveSpec {
  const parts = text.split(',');
  let path: string | undefined;
  let readOnly = false;
  for (const p of parts) {
    const eq = p.indexOf('=');
    if (eq < 0 && path === undefined && parts.length === 1) { path = p; continue; }
    const key = p.slice(0, eq), value = p.slice(eq + 1);
    if (key === 'file' && value !== '') path = value;
    else if (key === 'readonly' && ['on', 'off', 'true', 'false'].includes(value)) readOnly = value === 'on' || value === 'true';
    else if (key === 'format' && value === 'raw') continue;
    else throw new UsageError(`invalid --drive option '${p}': expected file=PATH[,readonly=on][,format=raw]`);
  }
  if (path === undefined || path === '') throw new UsageError(`invalid --drive value '${text}': it needs file=PATH`);
  return { path, readOnly };
}
