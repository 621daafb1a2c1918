/**
 * The binary translator: turns hot guest code into JavaScript functions that
 * V8 compiles to host machine code.
 *
 * Translation is by physical page. Each time control arrives at an
 * instruction by a jump (a taken branch, a call, a return, a trap vector)
 * or by running on into the next page, the hart asks {@link Jit.lookup} for
 * a translation of that address. Until the interpreter has executed
 * {@link Jit.threshold} instructions from an entry point, they only count
 * (cold code stays in the interpreter, which starts faster than freshly
 * generated code); then the page's *region* — every block reachable on the
 * page from its hot entry points — is generated (`translator.ts`),
 * compiled, and entered. A later hot entry on the same page that the region
 * lacks gets a region of its own; a page whose code runs long is compiled
 * again as one region from all of its entry points (see Jit.tierUp()).
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
import { setFlagsFromString } from 'node:v8';
import type { GuestRam } from '../../../memory/guest-memory.js';
import type { DecodeCache, DecodedPage, PageJitState, RegionFn } from '../decode-cache.js';
import { r64, mul64, mulh64, mulhsu64, mulhu64, div64, divu64, rem64, remu64 } from '../int64.js';
import { discoverRegion, generateRegion } from './translator.js';
import { SCRATCH_WORDS, WasmBackend, type InlineMemory, type WasmCounters } from './wasm.js';
import { EntryTable } from './entry-table.js';
import { CompileWorker } from './compile-worker.js';
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
  /** WebAssembly generated (bytes of module) and the time spent generating it (ms; part of translateMs). */
  codeBytes: number;
  codegenMs: number;
  /** Batches compiled in the background, and their total time from start to arrival (ms, not part of translateMs). */
  backgroundBatches: number;
  backgroundMs: number;
  /** Regions compiled in the background whose page was dropped or rewritten meanwhile: never installed. */
  staleRegions: number;
  /** Pages recompiled as one region (every memory access inlined) because their code ran long (see {@link JitOptions.tierUpAt}). */
  tierUps: number;
}

/**
 * Default number of instructions the interpreter executes from an entry
 * point before it is translated. Measured on the Linux boot to init (medians
 * of five alternating runs): 1.44 s at 40 000, 1.53 s at 20 000 and at
 * 80 000; in another series 1.41 s at 40 000, 1.42 s at 60 000, 1.45 s at
 * 100 000.
 */
export const DEFAULT_THRESHOLD = 40000;
const SLOTS = 2048;
/**
 * The JavaScript back end (which has no tier-up) grows a page's region by
 * re-translation for at most this many entry points (see translate()).
 */
const JS_MAX_UNION_ROOTS = 12;

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
const PENDING = 0x7ffffffe, UNTRANSLATABLE = 0x7fffffff;

/** Tuning of the WebAssembly back end's batching (see {@link Jit}). */
export interface JitOptions {
  /** Pages queued before their regions are compiled together into one module. */
  batch?: number;
  /** Arrivals at queued entry points that flush a batch before it is full (default: {@link DEFAULT_FLUSH_ARRIVALS}, or the threshold when lower). */
  flushArrivals?: number;
  /** Most regions alive in the shared function table; past it every translation is dropped (and remade as code gets hot again). */
  maxRegions?: number;
  /**
   * Compile batches on a worker thread (`compile-worker.ts`) while the hart
   * keeps interpreting the queued code, instead of synchronously. Off by
   * default: on two cores the Linux boot to init measured 0.1–0.25 s slower
   * with it at every threshold from 200 to 30 000.
   */
  background?: boolean;
  /**
   * With `background`: have V8 compile every function of a module on the
   * worker, not at its first call on the hart's thread (see
   * {@link eagerWasmCompilation}).
   */
  eager?: boolean;
  /**
   * With `background`: install compiled batches only in {@link Jit.settle}
   * (for tests: makes "the guest ran on while the batch compiled" certain).
   */
  deferInstall?: boolean;
  /** Where loads and stores inline the TLB lookup and RAM access (see {@link InlineMemory}; default {@link DEFAULT_INLINE_MEMORY}); elsewhere they call the shared access. */
  inlineMemory?: InlineMemory;
  /** Instructions a page's regions execute before it is recompiled as one region from all its entry points, with every memory access inlined (0: never). */
  tierUpAt?: number;
  /** Region entries from the hart between looks for pages to tier up (at least; more once more pages are translated). */
  tierUpEvery?: number;
}

/** Default {@link JitOptions.tierUpAt}. */
export const DEFAULT_TIER_UP = 20_000_000;
/**
 * Default {@link JitOptions.inlineMemory}: every load and store inlines its
 * TLB lookup. Against calls to the shared accesses ('none', which made code
 * about half the size), medians of alternating Linux boots to init: 1.11 s
 * against 1.13 s ('loops': 1.10 s), with tsvisor's launch flags; fp 702–731
 * against 518–570 MIPS, mem 530–533 against 469–531 (second runs, as the
 * bench measures). Peak RSS of the boot: 131 against 125 MiB.
 */
export const DEFAULT_INLINE_MEMORY: InlineMemory = 'all';
/** Default {@link JitOptions.tierUpEvery}. */
const TIER_UP_EVERY = 256;
/** Slots of the executed-instruction counts of regions (a power of two; 4 bytes each, in the WebAssembly memory). */
const COUNT_SLOTS = 1 << 15;
/** Most batches compiling in the background at once. */
const MAX_COMPILING = 4;
/**
 * Default {@link JitOptions.flushArrivals}. Code waiting in a batch runs in
 * the interpreter, so a short program loses most of what its queued loop
 * would gain. Measured against 40 000 (the threshold, the default before):
 * fp's first run 177–207 MIPS against 118–132, int 1 325 against 1 263;
 * Linux to init 1.20 s against 1.27 s (medians of five), 1.21 s at 200.
 */
export const DEFAULT_FLUSH_ARRIVALS = 1000;
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
  /** The page's generation when the region was made (a rewritten page has a new one). */
  gen: number;
  blocks: Block[];
  /** True when it replaces everything the page had (see translate()). */
  union: boolean;
  /** Inlines every memory access: made by tierUp(), or for a page tierUp() has recompiled. */
  inline?: boolean;
  roots: number[];
}

/** What a page's translations hold in the WebAssembly back end's shared structures. */
interface PageRegions {
  page: DecodedPage;
  /** Entry-table keys of its block starts. */
  keys: number[];
  /** Function-table indices of its regions. */
  indices: number[];
  /** Its regions inline every memory access (made by tierUp(), and every region made for the page since). */
  inline: boolean;
}

/** V8's `--wasm-lazy-compilation` as last set here (its default is on). */
let lazyWasm = true;

/**
 * Eager: V8 compiles every function of a module when the module is compiled
 * (on the compile worker, then, all of it); lazy (V8's default): at each
 * function's first call, on the thread that calls it — `WebAssembly.compile`
 * too only validates in the background under it. Process-wide (a V8 flag);
 * it matters only to modules compiled after it.
 */
function eagerWasmCompilation(eager: boolean): void {
  if (lazyWasm === !eager) return;
  lazyWasm = !eager;
  setFlagsFromString(eager ? '--no-wasm-lazy-compilation' : '--wasm-lazy-compilation');
}

/**
 * V8's `--wasm-tiering-budget`: how much a WebAssembly function runs in
 * Liftoff's code before V8 compiles it with TurboFan, on the second of the
 * machine's cores, where it competes with the hart. V8's default is 1.8 M.
 * Linux to init, medians of six alternating runs: 1.39 s at the default,
 * 1.33 s at 30 M, 1.31 s at 100 M; the compute programs' hot loops tier up
 * all the same (fp: 125–139 MIPS on a first run either way).
 */
const WASM_TIERING_BUDGET = 30_000_000;
let tieringBudgetSet = false;

export class Jit {
  /**
   * Translate privileged instructions as inline calls to a VMM
   * (Hart.inlineVmmCall): set by the VMM's `bt` technique, whose
   * deprivileged guest kernels would otherwise trap on each of them.
   */
  inlineVmmCalls = false;
  readonly stats: JitStats = {
    translations: 0, blocksTranslated: 0, instructionsTranslated: 0, translateMs: 0,
    cacheHits: 0, cacheMisses: 0, rejected: 0, invalidations: 0, batches: 0, chains: 0, executedTranslated: 0,
    codeBytes: 0, codegenMs: 0, backgroundBatches: 0, backgroundMs: 0, staleRegions: 0, tierUps: 0,
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
  private background = false;
  private eager = true;
  private inlineMemory: InlineMemory = DEFAULT_INLINE_MEMORY;
  private deferInstall = false;
  private tierUpAt = DEFAULT_TIER_UP;
  private tierUpEvery = TIER_UP_EVERY;
  /** Region entries through lookup() left before the next look for pages to tier up. */
  private tierUpCountdown = TIER_UP_EVERY;
  /** Batches being compiled on the compile worker, by job id, with when they started. */
  private readonly compiling = new Map<number, { plan: PlannedRegion[]; resets: number; t0: number }>();
  private worker: CompileWorker | null = null;
  /** Counts arrivals at untranslated code, to look for compiled batches every so often. */
  private tick = 0;
  /** Pages with a region in a batch being compiled: each is in one at a time, so its regions install in order. */
  private readonly compilingPages = new Set<DecodedPage>();
  /** Bumped by dropAll(): a batch planned before it is never installed. */
  private resets = 0;
  /** The heat array and slot of the last arrival counted, which the interpreter's instructions from there add to (see credit()). */
  private lastHeat: Int32Array | undefined = undefined;
  private lastSlot = 0;

  constructor(private readonly ram: GuestRam, private readonly cache: DecodeCache, readonly threshold = DEFAULT_THRESHOLD, options: JitOptions = {}) {
    this.env = {
      u8: ram.u8, u16: ram.u16, i32: ram.i32, dirty: ram.dirty.bits, codePages: ram.codePages, ram, r64,
      int64: { mul64, mulh64, mulhsu64, mulhu64, div64, divu64, rem64, remu64 },
      shifts: { sll: shl, srl: shr, sra: sar },
    };
    this.flushArrivals = Math.min(threshold, DEFAULT_FLUSH_ARRIVALS);
    this.configure(options);
    cache.onInvalidate((index) => this.pageDropped(index));
  }

  /** Changes the batching of the WebAssembly back end (for tests and tuning; options left out keep their value). */
  configure(options: JitOptions): void {
    this.batch = Math.max(1, options.batch ?? this.batch);
    this.flushArrivals = Math.max(1, options.flushArrivals ?? this.flushArrivals);
    this.maxRegions = Math.max(this.batch * 4, options.maxRegions ?? this.maxRegions);
    this.background = options.background ?? this.background;
    this.eager = options.eager ?? this.eager;
    this.inlineMemory = options.inlineMemory ?? this.inlineMemory;
    this.deferInstall = options.deferInstall ?? this.deferInstall;
    this.tierUpAt = Math.max(0, options.tierUpAt ?? this.tierUpAt);
    this.tierUpEvery = Math.max(1, options.tierUpEvery ?? this.tierUpEvery);
    this.tierUpCountdown = Math.min(this.tierUpCountdown, this.tierUpEvery);
    if (this.wasm !== undefined) eagerWasmCompilation(this.background && this.eager);
    if (this.wasm !== undefined && this.background) this.worker ??= CompileWorker.get();
  }

  /** Resolves once no batch is being compiled in the background (for tests and tools). */
  async settle(): Promise<void> {
    this.deferInstall = false;
    for (;;) {
      this.collect();
      if (this.compiling.size === 0) return;
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  }

  /** True while a batch is being compiled in the background. */
  get busy(): boolean {
    return this.compiling.size > 0;
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
    if (memory === undefined || !inside(ram.dirty.bits) || !inside(ram.codePages) || !inside(ram.codeSpan) ||
      !harts.every((h) => inside(h.xl) && inside(h.xh) && inside(h.mmu.entryWords))) return this.backend;
    const scratch = ram.hostArray(Int32Array, SCRATCH_WORDS);
    const words = ram.hostArray(Int32Array, 2 << ENTRY_BITS);
    const counts = ram.hostArray(Int32Array, COUNT_SLOTS);
    if (!inside(scratch) || !inside(words) || !inside(counts)) return this.backend;
    const entries = new EntryTable(words, ENTRY_BITS);
    this.entryTable = entries;
    this.wasm = new WasmBackend({
      ram, scratch, counts,
      layout: {
        memory, scratch: scratch.byteOffset, dirty: ram.dirty.bits.byteOffset, codePages: ram.codePages.byteOffset,
        codeSpan: ram.codeSpan.byteOffset,
        entries: entries.byteOffset, entryBits: ENTRY_BITS, counts: counts.byteOffset, countSlots: COUNT_SLOTS,
      },
    }, this.current, this.epoch, this.counters);
    // After the runtime module (its dispatcher and shared accesses tier up at V8's default): for the batches.
    if (!tieringBudgetSet) {
      tieringBudgetSet = true;
      setFlagsFromString(`--wasm-tiering-budget=${WASM_TIERING_BUDGET}`);
      // Regions mark their slow paths' branches unlikely (see wasm.ts): V8 11 reads the hints behind this flag.
      // int 1 520-1 630 against 1 461-1 581 MIPS and branch 1 648-1 861 against 1 531-1 735 (second and third runs
      // in one process); the Linux boot measured the same.
      setFlagsFromString('--experimental-wasm-branch-hinting');
    }
    this.configure({});
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
    // Every so often, recompile pages whose regions have run long (this may replace the region found here).
    // Each look visits every translated page, so looks get rarer as pages get more numerous.
    if (--this.tierUpCountdown <= 0 && this.tierUpAt > 0 && this.wasm !== undefined) {
      this.tierUpCountdown = Math.max(this.tierUpEvery, this.pages.size);
      this.tierUp();
    }
    const fn = translated(page, off);
    // (Translated code runs from here: the last arrival is credited nothing more.)
    if (fn !== undefined) { this.stats.cacheHits++; this.lastHeat = undefined; return fn; }
    return this.arrive(page, off);
  }

  /**
   * Recompiles, synchronously, each page whose regions have executed {@link
   * JitOptions.tierUpAt} instructions as one region from all of its entry
   * points, with every memory access inlined (whatever {@link
   * JitOptions.inlineMemory} says): its hot code, reached from several
   * entry points, then runs as one function instead of chaining between
   * regions (branch: 1 363 against 1 127 MIPS without it).
   */
  private tierUp(): void {
    const wasm = this.wasm as WasmBackend;
    const hot: PlannedRegion[] = [];
    for (const regions of this.pages.values()) {
      if (regions.inline) continue;
      let executed = 0;
      for (const index of regions.indices) executed += wasm.executedBy(index);
      if (executed < this.tierUpAt) continue;
      const { page } = regions;
      const pj = page.jit;
      if (pj === undefined || pj.roots.length === 0 || this.compilingPages.has(page)) continue;
      const blocks = discoverRegion(this.cache, page, pj.roots, this.inlineVmmCalls);
      if (blocks.length === 0) continue;
      hot.push({ page, pj, gen: page.gen, blocks, union: true, inline: true, roots: [] });
      regions.inline = true; // not again, even if it does not get installed
    }
    if (hot.length === 0) return;
    if (wasm.tableUsed + hot.length > this.maxRegions) return;
    const t0 = performance.now();
    const bytes = wasm.assemble(hot.map((r) => r.blocks), 'all');
    this.stats.codeBytes += bytes.length;
    this.installBatch(new WebAssembly.Module(bytes), hot, this.resets);
    this.stats.tierUps += hot.length;
    this.stats.translateMs += performance.now() - t0;
  }

  /**
   * For the interpreter, at a pc it reached by a jump: true when translated
   * code exists there (counting the arrival, and translating when hot), so
   * it should hand over to the dispatcher.
   */
  enterable(page: DecodedPage, off: number, ran: number): boolean {
    this.credit(ran);
    return translated(page, off) !== undefined || this.arrive(page, off) !== undefined;
  }

  /**
   * For the interpreter: it ran `ran` instructions since the last arrival
   * it counted (the arrival's own instruction among them), which add to
   * that entry point's heat. An entry heats up by the instructions run
   * from it, not by the jumps that reach it: a long straight-line function
   * (the boot's unrolled hash rounds: 1 100 instructions a call, 5 400
   * calls) gets hot as soon as a loop of the same work would.
   */
  credit(ran: number): void {
    const heat = this.lastHeat;
    if (heat === undefined) return;
    this.lastHeat = undefined;
    const h = heat[this.lastSlot];
    if (h < PENDING && ran > 1) heat[this.lastSlot] = Math.min(h + ran - 1, PENDING - 1);
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
   * Counts an arrival at untranslated code (its first instruction: the
   * interpreter credits the others, see credit()). When it gets hot: the JavaScript
   * back end translates it at once; the WebAssembly back end queues its page
   * for the next batch, since compiling and instantiating a module costs
   * about as much for one region as for a dozen.
   */
  private arrive(page: DecodedPage, off: number): RegionFn | undefined {
    let pj = page.jit;
    if (pj === undefined) {
      if (page.ramOffset < 0) return undefined; // code outside RAM (the boot ROM) is never translated
      pj = page.jit = { heat: new Int32Array(SLOTS), entries: undefined, roots: [] };
    }
    const slot = off >>> 1;
    this.stats.cacheMisses++;
    this.lastHeat = undefined;
    if (this.compiling.size > 0 && !this.deferInstall && ((++this.tick & 63) === 0 || pj.heat[slot] === PENDING)) {
      // Install what the worker has compiled (this entry may be among it).
      this.collect();
      const fn = translated(page, off);
      if (fn !== undefined) return fn;
    }
    const heat = pj.heat[slot];
    if (heat >= PENDING) {
      if (heat === UNTRANSLATABLE || ++this.pendingArrivals < this.flushArrivals) return undefined;
      this.translateQueued();
      return translated(page, off);
    }
    // (A threshold past PENDING never translates: the heat stops short of that mark.)
    if (heat + 1 < this.threshold) {
      pj.heat[slot] = Math.min(heat + 1, PENDING - 1);
      this.lastHeat = pj.heat;
      this.lastSlot = slot;
      return undefined;
    }
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
    const union = pj.roots.length < JS_MAX_UNION_ROOTS;
    const blocks = discoverRegion(this.cache, page, union ? [...pj.roots, off] : [off], this.inlineVmmCalls);
    if (!blocks.some((b) => b.start === off)) {
      // The entry itself starts with an untranslatable instruction (or did not fit).
      pj.heat[slot] = UNTRANSLATABLE;
      this.stats.rejected++;
      return undefined;
    }
    const fn = (new Function('env', 'dp', generateRegion(blocks)) as RegionFactory)(this.env, page);
    this.install({ page, pj, gen: page.gen, blocks, union: union || pj.entries === undefined, roots: [off] }, fn, -1);
    this.stats.translations++;
    this.stats.translateMs += performance.now() - t0;
    return fn;
  }

  /**
   * The WebAssembly back end: compiles the regions of every queued page into
   * one module — synchronously, or in the background, in which case the
   * queued entry points stay with the interpreter until the module arrives.
   */
  private translateQueued(): void {
    if (this.compiling.size >= MAX_COMPILING) return; // the next batch starts when one has arrived
    const wasm = this.wasm as WasmBackend;
    const t0 = performance.now();
    // A page whose regions are compiling stays queued for a later batch.
    const queued = [...this.queue.values()].filter((q) => !this.compilingPages.has(q.page));
    for (const q of queued) this.queue.delete(q.page);
    this.pendingArrivals = 0;
    if (wasm.tableUsed + 2 * queued.length > this.maxRegions) this.dropAll();
    const plan: PlannedRegion[] = [];
    for (const q of queued) {
      const { page, pj } = q;
      if (page.jit !== pj || page.gen !== q.gen) continue; // dropped meanwhile
      // A page's first regions come from every entry point queued so far; entry points that get hot later get
      // a region of their own (those of a batch together), and tierUp() joins them all once the page runs long.
      // Re-translating the whole page for each new entry point instead cost more than it saved: Linux to init
      // 1.65 s against 1.41 s (medians of five).
      const union = pj.entries === undefined;
      // On a page tierUp() has recompiled, code that gets hot later is inlined from the start.
      const inline = this.pages.get(page.ramOffset >>> 12)?.inline === true;
      const blocks = discoverRegion(this.cache, page, union ? [...pj.roots, ...q.roots] : q.roots, this.inlineVmmCalls);
      const starts = new Set(blocks.map((b) => b.start));
      if (blocks.length > 0) plan.push({ page, pj, gen: q.gen, blocks, union, inline, roots: q.roots.filter((r) => starts.has(r)) });
      for (const r of q.roots) {
        if (starts.has(r)) continue;
        // Not in the page's region: it starts with an untranslatable instruction, or did not fit.
        const own = discoverRegion(this.cache, page, [r], this.inlineVmmCalls);
        if (own.length === 0 || own[0].start !== r) {
          pj.heat[r >>> 1] = UNTRANSLATABLE;
          this.stats.rejected++;
        } else {
          plan.push({ page, pj, gen: q.gen, blocks: own, union: false, inline, roots: [r] });
        }
      }
    }
    if (plan.length > 0) {
      const t1 = performance.now();
      const bytes = wasm.assemble(plan.map((r) => r.blocks), plan.map((r) => (r.inline === true ? 'all' : this.inlineMemory)));
      this.stats.codegenMs += performance.now() - t1;
      this.stats.codeBytes += bytes.length;
      if (this.background && this.worker !== null) {
        for (const r of plan) this.compilingPages.add(r.page);
        this.compiling.set(this.worker.submit(bytes), { plan, resets: this.resets, t0 });
      } else {
        this.installBatch(new WebAssembly.Module(bytes), plan, this.resets);
      }
    }
    this.stats.translateMs += performance.now() - t0;
  }

  /** Installs every batch the compile worker has finished; then starts the next one if it is due. */
  private collect(): void {
    const worker = this.worker as CompileWorker;
    let arrived = false;
    for (const [id, job] of this.compiling) {
      const r = worker.take(id);
      if (r === undefined) continue;
      this.compiling.delete(id);
      for (const p of job.plan) this.compilingPages.delete(p.page);
      if ('error' in r) throw new Error(`JIT: the WebAssembly of a batch does not compile: ${r.error}`);
      const t0 = performance.now();
      this.stats.backgroundBatches++;
      this.stats.backgroundMs += t0 - job.t0;
      this.installBatch(r.module, job.plan, job.resets);
      this.stats.translateMs += performance.now() - t0;
      arrived = true;
    }
    // Pages queued meanwhile go next, if they would have started a batch already.
    if (arrived && (this.queue.size >= this.batch || (this.queue.size > 0 && this.pendingArrivals >= this.flushArrivals))) this.translateQueued();
  }

  /**
   * Installs the regions of a compiled batch whose page is still what it was
   * when they were made: a page dropped (its code written, or the cache
   * emptied) while the batch compiled has a new generation, and all
   * translations are dropped by dropAll(). The others' entry points go
   * back to counting arrivals.
   */
  private installBatch(module: WebAssembly.Module, plan: PlannedRegion[], resets: number): void {
    const wasm = this.wasm as WasmBackend;
    const live: Array<{ k: number; ramOffset: number }> = [];
    plan.forEach((r, k) => {
      const current = r.page.jit === r.pj && r.page.gen === r.gen && resets === this.resets &&
        (r.union || r.pj.entries !== undefined);
      if (current) { live.push({ k, ramOffset: r.page.ramOffset }); return; }
      this.stats.staleRegions++;
      if (r.page.jit === r.pj) for (const off of r.roots) r.pj.heat[off >>> 1] = Math.min(this.threshold, PENDING) - 1;
    });
    if (live.length === 0) return;
    const regions = wasm.instantiate(module, live);
    live.forEach((l, j) => this.install(plan[l.k], regions[j].fn, regions[j].index));
    this.stats.batches++;
    this.stats.translations += live.length;
  }

  /** Makes region `fn` (at function-table index `index`, -1 for JavaScript) the translation of its blocks. */
  private install(r: PlannedRegion, fn: RegionFn, index: number): void {
    const { page, pj, blocks } = r;
    const slots = page.ramOffset >>> 12;
    let regions = this.pages.get(slots);
    if (index >= 0 && regions === undefined) {
      regions = { page, keys: [], indices: [], inline: false };
      this.pages.set(slots, regions);
    }
    if (r.union) {
      // Everything the page had is superseded: the entries array is replaced.
      if (regions !== undefined) { this.forget(regions); regions.inline = r.inline === true; }
      const entries = new Array<RegionFn | undefined>(SLOTS);
      for (const b of blocks) entries[b.start >>> 1] = fn;
      pj.entries = entries;
    } else {
      const entries = pj.entries as Array<RegionFn | undefined>;
      for (const b of blocks) entries[b.start >>> 1] ??= fn;
      for (const off of r.roots) entries[off >>> 1] = fn;
    }
    pj.roots.push(...r.roots);
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
    this.resets++;
    for (const regions of this.pages.values()) {
      const pj = regions.page.jit;
      if (pj !== undefined) { pj.entries = undefined; pj.roots = []; }
    }
    this.pages.clear();
    this.entryTable?.clear();
    this.wasm?.reset();
  }
}
