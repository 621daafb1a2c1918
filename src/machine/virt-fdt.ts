/**
 * The device tree of the `virt` board: the tree QEMU 7.2 builds in
 * hw/riscv/virt.c (create_fdt and friends) for the devices tsvisor has,
 * node for node, property for property, in the same order and with the
 * same phandle numbering (`qemu-system-riscv64 -M virt,dumpdtb=...` gives
 * the reference; virt-fdt.test.ts compares against it when QEMU is there).
 *
 * Described: the harts (/cpus, each with its riscv,cpu-intc, and the
 * cpu-map), RAM, the CLINT, the PLIC, UART0, the eight virtio-mmio slots,
 * the sifive,test syscon with its poweroff/reboot nodes, the goldfish RTC,
 * and /chosen (stdout-path, rng-seed, bootargs, initrd).
 * Left out, as tsvisor does not have them (yet): the pflash banks, PCIe,
 * fw_cfg, the PMU node and the (empty) platform bus.
 */
import { randomBytes } from 'node:crypto';
import { FdtBuilder } from './fdt.js';

/** What the tree describes. */
export interface VirtFdtConfig {
  /** Number of harts (hart ids 0..harts-1). */
  harts: number;
  /** Guest-physical base of RAM (0x80000000 on virt). */
  ramBase: number;
  /** RAM size in bytes. */
  ramSize: number;
  /** The harts' riscv,isa string, e.g. `rv64imafdc_zicntr_zicsr_zifencei_sstc`. */
  isa: string;
  /** The harts' widest translation mode. */
  mmuType: 'riscv,sv39' | 'riscv,sv48';
  /** Kernel command line (/chosen/bootargs). */
  bootargs?: string;
  /** Where the initrd was loaded: [start, end). */
  initrd?: { start: number; end: number };
  /** Number of virtio-mmio slots (8 on virt). */
  virtioSlots: number;
  /** Timebase frequency in Hz (default 10 MHz, as on virt). */
  timebase?: number;
  /**
   * Seed for the guest's RNG (/chosen/rng-seed; Linux credits it at boot,
   * so early getrandom() does not block). Default: 32 fresh random bytes,
   * as QEMU; null leaves the property out (reproducible blobs).
   */
  rngSeed?: Uint8Array | null;
}

// QEMU 7.2 virt_memmap and IRQ numbers (hw/riscv/virt.c, include/hw/riscv/virt.h).
const TEST = { base: 0x100000, size: 0x1000 };
const RTC = { base: 0x101000, size: 0x1000, irq: 11 };
const CLINT = { base: 0x2000000, size: 0x10000 };
const PLIC = { base: 0xc000000, size: 0x600000, ndev: 96 };
const UART0 = { base: 0x10000000, size: 0x100, irq: 10, clock: 3686400 };
const VIRTIO = { base: 0x10001000, size: 0x1000, irq: 1 };
const DEFAULT_TIMEBASE = 10_000_000;

// Local interrupt numbers of the riscv,cpu-intc (mip bits).
const IRQ_M_SOFT = 3, IRQ_M_TIMER = 7, IRQ_S_EXT = 9, IRQ_M_EXT = 11;
// sifive,test values for the syscon-poweroff/-reboot nodes.
const FINISHER_PASS = 0x5555, FINISHER_RESET = 0x7777;

const hex = (n: number): string => n.toString(16);

/** A property of 1 cell when the value fits (as QEMU 7.2 writes initrd addresses), else 2. */
function addressCells(v: number): number[] {
  return v < 0x100000000 ? [v] : [Math.floor(v / 0x100000000), v % 0x100000000];
}

/** Builds the `virt` device tree blob. */
export function buildVirtFdt(c: VirtFdtConfig): Uint8Array {
  if (!Number.isInteger(c.harts) || c.harts < 1) throw new RangeError(`harts must be a positive integer, not ${c.harts}`);
  const f = new FdtBuilder();

  // Phandles in QEMU's order: harts from the last down (cpu, then its intc), then the PLIC, then the test device.
  const cpuPh: number[] = new Array<number>(c.harts);
  const intcPh: number[] = new Array<number>(c.harts);
  for (let h = c.harts - 1; h >= 0; h--) {
    cpuPh[h] = f.allocPhandle();
    intcPh[h] = f.allocPhandle();
  }
  const plicPh = f.allocPhandle();
  const testPh = f.allocPhandle();

  f.beginNode('');
  f.propU32('#address-cells', 2);
  f.propU32('#size-cells', 2);
  f.propString('compatible', 'riscv-virtio');
  f.propString('model', 'riscv-virtio,qemu');

  f.beginNode('chosen');
  if (c.initrd !== undefined) {
    f.propCells('linux,initrd-end', addressCells(c.initrd.end));
    f.propCells('linux,initrd-start', addressCells(c.initrd.start));
  }
  const seed = c.rngSeed === undefined ? new Uint8Array(randomBytes(32)) : c.rngSeed;
  if (seed !== null) f.propBytes('rng-seed', seed);
  if (c.bootargs !== undefined && c.bootargs !== '') f.propString('bootargs', c.bootargs);
  f.propString('stdout-path', `/soc/serial@${hex(UART0.base)}`);
  f.endNode();

  // Linux's syscon-poweroff/-reboot drivers write `value` at `offset` of the regmap (the test device).
  f.beginNode('poweroff');
  f.propU32('value', FINISHER_PASS).propU32('offset', 0).propU32('regmap', testPh).propString('compatible', 'syscon-poweroff');
  f.endNode();
  f.beginNode('reboot');
  f.propU32('value', FINISHER_RESET).propU32('offset', 0).propU32('regmap', testPh).propString('compatible', 'syscon-reboot');
  f.endNode();

  f.beginNode(`memory@${hex(c.ramBase)}`);
  f.propString('device_type', 'memory');
  f.propU64s('reg', [c.ramBase, c.ramSize]);
  f.endNode();

  f.beginNode('cpus');
  f.propU32('#address-cells', 1);
  f.propU32('#size-cells', 0);
  f.propU32('timebase-frequency', c.timebase ?? DEFAULT_TIMEBASE);
  for (let h = 0; h < c.harts; h++) {
    f.beginNode(`cpu@${hex(h)}`);
    f.propU32('phandle', cpuPh[h]);
    f.propString('device_type', 'cpu');
    f.propU32('reg', h);
    f.propString('status', 'okay');
    f.propString('compatible', 'riscv');
    f.propString('riscv,isa', c.isa);
    f.propString('mmu-type', c.mmuType);
    f.beginNode('interrupt-controller');
    f.propU32('#interrupt-cells', 1);
    f.propEmpty('interrupt-controller');
    f.propString('compatible', 'riscv,cpu-intc');
    f.propU32('phandle', intcPh[h]);
    f.endNode();
    f.endNode();
  }
  f.beginNode('cpu-map');
  f.beginNode('cluster0');
  for (let h = 0; h < c.harts; h++) f.beginNode(`core${h}`).propU32('cpu', cpuPh[h]).endNode();
  f.endNode();
  f.endNode();
  f.endNode(); // cpus

  f.beginNode('soc');
  f.propU32('#address-cells', 2);
  f.propU32('#size-cells', 2);
  f.propString('compatible', 'simple-bus');
  f.propEmpty('ranges');

  f.beginNode(`rtc@${hex(RTC.base)}`);
  f.propU32('interrupts', RTC.irq).propU32('interrupt-parent', plicPh);
  f.propU64s('reg', [RTC.base, RTC.size]).propString('compatible', 'google,goldfish-rtc');
  f.endNode();

  f.beginNode(`serial@${hex(UART0.base)}`);
  f.propU32('interrupts', UART0.irq).propU32('interrupt-parent', plicPh).propU32('clock-frequency', UART0.clock);
  f.propU64s('reg', [UART0.base, UART0.size]).propString('compatible', 'ns16550a');
  f.endNode();

  f.beginNode(`test@${hex(TEST.base)}`);
  f.propU32('phandle', testPh).propU64s('reg', [TEST.base, TEST.size]);
  f.propStrings('compatible', ['sifive,test1', 'sifive,test0', 'syscon']);
  f.endNode();

  // QEMU lists the slots from the last down; kernels probe in tree order, so keep it.
  for (let i = c.virtioSlots - 1; i >= 0; i--) {
    const base = VIRTIO.base + i * VIRTIO.size;
    f.beginNode(`virtio_mmio@${hex(base)}`);
    f.propU32('interrupts', VIRTIO.irq + i).propU32('interrupt-parent', plicPh);
    f.propU64s('reg', [base, VIRTIO.size]).propString('compatible', 'virtio,mmio');
    f.endNode();
  }

  const plicIrqs: number[] = [];
  const clintIrqs: number[] = [];
  for (let h = 0; h < c.harts; h++) {
    plicIrqs.push(intcPh[h], IRQ_M_EXT, intcPh[h], IRQ_S_EXT); // contexts 2h (M) and 2h+1 (S)
    clintIrqs.push(intcPh[h], IRQ_M_SOFT, intcPh[h], IRQ_M_TIMER);
  }
  f.beginNode(`plic@${hex(PLIC.base)}`);
  f.propU32('phandle', plicPh);
  f.propU32('riscv,ndev', PLIC.ndev);
  f.propU64s('reg', [PLIC.base, PLIC.size]);
  f.propCells('interrupts-extended', plicIrqs);
  f.propEmpty('interrupt-controller');
  f.propStrings('compatible', ['sifive,plic-1.0.0', 'riscv,plic0']);
  f.propU32('#address-cells', 0);
  f.propU32('#interrupt-cells', 1);
  f.endNode();

  f.beginNode(`clint@${hex(CLINT.base)}`);
  f.propCells('interrupts-extended', clintIrqs);
  f.propU64s('reg', [CLINT.base, CLINT.size]);
  f.propStrings('compatible', ['sifive,clint0', 'riscv,clint0']);
  f.endNode();

  f.endNode(); // soc
  f.endNode(); // root
  return f.finish();
}
