/**
 * Pre-decoded instructions, per physical page of guest RAM, shared by all harts.
 *
 * Each 2-byte slot of a page holds the decoded instruction that starts there,
 * packed into two int32 words: `info` (op, rd, rs1, rs2, length) and `imm`.
 * Decoding is lazy (slot info 0 = not yet decoded). A store to a page with
 * decoded code drops the page (GuestRam code tracking), which makes
 * self-modifying code and FENCE.I correct without any flush instruction.
 */
import { PAGE_SHIFT, type GuestRam } from '../../memory/guest-memory.js';
import { decode, newDecoded, Op, type Decoded } from './decode.js';

const SLOTS = 2048;

/** The decoded slots of one 4 KiB page. */
export class DecodedPage {
  /** op | rd << 8 | rs1 << 14 | rs2 << 20 | length << 26; 0 = not decoded. */
  readonly info = new Int32Array(SLOTS);
  /** The immediate; for `Op.FP` the raw encoding. */
  readonly imm = new Int32Array(SLOTS);
  /** Bumped whenever the page is dropped or reused: code holding a stale generation must not continue. */
  gen = 0;
  /** The binary translator's state for this page (hotness counters and translated regions). */
  jit: PageJitState | undefined = undefined;
  constructor(public ramOffset: number) {}
}

/** What the binary translator keeps per decoded page; dropped with the page. */
export interface PageJitState {
  /** Instructions interpreted from each slot as an entry point while untranslated (the translator's marks above 2^31 - 3). */
  readonly heat: Int32Array;
  /** The translated region function entered at each slot, if any. */
  entries: Array<RegionFn | undefined> | undefined;
  /** Offsets the page's regions were translated from. */
  roots: number[];
}

/**
 * A translated region, entered at byte offset `p` of its page with the hart's
 * pc at that instruction; runs until it leaves the region or has executed at
 * least `lim` instructions, and returns how many it executed.
 */
export type RegionFn = (h: RegionHart, p: number, lim: number) => number;

/** The hart as translated code sees it (see `jit/translator.ts`). */
export interface RegionHart {
  pc: number;
}

/** Marker op for a 32-bit instruction that straddles the end of the page: fetched by the slow path. */
export const OP_CROSS_PAGE = 255;

/** Unpacks fields of a slot `info` word. */
export const infoOp = (info: number): number => info & 0xff;

/** Statistics of the decode cache. */
export interface DecodeCacheStats {
  pagesDecoded: number;
  instructionsDecoded: number;
  invalidations: number;
  /** Pages whose translated code was dropped because their code was written. */
  translationsDropped: number;
  /** Writes to a page holding code that missed every decoded instruction (the page was kept). */
  dataWrites: number;
}

/** GuestRam.codeSpan of a page with nothing decoded yet. */
const EMPTY_SPAN = 0xffff;

export class DecodeCache {
  /** The decoded pages by RAM page index (an array: a Map's lookup on the fetch path was 1.7% of the boot's main thread). */
  private readonly pages: Array<DecodedPage | undefined>;
  private count = 0;
  private free: DecodedPage[] = [];
  private scratch: Decoded = newDecoded();
  readonly stats: DecodeCacheStats = { pagesDecoded: 0, instructionsDecoded: 0, invalidations: 0, translationsDropped: 0, dataWrites: 0 };

  /** The maximum number of cached pages; past it the cache is emptied (bounds host memory). */
  constructor(private readonly ram: GuestRam, private readonly maxPages = 2048) {
    this.pages = new Array<DecodedPage | undefined>(ram.codePages.length).fill(undefined);
    const previous = ram.onCodeWrite;
    ram.onCodeWrite = (page, offset, length) => {
      const dropped = this.codeWrite(page, offset, length);
      return previous(page, offset, length) && dropped;
    };
  }

  /** The decoded page for RAM offset `ramOffset` (page-aligned), creating it if needed. */
  page(ramOffset: number): DecodedPage {
    const index = ramOffset >>> PAGE_SHIFT;
    let p = this.pages[index];
    if (p === undefined) {
      if (this.count >= this.maxPages) this.clear();
      p = this.free.pop();
      if (p === undefined) p = new DecodedPage(ramOffset);
      else { p.ramOffset = ramOffset; p.info.fill(0); p.gen++; p.jit = undefined; }
      this.pages[index] = p;
      this.count++;
      this.ram.codePages[index] = 1;
      this.ram.codeSpan[index] = EMPTY_SPAN;
      this.stats.pagesDecoded++;
    }
    return p;
  }

  /** Decodes the slot at byte offset `slotOffset` (even, < 4096) of `p` and returns its info word. */
  decodeSlot(p: DecodedPage, slotOffset: number): number {
    const u16 = this.ram.u16;
    const at = (p.ramOffset + slotOffset) >>> 1;
    // Widen the page's code span (GuestRam.codeSpan) to the instruction's up to 4 bytes.
    const spans = this.ram.codeSpan, index = p.ramOffset >>> PAGE_SHIFT, span = spans[index];
    spans[index] = Math.min(span & 0xffff, slotOffset) | (Math.max(span >>> 16, slotOffset + 4) << 16);
    const lo = u16[at];
    const d = this.scratch;
    let info: number;
    if ((lo & 3) === 3) {
      if (slotOffset === 4094) {
        info = OP_CROSS_PAGE | (4 << 26);
        p.info[slotOffset >>> 1] = info;
        return info;
      }
      decode(lo | (u16[at + 1] << 16), d);
    } else {
      decode(lo, d);
    }
    info = d.op | (d.rd << 8) | (d.rs1 << 14) | (d.rs2 << 20) | (d.length << 26);
    p.info[slotOffset >>> 1] = info;
    p.imm[slotOffset >>> 1] = d.op === Op.FP ? d.raw : d.imm;
    this.stats.instructionsDecoded++;
    return info;
  }

  /**
   * A write to bytes [offset, offset + length) of RAM page `page`: drops the
   * page when the write touches a decoded instruction (one starting up to 3
   * bytes before the write), keeps it otherwise. Returns true when the page
   * holds no decoded code afterwards.
   */
  private codeWrite(page: number, offset: number, length: number): boolean {
    const p = this.pages[page];
    if (p === undefined) return true;
    const info = p.info;
    const last = Math.min((offset + length - 1) >>> 1, SLOTS - 1);
    for (let s = Math.max(offset - 3, 0) >>> 1; s <= last; s++) {
      if (info[s] !== 0) {
        this.invalidate(page);
        return true;
      }
    }
    this.stats.dataWrites++;
    return false;
  }

  /** Drops the decoded page at RAM page index `page`. */
  invalidate(page: number): void {
    const p = this.pages[page];
    if (p !== undefined) {
      this.pages[page] = undefined;
      this.count--;
      p.gen++;
      if (p.jit !== undefined) {
        if (p.jit.entries !== undefined) this.stats.translationsDropped++;
        p.jit = undefined;
      }
      this.free.push(p);
      this.stats.invalidations++;
      this.notify(page);
    }
  }

  private listeners: Array<(page: number) => void> = [];

  /** Registers a callback run after a page is dropped (harts holding it as their fetch page reload). */
  onInvalidate(listener: (page: number) => void): void {
    this.listeners.push(listener);
  }

  private notify(page: number): void {
    for (const l of this.listeners) l(page);
  }

  /** Drops every page (a walk over RAM's page indices: it happens once {@link maxPages} pages are decoded). */
  clear(): void {
    const pages = this.pages;
    for (let index = 0; index < pages.length && this.count > 0; index++) {
      const p = pages[index];
      if (p === undefined) continue;
      pages[index] = undefined;
      this.count--;
      this.ram.codePages[index] = 0;
      this.notify(index);
      p.gen++; p.jit = undefined; this.free.push(p);
    }
    if (this.free.length > 64) this.free.length = 64;
  }

  /** Number of pages currently decoded. */
  get size(): number {
    return this.count;
  }
}
