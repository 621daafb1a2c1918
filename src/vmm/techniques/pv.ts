/**
 * `pv`: paravirtualization, in the manner of Xen's PV guests. The guest
 * kernel runs deprivileged in the host hart's U-mode with shadow page
 * tables, as under `trap`, but it knows it is virtualized: instead of
 * privileged instructions, each of which would trap and be emulated, it
 * makes hypercalls — the TSVI SBI extension of docs/pv-abi.md — and keeps
 * its interrupt flag in a page it shares with the VMM, so that masking and
 * unmasking interrupts costs a store rather than an exit. Page-table updates
 * come in batches (MMU_UPDATE) that carry the virtual address each entry
 * maps, so the VMM keeps its shadows exact without a fence per page.
 *
 * Traps the guest kernel takes (its processes' system calls and faults, its
 * own page faults, interrupts) are delivered through the shared page rather
 * than through virtual sepc/scause/stval/sstatus, and it returns from them
 * with the TRAP_RETURN hypercall. A privileged instruction, which a pv
 * kernel is not supposed to execute, is delivered to it as an
 * illegal-instruction trap. Every standard SBI call works as under the
 * other techniques.
 *
 * A vCPU becomes paravirtual when its kernel registers a shared page
 * (SET_SHARED). Until then — and for a kernel with no TSVI port at all, such
 * as Linux, whose paravirtual paths are SBI and virtio — it runs as under
 * `trap`: its privileged instructions are emulated and its traps delivered
 * to its stvec.
 *
 * Everything the guest passes is validated: a bad address or value is an
 * SBI error (docs/pv-abi.md), never an exception in the VMM.
 */
import { Cause, Csr, EXCEPTION_NAMES, Priv } from '../../cpu/riscv/constants.js';
import { highestPriority, type Hart, type VmExit } from '../../cpu/riscv/hart.js';
import type { RamWindow } from '../../memory/ram-window.js';
import { SbiError, SbiExt } from '../sbi.js';
import { AtpMode, walkGuestTables } from '../shadow.js';
import { Pte, ptePpn } from '../../cpu/riscv/pte.js';
import type { Vcpu } from '../vcpu.js';
import type { Vm } from '../vm.js';
import { VirtualIrq, type TechniqueName } from './technique.js';
import { TrapTechnique } from './trap.js';

/** The TSVI extension's ID: SBI v2.0 §3 reserves 0x0A000000–0x0AFFFFFF for the implementation; the low bytes spell "TSV". */
export const TSVI_EXT = 0x0a545356;

/** TSVI function IDs (docs/pv-abi.md, "The TSVI extension"). */
export const enum TsviFn {
  Version = 0,
  SetShared = 1,
  SetTrapVector = 2,
  MmuUpdate = 3,
  SetPtbr = 4,
  TrapReturn = 5,
  IrqEnable = 6,
  Idle = 7,
  FlushTlb = 8,
}

/** The TSVI version this VMM implements. */
export const TSVI_VERSION = 1;
/** The most entries one MMU_UPDATE applies. */
export const MMU_UPDATE_MAX = 512;

const FN_NAMES = ['VERSION', 'SET_SHARED', 'SET_TRAP_VECTOR', 'MMU_UPDATE', 'SET_PTBR', 'TRAP_RETURN', 'IRQ_ENABLE', 'IDLE', 'FLUSH_TLB'];

/** Byte offsets in the shared page (docs/pv-abi.md, "The shared page"). */
const enum Shared {
  Cause = 0,
  Tval = 8,
  Epc = 16,
  FromKernel = 24,
  Sp = 32,
  KernelSp = 40,
  /** The word holding irq_enabled (byte 48), irq_pending (49) and irq_prev (50). */
  IrqWord = 48,
  A0 = 56,
  A1 = 64,
  A6 = 72,
  A7 = 80,
}

/** Where irq_enabled, irq_pending and irq_prev sit in the word at {@link Shared.IrqWord}. */
const IRQ_PENDING_SHIFT = 8;
const IRQ_PREV_SHIFT = 16;

const PAGE = 4096;
const ENTRY_BYTES = 24;
const MASK64 = (1n << 64n) - 1n;
const SBI_PROBE_EXTENSION = 3;
/** Every supervisor interrupt: a pv kernel has no sie to write; it takes what the VMM raises. */
const ALL_INTERRUPTS = (1 << VirtualIrq.Software) | (1 << VirtualIrq.Timer) | (1 << VirtualIrq.External);

/** What one vCPU registered with the TSVI calls. */
interface PvVcpu {
  /** Guest-physical address of the shared page (SET_SHARED). */
  shared: number | undefined;
  /** Guest-virtual address of the trap entry (SET_TRAP_VECTOR). */
  vector: number | undefined;
}

interface HypercallResult {
  error: SbiError;
  value: number;
}

const ok = (value = 0): HypercallResult => ({ error: SbiError.Success, value });
const fail = (error: SbiError): HypercallResult => ({ error, value: 0 });

/** A 64-bit guest value as a guest-physical address, or -1 when it cannot be one (beyond 2^53). */
function gpaOf(v: bigint): number {
  return v < 2n ** 53n ? Number(v) : -1;
}

/** A 64-bit guest value as a (sign-extended) virtual address. */
function vaOf(v: bigint): number {
  return Number(BigInt.asIntN(64, v));
}



export class PvTechnique extends TrapTechnique {
  override readonly name: TechniqueName = 'pv';
  override readonly guestModifications: string = 'kernel uses hypercalls (tsvisor pv ABI)';
  private pv: PvVcpu[] = [];
  private readonly hypercalls: Record<string, number> = {};
  private readonly pvStats = { mmuEntries: 0, mmuPageFlushes: 0, mmuFullFlushes: 0, undeliverable: 0 };
  /** Why the guest was stopped, when it took a trap it had registered no way to receive. */
  guestError: string | undefined;

  override attach(vm: Vm): void {
    super.attach(vm);
    this.pv = vm.vcpus.map(() => ({ shared: undefined, vector: undefined }));
  }

  override start(vcpu: Vcpu, pc: number, a0: number, a1: number): void {
    super.start(vcpu, pc, a0, a1);
    this.pv[vcpu.id] = { shared: undefined, vector: undefined };
  }

  /** True once the vCPU's kernel registered its shared page: from then on it is a pv kernel. */
  private paravirtual(vcpu: Vcpu): boolean {
    return this.pv[vcpu.id].shared !== undefined;
  }

  override handleExit(vcpu: Vcpu, exit: VmExit): void {
    if (exit.interrupt || exit.cause !== Cause.EcallU || this.vs[vcpu.id].priv !== Priv.S) {
      super.handleExit(vcpu, exit);
      return;
    }
    // An ECALL of the guest kernel: a hypercall, or a standard SBI call.
    vcpu.countExit(EXCEPTION_NAMES[exit.cause]);
    const h = vcpu.hart;
    const eid = h.xl[17] >>> 0;
    if (eid === TSVI_EXT) {
      this.hypercall(vcpu);
    } else {
      this.stats.sbiCalls++;
      const probesTsvi = eid === SbiExt.Base && (h.xl[16] >>> 0) === SBI_PROBE_EXTENSION && h.getXBig(10) === BigInt(TSVI_EXT);
      vcpu.vm.sbiCall(vcpu);
      // The SBI service knows the standard extensions; this one is the technique's own.
      if (probesTsvi) h.setX(11, 1);
    }
    this.deliverInterrupt(vcpu);
  }

  override counters(): Record<string, number> {
    const out = super.counters();
    let total = 0;
    for (const [name, n] of Object.entries(this.hypercalls)) { out[`hypercall ${name}`] = n; total += n; }
    out.hypercalls = total;
    out.mmuUpdateEntries = this.pvStats.mmuEntries;
    out.mmuUpdatePageFlushes = this.pvStats.mmuPageFlushes;
    out.mmuUpdateFullFlushes = this.pvStats.mmuFullFlushes;
    out.undeliverableTraps = this.pvStats.undeliverable;
    return out;
  }

  /**
   * A pv kernel executes no privileged instruction: each one is the guest's
   * illegal instruction. A kernel that is not paravirtual (yet) gets them
   * emulated, as under `trap`.
   */
  protected override emulate(vcpu: Vcpu, raw: number): boolean {
    return !this.paravirtual(vcpu) && super.emulate(vcpu, raw);
  }

  // ------------------------------------------------------------ trap delivery

  /**
   * Trap delivery of docs/pv-abi.md: cause, tval, epc, from_kernel, sp,
   * irq_prev and a0/a1/a6/a7 into the shared page, irq_enabled = 0, sp =
   * kernel_sp from user mode, kernel mode, and the jump to the trap vector.
   */
  protected override reflect(vcpu: Vcpu, cause: number, tval: bigint, interrupt = false): void {
    const v = this.vs[vcpu.id];
    const h = vcpu.hart;
    const { shared, vector } = this.pv[vcpu.id];
    // Not paravirtual: the trap entry of the architecture, to the guest's stvec.
    if (shared === undefined) { super.reflect(vcpu, cause, tval, interrupt); return; }
    if (vector === undefined) {
      this.undeliverable(vcpu, cause, interrupt);
      return;
    }
    if (interrupt) this.stats.interruptsDelivered++; else this.stats.reflected++;
    const mem = vcpu.vm.memory;
    // Number-only on this path (a trap per system call): no BigInt garbage.
    mem.writeU32(shared + Shared.Cause, cause);
    mem.writeU32(shared + Shared.Cause + 4, interrupt ? 0x80000000 : 0);
    if (tval === 0n) writeNumber64(mem, shared + Shared.Tval, 0); else writeU64(mem, shared + Shared.Tval, tval & MASK64);
    writeNumber64(mem, shared + Shared.Epc, h.pc);
    writeNumber64(mem, shared + Shared.FromKernel, v.priv === Priv.S ? 1 : 0);
    saveRegister(mem, shared + Shared.Sp, h, 2);
    saveRegister(mem, shared + Shared.A0, h, 10);
    saveRegister(mem, shared + Shared.A1, h, 11);
    saveRegister(mem, shared + Shared.A6, h, 16);
    saveRegister(mem, shared + Shared.A7, h, 17);
    // irq_prev = irq_enabled, irq_enabled = 0; an interrupt delivered is no longer held back.
    const w = mem.readU32(shared + Shared.IrqWord);
    const keep = interrupt ? 0xff000000 : 0xff00ff00;
    mem.writeU32(shared + Shared.IrqWord, (w & keep) | ((w & 0xff) << IRQ_PREV_SHIFT));
    if (v.priv === Priv.U) {
      h.xl[2] = mem.readU32(shared + Shared.KernelSp) | 0;
      h.xh[2] = mem.readU32(shared + Shared.KernelSp + 4) | 0;
    }
    v.priv = Priv.S;
    h.pc = vector;
    h.dropFetchPage();
    this.loadSatp(vcpu);
  }

  /**
   * Delivers the highest-priority pending interrupt if the guest takes it
   * now: always in user mode; in kernel mode when irq_enabled is set, else
   * the VMM holds it back and says so in irq_pending.
   */
  protected override deliverInterrupt(vcpu: Vcpu): void {
    const v = this.vs[vcpu.id];
    const { shared } = this.pv[vcpu.id];
    if (shared === undefined) { super.deliverInterrupt(vcpu); return; } // sie and sstatus.SIE decide, as under trap
    const mem = vcpu.vm.memory;
    const pending = v.sip & v.sie;
    const w = mem.readU32(shared + Shared.IrqWord);
    const heldBack = (w >>> IRQ_PENDING_SHIFT) & 0xff;
    if (pending === 0) {
      if (heldBack !== 0) mem.writeU32(shared + Shared.IrqWord, w & ~(0xff << IRQ_PENDING_SHIFT));
      return;
    }
    if (v.priv === Priv.S && (w & 0xff) === 0) {
      if (heldBack !== 1) mem.writeU32(shared + Shared.IrqWord, (w & ~(0xff << IRQ_PENDING_SHIFT)) | (1 << IRQ_PENDING_SHIFT));
      return;
    }
    const irq = highestPriority(pending);
    vcpu.idle = false;
    this.reflect(vcpu, irq, 0n, true);
  }

  /** A pv kernel took a trap before registering its trap vector: it cannot go on. */
  private undeliverable(vcpu: Vcpu, cause: number, interrupt: boolean): void {
    this.pvStats.undeliverable++;
    const what = interrupt ? `interrupt ${cause}` : EXCEPTION_NAMES[cause] ?? `exception ${cause}`;
    this.guestError = `vCPU ${vcpu.id}: ${what} at pc 0x${BigInt.asUintN(64, BigInt(vcpu.hart.pc)).toString(16)} after SET_SHARED but before SET_TRAP_VECTOR`;
    vcpu.vm.powerOff(1);
  }

  // ------------------------------------------------------------ hypercalls

  /** Carries out the TSVI call in a6 with the arguments in a0/a1; resumes after the ECALL unless it does not return. */
  private hypercall(vcpu: Vcpu): void {
    const h = vcpu.hart;
    const fid = h.xl[16] >>> 0;
    const name = FN_NAMES[fid] ?? 'unknown';
    this.hypercalls[name] = (this.hypercalls[name] ?? 0) + 1;
    let r: HypercallResult;
    switch (fid) {
      case TsviFn.Version: r = ok(TSVI_VERSION); break;
      case TsviFn.SetShared: r = this.setShared(vcpu, h.getXBig(10)); break;
      case TsviFn.SetTrapVector:
        // A direct-mode vector, as stvec's BASE: 4-byte aligned.
        if ((h.xl[10] & 3) !== 0) { r = fail(SbiError.InvalidParam); break; }
        this.pv[vcpu.id].vector = vaOf(h.getXBig(10));
        r = ok();
        break;
      case TsviFn.MmuUpdate: r = this.mmuUpdate(vcpu, h.getXBig(10), h.getXBig(11)); break;
      case TsviFn.SetPtbr: r = this.setPtbr(vcpu, h.getXBig(10)); break;
      case TsviFn.TrapReturn:
        r = this.trapReturn(vcpu);
        if (r.error === SbiError.Success) return; // resumed where the shared page said
        break;
      case TsviFn.IrqEnable:
        // The interrupt, if one is pending, is delivered after the call (handleExit's deliverInterrupt).
        r = ok();
        break;
      case TsviFn.Idle:
        r = ok();
        // As WFI: returns at once when an interrupt is pending, masked or not; else the vCPU sleeps until one is.
        if ((this.vs[vcpu.id].sip & this.vs[vcpu.id].sie) === 0) { vcpu.idle = true; h.requestStop(); }
        break;
      case TsviFn.FlushTlb: r = this.flushTlbCall(vcpu, h.getXBig(10)); break;
      default: r = fail(SbiError.NotSupported);
    }
    h.setX(10, r.error);
    h.setX(11, r.value);
    h.pc += 4;
  }

  private setShared(vcpu: Vcpu, a0: bigint): HypercallResult {
    if ((a0 & BigInt(PAGE - 1)) !== 0n) return fail(SbiError.InvalidParam);
    const gpa = gpaOf(a0);
    if (!vcpu.vm.memory.contains(gpa, PAGE)) return fail(SbiError.InvalidAddress);
    this.pv[vcpu.id].shared = gpa;
    // A pv kernel has no sie: every supervisor interrupt is taken, masked only by irq_enabled.
    this.vs[vcpu.id].sie = ALL_INTERRUPTS;
    return ok();
  }

  /** TRAP_RETURN: pc, mode, a0, a1, a6, a7 and irq_enabled from the shared page. */
  private trapReturn(vcpu: Vcpu): HypercallResult {
    const { shared } = this.pv[vcpu.id];
    if (shared === undefined) return fail(SbiError.InvalidParam);
    const mem = vcpu.vm.memory;
    const fromKernel = mem.readU32(shared + Shared.FromKernel);
    if (fromKernel > 1 || mem.readU32(shared + Shared.FromKernel + 4) !== 0) return fail(SbiError.InvalidParam);
    const h = vcpu.hart;
    const v = this.vs[vcpu.id];
    loadRegister(mem, shared + Shared.A0, h, 10);
    loadRegister(mem, shared + Shared.A1, h, 11);
    loadRegister(mem, shared + Shared.A6, h, 16);
    loadRegister(mem, shared + Shared.A7, h, 17);
    const w = mem.readU32(shared + Shared.IrqWord);
    mem.writeU32(shared + Shared.IrqWord, (w & ~0xff) | ((w >>> IRQ_PREV_SHIFT) & 0xff));
    v.priv = fromKernel === 1 ? Priv.S : Priv.U;
    // epc as sepc holds it: bit 0 clear (IALIGN 16), sign-extended.
    h.pc = (mem.readU32(shared + Shared.Epc + 4) | 0) * 2 ** 32 + ((mem.readU32(shared + Shared.Epc) & ~1) >>> 0);
    h.dropFetchPage();
    this.loadSatp(vcpu);
    return ok();
  }

  /** SET_PTBR: switches the shadow context, as a satp write does under `trap`; no flush. */
  private setPtbr(vcpu: Vcpu, satp: bigint): HypercallResult {
    const mode = Number(satp >> 60n);
    // The modes a satp write accepts under `trap` (the hart's: Sv39 and Sv48); a mode it would ignore is an error here.
    if (mode !== AtpMode.Bare && mode !== AtpMode.Sv39 && mode !== AtpMode.Sv48) return fail(SbiError.InvalidParam);
    if (mode !== AtpMode.Bare && !vcpu.vm.memory.contains(Number(satp & ((1n << 44n) - 1n)) * PAGE, PAGE)) return fail(SbiError.InvalidAddress);
    this.writeCsr(vcpu, Csr.SATP, satp);
    return ok();
  }

  /**
   * MMU_UPDATE: checks every entry, then writes them in order, dropping
   * what the shadows and the vCPUs' TLBs derived from each valid entry it
   * replaces — the page at va for a 4 KiB leaf, everything when the entry
   * covers more (a superpage or a table) or va is unknown.
   */
  private mmuUpdate(vcpu: Vcpu, list: bigint, count: bigint): HypercallResult {
    if (count > BigInt(MMU_UPDATE_MAX)) return fail(SbiError.InvalidParam);
    const n = Number(count);
    if (n === 0) return ok(0);
    const mem = vcpu.vm.memory;
    const at = gpaOf(list);
    if (!mem.contains(at, n * ENTRY_BYTES)) return fail(SbiError.InvalidAddress);
    // Read (a copy: the list may lie in a table page the batch updates) and check every entry first.
    const words = new Uint32Array(n * 6);
    for (let i = 0; i < words.length; i++) words[i] = mem.readU32(at + i * 4);
    for (let i = 0; i < n; i++) {
      const [pteLo, pteHi, lo, hi] = words.subarray(i * 6, i * 6 + 4);
      if (pteHi !== 0 || pteLo % 8 !== 0 || !mem.contains(pteLo, 8)) return fail(SbiError.InvalidAddress);
      // A valid leaf must map RAM. (Its level is unknown here, so the 4 KiB frame at its PPN is what is checked.)
      if ((lo & Pte.V) !== 0 && (lo & (Pte.R | Pte.W | Pte.X)) !== 0 && !mem.contains(ptePpn(lo, hi) * PAGE, PAGE)) return fail(SbiError.InvalidAddress);
    }
    let flushAll = false;
    for (let i = 0; i < n; i++) {
      const [pte, , lo, hi, vaLo, vaHi] = words.subarray(i * 6, i * 6 + 6);
      const oldLo = mem.readU32(pte), oldHi = mem.readU32(pte + 4);
      // What the shadows derived from a valid old entry goes. The level is
      // found on the walk before the write: the shadows were made from the old tables.
      let scope: 'none' | 'page' | 'all' = 'none';
      let va = 0;
      if ((oldLo & Pte.V) !== 0) {
        const unknownVa = vaLo === 0xffffffff && vaHi === 0xffffffff;
        va = unknownVa ? 0 : vaOf(BigInt(vaHi) << 32n | BigInt(vaLo));
        if (unknownVa || (oldLo & (Pte.R | Pte.W | Pte.X)) === 0) scope = 'all'; // va unknown, or a table: all it covered
        else if (ptePpn(oldLo, oldHi) % 512 !== 0) scope = 'page'; // a 4 KiB leaf: as a superpage it would be misaligned
        else scope = this.levelOnPath(vcpu, va, pte) === 0 ? 'page' : 'all';
      }
      mem.writeU32(pte, lo);
      mem.writeU32(pte + 4, hi);
      if (scope === 'page') { this.flushPageEverywhere(vcpu.vm, va); this.pvStats.mmuPageFlushes++; }
      if (scope === 'all') flushAll = true;
    }
    this.pvStats.mmuEntries += n;
    if (flushAll) {
      this.pvStats.mmuFullFlushes++;
      this.shadow!.flushAll();
      this.loadSatp(vcpu); // the other vCPUs reload theirs when they next enter (a new shadow generation)
    }
    return ok(n);
  }

  /**
   * FLUSH_TLB: makes plain stores to the entries mapping `va` (all of them
   * with -1) take effect. The shadows hold 4 KiB pages, so a superpage
   * mapping va is dropped whole, with everything else.
   */
  private flushTlbCall(vcpu: Vcpu, a0: bigint): HypercallResult {
    if (a0 === MASK64) {
      this.shadow!.flushAll();
      this.loadSatp(vcpu);
      return ok();
    }
    const va = vaOf(a0);
    if (this.leafLevel(vcpu, va) > 0) { this.shadow!.flushAll(); this.loadSatp(vcpu); } else this.flushPageEverywhere(vcpu.vm, va);
    return ok();
  }

  /** Drops the page at `va` from the shadows and from every vCPU's TLB. */
  private flushPageEverywhere(vm: Vm, va: number): void {
    this.shadow!.flushPage(va);
    for (const c of vm.vcpus) c.hart.mmu.flushPage(va);
  }

  /**
   * The level at which the walk of `va` in the vCPU's current address space
   * reads the entry at `pteGpa`, or -1 when it does not (another address
   * space's entry, or one not live).
   */
  private levelOnPath(vcpu: Vcpu, va: number, pteGpa: number): number {
    let found = -1;
    this.walkCurrent(vcpu, va, (at, level) => { if (at === pteGpa) found = level; return at !== pteGpa; });
    return found;
  }

  /** The level where the walk of `va` in the vCPU's current address space ends (a leaf or an invalid entry); 0 in Bare mode. */
  private leafLevel(vcpu: Vcpu, va: number): number {
    let last = 0;
    this.walkCurrent(vcpu, va, (_at, level) => { last = level; return true; });
    return last;
  }

  /** Visits the entries the walk of `va` reads in the vCPU's current address space (none in Bare mode). */
  private walkCurrent(vcpu: Vcpu, va: number, visit: (at: number, level: number) => boolean): void {
    const v = this.vs[vcpu.id];
    if (v.mode !== AtpMode.Bare) walkGuestTables(vcpu.vm.memory, v.mode, v.root, va, (at, _lo, _hi, level) => visit(at, level));
  }
}

function writeU64(mem: RamWindow, gpa: number, v: bigint): void {
  mem.writeU32(gpa, Number(v & 0xffffffffn));
  mem.writeU32(gpa + 4, Number((v >> 32n) & 0xffffffffn));
}

/** Writes `v`, an integer of at most 53 bits (negative ones sign-extended), as a 64-bit value at `gpa`. */
function writeNumber64(mem: RamWindow, gpa: number, v: number): void {
  const hi = Math.floor(v / 2 ** 32);
  mem.writeU32(gpa, v - hi * 2 ** 32);
  mem.writeU32(gpa + 4, hi | 0);
}

/** Stores register x`i` of the hart at `gpa`, as its two 32-bit halves. */
function saveRegister(mem: RamWindow, gpa: number, h: Hart, i: number): void {
  mem.writeU32(gpa, h.xl[i]);
  mem.writeU32(gpa + 4, h.xh[i]);
}

function loadRegister(mem: RamWindow, gpa: number, h: Hart, i: number): void {
  h.xl[i] = mem.readU32(gpa) | 0;
  h.xh[i] = mem.readU32(gpa + 4) | 0;
}
