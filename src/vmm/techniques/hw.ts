/**
 * `hw`: hardware-assisted virtualization with the RISC-V H extension
 * (privileged spec ch. 9), as KVM uses it.
 *
 * The guest kernel runs unmodified in VS-mode and its processes in VU-mode.
 * Its own page tables (vsatp, VS-stage) translate guest-virtual to
 * guest-physical addresses; the VMM's G-stage tables (hgatp) translate those
 * to host memory, and the hart walks both — nested paging, up to 15 memory
 * references for a TLB miss of Sv39 over Sv39x4. Its CSR accesses, SRET,
 * SFENCE.VMA and WFI act on the VS CSRs without leaving the guest; traps it
 * handles itself are delegated to VS by hedeleg/hideleg. Only these exit to
 * the VMM: ECALLs (SBI calls), guest-page faults (device accesses, as the
 * G-stage maps RAM only), virtual-instruction faults, and whatever else the
 * hardware routes to HS. Interrupts are injected without an exit, through
 * hvip (VSSIP, VSTIP, VSEIP), and the guest programs its own timer in
 * vstimecmp (Sstc), which raises VSTIP without the VMM.
 */
import { Cause, Csr, Irq, Mstatus, Priv, EXCEPTION_NAMES } from '../../cpu/riscv/constants.js';
import type { VmExit } from '../../cpu/riscv/hart.js';
import { GStageTables, type GStageMode, type GStagePageSize } from '../gstage.js';
import type { Vcpu } from '../vcpu.js';
import type { Vm } from '../vm.js';
import { VirtualIrq, type Technique } from './technique.js';

/** Exceptions a guest kernel handles itself (hedeleg): everything but ECALLs from VS, guest-page and access faults, virtual instructions. */
const GUEST_EXCEPTIONS = (1 << Cause.MisalignedFetch) | (1 << Cause.IllegalInstruction) | (1 << Cause.Breakpoint) |
  (1 << Cause.MisalignedLoad) | (1 << Cause.MisalignedStore) | (1 << Cause.EcallU) |
  (1 << Cause.FetchPageFault) | (1 << Cause.LoadPageFault) | (1 << Cause.StorePageFault);
/** The VS-level interrupts, delegated to the guest (hideleg). */
const VS_INTERRUPTS = (1 << Irq.VSSI) | (1 << Irq.VSTI) | (1 << Irq.VSEI);
/** cycle, time and instret readable without exits (mcounteren/hcounteren bits CY, TM, IR). */
const COUNTERS = 0b111;
/** menvcfg/henvcfg.STCE (bit 63, in the high word): Sstc on. */
const STCE = 1 << 31;

export interface HwOptions {
  /** The G-stage format: Sv39x4 (41-bit guest-physical addresses) or Sv48x4. */
  gstage?: GStageMode;
  /** Map guest RAM with 2 MiB G-stage megapages instead of 4 KiB pages. */
  hugePages?: boolean;
}

export class HwTechnique implements Technique {
  readonly name = 'hw' as const;
  readonly guestModifications = 'none';
  private tables: GStageTables | undefined;
  private readonly stats = { gstageTablePages: 0, deviceExits: 0, sbiExits: 0, reflected: 0 };

  constructor(private readonly options: HwOptions = {}) {}

  attach(vm: Vm): void {
    const t = new GStageTables(vm.host, this.options.gstage ?? 'sv39x4');
    const page: GStagePageSize = this.options.hugePages === true ? 0x200000 : 4096;
    t.map(vm.memory.base, vm.memory.hostBase, vm.memory.size, page);
    this.tables = t;
    this.stats.gstageTablePages = t.tablePages;
  }

  detach(): void {
    this.tables?.release();
    this.tables = undefined;
  }

  start(vcpu: Vcpu, pc: number, a0: number, a1: number): void {
    const h = vcpu.hart;
    const c = h.csr;
    h.reset(pc);
    // What the VMM, as the hypervisor in HS-mode, sets up before entering the guest.
    c.write(Csr.MEDELEG, GUEST_EXCEPTIONS, 0);
    c.write(Csr.HEDELEG, GUEST_EXCEPTIONS, 0);
    c.write(Csr.HIDELEG, VS_INTERRUPTS, 0);
    c.write(Csr.MCOUNTEREN, COUNTERS, 0);
    c.write(Csr.HCOUNTEREN, COUNTERS, 0);
    // Sstc for the guest: its stimecmp is vstimecmp, compared with time + htimedelta, raising VSTIP without an exit.
    c.write(Csr.MENVCFG, 0, STCE);
    c.write(Csr.HENVCFG, 0, STCE);
    const hgatp = this.tables!.hgatp();
    c.write(Csr.HGATP, hgatp.lo, hgatp.hi);
    // The FPU on for the guest: vsstatus.FS is the guest's own switch.
    c.mstatus |= Mstatus.FS;
    h.setX(10, a0);
    h.setX(11, a1);
    h.pc = pc;
    h.setMode(Priv.S, true);
  }

  setInterrupt(vcpu: Vcpu, irq: VirtualIrq, level: boolean): void {
    // The VS-level bit is the supervisor bit shifted left by one (§9.2.3: VSSIP = 2, VSTIP = 6, VSEIP = 10).
    const bit = 1 << (irq + 1);
    const c = vcpu.hart.csr;
    const hvip = level ? c.hvip | bit : c.hvip & ~bit;
    if (hvip !== c.hvip) c.write(Csr.HVIP, hvip, 0);
  }

  enter(): void {
    // Nothing: pending interrupts are already in hvip, and the hart takes them itself.
  }

  handleExit(vcpu: Vcpu, exit: VmExit): void {
    const vm = vcpu.vm;
    vcpu.countExit(exit.interrupt ? `interrupt ${exit.cause}` : EXCEPTION_NAMES[exit.cause] ?? `cause ${exit.cause}`);
    if (exit.interrupt) return; // an HS-level interrupt: the VMM has nothing on the host that raises one
    switch (exit.cause) {
      case Cause.EcallVS:
        this.stats.sbiExits++;
        vm.sbiCall(vcpu);
        return;
      case Cause.LoadGuestPageFault:
      case Cause.StoreGuestPageFault:
        // Not a pseudoinstruction (the guest's page tables point outside its RAM): the instruction's own access.
        if (!isPseudoinstruction(exit.htinst) && vm.deviceAccess(vcpu, exit.gpa)) { this.stats.deviceExits++; return; }
        this.reflect(vcpu, exit.cause === Cause.LoadGuestPageFault ? Cause.LoadAccess : Cause.StoreAccess, exit.tval);
        return;
      case Cause.FetchGuestPageFault:
        this.reflect(vcpu, Cause.FetchAccess, exit.tval);
        return;
      case Cause.VirtualInstruction:
        // An instruction the guest may not execute in VS/VU-mode: to the guest it is illegal.
        this.reflect(vcpu, Cause.IllegalInstruction, exit.tval);
        return;
      default:
        this.reflect(vcpu, exit.cause, exit.tval);
    }
  }

  private reflect(vcpu: Vcpu, cause: number, tval: number): void {
    this.stats.reflected++;
    vcpu.hart.reflectToVs(cause, tval);
  }

  flushTlb(vcpu: Vcpu): void {
    vcpu.hart.mmu.flushAll();
    vcpu.hart.dropFetchPage();
  }

  counters(): Record<string, number> {
    return { ...this.stats };
  }
}

/** An htinst pseudoinstruction (§9.6.3): the fault was on an implicit access for VS-stage translation. */
function isPseudoinstruction(htinst: number): boolean {
  return htinst !== 0 && (htinst & 3) === 0;
}
