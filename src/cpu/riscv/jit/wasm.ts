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
 * other target leaves. Everything that is not plain integer work — slow-path
 * loads and stores (TLB miss, MMIO, misaligned), FP, atomics, 128-bit
 * multiplies, a store into a page holding code — calls back into
 * JavaScript, which is exact by construction: it is the interpreter's code.
 * Exits leave the next pc in a scratch area; a helper that trapped has set
 * the pc itself.
 */
import { Op, X_SINK } from '../decode.js';
import type { RegionFn } from '../decode-cache.js';
import { Mstatus } from '../constants.js';
import type { Hart } from '../hart.js';
import type { GuestRam } from '../../../memory/guest-memory.js';
import { mulh64, mulhsu64, mulhu64, r64 } from '../int64.js';
import { endsBlock, fpIntOperands, registersUsed, type Block } from './translator.js';
import { EMPTY_KEY, ENTRY_HASH_MULTIPLIER } from './entry-table.js';

// ---- encoding (WebAssembly core spec, binary format) ----

const I32 = 0x7f, I64 = 0x7e;

function uleb(out: number[], v: number): void {
  do {
    let b = v & 0x7f;
    v = Math.floor(v / 128);
    if (v !== 0) b |= 0x80;
    out.push(b);
  } while (v !== 0);
}

function sleb(out: number[], v: number): void {
  // v is an integer within ±2^53; for i64 constants of 32-bit immediates this is exact.
  for (;;) {
    const b = v & 0x7f;
    v = Math.floor(v / 128);
    if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) { out.push(b); return; }
    out.push(b | 0x80);
  }
}

/** The imports a region calls, in index order. */
const IMPORTS: Array<{ name: string; params: number; result: boolean }> = [
  { name: 'ld', params: 4, result: true },
  { name: 'st', params: 6, result: true },
  { name: 'cw', params: 2, result: true },
  { name: 'fp', params: 2, result: true },
  { name: 'fls', params: 5, result: true },
  { name: 'amo', params: 6, result: true },
  { name: 'mulh', params: 5, result: false },
];
const F = { ld: 0, st: 1, cw: 2, fp: 3, fls: 4, amo: 5, mulh: 6 } as const;

// Parameters of a region function: (p, lim, pv: i64, rb, wb, xl, xh, tag, ro) -> executed.
const P = { p: 0, lim: 1, pv: 2, rb: 3, wb: 4, xl: 5, xh: 6, tag: 7, ro: 8 } as const;
const PARAMS = 9;
const PARAM_TYPES = [I32, I32, I64, I32, I32, I32, I32, I32, I32];

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

/** Emits a function body with structured-control depth tracking. */
class Body {
  readonly code: number[] = [];
  private depth = 0;
  op(a: number, b?: number): this { this.code.push(a); if (b !== undefined) this.code.push(b); return this; }
  i32(v: number): this { this.code.push(0x41); sleb(this.code, v | 0); return this; }
  i64(v: number): this { this.code.push(0x42); sleb(this.code, v); return this; }
  get(l: number): this { this.code.push(0x20); uleb(this.code, l); return this; }
  set(l: number): this { this.code.push(0x21); uleb(this.code, l); return this; }
  tee(l: number): this { this.code.push(0x22); uleb(this.code, l); return this; }
  call(f: number): this { this.code.push(0x10); uleb(this.code, f); return this; }
  /** Memory access `opcode` with a zero alignment hint and `offset`. */
  mem(opcode: number, offset = 0): this { this.code.push(opcode, 0); uleb(this.code, offset); return this; }
  block(): number { this.code.push(0x02, 0x40); return ++this.depth; }
  loop(): number { this.code.push(0x03, 0x40); return ++this.depth; }
  if(): number { this.code.push(0x04, 0x40); return ++this.depth; }
  /** An `if` whose arms leave one value of `type`. */
  ifTyped(type: number): number { this.code.push(0x04, type); return ++this.depth; }
  else(): this { this.code.push(0x05); return this; }
  end(): this { this.code.push(0x0b); this.depth--; return this; }
  /** How many labels out the label opened at absolute depth `label` is, from here. */
  depthOf(label: number): number { return this.depth - label; }
  /** Branches to the label opened at absolute depth `label`. */
  br(label: number): this { this.code.push(0x0c); uleb(this.code, this.depth - label); return this; }
  brTable(labels: number[], dflt: number): this {
    this.code.push(0x0e);
    uleb(this.code, labels.length);
    for (const l of labels) uleb(this.code, this.depth - l);
    uleb(this.code, this.depth - dflt);
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
  i32wrap: 0xa7, i64extends: 0xac, i64extendu: 0xad, f64converti64s: 0xb9, f64ne: 0x62, i32gts: 0x4a, i32ltu: 0x49,
  i64extend8s: 0xc2, i64extend16s: 0xc3, i64extend32s: 0xc4,
  select: 0x1b, drop: 0x1a,
} as const;

/** Where the shared, per-machine parts of the state area are. */
export interface WasmLayout {
  memory: WebAssembly.Memory;
  /** Byte offsets in the memory. */
  scratch: number;
  dirty: number;
  codePages: number;
  /** The {@link EntryTable} the chaining dispatcher looks targets up in: byte offset and log2 of its slots. */
  entries: number;
  entryBits: number;
}

/** The machine-wide pieces a region's imports and wrapper need. */
export interface WasmEnv {
  ram: GuestRam;
  layout: WasmLayout;
  /** {@link SCRATCH_WORDS} words in the WebAssembly memory at `layout.scratch`. */
  scratch: Int32Array;
}

const MIN64 = -9223372036854775808;

/** Generates the region function's code. */
class WasmGen {
  readonly b = new Body();
  private readonly regLocal = new Map<number, number>();
  private nextLocal = PARAMS;
  private readonly n: number;
  private readonly va: number;
  private readonly t64: number;
  private readonly ro64: number;
  private readonly t: number;
  private readonly k: number;
  private readonly hits: number;
  readonly i64Locals: number;
  readonly i32Locals: number;
  // Absolute depths of the loop and the exit block.
  private loopLabel = 0;
  private outLabel = 0;

  constructor(private readonly blocks: Block[], private readonly layout: WasmLayout) {
    const { regs } = registersUsed(blocks);
    // i64 locals: va, t64, ro64, then the registers; i32 locals after them: n, t, k, hits.
    this.va = this.nextLocal++;
    this.t64 = this.nextLocal++;
    this.ro64 = this.nextLocal++;
    for (const r of regs) this.regLocal.set(r, this.nextLocal++);
    this.i64Locals = this.nextLocal - PARAMS;
    this.n = this.nextLocal++;
    this.t = this.nextLocal++;
    this.k = this.nextLocal++;
    this.hits = this.nextLocal++;
    this.i32Locals = 4;
  }

  private getReg(r: number): void {
    if (r === 0) this.b.i64(0);
    else this.b.get(this.regLocal.get(r) as number);
  }

  /** Stores the i64 on the stack to rd (drops it for x0). */
  private setReg(rd: number): void {
    if (rd === 0 || rd === X_SINK) this.b.op(O.drop);
    else this.b.set(this.regLocal.get(rd) as number);
  }

  private syncToMemory(r: number): void {
    if (r === 0 || r === X_SINK) return;
    const l = this.regLocal.get(r) as number;
    const b = this.b;
    b.get(P.xl).get(l).op(O.i32wrap).mem(O.i32store, 4 * r);
    b.get(P.xh).get(l).i64(32).op(O.i64shru).op(O.i32wrap).mem(O.i32store, 4 * r);
  }

  private loadFromMemory(r: number): void {
    if (r === 0 || r === X_SINK) return;
    const b = this.b;
    b.get(P.xl).mem(O.i64load32u, 4 * r);
    b.get(P.xh).mem(O.i64load32s, 4 * r).i64(32).op(O.i64shl).op(O.i64or);
    b.set(this.regLocal.get(r) as number);
  }

  /** n += k. */
  private count(k: number): void {
    this.b.get(this.n).i32(k).op(O.i32add).set(this.n);
  }

  /** Leaves with the next pc = pv + (the i64 on the stack, relative). */
  private exitPcStack(kind = EXIT_PC): void {
    const b = this.b;
    b.get(P.pv).op(O.i64add).set(this.t64);
    b.i32(this.layout.scratch).get(this.t64).mem(O.i64store, 4 * S_PCLO);
    b.i32(this.layout.scratch).i32(kind).mem(O.i32store, 4 * S_KIND);
    b.br(this.outLabel);
  }

  private exitAt(off: number, kind = EXIT_PC): void {
    this.b.i64(off);
    this.exitPcStack(kind);
  }

  /** Leaves after a helper trapped (it set the pc): the instruction counts. */
  private trapExit(k: number): void {
    const b = this.b;
    this.count(k);
    b.i32(this.layout.scratch).i32(EXIT_SET).mem(O.i32store, 4 * S_KIND);
    b.br(this.outLabel);
  }

  /** Continues at page offset `t`: in the region's dispatch when on the page, else leaves. */
  private goto(t: number): void {
    if (t >= 0 && t < 4096) this.b.i32(t).set(P.p).br(this.loopLabel);
    else this.exitAt(t);
  }

  generate(): number[] {
    const b = this.b;
    // Registers into locals.
    for (const r of this.regLocal.keys()) this.loadFromMemory(r);
    this.loopLabel = b.loop();
    this.outLabel = b.block();
    // Budget check at every block boundary.
    b.get(this.n).get(P.lim).op(O.i32ges);
    b.if();
    b.get(P.p).op(O.i64extendu);
    this.exitPcStack();
    b.end();
    const labels: number[] = [];
    for (let k = this.blocks.length - 1; k >= 0; k--) labels[k] = b.block();
    const dflt = b.block();
    // The dispatch table covers the slots from the first block start to the last.
    const first = Math.min(...this.blocks.map((bl) => bl.start >>> 1));
    const last = Math.max(...this.blocks.map((bl) => bl.start >>> 1));
    const table: number[] = new Array<number>(last - first + 1).fill(dflt);
    this.blocks.forEach((bl, k) => { table[(bl.start >>> 1) - first] = labels[k]; });
    b.get(P.p).i32(1).op(O.i32shru).i32(first).op(O.i32sub).brTable(table, dflt);
    b.end(); // dflt: not a block of this region
    b.get(P.p).op(O.i64extendu);
    this.exitPcStack();
    for (const bl of this.blocks) {
      b.end(); // the block's label: its code follows
      bl.insns.forEach((insn, k) => this.insn(insn, k + 1, bl.insns.length));
      const last = bl.insns[bl.insns.length - 1];
      if (!endsBlock(last.op)) {
        this.count(bl.insns.length);
        this.goto(last.off + last.len);
      }
    }
    b.end(); // out
    // Write the registers back; add up TLB hits; return the count.
    for (const r of this.regLocal.keys()) this.syncToMemory(r);
    b.i32(this.layout.scratch).i32(this.layout.scratch).mem(O.i32load, 4 * S_HITS).get(this.hits).op(O.i32add).mem(O.i32store, 4 * S_HITS);
    b.get(this.n).op(0x0f); // return
    b.end(); // loop (never falls through)
    b.i32(0);
    return b.code;
  }

  private insn(i: { off: number; op: number; rd: number; rs1: number; rs2: number; imm: number; len: number }, k: number, count: number): void {
    const b = this.b;
    const { rd, rs1, rs2, imm, off, len } = i;
    const next = off + len;
    const sink = rd === X_SINK;
    switch (i.op) {
      case Op.LUI: if (!sink) { b.i64(imm); this.setReg(rd); } return;
      case Op.AUIPC: if (!sink) { b.get(P.pv).i64(off + imm).op(O.i64add); this.setReg(rd); } return;
      case Op.JAL:
        if (!sink) { b.get(P.pv).i64(next).op(O.i64add); this.setReg(rd); }
        this.count(count);
        this.goto(off + imm);
        return;
      case Op.JALR:
        this.getReg(rs1); b.i64(imm).op(O.i64add).i64(-2).op(O.i64and).set(this.va);
        if (!sink) { b.get(P.pv).i64(next).op(O.i64add); this.setReg(rd); }
        this.count(count);
        b.get(this.va).get(P.pv).op(O.i64sub).tee(this.t64).i64(4096).op(O.i64ltu);
        b.if();
        b.get(this.t64).op(O.i32wrap).set(P.p).br(this.loopLabel);
        b.end();
        b.get(this.t64);
        this.exitPcStack();
        return;
      case Op.BEQ: case Op.BNE: case Op.BLT: case Op.BGE: case Op.BLTU: case Op.BGEU: {
        const cmp = { [Op.BEQ]: O.i64eq, [Op.BNE]: O.i64ne, [Op.BLT]: O.i64lts, [Op.BGE]: O.i64ges, [Op.BLTU]: O.i64ltu, [Op.BGEU]: O.i64geu }[i.op] as number;
        this.count(count);
        this.getReg(rs1); this.getReg(rs2); b.op(cmp);
        b.if();
        this.goto(off + imm);
        b.end();
        this.goto(next);
        return;
      }
      case Op.LB: case Op.LH: case Op.LW: case Op.LD: case Op.LBU: case Op.LHU: case Op.LWU:
        this.load(i.op, rd, rs1, imm, off, k, next);
        return;
      case Op.SB: case Op.SH: case Op.SW: case Op.SD:
        this.store(i.op, rs1, rs2, imm, off, k, next);
        return;
      case Op.FLW: case Op.FLD: case Op.FSW: case Op.FSD:
        // fls(op, reg, lo, hi, off): FP loads and stores go through the interpreter's paths.
        this.getReg(rs1); b.i64(imm).op(O.i64add).set(this.va);
        b.i32(i.op).i32(i.op === Op.FLW || i.op === Op.FLD ? rd : rs2);
        b.get(this.va).op(O.i32wrap).get(this.va).i64(32).op(O.i64shru).op(O.i32wrap).i32(off).call(F.fls).tee(this.k);
        this.afterHelper(k, next);
        return;
      case Op.ADDI:
        if (sink) return;
        this.getReg(rs1); if (imm !== 0) b.i64(imm).op(O.i64add);
        this.setReg(rd);
        return;
      case Op.SLTI: case Op.SLTIU:
        if (sink) return;
        this.getReg(rs1); b.i64(imm).op(i.op === Op.SLTI ? O.i64lts : O.i64ltu).op(O.i64extendu);
        this.setReg(rd);
        return;
      case Op.XORI: case Op.ORI: case Op.ANDI:
        if (sink) return;
        this.getReg(rs1); b.i64(imm).op(i.op === Op.XORI ? O.i64xor : i.op === Op.ORI ? O.i64or : O.i64and);
        this.setReg(rd);
        return;
      case Op.SLLI: case Op.SRLI: case Op.SRAI:
        if (sink) return;
        this.getReg(rs1); b.i64(imm & 63).op(i.op === Op.SLLI ? O.i64shl : i.op === Op.SRLI ? O.i64shru : O.i64shrs);
        this.setReg(rd);
        return;
      case Op.ADD: case Op.SUB: case Op.SLL: case Op.SRL: case Op.SRA: case Op.XOR: case Op.OR: case Op.AND: case Op.MUL: {
        if (sink) return;
        const o = { [Op.ADD]: O.i64add, [Op.SUB]: O.i64sub, [Op.SLL]: O.i64shl, [Op.SRL]: O.i64shru, [Op.SRA]: O.i64shrs,
          [Op.XOR]: O.i64xor, [Op.OR]: O.i64or, [Op.AND]: O.i64and, [Op.MUL]: O.i64mul }[i.op] as number;
        this.getReg(rs1); this.getReg(rs2); b.op(o);
        this.setReg(rd);
        return;
      }
      case Op.SLT: case Op.SLTU:
        if (sink) return;
        this.getReg(rs1); this.getReg(rs2); b.op(i.op === Op.SLT ? O.i64lts : O.i64ltu).op(O.i64extendu);
        this.setReg(rd);
        return;
      case Op.ADDIW: case Op.SLLIW: case Op.SRLIW: case Op.SRAIW:
        if (sink) return;
        this.getReg(rs1); b.op(O.i32wrap).i32(imm);
        b.op(i.op === Op.ADDIW ? O.i32add : i.op === Op.SLLIW ? O.i32shl : i.op === Op.SRLIW ? O.i32shru : O.i32shrs).op(O.i64extends);
        this.setReg(rd);
        return;
      case Op.ADDW: case Op.SUBW: case Op.SLLW: case Op.SRLW: case Op.SRAW: case Op.MULW: {
        if (sink) return;
        const o = { [Op.ADDW]: O.i32add, [Op.SUBW]: O.i32sub, [Op.SLLW]: O.i32shl, [Op.SRLW]: O.i32shru, [Op.SRAW]: O.i32shrs, [Op.MULW]: O.i32mul }[i.op] as number;
        this.getReg(rs1); b.op(O.i32wrap); this.getReg(rs2); b.op(O.i32wrap).op(o).op(O.i64extends);
        this.setReg(rd);
        return;
      }
      case Op.DIV: case Op.DIVU: case Op.REM: case Op.REMU:
        if (!sink) this.div64(i.op, rd, rs1, rs2);
        return;
      case Op.DIVW: case Op.DIVUW: case Op.REMW: case Op.REMUW:
        if (!sink) this.div32(i.op, rd, rs1, rs2);
        return;
      case Op.MULH: case Op.MULHSU: case Op.MULHU:
        if (sink) return;
        b.i32(i.op);
        for (const r of [rs1, rs2]) { this.getReg(r); b.op(O.i32wrap); this.getReg(r); b.i64(32).op(O.i64shru).op(O.i32wrap); }
        b.call(F.mulh);
        b.i32(this.layout.scratch).mem(O.i64load, 4 * S_LO);
        this.setReg(rd);
        return;
      case Op.FP: {
        const io = fpIntOperands(imm);
        if (io.readsRs1) this.syncToMemory((imm >>> 15) & 31);
        b.i32(imm).i32(off).call(F.fp);
        this.leaveIfTrapped(k);
        if (io.writesRd) this.loadFromMemory((imm >>> 7) & 31);
        return;
      }
      case Op.LR_W: case Op.SC_W: case Op.AMO_W: case Op.LR_D: case Op.SC_D: case Op.AMO_D:
        this.syncToMemory(rs1); this.syncToMemory(rs2);
        b.i32(i.op).i32(rd).i32(rs1).i32(rs2).i32(imm).i32(off).call(F.amo).tee(this.k);
        this.leaveIfTrapped(k);
        this.loadFromMemory(rd);
        this.leaveIfAsked(k, next);
        return;
      case Op.FENCE: case Op.FENCE_I:
        return;
      default:
        throw new Error(`wasm translator: operation ${i.op} is not translatable`);
    }
  }

  /** After a helper left its status (also in local k) on the stack: 0 = it trapped, so leave. */
  private leaveIfTrapped(k: number): void {
    const b = this.b;
    b.op(O.i32eqz);
    b.if(); this.trapExit(k); b.end();
  }

  /** Status 2 in local k: the helper's access may have changed interrupts or this page; leave after the instruction. */
  private leaveIfAsked(k: number, next: number): void {
    const b = this.b;
    b.get(this.k).i32(2).op(O.i32eq);
    b.if(); this.count(k); this.exitAt(next, EXIT_ASK); b.end();
  }

  /** Both checks of a helper's status, for helpers whose instruction needs nothing in between. */
  private afterHelper(k: number, next: number): void {
    this.leaveIfTrapped(k);
    this.leaveIfAsked(k, next);
  }

  /** Computes t = TLB byte index for va in context `base` and leaves "hit" (i32) on the stack; sets ro64. */
  private tlb(base: number, size: number): void {
    const b = this.b;
    b.get(base).get(this.va).i64(12).op(O.i64shru).op(O.i32wrap).i32(511).op(O.i32and).op(O.i32add).i32(3).op(O.i32shl).set(this.t);
    b.get(P.tag).get(this.t).op(O.i32add).mem(O.f64load);
    b.get(this.va).i64(12).op(O.i64shrs).op(O.f64converti64s).op(O.f64eq);
    b.get(P.ro).get(this.t).op(O.i32add).mem(O.f64load).op(0xfc, 0x06).tee(this.ro64).i64(0).op(O.i64ges).op(O.i32and); // i64.trunc_sat_f64_s
    if (size > 1) b.get(this.va).op(O.i32wrap).i32(size - 1).op(O.i32and).op(O.i32eqz).op(O.i32and);
  }

  /** Pushes the RAM offset o = ro + (va & 4095) (i32). */
  private ramOffset(): void {
    this.b.get(this.ro64).op(O.i32wrap).get(this.va).op(O.i32wrap).i32(4095).op(O.i32and).op(O.i32add);
  }

  private load(op: number, rd: number, rs1: number, imm: number, off: number, k: number, next: number): void {
    const b = this.b;
    const size = op === Op.LD ? 8 : op === Op.LW || op === Op.LWU ? 4 : op === Op.LH || op === Op.LHU ? 2 : 1;
    const fastOp = { [Op.LB]: O.i64load8s, [Op.LBU]: O.i64load8u, [Op.LH]: O.i64load16s, [Op.LHU]: O.i64load16u,
      [Op.LW]: O.i64load32s, [Op.LWU]: O.i64load32u, [Op.LD]: O.i64load }[op] as number;
    this.getReg(rs1); b.i64(imm).op(O.i64add).set(this.va);
    this.tlb(P.rb, size);
    b.if();
    b.get(this.hits).i32(1).op(O.i32add).set(this.hits);
    this.ramOffset(); b.mem(fastOp);
    this.setReg(rd);
    b.else();
    b.get(this.va).op(O.i32wrap).get(this.va).i64(32).op(O.i64shru).op(O.i32wrap).i32(size).i32(off).call(F.ld).tee(this.k);
    this.leaveIfTrapped(k);
    b.i32(this.layout.scratch).mem(O.i64load, 4 * S_LO);
    switch (op) {
      case Op.LB: b.op(O.i64extend8s); break;
      case Op.LH: b.op(O.i64extend16s); break;
      case Op.LW: b.op(O.i64extend32s); break;
      case Op.LBU: b.i64(0xff).op(O.i64and); break;
      case Op.LHU: b.i64(0xffff).op(O.i64and); break;
      case Op.LWU: b.i64(0xffffffff).op(O.i64and); break;
    }
    this.setReg(rd);
    this.leaveIfAsked(k, next);
    b.end();
  }

  private store(op: number, rs1: number, rs2: number, imm: number, off: number, k: number, next: number): void {
    const b = this.b;
    const size = op === Op.SD ? 8 : op === Op.SW ? 4 : op === Op.SH ? 2 : 1;
    const fastOp = { [Op.SB]: O.i64store8, [Op.SH]: O.i64store16, [Op.SW]: O.i64store32, [Op.SD]: O.i64store }[op] as number;
    this.getReg(rs1); b.i64(imm).op(O.i64add).set(this.va);
    this.tlb(P.wb, size);
    b.if();
    b.get(this.hits).i32(1).op(O.i32add).set(this.hits);
    this.ramOffset(); b.tee(this.t); this.getReg(rs2); b.mem(fastOp);
    // dirty[o >> 12] = 1; a page holding code goes through the code-write path.
    b.get(this.t).i32(12).op(O.i32shru).tee(this.t).i32(1).mem(O.i32store8, this.layout.dirty);
    b.get(this.t).mem(O.i32load8u, this.layout.codePages);
    b.if();
    this.ramOffset(); b.i32(size).call(F.cw);
    b.if(); this.count(k); this.exitAt(next, EXIT_ASK); b.end();
    b.end();
    b.else();
    b.get(this.va).op(O.i32wrap).get(this.va).i64(32).op(O.i64shru).op(O.i32wrap).i32(size);
    this.getReg(rs2); b.op(O.i32wrap); this.getReg(rs2); b.i64(32).op(O.i64shru).op(O.i32wrap);
    b.i32(off).call(F.st).tee(this.k);
    this.afterHelper(k, next);
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

function section(out: number[], id: number, content: number[]): void {
  out.push(id); uleb(out, content.length);
  for (const b of content) out.push(b);
}

function name(s: string, into: number[]): void {
  uleb(into, s.length);
  for (const c of s) into.push(c.charCodeAt(0));
}

function funcType(into: number[], params: number[], results: number[]): void {
  into.push(0x60); uleb(into, params.length); into.push(...params); uleb(into, results.length); into.push(...results);
}

/** The type index of a region function in both kinds of module. */
const REGION_TYPE = IMPORTS.length;

/**
 * The start of every batch module: its types (one per helper, then the
 * region type) and its imports (the helpers and the memory).
 *
 * The module does not import the shared function table to put its functions
 * there itself (with an element segment): V8 (11.x) gives every instance
 * that imports a table its own copy of the table's dispatch entries, so
 * instantiating costs time in proportion to the table's size and every later
 * `Table.set` updates every such instance. It exports them instead and
 * {@link WasmBackend} sets them into the table, which only the dispatcher
 * imports.
 */
const BATCH_HEAD: number[] = (() => {
  const out: number[] = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
  const types: number[] = [];
  uleb(types, IMPORTS.length + 1);
  for (const imp of IMPORTS) funcType(types, new Array<number>(imp.params).fill(I32), imp.result ? [I32] : []);
  funcType(types, PARAM_TYPES, [I32]);
  section(out, 1, types);
  const imports: number[] = [];
  uleb(imports, IMPORTS.length + 1);
  IMPORTS.forEach((imp, i) => { name('h', imports); name(imp.name, imports); imports.push(0x00); uleb(imports, i); });
  name('h', imports); name('mem', imports); imports.push(0x02, 0x00, 0x00); // memory, min 0 pages
  section(out, 2, imports);
  return out;
})();

/** A region's function body, ready to go into a code section. */
interface RegionCode {
  body: number[];
  i64Locals: number;
  i32Locals: number;
}

/** Assembles one module holding `regions`: region k is exported as `rk`. */
function assembleBatch(regions: RegionCode[]): Uint8Array<ArrayBuffer> {
  const out = [...BATCH_HEAD];
  const funcs: number[] = [];
  uleb(funcs, regions.length);
  for (let k = 0; k < regions.length; k++) uleb(funcs, REGION_TYPE);
  section(out, 3, funcs);
  const exports: number[] = [];
  uleb(exports, regions.length);
  for (let k = 0; k < regions.length; k++) { name(`r${k}`, exports); exports.push(0x00); uleb(exports, IMPORTS.length + k); }
  section(out, 7, exports);
  // The code section, written straight into the output (bodies are the bulk of the module).
  const entries: number[][] = regions.map((r) => {
    const head: number[] = [];
    const locals: number[] = [];
    uleb(locals, 2); uleb(locals, r.i64Locals); locals.push(I64); uleb(locals, r.i32Locals); locals.push(I32);
    uleb(head, locals.length + r.body.length + 1);
    return [...head, ...locals];
  });
  let size = 0;
  const count: number[] = [];
  uleb(count, regions.length);
  size += count.length;
  regions.forEach((r, k) => { size += entries[k].length + r.body.length + 1; });
  const sectionHead: number[] = [10];
  uleb(sectionHead, size);
  const bytes = new Uint8Array(out.length + sectionHead.length + size);
  let at = 0;
  const put = (a: ArrayLike<number>): void => { bytes.set(a, at); at += a.length; };
  put(out); put(sectionHead); put(count);
  regions.forEach((r, k) => { put(entries[k]); put(r.body); bytes[at++] = 0x0b; });
  return bytes;
}

// Parameters and locals of the chaining dispatcher.
const D = {
  idx: 0, p: 1, lim: 2, pvLo: 3, pvHi: 4, rb: 5, wb: 6, xl: 7, xh: 8, tag: 9, ro: 10, fb: 11, page: 12,
  pv: 13, va: 14, ro64: 15, total: 16, t: 17, h: 18, key: 19, k: 20,
} as const;
const DISPATCH_PARAMS = 13;

/**
 * The chaining dispatcher, one module per machine: `run(idx, p, lim, pvLo,
 * pvHi, rb, wb, xl, xh, tag, ro, fetchBase, page)` calls region `idx` of the
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
function assembleDispatcher(layout: WasmLayout): Uint8Array<ArrayBuffer> {
  const out: number[] = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
  const types: number[] = [];
  uleb(types, 2);
  funcType(types, PARAM_TYPES, [I32]); // 0: a region
  funcType(types, new Array<number>(DISPATCH_PARAMS).fill(I32), [I32]); // 1: run
  section(out, 1, types);
  const imports: number[] = [];
  uleb(imports, 2);
  name('h', imports); name('mem', imports); imports.push(0x02, 0x00, 0x00);
  name('h', imports); name('tbl', imports); imports.push(0x01, 0x70, 0x00, 0x00);
  section(out, 2, imports);
  section(out, 3, [1, 1]);
  const exports: number[] = [];
  uleb(exports, 1); name('run', exports); exports.push(0x00, 0x00);
  section(out, 7, exports);

  const b = new Body();
  const sc = layout.scratch;
  b.get(D.pvLo).op(O.i64extendu).get(D.pvHi).op(O.i64extends).i64(32).op(O.i64shl).op(O.i64or).set(D.pv);
  const again = b.loop();
  b.i32(sc).get(D.pv).mem(O.i64store, 4 * S_PV);
  b.get(D.p).get(D.lim).get(D.total).op(O.i32sub).get(D.pv);
  for (const l of [D.rb, D.wb, D.xl, D.xh, D.tag, D.ro, D.idx]) b.get(l);
  b.op(0x11, 0).op(0x00); // call_indirect (type 0) (table 0)
  b.get(D.total).op(O.i32add).set(D.total);
  const out_ = b.block();
  b.i32(sc).mem(O.i32load, 4 * S_KIND).op(0x0d); uleb(b.code, 0); // br_if out: not a plain exit
  b.get(D.total).get(D.lim).op(O.i32ges).op(0x0d); uleb(b.code, 0); // br_if out: budget spent
  b.i32(sc).mem(O.i64load, 4 * S_PCLO).set(D.va);
  b.block(); // found
  // On the page just run: its RAM offset is known (the fetch TLB may have been flushed since the hart
  // fetched from it: its fetch path keeps a page until the mapping changes).
  b.get(D.page).get(D.va).op(O.i32wrap).i32(4095).op(O.i32and).op(O.i32add).set(D.key);
  b.get(D.va).i64(-4096).op(O.i64and).get(D.pv).op(O.i64eq).op(0x0d); uleb(b.code, 0);
  // Elsewhere, the fetch TLB entry of va (what the hart's fetch path would hit): tag, then RAM offset (-1 = not RAM).
  b.get(D.fb).get(D.va).i64(12).op(O.i64shru).op(O.i32wrap).i32(511).op(O.i32and).op(O.i32add).i32(3).op(O.i32shl).set(D.t);
  b.get(D.tag).get(D.t).op(O.i32add).mem(O.f64load).get(D.va).i64(12).op(O.i64shrs).op(O.f64converti64s).op(O.f64ne);
  b.op(0x0d); uleb(b.code, 1);
  b.get(D.ro).get(D.t).op(O.i32add).mem(O.f64load).op(0xfc, 0x06).tee(D.ro64).i64(0).op(O.i64lts);
  b.op(0x0d); uleb(b.code, 1);
  b.get(D.ro64).op(O.i32wrap).get(D.va).op(O.i32wrap).i32(4095).op(O.i32and).op(O.i32add).set(D.key);
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
  b.get(D.k).i32(EMPTY_KEY).op(O.i32eq).op(0x0d); uleb(b.code, b.depthOf(out_));
  b.get(D.h).i32(1).op(O.i32add).i32((1 << layout.entryBits) - 1).op(O.i32and).set(D.h);
  b.br(probe);
  b.end(); // probe
  b.end(); // out
  b.get(D.total).op(0x0f);
  b.end(); // again
  b.i32(0);

  const locals: number[] = [];
  uleb(locals, 2); uleb(locals, 3); locals.push(I64); uleb(locals, 5); locals.push(I32); // pv va ro64; total t h key k
  const fn: number[] = [];
  uleb(fn, locals.length + b.code.length + 1);
  fn.push(...locals, ...b.code, 0x0b);
  const code: number[] = [];
  uleb(code, 1); code.push(...fn);
  section(out, 10, code);
  return new Uint8Array(out);
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
 * The WebAssembly back end of one machine: compiles batches of regions into
 * modules whose functions go into one shared function table, and enters them
 * through the chaining dispatcher.
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
    this.imports = {
      h: {
        mem: env.layout.memory,
        ld: (lo: number, hi: number, size: number, off: number): number => {
          const h = hart();
          const e = epoch.value;
          at(off);
          if (!h.loadSlow(lo, hi, size)) return 0;
          scratch[S_LO] = r64.lo; scratch[S_HI] = r64.hi;
          return h.interruptCheck || epoch.value !== e ? 2 : 1;
        },
        st: (lo: number, hi: number, size: number, vl: number, vh: number, off: number): number => {
          const h = hart();
          const e = epoch.value;
          at(off);
          if (!h.storeSlow(lo, hi, size, vl, vh)) return 0;
          return h.interruptCheck || epoch.value !== e ? 2 : 1;
        },
        cw: (o: number, size: number): number => {
          const e = epoch.value;
          ram.noteWrite(o, size);
          return epoch.value !== e ? 1 : 0;
        },
        fp: (raw: number, off: number): number => {
          const h = hart();
          if ((h.csr.mstatus & Mstatus.FS) === 0 || !h.fpu.execute(raw)) { at(off); h.illegal(raw); return 0; }
          h.csr.mstatus |= Mstatus.FS;
          return 1;
        },
        fls: (op: number, reg: number, lo: number, hi: number, off: number): number => {
          const h = hart();
          const e = epoch.value;
          at(off);
          if ((h.csr.mstatus & Mstatus.FS) === 0) { h.illegalAtPc(); return 0; }
          const fr = h.fpu.i32;
          if (op === Op.FLW || op === Op.FLD) {
            const size = op === Op.FLD ? 8 : 4;
            if (!h.loadSlow(lo, hi, size)) return 0;
            fr[2 * reg] = r64.lo; fr[2 * reg + 1] = size === 8 ? r64.hi : -1;
          } else if (!h.storeSlow(lo, hi, op === Op.FSD ? 8 : 4, fr[2 * reg], fr[2 * reg + 1])) return 0;
          h.csr.mstatus |= Mstatus.FS;
          return h.interruptCheck || epoch.value !== e ? 2 : 1;
        },
        amo: (op: number, rd: number, rs1: number, rs2: number, imm: number, off: number): number => {
          const h = hart();
          const e = epoch.value;
          at(off);
          if (!h.atomic(op, rd, rs1, rs2, imm)) return 0;
          return h.interruptCheck || epoch.value !== e ? 2 : 1;
        },
        mulh: (op: number, al: number, ah: number, bl: number, bh: number): void => {
          if (op === Op.MULH) mulh64(al, ah, bl, bh); else if (op === Op.MULHSU) mulhsu64(al, ah, bl, bh); else mulhu64(al, ah, bl, bh);
          scratch[S_LO] = r64.lo; scratch[S_HI] = r64.hi;
        },
      },
    };
    const dispatcher = new WebAssembly.Instance(new WebAssembly.Module(assembleDispatcher(env.layout)),
      { h: { mem: env.layout.memory, tbl: this.table } });
    this.run = dispatcher.exports.run as (...args: number[]) => number;
  }

  /** Table slots handed out so far. */
  get tableUsed(): number {
    return this.next;
  }

  /** Chained transfers so far (region to region inside the dispatcher). */
  get chains(): number {
    return this.env.scratch[S_CHAINS];
  }

  /** Compiles `regions` (each the blocks of one page, at RAM offset `ramOffset`) into one module; returns them in order. */
  compile(regions: Array<{ blocks: Block[]; ramOffset: number }>): WasmRegion[] {
    const code: RegionCode[] = regions.map(({ blocks }) => {
      const gen = new WasmGen(blocks, this.env.layout);
      return { body: gen.generate(), i64Locals: gen.i64Locals, i32Locals: gen.i32Locals };
    });
    const base = this.next;
    const need = base + regions.length;
    if (need > this.table.length) this.table.grow(Math.max(need - this.table.length, this.table.length));
    const instance = new WebAssembly.Instance(new WebAssembly.Module(assembleBatch(code)), this.imports);
    for (let k = 0; k < regions.length; k++) this.table.set(base + k, instance.exports[`r${k}`]);
    this.next = need;
    return regions.map((r, k) => ({ index: base + k, fn: this.entry(base + k, r.ramOffset) }));
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

  /** The function the hart's dispatcher calls to enter the region at table index `index`. */
  private entry(index: number, ramOffset: number): RegionFn {
    const scratch = this.env.scratch;
    const current = this.current;
    const counters = this.counters;
    const run = this.run;
    return (hIn, p, lim) => {
      const h = hIn as Hart;
      const mmu = h.mmu;
      const pageVa = h.pc - p;
      current.hart = h;
      const pvHi = Math.floor(pageVa / TWO32);
      const n = run(index, p, lim, (pageVa - pvHi * TWO32) | 0, pvHi | 0, mmu.readBase, mmu.writeBase,
        h.xl.byteOffset, h.xh.byteOffset, mmu.tag.byteOffset, mmu.ramOffset.byteOffset, mmu.fetchBase, ramOffset);
      if (scratch[S_KIND] !== EXIT_SET) h.pc = scratch[S_PCLO + 1] * TWO32 + (scratch[S_PCLO] >>> 0);
      mmu.hits += scratch[S_HITS];
      scratch[S_HITS] = 0;
      counters.executed += n;
      return n;
    };
  }
}
