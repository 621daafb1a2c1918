/**
 * Emulation of a guest's device access that trapped to the VMM.
 *
 * Under every technique but `none`, guest device registers are not mapped
 * into the guest: a load or store to them faults (a guest-page fault under
 * `hw`, a page fault on the shadow tables under `trap` and `bt`) and exits
 * to the VMM. The VMM then needs the instruction: from `htinst` when the
 * hardware provides it (H extension, "transformed instruction"), otherwise
 * read from guest memory at the faulting pc. This module decodes it with the
 * core's own decoder, carries out the access on the VM's device bus, writes
 * the destination register of a load, and tells the VMM how far to advance
 * the pc.
 */
import { decode, newDecoded, Op, X_SINK } from '../cpu/riscv/decode.js';

/** A device bus seen from the VMM: accesses by guest physical address. */
export interface MmioAccessor {
  /** Reads `size` bytes (zero-extended); undefined when nothing answers there. */
  read(gpa: number, size: 1 | 2 | 4 | 8): bigint | undefined;
  /** Writes the low `size` bytes of `value`; false when nothing answers there. */
  write(gpa: number, size: 1 | 2 | 4 | 8, value: bigint): boolean;
}

/** The integer registers of the vCPU that trapped. */
export interface VcpuRegisters {
  /** x[i] as an unsigned 64-bit value. */
  getX(i: number): bigint;
  setX(i: number, value: bigint): void;
}

export type MmioResult =
  | { ok: true; kind: 'load' | 'store'; size: number; length: 2 | 4 }
  | { ok: false; reason: string };

const MASK64 = (1n << 64n) - 1n;

/** Sign-extends the low `bits` of `v` to 64 bits (as an unsigned bigint). */
function signExtend(v: bigint, bits: number): bigint {
  return BigInt.asUintN(64, BigInt.asIntN(bits, v));
}

/**
 * A transformed instruction from `htinst` (privileged spec §8.6.3) back to an
 * encoding the decoder reads: bit 1 clear marks a compressed original, whose
 * transformed form is the 32-bit equivalent with bit 1 cleared; the address
 * fields are zero, which does not matter here (the address is the faulting one).
 */
export function fromTransformed(htinst: number): { insn: number; length: 2 | 4 } | undefined {
  if (htinst === 0) return undefined; // not provided: read the instruction from guest memory
  if ((htinst & 3) === 3) return { insn: htinst | 0, length: 4 };
  if ((htinst & 3) === 1) return { insn: (htinst | 2) | 0, length: 2 };
  return undefined; // a pseudoinstruction (implicit page-table access), not a device access
}

const LOADS: Partial<Record<Op, { size: 1 | 2 | 4 | 8; signed: boolean }>> = {
  [Op.LB]: { size: 1, signed: true }, [Op.LBU]: { size: 1, signed: false },
  [Op.LH]: { size: 2, signed: true }, [Op.LHU]: { size: 2, signed: false },
  [Op.LW]: { size: 4, signed: true }, [Op.LWU]: { size: 4, signed: false },
  [Op.LD]: { size: 8, signed: false },
};
const STORES: Partial<Record<Op, 1 | 2 | 4 | 8>> = { [Op.SB]: 1, [Op.SH]: 2, [Op.SW]: 4, [Op.SD]: 8 };

/**
 * Emulates the load or store `insn` (16- or 32-bit encoding; `length` 2 or
 * 4 as fetched) that faulted at guest physical address `gpa`. Anything else
 * (an AMO, an FP access, an instruction that is no access at all) is refused
 * with a reason: the VMM reflects it to the guest as an access fault.
 */
export function emulateMmio(insn: number, gpa: number, regs: VcpuRegisters, bus: MmioAccessor): MmioResult {
  const d = newDecoded();
  decode(insn, d);
  const length = d.length === 2 ? 2 : 4;
  const load = LOADS[d.op];
  if (load !== undefined) {
    if (gpa % load.size !== 0) return { ok: false, reason: `misaligned ${load.size}-byte device load at 0x${gpa.toString(16)}` };
    const v = bus.read(gpa, load.size);
    if (v === undefined) return { ok: false, reason: `no device answers a load at 0x${gpa.toString(16)}` };
    const value = load.signed ? signExtend(v, load.size * 8) : v & MASK64;
    if (d.rd !== X_SINK) regs.setX(d.rd, value);
    return { ok: true, kind: 'load', size: load.size, length };
  }
  const size = STORES[d.op];
  if (size !== undefined) {
    if (gpa % size !== 0) return { ok: false, reason: `misaligned ${size}-byte device store at 0x${gpa.toString(16)}` };
    const value = regs.getX(d.rs2) & ((1n << BigInt(size * 8)) - 1n);
    if (!bus.write(gpa, size, value)) return { ok: false, reason: `no device answers a store at 0x${gpa.toString(16)}` };
    return { ok: true, kind: 'store', size, length };
  }
  return { ok: false, reason: `instruction 0x${(insn >>> 0).toString(16)} is not a load or store the VMM emulates on devices` };
}
