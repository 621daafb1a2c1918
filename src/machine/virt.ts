/**
 * The QEMU-compatible RISC-V `virt` board: RAM at 0x80000000, the reset ROM,
 * CLINT, PLIC, a 16550A UART, the sifive,test syscon, a goldfish RTC and
 * eight virtio-mmio slots at the addresses QEMU uses (hw/riscv/virt.c), a
 * generated device tree, and QEMU's boot protocol. It runs its harts
 * round-robin in slices on the Node.js event loop.
 */
import { GuestRam } from '../memory/guest-memory.js';
import type { MmioBus } from '../devices/bus.js';
import type { HartInterruptPins, MipBit } from '../devices/device.js';
import { Hart, StopReason } from '../cpu/riscv/hart.js';
import { DecodeCache } from '../cpu/riscv/decode-cache.js';
import { Jit, type JitBackend } from '../cpu/riscv/jit/jit.js';
import { warmUpOnce } from '../cpu/riscv/warmup.js';
import type { Clint } from '../devices/clint.js';
import type { Plic } from '../devices/plic.js';
import type { Uart16550 } from '../devices/uart16550.js';
import type { Syscon } from '../devices/syscon.js';
import type { GoldfishRtc } from '../devices/goldfish-rtc.js';
import type { VirtioBalloon } from '../devices/virtio/balloon/device.js';
import { buildVirtFdt } from './virt-fdt.js';
import { BootRom, NextMode } from './boot-rom.js';
import { HostClock } from './host-clock.js';
import { Idler, driveRounds } from './idle.js';
import { VirtDevices, VirtMap, type DeviceOptions } from './virt-devices.js';
import { BootError, fdtAddress, initrdStart, kernelStartAfter, loadImageFile, readImage } from './loader.js';

export { VirtMap, VirtIrq, INIT_MARKER, type DriveOptions } from './virt-devices.js';

/** Default firmware: Debian's OpenSBI (package `opensbi`). */
export const DEFAULT_BIOS = '/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin';

/** How to build and boot the machine. */
export interface VirtOptions extends DeviceOptions {
  /** Guest RAM in bytes. */
  memory: number;
  /** Number of harts. */
  harts: number;
  /** Firmware image (ELF or raw); `null` for none (the kernel runs in M-mode from the reset vector). */
  bios: string | null;
  /** Kernel image (ELF or raw), or a payload for the firmware. */
  kernel?: string;
  initrd?: string;
  /** Kernel command line (/chosen/bootargs). */
  append?: string;
  /** Translation modes the harts advertise (mmu-type). */
  mmu?: 'sv39' | 'sv48';
  /** Instructions per hart per scheduling slice. */
  slice?: number;
  /**
   * The execution engine: `interp` (the interpreter only) or `jit` (hot code
   * translated to JavaScript). Defaults to the environment variable
   * `TSVISOR_CPU` when set (how the test suite runs under both engines), else `jit`.
   */
  cpu?: CpuEngine;
  /**
   * What the JIT emits: `wasm` (WebAssembly, used when guest RAM fits a
   * WebAssembly memory) or `js`. Defaults to `TSVISOR_JIT_BACKEND`, else `wasm`.
   */
  jitBackend?: JitBackend;
  /** Arrivals at an entry point before the JIT translates it (default: DEFAULT_THRESHOLD in cpu/riscv/jit/jit.ts). */
  jitThreshold?: number;
}

/** The ISA string advertised in the device tree ('h': the hypervisor extension, privileged spec ch. 9). */
export const ISA_STRING = 'rv64imafdch_zicntr_zicsr_zifencei_sstc';

/** Counters of the board, beyond each hart's. */
/** The execution engines (see {@link VirtOptions.cpu}). */
export const CPU_ENGINES = ['interp', 'jit'] as const;
export type CpuEngine = typeof CPU_ENGINES[number];

/** The engine used when none is chosen: `TSVISOR_CPU` if it names one, else the JIT. */
export function defaultCpuEngine(): CpuEngine {
  const e = process.env.TSVISOR_CPU;
  return e === 'interp' || e === 'jit' ? e : 'jit';
}

/** The JIT back end used when none is chosen: `TSVISOR_JIT_BACKEND` if it names one, else WebAssembly. */
export function defaultJitBackend(): JitBackend {
  return process.env.TSVISOR_JIT_BACKEND === 'js' ? 'js' : 'wasm';
}

export interface BoardStats {
  slices: number;
  sleeps: number;
  sleptMs: number;
  /** Guest-requested reboots (sifive,test 0x7777) carried out. */
  resets: number;
}

export class VirtMachine {
  readonly ram: GuestRam;
  readonly clock = new HostClock();
  readonly decodeCache: DecodeCache;
  /** The binary translator, when the engine is `jit`. */
  readonly jit: Jit | undefined;
  readonly harts: Hart[] = [];
  /** The board's devices and their bus. */
  readonly devices: VirtDevices;
  readonly stats: BoardStats = { slices: 0, sleeps: 0, sleptMs: 0, resets: 0 };
  /** Set when the guest powers off (its exit code) — run() then resolves. */
  exitCode: number | undefined;
  /** Set when the machine stopped because of an internal error in tsvisor (exit code 70). */
  internalError: string | undefined;
  private resetRequested = false;
  private readonly idler: Idler;
  private readonly slice: number;
  private bootInfo: { start: number; fdt: number } = { start: 0, fdt: 0 };

  constructor(readonly options: VirtOptions) {
    const { memory, harts } = options;
    if (!Number.isInteger(harts) || harts < 1 || harts > 64) throw new BootError(`invalid number of harts ${harts}: use 1 to 64`);
    if (memory < 16 * 1048576 || memory % 4096 !== 0) throw new BootError('guest memory must be at least 16 MiB');
    this.slice = options.slice ?? 20000;
    this.idler = new Idler(this.clock, this.stats);
    this.ram = new GuestRam(VirtMap.dram.base, memory);
    this.decodeCache = new DecodeCache(this.ram);
    const engine = options.cpu ?? defaultCpuEngine();
    warmUpOnce(engine);
    this.jit = engine === 'jit' ? new Jit(this.ram, this.decodeCache, options.jitThreshold) : undefined;
    const pins: HartInterruptPins = {
      set: (hartId: number, bit: MipBit, level: boolean) => {
        const h = this.harts[hartId];
        if (h !== undefined) h.csr.setPin(bit, level);
        if (level) this.idler.wake();
      },
    };
    this.devices = new VirtDevices(options, this.ram, harts, this.clock, pins, {
      powerOff: (code: number) => this.powerOff(code),
      reset: () => { this.resetRequested = true; for (const h of this.harts) h.requestStop(); },
      wake: () => this.idler.wake(),
    });
    const env = { ram: this.ram, bus: this.devices.bus, time: this.clock, decodeCache: this.decodeCache, jit: this.jit };
    for (let i = 0; i < harts; i++) this.harts.push(new Hart(i, env));
    if (this.jit !== undefined && (options.jitBackend ?? defaultJitBackend()) === 'wasm') this.jit.useWasm(this.harts);
    try {
      this.boot();
    } catch (e) {
      this.close();
      throw e;
    }
  }

  get bus(): MmioBus { return this.devices.bus; }
  get clint(): Clint { return this.devices.clint; }
  get plic(): Plic { return this.devices.plic; }
  get uart(): Uart16550 { return this.devices.uart; }
  get syscon(): Syscon { return this.devices.syscon; }
  get rtc(): GoldfishRtc { return this.devices.rtc; }
  get virtio(): VirtDevices['virtio'] { return this.devices.virtio; }
  get balloon(): VirtioBalloon | undefined { return this.devices.balloon; }
  /** Milliseconds from run() to the first appearance of the boot marker on the console. */
  get bootMarkerMs(): number | undefined { return this.devices.bootMarkerMs; }

  /** Releases host resources (disk files). */
  close(): void {
    this.devices.close();
  }

  /** Loads the images, builds the device tree and the reset ROM, and resets the harts. */
  private boot(): void {
    const o = this.options;
    const ram = this.ram;
    let start: number;
    let nextAddr = 0;
    let nextMode = NextMode.S;
    let kernelStart: number;
    if (o.bios !== null) {
      const fw = loadImageFile(ram, o.bios, ram.base, 'firmware');
      start = fw.elf ? fw.entry : ram.base;
      kernelStart = kernelStartAfter(fw.end);
    } else {
      if (o.kernel === undefined) throw new BootError('no firmware and no kernel: give --kernel, or a --bios');
      start = 0;
      kernelStart = ram.base;
    }
    let initrd: { start: number; end: number } | undefined;
    if (o.kernel !== undefined) {
      const k = loadImageFile(ram, o.kernel, kernelStart, 'kernel');
      nextAddr = k.elf ? k.entry : kernelStart;
      if (o.bios === null) { start = nextAddr; nextMode = NextMode.M; }
      if (o.initrd !== undefined) {
        const data = readImage(o.initrd, 'initrd');
        const at = initrdStart(ram, kernelStart);
        if (!ram.contains(at, data.length)) {
          throw new BootError(`initrd '${o.initrd}' (${data.length} bytes) does not fit in RAM at 0x${at.toString(16)}; give the guest more memory with -m`);
        }
        ram.write(at, data);
        initrd = { start: at, end: at + data.length };
      }
    } else if (o.initrd !== undefined) {
      throw new BootError('--initrd needs a --kernel');
    }
    const fdt = buildVirtFdt({
      harts: this.harts.length,
      ramBase: ram.base,
      ramSize: ram.size,
      isa: ISA_STRING,
      mmuType: o.mmu === 'sv48' ? 'riscv,sv48' : 'riscv,sv39',
      bootargs: o.append,
      initrd,
      virtioSlots: VirtMap.virtio.count,
    });
    const fdtAt = fdtAddress(ram, fdt.length);
    ram.write(fdtAt, fdt);
    const rom = new BootRom(VirtMap.mrom.size, { startAddress: start, fdtAddress: fdtAt, nextAddress: nextAddr, nextMode });
    if (this.bus.find(VirtMap.mrom.base) === undefined) this.bus.map(VirtMap.mrom.base, VirtMap.mrom.size, rom);
    else (this.bus.find(VirtMap.mrom.base)!.device as BootRom).bytes.set(rom.bytes);
    this.bootInfo = { start, fdt: fdtAt };
    for (const h of this.harts) h.reset(VirtMap.mrom.base);
  }

  /** Where the firmware (or kernel) starts and where the device tree is. */
  get bootAddresses(): { start: number; fdt: number } {
    return this.bootInfo;
  }

  /** Ends the run with `exitCode` (from the syscon, or the user quitting). */
  powerOff(exitCode: number): void {
    if (this.exitCode === undefined) this.exitCode = exitCode;
    for (const h of this.harts) h.requestStop();
    this.idler.wake();
  }

  /**
   * Runs the machine until it powers off; resolves with the guest's exit code.
   * Yields to the event loop every few milliseconds so host I/O keeps flowing.
   */
  async run(): Promise<number> {
    this.devices.startClock();
    await driveRounds(() => this.exitCode === undefined, () => {
      const allWaiting = this.runSlice();
      if (this.resetRequested) this.doReset();
      return allWaiting;
    }, () => this.sleepUntilEvent());
    this.devices.flush();
    return this.exitCode!; // driveRounds returns once it is set
  }

  /** Runs every hart for one slice; returns true when all of them wait for an interrupt. */
  runSlice(): boolean {
    let allWaiting = true;
    const now = this.clock.now();
    this.clint.poll(now);
    for (const h of this.harts) {
      let r: StopReason;
      try {
        r = h.run(this.slice);
      } catch (e) {
        // A fault in tsvisor itself (never the guest's doing): stop this VM with a clear report.
        this.internalError = `hart ${h.id} at pc 0x${h.pc.toString(16)}: ${(e as Error).stack ?? String(e)}`;
        this.powerOff(70);
        return false;
      }
      if (r !== StopReason.Wfi) allWaiting = false;
      if (this.exitCode !== undefined) return false;
    }
    this.stats.slices++;
    return allWaiting;
  }

  /** Sleeps until the next timer deadline or until a device raises an interrupt. */
  private async sleepUntilEvent(): Promise<void> {
    const now = this.clock.now();
    let deadline = this.clint.poll(now) + now;
    for (const h of this.harts) deadline = Math.min(deadline, h.csr.timerDeadline());
    await this.idler.sleepUntil(deadline);
  }

  /**
   * A guest-requested reboot: every device back to its power-on state, RAM
   * cleared, the images reloaded and the harts restarted at the reset vector.
   * Host-side state survives (console input typed ahead, the disks' contents,
   * the NICs' links), as it would across a real board's reset.
   */
  private doReset(): void {
    this.resetRequested = false;
    this.stats.resets++;
    this.devices.reset();
    this.ram.u8.fill(0);
    // Through the RAM's own write hook, so the dirty bitmap and the code caches see the clear.
    this.ram.noteWrite(0, this.ram.size);
    this.boot();
  }

  /** Instructions retired by all harts. */
  instructionsRetired(): number {
    let n = 0;
    for (const h of this.harts) n += h.stats.instret;
    return n;
  }

  /** The harts' trap, device-access and TLB counters, summed over all harts. */
  totals(): MachineTotals {
    return sumHartCounters(this.harts);
  }
}

/** The trap, device-access and TLB counters of `harts`, summed. */
export function sumHartCounters(harts: readonly Hart[]): MachineTotals {
  const t: MachineTotals = {
    exceptions: 0, interrupts: 0, ecalls: 0, mmioAccesses: 0, exceptionsByCause: [],
    tlbHits: 0, tlbMisses: 0, pageWalks: 0, walkMemoryRefs: 0,
  };
  for (const h of harts) {
    const s = h.stats;
    t.exceptions += s.exceptions; t.interrupts += s.interrupts; t.ecalls += s.ecalls;
    t.mmioAccesses += s.mmioReads + s.mmioWrites;
    s.exceptionsByCause.forEach((n, cause) => { t.exceptionsByCause[cause] = (t.exceptionsByCause[cause] ?? 0) + n; });
    const m = h.mmu.stats();
    t.tlbHits += m.tlbHits; t.tlbMisses += m.tlbMisses; t.pageWalks += m.pageWalks; t.walkMemoryRefs += m.walkMemoryRefs;
  }
  return t;
}

/** Counters of all harts of a machine ({@link VirtMachine.totals}). */
export interface MachineTotals {
  exceptions: number;
  interrupts: number;
  ecalls: number;
  mmioAccesses: number;
  /** Exceptions by cause code. */
  exceptionsByCause: number[];
  tlbHits: number;
  tlbMisses: number;
  pageWalks: number;
  walkMemoryRefs: number;
}
