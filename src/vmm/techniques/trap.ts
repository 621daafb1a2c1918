/**
 * `trap`: classic trap-and-emulate (Popek and Goldberg). The guest kernel
 * runs deprivileged, in the host hart's U-mode, on a virtual CPU whose
 * supervisor state (sstatus, sie, sip, stvec, sscratch, sepc, scause, stval,
 * satp, scounteren, senvcfg, and its privilege) the VMM keeps. Every
 * privileged instruction the kernel executes is illegal in U-mode, so it
 * traps, exits to the VMM, and is emulated on that state; RISC-V has no
 * sensitive instruction that does not trap in U-mode, so this is exact.
 * Traps the guest should see (system calls, its own page faults,
 * interrupts) are reflected: the VMM performs the trap entry of privileged
 * spec §4.1 on the virtual state and resumes the guest at its stvec.
 *
 * Memory is virtualized with shadow page tables (shadow.ts): the hart walks
 * the VMM's guest-virtual → host-physical tables; the guest's own tables are
 * walked by the VMM on hidden page faults, and SFENCE.VMA and satp writes,
 * which trap, keep the shadows coherent.
 *
 * FP state is the host's: sstatus.FS is mstatus.FS of the hart, so the
 * hardware marks it dirty and an access with FS off traps as it should.
 */
import { Cause, Csr, EXCEPTION_NAMES, Mstatus, Priv } from '../../cpu/riscv/constants.js';
import { enterS, highestPriority, leaveS, type VmExit } from '../../cpu/riscv/hart.js';
import { decode, newDecoded, Op } from '../../cpu/riscv/decode.js';
import { AtpMode, ShadowMmu, View, type AccessKind, type ShadowStats } from '../shadow.js';
import type { Vcpu } from '../vcpu.js';
import type { Vm } from '../vm.js';
import { VirtualIrq, type Technique, type TechniqueName } from './technique.js';

/** sstatus bits the guest may write (FS lives in the hart's mstatus). */
const SSTATUS_WRITABLE = Mstatus.SIE | Mstatus.SPIE | Mstatus.SPP | Mstatus.SUM | Mstatus.MXR;
const SIE_WRITABLE = (1 << VirtualIrq.Software) | (1 << VirtualIrq.Timer) | (1 << VirtualIrq.External);
const MASK64 = (1n << 64n) - 1n;
const INTERRUPT_BIT = 1n << 63n;

/** The virtual supervisor state of one vCPU. */
export class VirtualSupervisor {
  /** The guest's privilege: S (its kernel) or U (its processes). */
  priv: Priv.S | Priv.U = Priv.S;
  /** sstatus without FS (which is the hart's). */
  sstatus = 0;
  sie = 0;
  /** Pending interrupts (sip): SSIP written by IPIs and the guest, STIP and SEIP by the VMM. */
  sip = 0;
  stvec = 0n;
  sscratch = 0n;
  sepc = 0n;
  scause = 0n;
  stval = 0n;
  scounteren = 0n;
  senvcfg = 0n;
  /** satp as the guest wrote it: mode, and the root table's guest-physical address. */
  mode: AtpMode = AtpMode.Bare;
  root = 0;
  /** The shadow generation the hart's satp was loaded for, and the address space and view it shows. */
  loaded = -1;
  loadedKey = '';
}

/** Counters of the deprivileged techniques. */
export interface DeprivilegedStats {
  /** Privileged instructions emulated, by kind. */
  emulated: Record<string, number>;
  /** Traps and interrupts delivered to the guest kernel. */
  reflected: number;
  interruptsDelivered: number;
  /** SBI calls and device accesses. */
  sbiCalls: number;
  deviceAccesses: number;
}

export class TrapTechnique implements Technique {
  readonly name: TechniqueName = 'trap';
  readonly guestModifications: string = 'none';
  protected shadow: ShadowMmu | undefined;
  protected vs: VirtualSupervisor[] = [];
  private readonly decoded = newDecoded();
  protected readonly stats: DeprivilegedStats = { emulated: {}, reflected: 0, interruptsDelivered: 0, sbiCalls: 0, deviceAccesses: 0 };
  /** The shadow's counters, kept readable after the VM is gone. */
  private shadowStats: ShadowStats | undefined;

  attach(vm: Vm): void {
    this.shadow = new ShadowMmu(vm.host, vm.memory, (gpa) => vm.devices.bus.find(gpa) !== undefined);
    this.shadowStats = this.shadow.stats;
    this.vs = vm.vcpus.map(() => new VirtualSupervisor());
  }

  detach(): void {
    this.shadow?.release();
    this.shadow = undefined;
  }

  start(vcpu: Vcpu, pc: number, a0: number, a1: number): void {
    const h = vcpu.hart;
    h.reset(pc);
    h.userExits = true;
    // The guest's own code may read cycle, time and instret; counteren is set per view.
    h.csr.write(Csr.MCOUNTEREN, 0b111, 0);
    this.vs[vcpu.id] = new VirtualSupervisor();
    h.setX(10, a0);
    h.setX(11, a1);
    h.pc = pc;
    h.setPriv(Priv.U);
    this.loadSatp(vcpu);
  }

  setInterrupt(vcpu: Vcpu, irq: VirtualIrq, level: boolean): void {
    const v = this.vs[vcpu.id];
    if (v === undefined) return;
    v.sip = level ? v.sip | (1 << irq) : v.sip & ~(1 << irq);
    // A vCPU idling in WFI wakes on any pending enabled interrupt, SIE or not.
    if (level && (v.sip & v.sie) !== 0) vcpu.idle = false;
  }

  enter(vcpu: Vcpu): void {
    this.loadSatp(vcpu);
    this.deliverInterrupt(vcpu);
  }

  handleExit(vcpu: Vcpu, exit: VmExit): void {
    const v = this.vs[vcpu.id];
    const h = vcpu.hart;
    vcpu.countExit(EXCEPTION_NAMES[exit.cause] ?? `cause ${exit.cause}`);
    if (exit.interrupt) return; // nothing on the host raises one
    switch (exit.cause) {
      case Cause.IllegalInstruction:
        if (v.priv === Priv.U || !this.emulate(vcpu, exit.tval === 0 ? h.rawAtPc() : exit.tval)) this.reflect(vcpu, Cause.IllegalInstruction, BigInt(exit.tval));
        break;
      case Cause.EcallU:
        if (v.priv === Priv.S) { this.stats.sbiCalls++; vcpu.vm.sbiCall(vcpu); } else this.reflect(vcpu, Cause.EcallU, 0n);
        break;
      case Cause.FetchPageFault: this.pageFault(vcpu, 'execute', exit.tval); break;
      case Cause.LoadPageFault: this.pageFault(vcpu, 'read', exit.tval); break;
      case Cause.StorePageFault: this.pageFault(vcpu, 'write', exit.tval); break;
      default:
        this.reflect(vcpu, exit.cause, BigInt.asUintN(64, BigInt(exit.tval)));
    }
    this.deliverInterrupt(vcpu);
  }

  flushTlb(vcpu: Vcpu): void {
    // The shadows are shared by the VM's vCPUs: drop them all, and every hart reloads.
    this.shadow!.flushAll();
    this.loadSatp(vcpu);
  }

  counters(): Record<string, number> {
    const out: Record<string, number> = { ...this.shadowStats, reflected: this.stats.reflected, interruptsDelivered: this.stats.interruptsDelivered,
      sbiCalls: this.stats.sbiCalls, deviceAccesses: this.stats.deviceAccesses };
    for (const [k, n] of Object.entries(this.stats.emulated)) out[`emulated ${k}`] = n;
    return out;
  }

  // ------------------------------------------------------------ the virtual CPU

  protected count(kind: string): void {
    this.stats.emulated[kind] = (this.stats.emulated[kind] ?? 0) + 1;
  }

  /** The shadow view for the guest's privilege and SUM. */
  protected view(v: VirtualSupervisor): View {
    if (v.priv === Priv.U) return View.User;
    return (v.sstatus & Mstatus.SUM) !== 0 ? View.KernelSum : View.Kernel;
  }

  /**
   * Points the hart at the shadow of the guest's address space and
   * privilege, if it is not already. Within one shadow generation the hart's
   * TLB keeps each view's entries apart (Mmu.switchUserSpace), so a guest's
   * kernel↔user switch costs no TLB flush; a new generation flushes.
   */
  protected loadSatp(vcpu: Vcpu): void {
    const v = this.vs[vcpu.id];
    const shadow = this.shadow!;
    const view = this.view(v);
    const key = `${v.mode}:${v.root}:${view}`;
    if (v.loaded === shadow.generation && v.loadedKey === key) return;
    const satp = shadow.hostSatp(v.mode, v.root, view);
    const h = vcpu.hart;
    const lo = Number(satp & 0xffffffffn) | 0, hi = Number(satp >> 32n) | 0;
    if (v.loaded === shadow.generation) {
      h.mmu.switchUserSpace(lo, hi, v.loadedKey, key);
      h.csr.satpLo = lo;
      h.csr.satpHi = hi;
    } else {
      h.csr.write(Csr.SATP, lo, hi);
    }
    v.loadedKey = key;
    // The guest kernel reads the counters freely; its processes as its scounteren allows.
    h.csr.write(Csr.SCOUNTEREN, view === View.User ? Number(v.scounteren & 7n) : 0b111, 0);
    v.loaded = shadow.generation;
  }

  /**
   * Trap entry into the guest's S-mode (§4.1.1, §4.1.2): sepc, scause,
   * stval, SPP/SPIE/SIE, and the jump to stvec.
   */
  protected reflect(vcpu: Vcpu, cause: number, tval: bigint, interrupt = false): void {
    const v = this.vs[vcpu.id];
    const h = vcpu.hart;
    if (interrupt) this.stats.interruptsDelivered++; else this.stats.reflected++;
    v.sepc = BigInt.asUintN(64, BigInt(h.pc));
    v.scause = BigInt(cause) | (interrupt ? INTERRUPT_BIT : 0n);
    v.stval = tval & MASK64;
    v.sstatus = enterS(v.sstatus, v.priv);
    v.priv = Priv.S;
    let pc = BigInt.asIntN(64, v.stvec & ~3n);
    if (interrupt && (v.stvec & 3n) === 1n) pc += BigInt(4 * cause);
    h.pc = Number(pc);
    h.dropFetchPage();
    this.loadSatp(vcpu);
  }

  /** Delivers the highest-priority pending, enabled interrupt, if the guest takes interrupts now. */
  protected deliverInterrupt(vcpu: Vcpu): void {
    const v = this.vs[vcpu.id];
    const pending = v.sip & v.sie;
    if (pending === 0 || (v.priv === Priv.S && (v.sstatus & Mstatus.SIE) === 0)) return;
    const irq = highestPriority(pending);
    vcpu.idle = false;
    this.reflect(vcpu, irq, 0n, true);
  }

  /** A page fault of the hart: a hidden fault the shadow fills, a device access, or the guest's own fault. */
  protected pageFault(vcpu: Vcpu, access: AccessKind, va: number): void {
    const v = this.vs[vcpu.id];
    const r = this.shadow!.fill(v.mode, v.root, this.view(v), va, access, (v.sstatus & Mstatus.SUM) !== 0, (v.sstatus & Mstatus.MXR) !== 0);
    if (r.kind === 'filled') {
      vcpu.hart.mmu.flushPage(va);
      return;
    }
    if (r.kind === 'mmio') {
      if (access !== 'execute' && vcpu.vm.deviceAccess(vcpu, r.gpa)) { this.stats.deviceAccesses++; return; }
      this.reflect(vcpu, access === 'execute' ? Cause.FetchAccess : access === 'read' ? Cause.LoadAccess : Cause.StoreAccess, BigInt.asUintN(64, BigInt(va)));
      return;
    }
    this.reflect(vcpu, r.cause, BigInt.asUintN(64, BigInt(va)));
  }

  /**
   * Emulates the privileged instruction `raw` the guest kernel executed, on
   * the virtual state, and moves past it. Returns false for an instruction
   * that is illegal in S-mode too (the caller reflects it).
   */
  protected emulate(vcpu: Vcpu, raw: number): boolean {
    const h = vcpu.hart;
    const v = this.vs[vcpu.id];
    const d = this.decoded;
    decode(raw, d);
    switch (d.op) {
      case Op.SRET:
        this.count('sret');
        this.sret(vcpu);
        return true;
      case Op.WFI:
        this.count('wfi');
        h.pc += 4;
        if ((v.sip & v.sie) === 0) { vcpu.idle = true; h.requestStop(); }
        return true;
      case Op.SFENCE_VMA:
        // ASIDs are not implemented (ASIDLEN = 0): rs2, the address space, does not matter.
        this.count('sfence.vma');
        if (d.rs1 === 0) { this.shadow!.flushAll(); this.loadSatp(vcpu); } else {
          const va = h.getX(d.rs1);
          this.shadow!.flushPage(va);
          h.mmu.flushPage(va);
        }
        h.pc += 4;
        return true;
      case Op.CSRRW: case Op.CSRRS: case Op.CSRRC: case Op.CSRRWI: case Op.CSRRSI: case Op.CSRRCI:
        if (!this.csrAccess(vcpu, d.op, d.rd, d.rs1, d.imm)) return false;
        h.pc += 4;
        return true;
      default:
        return false;
    }
  }

  /** A Zicsr instruction on a supervisor CSR of the virtual state (rs1 is the immediate of the I forms). */
  private csrAccess(vcpu: Vcpu, op: Op, rd: number, rs1: number, csr: number): boolean {
    const h = vcpu.hart;
    const old = this.readCsr(vcpu, csr);
    if (old === undefined) return false;
    const immediate = op === Op.CSRRWI || op === Op.CSRRSI || op === Op.CSRRCI;
    const src = immediate ? BigInt(rs1) : h.getXBig(rs1);
    const set = op === Op.CSRRS || op === Op.CSRRSI, clear = op === Op.CSRRC || op === Op.CSRRCI;
    // CSRRS/CSRRC with rs1 = x0 (or a zero immediate) only read.
    if (!(set || clear) || rs1 !== 0) {
      if ((csr >>> 10) === 3) return false; // a read-only CSR
      const value = set ? old | src : clear ? old & ~src : src;
      this.writeCsr(vcpu, csr, value & MASK64);
    }
    this.count(`csr ${CSR_NAMES[csr] ?? csr.toString(16)}`);
    h.setXBig(rd, old);
    return true;
  }

  private sret(vcpu: Vcpu): void {
    const v = this.vs[vcpu.id];
    const h = vcpu.hart;
    const s = v.sstatus;
    v.priv = (s & Mstatus.SPP) !== 0 ? Priv.S : Priv.U;
    v.sstatus = leaveS(s);
    h.pc = Number(BigInt.asIntN(64, v.sepc));
    h.dropFetchPage();
    this.loadSatp(vcpu);
  }

  /** The value of supervisor CSR `csr`, or undefined when it does not exist for the guest. */
  protected readCsr(vcpu: Vcpu, csr: number): bigint | undefined {
    const v = this.vs[vcpu.id];
    switch (csr) {
      case Csr.SSTATUS: {
        const fs = vcpu.hart.csr.mstatus & Mstatus.FS;
        // UXL = 2 (64-bit, bits 33:32); SD summarizes FS = dirty (§4.1.1).
        return BigInt((v.sstatus | fs) >>> 0) | (2n << 32n) | (fs === Mstatus.FS ? 1n << 63n : 0n);
      }
      case Csr.SIE: return BigInt(v.sie);
      case Csr.SIP: return BigInt(v.sip);
      case Csr.STVEC: return v.stvec;
      case Csr.SCOUNTEREN: return v.scounteren;
      case Csr.SENVCFG: return v.senvcfg;
      case Csr.SSCRATCH: return v.sscratch;
      case Csr.SEPC: return v.sepc;
      case Csr.SCAUSE: return v.scause;
      case Csr.STVAL: return v.stval;
      case Csr.SATP: return BigInt(v.mode) << 60n | BigInt(v.root / 4096);
      // Sstc: the comparator is the vCPU's timer (the same one SBI set_timer programs).
      case Csr.STIMECMP: return vcpu.timerCompare;
      default: return undefined;
    }
  }

  /** Writes supervisor CSR `csr` with the WARL rules of privileged spec ch. 4. */
  protected writeCsr(vcpu: Vcpu, csr: number, value: bigint): void {
    const v = this.vs[vcpu.id];
    const h = vcpu.hart;
    const lo = Number(value & 0xffffffffn) | 0;
    switch (csr) {
      case Csr.SSTATUS: {
        const before = v.sstatus;
        v.sstatus = lo & SSTATUS_WRITABLE;
        h.csr.mstatus = (h.csr.mstatus & ~Mstatus.FS) | (lo & Mstatus.FS);
        // The shadows encode MXR in their permissions.
        if (((before ^ v.sstatus) & Mstatus.MXR) !== 0) this.shadow!.flushAll();
        this.loadSatp(vcpu);
        return;
      }
      case Csr.SIE: v.sie = lo & SIE_WRITABLE; return;
      case Csr.SIP: v.sip = (v.sip & ~(1 << VirtualIrq.Software)) | (lo & (1 << VirtualIrq.Software)); return;
      case Csr.STVEC: v.stvec = (value & 3n) >= 2n ? value & ~3n : value; return; // MODE 2, 3 reserved: direct
      case Csr.SCOUNTEREN: v.scounteren = value & 7n; this.loadSatp(vcpu); return;
      case Csr.SENVCFG: v.senvcfg = value & 1n; return; // FIOM only
      case Csr.SSCRATCH: v.sscratch = value; return;
      case Csr.SEPC: v.sepc = value & ~1n; return;
      case Csr.SCAUSE: v.scause = value; return;
      case Csr.STVAL: v.stval = value; return;
      case Csr.STIMECMP: vcpu.vm.setTimer(vcpu.id, value); return;
      case Csr.SATP: {
        // WARL: an unsupported MODE leaves satp unchanged (§4.1.11); ASIDLEN is 0. Sv39 and Sv48, as the hart has.
        const mode = Number(value >> 60n);
        if (mode !== AtpMode.Bare && mode !== AtpMode.Sv39 && mode !== AtpMode.Sv48) return;
        v.mode = mode as AtpMode;
        v.root = mode === AtpMode.Bare ? 0 : Number(value & ((1n << 44n) - 1n)) * 4096;
        // Like a hardware satp write, no flush: the guest fences when its tables changed.
        this.loadSatp(vcpu);
        return;
      }
    }
  }
}

const CSR_NAMES: Record<number, string> = {
  [Csr.SSTATUS]: 'sstatus', [Csr.SIE]: 'sie', [Csr.SIP]: 'sip', [Csr.STVEC]: 'stvec', [Csr.SCOUNTEREN]: 'scounteren',
  [Csr.SENVCFG]: 'senvcfg', [Csr.SSCRATCH]: 'sscratch', [Csr.SEPC]: 'sepc', [Csr.SCAUSE]: 'scause', [Csr.STVAL]: 'stval', [Csr.SATP]: 'satp',
  [Csr.STIMECMP]: 'stimecmp',
};
