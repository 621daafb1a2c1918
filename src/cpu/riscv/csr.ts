/**
 * Control and status registers of one hart (privileged spec v1.12 ch. 2–4,
 * plus Zicntr and Sstc). Values are kept as (lo, hi) int32 pairs where they
 * are full 64-bit registers, and as numbers where all bits fit in 32.
 */
import { Op } from './decode.js';
import { Cause, Csr, Hstatus, Mstatus, MstatusHi, Priv } from './constants.js';
import type { Hart } from './hart.js';
import type { TimeSource } from '../../devices/device.js';
import { r64, fromNumber, toNumberU, toNumberS } from './int64.js';

/** misa: MXL=2 (RV64) and extensions A, C, D, F, H, I, M, S, U. */
const MISA_LO = (1 << 0) | (1 << 2) | (1 << 3) | (1 << 5) | (1 << 7) | (1 << 8) | (1 << 12) | (1 << 18) | (1 << 20);
const MISA_HI = 0x80000000 | 0;

const MSTATUS_WRITABLE = Mstatus.SIE | Mstatus.MIE | Mstatus.SPIE | Mstatus.MPIE | Mstatus.SPP | Mstatus.MPP |
  Mstatus.FS | Mstatus.MPRV | Mstatus.SUM | Mstatus.MXR | Mstatus.TVM | Mstatus.TW | Mstatus.TSR;
const SSTATUS_VISIBLE = Mstatus.SIE | Mstatus.SPIE | Mstatus.UBE | Mstatus.SPP | Mstatus.VS | Mstatus.FS |
  Mstatus.XS | Mstatus.SUM | Mstatus.MXR;
const SSTATUS_WRITABLE = Mstatus.SIE | Mstatus.SPIE | Mstatus.SPP | Mstatus.FS | Mstatus.SUM | Mstatus.MXR;
/** Exceptions that may be delegated: all but ecall-from-M and the reserved codes (with H: ecall-from-VS, guest-page faults, virtual instruction). */
const MEDELEG_WRITABLE = 0xb7ff | (0xf << 20);
/** Supervisor interrupts that may be delegated: SSIP, STIP, SEIP. */
const MIDELEG_WRITABLE = 0x222;
/** M and S interrupt enables, and the VS ones of the H extension (VSSIE, VSTIE, VSEIE). */
const MIE_WRITABLE = 0xeee;
const SSIP = 1 << 1, STIP = 1 << 5, SEIP = 1 << 9;
/** The VS-level interrupt bits (VSSIP, VSTIP, VSEIP): always delegated to HS (mideleg reads them as one, §9.4.2). */
export const VS_IRQS = 0x444;
const VSSIP = 1 << 2, VSTIP = 1 << 6;
/** Exceptions HS may delegate to VS (§9.2.2): not the ecalls from HS/VS/M, nor guest-page faults or virtual instruction. */
const HEDELEG_WRITABLE = 0xb1ff;
const HSTATUS_WRITABLE = Hstatus.GVA | Hstatus.SPV | Hstatus.SPVP | Hstatus.HU | Hstatus.VTVM | Hstatus.VTW | Hstatus.VTSR;
/** Supervisor CSRs that have a VS counterpart at csr + 0x100, used instead while V=1 (§9.2). */
const VS_ALIASED = new Set<number>([Csr.SSTATUS, Csr.SIE, Csr.STVEC, Csr.SSCRATCH, Csr.SEPC, Csr.SCAUSE, Csr.STVAL, Csr.SIP, Csr.SATP]);
/** Supervisor CSRs that exist (for the virtual-instruction rule of VU-mode). */
const SUPERVISOR_CSRS = new Set<number>([...VS_ALIASED, Csr.SCOUNTEREN, Csr.SENVCFG, Csr.STIMECMP]);
/** Hypervisor and VS CSRs that exist. */
const HYPERVISOR_CSRS = new Set<number>([
  Csr.HSTATUS, Csr.HEDELEG, Csr.HIDELEG, Csr.HIE, Csr.HTIMEDELTA, Csr.HCOUNTEREN, Csr.HGEIE, Csr.HENVCFG,
  Csr.HTVAL, Csr.HIP, Csr.HVIP, Csr.HTINST, Csr.HGATP, Csr.HGEIP,
  Csr.VSSTATUS, Csr.VSIE, Csr.VSTVEC, Csr.VSSCRATCH, Csr.VSEPC, Csr.VSCAUSE, Csr.VSTVAL, Csr.VSIP, Csr.VSATP, Csr.VSTIMECMP,
]);

/** Saved CSR state (see {@link CsrFile.save}). */
export interface CsrState {
  version: 1;
  words: Record<string, number>;
}

export class CsrFile {
  mstatus = 0;
  medeleg = 0;
  mideleg = 0;
  mie = 0;
  /** mip bits driven by devices and the board (MEIP, MTIP, MSIP, external SEIP). */
  mipHw = 0;
  /** mip bits written by software (SSIP, STIP without Sstc, SEIP). */
  mipSw = 0;
  /** STIP as driven by the Sstc comparator. */
  private stipTimer = 0;
  /** VSTIP as driven by the vstimecmp comparator (Sstc with the H extension). */
  private vstipTimer = 0;
  mtvecLo = 0; mtvecHi = 0;
  stvecLo = 0; stvecHi = 0;
  mepcLo = 0; mepcHi = 0;
  sepcLo = 0; sepcHi = 0;
  mcause = 0; mcauseInterrupt = false;
  scause = 0; scauseInterrupt = false;
  mtvalLo = 0; mtvalHi = 0;
  stvalLo = 0; stvalHi = 0;
  mscratchLo = 0; mscratchHi = 0;
  sscratchLo = 0; sscratchHi = 0;
  satpLo = 0; satpHi = 0;
  /** mstatus bits of the high word that are stored (MPV, GVA). */
  mstatusH = 0;
  mtval2Lo = 0; mtval2Hi = 0;
  mtinstLo = 0; mtinstHi = 0;
  // Hypervisor extension (privileged spec ch. 9).
  hstatus = 0;
  hedeleg = 0;
  hideleg = 0;
  /** hvip: VSSIP, VSTIP, VSEIP injected by the hypervisor (mip.VSSIP and hip.VSSIP alias its bit 2). */
  hvip = 0;
  hcounteren = 0;
  henvcfg = 0;
  /** henvcfg bits 63:32: STCE (bit 63), writable only when menvcfg.STCE is set. */
  henvcfgHi = 0;
  htimedeltaLo = 0; htimedeltaHi = 0;
  htvalLo = 0; htvalHi = 0;
  htinstLo = 0; htinstHi = 0;
  hgatpLo = 0; hgatpHi = 0;
  /** vsstatus (the low word; UXL is fixed at 2). */
  vsstatus = 0;
  vstvecLo = 0; vstvecHi = 0;
  vsscratchLo = 0; vsscratchHi = 0;
  vsepcLo = 0; vsepcHi = 0;
  vscause = 0; vscauseInterrupt = false;
  vstvalLo = 0; vstvalHi = 0;
  vsatpLo = 0; vsatpHi = 0;
  // The counter-enable and -inhibit masks are kept as int32 (their readers only test bits): an unsigned value
  // of 2^31 or more would make V8 store the field as a double, a new object layout that deoptimizes the
  // interpreter's code reading the CSR file (OpenSBI writes 0xffffffff to mcounteren).
  mcounteren = 0;
  scounteren = 0;
  menvcfgLo = 0; menvcfgHi = 0;
  senvcfg = 0;
  mcountinhibit = 0;
  stimecmpLo = -1; stimecmpHi = -1;
  private stimecmp = Infinity;
  vstimecmpLo = -1; vstimecmpHi = -1;
  private vstimecmp = Infinity;
  /** Added to the retired-instruction count to give minstret/mcycle (they may be written). */
  private instretOffset = 0;
  private retiredBase = 0;
  /** Instructions retired in the current run slice, set by the hart before CSR instructions. */
  runExecuted = 0;
  // Result of read(): (vl, vh).
  private vl = 0;
  private vh = 0;

  constructor(private readonly hart: Hart, private readonly time: TimeSource) {}

  /** Power-on values (§3.4). */
  reset(): void {
    this.mstatus = 0;
    this.medeleg = this.mideleg = this.mie = 0;
    this.mipSw = 0; this.stipTimer = 0; this.vstipTimer = 0;
    this.mtvecLo = this.mtvecHi = this.stvecLo = this.stvecHi = 0;
    this.mepcLo = this.mepcHi = this.sepcLo = this.sepcHi = 0;
    this.mcause = this.scause = 0; this.mcauseInterrupt = this.scauseInterrupt = false;
    this.mtvalLo = this.mtvalHi = this.stvalLo = this.stvalHi = 0;
    this.mscratchLo = this.mscratchHi = this.sscratchLo = this.sscratchHi = 0;
    this.satpLo = this.satpHi = 0;
    this.hart.mmu.setSatp(0, 0);
    this.mstatusH = 0;
    this.mtval2Lo = this.mtval2Hi = this.mtinstLo = this.mtinstHi = 0;
    this.hstatus = this.hedeleg = this.hideleg = this.hvip = this.hcounteren = this.henvcfg = this.henvcfgHi = 0;
    this.htimedeltaLo = this.htimedeltaHi = this.htvalLo = this.htvalHi = this.htinstLo = this.htinstHi = 0;
    this.hgatpLo = this.hgatpHi = 0;
    this.hart.mmu.setHgatp(0, 0);
    this.vsstatus = 0;
    this.vstvecLo = this.vstvecHi = this.vsscratchLo = this.vsscratchHi = this.vsepcLo = this.vsepcHi = 0;
    this.vscause = 0; this.vscauseInterrupt = false;
    this.vstvalLo = this.vstvalHi = 0;
    this.vsatpLo = this.vsatpHi = 0;
    this.hart.mmu.setVsatp(0, 0);
    this.mcounteren = this.scounteren = this.senvcfg = this.mcountinhibit = 0;
    this.menvcfgLo = this.menvcfgHi = 0;
    this.stimecmpLo = this.stimecmpHi = -1;
    this.stimecmp = Infinity;
    this.vstimecmpLo = this.vstimecmpHi = -1;
    this.vstimecmp = Infinity;
    this.hart.fpu.fflags = 0;
    this.hart.fpu.frm = 0;
    this.hart.mmu.pmpcfg.fill(0);
    this.hart.mmu.pmpaddrLo.fill(0);
    this.hart.mmu.pmpaddrHi.fill(0);
    this.hart.mmu.pmpChanged();
  }

  /** The effective value of mip. */
  mipValue(): number {
    return this.mipHw | this.mipSw | this.stipTimer | this.hvip | this.vstipTimer;
  }

  /** The effective value of mideleg: the VS-level interrupts always go to HS (§9.4.2). */
  midelegValue(): number {
    return this.mideleg | VS_IRQS;
  }

  /** Drives a device-controlled mip bit (MEIP, MTIP, MSIP, SEIP). */
  setPin(bit: number, level: boolean): void {
    const m = 1 << bit;
    const before = this.mipHw;
    this.mipHw = level ? before | m : before & ~m;
    if (this.mipHw !== before) this.hart.recheckInterrupts();
  }

  private get sstc(): boolean {
    return (this.menvcfgHi & 0x80000000) !== 0;
  }

  /** henvcfg.STCE: VS-mode's stimecmp is vstimecmp (Sstc §2.3). */
  private get vsstc(): boolean {
    return (this.henvcfgHi & 0x80000000) !== 0;
  }

  /**
   * Updates the Sstc comparator outputs: STIP from stimecmp, and VSTIP from
   * vstimecmp against the guest's time (time + htimedelta).
   */
  updateTimers(): void {
    const before = this.stipTimer | this.vstipTimer;
    const now = this.time.now();
    this.stipTimer = this.sstc && now >= this.stimecmp ? STIP : 0;
    this.vstipTimer = this.vsstc && now + toNumberS(this.htimedeltaLo, this.htimedeltaHi) >= this.vstimecmp ? VSTIP : 0;
    if ((this.stipTimer | this.vstipTimer) !== before) this.hart.recheckInterrupts();
  }

  /** The time (in ticks) at which the hart's own timer (Sstc) fires, or Infinity. */
  timerDeadline(): number {
    const own = this.sstc ? this.stimecmp : Infinity;
    return this.vsstc ? Math.min(own, this.vstimecmp - toNumberS(this.htimedeltaLo, this.htimedeltaHi)) : own;
  }

  /** Accounts instructions retired by a finished run slice. */
  retired(n: number): void {
    this.retiredBase += n;
    this.runExecuted = 0;
  }

  private instret(): number {
    return this.retiredBase + this.runExecuted + this.instretOffset;
  }

  /** Why the last failed read() failed: illegal instruction, or virtual instruction (counters in V=1). */
  private failCause = Cause.IllegalInstruction;

  /**
   * Executes a Zicsr instruction. Returns 0 on success, else the exception
   * cause the hart must raise (illegal or virtual instruction).
   */
  execute(op: Op, rd: number, rs1: number, csr: number): number {
    const h = this.hart;
    const immForm = op === Op.CSRRWI || op === Op.CSRRSI || op === Op.CSRRCI;
    const srcLo = immForm ? rs1 : h.xl[rs1];
    const srcHi = immForm ? 0 : h.xh[rs1];
    const isWrite = op === Op.CSRRW || op === Op.CSRRWI || rs1 !== 0;
    // §2.1: csr[11:10]=3 is read-only; csr[9:8] is the lowest privilege that may access
    // (2 = hypervisor: HS-mode or M).
    const readOnly = (csr >>> 10) === 3;
    const level = (csr >>> 8) & 3;
    if (h.virt) {
      // §9.6.1: in VS/VU, CSRs HS-mode could access raise virtual instruction.
      if (level === 3) return Cause.IllegalInstruction;
      const hsAllowed = !(isWrite && readOnly);
      if (level === 2) return HYPERVISOR_CSRS.has(csr) && hsAllowed ? Cause.VirtualInstruction : Cause.IllegalInstruction;
      if (level === 1) {
        if (h.priv === Priv.U) return SUPERVISOR_CSRS.has(csr) && hsAllowed ? Cause.VirtualInstruction : Cause.IllegalInstruction;
        if (csr === Csr.SATP && (this.hstatus & Hstatus.VTVM) !== 0) return Cause.VirtualInstruction;
        // Sstc §2.3: VS-mode's stimecmp is vstimecmp, when menvcfg.STCE, henvcfg.STCE and both counteren.TM allow.
        if (csr === Csr.STIMECMP) {
          if (!this.sstc || (this.mcounteren & 2) === 0) return Cause.IllegalInstruction;
          if (!this.vsstc || (this.hcounteren & 2) === 0) return Cause.VirtualInstruction;
        }
        if (VS_ALIASED.has(csr) || csr === Csr.STIMECMP) csr += 0x100;
      }
    } else if (level > h.priv && !(level === 2 && h.priv === Priv.S)) {
      return Cause.IllegalInstruction;
    }
    if (isWrite && readOnly) return Cause.IllegalInstruction;
    this.failCause = Cause.IllegalInstruction;
    if (!this.read(csr)) return this.failCause;
    const oldLo = this.vl, oldHi = this.vh;
    if (isWrite) {
      let nl: number, nh: number;
      // §3.1.9: only the software-writable SEIP bit takes part in the read-modify-write of
      // CSRRS/CSRRC on mip; the external interrupt level must not be latched into it.
      const rmwLo = csr === Csr.MIP ? (oldLo & ~SEIP) | (this.mipSw & SEIP) : oldLo;
      if (op === Op.CSRRW || op === Op.CSRRWI) { nl = srcLo; nh = srcHi; }
      else if (op === Op.CSRRS || op === Op.CSRRSI) { nl = rmwLo | srcLo; nh = oldHi | srcHi; }
      else { nl = rmwLo & ~srcLo; nh = oldHi & ~srcHi; }
      if (!this.write(csr, nl | 0, nh | 0)) return Cause.IllegalInstruction;
    }
    h.xl[rd] = oldLo;
    h.xh[rd] = oldHi;
    return 0;
  }

  /** Counter access (§3.1.11, §9.2.6): mcounteren gates S/U, hcounteren gates VS/VU (virtual instruction). */
  private counterAllowed(bit: number): boolean {
    const h = this.hart;
    const p = h.priv;
    if (p === Priv.M) return true;
    if (((this.mcounteren >>> bit) & 1) === 0) return false;
    if (h.virt) {
      if (((this.hcounteren >>> bit) & 1) === 0 || (p === Priv.U && ((this.scounteren >>> bit) & 1) === 0)) {
        this.failCause = Cause.VirtualInstruction;
        return false;
      }
      return true;
    }
    if (p === Priv.U && ((this.scounteren >>> bit) & 1) === 0) return false;
    return true;
  }

  private set(lo: number, hi: number): true {
    this.vl = lo | 0;
    this.vh = hi | 0;
    return true;
  }

  private setNumber(v: number): true {
    fromNumber(v);
    return this.set(r64.lo, r64.hi);
  }

  /** Reads CSR `csr` into (vl, vh). False when it does not exist or is not accessible. */
  read(csr: number): boolean {
    const h = this.hart;
    const fpu = h.fpu;
    switch (csr) {
      case Csr.FFLAGS: if (!this.fpEnabled()) return false; return this.set(fpu.fflags, 0);
      case Csr.FRM: if (!this.fpEnabled()) return false; return this.set(fpu.frm, 0);
      case Csr.FCSR: if (!this.fpEnabled()) return false; return this.set((fpu.frm << 5) | fpu.fflags, 0);
      case Csr.CYCLE: if (!this.counterAllowed(0)) return false; return this.setNumber(this.instret());
      case Csr.TIME:
        if (!this.counterAllowed(1)) return false;
        return this.setNumber(this.time.now() + (h.virt ? toNumberS(this.htimedeltaLo, this.htimedeltaHi) : 0));
      case Csr.INSTRET: if (!this.counterAllowed(2)) return false; return this.setNumber(this.instret());
      case Csr.SSTATUS: return this.set(this.mstatus & SSTATUS_VISIBLE, this.mstatusHigh());
      case Csr.SIE: return this.set(this.mie & this.mideleg, 0);
      case Csr.STVEC: return this.set(this.stvecLo, this.stvecHi);
      case Csr.SCOUNTEREN: return this.set(this.scounteren, 0);
      case Csr.SENVCFG: return this.set(this.senvcfg, 0);
      case Csr.SSCRATCH: return this.set(this.sscratchLo, this.sscratchHi);
      case Csr.SEPC: return this.set(this.sepcLo, this.sepcHi);
      case Csr.SCAUSE: return this.set(this.scause, this.scauseInterrupt ? 0x80000000 : 0);
      case Csr.STVAL: return this.set(this.stvalLo, this.stvalHi);
      case Csr.SIP: return this.set(this.mipValue() & this.mideleg, 0);
      case Csr.STIMECMP:
        if (!this.stimecmpAllowed()) return false;
        return this.set(this.stimecmpLo, this.stimecmpHi);
      case Csr.SATP:
        if (h.priv === Priv.S && (this.mstatus & Mstatus.TVM) !== 0) return false;
        return this.set(this.satpLo, this.satpHi);
      case Csr.HSTATUS: return this.set(this.hstatus, 2); // VSXL = 2 (64-bit)
      case Csr.HEDELEG: return this.set(this.hedeleg, 0);
      case Csr.HIDELEG: return this.set(this.hideleg, 0);
      case Csr.HIE: return this.set(this.mie & VS_IRQS, 0);
      case Csr.HIP: return this.set(this.mipValue() & VS_IRQS, 0);
      case Csr.HVIP: return this.set(this.hvip, 0);
      case Csr.HGEIE: case Csr.HGEIP: return this.set(0, 0); // GEILEN = 0
      case Csr.HCOUNTEREN: return this.set(this.hcounteren, 0);
      case Csr.HENVCFG: return this.set(this.henvcfg, this.henvcfgHi);
      case Csr.VSTIMECMP:
        if (!this.stimecmpAllowed()) return false;
        return this.set(this.vstimecmpLo, this.vstimecmpHi);
      case Csr.HTIMEDELTA: return this.set(this.htimedeltaLo, this.htimedeltaHi);
      case Csr.HTVAL: return this.set(this.htvalLo, this.htvalHi);
      case Csr.HTINST: return this.set(this.htinstLo, this.htinstHi);
      case Csr.HGATP:
        if (h.priv === Priv.S && (this.mstatus & Mstatus.TVM) !== 0) return false;
        return this.set(this.hgatpLo, this.hgatpHi);
      case Csr.VSSTATUS: {
        const fsDirty = (this.vsstatus & Mstatus.FS) === Mstatus.FS;
        return this.set(this.vsstatus & SSTATUS_VISIBLE, (fsDirty ? 0x80000000 : 0) | 2);
      }
      case Csr.VSIE: return this.set((this.mie & this.hideleg & VS_IRQS) >>> 1, 0);
      case Csr.VSIP: return this.set((this.mipValue() & this.hideleg & VS_IRQS) >>> 1, 0);
      case Csr.VSTVEC: return this.set(this.vstvecLo, this.vstvecHi);
      case Csr.VSSCRATCH: return this.set(this.vsscratchLo, this.vsscratchHi);
      case Csr.VSEPC: return this.set(this.vsepcLo, this.vsepcHi);
      case Csr.VSCAUSE: return this.set(this.vscause, this.vscauseInterrupt ? 0x80000000 : 0);
      case Csr.VSTVAL: return this.set(this.vstvalLo, this.vstvalHi);
      case Csr.VSATP: return this.set(this.vsatpLo, this.vsatpHi);
      case Csr.MTVAL2: return this.set(this.mtval2Lo, this.mtval2Hi);
      case Csr.MTINST: return this.set(this.mtinstLo, this.mtinstHi);
      case Csr.MVENDORID: case Csr.MARCHID: case Csr.MIMPID: case Csr.MCONFIGPTR: return this.set(0, 0);
      case Csr.MHARTID: return this.set(h.id, 0);
      case Csr.MSTATUS: return this.set(this.mstatus, this.mstatusHigh() | this.mstatusH);
      case Csr.MISA: return this.set(MISA_LO, MISA_HI);
      case Csr.MEDELEG: return this.set(this.medeleg, 0);
      case Csr.MIDELEG: return this.set(this.midelegValue(), 0);
      case Csr.MIE: return this.set(this.mie, 0);
      case Csr.MTVEC: return this.set(this.mtvecLo, this.mtvecHi);
      case Csr.MCOUNTEREN: return this.set(this.mcounteren, 0);
      case Csr.MENVCFG: return this.set(this.menvcfgLo, this.menvcfgHi);
      case Csr.MCOUNTINHIBIT: return this.set(this.mcountinhibit, 0);
      case Csr.MSCRATCH: return this.set(this.mscratchLo, this.mscratchHi);
      case Csr.MEPC: return this.set(this.mepcLo, this.mepcHi);
      case Csr.MCAUSE: return this.set(this.mcause, this.mcauseInterrupt ? 0x80000000 : 0);
      case Csr.MTVAL: return this.set(this.mtvalLo, this.mtvalHi);
      case Csr.MIP: return this.set(this.mipValue(), 0);
      case Csr.MCYCLE: case Csr.MINSTRET: return this.setNumber(this.instret());
    }
    if (csr >= Csr.HPMCOUNTER3 && csr <= Csr.HPMCOUNTER31) {
      return this.counterAllowed(csr - Csr.CYCLE) ? this.set(0, 0) : false;
    }
    if ((csr >= Csr.MHPMCOUNTER3 && csr <= Csr.MHPMCOUNTER31) || (csr >= Csr.MHPMEVENT3 && csr <= Csr.MHPMEVENT31)) {
      return this.set(0, 0);
    }
    if (csr >= Csr.PMPCFG0 && csr <= Csr.PMPCFG15) {
      if (csr & 1) return false; // RV64: odd pmpcfg registers do not exist
      const first = (csr - Csr.PMPCFG0) * 4;
      const c = h.mmu.pmpcfg;
      if (first >= 16) return this.set(0, 0);
      return this.set(c[first] | (c[first + 1] << 8) | (c[first + 2] << 16) | (c[first + 3] << 24),
        c[first + 4] | (c[first + 5] << 8) | (c[first + 6] << 16) | (c[first + 7] << 24));
    }
    if (csr >= Csr.PMPADDR0 && csr <= Csr.PMPADDR63) {
      const i = csr - Csr.PMPADDR0;
      if (i >= 16) return this.set(0, 0);
      return this.set(h.mmu.pmpaddrLo[i], h.mmu.pmpaddrHi[i]);
    }
    return false;
  }

  /**
   * FP instructions and CSRs may be used: mstatus.FS is not Off, nor, in
   * V=1, vsstatus.FS (privileged spec §3.1.6.6, §9.2.11).
   */
  fpEnabled(): boolean {
    return (this.mstatus & Mstatus.FS) !== 0 && (!this.hart.virt || (this.vsstatus & Mstatus.FS) !== 0);
  }

  /** FP state was written: FS becomes Dirty in mstatus, and in vsstatus too when V=1. */
  fpDirty(): void {
    this.mstatus |= Mstatus.FS;
    if (this.hart.virt) this.vsstatus |= Mstatus.FS;
  }

  private stimecmpAllowed(): boolean {
    const p = this.hart.priv;
    if (p === Priv.M) return true;
    if (p === Priv.U) return false;
    return this.sstc && (this.mcounteren & 2) !== 0;
  }

  /** The high word of mstatus/sstatus: UXL = SXL = 2 (64-bit), and SD. */
  private mstatusHigh(): number {
    const fs = (this.mstatus & Mstatus.FS) === Mstatus.FS;
    return (fs ? 0x80000000 : 0) | 0xa;
  }

  /** Writes CSR `csr` (already known to exist and be accessible). */
  write(csr: number, lo: number, hi: number): boolean {
    const h = this.hart;
    const fpu = h.fpu;
    switch (csr) {
      case Csr.FFLAGS: fpu.fflags = lo & 0x1f; this.fpDirty(); return true;
      case Csr.FRM: fpu.frm = lo & 7; this.fpDirty(); return true;
      case Csr.FCSR: fpu.fflags = lo & 0x1f; fpu.frm = (lo >>> 5) & 7; this.fpDirty(); return true;
      case Csr.SSTATUS: this.writeMstatus((this.mstatus & ~SSTATUS_WRITABLE) | (lo & SSTATUS_WRITABLE)); return true;
      case Csr.SIE: this.mie = (this.mie & ~this.mideleg) | (lo & this.mideleg & MIDELEG_WRITABLE); h.recheckInterrupts(); return true;
      case Csr.STVEC: if ((lo & 3) < 2) { this.stvecLo = lo; this.stvecHi = hi; } return true;
      case Csr.SCOUNTEREN: this.scounteren = lo | 0; return true;
      case Csr.SENVCFG: this.senvcfg = lo & 1; return true;
      case Csr.SSCRATCH: this.sscratchLo = lo; this.sscratchHi = hi; return true;
      case Csr.SEPC: this.sepcLo = lo & ~1; this.sepcHi = hi; return true;
      case Csr.SCAUSE: this.scause = lo & 0x7fffffff; this.scauseInterrupt = hi < 0; return true;
      case Csr.STVAL: this.stvalLo = lo; this.stvalHi = hi; return true;
      case Csr.SIP:
        if (this.mideleg & SSIP) this.mipSw = (this.mipSw & ~SSIP) | (lo & SSIP);
        h.recheckInterrupts();
        return true;
      case Csr.STIMECMP:
        this.stimecmpLo = lo; this.stimecmpHi = hi;
        this.stimecmp = toNumberU(lo, hi);
        this.updateTimers();
        h.recheckInterrupts();
        return true;
      case Csr.SATP:
        if (h.mmu.setSatp(lo, hi)) { this.satpLo = lo; this.satpHi = hi; }
        return true;
      case Csr.HSTATUS: this.hstatus = lo & HSTATUS_WRITABLE; return true;
      case Csr.HEDELEG: this.hedeleg = lo & HEDELEG_WRITABLE; return true;
      case Csr.HIDELEG: this.hideleg = lo & VS_IRQS; h.recheckInterrupts(); return true;
      case Csr.HIE: this.mie = (this.mie & ~VS_IRQS) | (lo & VS_IRQS); h.recheckInterrupts(); return true;
      case Csr.HIP: this.hvip = (this.hvip & ~VSSIP) | (lo & VSSIP); h.recheckInterrupts(); return true;
      case Csr.HVIP: this.hvip = lo & VS_IRQS; h.recheckInterrupts(); return true;
      case Csr.HGEIE: return true;
      case Csr.HCOUNTEREN: this.hcounteren = lo | 0; return true;
      case Csr.HENVCFG:
        // FIOM, and STCE where menvcfg.STCE allows it.
        this.henvcfg = lo & 1;
        this.henvcfgHi = hi & this.menvcfgHi & 0x80000000;
        this.updateTimers();
        return true;
      case Csr.VSTIMECMP:
        this.vstimecmpLo = lo; this.vstimecmpHi = hi;
        this.vstimecmp = toNumberU(lo, hi);
        this.updateTimers();
        return true;
      case Csr.HTIMEDELTA: this.htimedeltaLo = lo; this.htimedeltaHi = hi; return true;
      case Csr.HTVAL: this.htvalLo = lo; this.htvalHi = hi; return true;
      case Csr.HTINST: this.htinstLo = lo; this.htinstHi = hi; return true;
      case Csr.HGATP: {
        // VMID is not implemented (VMIDLEN = 0); the root of an x4 table is 16 KiB-aligned (PPN[1:0] = 0).
        const ml = lo & ~3, mh = hi & 0xf0000fff;
        if (h.mmu.setHgatp(ml, mh)) { this.hgatpLo = ml; this.hgatpHi = mh; }
        return true;
      }
      case Csr.VSSTATUS: {
        const old = this.vsstatus;
        this.vsstatus = (old & ~SSTATUS_WRITABLE) | (lo & SSTATUS_WRITABLE);
        if ((old ^ this.vsstatus) & (Mstatus.SUM | Mstatus.MXR)) h.mmu.flushAll();
        h.recheckInterrupts();
        return true;
      }
      case Csr.VSIE: {
        const m = this.hideleg & VS_IRQS;
        this.mie = (this.mie & ~m) | ((lo << 1) & m);
        h.recheckInterrupts();
        return true;
      }
      case Csr.VSIP:
        if (this.hideleg & VSSIP) this.hvip = (this.hvip & ~VSSIP) | ((lo << 1) & VSSIP);
        h.recheckInterrupts();
        return true;
      case Csr.VSTVEC: if ((lo & 3) < 2) { this.vstvecLo = lo; this.vstvecHi = hi; } return true;
      case Csr.VSSCRATCH: this.vsscratchLo = lo; this.vsscratchHi = hi; return true;
      case Csr.VSEPC: this.vsepcLo = lo & ~1; this.vsepcHi = hi; return true;
      case Csr.VSCAUSE: this.vscause = lo & 0x7fffffff; this.vscauseInterrupt = hi < 0; return true;
      case Csr.VSTVAL: this.vstvalLo = lo; this.vstvalHi = hi; return true;
      case Csr.VSATP:
        if (h.mmu.setVsatp(lo, hi)) { this.vsatpLo = lo; this.vsatpHi = hi; }
        return true;
      case Csr.MTVAL2: this.mtval2Lo = lo; this.mtval2Hi = hi; return true;
      case Csr.MTINST: this.mtinstLo = lo; this.mtinstHi = hi; return true;
      case Csr.MSTATUS: {
        const oldH = this.mstatusH;
        this.mstatusH = hi & (MstatusHi.MPV | MstatusHi.GVA);
        if (oldH !== this.mstatusH) h.mmu.contextChanged();
        this.writeMstatus((this.mstatus & ~MSTATUS_WRITABLE) | (lo & MSTATUS_WRITABLE));
        return true;
      }
      case Csr.MISA: return true; // WARL, fixed
      case Csr.MEDELEG: this.medeleg = lo & MEDELEG_WRITABLE; return true;
      case Csr.MIDELEG: this.mideleg = lo & MIDELEG_WRITABLE; h.recheckInterrupts(); return true;
      case Csr.MIE: this.mie = lo & MIE_WRITABLE; h.recheckInterrupts(); return true;
      case Csr.MTVEC: if ((lo & 3) < 2) { this.mtvecLo = lo; this.mtvecHi = hi; } return true;
      case Csr.MCOUNTEREN: this.mcounteren = lo | 0; return true;
      case Csr.MENVCFG:
        this.menvcfgLo = lo & 1;
        this.menvcfgHi = hi & 0x80000000;
        this.updateTimers();
        h.recheckInterrupts();
        return true;
      case Csr.MCOUNTINHIBIT: this.mcountinhibit = lo | 0; return true;
      case Csr.MSCRATCH: this.mscratchLo = lo; this.mscratchHi = hi; return true;
      case Csr.MEPC: this.mepcLo = lo & ~1; this.mepcHi = hi; return true;
      case Csr.MCAUSE: this.mcause = lo & 0x7fffffff; this.mcauseInterrupt = hi < 0; return true;
      case Csr.MTVAL: this.mtvalLo = lo; this.mtvalHi = hi; return true;
      case Csr.MIP: {
        const writable = SSIP | SEIP | (this.sstc ? 0 : STIP);
        this.mipSw = (this.mipSw & ~writable) | (lo & writable);
        this.hvip = (this.hvip & ~VSSIP) | (lo & VSSIP);
        h.recheckInterrupts();
        return true;
      }
      case Csr.MCYCLE: case Csr.MINSTRET:
        this.instretOffset = toNumberU(lo, hi) - (this.retiredBase + this.runExecuted);
        return true;
    }
    if ((csr >= Csr.MHPMCOUNTER3 && csr <= Csr.MHPMCOUNTER31) || (csr >= Csr.MHPMEVENT3 && csr <= Csr.MHPMEVENT31)) return true;
    if (csr >= Csr.PMPCFG0 && csr <= Csr.PMPCFG15) {
      const first = (csr - Csr.PMPCFG0) * 4;
      if (first >= 16) return true;
      const c = h.mmu.pmpcfg;
      for (let k = 0; k < 8; k++) {
        if (c[first + k] & 0x80) continue; // locked
        let b = (k < 4 ? lo >>> (8 * k) : hi >>> (8 * (k - 4))) & 0x9f;
        if ((b & 3) === 2) b &= ~2; // W without R is reserved
        c[first + k] = b;
      }
      h.mmu.pmpChanged();
      return true;
    }
    if (csr >= Csr.PMPADDR0 && csr <= Csr.PMPADDR63) {
      const i = csr - Csr.PMPADDR0;
      if (i >= 16) return true;
      const c = h.mmu.pmpcfg;
      const lockedTor = i + 1 < 16 && (c[i + 1] & 0x80) !== 0 && ((c[i + 1] >>> 3) & 3) === 1;
      if ((c[i] & 0x80) !== 0 || lockedTor) return true;
      h.mmu.pmpaddrLo[i] = lo;
      h.mmu.pmpaddrHi[i] = hi & 0x3fffff;
      h.mmu.pmpChanged();
      return true;
    }
    return true;
  }

  private writeMstatus(v: number): void {
    const old = this.mstatus;
    // MPP is WARL: the reserved value 2 leaves it unchanged.
    if (((v >>> Mstatus.MPP_SHIFT) & 3) === 2) v = (v & ~Mstatus.MPP) | (old & Mstatus.MPP);
    this.mstatus = v;
    const changed = old ^ v;
    const mmu = this.hart.mmu;
    if (changed & (Mstatus.SUM | Mstatus.MXR)) mmu.flushAll();
    if (changed & (Mstatus.MPRV | Mstatus.MPP)) mmu.contextChanged();
    this.hart.recheckInterrupts();
  }

  /** Versioned state for snapshots. */
  save(): CsrState {
    const words: Record<string, number> = {};
    for (const [k, v] of Object.entries(this)) {
      if (typeof v === 'number' || typeof v === 'boolean') words[k] = Number(v);
    }
    return { version: 1, words };
  }

  /** Restores state saved by {@link save}. */
  restore(s: CsrState): void {
    const self = this as unknown as Record<string, number | boolean>;
    for (const [k, v] of Object.entries(s.words)) {
      if (typeof self[k] === 'boolean') self[k] = v !== 0;
      else if (typeof self[k] === 'number') self[k] = v;
    }
    this.hart.mmu.setSatp(this.satpLo, this.satpHi);
    this.hart.mmu.setVsatp(this.vsatpLo, this.vsatpHi);
    this.hart.mmu.setHgatp(this.hgatpLo, this.hgatpHi);
    this.hart.mmu.pmpChanged();
    this.hart.mmu.contextChanged();
  }
}
