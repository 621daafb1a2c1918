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
import { SCRATCH_WORDS, WasmBackend, type WasmCounters } from './wasm.js';
import { EntryTable } from './entry-table.js';
import type { Block } from './translator.js';
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
  /** WebAssembly modules compiled (each holds a batch of regions). */
  batches: number;
  /** Transfers from one region to another made inside WebAssembly, without the hart's dispatcher. */
  chains: number;
  /** Guest instructions executed in translated code (the WebAssembly back end counts them). */
  executedTranslated: number;
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

/** Heat of an entry point queued for the next batch, and of one that cannot be translated. */
const PENDING = 65534, UNTRANSLATABLE = 65535;

/** Tuning of the WebAssembly back end's batching (see {@link Jit}). */
export interface JitOptions {
  /** Pages queued before their regions are compiled together into one module. */
  batch?: number;
  /** Arrivals at queued entry points that flush a batch before it is full (default: the threshold). */
  flushArrivals?: number;
  /** Most regions alive in the shared function table; past it every translation is dropped (and remade as code gets hot again). */
  maxRegions?: number;
}

/** Default {@link JitOptions.batch}. */
export const DEFAULT_BATCH = 16;
/** Default {@link JitOptions.maxRegions}. */
export const DEFAULT_MAX_REGIONS = 16384;
/** log2 of the entry table's slots (8 bytes each, in the WebAssembly memory). */
const ENTRY_BITS = 16;

/** A hot page waiting for the next batch: its new entry points. */
interface QueuedPage {
  page: DecodedPage;
  pj: PageJitState;
  gen: number;
  roots: number[];
}

/** A region chosen for a batch. */
interface PlannedRegion {
  page: DecodedPage;
  pj: PageJitState;
  blocks: Block[];
  /** True when it replaces everything the page had (see translate()); `roots` then join the page's roots. */
  union: boolean;
  roots: number[];
}

/** What a page's translations hold in the WebAssembly back end's shared structures. */
interface PageRegions {
  page: DecodedPage;
  /** Entry-table keys of its block starts. */
  keys: number[];
  /** Function-table indices of its regions. */
  indices: number[];
}

export class Jit {
  readonly stats: JitStats = {
    translations: 0, blocksTranslated: 0, instructionsTranslated: 0, translateMs: 0,
    cacheHits: 0, cacheMisses: 0, rejected: 0, invalidations: 0, batches: 0, chains: 0, executedTranslated: 0,
  };
  private readonly env: RegionEnv;
  private wasm: WasmBackend | undefined;
  private entryTable: EntryTable | undefined;
  /** The hart a WebAssembly region runs for (its imports act on it). */
  private readonly current: { hart: Hart | undefined } = { hart: undefined };
  /** Bumped whenever the decode cache drops a page (translated code leaves after a helper that did that). */
  private readonly epoch = { value: 0 };
  private readonly counters: WasmCounters = { executed: 0 };
  private readonly queue = new Map<DecodedPage, QueuedPage>();
  private pendingArrivals = 0;
  /** By RAM page index, the pages with WebAssembly regions. */
  private readonly pages = new Map<number, PageRegions>();
  private batch = DEFAULT_BATCH;
  private flushArrivals: number;
  private maxRegions = DEFAULT_MAX_REGIONS;

  constructor(private readonly ram: GuestRam, private readonly cache: DecodeCache, readonly threshold = DEFAULT_THRESHOLD, options: JitOptions = {}) {
    this.env = {
      u8: ram.u8, u16: ram.u16, i32: ram.i32, dirty: ram.dirty.bits, codePages: ram.codePages, ram, r64,
      int64: { mul64, mulh64, mulhsu64, mulhu64, div64, divu64, rem64, remu64 },
      shifts: { sll: shl, srl: shr, sra: sar },
    };
    this.flushArrivals = threshold;
    this.configure(options);
    cache.onInvalidate((index) => this.pageDropped(index));
  }

  /** Changes the batching of the WebAssembly back end (for tests and tuning; options left out keep their value). */
  configure(options: JitOptions): void {
    this.batch = Math.max(1, options.batch ?? this.batch);
    this.flushArrivals = Math.max(1, options.flushArrivals ?? this.flushArrivals);
    this.maxRegions = Math.max(this.batch * 4, options.maxRegions ?? this.maxRegions);
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
    const scratch = ram.hostArray(Int32Array, SCRATCH_WORDS);
    const words = ram.hostArray(Int32Array, 2 << ENTRY_BITS);
    if (!inside(scratch) || !inside(words)) return this.backend;
    const entries = new EntryTable(words, ENTRY_BITS);
    this.entryTable = entries;
    this.wasm = new WasmBackend({
      ram, scratch,
      layout: {
        memory, scratch: scratch.byteOffset, dirty: ram.dirty.bits.byteOffset, codePages: ram.codePages.byteOffset,
        entries: entries.byteOffset, entryBits: ENTRY_BITS,
      },
    }, this.current, this.epoch, this.counters);
    return 'wasm';
  }

  /** Statistics, with the invalidation count read from the decode cache. */
  snapshot(): JitStats {
    return {
      ...this.stats, invalidations: this.cache.stats.translationsDropped,
      chains: this.wasm?.chains ?? 0, executedTranslated: this.counters.executed,
    };
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

  /**
   * Compiles every queued region now (normally a batch is compiled once
   * {@link JitOptions.batch} pages are queued, or once queued code has been
   * reached {@link JitOptions.flushArrivals} times).
   */
  flush(): void {
    if (this.queue.size > 0) this.translateQueued();
  }

  /**
   * Counts an arrival at untranslated code. When it gets hot: the JavaScript
   * back end translates it at once; the WebAssembly back end queues its page
   * for the next batch, since compiling and instantiating a module costs
   * about as much for one region as for a dozen.
   */
  private arrive(page: DecodedPage, off: number): RegionFn | undefined {
    let pj = page.jit;
    if (pj === undefined) {
      if (page.ramOffset < 0) return undefined; // code outside RAM (the boot ROM) is never translated
      pj = page.jit = { heat: new Uint16Array(SLOTS), entries: undefined, roots: [] };
    }
    const slot = off >>> 1;
    this.stats.cacheMisses++;
    const heat = pj.heat[slot];
    if (heat >= PENDING) {
      if (heat === UNTRANSLATABLE || ++this.pendingArrivals < this.flushArrivals) return undefined;
      this.translateQueued();
      return translated(page, off);
    }
    if (heat + 1 < this.threshold) { pj.heat[slot] = heat + 1; return undefined; }
    if (this.wasm === undefined) return this.translate(page, pj, off);
    pj.heat[slot] = PENDING;
    let q = this.queue.get(page);
    if (q === undefined || q.pj !== pj || q.gen !== page.gen) {
      q = { page, pj, gen: page.gen, roots: [] };
      this.queue.set(page, q);
    }
    q.roots.push(off);
    if (this.queue.size < this.batch) return undefined;
    this.translateQueued();
    return translated(page, off);
  }

  /** The JavaScript back end: translates the region of `page` grown by entry `off`. */
  private translate(page: DecodedPage, pj: PageJitState, off: number): RegionFn | undefined {
    const slot = off >>> 1;
    const t0 = performance.now();
    // Grow the page's region with the new entry point while that stays cheap; past that, a new
    // entry gets a region of its own next to the existing ones.
    const union = pj.roots.length < MAX_UNION_ROOTS;
    const blocks = discoverRegion(this.cache, page, union ? [...pj.roots, off] : [off]);
    if (!blocks.some((b) => b.start === off)) {
      // The entry itself starts with an untranslatable instruction (or did not fit).
      pj.heat[slot] = UNTRANSLATABLE;
      this.stats.rejected++;
      return undefined;
    }
    const fn = (new Function('env', 'dp', generateRegion(blocks)) as RegionFactory)(this.env, page);
    this.install({ page, pj, blocks, union: union || pj.entries === undefined, roots: [off] }, fn, -1);
    this.stats.translations++;
    this.stats.translateMs += performance.now() - t0;
    return fn;
  }

  /** The WebAssembly back end: compiles the regions of every queued page into one module. */
  private translateQueued(): void {
    const wasm = this.wasm as WasmBackend;
    const t0 = performance.now();
    const queued = [...this.queue.values()];
    this.queue.clear();
    this.pendingArrivals = 0;
    if (wasm.tableUsed + 2 * queued.length > this.maxRegions) this.dropAll();
    const plan: PlannedRegion[] = [];
    for (const q of queued) {
      const { page, pj } = q;
      if (page.jit !== pj || page.gen !== q.gen) continue; // dropped meanwhile
      const union = pj.entries === undefined || pj.roots.length + q.roots.length <= MAX_UNION_ROOTS;
      const blocks = discoverRegion(this.cache, page, union ? [...pj.roots, ...q.roots] : q.roots);
      const starts = new Set(blocks.map((b) => b.start));
      if (blocks.length > 0) plan.push({ page, pj, blocks, union, roots: q.roots.filter((r) => starts.has(r)) });
      for (const r of q.roots) {
        if (starts.has(r)) continue;
        // Not in the page's region: it starts with an untranslatable instruction, or did not fit.
        const own = discoverRegion(this.cache, page, [r]);
        if (own.length === 0 || own[0].start !== r) {
          pj.heat[r >>> 1] = UNTRANSLATABLE;
          this.stats.rejected++;
        } else {
          plan.push({ page, pj, blocks: own, union: false, roots: [r] });
        }
      }
    }
    if (plan.length > 0) {
      const regions = wasm.compile(plan.map((r) => ({ blocks: r.blocks, ramOffset: r.page.ramOffset })));
      plan.forEach((r, k) => this.install(r, regions[k].fn, regions[k].index));
      this.stats.batches++;
      this.stats.translations += plan.length;
    }
    this.stats.translateMs += performance.now() - t0;
  }

  /** Makes region `fn` (at function-table index `index`, -1 for JavaScript) the translation of its blocks. */
  private install(r: PlannedRegion, fn: RegionFn, index: number): void {
    const { page, pj, blocks } = r;
    const slots = page.ramOffset >>> 12;
    let regions = this.pages.get(slots);
    if (index >= 0 && regions === undefined) {
      regions = { page, keys: [], indices: [] };
      this.pages.set(slots, regions);
    }
    if (r.union) {
      // Everything the page had is superseded: the entries array is replaced.
      if (regions !== undefined) this.forget(regions);
      const entries = new Array<RegionFn | undefined>(SLOTS);
      for (const b of blocks) entries[b.start >>> 1] = fn;
      pj.entries = entries;
      pj.roots.push(...r.roots);
    } else {
      const entries = pj.entries as Array<RegionFn | undefined>;
      for (const b of blocks) entries[b.start >>> 1] ??= fn;
      for (const off of r.roots) entries[off >>> 1] = fn;
    }
    // Should the translation be dropped (see dropAll()), the next arrival queues the entry again.
    for (const off of r.roots) pj.heat[off >>> 1] = Math.min(this.threshold, PENDING) - 1;
    if (regions !== undefined) {
      regions.indices.push(index);
      const table = this.entryTable as EntryTable;
      const entries = pj.entries as Array<RegionFn | undefined>;
      for (const b of blocks) {
        if (entries[b.start >>> 1] !== fn) continue;
        const key = page.ramOffset + b.start;
        if (table.set(key, index)) regions.keys.push(key);
      }
    }
    this.stats.blocksTranslated += blocks.length;
    for (const b of blocks) this.stats.instructionsTranslated += b.insns.length;
  }

  /** Takes a page's regions out of the entry table and the function table. */
  private forget(regions: PageRegions): void {
    const table = this.entryTable as EntryTable;
    for (const key of regions.keys) table.delete(key);
    for (const index of regions.indices) this.wasm?.release(index);
    regions.keys.length = 0;
    regions.indices.length = 0;
  }

  /** The decode cache dropped RAM page `index` (its code was written, or the cache was emptied). */
  private pageDropped(index: number): void {
    this.epoch.value++;
    const regions = this.pages.get(index);
    if (regions === undefined) return;
    this.forget(regions);
    this.pages.delete(index);
  }

  /**
   * Drops every WebAssembly translation when the function table is full (as
   * QEMU flushes its translation buffer): the pages keep their heat, so code
   * still hot is queued again at its next arrival.
   */
  private dropAll(): void {
    for (const regions of this.pages.values()) {
      const pj = regions.page.jit;
      if (pj !== undefined) { pj.entries = undefined; pj.roots = []; }
    }
    this.pages.clear();
    this.entryTable?.clear();
    this.wasm?.reset();
  }
}
