/**
 * `bt`: binary translation of the guest kernel, in the manner of VMware's
 * original VMM. The guest runs deprivileged with shadow page tables, as
 * under `trap`, but its sensitive instructions never trap: the execution
 * engine hands each privileged instruction of the deprivileged kernel to
 * the VMM's emulation routine in place (Hart.privilegedHook), with no trap
 * entry, no exit from the run loop and no trap return: the JIT translates
 * each one as a call to the VMM (Jit.inlineVmmCalls, Hart.inlineVmmCall),
 * and the interpreter, for code not translated yet, makes the same call
 * where it would raise the illegal-instruction trap. Exits remain for what
 * needs the VMM anyway: hidden page faults that fill the shadow tables,
 * device accesses, SBI calls and the guest's own traps.
 */
import { Cause } from '../../cpu/riscv/constants.js';
import type { Vcpu } from '../vcpu.js';
import type { Vm } from '../vm.js';
import { TrapTechnique } from './trap.js';
import type { TechniqueName } from './technique.js';

export class BtTechnique extends TrapTechnique {
  override readonly name: TechniqueName = 'bt';

  override attach(vm: Vm): void {
    super.attach(vm);
    if (vm.host.jit !== undefined) vm.host.jit.inlineVmmCalls = true;
  }

  override start(vcpu: Vcpu, pc: number, a0: number, a1: number): void {
    super.start(vcpu, pc, a0, a1);
    vcpu.hart.privilegedHook = (raw) => this.inline(vcpu, raw);
  }

  /** The inline VMM call: emulates `raw` in place, or lets it trap (returns false) when it is the guest's own fault. */
  private inline(vcpu: Vcpu, raw: number): boolean {
    if (this.vs[vcpu.id].priv !== 0 && this.emulate(vcpu, raw)) {
      this.deliverInterrupt(vcpu);
      return true;
    }
    // Illegal for the guest too: reflect it without an exit, as the guest's own illegal-instruction trap.
    this.reflect(vcpu, Cause.IllegalInstruction, BigInt(raw >>> 0));
    return true;
  }
}
