/**
 * The devices of a `virt` board, on their bus: the CLINT, PLIC, 16550A UART,
 * sifive,test syscon, goldfish RTC and the eight virtio-mmio slots at QEMU's
 * addresses. The bare board ({@link VirtMachine}) and every VM of the VMM
 * build the same set; only where interrupts go and how guest memory is
 * reached differ, so both are handed in.
 */
import { MmioBus } from '../devices/bus.js';
import type { HartInterruptPins, TimeSource } from '../devices/device.js';
import type { GuestMemory } from '../memory/guest-memory.js';
import { Uart16550 } from '../devices/uart16550.js';
import { Clint } from '../devices/clint.js';
import { Plic } from '../devices/plic.js';
import { Syscon } from '../devices/syscon.js';
import { GoldfishRtc } from '../devices/goldfish-rtc.js';
import { EmptyVirtioMmioSlot } from '../devices/virtio/mmio-empty.js';
import { VirtioMmioTransport, VIRTIO_MMIO_SIZE } from '../devices/virtio/mmio.js';
import type { VirtioDevice } from '../devices/virtio/device.js';
import { VirtioBlock } from '../devices/virtio/blk/device.js';
import { VirtioConsole } from '../devices/virtio/console/device.js';
import { VirtioRng } from '../devices/virtio/rng/device.js';
import { VirtioBalloon } from '../devices/virtio/balloon/device.js';
import { VirtioNet } from '../devices/virtio/net/device.js';
import type { NetBackend } from '../backends/net-backend.js';
import { FileBlockBackend } from '../backends/block-file.js';
import { BlockBackendError, type BlockBackend } from '../backends/block-backend.js';
import type { CharBackend } from '../backends/char-backend.js';
import { BootError } from './loader.js';

/** The `virt` memory map (QEMU 7.2 hw/riscv/virt.c, virt_memmap). */
export const VirtMap = {
  mrom: { base: 0x1000, size: 0xf000 },
  test: { base: 0x100000, size: 0x1000 },
  rtc: { base: 0x101000, size: 0x1000 },
  clint: { base: 0x2000000, size: 0x10000 },
  plic: { base: 0xc000000, size: 0x600000 },
  uart0: { base: 0x10000000, size: 0x100 },
  virtio: { base: 0x10001000, size: 0x1000, count: 8 },
  dram: { base: 0x80000000 },
} as const;

/** Interrupt numbers on the PLIC. */
export const VirtIrq = { virtio0: 1, uart0: 10, rtc: 11 } as const;

/** The line the project's guest /init prints first; the board times boot-to-init by it. */
export const INIT_MARKER = 'tsvisor-init: reached init';

/** Which devices to build and their host sides. */
export interface DeviceOptions {
  /** The UART's host side. */
  console: CharBackend;
  /** Console text whose first appearance is timed as "boot to init" (see {@link INIT_MARKER}). */
  bootMarker?: string;
  /** virtio-blk disks, in slot order. */
  drives?: DriveOptions[];
  /**
   * A virtio-console port on this backend. Linux calls it hvc1: hvc0 is the
   * SBI console (CONFIG_HVC_RISCV_SBI), so `console=hvc1` puts the kernel
   * console on it. The boot marker is watched here as on the UART.
   */
  virtioConsole?: CharBackend;
  /** A virtio-rng device fed from the host's CSPRNG. */
  rng?: boolean;
  /** A virtio-balloon device. */
  balloon?: boolean;
  /** virtio-net NICs, each on its host backend (a switch port, a socket switch). */
  nics?: Array<{ backend: NetBackend; mac?: Uint8Array }>;
}

/** A virtio-blk disk: a raw image file, or a backend built by the caller. */
export interface DriveOptions {
  path?: string;
  backend?: BlockBackend;
  readOnly?: boolean;
}

/** What the devices ask of the board or VM they belong to. */
export interface BoardControl {
  /** The guest wrote a power-off code to the syscon. */
  powerOff(code: number): void;
  /** The guest asked for a reboot. */
  reset(): void;
  /** Host input arrived: wake the board if it sleeps. */
  wake(): void;
}

export class VirtDevices {
  readonly bus = new MmioBus();
  readonly clint: Clint;
  readonly plic: Plic;
  readonly uart: Uart16550;
  readonly syscon: Syscon;
  readonly rtc: GoldfishRtc;
  /** The virtio-mmio transports with a device behind them, by slot. */
  readonly virtio: Array<{ slot: number; transport: VirtioMmioTransport; device: VirtioDevice }> = [];
  /** The balloon, when configured (the VMM's memory policy drives it). */
  balloon: VirtioBalloon | undefined;
  /** Milliseconds from {@link startClock} to the first appearance of the boot marker on a console. */
  bootMarkerMs: number | undefined;
  private startedAt = performance.now();
  private readonly blockBackends: BlockBackend[] = [];

  /**
   * @param memory the guest RAM devices reach for DMA
   * @param harts number of harts (interrupt contexts)
   * @param pins where the CLINT and PLIC drive the harts' interrupt bits
   */
  constructor(options: DeviceOptions, memory: GuestMemory, harts: number, clock: TimeSource, pins: HartInterruptPins, control: BoardControl) {
    const marker = options.bootMarker ?? INIT_MARKER;
    this.clint = new Clint(harts, clock, pins);
    this.plic = new Plic(harts, pins);
    this.uart = new Uart16550(this.plic.line(VirtIrq.uart0), this.watchMarker(options.console, marker));
    this.syscon = new Syscon({ powerOff: (code: number) => control.powerOff(code), reset: () => control.reset() });
    this.rtc = new GoldfishRtc(this.plic.line(VirtIrq.rtc));
    options.console.onInput(() => control.wake());

    this.bus.map(VirtMap.test.base, VirtMap.test.size, this.syscon);
    this.bus.map(VirtMap.rtc.base, VirtMap.rtc.size, this.rtc);
    this.bus.map(VirtMap.clint.base, VirtMap.clint.size, this.clint);
    this.bus.map(VirtMap.plic.base, VirtMap.plic.size, this.plic);
    this.bus.map(VirtMap.uart0.base, VirtMap.uart0.size, this.uart);
    const devices = this.createVirtioDevices(options, marker);
    for (let i = 0; i < VirtMap.virtio.count; i++) {
      const base = VirtMap.virtio.base + i * VirtMap.virtio.size;
      const device = devices[i];
      if (device === undefined) {
        this.bus.map(base, VirtMap.virtio.size, new EmptyVirtioMmioSlot(`virtio-mmio${i}`));
        continue;
      }
      const transport = new VirtioMmioTransport(`virtio-mmio${i}`, device, memory, this.plic.line(VirtIrq.virtio0 + i));
      this.bus.map(base, VIRTIO_MMIO_SIZE, transport);
      this.virtio.push({ slot: i, transport, device });
    }
  }

  /** Builds the configured virtio devices, in slot order. */
  private createVirtioDevices(o: DeviceOptions, marker: string): VirtioDevice[] {
    const devices: VirtioDevice[] = [];
    for (const d of o.drives ?? []) {
      let backend = d.backend;
      if (backend === undefined) {
        if (d.path === undefined) throw new BootError('a drive needs a file');
        try {
          backend = FileBlockBackend.open(d.path, { readOnly: d.readOnly ?? false });
        } catch (e) {
          this.close();
          if (e instanceof BlockBackendError) throw new BootError(e.message);
          throw e;
        }
      }
      this.blockBackends.push(backend);
      devices.push(new VirtioBlock(backend, { id: `tsvisor-disk${devices.length}` }));
    }
    for (const n of o.nics ?? []) devices.push(new VirtioNet(n.backend, { mac: n.mac }));
    if (o.virtioConsole !== undefined) devices.push(new VirtioConsole(this.watchMarker(o.virtioConsole, marker)));
    if (o.rng === true) devices.push(new VirtioRng());
    if (o.balloon === true) { this.balloon = new VirtioBalloon(); devices.push(this.balloon); }
    if (devices.length > VirtMap.virtio.count) {
      this.close();
      throw new BootError(`too many virtio devices (${devices.length}): the virt board has ${VirtMap.virtio.count} virtio-mmio slots`);
    }
    return devices;
  }

  /** Starts the boot-to-marker clock. */
  startClock(): void {
    this.startedAt = performance.now();
  }

  /** Wraps a console so the first appearance of `marker` in the output is timed. */
  private watchMarker(backend: CharBackend, marker: string): CharBackend {
    let tail = '';
    return {
      write: (data: Uint8Array) => {
        backend.write(data);
        if (this.bootMarkerMs !== undefined) return;
        tail = (tail + Buffer.from(data).toString('latin1')).slice(-(marker.length + 64));
        if (tail.includes(marker)) this.bootMarkerMs = performance.now() - this.startedAt;
      },
      onInput: (handler) => backend.onInput(handler),
      close: () => backend.close(),
    };
  }

  /**
   * Every device back to its power-on state (a guest reboot). Host-side state
   * survives: the disks' contents, console input typed ahead, NIC links.
   */
  reset(): void {
    // Whatever the guest wrote before rebooting reaches the disk files first.
    for (const b of this.blockBackends) {
      try {
        b.flush();
      } catch {
        // Writes reach the backend synchronously; only their durability failed here,
        // and the flush at power-off retries it. The reboot goes on either way.
      }
    }
    // Interrupt sources first, the controllers last, so the lines the
    // controllers sample are already low when they re-evaluate their outputs.
    for (const v of this.virtio) v.transport.reset(); // Status 0, queues forgotten (virtio 1.2 §2.4)
    this.uart.reset();
    this.rtc.reset();
    this.clint.reset();
    this.plic.reset();
  }

  /** Makes what the guest wrote to its disks durable. */
  flush(): void {
    for (const b of this.blockBackends) b.flush();
  }

  /** Releases host resources (disk files). */
  close(): void {
    for (const b of this.blockBackends) b.close();
    this.blockBackends.length = 0;
  }
}
