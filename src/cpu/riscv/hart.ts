/**
 * One RISC-V hart (RV64IMAFDC + Zicsr + Zifencei + Zicntr + Sstc + H; M, HS,
 * U, and with the hypervisor extension VS and VU).
 *
 * The hart is a machine-agnostic engine: it is handed RAM, the MMIO bus, a
 * time source and the shared decode cache, and {@link Hart.run} executes up
 * to a budget of instructions and returns why it stopped. Interrupts are
 * checked between instructions whenever something may have made one pending.
 *
 * Integer registers are (lo, hi) int32 pairs in `xl`/`xh` (33 entries: index
 * 32 absorbs writes to x0). The pc is a double holding the *signed* value of
 * the 64-bit pc, exact for every canonical address.
 */
import type { GuestRam } from '../../memory/guest-memory.js';
import type { MmioBus } from '../../devices/bus.js';
import type { TimeSource } from '../../devices/device.js';
import { Op, AmoFunct, decode, newDecoded } from './decode.js';
import { DecodeCache, DecodedPage, OP_CROSS_PAGE } from './decode-cache.js';
import { Access, Cause, Hstatus, Mstatus, MstatusHi, Priv } from './constants.js';
import { FP_STATE_WORDS, FpUnit } from './fpu.js';
import { r64, mul64, mulh64, mulhu64, mulhsu64, div64, divu64, rem64, remu64, toNumberS, fromNumber } from './int64.js';
import { CsrFile, VS_IRQS } from './csr.js';
import { ENTRY_RO_WORD, ENTRY_WORDS, Mmu, TLB_MASK } from './mmu.js';
import type { Jit } from './jit/jit.js';

/** Why {@link Hart.run} returned. */
export const enum StopReason {
  /** The instruction budget is spent. */
  Budget = 0,
  /** The hart executed WFI and has no interrupt pending: it may sleep until one is. */
  Wfi = 1,
  /** Someone called {@link Hart.requestStop} (e.g. the board is powering off). */
  Stopped = 2,
  /** A trap left the guest for the VMM (see {@link Hart.vmmExits}); the details are in {@link Hart.exit}. */
  Exit = 3,
}

/** A trap that left a guest for the VMM, as the VMM sees it. */
export interface VmExit {
  /** Exception or interrupt code (privileged spec Table 3.6 and §9.6). */
  cause: number;
  interrupt: boolean;
  /** What the trap would have written to stval/mtval (signed, exact below 2^53). */
  tval: number;
  /** For guest-page faults: the guest physical address (htval << 2 plus the page offset). */
  gpa: number;
  /** What htinst would hold (§9.6.3): for a fault on the guest's own page-table read, a pseudoinstruction (bits 1:0 = 0); else 0. */
  htinst: number;
  /** The guest's privilege (S = VS-mode, U = VU-mode) and pc at the trap; the pc is left there. */
  priv: Priv;
  pc: number;
}

/** What the hart needs from the board it sits on. */
export interface HartEnvironment {
  readonly ram: GuestRam;
  readonly bus: MmioBus;
  readonly time: TimeSource;
  readonly decodeCache: DecodeCache;
  /** The binary translator; absent, the hart only interprets. */
  readonly jit?: Jit;
}

/** What the interpreter does after {@link Hart.system}. */
const enum System {
  /** Go on with the next instruction (pc += length). */
  Next,
  /** The instruction set the pc (a trap, xRET, a woken WFI). */
  Jumped,
  /** WFI with nothing pending: the hart stops. */
  Stop,
}

/** Per-hart statistics; every field is a plain counter. */
export interface HartStats {
  instret: number;
  exceptions: number;
  interrupts: number;
  /** Exceptions by cause code. */
  exceptionsByCause: number[];
  /** Interrupts by cause code. */
  interruptsByCause: number[];
  ecalls: number;
  /** Traps that left the guest for the VMM (see Hart.vmmExits). */
  vmExits: number;
  /** Privileged instructions translated code handed to the VMM in place (see Hart.inlineVmmCall). */
  inlineVmmCalls: number;
  wfi: number;
  mmioReads: number;
  mmioWrites: number;
}

const TWO32 = 4294967296;

/**
 * Byte offset of a hart's FP state ({@link FpUnit}) from its integer
 * registers' low words (`Hart.xl`), which are followed by the high words
 * (`Hart.xh`, at 136): one block of the host state area.
 */
export const HART_FP_OFFSET = 272;

export class Hart {
  /** Low/high 32 bits of x0..x31 (+ sink). */
  readonly xl: Int32Array;
  readonly xh: Int32Array;
  /** Signed value of the pc. */
  pc = 0;
  /** Current privilege level. */
  priv: Priv = Priv.M;
  /** Virtualization mode V of the H extension (§9.1): with priv S it is VS-mode, with U VU-mode. */
  virt = false;
  /**
   * Set by the MMU just before it raises a fault whose tval is a guest
   * virtual address (hstatus.GVA/mstatus.GVA), with the guest physical
   * address of a guest-page fault (for htval/mtval2); the next trap consumes them.
   */
  gvaNext = false;
  gpaNext = 0;
  /** The transformed instruction or pseudoinstruction the next trap writes to htinst/mtinst (§9.6.3); 0 = none. */
  htinstNext = 0;
  /**
   * The hypervisor is tsvisor itself rather than software on this hart: a
   * trap taken while V=1 that would go to HS or M mode stops the hart with
   * {@link StopReason.Exit} instead, leaving the guest's state as it was at
   * the trapping instruction and the trap in {@link exit}. The VMM handles it
   * (an SBI call, a device access, a fault to reflect), clears `exit` and runs
   * the hart again.
   */
  vmmExits = false;
  /**
   * The same for a guest kernel deprivileged into U-mode (the `trap`, `bt`
   * and `pv` techniques): every trap taken from U-mode (V=0) stops the hart
   * with {@link StopReason.Exit} and the trap in {@link exit}.
   */
  userExits = false;
  /**
   * Binary translation's inline VMM call: when set, an instruction that is
   * illegal in U-mode (a privileged instruction of the deprivileged guest
   * kernel) is first offered to this routine with its bits. It returns true
   * when it emulated the instruction in place (and moved the pc on), so no
   * trap is taken and the hart keeps running.
   */
  privilegedHook: ((raw: number) => boolean) | undefined = undefined;

  /**
   * The binary translator's inline VMM call for the privileged instruction
   * at pc: true when the VMM emulated it in place (see {@link privilegedHook};
   * counted as stats.inlineVmmCalls), false when no VMM takes it here.
   */
  inlineVmmCall(): boolean {
    if (this.privilegedHook === undefined || this.priv !== Priv.U || this.virt) return false;
    this.stats.inlineVmmCalls++;
    return this.privilegedHook(this.rawAtPc());
  }
  /** The pending exit to the VMM, if any. */
  exit: VmExit | undefined = undefined;
  readonly fpu: FpUnit;
  readonly csr: CsrFile;
  readonly mmu: Mmu;
  readonly stats: HartStats = {
    instret: 0, exceptions: 0, interrupts: 0, exceptionsByCause: new Array(24).fill(0),
    interruptsByCause: new Array(16).fill(0), ecalls: 0, vmExits: 0, inlineVmmCalls: 0, wfi: 0, mmioReads: 0, mmioWrites: 0,
  };
  /** Set when something may have made an interrupt pending or changed enables. */
  interruptCheck = true;
  /** The hart is waiting in WFI. */
  waiting = false;
  /** Set to make run() return {@link StopReason.Stopped} at the next instruction boundary. */
  private stopRequested = false;

  // LR/SC reservation: physical address and the value loaded (-1 = none).
  reservation = -1;
  reservationLo = 0;
  reservationHi = 0;

  // Fetch state: the decoded page holding the pc, and the virtual address of its start.
  private fetchBase = NaN;
  private fetchPage: DecodedPage | undefined;
  private readonly decoded = newDecoded();
  private readonly ram: GuestRam;
  private readonly cache: DecodeCache;

  constructor(readonly id: number, readonly env: HartEnvironment) {
    this.ram = env.ram;
    // In RAM's host state area, where the JIT's WebAssembly code reads them: xl, xh, then the FP state.
    const state = env.ram.hostArray(Int32Array, HART_FP_OFFSET / 4 + FP_STATE_WORDS);
    this.xl = state.subarray(0, 33);
    this.xh = state.subarray(34, 67);
    this.cache = env.decodeCache;
    this.fpu = new FpUnit(this.xl, this.xh, state.subarray(HART_FP_OFFSET / 4));
    this.csr = new CsrFile(this, env.time);
    this.mmu = new Mmu(this);
    this.cache.onInvalidate((page) => {
      if (this.fetchPage !== undefined && this.fetchPage.ramOffset >>> 12 === page) this.dropFetchPage();
    });
  }

  /** Resets to the state after power-on: M-mode at `pc`. */
  reset(pc: number): void {
    this.xl.fill(0);
    this.xh.fill(0);
    this.pc = pc;
    this.priv = Priv.M;
    this.virt = false;
    this.gvaNext = false;
    this.gpaNext = 0;
    this.csr.reset();
    this.mmu.flushAll();
    this.waiting = false;
    this.reservation = -1;
    this.interruptCheck = true;
    this.dropFetchPage();
  }

  /** Zeroes the statistics, the MMU's included (a hart context handed to a new vCPU). */
  clearStats(): void {
    const s = this.stats;
    s.instret = s.exceptions = s.interrupts = s.ecalls = s.vmExits = s.inlineVmmCalls = s.wfi = s.mmioReads = s.mmioWrites = 0;
    s.exceptionsByCause.fill(0);
    s.interruptsByCause.fill(0);
    this.mmu.clearStats();
  }

  /** Forgets the cached fetch page (after translation changes or code writes). */
  dropFetchPage(): void {
    this.fetchBase = NaN;
    this.fetchPage = undefined;
  }

  /** Makes the current or next run() return at an instruction boundary. */
  requestStop(): void {
    this.stopRequested = true;
    this.interruptCheck = true; // leaves the interpreter's inner loop and translated code promptly
  }

  /** Reads x[i] as a signed double (exact below 2^53). */
  getX(i: number): number {
    return toNumberS(this.xl[i], this.xh[i]);
  }

  /** Writes x[i] from an integral double (signed or unsigned, below 2^64). */
  setX(i: number, v: number): void {
    if (i === 0) return;
    fromNumber(v);
    this.xl[i] = r64.lo;
    this.xh[i] = r64.hi;
  }

  /** Writes x[i] from a bigint (two's complement, 64 bits). */
  setXBig(i: number, v: bigint): void {
    if (i === 0) return;
    this.xl[i] = Number(BigInt.asIntN(32, v));
    this.xh[i] = Number(BigInt.asIntN(32, v >> 32n));
  }

  /** Reads x[i] as an unsigned bigint. */
  getXBig(i: number): bigint {
    return (BigInt(this.xh[i] >>> 0) << 32n) | BigInt(this.xl[i] >>> 0);
  }

  /** Changes privilege level and everything that depends on it. */
  setPriv(p: Priv): void {
    this.priv = p;
    this.mmu.contextChanged();
    this.dropFetchPage();
    this.interruptCheck = true;
  }

  /** Changes privilege level and virtualization mode together. */
  setMode(p: Priv, virt: boolean): void {
    this.virt = virt;
    this.setPriv(p);
  }

  /**
   * Takes a trap (privileged spec §3.1.6.1, §3.3.1, §4.1.1, §9.6): exception
   * `cause` (or interrupt when `interrupt`) with trap value (tvalLo, tvalHi),
   * at the current pc. Chooses M, HS or VS by medeleg/mideleg and, for traps
   * from V=1, hedeleg/hideleg.
   */
  trap(cause: number, tvalLo: number, tvalHi: number, interrupt = false): void {
    const c = this.csr;
    const from = this.priv;
    const virt = this.virt;
    const gva = this.gvaNext;
    const gpa = this.gpaNext;
    const htinst = this.htinstNext;
    this.gvaNext = false;
    this.gpaNext = 0;
    this.htinstNext = 0;
    if (interrupt) { this.stats.interrupts++; this.stats.interruptsByCause[cause]++; }
    else { this.stats.exceptions++; this.stats.exceptionsByCause[cause]++; }
    const delegated = from <= Priv.S && ((interrupt ? c.midelegValue() : c.medeleg) >>> cause) & 1;
    const toVs = delegated !== 0 && virt && ((interrupt ? c.hideleg : c.hedeleg) >>> cause) & 1;
    if (virt ? this.vmmExits && !toVs : this.userExits && from === Priv.U) {
      this.stats.vmExits++;
      this.exit = { cause, interrupt, tval: toNumberS(tvalLo, tvalHi), gpa, htinst, priv: from, pc: this.pc };
      this.requestStop();
      return;
    }
    fromNumber(this.pc);
    // r64's fields are doubles; `| 0` keeps the CSR file's int32 fields small integers, so its layout never
    // changes under optimized code (which V8 would deoptimize the first time a delegated trap wrote them).
    const epcLo = r64.lo | 0, epcHi = r64.hi | 0;
    let vector: number;
    if (toVs) {
      // §9.6.1: VS-level interrupts appear to the guest as their S-level counterparts (code - 1).
      this.enterVs(interrupt ? cause - 1 : cause, interrupt, tvalLo, tvalHi, epcLo, epcHi);
    } else if (delegated) {
      c.sepcLo = epcLo; c.sepcHi = epcHi;
      c.scause = cause; c.scauseInterrupt = interrupt;
      c.stvalLo = tvalLo | 0; c.stvalHi = tvalHi | 0;
      c.mstatus = enterS(c.mstatus, from);
      // §9.2.1: SPV records V, SPVP the guest's privilege (when V was 1), GVA whether stval is a guest virtual address.
      let hs = c.hstatus & ~(Hstatus.SPV | Hstatus.GVA);
      if (virt) hs = (hs & ~Hstatus.SPVP) | Hstatus.SPV | (from === Priv.S ? Hstatus.SPVP : 0);
      if (gva && !interrupt) hs |= Hstatus.GVA;
      c.hstatus = hs;
      // htval: the guest physical address of a guest-page fault, shifted right by 2 (§9.2.9).
      fromNumber(Math.floor(gpa / 4));
      c.htvalLo = r64.lo | 0; c.htvalHi = r64.hi | 0;
      c.htinstLo = htinst; c.htinstHi = 0;
      vector = toNumberS(c.stvecLo & ~3, c.stvecHi);
      if (interrupt && (c.stvecLo & 3) === 1) vector += 4 * cause;
      this.pc = vector;
      if (from !== Priv.S || virt) this.setMode(Priv.S, false); else { this.dropFetchPage(); this.interruptCheck = true; }
    } else {
      c.mepcLo = epcLo; c.mepcHi = epcHi;
      c.mcause = cause; c.mcauseInterrupt = interrupt;
      c.mtvalLo = tvalLo | 0; c.mtvalHi = tvalHi | 0;
      let ms = c.mstatus;
      ms = (ms & ~Mstatus.MPIE) | ((ms & Mstatus.MIE) ? Mstatus.MPIE : 0);
      ms = (ms & ~Mstatus.MPP) | (from << Mstatus.MPP_SHIFT);
      ms &= ~Mstatus.MIE;
      c.mstatus = ms;
      // §9.4.1: MPV records V; GVA whether mtval is a guest virtual address. mtval2 as htval.
      c.mstatusH = (virt ? MstatusHi.MPV : 0) | (gva && !interrupt ? MstatusHi.GVA : 0);
      fromNumber(Math.floor(gpa / 4));
      c.mtval2Lo = r64.lo | 0; c.mtval2Hi = r64.hi | 0;
      c.mtinstLo = htinst; c.mtinstHi = 0;
      vector = toNumberS(c.mtvecLo & ~3, c.mtvecHi);
      if (interrupt && (c.mtvecLo & 3) === 1) vector += 4 * cause;
      this.pc = vector;
      this.setMode(Priv.M, false);
    }
  }

  /**
   * Trap entry into VS-mode (§9.6): vsepc, vscause, vstval, vsstatus and the
   * jump to vstvec, with `cause` as the guest sees it (S-level codes).
   */
  private enterVs(cause: number, interrupt: boolean, tvalLo: number, tvalHi: number, epcLo: number, epcHi: number): void {
    const c = this.csr;
    const from = this.priv;
    c.vsepcLo = epcLo | 0; c.vsepcHi = epcHi | 0;
    c.vscause = cause; c.vscauseInterrupt = interrupt;
    c.vstvalLo = tvalLo | 0; c.vstvalHi = tvalHi | 0;
    c.vsstatus = enterS(c.vsstatus, from);
    let vector = toNumberS(c.vstvecLo & ~3, c.vstvecHi);
    if (interrupt && (c.vstvecLo & 3) === 1) vector += 4 * cause;
    this.pc = vector;
    if (from !== Priv.S) this.setPriv(Priv.S); else { this.dropFetchPage(); this.interruptCheck = true; }
  }

  /**
   * For the VMM: delivers exception `cause` with trap value `tval` to the
   * guest running in VS/VU-mode at its current pc, as the hardware would had
   * hedeleg delegated it (how a hypervisor reflects a fault it will not handle).
   */
  reflectToVs(cause: number, tval: number): void {
    fromNumber(tval);
    const tvalLo = r64.lo, tvalHi = r64.hi;
    fromNumber(this.pc);
    this.enterVs(cause, false, tvalLo, tvalHi, r64.lo, r64.hi);
  }

  /** Raises an exception whose tval is a double (an address), at the current pc. */
  trapAt(cause: number, tval: number): void {
    fromNumber(tval);
    this.trap(cause, r64.lo, r64.hi);
  }

  /** Raises an illegal-instruction exception; mtval holds the instruction bits (as QEMU does). */
  illegal(raw: number): void {
    this.trap(Cause.IllegalInstruction, raw | 0, 0);
  }

  /** Raises a virtual-instruction exception (§9.6.1) for the instruction at pc, with its bits as tval. */
  virtualAtPc(): void {
    this.trap(Cause.VirtualInstruction, this.rawAtPc() | 0, 0);
  }

  /**
   * Takes the highest-priority pending and enabled interrupt, if any
   * (privileged spec §3.1.9, §9.6.2): M-level, then HS-level (always enabled
   * while V=1), then VS-level (only while V=1, enabled by vsstatus.SIE).
   * Returns true when one was taken.
   */
  takeInterrupt(): boolean {
    const c = this.csr;
    const pending = c.mipValue() & c.mie;
    if (pending === 0) return false;
    const mideleg = c.midelegValue();
    const mPending = pending & ~mideleg;
    const mEnabled = this.priv < Priv.M || (c.mstatus & Mstatus.MIE) !== 0;
    let chosen = -1;
    if (mPending !== 0 && mEnabled) chosen = highestPriority(mPending);
    else {
      const sPending = pending & mideleg & ~(c.hideleg & VS_IRQS);
      const sEnabled = this.priv < Priv.S || this.virt || (this.priv === Priv.S && (c.mstatus & Mstatus.SIE) !== 0);
      if (sPending !== 0 && sEnabled) chosen = highestPriority(sPending);
      else if (this.virt) {
        const vsPending = pending & mideleg & c.hideleg & VS_IRQS;
        const vsEnabled = this.priv === Priv.U || (c.vsstatus & Mstatus.SIE) !== 0;
        if (vsPending !== 0 && vsEnabled) chosen = highestPriority(vsPending);
      }
    }
    if (chosen < 0) return false;
    this.waiting = false;
    this.trap(chosen, 0, 0, true);
    return true;
  }

  /** True when some interrupt is pending and locally enabled (what wakes WFI). */
  hasWakeup(): boolean {
    return (this.csr.mipValue() & this.csr.mie) !== 0;
  }

  /**
   * Executes up to `budget` instructions (a translated region may overshoot
   * by less than one block). Returns why it stopped.
   */
  run(budget: number): StopReason {
    if (this.exit !== undefined) return StopReason.Exit; // the VMM has not handled the last one
    this.stopRequested = false;
    this.csr.updateTimers();
    if (this.waiting) {
      if (!this.hasWakeup()) return StopReason.Wfi;
      this.waiting = false;
      this.interruptCheck = true;
    }
    this.stopReason = StopReason.Budget;
    const jit = this.env.jit;
    const executed = jit === undefined ? this.interpret(budget, 0, undefined) : this.runTranslated(budget, jit);
    this.stats.instret += executed;
    this.csr.retired(executed);
    return this.exit !== undefined ? StopReason.Exit : this.stopReason;
  }

  /**
   * Between instructions: honours a stop request (returns false) and, when
   * something may have made an interrupt pending, re-evaluates the timers and
   * takes the interrupt.
   */
  private serviceEvents(): boolean {
    if (this.stopRequested) { this.stopReason = StopReason.Stopped; return false; }
    if (this.interruptCheck) {
      this.interruptCheck = false;
      this.csr.updateTimers();
      this.takeInterrupt();
    }
    return true;
  }

  /** Why the last interpret()/runTranslated() call stopped early. */
  private stopReason = StopReason.Budget;

  /**
   * The binary translator's dispatcher: at each pc reached by a jump, enters
   * the translated region for it, or interprets up to the next jump (while
   * the translator counts the entry toward translating it).
   */
  private runTranslated(budget: number, jit: Jit): number {
    let executed = 0;
    while (executed < budget) {
      if (!this.serviceEvents()) break;
      let off = this.pc - this.fetchBase;
      if (!(off >= 0 && off < 4096)) {
        // A fetch fault counts as an instruction, as in the interpreter (bounds a faulting trap vector).
        if (!this.refillFetch()) { executed++; continue; }
        off = this.pc - this.fetchBase;
      }
      const region = jit.lookup(this.fetchPage as DecodedPage, off);
      if (region !== undefined) {
        const n = region(this, off, budget - executed);
        if (n > 0) { executed += n; continue; }
      }
      const n = this.interpret(budget - executed, executed, jit);
      executed += n;
      if (this.stopReason !== StopReason.Budget || n === 0) break;
    }
    return executed;
  }

  /**
   * The interpreter: executes up to `budget` instructions and returns how
   * many it executed. `base` is the count already executed in this slice (for
   * the instret CSRs). With the translator `jit`, counts every pc reached by
   * a jump, a taken branch or a trap toward translating it, and returns there
   * once translated code exists for it.
   */
  private interpret(budget: number, base: number, jit: Jit | undefined): number {
    let executed = 0;
    const xl = this.xl, xh = this.xh;
    const ram = this.ram;
    const i32 = ram.i32, u8 = ram.u8, u16 = ram.u16;
    const dirty = ram.dirty.bits, codePages = ram.codePages;
    const mmu = this.mmu;
    // The TLB's entries as int32 words (Mmu.entryWords: page address, RAM offset). The integer loads and stores
    // make Mmu.ramHit's check inline: the call measured 2-4% slower on the integer and memory programs.
    const tlb = mmu.entryWords;
    const cache = this.cache;
    const fpu = this.fpu;
    const csr = this.csr;
    // The fetch page's offset of the instruction sequential execution reaches next, or -1 after a jump, a
    // trap or an interrupt: while it stays on the page, fetching needs no arithmetic on the (double) pc.
    let seqOff = -1;
    let page = this.fetchPage as DecodedPage;
    // The count of instructions executed before the last arrival the translator counted (see Jit.credit()).
    let arrivedAt = 0;
    outer: while (executed < budget) {
      if (!this.serviceEvents()) break;
      seqOff = -1; // an interrupt may have been taken
      // Run until something asks for a recheck.
      while (executed < budget && !this.interruptCheck) {
        executed++;
        // ---- fetch ----
        let off = seqOff;
        seqOff = -1; // until this instruction completes without a jump (below the switch)
        if (!(off >= 0 && off < 4096 && this.fetchPage === page)) {
          const jumped = off < 0;
          off = this.pc - this.fetchBase;
          if (!(off >= 0 && off < 4096)) {
            if (!this.refillFetch()) continue;
            off = this.pc - this.fetchBase;
          }
          off |= 0;
          page = this.fetchPage as DecodedPage;
          if (jit !== undefined && (jumped || off < 4) && executed > 1) {
            // Reached by a jump, or by running on into the next page: an entry point for the translator.
            const ran = executed - 1 - arrivedAt;
            arrivedAt = executed - 1;
            if (jit.enterable(page, off, ran)) {
              // Translated: hand over to the dispatcher (this instruction is not executed here).
              executed = arrivedAt;
              break outer;
            }
          }
        }
        const slot = off >>> 1;
        let info = page.info[slot];
        if (info === 0) {
          if (page.ramOffset < 0) {
            // A one-instruction page fetched from a device (boot ROM): fetch again.
            this.dropFetchPage();
            executed--;
            continue;
          }
          info = cache.decodeSlot(page, off);
        }
        let op = info & 0xff;
        let rd = (info >>> 8) & 63;
        let rs1 = (info >>> 14) & 63;
        let rs2 = (info >>> 20) & 63;
        const len = info >>> 26;
        let imm = page.imm[slot];
        if (op === OP_CROSS_PAGE) {
          if (!this.fetchCrossPage()) continue;
          const d = this.decoded;
          op = d.op; rd = d.rd; rs1 = d.rs1; rs2 = d.rs2; imm = d.op === Op.FP ? d.raw : d.imm;
        }
        // ---- execute ----
        switch (op) {
          case Op.LUI: xl[rd] = imm; xh[rd] = imm >> 31; break;
          case Op.AUIPC: {
            const v = this.pc + imm;
            const hi = Math.floor(v / TWO32);
            xl[rd] = (v - hi * TWO32) | 0; xh[rd] = hi | 0;
            break;
          }
          case Op.JAL: {
            const link = this.pc + len;
            this.pc += imm;
            const hi = Math.floor(link / TWO32);
            xl[rd] = (link - hi * TWO32) | 0; xh[rd] = hi | 0;
            continue;
          }
          case Op.JALR: {
            const link = this.pc + len;
            const al = xl[rs1];
            const sum = (al + imm) | 0;
            const lo = sum & ~1;
            const hi = (xh[rs1] + (imm >> 31) + ((sum >>> 0) < (al >>> 0) ? 1 : 0)) | 0;
            this.pc = hi * TWO32 + (lo >>> 0);
            const lhi = Math.floor(link / TWO32);
            xl[rd] = (link - lhi * TWO32) | 0; xh[rd] = lhi | 0;
            continue;
          }
          case Op.BEQ: if (xl[rs1] === xl[rs2] && xh[rs1] === xh[rs2]) { this.pc += imm; continue; } break;
          case Op.BNE: if (xl[rs1] !== xl[rs2] || xh[rs1] !== xh[rs2]) { this.pc += imm; continue; } break;
          case Op.BLT: {
            const a = xh[rs1], b = xh[rs2];
            if (a < b || (a === b && (xl[rs1] >>> 0) < (xl[rs2] >>> 0))) { this.pc += imm; continue; }
            break;
          }
          case Op.BGE: {
            const a = xh[rs1], b = xh[rs2];
            if (a > b || (a === b && (xl[rs1] >>> 0) >= (xl[rs2] >>> 0))) { this.pc += imm; continue; }
            break;
          }
          case Op.BLTU: {
            const a = xh[rs1] >>> 0, b = xh[rs2] >>> 0;
            if (a < b || (a === b && (xl[rs1] >>> 0) < (xl[rs2] >>> 0))) { this.pc += imm; continue; }
            break;
          }
          case Op.BGEU: {
            const a = xh[rs1] >>> 0, b = xh[rs2] >>> 0;
            if (a > b || (a === b && (xl[rs1] >>> 0) >= (xl[rs2] >>> 0))) { this.pc += imm; continue; }
            break;
          }
          // ---- loads: inline TLB hit on aligned RAM accesses, slow path otherwise ----
          case Op.LB: case Op.LH: case Op.LW: case Op.LD: case Op.LBU: case Op.LHU: case Op.LWU: {
            const al = xl[rs1];
            const lo = (al + imm) | 0;
            const hi = (xh[rs1] + (imm >> 31) + ((lo >>> 0) < (al >>> 0) ? 1 : 0)) | 0;
            const t = ENTRY_WORDS * (mmu.readBase + ((lo >>> 12) & TLB_MASK));
            const size = op === Op.LD ? 8 : op === Op.LW || op === Op.LWU ? 4 : op === Op.LH || op === Op.LHU ? 2 : 1;
            if (tlb[t] === (lo & (-4096 | (size - 1))) && tlb[t + 1] === hi) {
              mmu.hits++;
              const o = (tlb[t + ENTRY_RO_WORD] >>> 0) + (lo & 0xfff);
              switch (op) {
                case Op.LB: xl[rd] = (u8[o] << 24) >> 24; xh[rd] = xl[rd] >> 31; break;
                case Op.LBU: xl[rd] = u8[o]; xh[rd] = 0; break;
                case Op.LH: xl[rd] = (u16[o >>> 1] << 16) >> 16; xh[rd] = xl[rd] >> 31; break;
                case Op.LHU: xl[rd] = u16[o >>> 1]; xh[rd] = 0; break;
                case Op.LW: xl[rd] = i32[o >>> 2]; xh[rd] = xl[rd] >> 31; break;
                case Op.LWU: xl[rd] = i32[o >>> 2]; xh[rd] = 0; break;
                default: xl[rd] = i32[o >>> 2]; xh[rd] = i32[(o >>> 2) + 1]; break;
              }
            } else {
              if (!this.loadSlow(lo, hi, size)) continue;
              let vl = r64.lo, vh = r64.hi;
              switch (op) {
                case Op.LB: vl = (vl << 24) >> 24; vh = vl >> 31; break;
                case Op.LH: vl = (vl << 16) >> 16; vh = vl >> 31; break;
                case Op.LW: vh = vl >> 31; break;
                case Op.LBU: case Op.LHU: case Op.LWU: vh = 0; break;
              }
              xl[rd] = vl; xh[rd] = vh;
            }
            break;
          }
          case Op.SB: case Op.SH: case Op.SW: case Op.SD: {
            const al = xl[rs1];
            const lo = (al + imm) | 0;
            const hi = (xh[rs1] + (imm >> 31) + ((lo >>> 0) < (al >>> 0) ? 1 : 0)) | 0;
            const t = ENTRY_WORDS * (mmu.writeBase + ((lo >>> 12) & TLB_MASK));
            const size = op === Op.SD ? 8 : op === Op.SW ? 4 : op === Op.SH ? 2 : 1;
            if (tlb[t] === (lo & (-4096 | (size - 1))) && tlb[t + 1] === hi) {
              mmu.hits++;
              const o = (tlb[t + ENTRY_RO_WORD] >>> 0) + (lo & 0xfff);
              switch (op) {
                case Op.SB: u8[o] = xl[rs2]; break;
                case Op.SH: u16[o >>> 1] = xl[rs2]; break;
                case Op.SW: i32[o >>> 2] = xl[rs2]; break;
                default: i32[o >>> 2] = xl[rs2]; i32[(o >>> 2) + 1] = xh[rs2]; break;
              }
              const pg = o >>> 12;
              dirty[pg] = 1;
              if (codePages[pg] !== 0) { ram.noteWrite(o, size); }
            } else {
              if (!this.storeSlow(lo, hi, size, xl[rs2], xh[rs2])) continue;
            }
            break;
          }
          // ---- integer register-immediate ----
          case Op.ADDI: {
            const a = xl[rs1];
            const lo = (a + imm) | 0;
            xh[rd] = (xh[rs1] + (imm >> 31) + ((lo >>> 0) < (a >>> 0) ? 1 : 0)) | 0;
            xl[rd] = lo;
            break;
          }
          case Op.SLTI: {
            const ih = imm >> 31, ah = xh[rs1];
            xl[rd] = ah < ih || (ah === ih && (xl[rs1] >>> 0) < (imm >>> 0)) ? 1 : 0; xh[rd] = 0;
            break;
          }
          case Op.SLTIU: {
            const ih = (imm >> 31) >>> 0, ah = xh[rs1] >>> 0;
            xl[rd] = ah < ih || (ah === ih && (xl[rs1] >>> 0) < (imm >>> 0)) ? 1 : 0; xh[rd] = 0;
            break;
          }
          case Op.XORI: xl[rd] = xl[rs1] ^ imm; xh[rd] = xh[rs1] ^ (imm >> 31); break;
          case Op.ORI: xl[rd] = xl[rs1] | imm; xh[rd] = xh[rs1] | (imm >> 31); break;
          case Op.ANDI: xl[rd] = xl[rs1] & imm; xh[rd] = xh[rs1] & (imm >> 31); break;
          case Op.SLLI: shiftLeft(xl, xh, rd, xl[rs1], xh[rs1], imm); break;
          case Op.SRLI: shiftRightLogical(xl, xh, rd, xl[rs1], xh[rs1], imm); break;
          case Op.SRAI: shiftRightArith(xl, xh, rd, xl[rs1], xh[rs1], imm); break;
          // ---- integer register-register ----
          case Op.ADD: {
            const a = xl[rs1], b = xl[rs2];
            const lo = (a + b) | 0;
            // The low words' carry: their wrapped sum is below an addend. (An unsigned compare, where summing the
            // unsigned words would go past int32 and make V8 deoptimize the first time it does.)
            xh[rd] = (xh[rs1] + xh[rs2] + ((lo >>> 0) < (a >>> 0) ? 1 : 0)) | 0;
            xl[rd] = lo;
            break;
          }
          case Op.SUB: {
            const a = xl[rs1], b = xl[rs2];
            const lo = (a - b) | 0;
            xh[rd] = (xh[rs1] - xh[rs2] - ((a >>> 0) < (b >>> 0) ? 1 : 0)) | 0;
            xl[rd] = lo;
            break;
          }
          case Op.SLL: shiftLeft(xl, xh, rd, xl[rs1], xh[rs1], xl[rs2] & 63); break;
          case Op.SRL: shiftRightLogical(xl, xh, rd, xl[rs1], xh[rs1], xl[rs2] & 63); break;
          case Op.SRA: shiftRightArith(xl, xh, rd, xl[rs1], xh[rs1], xl[rs2] & 63); break;
          case Op.SLT: {
            const a = xh[rs1], b = xh[rs2];
            xl[rd] = a < b || (a === b && (xl[rs1] >>> 0) < (xl[rs2] >>> 0)) ? 1 : 0; xh[rd] = 0;
            break;
          }
          case Op.SLTU: {
            const a = xh[rs1] >>> 0, b = xh[rs2] >>> 0;
            xl[rd] = a < b || (a === b && (xl[rs1] >>> 0) < (xl[rs2] >>> 0)) ? 1 : 0; xh[rd] = 0;
            break;
          }
          case Op.XOR: xl[rd] = xl[rs1] ^ xl[rs2]; xh[rd] = xh[rs1] ^ xh[rs2]; break;
          case Op.OR: xl[rd] = xl[rs1] | xl[rs2]; xh[rd] = xh[rs1] | xh[rs2]; break;
          case Op.AND: xl[rd] = xl[rs1] & xl[rs2]; xh[rd] = xh[rs1] & xh[rs2]; break;
          // ---- 32-bit (W) operations: result sign-extended ----
          case Op.ADDIW: { const v = (xl[rs1] + imm) | 0; xl[rd] = v; xh[rd] = v >> 31; break; }
          case Op.SLLIW: { const v = xl[rs1] << imm; xl[rd] = v; xh[rd] = v >> 31; break; }
          case Op.SRLIW: { const v = (xl[rs1] >>> imm) | 0; xl[rd] = v; xh[rd] = v >> 31; break; }
          case Op.SRAIW: { const v = xl[rs1] >> imm; xl[rd] = v; xh[rd] = v >> 31; break; }
          case Op.ADDW: { const v = (xl[rs1] + xl[rs2]) | 0; xl[rd] = v; xh[rd] = v >> 31; break; }
          case Op.SUBW: { const v = (xl[rs1] - xl[rs2]) | 0; xl[rd] = v; xh[rd] = v >> 31; break; }
          case Op.SLLW: { const v = xl[rs1] << (xl[rs2] & 31); xl[rd] = v; xh[rd] = v >> 31; break; }
          case Op.SRLW: { const v = (xl[rs1] >>> (xl[rs2] & 31)) | 0; xl[rd] = v; xh[rd] = v >> 31; break; }
          case Op.SRAW: { const v = xl[rs1] >> (xl[rs2] & 31); xl[rd] = v; xh[rd] = v >> 31; break; }
          // ---- M ----
          case Op.MUL: mul64(xl[rs1], xh[rs1], xl[rs2], xh[rs2]); xl[rd] = r64.lo; xh[rd] = r64.hi; break;
          case Op.MULH: mulh64(xl[rs1], xh[rs1], xl[rs2], xh[rs2]); xl[rd] = r64.lo; xh[rd] = r64.hi; break;
          case Op.MULHSU: mulhsu64(xl[rs1], xh[rs1], xl[rs2], xh[rs2]); xl[rd] = r64.lo; xh[rd] = r64.hi; break;
          case Op.MULHU: mulhu64(xl[rs1], xh[rs1], xl[rs2], xh[rs2]); xl[rd] = r64.lo; xh[rd] = r64.hi; break;
          case Op.DIV: div64(xl[rs1], xh[rs1], xl[rs2], xh[rs2]); xl[rd] = r64.lo; xh[rd] = r64.hi; break;
          case Op.DIVU: divu64(xl[rs1], xh[rs1], xl[rs2], xh[rs2]); xl[rd] = r64.lo; xh[rd] = r64.hi; break;
          case Op.REM: rem64(xl[rs1], xh[rs1], xl[rs2], xh[rs2]); xl[rd] = r64.lo; xh[rd] = r64.hi; break;
          case Op.REMU: remu64(xl[rs1], xh[rs1], xl[rs2], xh[rs2]); xl[rd] = r64.lo; xh[rd] = r64.hi; break;
          case Op.MULW: { const v = Math.imul(xl[rs1], xl[rs2]); xl[rd] = v; xh[rd] = v >> 31; break; }
          case Op.DIVW: {
            const a = xl[rs1], b = xl[rs2];
            const v = b === 0 ? -1 : (a === -2147483648 && b === -1) ? a : (a / b) | 0;
            xl[rd] = v; xh[rd] = v >> 31;
            break;
          }
          case Op.DIVUW: {
            const a = xl[rs1] >>> 0, b = xl[rs2] >>> 0;
            const v = b === 0 ? -1 : Math.floor(a / b) | 0;
            xl[rd] = v; xh[rd] = v >> 31;
            break;
          }
          case Op.REMW: {
            const a = xl[rs1], b = xl[rs2];
            const v = b === 0 ? a : (a === -2147483648 && b === -1) ? 0 : (a % b) | 0;
            xl[rd] = v; xh[rd] = v >> 31;
            break;
          }
          case Op.REMUW: {
            const a = xl[rs1] >>> 0, b = xl[rs2] >>> 0;
            const v = b === 0 ? a | 0 : (a % b) | 0;
            xl[rd] = v; xh[rd] = v >> 31;
            break;
          }
          // ---- F/D loads and stores ----
          case Op.FLW: case Op.FLD: {
            if (!csr.fpEnabled()) { this.illegalAtPc(); continue; }
            const al = xl[rs1];
            const lo = (al + imm) | 0;
            const hi = (xh[rs1] + (imm >> 31) + ((lo >>> 0) < (al >>> 0) ? 1 : 0)) | 0;
            const size = op === Op.FLD ? 8 : 4;
            const o = mmu.ramHit(mmu.readBase, lo, hi, size);
            const fr = fpu.i32;
            if (o >= 0) {
              // A single word is NaN-boxed (unprivileged spec §12.2).
              mmu.hits++;
              fr[2 * rd] = i32[o >>> 2];
              fr[2 * rd + 1] = size === 8 ? i32[(o >>> 2) + 1] : -1;
            } else {
              if (!this.loadSlow(lo, hi, size)) continue;
              fr[2 * rd] = r64.lo;
              fr[2 * rd + 1] = size === 8 ? r64.hi : -1;
            }
            csr.fpDirty();
            break;
          }
          case Op.FSW: case Op.FSD: {
            if (!csr.fpEnabled()) { this.illegalAtPc(); continue; }
            const al = xl[rs1];
            const lo = (al + imm) | 0;
            const hi = (xh[rs1] + (imm >> 31) + ((lo >>> 0) < (al >>> 0) ? 1 : 0)) | 0;
            const size = op === Op.FSD ? 8 : 4;
            const o = mmu.ramHit(mmu.writeBase, lo, hi, size);
            const fr = fpu.i32;
            if (o >= 0) {
              mmu.hits++;
              i32[o >>> 2] = fr[2 * rs2];
              if (size === 8) i32[(o >>> 2) + 1] = fr[2 * rs2 + 1];
              const pg = o >>> 12;
              dirty[pg] = 1;
              if (codePages[pg] !== 0) { ram.noteWrite(o, size); }
            } else if (!this.storeSlow(lo, hi, size, fr[2 * rs2], fr[2 * rs2 + 1])) continue;
            break;
          }
          case Op.FP: {
            if (!csr.fpEnabled() || !fpu.execute(imm)) { this.illegal(imm); continue; }
            csr.fpDirty();
            break;
          }
          // ---- A ----
          case Op.LR_W: case Op.LR_D: case Op.SC_W: case Op.SC_D: case Op.AMO_W: case Op.AMO_D:
            if (!this.atomic(op, rd, rs1, rs2, imm)) continue;
            break;
          // ---- system ----
          case Op.FENCE: break;
          case Op.FENCE_I: break; // the decode cache tracks code writes, so there is nothing to flush
          case Op.ECALL: case Op.EBREAK: case Op.CSRRW: case Op.CSRRS: case Op.CSRRC: case Op.CSRRWI: case Op.CSRRSI: case Op.CSRRCI:
          case Op.MRET: case Op.SRET: case Op.WFI: case Op.SFENCE_VMA: case Op.HFENCE_VVMA: case Op.HFENCE_GVMA: case Op.HLV: case Op.HSV: {
            const then = this.system(op, rd, rs1, rs2, imm, len, base + executed - 1);
            if (then === System.Next) break;
            if (then === System.Stop) break outer;
            continue;
          }
          default:
            this.illegalAtPc();
            continue;
        }
        this.pc += len;
        seqOff = off + len;
      }
    }
    if (jit !== undefined) jit.credit(executed - arrivedAt);
    return executed;
  }

  /**
   * The system and privileged instructions (ECALL, EBREAK, the CSR
   * instructions, xRET, WFI, the fences of the MMU, HLV/HSV), out of the
   * interpreter's main loop: V8 compiles that loop in one piece, and its
   * rarely run cases made it larger to compile and gave it more places to
   * meet new type feedback. `executedBefore` is the instruction count of
   * the slice so far (for the instret CSRs).
   */
  private system(op: Op, rd: number, rs1: number, rs2: number, imm: number, len: number, executedBefore: number): System {
    const csr = this.csr, mmu = this.mmu;
    const xl = this.xl, xh = this.xh;
    switch (op) {
      case Op.ECALL:
        this.stats.ecalls++;
        this.trap(this.virt && this.priv === Priv.S ? Cause.EcallVS : Cause.EcallU + this.priv, 0, 0);
        return System.Jumped;
      case Op.EBREAK:
        this.trapAt(Cause.Breakpoint, this.pc);
        return System.Jumped;
      case Op.CSRRW: case Op.CSRRS: case Op.CSRRC: case Op.CSRRWI: case Op.CSRRSI: case Op.CSRRCI:
        csr.runExecuted = executedBefore;
        {
          const fault = csr.execute(op, rd, rs1, imm);
          if (fault !== 0) { if (fault === Cause.VirtualInstruction) this.virtualAtPc(); else this.illegalAtPc(); return System.Jumped; }
        }
        return System.Next;
      case Op.MRET:
        if (this.priv !== Priv.M) { this.illegalAtPc(); return System.Jumped; } // (not allowed in HS either: illegal in VS/VU too)
        this.mret();
        return System.Jumped;
      case Op.SRET:
        // §9.6.1: in VU, and in VS with hstatus.VTSR, SRET is a virtual instruction; mstatus.TSR affects HS only.
        if (this.virt) {
          if (this.priv === Priv.U || (csr.hstatus & Hstatus.VTSR) !== 0) { this.virtualAtPc(); return System.Jumped; }
          this.sretVs();
          return System.Jumped;
        }
        if (this.priv === Priv.U || (this.priv === Priv.S && (csr.mstatus & Mstatus.TSR) !== 0)) { this.illegalAtPc(); return System.Jumped; }
        this.sret();
        return System.Jumped;
      case Op.WFI:
        if (this.priv !== Priv.M && (csr.mstatus & Mstatus.TW) !== 0) { this.illegalAtPc(); return System.Jumped; }
        if (this.virt && (this.priv === Priv.U || (csr.hstatus & Hstatus.VTW) !== 0)) { this.virtualAtPc(); return System.Jumped; }
        if (this.priv === Priv.U) { this.illegalAtPc(); return System.Jumped; }
        this.pc += len;
        this.stats.wfi++;
        csr.updateTimers();
        if (!this.hasWakeup()) {
          this.waiting = true;
          this.stopReason = StopReason.Wfi;
          return System.Stop;
        }
        this.interruptCheck = true;
        return System.Jumped;
      case Op.SFENCE_VMA:
        if (this.virt) {
          // In V=1 it flushes the guest's (VS-stage) translations; mstatus.TVM affects HS only.
          if (this.priv === Priv.U || (csr.hstatus & Hstatus.VTVM) !== 0) { this.virtualAtPc(); return System.Jumped; }
        } else if (this.priv === Priv.U || (this.priv === Priv.S && (csr.mstatus & Mstatus.TVM) !== 0)) { this.illegalAtPc(); return System.Jumped; }
        if (rs1 === 0) mmu.flushAll(); else mmu.flushPage(toNumberS(xl[rs1], xh[rs1]));
        this.dropFetchPage();
        return System.Next;
      case Op.HFENCE_VVMA: case Op.HFENCE_GVMA:
        // §9.3.2: HS-mode (GVMA: unless mstatus.TVM) and M only.
        if (this.virt) { this.virtualAtPc(); return System.Jumped; }
        if (this.priv === Priv.U || (op === Op.HFENCE_GVMA && this.priv === Priv.S && (csr.mstatus & Mstatus.TVM) !== 0)) {
          this.illegalAtPc();
          return System.Jumped;
        }
        // The combined guest translations are cached per guest virtual page: flush them all.
        mmu.flushAll();
        this.dropFetchPage();
        return System.Next;
      case Op.HLV: case Op.HSV:
        if (!this.hypervisorAccess(op, rd, rs1, rs2, imm)) return System.Jumped;
        return System.Next;
      default:
        this.illegalAtPc();
        return System.Jumped;
    }
  }

  /** Raises illegal instruction for the instruction at pc, with its bits as tval. */
  illegalAtPc(): void {
    const raw = this.rawAtPc();
    if (this.privilegedHook !== undefined && this.priv === Priv.U && !this.virt && this.privilegedHook(raw)) return;
    this.illegal(raw);
  }

  /**
   * Re-reads the raw bits of the instruction at pc through the current
   * translation (for mtval, and for a VMM decoding the instruction that
   * exited); 0 when pc does not translate.
   */
  rawAtPc(): number {
    const pa = this.mmu.translate(this.pc, Access.Execute, true);
    if (pa < 0) return 0;
    const lo = this.mmu.fetch16(pa);
    if ((lo & 3) !== 3) return lo;
    const pa2 = this.mmu.translate(this.pc + 2, Access.Execute, true);
    if (pa2 < 0) return lo;
    return lo | (this.mmu.fetch16(pa2) << 16);
  }

  /** Loads the decoded page containing pc. Returns false when the fetch trapped. */
  private refillFetch(): boolean {
    const pc = this.pc;
    // A fetch-TLB hit on RAM, checked first as the FP loads check theirs (Mmu.ramHit): the boot refills about
    // 1.5 M times, and the MMU's general lookup cost about 30 ns each.
    const mmu = this.mmu;
    fromNumber(pc);
    const inPageLo = r64.lo & 4095;
    const o = mmu.ramHit(mmu.fetchBase, r64.lo, r64.hi, 1);
    if (o >= 0) {
      mmu.hits++;
      this.fetchPage = this.cache.page(o - inPageLo);
      this.fetchBase = pc - inPageLo;
      return true;
    }
    const pa = mmu.translate(pc, Access.Execute, false);
    if (pa < 0) return false;
    const ram = this.ram;
    // The offset in the page from pa's low word (ToInt32 wraps modulo 2^32, a multiple of the page size): `%` on a
    // double is a call to fmod, on every fetch from a new page.
    const inPage = pa & 4095;
    const pageVa = pc - inPage;
    if (pa >= ram.base && pa < ram.end) {
      this.fetchPage = this.cache.page(pa - ram.base - inPage);
      this.fetchBase = pageVa;
      return true;
    }
    // Code outside RAM (the boot ROM): decode into a private page, uncached.
    return this.fetchFromDevice(pa, pageVa);
  }

  private romPage: DecodedPage | undefined;

  /** Fetches a single instruction from a non-RAM region; executes it through a one-slot page. */
  private fetchFromDevice(pa: number, pageVa: number): boolean {
    const lo = this.mmu.fetch16(pa);
    if (lo < 0) { this.trapAt(Cause.FetchAccess, this.pc); return false; }
    let raw = lo;
    if ((lo & 3) === 3) {
      const hiHalf = this.mmu.fetch16(pa + 2);
      if (hiHalf < 0) { this.trapAt(Cause.FetchAccess, this.pc + 2); return false; }
      raw = lo | (hiHalf << 16);
    }
    const d = this.decoded;
    decode(raw, d);
    if (this.romPage === undefined) this.romPage = new DecodedPage(-1);
    const p = this.romPage;
    p.info.fill(0);
    const slot = (pa & 4095) >>> 1;
    p.info[slot] = d.op | (d.rd << 8) | (d.rs1 << 14) | (d.rs2 << 20) | (d.length << 26);
    p.imm[slot] = d.op === Op.FP ? d.raw : d.imm;
    // Valid for exactly this one instruction: the next fetch refills.
    this.fetchPage = p;
    this.fetchBase = pageVa;
    return true;
  }

  /** Fetches and decodes a 32-bit instruction that straddles a page boundary into `this.decoded`. */
  private fetchCrossPage(): boolean {
    const pa1 = this.mmu.translate(this.pc, Access.Execute, false);
    if (pa1 < 0) return false;
    const pa2 = this.mmu.translate(this.pc + 2, Access.Execute, false);
    if (pa2 < 0) return false;
    const raw = (this.mmu.fetch16(pa1) & 0xffff) | (this.mmu.fetch16(pa2) << 16);
    decode(raw, this.decoded);
    return true;
  }

  /** Load through translation, any alignment, RAM or MMIO. Result in r64 (raw, zero-extended bytes). */
  loadSlow(lo: number, hi: number, size: number): boolean {
    const va = hi * TWO32 + (lo >>> 0);
    if (!this.mmu.checkCanonical(lo, hi, Access.Read)) return false;
    if ((lo & 0xfff) + size > 4096) {
      // Misaligned across a page: byte by byte, each byte translated.
      let vl = 0, vh = 0;
      for (let k = size - 1; k >= 0; k--) {
        const pa = this.mmu.translateData(va + k, Access.Read, va);
        if (pa < 0) return false;
        if (!this.mmu.physLoad(pa, 1, va)) return false;
        const b = r64.lo & 0xff;
        if (k >= 4) vh = (vh << 8) | b; else vl = (vl << 8) | b;
      }
      r64.lo = vl | 0; r64.hi = vh | 0;
      return true;
    }
    const pa = this.mmu.translateData(va, Access.Read, va, size);
    if (pa < 0) return false;
    return this.mmu.physLoad(pa, size, va);
  }

  /** Store through translation, any alignment, RAM or MMIO. */
  storeSlow(lo: number, hi: number, size: number, vl: number, vh: number): boolean {
    const va = hi * TWO32 + (lo >>> 0);
    if (!this.mmu.checkCanonical(lo, hi, Access.Write)) return false;
    if ((lo & 0xfff) + size > 4096) {
      // Translate both pages first so a fault leaves memory untouched.
      const pa0 = this.mmu.translateData(va, Access.Write, va);
      if (pa0 < 0) return false;
      const pa1 = this.mmu.translateData(va + size - 1, Access.Write, va);
      if (pa1 < 0) return false;
      for (let k = 0; k < size; k++) {
        const pa = this.mmu.translateData(va + k, Access.Write, va);
        const b = k >= 4 ? (vh >>> ((k - 4) * 8)) & 0xff : (vl >>> (k * 8)) & 0xff;
        if (pa < 0 || !this.mmu.physStore(pa, 1, b, 0, va)) return false;
      }
      return true;
    }
    const pa = this.mmu.translateData(va, Access.Write, va, size);
    if (pa < 0) return false;
    return this.mmu.physStore(pa, size, vl, vh, va);
  }

  /** LR/SC/AMO (unprivileged spec ch. 8). Returns false when it trapped. */
  atomic(op: Op, rd: number, rs1: number, rs2: number, funct: number): boolean {
    const xl = this.xl, xh = this.xh;
    const word = op === Op.LR_W || op === Op.SC_W || op === Op.AMO_W;
    const size = word ? 4 : 8;
    const va = toNumberS(xl[rs1], xh[rs1]);
    const isLoadOnly = op === Op.LR_W || op === Op.LR_D;
    // Misaligned atomics raise an address-misaligned exception (not emulated).
    if (va % size !== 0) {
      this.gvaNext = this.mmu.dataVirt();
      this.trapAt(isLoadOnly ? Cause.MisalignedLoad : Cause.MisalignedStore, va);
      return false;
    }
    if (!this.mmu.checkCanonical(xl[rs1], xh[rs1], isLoadOnly ? Access.Read : Access.Write)) return false;
    // AMOs and SC need write permission; faults on them are store/AMO faults.
    const pa = this.mmu.translateData(va, isLoadOnly ? Access.Read : Access.Write, va, size);
    if (pa < 0) return false;
    const ram = this.ram;
    if (pa < ram.base || pa + size > ram.end) {
      // Atomics to I/O regions are not supported by our devices: access fault.
      this.trapAt(isLoadOnly ? Cause.LoadAccess : Cause.StoreAccess, va);
      return false;
    }
    const o = pa - ram.base;
    const i32 = ram.i32;
    const oldLo = i32[o >>> 2];
    const oldHi = word ? oldLo >> 31 : i32[(o >>> 2) + 1];
    if (isLoadOnly) {
      this.reservation = pa;
      this.reservationLo = oldLo;
      this.reservationHi = word ? 0 : oldHi;
      xl[rd] = oldLo; xh[rd] = oldHi;
      return true;
    }
    if (op === Op.SC_W || op === Op.SC_D) {
      // The reservation holds while the reserved bytes keep the value loaded by LR:
      // stores by other harts (or devices) that change them make the SC fail.
      const ok = this.reservation === pa && oldLo === this.reservationLo && (word || oldHi === this.reservationHi);
      this.reservation = -1;
      if (ok) {
        i32[o >>> 2] = xl[rs2];
        if (!word) i32[(o >>> 2) + 1] = xh[rs2];
        ram.noteWrite(o, size);
        xl[rd] = 0;
      } else {
        xl[rd] = 1;
      }
      xh[rd] = 0;
      return true;
    }
    // AMO: compute the new value from old (a) and rs2 (b).
    const bl = xl[rs2], bh = word ? xl[rs2] >> 31 : xh[rs2];
    let nl: number, nh: number;
    switch (funct) {
      case AmoFunct.SWAP: nl = bl; nh = bh; break;
      case AmoFunct.ADD: {
        nl = (oldLo + bl) | 0;
        nh = (oldHi + bh + ((nl >>> 0) < (oldLo >>> 0) ? 1 : 0)) | 0;
        break;
      }
      case AmoFunct.XOR: nl = oldLo ^ bl; nh = oldHi ^ bh; break;
      case AmoFunct.OR: nl = oldLo | bl; nh = oldHi | bh; break;
      case AmoFunct.AND: nl = oldLo & bl; nh = oldHi & bh; break;
      default: {
        const signed = funct === AmoFunct.MIN || funct === AmoFunct.MAX;
        const ah = signed ? oldHi : oldHi >>> 0, bh2 = signed ? bh : bh >>> 0;
        const aLess = ah < bh2 || (ah === bh2 && (oldLo >>> 0) < (bl >>> 0));
        const takeA = funct === AmoFunct.MIN || funct === AmoFunct.MINU ? aLess : !aLess;
        nl = takeA ? oldLo : bl; nh = takeA ? oldHi : bh;
      }
    }
    i32[o >>> 2] = nl;
    if (!word) i32[(o >>> 2) + 1] = nh;
    ram.noteWrite(o, size);
    xl[rd] = oldLo; xh[rd] = oldHi;
    return true;
  }

  /** MRET (privileged spec §3.3.2, §9.6.4: returns to V = MPV unless MPP is M). */
  private mret(): void {
    const c = this.csr;
    let ms = c.mstatus;
    const mpp = (ms >>> Mstatus.MPP_SHIFT) & 3;
    const virt = mpp !== Priv.M && (c.mstatusH & MstatusHi.MPV) !== 0;
    ms = (ms & ~Mstatus.MIE) | ((ms & Mstatus.MPIE) ? Mstatus.MIE : 0);
    ms |= Mstatus.MPIE;
    ms &= ~Mstatus.MPP; // MPP := U
    if (mpp !== Priv.M) ms &= ~Mstatus.MPRV;
    c.mstatus = ms;
    c.mstatusH &= ~MstatusHi.MPV;
    this.pc = toNumberS(c.mepcLo, c.mepcHi);
    this.reservation = -1;
    this.setMode(mpp as Priv, virt);
  }

  /** SRET from HS-mode (privileged spec §3.3.2, §9.6.4: returns to V = hstatus.SPV). */
  private sret(): void {
    const c = this.csr;
    const spp = (c.mstatus & Mstatus.SPP) ? Priv.S : Priv.U;
    c.mstatus = leaveS(c.mstatus) & ~Mstatus.MPRV; // SPP is never M
    const virt = (c.hstatus & Hstatus.SPV) !== 0;
    c.hstatus &= ~Hstatus.SPV;
    this.pc = toNumberS(c.sepcLo, c.sepcHi);
    this.reservation = -1;
    this.setMode(spp, virt);
  }

  /** SRET from VS-mode: the same on vsstatus/vsepc, staying in V=1. */
  private sretVs(): void {
    const c = this.csr;
    const spp = (c.vsstatus & Mstatus.SPP) ? Priv.S : Priv.U;
    c.vsstatus = leaveS(c.vsstatus);
    this.pc = toNumberS(c.vsepcLo, c.vsepcHi);
    this.reservation = -1;
    this.setMode(spp, true);
  }

  /**
   * HLV/HLVX/HSV (§9.3.3): a load or store at x[rs1] as though in V=1 at the
   * privilege hstatus.SPVP. Allowed in M, HS, and U with hstatus.HU.
   * `funct7` and `variant` (the rs2 field) select the width and signedness.
   * Returns false when it trapped.
   */
  private hypervisorAccess(op: Op, rd: number, rs1: number, rs2: number, funct7: number): boolean {
    const c = this.csr;
    if (this.virt) { this.virtualAtPc(); return false; }
    if (this.priv === Priv.U && (c.hstatus & Hstatus.HU) === 0) { this.illegalAtPc(); return false; }
    const size = 1 << ((funct7 >>> 1) & 3);
    const isLoad = op === Op.HLV;
    // rs2 field: loads 0 = signed, 1 = unsigned, 3 = HLVX (unsigned, execute permission); stores: the data register.
    const hlvx = isLoad && rs2 === 3;
    if (isLoad && (rs2 === 2 || (size === 8 && rs2 !== 0) || (hlvx && size === 1) || (hlvx && size === 8))) { this.illegalAtPc(); return false; }
    const mmu = this.mmu;
    mmu.beginHypervisorAccess((c.hstatus & Hstatus.SPVP) !== 0 ? Priv.S : Priv.U, hlvx);
    let ok: boolean;
    try {
      ok = isLoad
        ? this.loadSlow(this.xl[rs1], this.xh[rs1], size)
        : this.storeSlow(this.xl[rs1], this.xh[rs1], size, this.xl[rs2], this.xh[rs2]);
    } finally {
      mmu.endHypervisorAccess();
    }
    if (!ok) return false;
    if (isLoad) {
      let vl = r64.lo, vh = r64.hi;
      const signed = rs2 === 0;
      if (size === 1) { vl = signed ? (vl << 24) >> 24 : vl & 0xff; vh = signed ? vl >> 31 : 0; }
      else if (size === 2) { vl = signed ? (vl << 16) >> 16 : vl & 0xffff; vh = signed ? vl >> 31 : 0; }
      else if (size === 4) vh = signed ? vl >> 31 : 0;
      this.xl[rd] = vl; this.xh[rd] = vh;
    }
    return true;
  }

  /** Called by the CSR file when a write changed something interrupts depend on. */
  recheckInterrupts(): void {
    this.interruptCheck = true;
  }

}

/**
 * The sstatus (or vsstatus) fields after a trap into S (or VS) mode from
 * privilege `from` (§4.1.1): SPIE takes SIE, SPP records `from`, SIE clears.
 * (Also the trap entry a VMM performs on a deprivileged guest's virtual sstatus.)
 */
export function enterS(status: number, from: Priv): number {
  let s = (status & ~Mstatus.SPIE) | ((status & Mstatus.SIE) ? Mstatus.SPIE : 0);
  s = (s & ~Mstatus.SPP) | (from === Priv.S ? Mstatus.SPP : 0);
  return s & ~Mstatus.SIE;
}

/**
 * The sstatus (or vsstatus) fields after SRET (§3.3.2): SIE takes SPIE,
 * SPIE is set, SPP becomes U. The privilege returned to is SPP's before.
 */
export function leaveS(status: number): number {
  return (status & ~(Mstatus.SIE | Mstatus.SPP)) | ((status & Mstatus.SPIE) !== 0 ? Mstatus.SIE : 0) | Mstatus.SPIE;
}

/** Highest-priority interrupt in `bits`: MEI, MSI, MTI, SEI, SSI, STI, then the rest (§3.1.9). */
export function highestPriority(bits: number): number {
  const order = [11, 3, 7, 9, 1, 5, 12, 10, 2, 6, 13];
  for (const b of order) if (bits & (1 << b)) return b;
  return 31 - Math.clz32(bits);
}

function shiftLeft(xl: Int32Array, xh: Int32Array, rd: number, lo: number, hi: number, sh: number): void {
  if (sh === 0) { xl[rd] = lo; xh[rd] = hi; }
  else if (sh < 32) { xh[rd] = (hi << sh) | (lo >>> (32 - sh)); xl[rd] = lo << sh; }
  else { xh[rd] = lo << (sh - 32); xl[rd] = 0; }
}

function shiftRightLogical(xl: Int32Array, xh: Int32Array, rd: number, lo: number, hi: number, sh: number): void {
  if (sh === 0) { xl[rd] = lo; xh[rd] = hi; }
  else if (sh < 32) { xl[rd] = (lo >>> sh) | (hi << (32 - sh)); xh[rd] = hi >>> sh; }
  else { xl[rd] = hi >>> (sh - 32); xh[rd] = 0; }
}

function shiftRightArith(xl: Int32Array, xh: Int32Array, rd: number, lo: number, hi: number, sh: number): void {
  if (sh === 0) { xl[rd] = lo; xh[rd] = hi; }
  else if (sh < 32) { xl[rd] = (lo >>> sh) | (hi << (32 - sh)); xh[rd] = hi >> sh; }
  else { xl[rd] = hi >> (sh - 32); xh[rd] = hi >> 31; }
}

