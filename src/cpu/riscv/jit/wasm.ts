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
import type { DecodedPage, RegionFn } from '../decode-cache.js';
import { Mstatus } from '../constants.js';
import type { Hart } from '../hart.js';
import type { GuestRam } from '../../../memory/guest-memory.js';
import { mulh64, mulhsu64, mulhu64, r64 } from '../int64.js';
import { endsBlock, fpIntOperands, registersUsed, type Block } from './translator.js';

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

// Parameters of the region function.
const P = { p: 0, lim: 1, pvLo: 2, pvHi: 3, rb: 4, wb: 5, xl: 6, xh: 7, tag: 8, ro: 9 } as const;
const PARAMS = 10;

/** Scratch words (Int32 indices) shared by every region of a machine. */
const S_LO = 0, S_HI = 1, S_PCLO = 2, S_KIND = 4, S_HITS = 5;
/** Exit kinds: the pc to continue at is in the scratch area, or a helper set it (a trap). */
const EXIT_PC = 0, EXIT_SET = 1;

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
  i32wrap: 0xa7, i64extends: 0xac, i64extendu: 0xad, f64converti64s: 0xb9,
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
}

/** The machine-wide pieces a region's imports and wrapper need. */
export interface WasmEnv {
  ram: GuestRam;
  layout: WasmLayout;
  scratch: Int32Array;
}

const MIN64 = -9223372036854775808;

/** Generates the region function's code. */
class WasmGen {
  readonly b = new Body();
  private readonly regLocal = new Map<number, number>();
  private nextLocal = PARAMS;
  private readonly n: number;
  private readonly pv: number;
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
    // i64 locals: pv, va, t64, ro64, then the registers; i32 locals after them: n, t, k, hits.
    this.pv = this.nextLocal++;
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
  private exitPcStack(): void {
    const b = this.b;
    b.get(this.pv).op(O.i64add).set(this.t64);
    b.i32(this.layout.scratch).get(this.t64).mem(O.i64store, 4 * S_PCLO);
    b.i32(this.layout.scratch).i32(EXIT_PC).mem(O.i32store, 4 * S_KIND);
    b.br(this.outLabel);
  }

  private exitAt(off: number): void {
    this.b.i64(off);
    this.exitPcStack();
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
    // pv = pageVa as i64; registers into locals.
    b.get(P.pvLo).op(O.i64extendu).get(P.pvHi).op(O.i64extends).i64(32).op(O.i64shl).op(O.i64or).set(this.pv);
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
    // Write the registers back; report TLB hits; return the count.
    for (const r of this.regLocal.keys()) this.syncToMemory(r);
    b.i32(this.layout.scratch).get(this.hits).mem(O.i32store, 4 * S_HITS);
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
      case Op.AUIPC: if (!sink) { b.get(this.pv).i64(off + imm).op(O.i64add); this.setReg(rd); } return;
      case Op.JAL:
        if (!sink) { b.get(this.pv).i64(next).op(O.i64add); this.setReg(rd); }
        this.count(count);
        this.goto(off + imm);
        return;
      case Op.JALR:
        this.getReg(rs1); b.i64(imm).op(O.i64add).i64(-2).op(O.i64and).set(this.va);
        if (!sink) { b.get(this.pv).i64(next).op(O.i64add); this.setReg(rd); }
        this.count(count);
        b.get(this.va).get(this.pv).op(O.i64sub).tee(this.t64).i64(4096).op(O.i64ltu);
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
    b.if(); this.count(k); this.exitAt(next); b.end();
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
    b.if(); this.count(k); this.exitAt(next); b.end();
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

/**
 * The module's sections before the code section; the same for every region
 * except the locals, so they are built once.
 */
const MODULE_HEAD: Uint8Array = (() => {
  const out: number[] = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
  const section = (id: number, content: number[]): void => { out.push(id); uleb(out, content.length); for (const b of content) out.push(b); };
  const name = (s: string, into: number[]): void => { uleb(into, s.length); for (const c of s) into.push(c.charCodeAt(0)); };
  // Types: one per import, then the region's.
  const types: number[] = [];
  uleb(types, IMPORTS.length + 1);
  for (const imp of IMPORTS) {
    types.push(0x60); uleb(types, imp.params); for (let i = 0; i < imp.params; i++) types.push(I32);
    if (imp.result) types.push(1, I32); else types.push(0);
  }
  types.push(0x60); uleb(types, PARAMS); for (let i = 0; i < PARAMS; i++) types.push(I32); types.push(1, I32);
  section(1, types);
  const imports: number[] = [];
  uleb(imports, IMPORTS.length + 1);
  IMPORTS.forEach((imp, i) => { name('h', imports); name(imp.name, imports); imports.push(0x00); uleb(imports, i); });
  name('h', imports); name('mem', imports); imports.push(0x02, 0x00); uleb(imports, 0); // memory, min 0 pages
  section(2, imports);
  const funcs: number[] = [];
  uleb(funcs, 1); uleb(funcs, IMPORTS.length);
  section(3, funcs);
  const exports: number[] = [];
  uleb(exports, 1); name('run', exports); exports.push(0x00); uleb(exports, IMPORTS.length);
  section(7, exports);
  return new Uint8Array(out);
})();

/** Assembles a module: imports (memory and helpers), one exported function `run` with `body`. */
function assemble(body: number[], i64Locals: number, i32Locals: number): Uint8Array<ArrayBuffer> {
  const locals: number[] = [];
  uleb(locals, 2); uleb(locals, i64Locals); locals.push(I64); uleb(locals, i32Locals); locals.push(I32);
  const fnSize = locals.length + body.length + 1;
  const entry: number[] = [];
  uleb(entry, 1); uleb(entry, fnSize);
  const sectionSize = entry.length + fnSize;
  const sectionHead: number[] = [10];
  uleb(sectionHead, sectionSize);
  const out = new Uint8Array(MODULE_HEAD.length + sectionHead.length + sectionSize);
  let at = 0;
  const put = (bytes: ArrayLike<number>): void => { out.set(bytes, at); at += bytes.length; };
  put(MODULE_HEAD); put(sectionHead); put(entry); put(locals); put(body);
  out[at] = 0x0b; // end of the function
  return out;
}

const TWO32 = 4294967296;

/**
 * Compiles `blocks` of page `dp` into a region function. The returned
 * function has the JavaScript back end's signature, so the dispatcher does
 * not know which back end made it.
 */
export function compileWasmRegion(blocks: Block[], dp: DecodedPage, env: WasmEnv, current: { hart: Hart | undefined; pageVa: number }): RegionFn {
  const gen = new WasmGen(blocks, env.layout);
  const bytes = assemble(gen.generate(), gen.i64Locals, gen.i32Locals);
  const G = dp.gen;
  const scratch = env.scratch;
  const ram = env.ram;
  const hart = (): Hart => current.hart as Hart;
  const at = (off: number): void => { hart().pc = current.pageVa + off; };
  const imports = {
    h: {
      mem: env.layout.memory,
      ld: (lo: number, hi: number, size: number, off: number): number => {
        const h = hart();
        at(off);
        if (!h.loadSlow(lo, hi, size)) return 0;
        scratch[S_LO] = r64.lo; scratch[S_HI] = r64.hi;
        return h.interruptCheck ? 2 : 1;
      },
      st: (lo: number, hi: number, size: number, vl: number, vh: number, off: number): number => {
        const h = hart();
        at(off);
        if (!h.storeSlow(lo, hi, size, vl, vh)) return 0;
        return h.interruptCheck || dp.gen !== G ? 2 : 1;
      },
      cw: (o: number, size: number): number => {
        ram.noteWrite(o, size);
        return dp.gen !== G ? 1 : 0;
      },
      fp: (raw: number, off: number): number => {
        const h = hart();
        if ((h.csr.mstatus & Mstatus.FS) === 0 || !h.fpu.execute(raw)) { at(off); h.illegal(raw); return 0; }
        h.csr.mstatus |= Mstatus.FS;
        return 1;
      },
      fls: (op: number, reg: number, lo: number, hi: number, off: number): number => {
        const h = hart();
        at(off);
        if ((h.csr.mstatus & Mstatus.FS) === 0) { h.illegalAtPc(); return 0; }
        const fr = h.fpu.i32;
        if (op === Op.FLW || op === Op.FLD) {
          const size = op === Op.FLD ? 8 : 4;
          if (!h.loadSlow(lo, hi, size)) return 0;
          fr[2 * reg] = r64.lo; fr[2 * reg + 1] = size === 8 ? r64.hi : -1;
        } else if (!h.storeSlow(lo, hi, op === Op.FSD ? 8 : 4, fr[2 * reg], fr[2 * reg + 1])) return 0;
        h.csr.mstatus |= Mstatus.FS;
        return h.interruptCheck || dp.gen !== G ? 2 : 1;
      },
      amo: (op: number, rd: number, rs1: number, rs2: number, imm: number, off: number): number => {
        const h = hart();
        at(off);
        if (!h.atomic(op, rd, rs1, rs2, imm)) return 0;
        return dp.gen !== G ? 2 : 1;
      },
      mulh: (op: number, al: number, ah: number, bl: number, bh: number): void => {
        if (op === Op.MULH) mulh64(al, ah, bl, bh); else if (op === Op.MULHSU) mulhsu64(al, ah, bl, bh); else mulhu64(al, ah, bl, bh);
        scratch[S_LO] = r64.lo; scratch[S_HI] = r64.hi;
      },
    },
  };
  const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), imports);
  const run = instance.exports.run as (...args: number[]) => number;
  return (hIn, p, lim) => {
    const h = hIn as Hart;
    const mmu = h.mmu;
    const pageVa = h.pc - p;
    current.hart = h;
    current.pageVa = pageVa;
    const pvHi = Math.floor(pageVa / TWO32);
    const n = run(p, lim, (pageVa - pvHi * TWO32) | 0, pvHi | 0, mmu.readBase, mmu.writeBase,
      h.xl.byteOffset, h.xh.byteOffset, mmu.tag.byteOffset, mmu.ramOffset.byteOffset);
    if (scratch[S_KIND] === EXIT_PC) h.pc = scratch[S_PCLO + 1] * TWO32 + (scratch[S_PCLO] >>> 0);
    mmu.hits += scratch[S_HITS];
    return n;
  };
}
