/**
 * The one RISC-V instruction decoder, shared by the interpreter and the JIT.
 *
 * It turns a raw 16- or 32-bit encoding into an {@link Op} and operand fields.
 * Compressed instructions (RVC, unprivileged spec ch. 16 "C" Standard Extension)
 * are expanded to the operation of their 32-bit equivalent with `length = 2`.
 *
 * A write to x0 is given destination register {@link X_SINK} (32): register
 * files are 33 entries long, so execution never has to test `rd !== 0`.
 */

/** Destination register index that absorbs writes to x0. */
export const X_SINK = 32;

/** Every operation the core executes. */
export const enum Op {
  ILLEGAL = 0,
  // RV64I
  LUI, AUIPC, JAL, JALR,
  BEQ, BNE, BLT, BGE, BLTU, BGEU,
  LB, LH, LW, LD, LBU, LHU, LWU,
  SB, SH, SW, SD,
  ADDI, SLTI, SLTIU, XORI, ORI, ANDI, SLLI, SRLI, SRAI,
  ADD, SUB, SLL, SLT, SLTU, XOR, SRL, SRA, OR, AND,
  ADDIW, SLLIW, SRLIW, SRAIW, ADDW, SUBW, SLLW, SRLW, SRAW,
  FENCE, FENCE_I, ECALL, EBREAK,
  // M
  MUL, MULH, MULHSU, MULHU, DIV, DIVU, REM, REMU,
  MULW, DIVW, DIVUW, REMW, REMUW,
  // A (imm holds the funct5 for AMOs)
  LR_W, SC_W, AMO_W, LR_D, SC_D, AMO_D,
  // Zicsr (imm = CSR number; for the I forms rs1 holds the 5-bit immediate)
  CSRRW, CSRRS, CSRRC, CSRRWI, CSRRSI, CSRRCI,
  // Privileged
  MRET, SRET, WFI, SFENCE_VMA,
  // F/D loads and stores; all other F/D operations go to the FPU by raw encoding
  FLW, FSW, FLD, FSD, FP,
  // The H extension's hypervisor instructions (decoded here, executed when H is present)
  HFENCE_VVMA, HFENCE_GVMA, HLV, HSV,
  /** Marker: number of operations. */
  COUNT,
}

/** AMO funct5 values (unprivileged spec, "A" extension). */
export const enum AmoFunct {
  ADD = 0x00, SWAP = 0x01, XOR = 0x04, OR = 0x08, AND = 0x0c,
  MIN = 0x10, MAX = 0x14, MINU = 0x18, MAXU = 0x1c,
}

/** The fields of one decoded instruction. */
export interface Decoded {
  op: Op;
  rd: number;
  rs1: number;
  rs2: number;
  imm: number;
  /** 2 or 4 bytes. */
  length: number;
  /** The raw encoding (16-bit for compressed), for mtval and the FPU. */
  raw: number;
}

/** Makes a zeroed {@link Decoded} to decode into. */
export function newDecoded(): Decoded {
  return { op: Op.ILLEGAL, rd: 0, rs1: 0, rs2: 0, imm: 0, length: 4, raw: 0 };
}

function set(d: Decoded, op: Op, rd: number, rs1: number, rs2: number, imm: number): void {
  d.op = op;
  d.rd = rd === 0 ? X_SINK : rd;
  d.rs1 = rs1;
  d.rs2 = rs2;
  d.imm = imm;
}

/** Decodes `insn` into `d`. `insn` holds at least the low 16 bits; 32 bits when `(insn & 3) === 3`. */
export function decode(insn: number, d: Decoded): void {
  if ((insn & 3) !== 3) {
    d.length = 2;
    d.raw = insn & 0xffff;
    decodeCompressed(insn & 0xffff, d);
    return;
  }
  d.length = 4;
  d.raw = insn | 0;
  decode32(insn | 0, d);
}

function decode32(i: number, d: Decoded): void {
  const opcode = i & 0x7f;
  const rd = (i >>> 7) & 31;
  const f3 = (i >>> 12) & 7;
  const rs1 = (i >>> 15) & 31;
  const rs2 = (i >>> 20) & 31;
  const f7 = i >>> 25;
  const immI = i >> 20;
  set(d, Op.ILLEGAL, 0, 0, 0, 0);
  switch (opcode) {
    case 0x37: set(d, Op.LUI, rd, 0, 0, i & 0xfffff000); return;
    case 0x17: set(d, Op.AUIPC, rd, 0, 0, i & 0xfffff000); return;
    case 0x6f: {
      const imm = ((i >> 11) & 0xfff00000) | (i & 0xff000) | ((i >>> 9) & 0x800) | ((i >>> 20) & 0x7fe);
      set(d, Op.JAL, rd, 0, 0, imm);
      return;
    }
    case 0x67: if (f3 === 0) set(d, Op.JALR, rd, rs1, 0, immI); return;
    case 0x63: {
      const imm = ((i >> 19) & 0xfffff000) | ((i << 4) & 0x800) | ((i >>> 20) & 0x7e0) | ((i >>> 7) & 0x1e);
      const ops = [Op.BEQ, Op.BNE, Op.ILLEGAL, Op.ILLEGAL, Op.BLT, Op.BGE, Op.BLTU, Op.BGEU];
      const op = ops[f3];
      if (op !== Op.ILLEGAL) set(d, op, 0, rs1, rs2, imm);
      return;
    }
    case 0x03: {
      const ops = [Op.LB, Op.LH, Op.LW, Op.LD, Op.LBU, Op.LHU, Op.LWU, Op.ILLEGAL];
      const op = ops[f3];
      if (op !== Op.ILLEGAL) set(d, op, rd, rs1, 0, immI);
      return;
    }
    case 0x23: {
      const imm = ((i >> 20) & ~31) | ((i >>> 7) & 31);
      const ops = [Op.SB, Op.SH, Op.SW, Op.SD];
      if (f3 < 4) set(d, ops[f3], 0, rs1, rs2, imm);
      return;
    }
    case 0x13:
      switch (f3) {
        case 0: set(d, Op.ADDI, rd, rs1, 0, immI); return;
        case 2: set(d, Op.SLTI, rd, rs1, 0, immI); return;
        case 3: set(d, Op.SLTIU, rd, rs1, 0, immI); return;
        case 4: set(d, Op.XORI, rd, rs1, 0, immI); return;
        case 6: set(d, Op.ORI, rd, rs1, 0, immI); return;
        case 7: set(d, Op.ANDI, rd, rs1, 0, immI); return;
        case 1: if ((i >>> 26) === 0) set(d, Op.SLLI, rd, rs1, 0, (i >>> 20) & 63); return;
        case 5:
          if ((i >>> 26) === 0) set(d, Op.SRLI, rd, rs1, 0, (i >>> 20) & 63);
          else if ((i >>> 26) === 0x10) set(d, Op.SRAI, rd, rs1, 0, (i >>> 20) & 63);
          return;
      }
      return;
    case 0x1b:
      switch (f3) {
        case 0: set(d, Op.ADDIW, rd, rs1, 0, immI); return;
        case 1: if (f7 === 0) set(d, Op.SLLIW, rd, rs1, 0, rs2); return;
        case 5:
          if (f7 === 0) set(d, Op.SRLIW, rd, rs1, 0, rs2);
          else if (f7 === 0x20) set(d, Op.SRAIW, rd, rs1, 0, rs2);
          return;
      }
      return;
    case 0x33: {
      let op = Op.ILLEGAL;
      if (f7 === 0) op = [Op.ADD, Op.SLL, Op.SLT, Op.SLTU, Op.XOR, Op.SRL, Op.OR, Op.AND][f3];
      else if (f7 === 0x20) op = f3 === 0 ? Op.SUB : f3 === 5 ? Op.SRA : Op.ILLEGAL;
      else if (f7 === 1) op = [Op.MUL, Op.MULH, Op.MULHSU, Op.MULHU, Op.DIV, Op.DIVU, Op.REM, Op.REMU][f3];
      if (op !== Op.ILLEGAL) set(d, op, rd, rs1, rs2, 0);
      return;
    }
    case 0x3b: {
      let op = Op.ILLEGAL;
      if (f7 === 0) op = f3 === 0 ? Op.ADDW : f3 === 1 ? Op.SLLW : f3 === 5 ? Op.SRLW : Op.ILLEGAL;
      else if (f7 === 0x20) op = f3 === 0 ? Op.SUBW : f3 === 5 ? Op.SRAW : Op.ILLEGAL;
      else if (f7 === 1) op = [Op.MULW, Op.ILLEGAL, Op.ILLEGAL, Op.ILLEGAL, Op.DIVW, Op.DIVUW, Op.REMW, Op.REMUW][f3];
      if (op !== Op.ILLEGAL) set(d, op, rd, rs1, rs2, 0);
      return;
    }
    case 0x0f:
      // FENCE ignores its unused fields (they are reserved for future use, and must be ignored).
      if (f3 === 0) set(d, Op.FENCE, 0, 0, 0, 0);
      else if (f3 === 1) set(d, Op.FENCE_I, 0, 0, 0, 0);
      return;
    case 0x2f: {
      const f5 = i >>> 27;
      if (f3 !== 2 && f3 !== 3) return;
      const w = f3 === 2;
      if (f5 === 0x02) { if (rs2 === 0) set(d, w ? Op.LR_W : Op.LR_D, rd, rs1, 0, 0); return; }
      if (f5 === 0x03) { set(d, w ? Op.SC_W : Op.SC_D, rd, rs1, rs2, 0); return; }
      switch (f5) {
        case AmoFunct.ADD: case AmoFunct.SWAP: case AmoFunct.XOR: case AmoFunct.OR: case AmoFunct.AND:
        case AmoFunct.MIN: case AmoFunct.MAX: case AmoFunct.MINU: case AmoFunct.MAXU:
          set(d, w ? Op.AMO_W : Op.AMO_D, rd, rs1, rs2, f5);
      }
      return;
    }
    case 0x73: {
      const csr = i >>> 20;
      switch (f3) {
        case 0:
          if (rd !== 0) return;
          if (i === 0x00000073) set(d, Op.ECALL, 0, 0, 0, 0);
          else if (i === 0x00100073) set(d, Op.EBREAK, 0, 0, 0, 0);
          else if (i === 0x30200073) set(d, Op.MRET, 0, 0, 0, 0);
          else if (i === 0x10200073) set(d, Op.SRET, 0, 0, 0, 0);
          else if (i === 0x10500073) set(d, Op.WFI, 0, 0, 0, 0);
          else if (f7 === 0x09) set(d, Op.SFENCE_VMA, 0, rs1, rs2, 0);
          else if (f7 === 0x11) set(d, Op.HFENCE_VVMA, 0, rs1, rs2, 0);
          else if (f7 === 0x31) set(d, Op.HFENCE_GVMA, 0, rs1, rs2, 0);
          return;
        case 4: {
          // Hypervisor virtual-machine loads and stores (privileged spec §9.3.3); imm = funct7, rs2 selects the variant.
          if ((f7 & 0x61) === 0x20 && (f7 & 1) === 0 && rs2 <= 3) set(d, Op.HLV, rd, rs1, rs2, f7);
          else if ((f7 & 0x61) === 0x21 && rd === 0) set(d, Op.HSV, 0, rs1, rs2, f7);
          return;
        }
        case 1: set(d, Op.CSRRW, rd, rs1, 0, csr); return;
        case 2: set(d, Op.CSRRS, rd, rs1, 0, csr); return;
        case 3: set(d, Op.CSRRC, rd, rs1, 0, csr); return;
        case 5: set(d, Op.CSRRWI, rd, rs1, 0, csr); return;
        case 6: set(d, Op.CSRRSI, rd, rs1, 0, csr); return;
        case 7: set(d, Op.CSRRCI, rd, rs1, 0, csr); return;
      }
      return;
    }
    case 0x07:
      // FP loads keep the real rd (f0 is a real register): no sink.
      if (f3 === 2) { set(d, Op.FLW, 0, rs1, 0, immI); d.rd = rd; }
      else if (f3 === 3) { set(d, Op.FLD, 0, rs1, 0, immI); d.rd = rd; }
      return;
    case 0x27: {
      const imm = ((i >> 20) & ~31) | ((i >>> 7) & 31);
      if (f3 === 2) set(d, Op.FSW, 0, rs1, rs2, imm);
      else if (f3 === 3) set(d, Op.FSD, 0, rs1, rs2, imm);
      return;
    }
    case 0x53: case 0x43: case 0x47: case 0x4b: case 0x4f:
      set(d, Op.FP, 0, 0, 0, 0);
      return;
  }
}

function decodeCompressed(i: number, d: Decoded): void {
  const q = i & 3;
  const f3 = i >>> 13;
  const rdp = 8 + ((i >>> 2) & 7);
  const rs1p = 8 + ((i >>> 7) & 7);
  const rd = (i >>> 7) & 31;
  const rs2 = (i >>> 2) & 31;
  const imm6 = (((i >>> 7) & 0x20) | ((i >>> 2) & 0x1f)) << 26 >> 26;
  set(d, Op.ILLEGAL, 0, 0, 0, 0);
  if (q === 0) {
    switch (f3) {
      case 0: {
        const imm = ((i >>> 7) & 0x30) | ((i >>> 1) & 0x3c0) | ((i >>> 4) & 0x4) | ((i >>> 2) & 0x8);
        if (imm !== 0) set(d, Op.ADDI, rdp, 2, 0, imm);
        return;
      }
      case 1: set(d, Op.FLD, 0, rs1p, 0, ((i >>> 7) & 0x38) | ((i << 1) & 0xc0)); d.rd = rdp; return;
      case 2: set(d, Op.LW, rdp, rs1p, 0, ((i >>> 7) & 0x38) | ((i >>> 4) & 0x4) | ((i << 1) & 0x40)); return;
      case 3: set(d, Op.LD, rdp, rs1p, 0, ((i >>> 7) & 0x38) | ((i << 1) & 0xc0)); return;
      case 5: set(d, Op.FSD, 0, rs1p, rdp, ((i >>> 7) & 0x38) | ((i << 1) & 0xc0)); return;
      case 6: set(d, Op.SW, 0, rs1p, rdp, ((i >>> 7) & 0x38) | ((i >>> 4) & 0x4) | ((i << 1) & 0x40)); return;
      case 7: set(d, Op.SD, 0, rs1p, rdp, ((i >>> 7) & 0x38) | ((i << 1) & 0xc0)); return;
    }
    return;
  }
  if (q === 1) {
    switch (f3) {
      case 0: set(d, Op.ADDI, rd, rd, 0, imm6); return; // C.NOP when rd = 0 (hint otherwise)
      case 1: if (rd !== 0) set(d, Op.ADDIW, rd, rd, 0, imm6); return;
      case 2: set(d, Op.ADDI, rd, 0, 0, imm6); return; // C.LI
      case 3:
        if (rd === 2) {
          const imm = (((i >>> 3) & 0x200) | ((i >>> 2) & 0x10) | ((i << 1) & 0x40) | ((i << 4) & 0x180) | ((i << 3) & 0x20)) << 22 >> 22;
          if (imm !== 0) set(d, Op.ADDI, 2, 2, 0, imm);
        } else if (imm6 !== 0) {
          set(d, Op.LUI, rd, 0, 0, imm6 << 12);
        }
        return;
      case 4: {
        const sh = ((i >>> 7) & 0x20) | ((i >>> 2) & 0x1f);
        switch ((i >>> 10) & 3) {
          case 0: set(d, Op.SRLI, rs1p, rs1p, 0, sh); return;
          case 1: set(d, Op.SRAI, rs1p, rs1p, 0, sh); return;
          case 2: set(d, Op.ANDI, rs1p, rs1p, 0, imm6); return;
          case 3: {
            const ops = (i & 0x1000) === 0
              ? [Op.SUB, Op.XOR, Op.OR, Op.AND]
              : [Op.SUBW, Op.ADDW, Op.ILLEGAL, Op.ILLEGAL];
            const op = ops[(i >>> 5) & 3];
            if (op !== Op.ILLEGAL) set(d, op, rs1p, rs1p, rdp, 0);
            return;
          }
        }
        return;
      }
      case 5: {
        const imm = (((i >>> 1) & 0x800) | ((i >>> 7) & 0x10) | ((i >>> 1) & 0x300) | ((i << 2) & 0x400) |
          ((i >>> 1) & 0x40) | ((i << 1) & 0x80) | ((i >>> 2) & 0xe) | ((i << 3) & 0x20)) << 20 >> 20;
        set(d, Op.JAL, 0, 0, 0, imm);
        return;
      }
      case 6: case 7: {
        const imm = (((i >>> 4) & 0x100) | ((i >>> 7) & 0x18) | ((i << 1) & 0xc0) | ((i >>> 2) & 0x6) | ((i << 3) & 0x20)) << 23 >> 23;
        set(d, f3 === 6 ? Op.BEQ : Op.BNE, 0, rs1p, 0, imm);
        return;
      }
    }
    return;
  }
  if (q === 2) {
    switch (f3) {
      case 0: set(d, Op.SLLI, rd, rd, 0, ((i >>> 7) & 0x20) | ((i >>> 2) & 0x1f)); return;
      case 1: set(d, Op.FLD, 0, 2, 0, ((i >>> 7) & 0x20) | ((i >>> 2) & 0x18) | ((i << 4) & 0x1c0)); d.rd = rd; return;
      case 2: if (rd !== 0) set(d, Op.LW, rd, 2, 0, ((i >>> 7) & 0x20) | ((i >>> 2) & 0x1c) | ((i << 4) & 0xc0)); return;
      case 3: if (rd !== 0) set(d, Op.LD, rd, 2, 0, ((i >>> 7) & 0x20) | ((i >>> 2) & 0x18) | ((i << 4) & 0x1c0)); return;
      case 4:
        if ((i & 0x1000) === 0) {
          if (rs2 === 0) { if (rd !== 0) set(d, Op.JALR, 0, rd, 0, 0); }
          else set(d, Op.ADD, rd, 0, rs2, 0); // C.MV
        } else if (rs2 === 0) {
          if (rd === 0) set(d, Op.EBREAK, 0, 0, 0, 0);
          else set(d, Op.JALR, 1, rd, 0, 0);
        } else {
          set(d, Op.ADD, rd, rd, rs2, 0);
        }
        return;
      case 5: set(d, Op.FSD, 0, 2, rs2, ((i >>> 7) & 0x38) | ((i >>> 1) & 0x1c0)); return;
      case 6: set(d, Op.SW, 0, 2, rs2, ((i >>> 7) & 0x3c) | ((i >>> 1) & 0xc0)); return;
      case 7: set(d, Op.SD, 0, 2, rs2, ((i >>> 7) & 0x38) | ((i >>> 1) & 0x1c0)); return;
    }
  }
}
