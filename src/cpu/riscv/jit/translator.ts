/**
 * The code generator of the binary translator: guest RISC-V code of one
 * physical page becomes the source of one JavaScript function (a *region*).
 *
 * A region is a set of basic blocks of one page, found by following the
 * direct branches and jumps that stay on the page from the page's hot entry
 * points. Its function is a `switch` over block offsets inside a loop, so a
 * branch or jump to a block of the same region continues inside the function
 * (block chaining without returning to the dispatcher), and V8 sees guest
 * loops as JavaScript loops. A jump anywhere else leaves the function, which
 * returns to the hart's dispatcher with the pc set.
 *
 * Within a region the guest registers live in local variables (`lN`/`hN`,
 * the low and high 32 bits of xN); they are loaded on entry and written back
 * on every exit. Loads and stores inline the hart's software TLB lookup; a
 * miss, an MMIO access or a misaligned access takes the hart's slow path.
 *
 * Exactness (the same rules the interpreter keeps):
 * - Precise exceptions: before any call that can trap, the pc of the
 *   instruction is stored to the hart; a trap leaves the region with the
 *   instruction counted, as the interpreter counts it.
 * - Self-modifying code: a store that hits a page holding decoded code drops
 *   that page's decode and translations (the decode cache's write tracking);
 *   the region compares its page's generation after such a store and leaves
 *   at the next instruction if it was its own page.
 * - Interrupts: a slow-path access (the only way a device's state changes
 *   inside a region) that raised a recheck ends the region at the next
 *   instruction; otherwise the region returns once the budget it was given is
 *   spent, checked at every block boundary.
 * - Instructions the translator does not handle (CSR access, ECALL/EBREAK,
 *   xRET, WFI, SFENCE.VMA, the H extension, illegal encodings, and a 32-bit
 *   instruction straddling the page end) end a block before them; the
 *   interpreter executes them.
 * - Binary translation of a deprivileged guest kernel (the VMM's `bt`
 *   technique): with `inlineVmmCalls`, a privileged instruction (CSR access,
 *   SRET, WFI, SFENCE.VMA) after a block's first instruction ends the block
 *   as a call to the VMM's emulation routine (Hart.privilegedHook) in place
 *   of the trap; the region then leaves with the pc the VMM set. Where no
 *   VMM takes the call (a hart not running a deprivileged kernel), the
 *   region leaves before the instruction and the interpreter executes it.
 */
import { Op, X_SINK } from '../decode.js';
import { OP_CROSS_PAGE, type DecodeCache, type DecodedPage } from '../decode-cache.js';
import { ENTRY_RO_WORD, ENTRY_WORDS, TLB_MASK } from '../mmu.js';

/** The most instructions in one block. */
export const MAX_BLOCK_INSNS = 64;
/** The most instructions in one region (keeps functions small enough for V8's optimizing tiers). */
export const MAX_REGION_INSNS = 128;

/** One decoded instruction of a block. */
interface Insn {
  off: number;
  op: number;
  rd: number;
  rs1: number;
  rs2: number;
  imm: number;
  len: number;
}

/** A basic block: straight-line instructions starting at `start` (a byte offset in the page). */
export interface Block {
  start: number;
  insns: Insn[];
}

/** True for operations the translator emits code for. */
function translatable(op: number): boolean {
  switch (op) {
    case Op.ILLEGAL: case Op.ECALL: case Op.EBREAK:
    case Op.CSRRW: case Op.CSRRS: case Op.CSRRC: case Op.CSRRWI: case Op.CSRRSI: case Op.CSRRCI:
    case Op.MRET: case Op.SRET: case Op.WFI: case Op.SFENCE_VMA:
    case Op.HFENCE_VVMA: case Op.HFENCE_GVMA: case Op.HLV: case Op.HSV:
    case OP_CROSS_PAGE:
      return false;
    default:
      return op < Op.COUNT;
  }
}

/**
 * Privileged instructions binary translation hands to the VMM in place (see
 * `inlineVmmCalls`). A CSR instruction is one when its CSR is not a user
 * CSR (bits 9:8 of the number, privileged spec §2.1): the user CSRs
 * (fflags, frm, fcsr, cycle, time, instret...) run natively in the
 * deprivileged kernel as in its user programs, or trap to the VMM from the
 * interpreter when the counter-enable bits say so.
 */
export function isPrivileged(insn: Insn): boolean {
  switch (insn.op) {
    case Op.CSRRW: case Op.CSRRS: case Op.CSRRC: case Op.CSRRWI: case Op.CSRRSI: case Op.CSRRCI:
      return ((insn.imm >>> 8) & 3) !== 0;
    case Op.SRET: case Op.WFI: case Op.SFENCE_VMA:
      return true;
    default:
      return false;
  }
}

/** True for JAL and the conditional branches: control transfers to pc + imm. */
export function directJump(op: number): boolean {
  return op === Op.JAL || (op >= Op.BEQ && op <= Op.BGEU);
}

/** True for operations that end a block (control transfers). */
export function endsBlock(op: number): boolean {
  return op === Op.JALR || directJump(op);
}

/** Reads the decoded instruction at byte offset `off` of `page`. */
function insnAt(cache: DecodeCache, page: DecodedPage, off: number): Insn {
  const slot = off >>> 1;
  let info = page.info[slot];
  if (info === 0) info = cache.decodeSlot(page, off);
  return {
    off, op: info & 0xff, rd: (info >>> 8) & 63, rs1: (info >>> 14) & 63, rs2: (info >>> 20) & 63,
    imm: page.imm[slot], len: info >>> 26,
  };
}

/**
 * Finds the basic block starting at `start`; empty when its first
 * instruction is not translatable. With `inlineVmmCalls`, a privileged
 * instruction after the first ends the block as an inline VMM call.
 */
export function findBlock(cache: DecodeCache, page: DecodedPage, start: number, inlineVmmCalls = false): Block {
  const insns: Insn[] = [];
  let off = start;
  while (off < 4096 && insns.length < MAX_BLOCK_INSNS) {
    const insn = insnAt(cache, page, off);
    if (!translatable(insn.op)) {
      if (inlineVmmCalls && insns.length > 0 && isPrivileged(insn)) insns.push(insn);
      break;
    }
    insns.push(insn);
    off += insn.len;
    if (endsBlock(insn.op)) break;
  }
  return { start, insns };
}

/** Offsets, on the same page, where control may continue after `block`. */
function successors(block: Block): number[] {
  const last = block.insns[block.insns.length - 1];
  const next = last.off + last.len;
  const out: number[] = [];
  const add = (t: number): void => { if (t >= 0 && t < 4096) out.push(t); };
  if (last.op >= Op.BEQ && last.op <= Op.BGEU) { add(last.off + last.imm); add(next); }
  else if (last.op === Op.JAL) { add(last.off + last.imm); if (last.rd !== X_SINK) add(next); }
  else if (last.op === Op.JALR) { if (last.rd !== X_SINK) add(next); }
  else add(next);
  return out;
}

/** Collects the blocks reachable from `roots` on the page, up to {@link MAX_REGION_INSNS}. */
export function discoverRegion(cache: DecodeCache, page: DecodedPage, roots: number[], inlineVmmCalls = false): Block[] {
  const blocks: Block[] = [];
  const seen = new Set<number>();
  const queue = [...roots];
  let total = 0;
  while (queue.length > 0) {
    const start = queue.shift() as number;
    if (seen.has(start)) continue;
    seen.add(start);
    const block = findBlock(cache, page, start, inlineVmmCalls);
    if (block.insns.length === 0) continue;
    if (total + block.insns.length > MAX_REGION_INSNS && blocks.length > 0) break;
    blocks.push(block);
    total += block.insns.length;
    queue.push(...successors(block));
  }
  return blocks;
}


/**
 * The integer registers `blocks` read or write (x1..x31, ascending), and
 * whether they hold FP loads or stores. FP operations touch an integer
 * register only for moves, conversions and compares ({@link fpIntOperands}).
 */
export function registersUsed(blocks: Block[]): { regs: number[]; fpLoadStore: boolean } {
  const regs = new Set<number>();
  const use = (r: number): void => { if (r !== 0 && r !== X_SINK) regs.add(r); };
  let fpLoadStore = false;
  for (const b of blocks) {
    for (const i of b.insns) {
      if (i.op === Op.FP) {
        const io = fpIntOperands(i.imm);
        if (io.readsRs1) use((i.imm >>> 15) & 31);
        if (io.writesRd) use((i.imm >>> 7) & 31);
      } else if (i.op === Op.FLW || i.op === Op.FLD || i.op === Op.FSW || i.op === Op.FSD) {
        use(i.rs1);
        fpLoadStore = true;
      } else {
        use(i.rd); use(i.rs1); use(i.rs2);
      }
    }
  }
  return { regs: [...regs].sort((a, b) => a - b), fpLoadStore };
}

/**
 * Generates the JavaScript of a region made of `blocks`: the body of
 * `function (env, dp)` that returns the region function `(h, p, lim) => executed`.
 */
export function generateRegion(blocks: Block[]): string {
  const { regs: list, fpLoadStore } = registersUsed(blocks);
  const writeBack = list.map((r) => `xl[${r}] = l${r}; xh[${r}] = h${r};`).join(' ');
  const g = new Gen();
  const out: string[] = [];
  out.push('const { u8, u16, i32, dirty, codePages, ram, r64, int64, shifts } = env;');
  out.push('const G = dp.gen;');
  out.push('return function region(h, p, lim) {');
  out.push('const xl = h.xl, xh = h.xh, mmu = h.mmu, tw = mmu.entryWords;');
  out.push('const rb = mmu.readBase, wb = mmu.writeBase, csr = h.csr, fpu = h.fpu;');
  if (fpLoadStore) out.push('const fr = fpu.i32;');
  out.push('const pageVa = h.pc - p;');
  out.push('const pvh = Math.floor(pageVa / 4294967296), pvl = (pageVa - pvh * 4294967296) >>> 0;');
  if (list.length > 0) out.push('let ' + list.map((r) => `l${r} = xl[${r}], h${r} = xh[${r}]`).join(', ') + ';');
  out.push('let n = 0, hits = 0;');
  out.push('L: for (;;) {');
  out.push('if (n >= lim) { h.pc = pageVa + p; break; }');
  out.push('switch (p) {');
  for (const b of blocks) {
    out.push(`case ${b.start}: {`);
    b.insns.forEach((insn, k) => out.push(g.insn(insn, k + 1, b.insns.length)));
    const last = b.insns[b.insns.length - 1];
    if (!endsBlock(last.op)) out.push(`n += ${b.insns.length}; ${g.goto(last.off + last.len)}`);
    out.push('}');
  }
  out.push('default: h.pc = pageVa + p; break L;');
  out.push('}');
  out.push('}');
  out.push('mmu.hits += hits;');
  out.push(writeBack);
  out.push('return n;');
  out.push('};');
  return out.join('\n');
}

/** Which integer registers an OP-FP instruction reads (rs1) or writes (rd). */
export function fpIntOperands(raw: number): { readsRs1: boolean; writesRd: boolean } {
  if ((raw & 0x7f) !== 0x53) return { readsRs1: false, writesRd: false };
  const f5 = raw >>> 27;
  // FCVT.int.fmt (11000), FMV.X/FCLASS (11100), FEQ/FLT/FLE (10100) write x[rd];
  // FCVT.fmt.int (11010) and FMV.fmt.X (11110) read x[rs1].
  return { readsRs1: f5 === 0x1a || f5 === 0x1e, writesRd: f5 === 0x18 || f5 === 0x1c || f5 === 0x14 };
}

const TWO32M1 = 4294967295;

/** Emits the JavaScript of single instructions. */
class Gen {
  private L(r: number): string { return r === 0 ? '0' : `l${r}`; }
  private H(r: number): string { return r === 0 ? '0' : `h${r}`; }

  /** Writes (lo, hi) to rd; writes to x0 vanish (but the expressions are not evaluated then). */
  private set(rd: number, lo: string, hi: string): string {
    if (rd === X_SINK || rd === 0) return '';
    return `{ const t0 = ${lo}, t1 = ${hi}; l${rd} = t0; h${rd} = t1; }`;
  }

  private setW(rd: number, v: string): string {
    if (rd === X_SINK || rd === 0) return '';
    return `{ const t0 = ${v}; l${rd} = t0; h${rd} = t0 >> 31; }`;
  }

  /** (lo, hi) of rs1 + imm into consts `lo`, `hi`. */
  private address(rs1: number, imm: number): string {
    const a = this.L(rs1);
    return `const lo = (${a} + ${imm}) | 0, hi = (${this.H(rs1)} + ${imm >> 31} + ((${a} >>> 0) + ${imm >>> 0} > ${TWO32M1} ? 1 : 0)) | 0;`;
  }

  /** pc-relative double split into (lo, hi): pageVa + k. */
  private pcRel(rd: number, k: number): string {
    if (rd === X_SINK) return '';
    return `{ const s = pvl + ${k}; const c = Math.floor(s / 4294967296); l${rd} = s | 0; h${rd} = (pvh + c) | 0; }`;
  }

  /** Leaves the region after a trap taken by a helper (it set the pc): the instruction counts as executed. */
  private trapExit(k: number): string {
    return `{ n += ${k}; break L; }`;
  }

  /** Leaves the region before the next instruction. */
  private exitNext(k: number, next: number): string {
    return `{ n += ${k}; h.pc = pageVa + ${next}; break L; }`;
  }

  /** Continues at page offset `t`: inside the region's dispatch when on the page, else leaves. */
  goto(t: number): string {
    return t >= 0 && t < 4096 ? `p = ${t}; continue;` : `h.pc = pageVa + ${t}; break L;`;
  }

  insn(i: Insn, k: number, count: number): string {
    const { rd, rs1, rs2, imm, off, len } = i;
    const L = (r: number): string => this.L(r), H = (r: number): string => this.H(r);
    const next = off + len;
    switch (i.op) {
      case Op.LUI: return this.set(rd, `${imm}`, `${imm >> 31}`);
      case Op.AUIPC: return this.pcRel(rd, off + imm);
      case Op.JAL:
        return `${this.pcRel(rd, next)} n += ${count}; ${this.goto(off + imm)}`;
      case Op.JALR: {
        const a = L(rs1);
        return `{ const tl = (${a} + ${imm}) & -2, th = (${H(rs1)} + ${imm >> 31} + ((${a} >>> 0) + ${imm >>> 0} > ${TWO32M1} ? 1 : 0)) | 0; ` +
          `${this.pcRel(rd, next)} n += ${count}; const t = th * 4294967296 + (tl >>> 0), d = t - pageVa; ` +
          'if (d >= 0 && d < 4096) { p = d | 0; continue; } h.pc = t; break L; }';
      }
      case Op.BEQ: case Op.BNE: case Op.BLT: case Op.BGE: case Op.BLTU: case Op.BGEU: {
        const cond = this.branchCond(i.op, rs1, rs2);
        return `n += ${count}; if (${cond}) { ${this.goto(off + imm)} } ${this.goto(next)}`;
      }
      case Op.LB: case Op.LH: case Op.LW: case Op.LD: case Op.LBU: case Op.LHU: case Op.LWU:
        return this.load(i, k, next);
      case Op.SB: case Op.SH: case Op.SW: case Op.SD:
        return this.store(i, k, next);
      case Op.FLW: case Op.FLD:
        return this.fpLoad(i, k, next);
      case Op.FSW: case Op.FSD:
        return this.fpStore(i, k, next);
      case Op.ADDI: {
        if (rs1 === 0) return this.set(rd, `${imm}`, `${imm >> 31}`);
        if (imm === 0) return this.set(rd, L(rs1), H(rs1));
        const a = L(rs1);
        return this.set(rd, `(${a} + ${imm}) | 0`, `(${H(rs1)} + ${imm >> 31} + ((${a} >>> 0) + ${imm >>> 0} > ${TWO32M1} ? 1 : 0)) | 0`);
      }
      case Op.SLTI:
        return this.set(rd, `(${H(rs1)} < ${imm >> 31} || (${H(rs1)} === ${imm >> 31} && (${L(rs1)} >>> 0) < ${imm >>> 0})) ? 1 : 0`, '0');
      case Op.SLTIU:
        return this.set(rd, `((${H(rs1)} >>> 0) < ${(imm >> 31) >>> 0} || ((${H(rs1)} >>> 0) === ${(imm >> 31) >>> 0} && (${L(rs1)} >>> 0) < ${imm >>> 0})) ? 1 : 0`, '0');
      case Op.XORI: return this.set(rd, `${L(rs1)} ^ ${imm}`, `${H(rs1)} ^ ${imm >> 31}`);
      case Op.ORI: return this.set(rd, `${L(rs1)} | ${imm}`, `${H(rs1)} | ${imm >> 31}`);
      case Op.ANDI: return this.set(rd, `${L(rs1)} & ${imm}`, `${H(rs1)} & ${imm >> 31}`);
      case Op.SLLI: {
        const sh = imm;
        if (sh === 0) return this.set(rd, L(rs1), H(rs1));
        if (sh < 32) return this.set(rd, `${L(rs1)} << ${sh}`, `(${H(rs1)} << ${sh}) | (${L(rs1)} >>> ${32 - sh})`);
        return this.set(rd, '0', `${L(rs1)} << ${sh - 32}`);
      }
      case Op.SRLI: {
        const sh = imm;
        if (sh === 0) return this.set(rd, L(rs1), H(rs1));
        if (sh < 32) return this.set(rd, `(${L(rs1)} >>> ${sh}) | (${H(rs1)} << ${32 - sh})`, `(${H(rs1)} >>> ${sh}) | 0`);
        return this.set(rd, `(${H(rs1)} >>> ${sh - 32}) | 0`, '0');
      }
      case Op.SRAI: {
        const sh = imm;
        if (sh === 0) return this.set(rd, L(rs1), H(rs1));
        if (sh < 32) return this.set(rd, `(${L(rs1)} >>> ${sh}) | (${H(rs1)} << ${32 - sh})`, `${H(rs1)} >> ${sh}`);
        return this.set(rd, `${H(rs1)} >> ${sh - 32}`, `${H(rs1)} >> 31`);
      }
      case Op.ADD: {
        if (rs1 === 0) return this.set(rd, L(rs2), H(rs2));
        if (rs2 === 0) return this.set(rd, L(rs1), H(rs1));
        return `{ const a = ${L(rs1)}, b = ${L(rs2)}; ` +
          this.set(rd, '(a + b) | 0', `(${H(rs1)} + ${H(rs2)} + ((a >>> 0) + (b >>> 0) > ${TWO32M1} ? 1 : 0)) | 0`) + ' }';
      }
      case Op.SUB:
        return `{ const a = ${L(rs1)}, b = ${L(rs2)}; ` +
          this.set(rd, '(a - b) | 0', `(${H(rs1)} - ${H(rs2)} - ((a >>> 0) < (b >>> 0) ? 1 : 0)) | 0`) + ' }';
      case Op.SLL: case Op.SRL: case Op.SRA: {
        if (rd === X_SINK) return '';
        const f = i.op === Op.SLL ? 'sll' : i.op === Op.SRL ? 'srl' : 'sra';
        return `shifts.${f}(${L(rs1)}, ${H(rs1)}, ${L(rs2)} & 63); l${rd} = r64.lo; h${rd} = r64.hi;`;
      }
      case Op.SLT:
        return this.set(rd, `(${H(rs1)} < ${H(rs2)} || (${H(rs1)} === ${H(rs2)} && (${L(rs1)} >>> 0) < (${L(rs2)} >>> 0))) ? 1 : 0`, '0');
      case Op.SLTU:
        return this.set(rd, `((${H(rs1)} >>> 0) < (${H(rs2)} >>> 0) || (${H(rs1)} === ${H(rs2)} && (${L(rs1)} >>> 0) < (${L(rs2)} >>> 0))) ? 1 : 0`, '0');
      case Op.XOR: return this.set(rd, `${L(rs1)} ^ ${L(rs2)}`, `${H(rs1)} ^ ${H(rs2)}`);
      case Op.OR: return this.set(rd, `${L(rs1)} | ${L(rs2)}`, `${H(rs1)} | ${H(rs2)}`);
      case Op.AND: return this.set(rd, `${L(rs1)} & ${L(rs2)}`, `${H(rs1)} & ${H(rs2)}`);
      case Op.ADDIW: return this.setW(rd, `(${L(rs1)} + ${imm}) | 0`);
      case Op.SLLIW: return this.setW(rd, `${L(rs1)} << ${imm}`);
      case Op.SRLIW: return this.setW(rd, `(${L(rs1)} >>> ${imm}) | 0`);
      case Op.SRAIW: return this.setW(rd, `${L(rs1)} >> ${imm}`);
      case Op.ADDW: return this.setW(rd, `(${L(rs1)} + ${L(rs2)}) | 0`);
      case Op.SUBW: return this.setW(rd, `(${L(rs1)} - ${L(rs2)}) | 0`);
      case Op.SLLW: return this.setW(rd, `${L(rs1)} << (${L(rs2)} & 31)`);
      case Op.SRLW: return this.setW(rd, `(${L(rs1)} >>> (${L(rs2)} & 31)) | 0`);
      case Op.SRAW: return this.setW(rd, `${L(rs1)} >> (${L(rs2)} & 31)`);
      case Op.MUL: case Op.MULH: case Op.MULHSU: case Op.MULHU:
      case Op.DIV: case Op.DIVU: case Op.REM: case Op.REMU: {
        if (rd === X_SINK) return '';
        const f = ({
          [Op.MUL]: 'mul64', [Op.MULH]: 'mulh64', [Op.MULHSU]: 'mulhsu64', [Op.MULHU]: 'mulhu64',
          [Op.DIV]: 'div64', [Op.DIVU]: 'divu64', [Op.REM]: 'rem64', [Op.REMU]: 'remu64',
        } as Record<number, string>)[i.op];
        return `int64.${f}(${L(rs1)}, ${H(rs1)}, ${L(rs2)}, ${H(rs2)}); l${rd} = r64.lo; h${rd} = r64.hi;`;
      }
      case Op.MULW: return this.setW(rd, `Math.imul(${L(rs1)}, ${L(rs2)})`);
      case Op.DIVW:
        return `{ const a = ${L(rs1)}, b = ${L(rs2)}; ` + this.setW(rd, 'b === 0 ? -1 : (a === -2147483648 && b === -1) ? a : (a / b) | 0') + ' }';
      case Op.DIVUW:
        return `{ const a = ${L(rs1)} >>> 0, b = ${L(rs2)} >>> 0; ` + this.setW(rd, 'b === 0 ? -1 : Math.floor(a / b) | 0') + ' }';
      case Op.REMW:
        return `{ const a = ${L(rs1)}, b = ${L(rs2)}; ` + this.setW(rd, 'b === 0 ? a : (a === -2147483648 && b === -1) ? 0 : (a % b) | 0') + ' }';
      case Op.REMUW:
        return `{ const a = ${L(rs1)} >>> 0, b = ${L(rs2)} >>> 0; ` + this.setW(rd, 'b === 0 ? a | 0 : (a % b) | 0') + ' }';
      case Op.FP: {
        const io = fpIntOperands(imm);
        const xr1 = (imm >>> 15) & 31, xrd = (imm >>> 7) & 31;
        const sync = io.readsRs1 && xr1 !== 0 ? `xl[${xr1}] = l${xr1}; xh[${xr1}] = h${xr1}; ` : '';
        const reload = io.writesRd && xrd !== 0 ? ` l${xrd} = xl[${xrd}]; h${xrd} = xh[${xrd}];` : '';
        return `${sync}if (!csr.fpEnabled() || !fpu.execute(${imm})) { h.pc = pageVa + ${off}; h.illegal(${imm}); ${this.trapExit(k)} } csr.fpDirty();${reload}`;
      }
      case Op.LR_W: case Op.SC_W: case Op.AMO_W: case Op.LR_D: case Op.SC_D: case Op.AMO_D: {
        const sync = [rs1, rs2].filter((r) => r !== 0).map((r) => `xl[${r}] = l${r}; xh[${r}] = h${r};`).join(' ');
        const reload = rd !== X_SINK ? ` l${rd} = xl[${rd}]; h${rd} = xh[${rd}];` : '';
        return `${sync} h.pc = pageVa + ${off}; if (!h.atomic(${i.op}, ${rd}, ${rs1}, ${rs2}, ${imm})) ${this.trapExit(k)}${reload} ` +
          `if (dp.gen !== G) ${this.exitNext(k, next)}`;
      }
      case Op.FENCE: case Op.FENCE_I:
        // Code writes are tracked by page, so FENCE.I has nothing to flush (see the decode cache).
        return '';
      case Op.CSRRW: case Op.CSRRS: case Op.CSRRC: case Op.CSRRWI: case Op.CSRRSI: case Op.CSRRCI:
      case Op.SRET: case Op.WFI: case Op.SFENCE_VMA: {
        // The inline VMM call (the last instruction of its block): the registers it may read or write go through memory.
        const regs = [rd, rs1].filter((r) => r !== 0 && r !== X_SINK);
        const sync = regs.map((r) => `xl[${r}] = l${r}; xh[${r}] = h${r};`).join(' ');
        const reload = regs.map((r) => `l${r} = xl[${r}]; h${r} = xh[${r}];`).join(' ');
        return `${sync} h.pc = pageVa + ${off}; if (h.inlineVmmCall()) { ${reload} ${this.trapExit(k)} } ` +
          `{ n += ${k - 1}; break L; }`;
      }
      default:
        throw new Error(`translator: operation ${i.op} is not translatable`);
    }
  }

  private branchCond(op: number, rs1: number, rs2: number): string {
    const L = (r: number): string => this.L(r), H = (r: number): string => this.H(r);
    switch (op) {
      case Op.BEQ: return `${L(rs1)} === ${L(rs2)} && ${H(rs1)} === ${H(rs2)}`;
      case Op.BNE: return `${L(rs1)} !== ${L(rs2)} || ${H(rs1)} !== ${H(rs2)}`;
      case Op.BLT: return `${H(rs1)} < ${H(rs2)} || (${H(rs1)} === ${H(rs2)} && (${L(rs1)} >>> 0) < (${L(rs2)} >>> 0))`;
      case Op.BGE: return `${H(rs1)} > ${H(rs2)} || (${H(rs1)} === ${H(rs2)} && (${L(rs1)} >>> 0) >= (${L(rs2)} >>> 0))`;
      case Op.BLTU: return `(${H(rs1)} >>> 0) < (${H(rs2)} >>> 0) || (${H(rs1)} === ${H(rs2)} && (${L(rs1)} >>> 0) < (${L(rs2)} >>> 0))`;
      default: return `(${H(rs1)} >>> 0) > (${H(rs2)} >>> 0) || (${H(rs1)} === ${H(rs2)} && (${L(rs1)} >>> 0) >= (${L(rs2)} >>> 0))`;
    }
  }

  /** The inline TLB check for an access of `size` bytes at (lo, hi) in context base `base` (as Mmu.ramHit; ro: the page's RAM offset). */
  private tlbHit(base: string, size: number): string {
    return `const t = ${ENTRY_WORDS} * (${base} + ((lo >>> 12) & ${TLB_MASK})), ro = tw[t + ${ENTRY_RO_WORD}] >>> 0; if (tw[t] === (lo & ${-4096 | (size - 1)}) && tw[t + 1] === hi)`;
  }

  private load(i: Insn, k: number, next: number): string {
    const { op, rd, rs1, imm, off } = i;
    const size = op === Op.LD ? 8 : op === Op.LW || op === Op.LWU ? 4 : op === Op.LH || op === Op.LHU ? 2 : 1;
    const sink = rd === X_SINK;
    let fast: string, slow: string;
    switch (op) {
      case Op.LB: fast = '(u8[o] << 24) >> 24'; slow = '(r64.lo << 24) >> 24'; break;
      case Op.LBU: fast = 'u8[o]'; slow = 'r64.lo & 255'; break;
      case Op.LH: fast = '(u16[o >>> 1] << 16) >> 16'; slow = '(r64.lo << 16) >> 16'; break;
      case Op.LHU: fast = 'u16[o >>> 1]'; slow = 'r64.lo & 65535'; break;
      case Op.LW: case Op.LWU: fast = 'i32[o >>> 2]'; slow = 'r64.lo'; break;
      default: fast = 'i32[o >>> 2]'; slow = 'r64.lo'; break;
    }
    const hiOf = (v: string, src: string): string =>
      op === Op.LD ? src : op === Op.LBU || op === Op.LHU || op === Op.LWU ? '0' : `${v} >> 31`;
    const fastSet = sink ? '' : `l${rd} = ${fast}; h${rd} = ${hiOf(`l${rd}`, 'i32[(o >>> 2) + 1]')};`;
    const slowSet = sink ? '' : `l${rd} = ${slow}; h${rd} = ${hiOf(`l${rd}`, 'r64.hi')};`;
    return `{ ${this.address(rs1, imm)} ${this.tlbHit('rb', size)} { hits++; const o = ro + (lo & 4095); ${fastSet} } ` +
      `else { h.pc = pageVa + ${off}; if (!h.loadSlow(lo, hi, ${size})) ${this.trapExit(k)} ${slowSet} if (h.interruptCheck) ${this.exitNext(k, next)} } }`;
  }

  private store(i: Insn, k: number, next: number): string {
    const { op, rs1, rs2, imm, off } = i;
    const size = op === Op.SD ? 8 : op === Op.SW ? 4 : op === Op.SH ? 2 : 1;
    const vl = this.L(rs2), vh = this.H(rs2);
    let fast: string;
    switch (op) {
      case Op.SB: fast = `u8[o] = ${vl};`; break;
      case Op.SH: fast = `u16[o >>> 1] = ${vl};`; break;
      case Op.SW: fast = `i32[o >>> 2] = ${vl};`; break;
      default: fast = `i32[o >>> 2] = ${vl}; i32[(o >>> 2) + 1] = ${vh};`; break;
    }
    return this.storeCommon(rs1, imm, size, fast, `${vl}, ${vh}`, off, k, next);
  }

  private storeCommon(rs1: number, imm: number, size: number, fast: string, slowArgs: string, off: number, k: number, next: number): string {
    return `{ ${this.address(rs1, imm)} ${this.tlbHit('wb', size)} { hits++; const o = ro + (lo & 4095); ${fast} ` +
      `const pg = o >>> 12; dirty[pg] = 1; if (codePages[pg] !== 0) { ram.noteWrite(o, ${size}); if (dp.gen !== G) ${this.exitNext(k, next)} } } ` +
      `else { h.pc = pageVa + ${off}; if (!h.storeSlow(lo, hi, ${size}, ${slowArgs})) ${this.trapExit(k)} ` +
      `if (h.interruptCheck || dp.gen !== G) ${this.exitNext(k, next)} } }`;
  }

  private fpCheck(off: number, k: number): string {
    return `if (!csr.fpEnabled()) { h.pc = pageVa + ${off}; h.illegalAtPc(); ${this.trapExit(k)} }`;
  }

  private fpLoad(i: Insn, k: number, next: number): string {
    const { op, rd, rs1, imm, off } = i;
    const size = op === Op.FLD ? 8 : 4;
    const fastHi = size === 8 ? 'i32[(o >>> 2) + 1]' : '-1';
    const slowHi = size === 8 ? 'r64.hi' : '-1';
    return `${this.fpCheck(off, k)} { ${this.address(rs1, imm)} ${this.tlbHit('rb', size)} { hits++; const o = ro + (lo & 4095); ` +
      `fr[${2 * rd}] = i32[o >>> 2]; fr[${2 * rd + 1}] = ${fastHi}; } ` +
      `else { h.pc = pageVa + ${off}; if (!h.loadSlow(lo, hi, ${size})) ${this.trapExit(k)} fr[${2 * rd}] = r64.lo; fr[${2 * rd + 1}] = ${slowHi}; ` +
      `if (h.interruptCheck) { csr.fpDirty(); ${this.exitNext(k, next)} } } csr.fpDirty(); }`;
  }

  private fpStore(i: Insn, k: number, next: number): string {
    const { op, rs1, rs2, imm, off } = i;
    const size = op === Op.FSD ? 8 : 4;
    const fast = size === 8 ? `i32[o >>> 2] = fr[${2 * rs2}]; i32[(o >>> 2) + 1] = fr[${2 * rs2 + 1}];` : `i32[o >>> 2] = fr[${2 * rs2}];`;
    return `${this.fpCheck(off, k)} ${this.storeCommon(rs1, imm, size, fast, `fr[${2 * rs2}], fr[${2 * rs2 + 1}]`, off, k, next)}`;
  }
}
