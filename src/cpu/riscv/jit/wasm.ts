/**
 * The WebAssembly back end of the binary translator: a region (the blocks of
 * one page, see `translator.ts`) becomes one WebAssembly function.
 *
 * WebAssembly has 64-bit integers, so a guest register is one `i64` local
 * (the JavaScript back end splits each into two int32 halves), and V8
 * compiles a module at once to machine code (Liftoff, then TurboFan for hot
 * functions) instead of interpreting new code until it is hot. Guest RAM,
 * the hart's registers and TLB and the dirty/code page bitmaps all live in
 * the one WebAssembly memory that backs guest RAM (`GuestRam.wasmMemory`),
 * so loads, stores and TLB lookups are direct memory accesses.
 *
 * The function's shape is the JavaScript back end's: a loop around a
 * dispatch (`br_table` over the page's 2-byte slots) into nested blocks, one
 * per guest block; a jump to a block of the region continues the loop, any
 * other target leaves. Integer work, loads and stores that hit the TLB on
 * RAM, and the common cases of FP arithmetic (see "floating point" below)
 * run in WebAssembly; everything else — slow-path loads and stores (TLB
 * miss, MMIO, misaligned), the rest of FP, atomics, a store over cached
 * code — calls back into JavaScript, which is exact by construction: it is
 * the interpreter's code.
 *
 * Code size matters as much as code speed here (V8 validates and compiles
 * every byte, and a region runs only a few dozen instructions per entry), so
 * every exit is a branch to one of two shared exit blocks at the end of the
 * function — "leave for pc = page + offset" (the offset is the branch's
 * value) and "a helper left" (the helper set the pc, the exit kind and the
 * instruction count itself) — and the slow paths are small functions shared
 * by the module. Registers are loaded once on entry and only those the
 * region writes are stored back, once, on the way out.
 */
import { Op, X_SINK } from '../decode.js';
import type { RegionFn } from '../decode-cache.js';
import type { Hart } from '../hart.js';
import type { GuestRam } from '../../../memory/guest-memory.js';
import { r64 } from '../int64.js';
import { directJump, endsBlock, fpIntOperands, registersUsed, type Block } from './translator.js';
import { EMPTY_KEY, ENTRY_HASH_MULTIPLIER } from './entry-table.js';
import { HART_FP_OFFSET } from '../hart.js';
import { FP_FAST, FpFast } from '../fpu.js';
import { ENTRY_RAM_OFFSET, ENTRY_WORDS, TLB_MASK } from '../mmu.js';
import { GrowableBytes } from '../../../memory/growable-bytes.js';

/** log2 of the bytes of a TLB entry in Mmu.entryWords. */
const ENTRY_SHIFT = Math.log2(4 * ENTRY_WORDS);

// ---- encoding (WebAssembly core spec, binary format) ----

const I32 = 0x7f, I64 = 0x7e;

/** A growing byte buffer with the LEB128 writers of the binary format. */
class ByteWriter extends GrowableBytes {
  constructor(capacity = 1 << 14) {
    super(capacity);
  }

  byte(b: number): void {
    if (this.len === this.bytes.length) this.reserve(1);
    this.bytes[this.len++] = b;
  }

  byte2(a: number, b: number): void {
    if (this.len + 2 > this.bytes.length) this.reserve(2);
    this.bytes[this.len++] = a;
    this.bytes[this.len++] = b;
  }

  uleb(v: number): void {
    if (v < 0x80) { this.byte(v); return; }
    do {
      let b = v & 0x7f;
      v = Math.floor(v / 128);
      if (v !== 0) b |= 0x80;
      this.byte(b);
    } while (v !== 0);
  }

  /** A signed LEB128; v is an integer within ±2^53 or -2^63 (exact in a double). */
  sleb(v: number): void {
    if (v >= -64 && v < 64) { this.byte(v & 0x7f); return; }
    for (;;) {
      const b = v & 0x7f;
      v = Math.floor(v / 128);
      if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) { this.byte(b); return; }
      this.byte(b | 0x80);
    }
  }

  /** Reserves a 5-byte (padded) uleb32 to be filled in by {@link patchLeb}; returns its position. */
  reserveLeb(): number {
    const at = this.len;
    this.put(PAD_LEB);
    return at;
  }

  /** Writes `v` as the padded uleb32 reserved at `at`. */
  patchLeb(at: number, v: number): void {
    for (let k = 0; k < 4; k++) { this.bytes[at + k] = (v & 0x7f) | 0x80; v >>>= 7; }
    this.bytes[at + 4] = v & 0x7f;
  }
}

const PAD_LEB = [0x80, 0x80, 0x80, 0x80, 0x00];

const F64_BITS = new Float64Array(1), F64_BYTES = new Uint8Array(F64_BITS.buffer);

/**
 * A branch hint (the branch hinting proposal's `metadata.code.branch_hint`
 * section): the `if` or `br_if` is unlikely (0) or likely (1) to be taken.
 * V8's optimizing compiler moves the unlikely side out of line and
 * allocates registers for the likely one, so a slow path's call (where every
 * live value has to be in memory) no longer costs the hot path spills.
 */
const UNLIKELY = 0, LIKELY = 1;

/** Emits function bodies with structured-control depth tracking. */
class Body extends ByteWriter {
  private depth = 0;
  private start = 0;
  /** The hinted branches of the body being written: pairs of (offset from the body's start, hint). */
  hints: number[] = [];
  /** Starts a new function body here (at its locals): hint offsets count from this position. */
  reset(): void { this.depth = 0; this.start = this.len; this.hints = []; }
  private hint(h: number | undefined): void { if (h !== undefined) this.hints.push(this.len - this.start, h); }
  op(a: number): this { this.byte(a); return this; }
  op2(a: number, b: number): this { this.byte2(a, b); return this; }
  i32(v: number): this { this.byte(0x41); this.sleb(v | 0); return this; }
  i64(v: number): this { this.byte(0x42); this.sleb(v); return this; }
  f64(v: number): this { this.byte(0x44); F64_BITS[0] = v; this.put(F64_BYTES); return this; }
  get(l: number): this { return this.local(0x20, l); }
  set(l: number): this { return this.local(0x21, l); }
  tee(l: number): this { return this.local(0x22, l); }
  private local(opcode: number, l: number): this {
    if (l < 0x80) this.byte2(opcode, l);
    else { this.byte(opcode); this.uleb(l); }
    return this;
  }
  globalGet(g: number): this { this.byte2(0x23, g); return this; }
  globalSet(g: number): this { this.byte2(0x24, g); return this; }
  call(f: number): this { this.byte(0x10); this.uleb(f); return this; }
  /** Memory access `opcode` with a zero alignment hint and `offset`. */
  mem(opcode: number, offset = 0): this { this.byte2(opcode, 0); this.uleb(offset); return this; }
  block(type = 0x40): number { this.byte2(0x02, type); return ++this.depth; }
  loop(): number { this.byte2(0x03, 0x40); return ++this.depth; }
  if(hint?: number): number { this.hint(hint); this.byte2(0x04, 0x40); return ++this.depth; }
  /** An `if` whose arms leave one value of `type`. */
  ifTyped(type: number): number { this.byte2(0x04, type); return ++this.depth; }
  else(): this { this.byte(0x05); return this; }
  end(): this { this.byte(0x0b); this.depth--; return this; }
  /** Branches to the label opened at absolute depth `label`. */
  br(label: number): this { this.byte(0x0c); this.uleb(this.depth - label); return this; }
  brIf(label: number, hint?: number): this { this.hint(hint); this.byte(0x0d); this.uleb(this.depth - label); return this; }
  brTable(labels: number[], dflt: number): this {
    this.byte(0x0e);
    this.uleb(labels.length);
    for (const l of labels) this.uleb(this.depth - l);
    this.uleb(this.depth - dflt);
    return this;
  }
}

// Opcodes used below.
const O = {
  i32load: 0x28, i64load: 0x29, f64load: 0x2b, i32load8u: 0x2d,
  i64load8s: 0x30, i64load8u: 0x31, i64load16s: 0x32, i64load16u: 0x33, i64load32s: 0x34, i64load32u: 0x35,
  i32store: 0x36, i64store: 0x37, i32store8: 0x3a, i64store8: 0x3c, i64store16: 0x3d, i64store32: 0x3e,
  i32eqz: 0x45, i32eq: 0x46, i32ne: 0x47, i32lts: 0x48, i32ges: 0x4e,
  i64eqz: 0x50, i64eq: 0x51, i64ne: 0x52, i64lts: 0x53, i64ltu: 0x54, i64ges: 0x59, i64geu: 0x5a,
  f64eq: 0x61,
  i32add: 0x6a, i32sub: 0x6b, i32mul: 0x6c, i32divs: 0x6d, i32divu: 0x6e, i32rems: 0x6f, i32remu: 0x70,
  i32and: 0x71, i32or: 0x72, i32xor: 0x73, i32shl: 0x74, i32shrs: 0x75, i32shru: 0x76,
  i64add: 0x7c, i64sub: 0x7d, i64mul: 0x7e, i64divs: 0x7f, i64divu: 0x80, i64rems: 0x81, i64remu: 0x82,
  i64and: 0x83, i64or: 0x84, i64xor: 0x85, i64shl: 0x86, i64shrs: 0x87, i64shru: 0x88,
  i32wrap: 0xa7, i64extends: 0xac, i64extendu: 0xad, f64converti64s: 0xb9, f64ne: 0x62, i32gts: 0x4a, i32ltu: 0x49, i32gtu: 0x4b,
  i64extend8s: 0xc2, i64extend16s: 0xc3, i64extend32s: 0xc4,
  select: 0x1b, drop: 0x1a, unreachable: 0x00, ret: 0x0f,
  // Floating point (IEEE 754 arithmetic, round to nearest, ties to even).
  f32load: 0x2a, f32store: 0x38, f64store: 0x39,
  f64lt: 0x63, f64gt: 0x64, f64le: 0x65, f64ge: 0x66,
  f32sqrt: 0x91, f32add: 0x92, f32sub: 0x93, f32mul: 0x94, f32div: 0x95,
  f64abs: 0x99, f64trunc: 0x9d, f64nearest: 0x9e, f64sqrt: 0x9f, f64add: 0xa0, f64sub: 0xa1, f64mul: 0xa2, f64div: 0xa3,
  f64min: 0xa4, f64max: 0xa5,
  i32truncf64s: 0xaa, i64truncf64s: 0xb0, i64truncf64u: 0xb1,
  f32converti32s: 0xb2, f32converti32u: 0xb3, f32converti64s: 0xb4, f32converti64u: 0xb5, f32demote: 0xb6,
  f64converti32s: 0xb7, f64converti32u: 0xb8, f64converti64u: 0xba, f64promote: 0xbb, i64reinterpretf64: 0xbd, f64reinterpreti64: 0xbf,
  f64neg: 0x9a,
} as const;
const F32 = 0x7d, F64 = 0x7c;

/** By operation: the wasm opcode of an R-type or branch instruction (0: none). */
const OPCODE = new Uint8Array(Op.COUNT);
/** By operation: the inline load/store opcode, and the access size in bytes. */
const MEM_OPCODE = new Uint8Array(Op.COUNT);
const MEM_SIZE = new Uint8Array(Op.COUNT);
/** By load operation: its kind for the slow path's extension (see LOAD_SIZE). */
const LOAD_KIND = new Uint8Array(Op.COUNT);
/** By load kind (LB, LH, LW, LD, LBU, LHU, LWU): size, and the inline load's opcode. */
const LOAD_SIZE = [1, 2, 4, 8, 1, 2, 4];
const LOAD_OPCODE = [0x30, 0x32, 0x34, 0x29, 0x31, 0x33, 0x35];
(() => {
  const set = (t: Uint8Array, pairs: Array<[number, number]>): void => { for (const [k, v] of pairs) t[k] = v; };
  set(OPCODE, [[Op.BEQ, O.i64eq], [Op.BNE, O.i64ne], [Op.BLT, O.i64lts], [Op.BGE, O.i64ges], [Op.BLTU, O.i64ltu], [Op.BGEU, O.i64geu],
    [Op.ADD, O.i64add], [Op.SUB, O.i64sub], [Op.SLL, O.i64shl], [Op.SRL, O.i64shru], [Op.SRA, O.i64shrs],
    [Op.XOR, O.i64xor], [Op.OR, O.i64or], [Op.AND, O.i64and], [Op.MUL, O.i64mul],
    [Op.ADDW, O.i32add], [Op.SUBW, O.i32sub], [Op.SLLW, O.i32shl], [Op.SRLW, O.i32shru], [Op.SRAW, O.i32shrs], [Op.MULW, O.i32mul],
    [Op.ADDIW, O.i32add], [Op.SLLIW, O.i32shl], [Op.SRLIW, O.i32shru], [Op.SRAIW, O.i32shrs],
    [Op.XORI, O.i64xor], [Op.ORI, O.i64or], [Op.ANDI, O.i64and], [Op.SLLI, O.i64shl], [Op.SRLI, O.i64shru], [Op.SRAI, O.i64shrs],
    [Op.SLT, O.i64lts], [Op.SLTU, O.i64ltu], [Op.SLTI, O.i64lts], [Op.SLTIU, O.i64ltu]]);
  set(MEM_OPCODE, [[Op.LB, O.i64load8s], [Op.LBU, O.i64load8u], [Op.LH, O.i64load16s], [Op.LHU, O.i64load16u],
    [Op.LW, O.i64load32s], [Op.LWU, O.i64load32u], [Op.LD, O.i64load],
    [Op.SB, O.i64store8], [Op.SH, O.i64store16], [Op.SW, O.i64store32], [Op.SD, O.i64store]]);
  set(MEM_SIZE, [[Op.LB, 1], [Op.LBU, 1], [Op.LH, 2], [Op.LHU, 2], [Op.LW, 4], [Op.LWU, 4], [Op.LD, 8],
    [Op.SB, 1], [Op.SH, 2], [Op.SW, 4], [Op.SD, 8]]);
  set(LOAD_KIND, [[Op.LB, 0], [Op.LH, 1], [Op.LW, 2], [Op.LD, 3], [Op.LBU, 4], [Op.LHU, 5], [Op.LWU, 6]]);
})();

/**
 * What a helper call passes about its instruction, packed into one i32: the
 * page offset (bits 0–11), a 4-byte length (bit 12), the instruction's
 * count within its block (bits 13–19: what the region has executed when it
 * leaves after it), and a helper-specific field (bits 20 and up).
 */
function packSite(off: number, len: number, count: number, extra: number): number {
  return off | (len === 4 ? 4096 : 0) | (count << 13) | (extra << 20);
}
const siteOff = (p: number): number => p & 4095;
const siteLen = (p: number): number => (p & 4096) !== 0 ? 4 : 2;
const siteCount = (p: number): number => (p >>> 13) & 127;
const siteExtra = (p: number): number => p >>> 20;


/**
 * Functions of the runtime module (one instance per machine, see
 * {@link assembleRuntime}) that regions call, in their import order: the
 * slow paths of loads and stores (which split 64-bit values for the
 * JavaScript helpers and leave the helper's status in the status global),
 * the whole access of FP loads and stores, MULH, the whole access (TLB
 * lookup, RAM fast path, slow path) of each load kind and each store size,
 * the code-write check of a store to a page holding code, the fused
 * multiply-add of doubles, and the exactness check of FP results (xop).
 */
const RUNTIME_EXPORTS = ['ld', 'st', 'fls', 'mulh', 'l0', 'l1', 'l2', 'l3', 'l4', 'l5', 'l6', 's0', 's1', 's2', 's3', 'cw', 'fma', 'xop'];
/** Function indices in a batch module: its imports (JavaScript's, then the runtime's), then its regions. */
const F = { fp: 0, amo: 1, vmm: 2 } as const;
const runtimeImport = (e: string): number => 3 + RUNTIME_EXPORTS.indexOf(e);
const FS = {
  ld: runtimeImport('ld'), st: runtimeImport('st'), fls: runtimeImport('fls'), mulh: runtimeImport('mulh'),
  load: runtimeImport('l0'), store: runtimeImport('s0'), cw: runtimeImport('cw'), fma: runtimeImport('fma'), xop: runtimeImport('xop'),
} as const;
const FIRST_REGION = 3 + RUNTIME_EXPORTS.length;
/** A batch module's one (imported) global: the runtime's status of the last slow path (0, or the count to leave with). */
const G_STATUS = 0;

// Parameters of a region function: (p, lim, pv: i64, rtag, wtag, xl, xh) -> executed.
// rtag, wtag: byte offsets of the data-read and data-write TLB contexts' entries (Mmu.entryWords, 16 bytes an
// entry: the tag, then the RAM offset).
const P = { p: 0, lim: 1, pv: 2, rtag: 3, wtag: 4, xl: 5, xh: 6 } as const;
const PARAMS = 7;
const PARAM_TYPES = [I32, I32, I64, I32, I32, I32, I32];

/**
 * Scratch words (Int32 indices) shared by every region of a machine: a
 * helper's 64-bit result, the exit pc, the exit kind, the TLB hits of the
 * inline paths, the page the running region was entered on (for the
 * helpers' pc), and the number of chained transfers.
 */
const S_LO = 0, S_HI = 1, S_PCLO = 2, S_KIND = 4, S_HITS = 5, S_PV = 6, S_CHAINS = 8;
/** Int32 words of the scratch area. */
export const SCRATCH_WORDS = 16;
/**
 * Exit kinds: the pc to continue at is in the scratch area (EXIT_PC, which
 * the chaining dispatcher may follow; EXIT_ASK, after a helper asked to
 * return to the hart: an interrupt to check, a stop, or translations
 * dropped), or a helper set it (EXIT_SET: a trap).
 */
const EXIT_PC = 0, EXIT_SET = 1, EXIT_ASK = 2;

/** Where the shared, per-machine parts of the state area are. */
export interface WasmLayout {
  memory: WebAssembly.Memory;
  /** Byte offsets in the memory. */
  scratch: number;
  dirty: number;
  codePages: number;
  codeSpan: number;
  /** The {@link EntryTable} the chaining dispatcher looks targets up in: byte offset and log2 of its slots. */
  entries: number;
  entryBits: number;
  /**
   * Instructions executed by each region, by function-table index modulo
   * `countSlots` (a power of two): Int32 words at byte offset `counts`.
   */
  counts: number;
  countSlots: number;
}

/** The machine-wide pieces a region's imports and wrapper need. */
export interface WasmEnv {
  ram: GuestRam;
  layout: WasmLayout;
  /** {@link SCRATCH_WORDS} words in the WebAssembly memory at `layout.scratch`. */
  scratch: Int32Array;
  /** The {@link WasmLayout.counts} words. */
  counts: Int32Array;
}

const MIN64 = -9223372036854775808;

/** The operations the runtime's `xop` shows exact (see runtimeCode()); the singles' from mulS on. */
const XOP = { add: 0, sub: 1, mul: 2, div: 3, sqrt: 4, mulS: 5, divS: 6, sqrtS: 7 } as const;

/** xop's second argument: the operation and its source registers. */
const xopCode = (kind: number, rs1: number, rs2: number): number => kind | (rs1 << 3) | (rs2 << 8);

/**
 * Where a region's loads and stores inline their TLB lookup and RAM access
 * (about 100 bytes of code each) rather than call the runtime module's
 * shared access (about 15): nowhere, in blocks inside a loop on the page
 * (spanned by a backward branch of at most {@link LOOP_SPAN} bytes), or
 * everywhere.
 */
export type InlineMemory = 'none' | 'loops' | 'all';
const LOOP_SPAN = 256;

/** Generates one region function's locals and code into a module's code section. */
class WasmGen {
  /** Local of each register (0: none). */
  private readonly regLocal = new Int32Array(33);
  /** Registers the region writes (stored back on the way out). */
  private readonly written = new Uint8Array(33);
  private readonly regs: number[];
  private readonly va: number;
  private readonly t64: number;
  private readonly n: number;
  private readonly t: number;
  private readonly k: number;
  private readonly hits: number;
  private readonly fa: number;
  private readonly fb: number;
  private readonly sa: number;
  private readonly i64Locals: number;
  // Absolute depths of the loop and the exit blocks.
  private loopLabel = 0;
  private exitLabel = 0;
  /** Page offset of the block laid out after the one being generated (-1: none); see goto(). */
  private fallthrough = -1;
  /** Index of the block being generated, and the label that ends right before each block's code (by block start). */
  private current = 0;
  private readonly blockLabel = new Map<number, { index: number; label: number }>();
  /** Page offset and loop label of the block being generated when it branches to its own start (-1: it does not); see goto(). */
  private selfStart = -1;
  private selfLabel = 0;
  private helperLabel = 0;
  private helperKLabel = 0;

  /** True while generating a block whose loads and stores call the runtime's shared accesses. */
  private compact = true;
  /** Page offset ranges [from, to] spanned by a backward branch or jump: loops, where accesses are inlined. */
  private readonly loops: number[] = [];

  constructor(private readonly b: Body, private readonly blocks: Block[], private readonly layout: WasmLayout,
    private readonly inline: InlineMemory) {
    for (const bl of blocks) {
      const last = bl.insns[bl.insns.length - 1];
      if (directJump(last.op) && last.imm <= 0 && -last.imm <= LOOP_SPAN) this.loops.push(last.off + last.imm, last.off);
    }
    this.regs = registersUsed(blocks).regs;
    // i64 locals: va, t64, then the registers; i32 locals after them: n, t, k, hits; then f64 fa, fb and f32 sa.
    let next = PARAMS;
    this.va = next++;
    this.t64 = next++;
    for (const r of this.regs) this.regLocal[r] = next++;
    this.i64Locals = next - PARAMS;
    this.n = next++;
    this.t = next++;
    this.k = next++;
    this.hits = next++;
    this.fa = next++;
    this.fb = next++;
    this.sa = next++;
  }

  private getReg(r: number): void {
    if (r === 0 || r === X_SINK) this.b.i64(0);
    else this.b.get(this.regLocal[r]);
  }

  /** Stores the i64 on the stack to rd (drops it for x0). */
  private setReg(rd: number): void {
    if (rd === 0 || rd === X_SINK) this.b.op(O.drop);
    else { this.b.set(this.regLocal[rd]); this.written[rd] = 1; }
  }

  private syncToMemory(r: number): void {
    if (r === 0 || r === X_SINK) return;
    const l = this.regLocal[r];
    const b = this.b;
    b.get(P.xl).get(l).op(O.i32wrap).mem(O.i32store, 4 * r);
    b.get(P.xh).get(l).i64(32).op(O.i64shru).op(O.i32wrap).mem(O.i32store, 4 * r);
  }

  private loadFromMemory(r: number): void {
    if (r === 0 || r === X_SINK) return;
    const b = this.b;
    b.get(P.xl).mem(O.i64load32u, 4 * r);
    b.get(P.xh).mem(O.i64load32s, 4 * r).i64(32).op(O.i64shl).op(O.i64or);
    b.set(this.regLocal[r]);
  }

  /** n += k. */
  private count(k: number): void {
    this.b.get(this.n).i32(k).op(O.i32add).set(this.n);
  }

  /**
   * Continues at page offset `t`: in the region's dispatch when on the page,
   * else leaves. In tail position (the end of a block's code), a jump to the
   * block laid out next falls through into it instead, and a jump to a block
   * laid out further on branches straight to it (the label each block's code
   * follows encloses the code of every block before it): only jumps backward
   * in the layout go through the dispatch (and its budget check), so every
   * cycle still meets the check. A branch to a block's label is a direct jump
   * in the host's code, where the dispatch is an indirect one shared by every
   * block, which the host predicts less well.
   */
  private goto(t: number, tail = false): void {
    if (tail && t === this.fallthrough) return;
    const b = this.b;
    const target = this.blockLabel.get(t);
    if (target !== undefined && target.index > this.current) {
      b.br(target.label);
      return;
    }
    if (t === this.selfStart) {
      // A block's jump to its own start (a tight guest loop): a wasm loop of its own, with the budget check.
      b.get(this.n).get(P.lim).op(O.i32ges);
      b.if(UNLIKELY);
      b.i64(t).br(this.exitLabel);
      b.end();
      b.br(this.selfLabel);
      return;
    }
    if (t >= 0 && t < 4096) b.i32(t).set(P.p).br(this.loopLabel);
    else b.i64(t).br(this.exitLabel);
  }

  /** After a shared slow path: leave when it said so (its status global is the count to leave with). */
  private leaveIfHelperSaid(): void {
    this.b.globalGet(G_STATUS).brIf(this.helperLabel, UNLIKELY);
  }

  /** After an import call that left its status on the stack: leave when it is not 0. */
  private leaveIfImportSaid(): void {
    this.b.tee(this.k).brIf(this.helperKLabel, UNLIKELY);
  }

  /** Writes the function (its locals, then its code) at the end of the module being assembled. */
  generate(): void {
    const b = this.b;
    b.reset();
    b.uleb(4); b.uleb(this.i64Locals); b.byte(I64); b.uleb(4); b.byte(I32); b.uleb(2); b.byte(F64); b.uleb(1); b.byte(F32);
    const sc = this.layout.scratch;
    // Registers into locals; the TLB context for the module's shared accesses.
    for (const r of this.regs) this.loadFromMemory(r);
    this.loopLabel = b.loop();
    const out = b.block();
    this.helperLabel = b.block();
    this.helperKLabel = b.block();
    this.exitLabel = b.block(I64);
    // Budget check at every block boundary.
    b.get(this.n).get(P.lim).op(O.i32ges);
    b.if(UNLIKELY);
    b.get(P.p).op(O.i64extendu).br(this.exitLabel);
    b.end();
    const labels: number[] = [];
    for (let k = this.blocks.length - 1; k >= 0; k--) labels[k] = b.block();
    this.blocks.forEach((bl, k) => this.blockLabel.set(bl.start, { index: k, label: labels[k] }));
    const dflt = b.block();
    // The dispatch table covers the slots from the first block start to the last.
    let first = 4096, last = 0;
    for (const bl of this.blocks) { first = Math.min(first, bl.start >>> 1); last = Math.max(last, bl.start >>> 1); }
    const table: number[] = new Array<number>(last - first + 1).fill(dflt);
    this.blocks.forEach((bl, k) => { table[(bl.start >>> 1) - first] = labels[k]; });
    b.get(P.p).i32(1).op(O.i32shru);
    if (first !== 0) b.i32(first).op(O.i32sub);
    b.brTable(table, dflt);
    b.end(); // dflt: not a block of this region
    b.get(P.p).op(O.i64extendu).br(this.exitLabel);
    this.blocks.forEach((bl, index) => {
      b.end(); // the block's label: its code follows
      this.current = index;
      this.fallthrough = index + 1 < this.blocks.length ? this.blocks[index + 1].start : -1;
      const insns = bl.insns;
      const lastInsn = insns[insns.length - 1];
      const selfLoop = directJump(lastInsn.op) && lastInsn.off + lastInsn.imm === bl.start;
      if (selfLoop) { this.selfStart = bl.start; this.selfLabel = b.loop(); }
      this.compact = this.inline === 'none' || (this.inline === 'loops' && !this.inLoop(bl.start));
      for (let k = 0; k < insns.length; k++) this.insn(insns[k], k + 1, insns.length);
      if (!endsBlock(lastInsn.op)) {
        this.count(insns.length);
        this.goto(lastInsn.off + lastInsn.len, true);
      }
      if (selfLoop) {
        b.end();
        this.selfStart = -1;
        // The last block never falls out of its loop (it ends in jumps), but a validator sees the loop's end as
        // reachable, and the exit block after it expects a value.
        if (this.fallthrough === -1) b.op(0x00); // unreachable
      }
    });
    this.fallthrough = -1;
    b.end(); // exit: the next pc's offset from the page is on the stack
    b.get(P.pv).op(O.i64add).set(this.t64);
    b.i32(sc).get(this.t64).mem(O.i64store, 4 * S_PCLO);
    b.i32(sc).i32(EXIT_PC).mem(O.i32store, 4 * S_KIND);
    b.br(out);
    b.end(); // an import left: its count is in k
    b.get(this.k).globalSet(G_STATUS);
    b.end(); // a helper left: its count is in the status global (it set the pc and the exit kind)
    b.get(this.n).globalGet(G_STATUS).op(O.i32add).set(this.n);
    b.i32(0).globalSet(G_STATUS);
    b.end(); // out
    // Write back the registers the region writes; add up TLB hits; return the count.
    for (const r of this.regs) if (this.written[r] !== 0) this.syncToMemory(r);
    if (this.inline !== 'none') b.i32(sc).i32(sc).mem(O.i32load, 4 * S_HITS).get(this.hits).op(O.i32add).mem(O.i32store, 4 * S_HITS);
    b.get(this.n).op(O.ret);
    b.end(); // loop (never falls through)
    b.i32(0);
    b.byte(0x0b);
  }

  private insn(i: { off: number; op: number; rd: number; rs1: number; rs2: number; imm: number; len: number }, k: number, count: number): void {
    const b = this.b;
    const { op, rd, rs1, rs2, imm, off, len } = i;
    const next = off + len;
    const sink = rd === X_SINK || rd === 0;
    switch (op) {
      case Op.LUI: if (!sink) { b.i64(imm); this.setReg(rd); } return;
      case Op.AUIPC: if (!sink) { b.get(P.pv).i64(off + imm).op(O.i64add); this.setReg(rd); } return;
      case Op.JAL:
        if (!sink) { b.get(P.pv).i64(next).op(O.i64add); this.setReg(rd); }
        this.count(count);
        this.goto(off + imm, true);
        return;
      case Op.JALR:
        this.getReg(rs1); if (imm !== 0) b.i64(imm).op(O.i64add);
        b.i64(-2).op(O.i64and).set(this.va);
        if (!sink) { b.get(P.pv).i64(next).op(O.i64add); this.setReg(rd); }
        this.count(count);
        b.get(this.va).get(P.pv).op(O.i64sub).tee(this.t64).i64(4096).op(O.i64ltu);
        b.if();
        b.get(this.t64).op(O.i32wrap).set(P.p).br(this.loopLabel);
        b.end();
        b.get(this.t64).br(this.exitLabel);
        return;
      case Op.BEQ: case Op.BNE: case Op.BLT: case Op.BGE: case Op.BLTU: case Op.BGEU:
        this.count(count);
        this.getReg(rs1); this.getReg(rs2); b.op(OPCODE[op]);
        if (off + imm === this.fallthrough && next !== this.fallthrough) {
          // Taken falls through: branch away on the condition's inverse.
          b.op(O.i32eqz);
          b.if();
          this.goto(next);
          b.end();
          return;
        }
        b.if();
        this.goto(off + imm);
        b.end();
        this.goto(next, true);
        return;
      case Op.LB: case Op.LH: case Op.LW: case Op.LD: case Op.LBU: case Op.LHU: case Op.LWU:
        this.load(op, rd, rs1, imm, packSite(off, len, k, LOAD_KIND[op]));
        return;
      case Op.SB: case Op.SH: case Op.SW: case Op.SD:
        this.store(op, rs1, rs2, imm, packSite(off, len, k, 31 - Math.clz32(MEM_SIZE[op])));
        return;
      case Op.FLW: case Op.FLD: case Op.FSW: case Op.FSD:
        this.fpLoadStore(op, op === Op.FLW || op === Op.FLD ? rd : rs2, rs1, imm, off, len, k);
        return;
      case Op.ADDI:
        if (sink) return;
        this.getReg(rs1); if (imm !== 0) b.i64(imm).op(O.i64add);
        this.setReg(rd);
        return;
      case Op.SLTI: case Op.SLTIU:
        if (sink) return;
        this.getReg(rs1); b.i64(imm).op(OPCODE[op]).op(O.i64extendu);
        this.setReg(rd);
        return;
      case Op.XORI: case Op.ORI: case Op.ANDI:
        if (sink) return;
        this.getReg(rs1); b.i64(imm).op(OPCODE[op]);
        this.setReg(rd);
        return;
      case Op.SLLI: case Op.SRLI: case Op.SRAI:
        if (sink) return;
        this.getReg(rs1); b.i64(imm & 63).op(OPCODE[op]);
        this.setReg(rd);
        return;
      case Op.ADD: case Op.SUB: case Op.SLL: case Op.SRL: case Op.SRA: case Op.XOR: case Op.OR: case Op.AND: case Op.MUL:
        if (sink) return;
        this.getReg(rs1); this.getReg(rs2); b.op(OPCODE[op]);
        this.setReg(rd);
        return;
      case Op.SLT: case Op.SLTU:
        if (sink) return;
        this.getReg(rs1); this.getReg(rs2); b.op(OPCODE[op]).op(O.i64extendu);
        this.setReg(rd);
        return;
      case Op.ADDIW: case Op.SLLIW: case Op.SRLIW: case Op.SRAIW:
        if (sink) return;
        this.getReg(rs1); b.op(O.i32wrap).i32(imm).op(OPCODE[op]).op(O.i64extends);
        this.setReg(rd);
        return;
      case Op.ADDW: case Op.SUBW: case Op.SLLW: case Op.SRLW: case Op.SRAW: case Op.MULW:
        if (sink) return;
        this.getReg(rs1); b.op(O.i32wrap); this.getReg(rs2); b.op(O.i32wrap).op(OPCODE[op]).op(O.i64extends);
        this.setReg(rd);
        return;
      case Op.DIV: case Op.DIVU: case Op.REM: case Op.REMU:
        if (!sink) this.div64(op, rd, rs1, rs2);
        return;
      case Op.DIVW: case Op.DIVUW: case Op.REMW: case Op.REMUW:
        if (!sink) this.div32(op, rd, rs1, rs2);
        return;
      case Op.MULH: case Op.MULHSU: case Op.MULHU:
        if (sink) return;
        this.getReg(rs1); this.getReg(rs2); b.i32(op === Op.MULHU ? 0 : op === Op.MULHSU ? 1 : 3).call(FS.mulh);
        this.setReg(rd);
        return;
      case Op.FP: {
        const fast = this.fpFastPath(imm);
        let done = 0;
        if (fast !== undefined) {
          done = b.block();
          const slow = b.block();
          fast(slow);
          b.br(done);
          b.end();
        }
        // The FPU's JavaScript: every case, exact by construction.
        const io = fpIntOperands(imm);
        if (io.readsRs1) this.syncToMemory((imm >>> 15) & 31);
        b.i32(imm).i32(packSite(off, len, k, 0)).call(F.fp);
        this.leaveIfImportSaid();
        if (io.writesRd) {
          const r = (imm >>> 7) & 31;
          this.loadFromMemory(r);
          if (r !== 0) this.written[r] = 1;
        }
        if (done !== 0) b.end();
        return;
      }
      case Op.LR_W: case Op.SC_W: case Op.AMO_W: case Op.LR_D: case Op.SC_D: case Op.AMO_D:
        // rd too: a trap leaves it as it was, and it is reloaded whatever happened.
        this.syncToMemory(rs1); this.syncToMemory(rs2); this.syncToMemory(rd);
        b.i32(op).i32(rd).i32(rs1).i32(rs2).i32(imm).i32(packSite(off, len, k, 0)).call(F.amo).set(this.k);
        if (rd !== 0 && rd !== X_SINK) { this.loadFromMemory(rd); this.written[rd] = 1; }
        b.get(this.k).brIf(this.helperKLabel, UNLIKELY);
        return;
      case Op.FENCE: case Op.FENCE_I:
        return;
      case Op.CSRRW: case Op.CSRRS: case Op.CSRRC: case Op.CSRRWI: case Op.CSRRSI: case Op.CSRRCI:
      case Op.SRET: case Op.WFI: case Op.SFENCE_VMA: {
        // The inline VMM call (the last instruction of its block), which always leaves the region:
        // the registers it may read or write go through memory, and come back before leaving.
        this.syncToMemory(rd); this.syncToMemory(rs1);
        b.i32(packSite(off, len, k, 0)).call(F.vmm).set(this.k);
        this.loadFromMemory(rd); this.loadFromMemory(rs1);
        b.get(this.k).brIf(this.helperKLabel);
        return;
      }
      default:
        throw new Error(`wasm translator: operation ${op} is not translatable`);
    }
  }

  private inLoop(off: number): boolean {
    const loops = this.loops;
    for (let i = 0; i < loops.length; i += 2) if (off >= loops[i] && off <= loops[i + 1]) return true;
    return false;
  }

  /**
   * Computes t = the address of va's entry in the TLB context whose entries
   * are at `entries`, and leaves "hit" (i32) on the stack: va with its
   * in-page bits cleared but for those that must be 0 for an aligned access
   * equals the entry's page address (Mmu.entryWords, which holds one only for
   * entries on RAM) — one compare for the tag, the alignment and "is RAM".
   * The dispatcher passes each context's address, so the index needs no
   * context base added.
   */
  private tlb(entries: number, size: number): void {
    const b = this.b;
    // va's bits 12 and up, shifted into place for 16-byte entries.
    b.get(this.va).op(O.i32wrap).i32(12 - ENTRY_SHIFT).op(O.i32shru).i32(TLB_MASK << ENTRY_SHIFT).op(O.i32and);
    b.get(entries).op(O.i32add).tee(this.t).mem(O.i64load);
    b.get(this.va).i64(-4096 | (size - 1)).op(O.i64and).op(O.i64eq);
  }

  /** After a hit: pushes the RAM offset o = ro + (va & 4095) (i32; ro from the entry at t, at the same address as its tag). */
  private ramOffset(): void {
    this.b.get(this.t).mem(O.i32load, ENTRY_RAM_OFFSET).get(this.va).op(O.i32wrap).i32(4095).op(O.i32and).op(O.i32add);
  }

  private load(op: number, rd: number, rs1: number, imm: number, site: number): void {
    const b = this.b;
    this.getReg(rs1); if (imm !== 0) b.i64(imm).op(O.i64add);
    if (this.compact) {
      this.getReg(rd); b.i32(site).call(FS.load + LOAD_KIND[op]);
      this.setReg(rd);
      this.leaveIfHelperSaid();
      return;
    }
    b.set(this.va);
    this.tlb(P.rtag, MEM_SIZE[op]);
    b.if(LIKELY);
    b.get(this.hits).i32(1).op(O.i32add).set(this.hits);
    this.ramOffset(); b.mem(MEM_OPCODE[op]);
    this.setReg(rd);
    b.else();
    // The shared slow path returns rd's old value if the load trapped.
    b.get(this.va); this.getReg(rd); b.i32(site).call(FS.ld);
    this.setReg(rd);
    this.leaveIfHelperSaid();
    b.end();
  }

  private store(op: number, rs1: number, rs2: number, imm: number, site: number): void {
    const b = this.b;
    this.getReg(rs1); if (imm !== 0) b.i64(imm).op(O.i64add);
    if (this.compact) {
      this.getReg(rs2); b.i32(site).call(FS.store + 31 - Math.clz32(MEM_SIZE[op]));
      this.leaveIfHelperSaid();
      return;
    }
    b.set(this.va);
    this.tlb(P.wtag, MEM_SIZE[op]);
    b.if(LIKELY);
    b.get(this.hits).i32(1).op(O.i32add).set(this.hits);
    this.ramOffset(); b.tee(this.t); this.getReg(rs2); b.mem(MEM_OPCODE[op]);
    this.storeMarks(site);
    b.else();
    b.get(this.va); this.getReg(rs2); b.i32(site).call(FS.st);
    this.leaveIfHelperSaid();
    b.end();
  }

  /**
   * After an inline store at RAM offset t: marks its page dirty, and sends a
   * store to a page holding code through the code-write path (`site`'s extra
   * field: log2 of the size).
   */
  private storeMarks(site: number): void {
    const b = this.b;
    b.get(this.t).i32(12).op(O.i32shru).tee(this.k).i32(1).mem(O.i32store8, this.layout.dirty);
    b.get(this.k).mem(O.i32load8u, this.layout.codePages);
    b.if(UNLIKELY);
    b.get(this.t).i32(site).call(FS.cw);
    this.leaveIfImportSaid();
    b.end();
  }

  // ---- floating point ----
  //
  // FP registers and fcsr live in the hart's FP state (FpUnit), at HART_FP_OFFSET from its xl words,
  // and are read and written in memory by every instruction (no locals: the FPU's JavaScript, the slow
  // path, works on the same words; f64 locals measured no faster, TurboFan forwards the stores, and made
  // the code larger). An instruction's inline fast path runs only when FpUnit.jitFast says FP is enabled
  // and already Dirty (so mstatus needs no update) and, for anything that rounds, that the rounding mode is
  // RNE and NX already accrued: then WebAssembly's IEEE arithmetic (round to nearest, ties to even) gives
  // the result, and a check of the result (finite, and for products, quotients and roots clear of the
  // subnormal range, where tininess would raise UF) rules out every other flag. Before NX accrues, the
  // arithmetic's results are written only once the runtime's xop shows them exact (code that computes
  // only exact results, say on whole numbers, never accrues it). Fused multiply-adds of doubles call the
  // runtime's emulation (see fmaFastPath). Anything else — NaNs, infinities, zeros and subnormals where
  // they matter, other rounding modes, inexact results before NX, single-precision fused multiply-add,
  // FCLASS — goes to the FPU's JavaScript.

  /** Leaves for `slow` unless FpUnit.jitFast has every bit of `need`; with `keep`, leaves jitFast in local k. */
  private fpNeed(need: number, slow: number, keep = false): void {
    const b = this.b;
    b.get(P.xl).mem(O.i32load, HART_FP_OFFSET + FP_FAST);
    if (keep) b.tee(this.k);
    if (need === FpFast.READY) b.i32(need).op(O.i32and).op(O.i32eqz);
    else b.i32(need).op(O.i32and).i32(need).op(O.i32ne);
    b.brIf(slow, UNLIKELY);
  }

  /** Pushes FP register r as a double. */
  private freg(r: number): void {
    this.b.get(P.xl).mem(O.f64load, HART_FP_OFFSET + 8 * r);
  }

  /** Leaves for `slow` unless FP register r holds a NaN-boxed single; then pushes it. */
  private fregS(r: number, slow: number): void {
    const b = this.b;
    b.get(P.xl).mem(O.i32load, HART_FP_OFFSET + 8 * r + 4).i32(-1).op(O.i32ne).brIf(slow, UNLIKELY);
    b.get(P.xl).mem(O.f32load, HART_FP_OFFSET + 8 * r);
  }

  /** FP register rd = local `l` (a double). */
  private setFreg(rd: number, l: number): void {
    this.b.get(P.xl).get(l).mem(O.f64store, HART_FP_OFFSET + 8 * rd);
  }

  /** FP register rd = local `l` (a single), NaN-boxed. */
  private setFregS(rd: number, l: number): void {
    const b = this.b;
    b.get(P.xl).get(l).mem(O.f32store, HART_FP_OFFSET + 8 * rd);
    b.get(P.xl).i32(-1).mem(O.i32store, HART_FP_OFFSET + 8 * rd + 4);
  }

  /**
   * Leaves for `slow` unless local `l` (f64, or f32 when `single`) is finite
   * and, when `normal`, of magnitude above the smallest normal number of its
   * format: a correctly rounded result there is not tiny (tininess is
   * detected after rounding) and did not overflow. Uses fb.
   *
   * With `normal` and `xop` (see xopCode), a zero result stays on the fast
   * path when the runtime's xop finds it exact (an operand makes it so: 0 * x,
   * 0 / x, x / inf, the root of a zero): exact results raise no flag (IEEE
   * 754-2019 §7.5, §7.6). Another zero is an underflow, which the FPU's
   * JavaScript flags. Before, every product with a zero factor went to
   * JavaScript: a 64x64 matrix product with three zeros in four took 48-57 ms
   * against 19-21 ms now.
   */
  private fpCheck(l: number, single: boolean, normal: boolean, slow: number, xop?: number): void {
    const b = this.b;
    b.get(l);
    if (single) b.op(O.f64promote);
    b.op(O.f64abs);
    if (normal) b.tee(this.fb).f64(single ? 2 ** -126 : 2 ** -1022).op(O.f64gt).get(this.fb);
    b.f64(Infinity).op(O.f64lt);
    if (!normal) { b.op(O.i32eqz).brIf(slow, UNLIKELY); return; }
    b.op(O.i32and).op(O.i32eqz);
    if (xop === undefined) { b.brIf(slow, UNLIKELY); return; }
    b.if(UNLIKELY);
    b.get(this.fb).op(O.i64reinterpretf64).op(O.i64eqz).op(O.i32eqz).brIf(slow); // fb = |l|: a zero only with no bit set
    this.exactOrSlow(l, single, xop, slow);
    b.end();
  }

  /** Leaves for `slow` unless the runtime's xop shows local `l` the exact result of operation `xop` (see xopCode). */
  private exactOrSlow(l: number, single: boolean, xop: number, slow: number): void {
    this.b.get(l);
    if (single) this.b.op(O.f64promote);
    this.b.i32(xop).call(FS.xop).op(O.i32eqz).brIf(slow);
  }

  /** Leaves for `slow` when fa or fb is a NaN. */
  private notNaN(slow: number): void {
    this.b.get(this.fa).get(this.fa).op(O.f64eq).get(this.fb).get(this.fb).op(O.f64eq).op(O.i32and).op(O.i32eqz).brIf(slow);
  }

  /**
   * The inline fast path of OP-FP instruction `raw`, as a function emitting it
   * (it branches to `slow` for the FPU's JavaScript), or undefined when
   * there is none.
   */
  private fpFastPath(raw: number): ((slow: number) => void) | undefined {
    const b = this.b;
    if ((raw & 0x7f) !== 0x53) return this.fmaFastPath(raw);
    const rd = (raw >>> 7) & 31, rm = (raw >>> 12) & 7, rs1 = (raw >>> 15) & 31, rs2 = (raw >>> 20) & 31;
    const funct7 = raw >>> 25, double = (funct7 & 1) !== 0;
    const ROUND = FpFast.READY | FpFast.RNE_NX;
    // An operation that may round: RNE, statically or dynamically. An exact one: any valid rm (a dynamic one is
    // valid when frm is, which RNE implies).
    const rne = rm === 0 || rm === 7;
    const exact = rm === 7 ? FpFast.READY | FpFast.RNE : rm <= 4 ? FpFast.READY : 0;
    // Operands into fa (and fb), as doubles (a single is exact as one).
    const operands = (slow: number, two: boolean): void => {
      if (double) { this.freg(rs1); b.set(this.fa); if (two) { this.freg(rs2); b.set(this.fb); } return; }
      this.fregS(rs1, slow); b.op(O.f64promote).set(this.fa);
      if (two) { this.fregS(rs2, slow); b.op(O.f64promote).set(this.fb); }
    };
    switch (funct7) {
      case 0x00: case 0x04: case 0x08: case 0x0c: case 0x01: case 0x05: case 0x09: case 0x0d: case 0x2c: case 0x2d: {
        // FADD, FSUB, FMUL, FDIV, FSQRT
        const sqrt = funct7 >= 0x2c;
        if (!rne || (sqrt && rs2 !== 0)) return undefined;
        const k = sqrt ? 4 : funct7 >>> 2;
        // With fflags.NX clear, a result is written as is once the runtime's xop shows it exact (the rest: the
        // FPU's JavaScript, which sets NX, after which no operation asks). Singles' sums always wait for NX.
        const kind = double ? [XOP.add, XOP.sub, XOP.mul, XOP.div, XOP.sqrt][k] : [-1, -1, XOP.mulS, XOP.divS, XOP.sqrtS][k];
        const xop = kind < 0 ? undefined : xopCode(kind, rs1, rs2);
        return (slow) => {
          this.fpNeed(xop === undefined ? ROUND : FpFast.READY | FpFast.RNE, slow, true);
          const l = double ? this.fa : this.sa;
          if (double) { this.freg(rs1); if (!sqrt) this.freg(rs2); } else { this.fregS(rs1, slow); if (!sqrt) this.fregS(rs2, slow); }
          b.op((double ? [O.f64add, O.f64sub, O.f64mul, O.f64div, O.f64sqrt] : [O.f32add, O.f32sub, O.f32mul, O.f32div, O.f32sqrt])[k]);
          b.set(l);
          // Sums of floating-point numbers are never both tiny and inexact. A square root is zero only of a zero.
          this.fpCheck(l, !double, k >= 2, slow, xop);
          if (xop !== undefined) {
            b.get(this.k).i32(FpFast.RNE_NX).op(O.i32and).op(O.i32eqz);
            b.if(UNLIKELY);
            this.exactOrSlow(l, !double, xop, slow);
            b.end();
          }
          if (double) this.setFreg(rd, l); else this.setFregS(rd, l);
        };
      }
      case 0x10: case 0x11: // FSGNJ, FSGNJN, FSGNJX
        if (rm > 2) return undefined;
        return (slow) => {
          this.fpNeed(FpFast.READY, slow);
          if (double) {
            // J: a ^ ((a ^ b) & S); JN: the same ^ S; JX: a ^ (b & S)
            b.get(P.xl);
            b.get(P.xl).mem(O.i64load, HART_FP_OFFSET + 8 * rs1).tee(this.va);
            if (rm !== 2) b.get(this.va);
            b.get(P.xl).mem(O.i64load, HART_FP_OFFSET + 8 * rs2);
            if (rm !== 2) b.op(O.i64xor);
            b.i64(MIN64).op(O.i64and).op(O.i64xor);
            if (rm === 1) b.i64(MIN64).op(O.i64xor);
            b.mem(O.i64store, HART_FP_OFFSET + 8 * rd);
            return;
          }
          for (const r of [rs1, rs2]) b.get(P.xl).mem(O.i32load, HART_FP_OFFSET + 8 * r + 4).i32(-1).op(O.i32ne).brIf(slow);
          b.get(P.xl);
          b.get(P.xl).mem(O.i32load, HART_FP_OFFSET + 8 * rs1).tee(this.k);
          if (rm !== 2) b.get(this.k);
          b.get(P.xl).mem(O.i32load, HART_FP_OFFSET + 8 * rs2);
          if (rm !== 2) b.op(O.i32xor);
          b.i32(-2147483648).op(O.i32and).op(O.i32xor);
          if (rm === 1) b.i32(-2147483648).op(O.i32xor);
          b.mem(O.i32store, HART_FP_OFFSET + 8 * rd);
          b.get(P.xl).i32(-1).mem(O.i32store, HART_FP_OFFSET + 8 * rd + 4);
        };
      case 0x14: case 0x15: // FMIN, FMAX: WebAssembly's also order -0 below +0; NaNs go to the slow path.
        if (rm > 1) return undefined;
        return (slow) => {
          this.fpNeed(FpFast.READY, slow);
          operands(slow, true);
          this.notNaN(slow);
          b.get(this.fa).get(this.fb).op(rm === 0 ? O.f64min : O.f64max).set(this.fa);
          if (double) { this.setFreg(rd, this.fa); return; }
          b.get(this.fa).op(O.f32demote).set(this.sa);
          this.setFregS(rd, this.sa);
        };
      case 0x20: // FCVT.S.D
        if (!rne || rs2 !== 1) return undefined;
        return (slow) => {
          this.fpNeed(ROUND, slow);
          this.freg(rs1); b.op(O.f32demote).set(this.sa);
          this.fpCheck(this.sa, true, true, slow);
          this.setFregS(rd, this.sa);
        };
      case 0x21: // FCVT.D.S (exact)
        if (exact === 0 || rs2 !== 0) return undefined;
        return (slow) => {
          this.fpNeed(exact, slow);
          this.fregS(rs1, slow); b.op(O.f64promote).tee(this.fa).get(this.fa).op(O.f64eq).op(O.i32eqz).brIf(slow);
          this.setFreg(rd, this.fa);
        };
      case 0x50: case 0x51: // FLE, FLT, FEQ
        if (rm > 2) return undefined;
        return (slow) => {
          this.fpNeed(FpFast.READY, slow);
          operands(slow, true);
          this.notNaN(slow);
          b.get(this.fa).get(this.fb).op([O.f64le, O.f64lt, O.f64eq][rm]).op(O.i64extendu);
          this.setReg(rd);
        };
      case 0x60: case 0x61: { // FCVT.W, WU, L, LU from S or D: RTZ or RNE; out of range (and NaN) to the slow path
        if (rs2 > 3 || !(rne || rm === 1)) return undefined;
        const [lo, hi] = [[-(2 ** 31), 2 ** 31 - 1], [0, 2 ** 32 - 1], [-(2 ** 63), 2 ** 63], [0, 2 ** 64]][rs2];
        return (slow) => {
          this.fpNeed(ROUND, slow);
          operands(slow, false);
          b.get(this.fa).op(rm === 1 ? O.f64trunc : O.f64nearest).tee(this.fa);
          // -0 passes the unsigned ranges' lower bound: it converts to 0, as the rounded result.
          b.f64(lo).op(O.f64ge).get(this.fa).f64(hi).op(rs2 < 2 ? O.f64le : O.f64lt).op(O.i32and).op(O.i32eqz).brIf(slow);
          b.get(this.fa);
          if (rs2 === 0) b.op(O.i32truncf64s).op(O.i64extends);
          else if (rs2 === 1) b.op(O.i64truncf64u).op(O.i32wrap).op(O.i64extends);
          else b.op(rs2 === 2 ? O.i64truncf64s : O.i64truncf64u);
          this.setReg(rd);
        };
      }
      case 0x68: case 0x69: { // FCVT.S/D from W, WU, L, LU: exact but for a double from a 64-bit integer, or a single
        if (rs2 > 3) return undefined;
        const rounds = !double || rs2 >= 2;
        if (rounds ? !rne : exact === 0) return undefined;
        return (slow) => {
          this.fpNeed(rounds ? ROUND : exact, slow);
          this.getReg(rs1);
          if (rs2 < 2) b.op(O.i32wrap);
          const conv = double ? [O.f64converti32s, O.f64converti32u, O.f64converti64s, O.f64converti64u]
            : [O.f32converti32s, O.f32converti32u, O.f32converti64s, O.f32converti64u];
          b.op(conv[rs2]);
          if (double) { b.set(this.fa); this.setFreg(rd, this.fa); } else { b.set(this.sa); this.setFregS(rd, this.sa); }
        };
      }
      case 0x70: case 0x71: // FMV.X.W, FMV.X.D (FCLASS: the slow path)
        if (rm !== 0 || rs2 !== 0) return undefined;
        return (slow) => {
          this.fpNeed(FpFast.READY, slow);
          b.get(P.xl).mem(double ? O.i64load : O.i64load32s, HART_FP_OFFSET + 8 * rs1);
          this.setReg(rd);
        };
      case 0x78: case 0x79: // FMV.W.X, FMV.D.X
        if (rm !== 0 || rs2 !== 0) return undefined;
        return (slow) => {
          this.fpNeed(FpFast.READY, slow);
          b.get(P.xl); this.getReg(rs1);
          if (double) { b.mem(O.i64store, HART_FP_OFFSET + 8 * rd); return; }
          b.mem(O.i64store32, HART_FP_OFFSET + 8 * rd);
          b.get(P.xl).i32(-1).mem(O.i32store, HART_FP_OFFSET + 8 * rd + 4);
        };
      default:
        return undefined;
    }
  }

  /**
   * FMADD, FMSUB, FNMSUB, FNMADD of doubles, rounding to nearest: the runtime's emulated fused multiply-add,
   * which answers a NaN where its result would not be exact (and for NaN results, which need the FPU's flags).
   */
  private fmaFastPath(raw: number): ((slow: number) => void) | undefined {
    const rm = (raw >>> 12) & 7;
    if (((raw >>> 25) & 3) !== 1 || !(rm === 0 || rm === 7)) return undefined; // singles: the slow path
    const b = this.b;
    const opcode = raw & 0x7f, rd = (raw >>> 7) & 31, rs1 = (raw >>> 15) & 31, rs2 = (raw >>> 20) & 31, rs3 = raw >>> 27;
    // MADD: a*b+c, MSUB: a*b-c, NMSUB: -a*b+c, NMADD: -a*b-c
    const negProd = opcode >= 0x4b, negAdd = opcode === 0x47 || opcode === 0x4f;
    return (slow) => {
      this.fpNeed(FpFast.READY | FpFast.RNE_NX, slow);
      this.freg(rs1); if (negProd) b.op(O.f64neg);
      this.freg(rs2);
      this.freg(rs3); if (negAdd) b.op(O.f64neg);
      b.call(FS.fma).tee(this.fa).get(this.fa).op(O.f64eq).op(O.i32eqz).brIf(slow);
      this.setFreg(rd, this.fa);
    };
  }

  /**
   * FLW, FLD, FSW, FSD of FP register `reg` at rs1 + imm: inline (in loops) when FP is enabled and Dirty and the
   * TLB hits aligned RAM, as integer loads and stores; else the runtime's shared path, which calls the
   * interpreter's.
   */
  private fpLoadStore(op: number, reg: number, rs1: number, imm: number, off: number, len: number, k: number): void {
    const b = this.b;
    const index = op === Op.FLW ? 0 : op === Op.FLD ? 1 : op === Op.FSW ? 2 : 3;
    const size = (index & 1) !== 0 ? 8 : 4;
    const site = packSite(off, len, k, index | (reg << 2));
    this.getReg(rs1); if (imm !== 0) b.i64(imm).op(O.i64add);
    if (this.compact) {
      b.i32(site).call(FS.fls);
      this.leaveIfHelperSaid();
      return;
    }
    b.set(this.va);
    const done = b.block();
    const slow = b.block();
    this.fpNeed(FpFast.READY, slow);
    this.tlb(index < 2 ? P.rtag : P.wtag, size);
    b.op(O.i32eqz).brIf(slow, UNLIKELY);
    b.get(this.hits).i32(1).op(O.i32add).set(this.hits);
    if (index < 2) {
      b.get(P.xl); this.ramOffset();
      if (size === 8) b.mem(O.i64load); else b.mem(O.i64load32u).i64(-4294967296).op(O.i64or); // NaN-boxed
      b.mem(O.i64store, HART_FP_OFFSET + 8 * reg);
    } else {
      this.ramOffset(); b.tee(this.t);
      b.get(P.xl).mem(size === 8 ? O.i64load : O.i32load, HART_FP_OFFSET + 8 * reg);
      b.mem(size === 8 ? O.i64store : O.i32store);
      this.storeMarks(packSite(off, len, k, size === 8 ? 3 : 2));
    }
    b.br(done);
    b.end();
    b.get(this.va).i32(site).call(FS.fls);
    this.leaveIfHelperSaid();
    b.end();
  }

  private div64(op: number, rd: number, rs1: number, rs2: number): void {
    const b = this.b;
    // va = a, t64 = b; RISC-V results for a zero divisor and for MIN / -1 (no trap, unlike wasm).
    this.getReg(rs1); b.set(this.va);
    this.getReg(rs2); b.tee(this.t64).op(O.i64eqz);
    b.ifTyped(I64);
    if (op === Op.DIV || op === Op.DIVU) b.i64(-1); else b.get(this.va);
    b.else();
    if (op === Op.DIV) {
      b.get(this.va).i64(MIN64).op(O.i64eq).get(this.t64).i64(-1).op(O.i64eq).op(O.i32and);
      b.ifTyped(I64);
      b.get(this.va).else().get(this.va).get(this.t64).op(O.i64divs).end();
    } else {
      b.get(this.va).get(this.t64).op(op === Op.DIVU ? O.i64divu : op === Op.REM ? O.i64rems : O.i64remu);
    }
    b.end();
    this.setReg(rd);
  }

  private div32(op: number, rd: number, rs1: number, rs2: number): void {
    const b = this.b;
    this.getReg(rs1); b.op(O.i32wrap).set(this.k);
    this.getReg(rs2); b.op(O.i32wrap).tee(this.t).op(O.i32eqz);
    b.ifTyped(I32);
    if (op === Op.DIVW || op === Op.DIVUW) b.i32(-1); else b.get(this.k);
    b.else();
    if (op === Op.DIVW) {
      b.get(this.k).i32(-2147483648).op(O.i32eq).get(this.t).i32(-1).op(O.i32eq).op(O.i32and);
      b.ifTyped(I32);
      b.get(this.k).else().get(this.k).get(this.t).op(O.i32divs).end();
    } else {
      b.get(this.k).get(this.t).op(op === Op.DIVUW ? O.i32divu : op === Op.REMW ? O.i32rems : O.i32remu);
    }
    b.end();
    b.op(O.i64extends);
    this.setReg(rd);
  }
}

// ---- modules ----

function section(out: ByteWriter, id: number, content: ByteWriter): void {
  out.byte(id); out.uleb(content.len); out.put(content.view());
}

function name(into: ByteWriter, s: string): void {
  into.uleb(s.length);
  for (let i = 0; i < s.length; i++) into.byte(s.charCodeAt(i));
}

function funcType(into: ByteWriter, params: number[], results: number[]): void {
  into.byte(0x60); into.uleb(params.length); into.put(params); into.uleb(results.length); into.put(results);
}

// Type indices of a batch module.
const T_HELPER2 = 0, T_AMO = 1, T_LD = 2, T_ST = 3, T_FLS = 4, T_REGION = 5, T_HELPER1 = 6, T_FMA = 7, T_XOP = 8;

/**
 * The start of every batch module: its types and its imports (helpers, the
 * runtime's functions, the memory and the status global).
 *
 * The module does not import the shared function table to put its functions
 * there itself (with an element segment): V8 (11.x) gives every instance
 * that imports a table its own copy of the table's dispatch entries, so
 * instantiating costs time in proportion to the table's size and every later
 * `Table.set` updates every such instance. It exports them instead and
 * {@link WasmBackend} sets them into the table, which only the dispatcher
 * imports.
 */
const BATCH_HEAD: Uint8Array = (() => {
  const out = new ByteWriter(512);
  out.put([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
  const types = new ByteWriter(256);
  types.uleb(9);
  funcType(types, [I32, I32], [I32]);
  funcType(types, [I32, I32, I32, I32, I32, I32], [I32]);
  funcType(types, [I64, I64, I32], [I64]);
  funcType(types, [I64, I64, I32], []);
  funcType(types, [I64, I32], []);
  funcType(types, PARAM_TYPES, [I32]);
  funcType(types, [I32], [I32]);
  funcType(types, [F64, F64, F64], [F64]);
  funcType(types, [F64, I32], [I32]);
  section(out, 1, types);
  const imports = new ByteWriter(512);
  const fn = (module: string, field: string, type: number): void => { name(imports, module); name(imports, field); imports.byte(0x00); imports.uleb(type); };
  imports.uleb(FIRST_REGION + 2);
  fn('h', 'fp', T_HELPER2); fn('h', 'amo', T_AMO); fn('h', 'vmm', T_HELPER1);
  for (const e of RUNTIME_EXPORTS) {
    fn('r', e, e === 'cw' ? T_HELPER2 : e === 'fma' ? T_FMA : e === 'xop' ? T_XOP : e === 'st' || e[0] === 's' ? T_ST : e === 'fls' ? T_FLS : T_LD);
  }
  name(imports, 'h'); name(imports, 'mem'); imports.put([0x02, 0x00, 0x00]); // memory, min 0 pages
  name(imports, 'r'); name(imports, 'status'); imports.put([0x03, I32, 0x01]); // mutable i32 global
  section(out, 2, imports);
  return out.view().slice();
})();

/** Assembles one module holding the regions made of `regionBlocks`: region k is exported as `rk`. */
function assembleBatch(regionBlocks: Block[][], layout: WasmLayout, inline: readonly InlineMemory[]): Uint8Array<ArrayBuffer> {
  const n = regionBlocks.length;
  const funcs = new ByteWriter(64 + n);
  funcs.uleb(n);
  for (let k = 0; k < n; k++) funcs.uleb(T_REGION);
  const exports = new ByteWriter(64 + 8 * n);
  exports.uleb(n);
  for (let k = 0; k < n; k++) { name(exports, `r${k}`); exports.byte(0x00); exports.uleb(FIRST_REGION + k); }
  // The code section's contents, generated first: the branch hints, which come from it, go before it.
  const code = new Body(Math.max(1 << 14, n * 6000));
  code.uleb(n);
  const hints = new ByteWriter(256 + 64 * n);
  name(hints, BRANCH_HINTS);
  hints.uleb(n);
  for (let k = 0; k < n; k++) {
    const size = code.reserveLeb();
    const body = code.len;
    new WasmGen(code, regionBlocks[k], layout, inline[k]).generate();
    code.patchLeb(size, code.len - body);
    // Function index, hint count, then each hint: offset in the body (from its locals), size 1, the hint.
    hints.uleb(FIRST_REGION + k);
    hints.uleb(code.hints.length / 2);
    for (let i = 0; i < code.hints.length; i += 2) { hints.uleb(code.hints[i]); hints.byte(1); hints.byte(code.hints[i + 1]); }
  }
  // Each section adds its id and a size of at most 5 bytes.
  const out = new ByteWriter(BATCH_HEAD.length + funcs.len + exports.len + hints.len + code.len + 4 * 6);
  out.put(BATCH_HEAD);
  section(out, 3, funcs);
  section(out, 7, exports);
  section(out, 0, hints);
  section(out, 10, code);
  return out.view();
}

/** The custom section of branch hints (see {@link UNLIKELY}). */
export const BRANCH_HINTS = 'metadata.code.branch_hint';

/** Function indices in the runtime module: its imports (JavaScript helpers), then its own functions. */
const RF = { ld: 0, st: 1, cw: 2, fls: 3 } as const;
const runtimeFunction = (e: string): number => 5 + RUNTIME_EXPORTS.indexOf(e); // after run (4)
const RS = { run: 4, ld: runtimeFunction('ld'), st: runtimeFunction('st'), cw: runtimeFunction('cw') } as const;
/** The runtime module's globals: status (exported), the TLB context of the running region, and TLB hits. */
const G_RB = 1, G_WB = 2, G_TLB = 3, G_HITS = 4, G_XL = 5;

/** The bodies of the runtime module's functions after `run`, in {@link RUNTIME_EXPORTS} order, as code section entries. */
function runtimeCode(layout: WasmLayout): Uint8Array {
  const scratch = layout.scratch;
  const out = new ByteWriter(2048);
  const fn = (locals: Array<[number, number]>, emit: (b: Body) => void): void => {
    const b = new Body(256);
    b.uleb(locals.length);
    for (const [count, type] of locals) { b.uleb(count); b.byte(type); }
    emit(b);
    b.byte(0x0b);
    out.uleb(b.len); out.put(b.view());
  };
  const split = (b: Body, l: number): void => { b.get(l).op(O.i32wrap).get(l).i64(32).op(O.i64shru).op(O.i32wrap); };
  // The TLB lookup of va (local 0) in context `base`: leaves "hit" on the stack (see WasmRegion.tlb), the entry's address in t.
  const tlb = (b: Body, base: number, size: number, t: number): void => {
    b.get(0).i64(12).op(O.i64shrs).op(O.i32wrap).i32(TLB_MASK).op(O.i32and).globalGet(base).op(O.i32add).i32(ENTRY_SHIFT).op(O.i32shl);
    b.globalGet(G_TLB).op(O.i32add).tee(t).mem(O.i64load);
    b.get(0).i64(-4096 | (size - 1)).op(O.i64and).op(O.i64eq); // Mmu.entryWords
  };
  const hit = (b: Body): void => { b.globalGet(G_HITS).i32(1).op(O.i32add).globalSet(G_HITS); };
  const ramOffset = (b: Body, t: number): void => {
    b.get(t).mem(O.i32load, ENTRY_RAM_OFFSET).get(0).op(O.i32wrap).i32(4095).op(O.i32and).op(O.i32add); // Mmu.entryWords
  };
  // After a store at RAM offset local `o`: dirty[o >> 12] = 1, and a page holding code goes through the
  // code-write check (`site` pushes its site: log2 of the size in the extra field); local `t` is scratch.
  const storeMarks = (b: Body, o: number, t: number, site: () => void): void => {
    b.get(o).i32(12).op(O.i32shru).tee(t).i32(1).mem(O.i32store8, layout.dirty);
    b.get(t).mem(O.i32load8u, layout.codePages);
    b.if(); b.get(o); site(); b.call(RS.cw).globalSet(G_STATUS); b.end();
  };
  // ld(va, old, site): the helper's value (extended as the load's kind says), or old if it trapped. A status
  // with the exit kind EXIT_ASK comes from a load that completed (a device read that changed what interrupts
  // see, say a PLIC claim): the region leaves after it, with its value.
  fn([], (b) => {
    split(b, 0); b.get(2).call(RF.ld).globalSet(G_STATUS);
    b.globalGet(G_STATUS).i32(0).op(O.i32ne).i32(scratch).mem(O.i32load, 4 * S_KIND).i32(EXIT_SET).op(O.i32eq).op(O.i32and);
    b.ifTyped(I64); b.get(1).else().i32(scratch).mem(O.i64load, 4 * S_LO).end();
  });
  // st(va, value, site).
  fn([], (b) => { split(b, 0); split(b, 1); b.get(2).call(RF.st).globalSet(G_STATUS); });
  // fls(va, site: op index (FLW, FLD, FSW, FSD) | FP register << 2): when FP is enabled and Dirty
  // (FpUnit.jitFast) and the TLB hits aligned RAM, the access, as an inline FP load or store does it; else the
  // JavaScript helper. Locals: index (2), t (3), o (4), the register's address (5).
  fn([[4, I32]], (b) => {
    const VA = 0, SITE = 1, X = 2, T = 3, OFF = 4, R = 5;
    const slow = b.block();
    b.globalGet(G_XL).mem(O.i32load, HART_FP_OFFSET + FP_FAST).i32(FpFast.READY).op(O.i32and).op(O.i32eqz).brIf(slow);
    b.get(SITE).i32(20).op(O.i32shru).i32(3).op(O.i32and).set(X);
    // The TLB entry of the read or write context, and the compare of its tag (alignment 4 or 8).
    b.get(VA).i64(12).op(O.i64shrs).op(O.i32wrap).i32(TLB_MASK).op(O.i32and);
    b.globalGet(G_WB).globalGet(G_RB).get(X).i32(2).op(O.i32ges).op(O.select).op(O.i32add).i32(ENTRY_SHIFT).op(O.i32shl);
    b.globalGet(G_TLB).op(O.i32add).tee(T).mem(O.i64load);
    b.get(VA).i64(-4096).i64(7).i64(3).get(X).i32(1).op(O.i32and).op(O.select).op(O.i64or).op(O.i64and).op(O.i64ne).brIf(slow);
    hit(b);
    ramOffset(b, T); b.set(OFF);
    b.globalGet(G_XL).get(SITE).i32(22).op(O.i32shru).i32(3).op(O.i32shl).op(O.i32add).set(R);
    const store = b.block();
    b.get(X).i32(2).op(O.i32ges).brIf(store);
    b.get(R);
    b.get(X).ifTyped(I64);
    b.get(OFF).mem(O.i64load).else().get(OFF).mem(O.i64load32u).i64(-4294967296).op(O.i64or).end(); // FLW: NaN-boxed
    b.mem(O.i64store, HART_FP_OFFSET);
    b.op(O.ret);
    b.end(); // store
    b.get(X).i32(3).op(O.i32eq);
    b.if();
    b.get(OFF).get(R).mem(O.i64load, HART_FP_OFFSET).mem(O.i64store);
    b.else().get(OFF).get(R).mem(O.i32load, HART_FP_OFFSET).mem(O.i32store).end();
    // The store's site for the code-write check: log2 of its size (2 or 3) in the extra field.
    storeMarks(b, OFF, T, () => {
      b.get(SITE).i32(0xfffff).op(O.i32and).get(X).i32(1).op(O.i32and).i32(2).op(O.i32add).i32(20).op(O.i32shl).op(O.i32or);
    });
    b.op(O.ret);
    b.end(); // slow
    split(b, VA); b.get(SITE).call(RF.fls).globalSet(G_STATUS);
  });
  // mulh(a, b, kind): the high 64 bits of a × b; kind bit 0: a is signed, bit 1: b is signed.
  fn([[3, I64]], (b) => {
    const A = 0, B = 1, KIND = 2, LH = 3, HL = 4, HI = 5;
    const lo = (l: number): void => { b.get(l).i64(0xffffffff).op(O.i64and); };
    const hi = (l: number): void => { b.get(l).i64(32).op(O.i64shru); };
    lo(A); hi(B); b.op(O.i64mul).set(LH);
    hi(A); lo(B); b.op(O.i64mul).set(HL);
    // hi(a)hi(b) + hi(lh) + hi(hl) + hi(lo(a)lo(b)>>32 + lo(lh) + lo(hl)): exact unsigned 128-bit product's top half.
    hi(A); hi(B); b.op(O.i64mul);
    hi(LH); b.op(O.i64add); hi(HL); b.op(O.i64add);
    lo(A); lo(B); b.op(O.i64mul).i64(32).op(O.i64shru);
    lo(LH); b.op(O.i64add); lo(HL); b.op(O.i64add).i64(32).op(O.i64shru);
    b.op(O.i64add).set(HI);
    // Signed operands: a × b = (a + 2^64) × b - 2^64·b for a < 0, so the top half loses b.
    b.get(HI).get(B).i64(0).get(A).i64(0).op(O.i64lts).get(KIND).op(O.i32and).op(O.select).op(O.i64sub).set(HI);
    b.get(HI).get(A).i64(0).get(B).i64(0).op(O.i64lts).get(KIND).i32(1).op(O.i32shru).op(O.i32and).op(O.select).op(O.i64sub);
  });
  // load<kind>(va, old, site) -> value: locals t (3), two i64 (4, 5) unused.
  LOAD_SIZE.forEach((size, kind) => {
    fn([[1, I32], [2, I64]], (b) => {
      tlb(b, G_RB, size, 3);
      b.ifTyped(I64);
      hit(b); ramOffset(b, 3); b.mem(LOAD_OPCODE[kind]);
      b.else();
      b.get(0).get(1).get(2).call(RS.ld);
      b.end();
    });
  });
  // store<log2 size>(va, value, site): locals t (3), two i64 (4, 5) unused, o (6).
  for (let log = 0; log < 4; log++) {
    fn([[1, I32], [2, I64], [1, I32]], (b) => {
      tlb(b, G_WB, 1 << log, 3);
      b.if();
      hit(b); ramOffset(b, 3); b.tee(6).get(1).mem([O.i64store8, O.i64store16, O.i64store32, O.i64store][log]);
      storeMarks(b, 6, 3, () => b.get(2));
      b.else();
      b.get(0).get(1).get(2).call(RS.st);
      b.end();
    });
  }
  // cw(o, site) -> status: a store of 1 << (site's extra field) bytes at RAM offset o, on a page holding code,
  // goes to the code-write path when it overlaps the page's code span (GuestRam.codeSpan); local span (2).
  fn([[1, I32]], (b) => {
    b.get(0).i32(12).op(O.i32shru).i32(2).op(O.i32shl).mem(O.i32load, layout.codeSpan).set(2);
    b.get(0).i32(4095).op(O.i32and).get(2).i32(16).op(O.i32shru).op(O.i32ltu); // start < hi
    b.get(0).i32(4095).op(O.i32and).i32(1).get(1).i32(20).op(O.i32shru).op(O.i32shl).op(O.i32add);
    b.get(2).i32(0xffff).op(O.i32and).op(O.i32gtu); // end > lo
    b.op(O.i32and);
    b.ifTyped(I32);
    b.get(0).get(1).call(RF.cw);
    b.else();
    b.i32(0);
    b.end();
  });
  // Error-free transformations (Knuth's TwoSum, Dekker's product), for fma and xop. Each leaves the error on the
  // stack. twoSumErr: of sum = p + q rounded, (p - (sum - d)) + (q - d) with d = sum - p (local `d` is scratch).
  const twoSumErr = (b: Body, p: number, q: number, sum: number, d: number): void => {
    b.get(sum).get(p).op(O.f64sub).set(d);
    b.get(p).get(sum).get(d).op(O.f64sub).op(O.f64sub).get(q).get(d).op(O.f64sub).op(O.f64add);
  };
  // mulErr: of prod = x * y rounded, from Veltkamp's halves x = xh + xl, y = yh + yl (into those locals): exact
  // when no product of halves overflows or underflows.
  const mulErr = (b: Body, x: number, y: number, prod: number, [xh, xl, yh, yl]: readonly number[]): void => {
    for (const [v, hi, lo] of [[x, xh, xl], [y, yh, yl]]) {
      b.f64(134217729).get(v).op(O.f64mul).tee(hi).get(hi).get(v).op(O.f64sub).op(O.f64sub).set(hi); // t - (t - v), t = (2^27 + 1) v
      b.get(v).get(hi).op(O.f64sub).set(lo);
    }
    b.get(xh).get(yh).op(O.f64mul).get(prod).op(O.f64sub).get(xh).get(yl).op(O.f64mul).op(O.f64add).get(xl).get(yh).op(O.f64mul).op(O.f64add);
    b.get(xl).get(yl).op(O.f64mul).op(O.f64add);
  };
  // fma(x, y, z) -> x * y + z rounded once (to nearest, ties to even), or a NaN when the operands or the result are
  // where the emulation is not exact (the FPU's JavaScript handles those): Boldo & Melquiond, "Emulation of FMA
  // and correctly rounded sums: proved algorithms using rounding to odd" (IEEE TC 2008), as FpUnit's fmaD does —
  // x*y = uh + ul (Dekker), z + uh = th + tl (TwoSum), result = RN(th + RO(tl + ul)).
  // Locals: uh (3), ul (4), th (5), tl (6), v (7), ve (8), scratch (9-12) for the error-free transformations, v's bits (13).
  fn([[10, F64], [1, I64]], (b) => {
    const X = 0, Y = 1, Z = 2, UH = 3, UL = 4, TH = 5, TL = 6, V = 7, VE = 8, A = 9, B = 10, C = 11, D = 12, BITS = 13;
    const nan = (): void => { b.f64(NaN).op(O.ret); };
    // Leaves the NaN unless lo <= |l| < hi.
    const within = (l: number, lo: number, hi: number): void => {
      b.get(l).op(O.f64abs).f64(lo).op(O.f64ge).get(l).op(O.f64abs).f64(hi).op(O.f64lt).op(O.i32and).op(O.i32eqz);
      b.if(); nan(); b.end();
    };
    b.get(X).get(Y).op(O.f64mul).set(UH);
    within(UH, 2 ** -968, 2 ** 1020);
    within(Z, 0, 2 ** 1020);
    within(X, 0, 2 ** 995);
    within(Y, 0, 2 ** 995);
    mulErr(b, X, Y, UH, [A, B, C, D]); b.set(UL); // x = A + B, y = C + D
    b.get(Z).get(UH).op(O.f64add).set(TH);
    twoSumErr(b, Z, UH, TH, D); b.set(TL);
    b.get(TL).get(UL).op(O.f64add).set(V);
    twoSumErr(b, TL, UL, V, D); b.tee(VE);
    // Round to odd: v unless ve != 0 and v's last bit is even; then v's neighbour toward ve.
    b.f64(0).op(O.f64ne);
    b.if();
    b.get(V).op(O.i64reinterpretf64).tee(BITS).i64(1).op(O.i64and).op(O.i64eqz);
    b.if();
    b.get(BITS).i64(1).i64(-1).get(VE).f64(0).op(O.f64gt).get(V).f64(0).op(O.f64gt).op(O.i32eq).op(O.select).op(O.i64add);
    b.op(O.f64reinterpreti64).set(V);
    b.end();
    b.end();
    b.get(TH).get(V).op(O.f64add).set(A);
    within(A, 2 ** -960, 2 ** 1020);
    b.get(A);
  });
  // xop(r, code) -> 1 when r, the correctly rounded result of an operation on FP registers (code: see xopCode), is
  // exact (so it raises no flag), else 0 (inexact, or not shown exact here: the FPU's JavaScript decides). The fast
  // paths ask it while fflags.NX is clear, and for a zero product, quotient or root. Sums: TwoSum's error (Knuth).
  // Doubles' a * b, a / b, sqrt(a): Dekker's product error (a quotient or root is exact when r * b, or r * r, is a,
  // with no error). Singles': their values as doubles, where the product of two singles is exact.
  // Locals: the operands a (2) and b (3), the kind (4), an operand's address (5), x (6), y (7), p (8), x's and y's
  // Veltkamp halves (9-12).
  fn([[2, F64], [2, I32], [7, F64]], (b) => {
    const R = 0, CODE = 1, A = 2, B = 3, KIND = 4, AT = 5, X = 6, Y = 7, P = 8, XH = 9, XL = 10, YH = 11, YL = 12;
    const no = (): void => { b.i32(0).op(O.ret); };
    const is = (kind: number): void => { b.get(KIND).i32(kind).op(O.i32eq); };
    b.get(CODE).i32(7).op(O.i32and).set(KIND);
    for (const [to, shift] of [[A, 3], [B, 8]]) {
      b.globalGet(G_XL).get(CODE).i32(shift).op(O.i32shru).i32(31).op(O.i32and).i32(3).op(O.i32shl).op(O.i32add).set(AT);
      b.get(KIND).i32(XOP.mulS).op(O.i32ges);
      b.ifTyped(F64); b.get(AT).mem(O.f32load, HART_FP_OFFSET).op(O.f64promote); b.else(); b.get(AT).mem(O.f64load, HART_FP_OFFSET); b.end();
      b.set(to);
    }
    is(XOP.sub); b.if(); b.get(B).op(O.f64neg).set(B).i32(XOP.add).set(KIND); b.end();
    is(XOP.add);
    b.if(); twoSumErr(b, A, B, R, X); b.f64(0).op(O.f64eq).op(O.ret); b.end();
    // A zero: a product's is exact when a factor is zero, a quotient's when the dividend is zero or the divisor
    // infinite, a root's always (it is the root of a zero).
    b.get(R).f64(0).op(O.f64eq);
    b.if();
    is(XOP.mul); is(XOP.mulS); b.op(O.i32or);
    b.if(); b.get(A).f64(0).op(O.f64eq).get(B).f64(0).op(O.f64eq).op(O.i32or).op(O.ret); b.end();
    is(XOP.div); is(XOP.divS); b.op(O.i32or);
    b.if(); b.get(A).f64(0).op(O.f64eq).get(B).op(O.f64abs).f64(Infinity).op(O.f64eq).op(O.i32or).op(O.ret); b.end();
    b.i32(1).op(O.ret);
    b.end();
    for (const [kind, x, y, target] of [[XOP.mulS, A, B, R], [XOP.divS, R, B, A], [XOP.sqrtS, R, R, A]]) {
      is(kind);
      b.if(); b.get(x).get(y).op(O.f64mul).get(target).op(O.f64eq).op(O.ret); b.end();
    }
    // Doubles: x * y should be the target exactly (a product's r is x * y rounded: only the error tells).
    is(XOP.mul);
    b.if(); b.get(A).set(X).get(B).set(Y).get(R).set(P);
    b.else();
    b.get(R).set(X);
    is(XOP.div);
    b.if(); b.get(B).set(Y); b.else(); b.get(R).set(Y); b.end();
    b.get(X).get(Y).op(O.f64mul).tee(P).get(A).op(O.f64ne);
    b.if(); no(); b.end();
    b.end();
    // Dekker's error is exact without overflow or underflow in the halves' products.
    b.get(X).op(O.f64abs).f64(2 ** 995).op(O.f64lt).get(Y).op(O.f64abs).f64(2 ** 995).op(O.f64lt).op(O.i32and);
    b.get(P).op(O.f64abs).f64(2 ** -900).op(O.f64ge).op(O.i32and).op(O.i32eqz);
    b.if(); no(); b.end();
    mulErr(b, X, Y, P, [XH, XL, YH, YL]); b.f64(0).op(O.f64eq);
  });
  return out.view().slice();
}

// Parameters and locals of the chaining dispatcher.
const D = {
  idx: 0, p: 1, lim: 2, pvLo: 3, pvHi: 4, rb: 5, wb: 6, xl: 7, xh: 8, tlb: 9, fb: 10, page: 11,
  pv: 12, va: 13, total: 14, t: 15, h: 16, key: 17, k: 18, rtag: 19, wtag: 20,
} as const;
const DISPATCH_PARAMS = 12;

/**
 * The runtime module, one instance per machine (compiled once per layout,
 * see {@link runtimeModule}): the functions regions share (see
 * {@link RUNTIME_EXPORTS}: one copy, which V8 optimizes once for every
 * module) and the chaining dispatcher, `run(idx, p, lim, pvLo,
 * pvHi, rb, wb, xl, xh, tlb, fetchBase, page)` calls region `idx` of the
 * shared table (entered at offset `p` of the page at virtual address pv and
 * RAM offset `page`), and while the region left with a plain exit (EXIT_PC)
 * and budget remains, finds the exit pc's RAM offset (on the same virtual
 * page: the same page, as the hart's fetch path assumes too; elsewhere: the
 * fetch TLB), looks it up in the entry table and calls the region found
 * there, without going back to JavaScript. Anything
 * it cannot resolve (a TLB miss, I/O, untranslated code, a trap, a helper
 * asking to return) goes back to the hart's dispatcher, which handles it
 * exactly as it would after any region.
 */
function assembleRuntime(layout: WasmLayout): Uint8Array<ArrayBuffer> {
  const out = new ByteWriter(4096);
  out.put([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
  const types = new ByteWriter(128);
  types.uleb(10);
  funcType(types, PARAM_TYPES, [I32]); // 0: a region
  funcType(types, new Array<number>(DISPATCH_PARAMS).fill(I32), [I32]); // 1: run
  funcType(types, [I32, I32, I32], [I32]); // 2: JavaScript ld, fls
  funcType(types, [I32, I32, I32, I32, I32], [I32]); // 3: JavaScript st
  funcType(types, [I32, I32], [I32]); // 4: JavaScript cw
  funcType(types, [I64, I64, I32], [I64]); // 5: ld, mulh, loads
  funcType(types, [I64, I64, I32], []); // 6: st, stores
  funcType(types, [I64, I32], []); // 7: fls
  funcType(types, [F64, F64, F64], [F64]); // 8: fma
  funcType(types, [F64, I32], [I32]); // 9: xop
  section(out, 1, types);
  const imports = new ByteWriter(128);
  imports.uleb(6);
  name(imports, 'h'); name(imports, 'mem'); imports.put([0x02, 0x00, 0x00]);
  name(imports, 'h'); name(imports, 'tbl'); imports.put([0x01, 0x70, 0x00, 0x00]);
  for (const [field, type] of [['ld', 2], ['st', 3], ['cw', 4], ['fls', 2]] as const) {
    name(imports, 'h'); name(imports, field); imports.byte(0x00); imports.uleb(type);
  }
  section(out, 2, imports);
  const fnTypes = [1, 5, 6, 7, 5, 5, 5, 5, 5, 5, 5, 5, 6, 6, 6, 6, 4, 8, 9]; // run, then RUNTIME_EXPORTS
  const funcs = new ByteWriter(64);
  funcs.uleb(fnTypes.length); funcs.put(fnTypes);
  section(out, 3, funcs);
  out.put([6, 31, 6, ...[0, 1, 2, 3, 4, 5].flatMap(() => [I32, 1, 0x41, 0, 0x0b])]); // six mutable i32 globals, 0
  const exports = new ByteWriter(256);
  exports.uleb(2 + RUNTIME_EXPORTS.length);
  name(exports, 'run'); exports.put([0x00, RS.run]);
  RUNTIME_EXPORTS.forEach((e, k) => { name(exports, e); exports.put([0x00, RS.run + 1 + k]); });
  name(exports, 'status'); exports.put([0x03, G_STATUS]);
  section(out, 7, exports);

  const b = new Body(1024);
  b.uleb(2); b.uleb(2); b.byte(I64); b.uleb(7); b.byte(I32); // pv va; total t h key k rtag wtag
  const sc = layout.scratch;
  // The TLB context for the shared accesses.
  b.get(D.rb).globalSet(G_RB).get(D.wb).globalSet(G_WB).get(D.tlb).globalSet(G_TLB);
  // The regions' TLB context addresses (see P).
  b.get(D.tlb).get(D.rb).i32(ENTRY_SHIFT).op(O.i32shl).op(O.i32add).set(D.rtag);
  b.get(D.tlb).get(D.wb).i32(ENTRY_SHIFT).op(O.i32shl).op(O.i32add).set(D.wtag);
  b.get(D.xl).globalSet(G_XL);
  b.get(D.pvLo).op(O.i64extendu).get(D.pvHi).op(O.i64extends).i64(32).op(O.i64shl).op(O.i64or).set(D.pv);
  const again = b.loop();
  b.i32(sc).get(D.pv).mem(O.i64store, 4 * S_PV);
  b.get(D.p).get(D.lim).get(D.total).op(O.i32sub).get(D.pv);
  for (const l of [D.rtag, D.wtag, D.xl, D.xh, D.idx]) b.get(l);
  b.op2(0x11, 0).op(0x00); // call_indirect (type 0) (table 0)
  b.tee(D.k).get(D.total).op(O.i32add).set(D.total);
  // counts[idx] += executed (see WasmLayout.counts).
  b.get(D.idx).i32(layout.countSlots - 1).op(O.i32and).i32(2).op(O.i32shl).tee(D.t);
  b.get(D.t).mem(O.i32load, layout.counts).get(D.k).op(O.i32add).mem(O.i32store, layout.counts);
  const out_ = b.block();
  b.i32(sc).mem(O.i32load, 4 * S_KIND).brIf(out_); // not a plain exit
  b.get(D.total).get(D.lim).op(O.i32ges).brIf(out_); // budget spent
  b.i32(sc).mem(O.i64load, 4 * S_PCLO).set(D.va);
  const found = b.block();
  // On the page just run: its RAM offset is known (the fetch TLB may have been flushed since the hart
  // fetched from it: its fetch path keeps a page until the mapping changes).
  b.get(D.page).get(D.va).op(O.i32wrap).i32(4095).op(O.i32and).op(O.i32add).set(D.key);
  b.get(D.va).i64(-4096).op(O.i64and).get(D.pv).op(O.i64eq).brIf(found);
  // Elsewhere, the fetch TLB entry of va (what the hart's fetch path would hit): tag, then RAM offset (-1 = not RAM).
  b.get(D.fb).get(D.va).i64(12).op(O.i64shru).op(O.i32wrap).i32(TLB_MASK).op(O.i32and).op(O.i32add).i32(ENTRY_SHIFT).op(O.i32shl);
  b.get(D.tlb).op(O.i32add).tee(D.t).mem(O.i64load).get(D.va).i64(-4096).op(O.i64and).op(O.i64ne); // Mmu.entryWords: RAM pages only
  b.brIf(out_);
  b.get(D.t).mem(O.i32load, ENTRY_RAM_OFFSET);
  b.get(D.va).op(O.i32wrap).i32(4095).op(O.i32and).op(O.i32add).set(D.key);
  b.end(); // found: key is the RAM offset of va
  b.get(D.key).i32(ENTRY_HASH_MULTIPLIER).op(O.i32mul).i32(32 - layout.entryBits).op(O.i32shru).set(D.h);
  const probe = b.loop();
  b.get(D.h).i32(3).op(O.i32shl).mem(O.i32load, layout.entries).tee(D.k).get(D.key).op(O.i32eq);
  b.if();
  b.get(D.h).i32(3).op(O.i32shl).mem(O.i32load, layout.entries + 4).set(D.idx);
  b.get(D.va).i64(-4096).op(O.i64and).set(D.pv);
  b.get(D.va).op(O.i32wrap).i32(4095).op(O.i32and).set(D.p);
  b.get(D.key).i32(-4096).op(O.i32and).set(D.page);
  b.i32(sc).i32(sc).mem(O.i32load, 4 * S_CHAINS).i32(1).op(O.i32add).mem(O.i32store, 4 * S_CHAINS);
  b.br(again);
  b.end();
  b.get(D.k).i32(EMPTY_KEY).op(O.i32eq).brIf(out_);
  b.get(D.h).i32(1).op(O.i32add).i32((1 << layout.entryBits) - 1).op(O.i32and).set(D.h);
  b.br(probe);
  b.end(); // probe
  b.end(); // out
  b.i32(sc).i32(sc).mem(O.i32load, 4 * S_HITS).globalGet(G_HITS).op(O.i32add).mem(O.i32store, 4 * S_HITS);
  b.i32(0).globalSet(G_HITS);
  b.get(D.total).op(O.ret);
  b.end(); // again
  b.i32(0);
  b.byte(0x0b);

  const rest = runtimeCode(layout);
  const code = new ByteWriter(b.len + rest.length + 16);
  code.uleb(fnTypes.length); code.uleb(b.len); code.put(b.view()); code.put(rest);
  section(out, 10, code);
  return out.view();
}

/**
 * Compiled runtime modules by layout: machines of one size place their
 * structures at the same offsets, and building the module (about a third of
 * a machine's construction) need not be repeated for each. A machine's own
 * memory is an import of its instance.
 */
const runtimeModules = new Map<string, WebAssembly.Module>();
const RUNTIME_MODULES_KEPT = 16;

function runtimeModule(layout: WasmLayout): WebAssembly.Module {
  const { memory: _, ...offsets } = layout;
  const key = JSON.stringify(offsets);
  let module = runtimeModules.get(key);
  if (module === undefined) {
    if (runtimeModules.size >= RUNTIME_MODULES_KEPT) runtimeModules.clear();
    module = new WebAssembly.Module(assembleRuntime(layout));
    runtimeModules.set(key, module);
  }
  return module;
}

const TWO32 = 4294967296;

/** What the back end counts (added to the translator's statistics). */
export interface WasmCounters {
  /** Instructions executed in translated code. */
  executed: number;
}

/** One compiled region: its index in the shared table and the function the hart's dispatcher calls. */
export interface WasmRegion {
  index: number;
  fn: RegionFn;
}

/**
 * The WebAssembly back end of one machine: generates batches of regions as
 * modules, puts their functions into one shared function table, and enters
 * them through the chaining dispatcher.
 */
export class WasmBackend {
  private readonly table = new WebAssembly.Table({ element: 'anyfunc', initial: 256 });
  private readonly imports: WebAssembly.Imports;
  private readonly run: (...args: number[]) => number;
  /** The next free table index (indices are handed out in order; see {@link reset}). */
  private next = 0;
  /**
   * `current.hart` is the hart running translated code (the helpers act on
   * it); `epoch.value` changes whenever translations are dropped.
   */
  constructor(private readonly env: WasmEnv, private readonly current: { hart: Hart | undefined },
    epoch: { value: number }, private readonly counters: WasmCounters) {
    const scratch = env.scratch;
    const ram = env.ram;
    const hart = (): Hart => current.hart as Hart;
    // The pc of the instruction at page offset `off` of the region running now.
    const at = (off: number): void => { hart().pc = scratch[S_PV + 1] * TWO32 + (scratch[S_PV] >>> 0) + off; };
    // A helper trapped: the hart's pc is the trap's; leave counting the instruction.
    const trapped = (site: number): number => { scratch[S_KIND] = EXIT_SET; return siteCount(site); };
    // Leave after the instruction at the hart's pc (set by at()) when something may have changed under the region.
    const after = (h: Hart, e: number, site: number): number => {
      if (!h.interruptCheck && epoch.value === e) return 0;
      const v = h.pc + siteLen(site);
      const hi = Math.floor(v / TWO32);
      scratch[S_PCLO] = (v - hi * TWO32) | 0; scratch[S_PCLO + 1] = hi | 0;
      scratch[S_KIND] = EXIT_ASK;
      return siteCount(site);
    };
    /*
     * The JavaScript helpers, each returning 0 to go on, or — after it trapped
     * (the hart's pc is the trap's) or when the region must return to the hart
     * after the instruction (an interrupt to check, translations dropped) — the
     * instruction count to leave with, having set the exit kind and pc in the
     * scratch area. ld (lo, hi, site: load kind), st (lo, hi, vl, vh, site:
     * log2 size), cw (RAM offset, site: log2 size), fls (lo, hi, site: op index
     * | reg << 2) are called by the runtime module; fp (raw, site), amo (op,
     * rd, rs1, rs2, imm, site) and vmm (site) by regions.
     */
    this.imports = {
      h: {
        mem: env.layout.memory,
        ld: (lo: number, hi: number, site: number): number => {
          const h = hart();
          const e = epoch.value;
          at(siteOff(site));
          const kind = siteExtra(site);
          if (!h.loadSlow(lo, hi, LOAD_SIZE[kind])) return trapped(site);
          let vl = r64.lo, vh = r64.hi;
          switch (kind) {
            case 0: vl = (vl << 24) >> 24; vh = vl >> 31; break;
            case 1: vl = (vl << 16) >> 16; vh = vl >> 31; break;
            case 2: vh = vl >> 31; break;
            case 4: vl &= 0xff; vh = 0; break;
            case 5: vl &= 0xffff; vh = 0; break;
            case 6: vh = 0; break;
          }
          scratch[S_LO] = vl; scratch[S_HI] = vh;
          return after(h, e, site);
        },
        st: (lo: number, hi: number, vl: number, vh: number, site: number): number => {
          const h = hart();
          const e = epoch.value;
          at(siteOff(site));
          if (!h.storeSlow(lo, hi, 1 << siteExtra(site), vl, vh)) return trapped(site);
          return after(h, e, site);
        },
        cw: (o: number, site: number): number => {
          const e = epoch.value;
          ram.noteWrite(o, 1 << siteExtra(site));
          if (epoch.value === e) return 0;
          at(siteOff(site));
          return after(hart(), e, site);
        },
        fp: (raw: number, site: number): number => {
          const h = hart();
          if (!h.csr.fpEnabled() || !h.fpu.execute(raw)) { at(siteOff(site)); h.illegal(raw); return trapped(site); }
          h.csr.fpDirty();
          h.fpu.noteJitReady();
          return 0;
        },
        fls: (lo: number, hi: number, site: number): number => {
          const h = hart();
          const fr = h.fpu.i32;
          const index = siteExtra(site) & 3, reg = siteExtra(site) >>> 2;
          if (h.csr.fpEnabled()) {
            // The TLB hit on aligned RAM (not a code page, for stores), as the interpreter's FP loads and stores.
            const mmu = h.mmu;
            const size = index & 1 ? 8 : 4;
            const o = mmu.ramHit(index < 2 ? mmu.readBase : mmu.writeBase, lo, hi, size);
            if (o >= 0) {
              const w = o >>> 2;
              if (index < 2) {
                fr[2 * reg] = ram.i32[w]; fr[2 * reg + 1] = size === 8 ? ram.i32[w + 1] : -1;
                mmu.hits++; h.csr.fpDirty(); h.fpu.noteJitReady();
                return 0;
              }
              if (ram.codePages[o >>> 12] === 0) {
                ram.i32[w] = fr[2 * reg]; if (size === 8) ram.i32[w + 1] = fr[2 * reg + 1];
                ram.dirty.bits[o >>> 12] = 1;
                mmu.hits++;
                return 0;
              }
            }
          }
          const e = epoch.value;
          at(siteOff(site));
          if (!h.csr.fpEnabled()) { h.illegalAtPc(); return trapped(site); }
          if (index < 2) {
            const size = index === 1 ? 8 : 4;
            if (!h.loadSlow(lo, hi, size)) return trapped(site);
            fr[2 * reg] = r64.lo; fr[2 * reg + 1] = size === 8 ? r64.hi : -1;
          } else if (!h.storeSlow(lo, hi, index === 3 ? 8 : 4, fr[2 * reg], fr[2 * reg + 1])) return trapped(site);
          h.csr.fpDirty();
          h.fpu.noteJitReady();
          return after(h, e, site);
        },
        // The inline VMM call of binary translation: the VMM emulated the instruction and set the pc, or the
        // region leaves before it for the interpreter (counting the instructions before it).
        vmm: (site: number): number => {
          const h = hart();
          at(siteOff(site));
          h.fpu.jitFast = 0; // the emulated instruction may change what FpUnit.jitFast tells
          if (h.inlineVmmCall()) return trapped(site);
          scratch[S_KIND] = EXIT_SET; // the pc is the instruction's (at() set it)
          return siteCount(site) - 1;
        },
        amo: (op: number, rd: number, rs1: number, rs2: number, imm: number, site: number): number => {
          const h = hart();
          const e = epoch.value;
          at(siteOff(site));
          if (!h.atomic(op, rd, rs1, rs2, imm)) return trapped(site);
          return after(h, e, site);
        },
      },
    };
    const helpers = this.imports.h as Record<string, WebAssembly.ImportValue>;
    const runtime = new WebAssembly.Instance(runtimeModule(env.layout),
      { h: { mem: env.layout.memory, tbl: this.table, ld: helpers.ld, st: helpers.st, cw: helpers.cw, fls: helpers.fls } });
    this.run = runtime.exports.run as (...args: number[]) => number;
    this.imports.r = runtime.exports;
  }

  /** Table slots handed out so far. */
  get tableUsed(): number {
    return this.next;
  }

  /** Instructions the region at table index `index` has executed (as far as its count slot tells). */
  executedBy(index: number): number {
    const counts = this.env.counts;
    return counts[index & (counts.length - 1)] >>> 0;
  }

  /** Chained transfers so far (region to region inside the dispatcher). */
  get chains(): number {
    return this.env.scratch[S_CHAINS];
  }

  /**
   * Generates the module holding one region per element of `regions` (each
   * the blocks of one page), inlining memory accesses as `inline` says: for
   * all of them, or for each.
   */
  assemble(regions: Block[][], inline: InlineMemory | readonly InlineMemory[]): Uint8Array<ArrayBuffer> {
    return assembleBatch(regions, this.env.layout, typeof inline === 'string' ? regions.map(() => inline) : inline);
  }

  /**
   * Instantiates a module made by {@link assemble} and puts the regions
   * `wanted` (their index in the batch and their page's RAM offset) into the
   * shared table; returns them in order.
   */
  instantiate(module: WebAssembly.Module, wanted: Array<{ k: number; ramOffset: number }>): WasmRegion[] {
    const base = this.next;
    const need = base + wanted.length;
    if (need > this.table.length) this.table.grow(Math.max(need - this.table.length, this.table.length));
    const instance = new WebAssembly.Instance(module, this.imports);
    const counts = this.env.counts;
    wanted.forEach((w, j) => {
      this.table.set(base + j, instance.exports[`r${w.k}`] as () => number);
      counts[(base + j) & (counts.length - 1)] = 0;
    });
    this.next = need;
    return wanted.map((w, j) => ({ index: base + j, fn: this.entry(base + j, w.ramOffset) }));
  }

  /** Lets the region at table index `index` go (its module is collected once none of its regions is left). */
  release(index: number): void {
    this.table.set(index, null);
  }

  /** Releases every region and starts handing out table indices from 0 again. */
  reset(): void {
    for (let i = 0; i < this.next; i++) this.table.set(i, null);
    this.next = 0;
  }

  /**
   * The byte offsets of the last entering hart's registers and TLB entries.
   * TurboFan does not inline `byteOffset` of typed arrays over the
   * WebAssembly memory: read at every entry, the three getters were generic
   * LoadIC calls, about 1% of the Linux boot's samples.
   */
  private readonly addresses = { hart: undefined as Hart | undefined, xl: 0, xh: 0, tlb: 0 };

  /** The function the hart's dispatcher calls to enter the region at table index `index`. */
  private entry(index: number, ramOffset: number): RegionFn {
    const scratch = this.env.scratch;
    const current = this.current;
    const counters = this.counters;
    const run = this.run;
    const at = this.addresses;
    return (hIn, p, lim) => {
      const h = hIn as Hart;
      const mmu = h.mmu;
      const pageVa = h.pc - p;
      current.hart = h;
      h.fpu.jitFast = 0; // the FP helpers set it again (see FpUnit.jitFast)
      if (at.hart !== h) { at.hart = h; at.xl = h.xl.byteOffset; at.xh = h.xh.byteOffset; at.tlb = mmu.entryWords.byteOffset; }
      const pvHi = Math.floor(pageVa / TWO32);
      const n = run(index, p, lim, (pageVa - pvHi * TWO32) | 0, pvHi | 0, mmu.readBase, mmu.writeBase,
        at.xl, at.xh, at.tlb, mmu.fetchBase, ramOffset);
      if (scratch[S_KIND] !== EXIT_SET) h.pc = scratch[S_PCLO + 1] * TWO32 + (scratch[S_PCLO] >>> 0);
      mmu.hits += scratch[S_HITS];
      scratch[S_HITS] = 0;
      counters.executed += n;
      return n;
    };
  }
}
