/**
 * The binary translator: turns hot guest code into JavaScript functions that
 * V8 compiles to host machine code.
 *
 * Translation is by physical page. Each time control arrives at an
 * instruction by a jump (a taken branch, a call, a return, a trap vector),
 * the hart asks {@link Jit.lookup} for a translation of that address. The
 * first {@link Jit.threshold} arrivals only count (cold code stays in the
 * interpreter, which starts faster than freshly generated code); then the
 * page's *region* — every block reachable on the page from its hot entry
 * points — is generated (`translator.ts`), compiled with `new Function`, and
 * entered. A later hot entry on the same page that the region lacks makes a
 * new region from the union of the entry points.
 *
 * The translation cache is keyed by physical page alone: generated code
 * computes pc-relative values from the pc it is entered with, and reads the
 * TLB context of the hart it runs on, so the same translation serves every
 * virtual mapping, privilege level and hart. Writes to a page holding code
 * drop its decode and translations (the decode cache's write tracking), so
 * self-modifying code and FENCE.I need nothing more; SFENCE.VMA and satp
 * writes change only which page a virtual pc reaches, which the hart's fetch
 * path re-translates.
 */
import { performance } from 'node:perf_hooks';
import type { GuestRam } from '../../../memory/guest-memory.js';
import type { DecodeCache, DecodedPage, PageJitState, RegionFn } from '../decode-cache.js';
import { r64, mul64, mulh64, mulhsu64, mulhu64, div64, divu64, rem64, remu64 } from '../int64.js';
import { discoverRegion, generateRegion } from './translator.js';
import { compileWasmRegion, type WasmEnv } from './wasm.js';
import type { Hart } from '../hart.js';

/** The code the translator emits: WebAssembly (when guest RAM is a WebAssembly memory) or JavaScript. */
export type JitBackend = 'wasm' | 'js';

/** Statistics of the translator (all counters since the machine started). */
export interface JitStats {
  /** Regions translated (including re-translations of a page with a new entry point). */
  translations: number;
  /** Blocks and guest instructions in those translations. */
  blocksTranslated: number;
  instructionsTranslated: number;
  /** Total time spent generating and compiling, in milliseconds. */
  translateMs: number;
  /** Entries into translated code found in the cache. */
  cacheHits: number;
  /** Arrivals at code not translated (yet). */
  cacheMisses: number;
  /** Entry points found not translatable (e.g. a CSR instruction): left to the interpreter. */
  rejected: number;
  /** Pages whose translations were dropped because their code was written. */
  invalidations: number;
}

/** Default number of arrivals at an entry point before it is translated. */
export const DEFAULT_THRESHOLD = 30000;
const SLOTS = 2048;
/** A page's region grows by re-translation for at most this many entry points (see translate()). */
const MAX_UNION_ROOTS = 12;

function shl(lo: number, hi: number, sh: number): void {
  if (sh === 0) { r64.lo = lo; r64.hi = hi; }
  else if (sh < 32) { r64.hi = (hi << sh) | (lo >>> (32 - sh)); r64.lo = lo << sh; }
  else { r64.hi = lo << (sh - 32); r64.lo = 0; }
}

function shr(lo: number, hi: number, sh: number): void {
  if (sh === 0) { r64.lo = lo; r64.hi = hi; }
  else if (sh < 32) { r64.lo = (lo >>> sh) | (hi << (32 - sh)); r64.hi = (hi >>> sh) | 0; }
  else { r64.lo = (hi >>> (sh - 32)) | 0; r64.hi = 0; }
}

function sar(lo: number, hi: number, sh: number): void {
  if (sh === 0) { r64.lo = lo; r64.hi = hi; }
  else if (sh < 32) { r64.lo = (lo >>> sh) | (hi << (32 - sh)); r64.hi = hi >> sh; }
  else { r64.lo = hi >> (sh - 32); r64.hi = hi >> 31; }
}

/** What generated code reads from its environment (shared by every hart of a machine). */
interface RegionEnv {
  u8: Uint8Array;
  u16: Uint16Array;
  i32: Int32Array;
  dirty: Uint8Array;
  codePages: Uint8Array;
  ram: GuestRam;
  r64: typeof r64;
  int64: Record<string, (al: number, ah: number, bl: number, bh: number) => void>;
  shifts: Record<string, (lo: number, hi: number, sh: number) => void>;
}

type RegionFactory = (env: RegionEnv, dp: DecodedPage) => RegionFn;

/** The region translated for byte offset `off` of `page`, if any. */
function translated(page: DecodedPage, off: number): RegionFn | undefined {
  return page.jit?.entries?.[off >>> 1];
}

export class Jit {
  readonly stats: JitStats = {
    translations: 0, blocksTranslated: 0, instructionsTranslated: 0, translateMs: 0,
    cacheHits: 0, cacheMisses: 0, rejected: 0, invalidations: 0,
  };
  private readonly env: RegionEnv;
  private wasm: WasmEnv | undefined;
  /** The hart and page a WebAssembly region runs for (its imports act on them). */
  private readonly current: { hart: Hart | undefined; pageVa: number } = { hart: undefined, pageVa: 0 };

  constructor(private readonly ram: GuestRam, private readonly cache: DecodeCache, readonly threshold = DEFAULT_THRESHOLD) {
    this.env = {
      u8: ram.u8, u16: ram.u16, i32: ram.i32, dirty: ram.dirty.bits, codePages: ram.codePages, ram, r64,
      int64: { mul64, mulh64, mulhsu64, mulhu64, div64, divu64, rem64, remu64 },
      shifts: { sll: shl, srl: shr, sra: sar },
    };
  }

  /** The back end in use. */
  get backend(): JitBackend {
    return this.wasm === undefined ? 'js' : 'wasm';
  }

  /**
   * Switches to the WebAssembly back end when guest RAM is a WebAssembly
   * memory and every hart's registers and TLB live in it (called once the
   * harts exist); returns the back end in use.
   */
  useWasm(harts: Hart[]): JitBackend {
    const ram = this.ram;
    const memory = ram.wasmMemory;
    const inside = (a: ArrayBufferView): boolean => ram.inWasmMemory(a);
    if (memory === undefined || !inside(ram.dirty.bits) || !inside(ram.codePages) ||
      !harts.every((h) => inside(h.xl) && inside(h.xh) && inside(h.mmu.tag) && inside(h.mmu.ramOffset))) return this.backend;
    const scratch = ram.hostArray(Int32Array, 8);
    if (!inside(scratch)) return this.backend;
    this.wasm = {
      ram, scratch,
      layout: { memory, scratch: scratch.byteOffset, dirty: ram.dirty.bits.byteOffset, codePages: ram.codePages.byteOffset },
    };
    return 'wasm';
  }

  /** Statistics, with the invalidation count read from the decode cache. */
  snapshot(): JitStats {
    return { ...this.stats, invalidations: this.cache.stats.translationsDropped };
  }

  /**
   * The translated region to enter at byte offset `off` of `page`, or
   * undefined to interpret. Counts the arrival and translates when hot.
   */
  lookup(page: DecodedPage, off: number): RegionFn | undefined {
    const fn = translated(page, off);
    if (fn !== undefined) { this.stats.cacheHits++; return fn; }
    return this.arrive(page, off);
  }

  /**
   * For the interpreter, at a pc it reached by a jump: true when translated
   * code exists there (counting the arrival, and translating when hot), so
   * it should hand over to the dispatcher.
   */
  enterable(page: DecodedPage, off: number): boolean {
    return translated(page, off) !== undefined || this.arrive(page, off) !== undefined;
  }

  /** Counts an arrival at untranslated code; translates when hot. */
  private arrive(page: DecodedPage, off: number): RegionFn | undefined {
    let pj = page.jit;
    if (pj === undefined) {
      if (page.ramOffset < 0) return undefined; // code outside RAM (the boot ROM) is never translated
      pj = page.jit = { heat: new Uint16Array(SLOTS), entries: undefined, roots: [] };
    }
    const slot = off >>> 1;
    this.stats.cacheMisses++;
    const heat = pj.heat[slot];
    if (heat === 65535) return undefined;
    if (heat + 1 < this.threshold) { pj.heat[slot] = heat + 1; return undefined; }
    return this.translate(page, pj, off);
  }

  private translate(page: DecodedPage, pj: PageJitState, off: number): RegionFn | undefined {
    const slot = off >>> 1;
    const t0 = performance.now();
    // Grow the page's region with the new entry point while that stays cheap; past that, a new
    // entry gets a region of its own next to the existing ones.
    const union = pj.roots.length < MAX_UNION_ROOTS;
    const blocks = discoverRegion(this.cache, page, union ? [...pj.roots, off] : [off]);
    if (!blocks.some((b) => b.start === off)) {
      // The entry itself starts with an untranslatable instruction (or did not fit).
      pj.heat[slot] = 65535;
      this.stats.rejected++;
      return undefined;
    }
    const fn = this.wasm !== undefined
      ? compileWasmRegion(blocks, page, this.wasm, this.current)
      : (new Function('env', 'dp', generateRegion(blocks)) as RegionFactory)(this.env, page);
    if (union || pj.entries === undefined) {
      const entries = new Array<RegionFn | undefined>(SLOTS);
      for (const b of blocks) entries[b.start >>> 1] = fn;
      pj.entries = entries;
      pj.roots.push(off);
    } else {
      const entries = pj.entries;
      for (const b of blocks) entries[b.start >>> 1] ??= fn;
      entries[slot] = fn;
    }
    this.stats.translations++;
    this.stats.blocksTranslated += blocks.length;
    for (const b of blocks) this.stats.instructionsTranslated += b.insns.length;
    this.stats.translateMs += performance.now() - t0;
    return fn;
  }
}
