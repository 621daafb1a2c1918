/**
 * Where translated code can be entered, by physical address: a hash table
 * from a guest RAM offset (the RAM page's offset plus the byte offset of a
 * block start on it) to the index of the region function in the shared
 * WebAssembly function table.
 *
 * It lives in the WebAssembly memory beside guest RAM so that the chaining
 * dispatcher (`wasm.ts`) can follow a region's exit to the next region
 * without returning to JavaScript; the JavaScript side only writes it. It is
 * a cache: a key missing from it only means the transfer goes through the
 * hart's dispatcher (which finds the region through the decode cache), so a
 * full table simply stops taking keys.
 *
 * Open addressing with linear probing; deletion shifts later entries of the
 * probe run back (no tombstones), so a lookup stops at the first empty slot.
 */

/** An empty slot's key (keys are RAM offsets, never negative). */
export const EMPTY_KEY = -1;

/** The slot a key hashes to (Fibonacci hashing), for a table of 2^bits slots; the dispatcher computes the same. */
export function entryHash(key: number, bits: number): number {
  return Math.imul(key, 0x9e3779b1) >>> (32 - bits);
}

/** The multiplier of {@link entryHash}, as a signed 32-bit constant for generated code. */
export const ENTRY_HASH_MULTIPLIER = 0x9e3779b1 | 0;

export class EntryTable {
  /** Keys and values interleaved: words 2i (key) and 2i + 1 (table index). */
  readonly words: Int32Array;
  private readonly mask: number;
  private count = 0;

  /** `words` holds 2 × 2^bits int32s (in the WebAssembly memory when chaining is to see it). */
  constructor(words: Int32Array, readonly bits: number) {
    if (words.length !== 2 << bits) throw new Error(`EntryTable: needs ${2 << bits} words, got ${words.length}`);
    this.words = words;
    this.mask = (1 << bits) - 1;
    this.clear();
  }

  /** Number of keys held. */
  get size(): number {
    return this.count;
  }

  /** Byte offset of the table in its buffer. */
  get byteOffset(): number {
    return this.words.byteOffset;
  }

  /** Empties the table. */
  clear(): void {
    for (let i = 0; i < this.words.length; i += 2) this.words[i] = EMPTY_KEY;
    this.count = 0;
  }

  /** The value of `key`, or -1. */
  get(key: number): number {
    const w = this.words;
    for (let i = entryHash(key, this.bits); ; i = (i + 1) & this.mask) {
      const k = w[2 * i];
      if (k === key) return w[2 * i + 1];
      if (k === EMPTY_KEY) return -1;
    }
  }

  /** Sets `key` to `value`; returns false (leaving the table as it was) when the table is half full. */
  set(key: number, value: number): boolean {
    const w = this.words;
    for (let i = entryHash(key, this.bits); ; i = (i + 1) & this.mask) {
      const k = w[2 * i];
      if (k === key) { w[2 * i + 1] = value; return true; }
      if (k === EMPTY_KEY) {
        // Half full at most keeps the probe runs the dispatcher walks short.
        if (2 * (this.count + 1) > this.mask + 1) return false;
        w[2 * i] = key; w[2 * i + 1] = value;
        this.count++;
        return true;
      }
    }
  }

  /** Removes `key` if present. */
  delete(key: number): void {
    const w = this.words, mask = this.mask;
    let i = entryHash(key, this.bits);
    for (; ; i = (i + 1) & mask) {
      const k = w[2 * i];
      if (k === key) break;
      if (k === EMPTY_KEY) return;
    }
    // Backward-shift deletion: move up every later key of the run whose home slot is not in (i, j].
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const k = w[2 * j];
      if (k === EMPTY_KEY) break;
      const home = entryHash(k, this.bits);
      const movable = i <= j ? home <= i || home > j : home <= i && home > j;
      if (movable) {
        w[2 * i] = k; w[2 * i + 1] = w[2 * j + 1];
        i = j;
      }
    }
    w[2 * i] = EMPTY_KEY;
    this.count--;
  }
}
