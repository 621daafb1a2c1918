/**
 * A virtual machine: a range of host memory mapped as its RAM, its own
 * `virt` devices, its vCPUs, and the technique that runs them. The VMM
 * plays the role firmware plays on the bare board: it loads the kernel,
 * builds the device tree, starts the boot vCPU in S-mode with the Linux
 * boot protocol (a0 = hart id, a1 = device tree), and answers the guest's
 * SBI calls.
 *
 * Everything the guest can do reaches the VMM as data — an SBI call's
 * arguments, a device access, a fault — and a bad value becomes an SBI error
 * or a fault delivered to the guest, never an exception in the host. A fault
 * in tsvisor itself stops this VM (exit code 70) and leaves the others running.
 */
import type { VmExit } from '../cpu/riscv/hart.js';
import { MipBit, type HartInterruptPins } from '../devices/device.js';
import type { CharBackend } from '../backends/char-backend.js';
import { RamWindow } from '../memory/ram-window.js';
import { VirtDevices, VirtMap, type DeviceOptions } from '../machine/virt-devices.js';
import { buildVirtFdt } from '../machine/virt-fdt.js';
import { sumHartCounters, type MachineTotals } from '../machine/virt.js';
import { BootError, fdtAddress, initrdStart, loadImageFile, readImage } from '../machine/loader.js';
import { emulateMmio, type MmioAccessor } from './mmio-exit.js';
import { HartState, SbiError, SbiService, type SbiHost } from './sbi.js';
import { Vcpu } from './vcpu.js';
import type { HostMachine } from './host.js';
import { VirtualIrq, type Technique } from './techniques/technique.js';

/**
 * The ISA a VM's harts advertise: RV64GC with Sstc, without H (no nested
 * virtualization). Under `hw` the guest's stimecmp is the hart's vstimecmp;
 * under the deprivileged techniques the VMM emulates it.
 */
export const GUEST_ISA = 'rv64imafdc_zicntr_zicsr_zifencei_sstc';
/** Where the kernel goes: 2 MiB into RAM, as QEMU places it after firmware (a Linux RV64 Image needs 2 MiB alignment). */
const KERNEL_OFFSET = 0x200000;

export interface VmOptions extends DeviceOptions {
  /** For messages and statistics. */
  name?: string;
  /** Guest RAM in bytes. */
  memory: number;
  vcpus: number;
  /** Kernel image (ELF, or a raw image such as Linux's `Image`), entered in S-mode. */
  kernel: string;
  initrd?: string;
  append?: string;
  /** Translation modes the vCPUs advertise (mmu-type). */
  mmu?: 'sv39' | 'sv48';
  /** The host hart of each vCPU (`--pin`); unpinned vCPUs go where the scheduler puts them. */
  pin?: number[];
}

export interface VmStats {
  /** Guest-requested reboots carried out. */
  resets: number;
}

const MASK64 = (1n << 64n) - 1n;

export class Vm implements SbiHost {
  readonly name: string;
  /** The VM's RAM: host memory seen at its guest-physical addresses. */
  readonly memory: RamWindow;
  readonly devices: VirtDevices;
  readonly vcpus: Vcpu[] = [];
  readonly sbi: SbiService;
  readonly stats: VmStats = { resets: 0 };
  /** Set when the guest powers off (its exit code). */
  exitCode: number | undefined;
  /** Set when this VM was stopped because of an internal error in tsvisor (exit code 70). */
  internalError: string | undefined;
  /** Set by the scheduler: called when something may make an idle vCPU runnable. */
  wake: () => void = () => {};
  private resetRequested = false;
  private isClosed = false;
  private flushed = false;
  private readonly console: CharBackend;

  constructor(readonly host: HostMachine, readonly options: VmOptions, readonly technique: Technique) {
    const { memory, vcpus } = options;
    this.name = options.name ?? 'vm';
    if (!Number.isInteger(vcpus) || vcpus < 1 || vcpus > 64) throw new BootError(`${this.name}: invalid number of vCPUs ${vcpus}: use 1 to 64`);
    if (memory < 16 * 1048576 || memory % 0x200000 !== 0) throw new BootError(`${this.name}: guest memory must be a multiple of 2 MiB, at least 16 MiB`);
    for (const p of options.pin ?? []) {
      if (!Number.isInteger(p) || p < 0 || p >= host.harts) throw new BootError(`${this.name}: cannot pin to host hart ${p}: the host has harts 0 to ${host.harts - 1}`);
    }
    this.console = options.console;
    // 2 MiB-aligned host memory, so G-stage tables may map it with megapages.
    const hostBase = host.allocate(memory, 0x200000);
    this.memory = new RamWindow(host.ram, VirtMap.dram.base, memory, hostBase);
    const pins: HartInterruptPins = {
      set: (hart: number, bit: MipBit, level: boolean) => {
        // Only the supervisor external interrupt reaches a guest kernel; the
        // CLINT's and the PLIC's machine-level outputs have no M-mode to go to.
        const v = this.vcpus[hart];
        if (v === undefined || bit !== MipBit.SEIP) return;
        this.interrupt(v, VirtualIrq.External, level);
      },
    };
    try {
      this.devices = new VirtDevices(options, this.memory, vcpus, host.clock, pins, {
        powerOff: (code: number) => this.powerOff(code),
        reset: () => this.requestReset(),
        wake: () => this.wake(),
      });
    } catch (e) {
      host.release(hostBase, memory);
      throw e;
    }
    this.sbi = new SbiService(this);
    for (let i = 0; i < vcpus; i++) this.vcpus.push(new Vcpu(this, i, host.createContext(), options.pin?.[i]));
    for (const v of this.vcpus) v.hart.vmmExits = true;
    try {
      technique.attach(this);
      this.boot();
    } catch (e) {
      this.close();
      throw e;
    }
  }

  /** Loads the kernel, initrd and device tree, and starts vCPU 0 at the kernel's entry. */
  private boot(): void {
    const o = this.options;
    const mem = this.memory;
    const kernelStart = mem.base + KERNEL_OFFSET;
    const k = loadImageFile(mem, o.kernel, kernelStart, 'kernel');
    let initrd: { start: number; end: number } | undefined;
    if (o.initrd !== undefined) {
      const data = readImage(o.initrd, 'initrd');
      const at = initrdStart(mem, kernelStart);
      if (!mem.contains(at, data.length)) {
        throw new BootError(`initrd '${o.initrd}' (${data.length} bytes) does not fit in RAM at 0x${at.toString(16)}; give the guest more memory`);
      }
      mem.write(at, data);
      initrd = { start: at, end: at + data.length };
    }
    const fdt = buildVirtFdt({
      harts: this.vcpus.length, ramBase: mem.base, ramSize: mem.size, isa: GUEST_ISA,
      mmuType: o.mmu === 'sv48' ? 'riscv,sv48' : 'riscv,sv39', bootargs: o.append, initrd, virtioSlots: VirtMap.virtio.count,
    });
    const fdtAt = fdtAddress(mem, fdt.length);
    mem.write(fdtAt, fdt);
    for (const v of this.vcpus) { v.state = HartState.Stopped; v.timer = Infinity; v.timerCompare = (1n << 64n) - 1n; }
    const boot = this.vcpus[0];
    this.technique.start(boot, k.entry, 0, fdtAt);
    boot.state = HartState.Started;
  }

  /** Ends the VM with `code` (the guest powered off, or the user quit). */
  powerOff(code: number): void {
    if (this.exitCode === undefined) this.exitCode = code;
    for (const v of this.vcpus) v.hart.requestStop();
    this.wake();
  }

  private requestReset(): void {
    this.resetRequested = true;
    for (const v of this.vcpus) v.hart.requestStop();
  }

  /** Carries out a guest-requested reboot, if one is pending: devices reset, RAM cleared, the kernel reloaded. */
  serviceReset(): void {
    if (!this.resetRequested) return;
    this.resetRequested = false;
    this.stats.resets++;
    this.devices.reset();
    this.host.zero(this.memory.hostBase, this.memory.size);
    for (const v of this.vcpus) {
      v.hart.exit = undefined;
      v.idle = false;
      this.technique.setInterrupt(v, VirtualIrq.Timer, false);
      // Translations of the old guest's page tables must not survive into the new boot (shadow tables included).
      this.technique.flushTlb(v);
    }
    this.boot();
  }

  /** Makes what the guest wrote to its disks durable, once, after it powered off. */
  flushOnce(): void {
    if (this.flushed) return;
    this.flushed = true;
    this.devices.flush();
  }

  /** Set by {@link close}: the VM's resources are back with the host and it runs no more. */
  get closed(): boolean {
    return this.isClosed;
  }

  /** Releases the VM's host resources: its disks, its page tables, its memory, its hart contexts. */
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.devices.close();
    this.technique.detach(this);
    this.host.release(this.memory.hostBase, this.memory.size);
    for (const v of this.vcpus) this.host.releaseContext(v.hart);
  }

  /** Makes a virtual interrupt pending (or not) on `vcpu`, counting and waking. */
  interrupt(vcpu: Vcpu, irq: VirtualIrq, level: boolean): void {
    if (level) { vcpu.stats.injected++; this.wake(); }
    this.technique.setInterrupt(vcpu, irq, level);
  }

  /** Raises the timer interrupt of every vCPU whose SBI timer has expired; returns the earliest deadline left. */
  checkTimers(now: number): number {
    let next = Infinity;
    for (const v of this.vcpus) {
      if (v.timer <= now) { v.timer = Infinity; this.interrupt(v, VirtualIrq.Timer, true); }
      next = Math.min(next, v.timer);
    }
    return next;
  }

  // ------------------------------------------------------------ exit services

  /**
   * Carries out the SBI call in the vCPU's a0..a7 (it exited on an ECALL from
   * guest S-mode) and resumes it after the ECALL unless the call does not return.
   */
  sbiCall(vcpu: Vcpu): void {
    const h = vcpu.hart;
    const a: bigint[] = [];
    for (let i = 10; i <= 17; i++) a.push(h.getXBig(i));
    const r = this.sbi.call({ hart: vcpu.id, a });
    if (r.noReturn) return;
    h.setXBig(10, r.error);
    if (!r.legacy) h.setXBig(11, r.value);
    h.pc += 4;
  }

  /**
   * Emulates the device access that exited at guest-physical `gpa`: reads the
   * instruction at the guest's pc, performs it on the VM's bus and steps
   * past it. Returns false when it is no device access the VMM carries out
   * (the caller reflects an access fault to the guest).
   */
  deviceAccess(vcpu: Vcpu, gpa: number): boolean {
    if (this.memory.contains(gpa, 1)) return false;
    const h = vcpu.hart;
    const insn = h.rawAtPc();
    if (insn === 0) return false;
    const regs = { getX: (i: number) => h.getXBig(i), setX: (i: number, v: bigint) => h.setXBig(i, v) };
    const r = emulateMmio(insn, gpa, regs, this.bus);
    if (!r.ok) return false;
    vcpu.stats.mmio++;
    h.pc += r.length;
    return true;
  }

  /** The VM's device bus as the MMIO emulation sees it (8-byte accesses as two 4-byte ones, low first). */
  private readonly bus: MmioAccessor = {
    read: (gpa, size) => {
      const bus = this.devices.bus;
      if (size < 8) {
        const v = bus.read(gpa, size as 1 | 2 | 4);
        return v === undefined ? undefined : BigInt(v >>> 0);
      }
      const lo = bus.read(gpa, 4), hi = bus.read(gpa + 4, 4);
      return lo === undefined || hi === undefined ? undefined : BigInt(hi >>> 0) << 32n | BigInt(lo >>> 0);
    },
    write: (gpa, size, value) => {
      const bus = this.devices.bus;
      if (size < 8) return bus.write(gpa, size as 1 | 2 | 4, Number(value & 0xffffffffn));
      return bus.write(gpa, 4, Number(value & 0xffffffffn)) && bus.write(gpa + 4, 4, Number((value >> 32n) & 0xffffffffn));
    },
  };

  /** Handles one exit of `vcpu` through the technique; a fault in tsvisor stops this VM only. */
  handleExit(vcpu: Vcpu, exit: VmExit): void {
    try {
      this.technique.handleExit(vcpu, exit);
    } catch (e) {
      this.fail(vcpu, e);
    }
  }

  /** Stops this VM because of an internal error of tsvisor while serving `vcpu`. */
  fail(vcpu: Vcpu, e: unknown): void {
    this.internalError = `${this.name} vCPU ${vcpu.id} at pc 0x${vcpu.hart.pc.toString(16)}: ${(e as Error).stack ?? String(e)}`;
    this.powerOff(70);
  }

  /** The vCPUs' trap, device-access and TLB counters, summed. */
  totals(): MachineTotals {
    return sumHartCounters(this.vcpus.map((v) => v.hart));
  }

  /** Instructions the guest retired, on all vCPUs. */
  instructionsRetired(): number {
    return this.vcpus.reduce((n, v) => n + v.hart.stats.instret, 0);
  }

  /** Exits to the VMM, in all and by cause, over all vCPUs. */
  exits(): { total: number; byCause: Record<string, number> } {
    const byCause: Record<string, number> = {};
    let total = 0;
    for (const v of this.vcpus) {
      total += v.stats.exits;
      for (const [k, n] of Object.entries(v.stats.exitsByCause)) byCause[k] = (byCause[k] ?? 0) + n;
    }
    return { total, byCause };
  }

  /** Milliseconds from the start of the run to the first appearance of the boot marker on the console. */
  get bootMarkerMs(): number | undefined {
    return this.devices.bootMarkerMs;
  }

  // ------------------------------------------------------------ SbiHost

  get harts(): number {
    return this.vcpus.length;
  }

  setTimer(hart: number, time: bigint): void {
    const v = this.vcpus[hart];
    v.timerCompare = time;
    v.timer = time >= 2n ** 53n ? Infinity : Number(time);
    this.technique.setInterrupt(v, VirtualIrq.Timer, false);
    if (v.timer <= this.host.clock.now()) { v.timer = Infinity; this.interrupt(v, VirtualIrq.Timer, true); }
  }

  sendIpi(hart: number): void {
    this.interrupt(this.vcpus[hart], VirtualIrq.Software, true);
  }

  remoteFence(hart: number, kind: 'fence.i' | 'sfence.vma'): void {
    // FENCE.I needs nothing: the decode cache and translations follow every store to code.
    if (kind === 'sfence.vma') this.technique.flushTlb(this.vcpus[hart]);
  }

  hartState(hart: number): HartState {
    return this.vcpus[hart].state;
  }

  hartStart(hart: number, start: bigint, opaque: bigint): SbiError {
    const v = this.vcpus[hart];
    if (v.state !== HartState.Stopped) return SbiError.AlreadyAvailable;
    this.technique.start(v, Number(BigInt.asIntN(64, start)), hart, Number(BigInt.asIntN(64, opaque)));
    v.state = HartState.Started;
    this.wake();
    return SbiError.Success;
  }

  hartStop(hart: number): SbiError {
    const v = this.vcpus[hart];
    v.state = HartState.Stopped;
    v.hart.requestStop();
    return SbiError.Success;
  }

  systemReset(type: number, reason: number): void {
    if (type === 0) this.powerOff(reason === 0 ? 0 : 1);
    else this.requestReset();
  }

  consoleWrite(bytes: Uint8Array): void {
    this.console.write(bytes);
  }

  consoleRead(): Uint8Array {
    // Console input goes to the UART (ttyS0); the SBI console is output only.
    return new Uint8Array(0);
  }

  readGuest(gpa: bigint, length: number): Uint8Array | undefined {
    if (gpa > MASK64 || !this.memory.contains(Number(gpa), length)) return undefined;
    return this.memory.view(Number(gpa), length).slice();
  }

  writeGuest(gpa: bigint, data: Uint8Array): boolean {
    if (!this.memory.contains(Number(gpa), data.length)) return false;
    this.memory.write(Number(gpa), data);
    return true;
  }
}
