/**
 * A virtualization technique: the strategy the vCPU loop follows. It decides
 * how the guest is deprivileged and how its memory is translated, which
 * guest events become exits to the VMM, and how each exit is handled. The
 * loop itself (the scheduler in vmm.ts) and the services every technique
 * shares (SBI, device emulation, the VM's devices) do not change between
 * techniques.
 */
import type { VmExit } from '../../cpu/riscv/hart.js';
import type { Vcpu } from '../vcpu.js';
import type { Vm } from '../vm.js';

export const TECHNIQUES = ['hw', 'trap', 'bt', 'pv'] as const;
export type TechniqueName = typeof TECHNIQUES[number];

/** The supervisor interrupts a VMM makes pending on a vCPU (sip bit numbers, privileged spec §4.1.3). */
export const enum VirtualIrq {
  Software = 1,
  Timer = 5,
  External = 9,
}

export interface Technique {
  readonly name: TechniqueName;
  /** What the guest must change to run this way, for the comparison table. */
  readonly guestModifications: string;
  /** Once per VM, before any vCPU starts: builds what the technique needs (page tables). */
  attach(vm: Vm): void;
  /** Returns what {@link attach} took from the host. */
  detach(vm: Vm): void;
  /**
   * Starts `vcpu` as the boot protocol (and SBI HSM hart_start) wants it:
   * guest S-mode at `pc`, a0 and a1 set, translation off, interrupts off.
   */
  start(vcpu: Vcpu, pc: number, a0: number, a1: number): void;
  /** Makes a virtual interrupt pending or not pending on `vcpu`. */
  setInterrupt(vcpu: Vcpu, irq: VirtualIrq, level: boolean): void;
  /** Before each time slice: whatever must happen before the guest runs (deliver a pending interrupt). */
  enter(vcpu: Vcpu): void;
  /** Handles the exit the vCPU stopped with; the pc must be left where the guest resumes. */
  handleExit(vcpu: Vcpu, exit: VmExit): void;
  /** A remote SFENCE.VMA for `vcpu` (SBI RFENCE): drop its cached translations. */
  flushTlb(vcpu: Vcpu): void;
  /** Technique-specific counters (shadow fills, emulated instructions...). */
  counters(): Record<string, number>;
}
