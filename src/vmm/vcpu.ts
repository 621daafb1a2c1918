/**
 * A virtual CPU: one guest hart. Its architectural state is a hart context
 * on the host (see host.ts); the VMM adds what the guest's "firmware" would
 * hold — the SBI HSM state and the timer it programmed — and its counters.
 */
import type { Hart } from '../cpu/riscv/hart.js';
import { HartState } from './sbi.js';
import type { Vm } from './vm.js';

export interface VcpuStats {
  /** Exits to the VMM, in all and by cause name. */
  exits: number;
  exitsByCause: Record<string, number>;
  /** Device accesses the VMM emulated. */
  mmio: number;
  /** Time slices the vCPU ran, in all and on each host hart, and how often it was switched in after another context. */
  slices: number;
  slicesOn: Record<number, number>;
  switches: number;
  /** Interrupts the VMM made pending (timer, IPI, device). */
  injected: number;
}

export class Vcpu {
  state: HartState = HartState.Stopped;
  /** Idle in an emulated WFI until an interrupt is pending (under the deprivileged techniques). */
  idle = false;
  /** When the timer (SBI set_timer, or stimecmp under trap-and-emulate) fires, in timebase ticks (Infinity: not armed or fired). */
  timer = Infinity;
  /** The comparator value last programmed, as stimecmp reads it back. */
  timerCompare = (1n << 64n) - 1n;
  /** The host hart this vCPU runs on: fixed when pinned, else chosen by the scheduler. */
  hostHart: number;
  readonly stats: VcpuStats = { exits: 0, exitsByCause: {}, mmio: 0, slices: 0, slicesOn: {}, switches: 0, injected: 0 };

  /**
   * @param vm the VM it belongs to
   * @param id the guest's hart id
   * @param hart the vCPU's hart context
   * @param pinned the host hart it is bound to (`--pin`), if any
   */
  constructor(readonly vm: Vm, readonly id: number, readonly hart: Hart, readonly pinned: number | undefined) {
    this.hostHart = pinned ?? 0;
  }

  get running(): boolean {
    return this.state === HartState.Started;
  }

  /** Counts one exit. */
  countExit(name: string): void {
    this.stats.exits++;
    this.stats.exitsByCause[name] = (this.stats.exitsByCause[name] ?? 0) + 1;
  }
}
