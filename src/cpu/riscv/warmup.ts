/**
 * The engine's warm-up: a small program, assembled here, that executes every
 * kind of instruction the interpreter and the translator handle — in M-mode,
 * in S-mode under Sv39 and in U-mode, with traps, misaligned and faulting
 * accesses, atomics, CSR and floating-point operations — on a private little
 * machine, once per process, before the first guest runs.
 *
 * Why: V8 optimizes the interpreter's dispatch function after it has run for
 * a while, from the type feedback gathered so far. Each instruction kind the
 * guest reaches for the first time afterwards (the first AMO, the first FP
 * operation, the first misaligned load...) meets code with no feedback, which
 * deoptimizes the whole function back to V8's bytecode interpreter until it is
 * re-optimized tens of milliseconds later. A Linux boot did that about twenty
 * times, and spent close to a second at bytecode speed. Having seen every
 * path once beforehand, the first optimization is the last.
 *
 * The program doubles as a self-test of the engine (warmup.test.ts checks its
 * results on the interpreter and on the JIT).
 */
import { GuestRam } from '../../memory/guest-memory.js';
import { GrowableBytes } from '../../memory/growable-bytes.js';
import { MmioBus } from '../../devices/bus.js';
import { DecodeCache } from './decode-cache.js';
import { Hart, StopReason } from './hart.js';
import { Jit } from './jit/jit.js';

/** Where the warm-up machine's RAM starts (as on `virt`). */
export const WARMUP_BASE = 0x80000000;
const RAM_SIZE = 1 << 20;
/**
 * A device whose every write asks the hart to stop, as a guest's power-off
 * does: the stop path between instructions must have run once too (the first
 * power-off of a process deoptimized the interpreter, which the next machine
 * then ran at bytecode speed until V8 had recompiled it, about 40 ms later).
 * The program writes it once, at its end.
 */
const STOP_DEVICE = 0x100000;
/** Offsets in the warm-up RAM. */
const BODY = 0x1000, DATA = 0x10000, PAGE_TABLE = 0x20000, RESULT = 0x30000;
/** The U-mode phase's tables follow the S-mode phase's (each set: root, level 1, level 0). */
const U_TABLES = 0x4000;
/** Sv39 addresses (as signed 32-bit values, which sign-extend to the canonical 64-bit ones). */
const DATA_PAGE_VA = -0x40000000, MEGAPAGE_VA = -0x40000000 + 0x200000;
/** Passes of the body in each mode: feedback needs every path run once, and more passes only cost time. */
const M_PASSES = 2, S_PASSES = 1, U_PASSES = 1;
/**
 * The JIT's warm-up runs its dispatcher and counts arrivals toward
 * translation, and queues pages once they pass the threshold, but never
 * fills or flushes a batch: translation and translated code are functions of
 * their own, which V8 optimizes quickly, while the body, full of trapping
 * instructions, would only make the translator retranslate.
 */
const JIT_THRESHOLD = 2, JIT_NEVER = 1 << 30;
/** a7 value of the ECALL that ends a phase (any other ECALL is an instruction to skip). */
const PHASE_END = 93;

// Integer register numbers (ABI names).
const ZERO = 0, RA = 1, SP = 2, T0 = 5, T1 = 6, T2 = 7, S0 = 8, S1 = 9, A0 = 10, A1 = 11, A2 = 12, A3 = 13, A7 = 17;
const S2 = 18, S3 = 19, S4 = 20, S5 = 21, S6 = 22, S7 = 23, T3 = 28, T4 = 29, T5 = 30, T6 = 31;

/** Compressed instructions (encodings from the GNU assembler): the loads, stores and arithmetic of RVC. */
const COMPRESSED = [
  0x4515, 0x0505, 0x85aa, 0x95aa, 0x050e, 0x0001, // c.li a0,5; c.addi a0,1; c.mv a1,a0; c.add a1,a0; c.slli a0,3; c.nop
  0x0808, 0x2408, 0x404c, 0x640c, 0xa408, 0xc04c, 0xe40c, // c.addi4spn a0,sp,16; c.fld fa0,8(s0); c.lw a1,4(s0); c.ld a1,8(s0); c.fsd; c.sw; c.sd
  0x2505, 0x6105, 0x713d, 0x6615, 0x810d, 0x8509, 0x891d, // c.addiw a0,1; c.addi16sp sp,32; c.addi16sp sp,-32; c.lui a2,5; c.srli; c.srai; c.andi
  0x8d0d, 0x8d2d, 0x8d4d, 0x8d6d, 0x9d0d, 0x9d2d, // c.sub c.xor c.or c.and c.subw c.addw a0,a1
  0xc109, 0xe109, 0xa009, // c.beqz a0,+2; c.bnez a0,+2; c.j +2
  0x2522, 0x4592, 0x65a2, 0xa42a, 0xc22e, 0xe42e, // c.fldsp fa0,8(sp); c.lwsp a1,4(sp); c.ldsp a1,8(sp); c.fsdsp; c.swsp; c.sdsp
];

/** A minimal RV64GC assembler: the instruction formats of the unprivileged spec, §2.3 and §2.5. */
class Assembler extends GrowableBytes {
  private readonly labels = new Map<string, number>();
  private readonly fixups: Array<{ at: number; label: string; kind: 'b' | 'j' | 'pcrel' }> = [];

  get here(): number { return this.len; }

  label(name: string): void { this.labels.set(name, this.here); }

  constructor() {
    super(1 << 16);
  }

  /** Pads with `fill` halfwords up to offset `at` (with 0: the buffer's bytes past what was written are zero). */
  padTo(at: number, fill: number): void {
    if (this.here > at) throw new Error(`warm-up program: past offset 0x${at.toString(16)}`);
    this.reserve(at - this.len);
    if (fill !== 0) while (this.here < at) this.half(fill);
    this.len = at;
  }

  word(w: number): void {
    this.reserve(4);
    for (let i = 0; i < 4; i++) this.bytes[this.len++] = (w >>> (8 * i)) & 0xff;
  }

  half(h: number): void {
    this.reserve(2);
    this.bytes[this.len++] = h & 0xff;
    this.bytes[this.len++] = (h >>> 8) & 0xff;
  }

  r(opcode: number, f3: number, f7: number, rd: number, rs1: number, rs2: number): void {
    this.word((f7 << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | opcode);
  }

  i(opcode: number, f3: number, rd: number, rs1: number, imm: number): void {
    this.word(((imm & 0xfff) << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | opcode);
  }

  s(opcode: number, f3: number, rs1: number, rs2: number, imm: number): void {
    this.word((((imm >> 5) & 0x7f) << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) | ((imm & 31) << 7) | opcode);
  }

  /** R4-type (fused multiply-add), fmt 1 = double. */
  r4(opcode: number, fmt: number, rd: number, rs1: number, rs2: number, rs3: number): void {
    this.word((rs3 << 27) | (fmt << 25) | (rs2 << 20) | (rs1 << 15) | (7 << 12) | (rd << 7) | opcode);
  }

  branch(f3: number, rs1: number, rs2: number, label: string): void {
    this.fixups.push({ at: this.here, label, kind: 'b' });
    this.word((rs2 << 20) | (rs1 << 15) | (f3 << 12) | 0x63);
  }

  jal(rd: number, label: string): void {
    this.fixups.push({ at: this.here, label, kind: 'j' });
    this.word((rd << 7) | 0x6f);
  }

  /** AUIPC + ADDI: `rd` = the label's address. */
  la(rd: number, label: string): void {
    this.fixups.push({ at: this.here, label, kind: 'pcrel' });
    this.word((rd << 7) | 0x17);
    this.i(0x13, 0, rd, rd, 0);
  }

  /** `rd` = a signed 32-bit value (LUI + ADDIW). */
  li(rd: number, v: number): void {
    const lo = (v << 20) >> 20;
    const hi = (v - lo) | 0;
    if (hi !== 0) this.word((hi & 0xfffff000) | (rd << 7) | 0x37);
    this.i(0x1b, 0, rd, hi !== 0 ? rd : ZERO, lo);
  }

  addi(rd: number, rs1: number, imm: number): void { this.i(0x13, 0, rd, rs1, imm); }
  slli(rd: number, rs1: number, sh: number): void { this.i(0x13, 1, rd, rs1, sh); }
  csr(f3: number, rd: number, csr: number, rs1: number): void { this.i(0x73, f3, rd, rs1, csr); }
  system(w: number): void { this.word(w); }

  /** The program, with every label resolved. */
  finish(): Uint8Array {
    const patch = (at: number, w: number): void => { for (let k = 0; k < 4; k++) this.bytes[at + k] = (w >>> (8 * k)) & 0xff; };
    const get = (at: number): number => this.bytes[at] | (this.bytes[at + 1] << 8) | (this.bytes[at + 2] << 16) | (this.bytes[at + 3] << 24);
    for (const f of this.fixups) {
      const target = this.labels.get(f.label);
      if (target === undefined) throw new Error(`warm-up program: no label ${f.label}`);
      const d = target - f.at;
      const w = get(f.at);
      if (f.kind === 'b') {
        patch(f.at, w | (((d >> 12) & 1) << 31) | (((d >> 5) & 0x3f) << 25) | (((d >> 1) & 0xf) << 8) | (((d >> 11) & 1) << 7));
      } else if (f.kind === 'j') {
        patch(f.at, w | (((d >> 20) & 1) << 31) | (((d >> 1) & 0x3ff) << 21) | (((d >> 11) & 1) << 20) | (((d >> 12) & 0xff) << 12));
      } else {
        const lo = (d << 20) >> 20;
        patch(f.at, w | ((d - lo) & 0xfffff000));
        patch(f.at + 4, get(f.at + 4) | ((lo & 0xfff) << 20));
      }
    }
    return this.bytes.slice(0, this.len);
  }
}

// CSR numbers (privileged spec, Tables 2.2–2.5).
const MSTATUS = 0x300, MEDELEG = 0x302, MTVEC = 0x305, MCOUNTEREN = 0x306, MSCRATCH = 0x340, MEPC = 0x341, MCAUSE = 0x342;
const SSCRATCH = 0x140, SATP = 0x180, STIMECMP = 0x14d, SCOUNTEREN = 0x106, FFLAGS = 0x001, FRM = 0x002, FCSR = 0x003;
const CYCLE = 0xc00, TIME = 0xc01, INSTRET = 0xc02;
const CSRRW = 1, CSRRS = 2, CSRRC = 3, CSRRWI = 5, CSRRSI = 6, CSRRCI = 7;

/** The body every phase runs: one of each instruction kind, on the data area at s0. */
function body(a: Assembler): void {
  a.label('body');
  a.addi(S6, RA, 0);
  a.li(T4, 9);
  // Register-immediate and register-register integer operations, 64- and 32-bit (OP-IMM, OP, OP-IMM-32, OP-32).
  a.li(A0, 0x12345678); a.li(A1, -0x2345679); a.slli(A1, A1, 13); a.li(A2, 7); a.li(A3, -3);
  for (const f3 of [0, 2, 3, 4, 6, 7]) a.i(0x13, f3, T0, A1, -1234);
  a.i(0x13, 1, T0, A1, 37); a.i(0x13, 5, T0, A1, 37); a.i(0x13, 5, T0, A1, 0x400 | 37);
  for (let f3 = 0; f3 < 8; f3++) a.r(0x33, f3, 0, T1, A0, A1);
  a.r(0x33, 0, 0x20, T1, A0, A1); a.r(0x33, 5, 0x20, T1, A1, A2);
  a.i(0x1b, 0, T2, A1, 99); a.i(0x1b, 1, T2, A1, 5); a.i(0x1b, 5, T2, A1, 5); a.i(0x1b, 5, T2, A1, 0x400 | 5);
  for (const f3 of [0, 1, 5]) a.r(0x3b, f3, 0, T2, A0, A2);
  a.r(0x3b, 0, 0x20, T2, A0, A1); a.r(0x3b, 5, 0x20, T2, A1, A2);
  // M: every multiply and divide, by a number, by -1 and by zero.
  // A dividend with bit 31 set too (a3 = -3): the unsigned word operations see it as a value past int32.
  for (const [dividend, divisor] of [[A1, A2], [A1, A3], [A1, ZERO], [A3, A2]]) {
    for (let f3 = 0; f3 < 8; f3++) a.r(0x33, f3, 1, T3, dividend, divisor);
    for (const f3 of [0, 4, 5, 6, 7]) a.r(0x3b, f3, 1, T3, dividend, divisor);
  }
  a.word(0x12345037 | (T4 << 7)); // lui
  a.word(0x00001017 | (T4 << 7)); // auipc
  // Loads and stores of every size: aligned (the TLB's fast path), misaligned, and faulting at address 0.
  for (let f3 = 0; f3 < 4; f3++) { a.s(0x23, f3, S0, A1, 8 << f3); a.s(0x23, f3, S0, A1, 65); }
  for (let f3 = 0; f3 < 7; f3++) { a.i(0x03, f3, T0, S0, 8); a.i(0x03, f3, T0, S0, 67); }
  a.i(0x03, 3, T0, ZERO, 0); a.s(0x23, 3, ZERO, A1, 0);
  a.li(T1, 0x12345678); a.slli(T1, T1, 32); a.i(0x03, 3, T0, T1, 0); a.s(0x23, 2, T1, A1, 4); // far outside RAM
  a.i(0x07, 3, 1, T1, 0); a.s(0x27, 3, T1, 1, 8); // fld, fsd there
  // A: LR/SC and every AMO, word and doubleword.
  for (const f3 of [2, 3]) {
    a.r(0x2f, f3, 0x08, T1, S0, ZERO); a.r(0x2f, f3, 0x0c, T2, S0, A0); // lr, sc (succeeds)
    a.r(0x2f, f3, 0x0c, T2, S0, A0); // sc without a reservation (fails)
    // Each AMO with a small operand and with one whose low word has bit 31 set (a3 = -3).
    for (const operand of [A1, A3]) {
      for (const funct5 of [0x00, 0x01, 0x04, 0x08, 0x0c, 0x10, 0x14, 0x18, 0x1c]) a.r(0x2f, f3, funct5 << 2, T1, S0, operand);
    }
    a.r(0x2f, f3, 0, T1, S1, A1); // misaligned: faults
  }
  // CSRs: all six forms, the counters, and the FP CSRs.
  a.csr(CSRRW, T0, SSCRATCH, A0); a.csr(CSRRS, T0, SSCRATCH, A2); a.csr(CSRRC, T0, SSCRATCH, A2);
  a.csr(CSRRWI, T0, SSCRATCH, 5); a.csr(CSRRSI, T0, SSCRATCH, 3); a.csr(CSRRCI, T0, SSCRATCH, 1);
  a.csr(CSRRW, T0, MSCRATCH, A0); // illegal below M
  for (const c of [CYCLE, TIME, INSTRET]) a.csr(CSRRS, T0, c, ZERO);
  a.csr(CSRRW, T0, FRM, ZERO); a.csr(CSRRS, T0, FFLAGS, ZERO); a.csr(CSRRW, T0, FCSR, ZERO);
  // F and D: loads, stores, moves, conversions and arithmetic (the FPU takes them by raw encoding).
  a.i(0x07, 3, 1, S0, 8); a.i(0x07, 2, 2, S0, 16); a.i(0x07, 3, 3, S0, 67); // fld, flw, misaligned fld
  a.r(0x53, 0, 0x79, 4, A1, 0); a.r(0x53, 0, 0x78, 5, A2, 0); // fmv.d.x, fmv.w.x
  a.r(0x53, 7, 0x69, 6, A3, 2); a.r(0x53, 7, 0x68, 7, A2, 0); // fcvt.d.l, fcvt.s.w
  for (const fmt of [1, 0]) {
    const x = fmt === 1 ? 6 : 7;
    for (const f7 of [0x00, 0x04, 0x08, 0x0c]) a.r(0x53, 7, f7 | fmt, 8, x, 4); // add sub mul div
    a.r(0x53, 7, 0x2c | fmt, 9, x, 0); // sqrt
    for (let f3 = 0; f3 < 3; f3++) a.r(0x53, f3, 0x10 | fmt, 10, x, 4); // sgnj sgnjn sgnjx
    for (let f3 = 0; f3 < 2; f3++) a.r(0x53, f3, 0x14 | fmt, 10, x, 4); // min max
    for (let f3 = 0; f3 < 3; f3++) a.r(0x53, f3, 0x50 | fmt, T0, x, 4); // fle flt feq
    a.r(0x53, 1, 0x70 | fmt, T0, x, 0); a.r(0x53, 0, 0x70 | fmt, T0, x, 0); // fclass, fmv.x
    for (let w = 0; w < 4; w++) a.r(0x53, 1, 0x60 | fmt, T0, x, w); // fcvt.{w,wu,l,lu}
    for (const opcode of [0x43, 0x47, 0x4b, 0x4f]) a.r4(opcode, fmt, 11, x, 4, 5); // fmadd fmsub fnmsub fnmadd
  }
  a.r(0x53, 7, 0x20, 12, 6, 1); a.r(0x53, 0, 0x21, 13, 7, 0); // fcvt.s.d, fcvt.d.s
  a.s(0x27, 3, S0, 8, 24); a.s(0x27, 2, S0, 9, 32); a.s(0x27, 3, S0, 8, 69); // fsd, fsw, misaligned fsd
  // Compressed (RVC, unprivileged spec chapter 16), with sp pointing into the data area.
  a.addi(SP, S0, 0x400);
  for (const h of COMPRESSED) a.half(h);
  a.la(T0, 'body-after-c-jr'); a.half(0x8282); a.label('body-after-c-jr'); // c.jr t0
  a.la(T0, 'body-after-c-jalr'); a.half(0x9282); a.label('body-after-c-jalr'); // c.jalr t0
  a.half(0x9002); a.half(0x0001); // c.ebreak (the handler skips 4 bytes: it and the c.nop)
  // Branches, taken and not, and an indirect jump.
  for (let f3 = 0; f3 < 8; f3++) {
    if (f3 === 2 || f3 === 3) continue;
    a.branch(f3, A0, A1, `b${f3}a`); a.label(`b${f3}a`);
    a.branch(f3, A1, A0, `b${f3}b`); a.label(`b${f3}b`);
  }
  // The same with equal upper halves (the comparisons' second step), and comparisons with immediates.
  for (let f3 = 0; f3 < 8; f3++) {
    if (f3 === 2 || f3 === 3) continue;
    a.branch(f3, A2, T4, `b${f3}c`); a.label(`b${f3}c`);
    a.branch(f3, T4, A2, `b${f3}d`); a.label(`b${f3}d`);
  }
  for (const f3 of [2, 3]) { a.i(0x13, f3, T0, A2, 5); a.i(0x13, f3, T0, A2, 9); a.r(0x33, f3, 0, T0, A2, T4); a.r(0x33, f3, 0, T0, T4, A2); }
  a.la(T0, 'body-after-jalr'); a.i(0x67, 0, T1, T0, 0); a.label('body-after-jalr');
  a.la(T0, 'body-after-jalr-8'); a.addi(T0, T0, 8); a.i(0x67, 0, T1, T0, -8); a.label('body-after-jalr-8'); // a negative offset
  a.addi(T2, S0, 64); a.i(0x03, 3, T0, T2, -8); a.s(0x23, 3, T2, A1, -16); a.i(0x07, 3, 1, T2, -24); a.s(0x27, 3, T2, 1, -32);
  // A 32-bit instruction that straddles a page boundary (see 'cross' below).
  a.jal(T2, 'cross');
  // Loads and stores through a 4 KiB page whose PTE has A and D clear, and through a megapage (S4, S5).
  a.i(0x03, 3, T0, S4, 0); a.s(0x23, 3, S4, A1, 8); a.i(0x03, 3, T0, S5, 16); a.s(0x23, 2, S5, A1, 24);
  // Fences, privileged instructions (each legal somewhere in the run, illegal elsewhere), and the H extension's.
  a.system(0x0ff0000f); a.system(0x0000100f); // fence, fence.i
  a.system(0x12000073); a.r(0x73, 0, 0x09, 0, S0, 0); a.r(0x73, 0, 0x09, 0, 0, A2); a.r(0x73, 0, 0x09, 0, S0, A2); // sfence.vma
  a.li(T0, -1); a.csr(CSRRW, T1, STIMECMP, T0); a.csr(CSRRS, T1, STIMECMP, ZERO); // a timer compare far away
  a.system(0x22000073); a.system(0x62000073); // hfence.vvma, hfence.gvma
  a.r(0x73, 4, 0x34, T0, S0, 0); a.r(0x73, 4, 0x35, 0, S0, A1); // hlv.w, hsv.w
  a.system(0x00100073); // ebreak
  a.branch(0, S7, ZERO, 'body-after-sret'); a.system(0x10200073); a.label('body-after-sret'); // sret, in the U phase only
  a.li(A7, 0); a.system(0x00000073); // ecall (not a phase end)
  a.word(0); // illegal
  // Integer and FP stores to the page holding this code, beside its instructions (GuestRam's code-write check).
  a.la(T0, 'body-page-data'); a.s(0x23, 3, T0, A1, 0); a.s(0x27, 3, T0, 1, 8);
  a.i(0x67, 0, ZERO, S6, 0); // return (c.jalr changed ra)
  // The data, aligned, after at least 4 bytes of padding never executed: a write that starts within 3 bytes
  // of a decoded instruction's start drops the page (DecodeCache.codeWrite), which the warm-up keeps.
  a.padTo((a.here + 4 + 7) & ~7, 0x0001);
  a.label('body-page-data');
  a.padTo(a.here + 16, 0);
  a.padTo(BODY + 4094, 0x0001);
  a.label('cross');
  a.addi(T3, T3, 1); // at 4094: its upper half is on the next page
  a.i(0x67, 0, ZERO, T2, 0);
}

/**
 * The program: three phases that each call the body a number of times —
 * M-mode, S-mode with Sv39 paging (one identity gigapage), U-mode — ended by
 * an ECALL with a7 = 93; the M-mode trap handler skips every other trapping
 * instruction. The program ends in WFI with no interrupt enabled.
 */
export function warmupProgram(): Uint8Array {
  const a = new Assembler();
  a.la(T0, 'handler'); a.csr(CSRRW, ZERO, MTVEC, T0);
  a.li(T0, 0x6000); a.csr(CSRRS, ZERO, MSTATUS, T0); // FS = dirty
  a.li(T0, 7); a.csr(CSRRW, ZERO, MCOUNTEREN, T0); a.csr(CSRRW, ZERO, SCOUNTEREN, T0);
  a.csr(CSRRW, ZERO, MEDELEG, ZERO);
  a.la(S0, 'data'); a.addi(S1, S0, 3);
  a.addi(S4, S0, 0); a.addi(S5, S0, 0);
  a.li(S2, M_PASSES); a.jal(ZERO, 'passes');
  a.label('after-m');
  // S-mode, then U-mode, with Sv39 tables (see pageTables()): code at the kernel's usual address, data three ways.
  a.la(T0, 'page-table'); a.jal(RA, 'paging');
  a.li(S2, S_PASSES); a.li(T0, 0x800); a.jal(ZERO, 'enter'); // MPP = S
  a.label('after-s');
  a.la(T0, 'page-table-u'); a.jal(RA, 'paging');
  a.li(S2, U_PASSES); a.li(S7, 1); a.li(T0, 0); a.jal(ZERO, 'enter'); // MPP = U
  a.label('after-u');
  a.csr(CSRRW, ZERO, SATP, ZERO);
  a.la(T0, 'result'); a.s(0x23, 3, T0, S3, 0);
  a.li(T1, STOP_DEVICE); a.s(0x23, 2, T1, ZERO, 0); // a stop request
  a.label('done');
  a.system(0x10500073); a.jal(ZERO, 'done'); // wfi

  // satp = Sv39 with the root table at t0; s4 = the 4 KiB data page's address, s5 = the data's address in the megapage.
  a.label('paging');
  a.i(0x13, 5, T0, T0, 12); a.li(T1, 8); a.slli(T1, T1, 60); a.r(0x33, 6, 0, T0, T0, T1);
  a.csr(CSRRW, ZERO, SATP, T0); a.system(0x12000073);
  a.li(S4, DATA_PAGE_VA); a.li(S5, MEGAPAGE_VA + DATA);
  a.i(0x67, 0, ZERO, RA, 0);

  // Enter the mode in t0's MPP at 'passes', at its address in the high gigapage (+ 0xffffffff00000000; mret).
  a.label('enter');
  a.li(T1, 0x1800); a.csr(CSRRC, ZERO, MSTATUS, T1); a.csr(CSRRS, ZERO, MSTATUS, T0);
  a.la(T1, 'passes'); a.li(T2, -1); a.slli(T2, T2, 32); a.r(0x33, 0, 0, T1, T1, T2); a.csr(CSRRW, ZERO, MEPC, T1);
  a.system(0x30200073); // mret

  // s2 passes of the body; then the phase ends (ECALL, or a jump in M-mode).
  a.label('passes');
  a.jal(RA, 'body'); a.addi(S3, S3, 1); a.addi(S2, S2, -1);
  a.branch(1, S2, ZERO, 'passes');
  a.csr(CSRRS, T0, MSCRATCH, ZERO); // reads 0 in M-mode: a phase of its own; traps elsewhere
  a.li(A7, PHASE_END); a.system(0x00000073);

  // The M-mode trap handler: a phase-ending ECALL moves on to the next phase; anything else is skipped.
  a.label('handler');
  a.csr(CSRRS, T5, MCAUSE, ZERO);
  a.i(0x13, 0, T6, A7, -PHASE_END); a.branch(1, T6, ZERO, 'skip');
  a.li(T6, 8); a.branch(0, T5, T6, 'end-u');
  a.li(T6, 9); a.branch(0, T5, T6, 'end-s');
  a.li(T6, 11); a.branch(0, T5, T6, 'end-m');
  a.label('skip');
  a.csr(CSRRS, T6, MEPC, ZERO); a.addi(T6, T6, 4); a.csr(CSRRW, ZERO, MEPC, T6);
  a.li(A7, 0); a.system(0x30200073);
  a.label('end-m'); a.li(A7, 0); a.jal(ZERO, 'after-m');
  a.label('end-s'); a.li(A7, 0); a.jal(ZERO, 'after-s');
  a.label('end-u'); a.li(A7, 0); a.jal(ZERO, 'after-u');

  a.padTo(BODY, 0x0001); // c.nop up to the body's page
  body(a);
  a.padTo(DATA, 0);
  a.label('data');
  a.padTo(PAGE_TABLE, 0);
  a.label('page-table');
  a.padTo(PAGE_TABLE + U_TABLES, 0);
  a.label('page-table-u');
  a.padTo(RESULT, 0);
  a.label('result');
  a.word(0);
  return a.finish();
}

/**
 * The Sv39 tables of the S-mode and U-mode phases (privileged spec §4.4), the
 * same but for the U bit: root entry 2 maps RAM's gigapage onto itself; entry
 * 510 maps it again at 0xffffffff80000000 (where the program runs, as a
 * kernel does); entry 511 leads to a level-1 table with a megapage of RAM at
 * 0xffffffffc0200000 and to a level-0 table mapping the data page at
 * 0xffffffffc0000000 with A and D clear (the walk sets them).
 */
function pageTables(ram: GuestRam): void {
  const V = 1, R = 2, W = 4, X = 8, U = 16, A = 64, D = 128;
  const pte = (pa: number, flags: number): number => (pa / 4096) * 1024 + flags;
  for (const [at, user] of [[PAGE_TABLE, 0], [PAGE_TABLE + U_TABLES, U]]) {
    const root = WARMUP_BASE + at, l1 = root + 0x1000, l0 = root + 0x2000;
    ram.writeU64(root + 2 * 8, pte(WARMUP_BASE, V | R | W | X | A | D | user));
    ram.writeU64(root + 510 * 8, pte(WARMUP_BASE, V | R | W | X | A | D | user));
    ram.writeU64(root + 511 * 8, pte(l1, V));
    ram.writeU64(l1, pte(l0, V));
    ram.writeU64(l1 + 8, pte(WARMUP_BASE, V | R | W | A | D | user));
    ram.writeU64(l0, pte(WARMUP_BASE + DATA, V | R | W | user));
  }
}

/** Where the program's code ends (what follows is data). */
export const WARMUP_CODE_END = DATA;

/** Passes of the body the program makes in all (what it stores at its result word). */
export const WARMUP_PASSES = M_PASSES + S_PASSES + U_PASSES;

/** What one run of the warm-up program did. */
export interface WarmupRun {
  /** The program reached its final WFI. */
  finished: boolean;
  /** Body passes counted by the program (should be {@link WARMUP_PASSES}). */
  passes: number;
  instructions: number;
  /** Arrivals the JIT's dispatcher counted toward translation (0 on the interpreter). */
  arrivals: number;
  /** Slices the hart ended on a stop request (the program makes one). */
  stops: number;
  /** Decoded pages dropped by writes to them (the program's stores beside its code keep them: 0). */
  dropped: number;
}

/** The warm-up program, assembled once per process. */
let assembled: Uint8Array | undefined;

/** Runs the warm-up program on a private machine, on the interpreter or on the JIT's dispatcher. */
export function runWarmup(engine: 'interp' | 'jit'): WarmupRun {
  const ram = new GuestRam(WARMUP_BASE, RAM_SIZE);
  const program = (assembled ??= warmupProgram());
  ram.write(WARMUP_BASE, program);
  pageTables(ram);
  const cache = new DecodeCache(ram);
  const jit = engine === 'jit' ? new Jit(ram, cache, JIT_THRESHOLD, { batch: JIT_NEVER, flushArrivals: JIT_NEVER }) : undefined;
  let tick = 0;
  const bus = new MmioBus();
  bus.map(STOP_DEVICE, 4096, { name: 'stop', read: () => 0, write: () => hart.requestStop() });
  const hart = new Hart(0, { ram, bus, time: { frequency: 10_000_000, now: () => tick++ }, decodeCache: cache, jit });
  jit?.useWasm([hart]);
  hart.reset(WARMUP_BASE);
  let instructions = 0, stops = 0;
  let finished = false;
  for (let slice = 0; slice < 200 && !finished; slice++) {
    const before = hart.stats.instret;
    const reason = hart.run(5000);
    finished = reason === StopReason.Wfi;
    if (reason === StopReason.Stopped) stops++;
    instructions += hart.stats.instret - before;
  }
  const passes = ram.readU32(WARMUP_BASE + RESULT);
  return { finished, passes, instructions, arrivals: jit?.stats.cacheMisses ?? 0, stops, dropped: cache.stats.invalidations };
}

const warmedUp = new Set<'interp' | 'jit'>();

/**
 * Runs the warm-up for `engine` once per process (on the JIT, the program's
 * first passes are interpreted, as cold guest code is). `TSVISOR_WARMUP=0`
 * turns it off, for measuring what it saves.
 */
export function warmUpOnce(engine: 'interp' | 'jit'): void {
  if (warmedUp.has(engine) || process.env.TSVISOR_WARMUP === '0') return;
  warmedUp.add(engine);
  // Twice, on fresh objects each time: V8 tracks a field that only one object ever had as a constant and
  // deoptimizes code relying on that when a second object (the guest's machine) appears.
  runWarmup(engine);
  runWarmup(engine);
}
