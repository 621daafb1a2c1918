/**
 * The device tree of the `virt` board, node for node as QEMU 7.2 builds it
 * (hw/riscv/virt.c, create_fdt) for the devices tsvisor provides. Firmware
 * and kernels find the machine through it: the harts and their ISA, memory,
 * the interrupt controllers, the UART, the virtio-mmio slots, poweroff/reboot.
 */
import { FdtBuilder } from './fdt.js';

/** What the tree describes. */
export interface VirtFdtConfig {
  harts: number;
  ramBase: number;
  ramSize: number;
  /** e.g. `rv64imafdc_zicntr_zicsr_zifencei_sstc`. */
  isa: string;
  mmuType: 'riscv,sv39' | 'riscv,sv48';
  bootargs?: string;
  initrd?: { start: number; end: number };
  virtioSlots: number;
  /** Timebase frequency in Hz (10 MHz on virt). */
  timebase?: number;
}

const UART_CLOCK = 3686400;

/** Builds the blob. */
export function buildVirtFdt(c: VirtFdtConfig): Uint8Array {
  const f = new FdtBuilder();
  const intc: number[] = [];
  const cpuPh: number[] = [];
  for (let i = 0; i < c.harts; i++) { cpuPh.push(f.allocPhandle()); intc.push(f.allocPhandle()); }
  const plicPh = f.allocPhandle();
  const testPh = f.allocPhandle();

  f.beginNode('');
  f.propU32('#address-cells', 2).propU32('#size-cells', 2);
  f.propString('compatible', 'riscv-virtio').propString('model', 'riscv-virtio,qemu');

  f.beginNode('chosen');
  f.propString('stdout-path', '/soc/serial@10000000');
  if (c.bootargs !== undefined) f.propString('bootargs', c.bootargs);
  if (c.initrd !== undefined) {
    f.propU64s('linux,initrd-start', [c.initrd.start]);
    f.propU64s('linux,initrd-end', [c.initrd.end]);
  }
  f.endNode();

  f.beginNode('poweroff').propU32('value', 0x5555).propU32('offset', 0).propU32('regmap', testPh)
    .propString('compatible', 'syscon-poweroff').endNode();
  f.beginNode('reboot').propU32('value', 0x7777).propU32('offset', 0).propU32('regmap', testPh)
    .propString('compatible', 'syscon-reboot').endNode();

  f.beginNode(`memory@${c.ramBase.toString(16)}`);
  f.propString('device_type', 'memory');
  f.propU64s('reg', [c.ramBase, c.ramSize]);
  f.endNode();

  f.beginNode('cpus');
  f.propU32('#address-cells', 1).propU32('#size-cells', 0).propU32('timebase-frequency', c.timebase ?? 10_000_000);
  for (let i = 0; i < c.harts; i++) {
    f.beginNode(`cpu@${i}`);
    f.propU32('phandle', cpuPh[i]);
    f.propString('device_type', 'cpu').propU32('reg', i).propString('status', 'okay');
    f.propString('compatible', 'riscv').propString('riscv,isa', c.isa).propString('mmu-type', c.mmuType);
    f.beginNode('interrupt-controller');
    f.propU32('#interrupt-cells', 1).propEmpty('interrupt-controller');
    f.propString('compatible', 'riscv,cpu-intc').propU32('phandle', intc[i]);
    f.endNode();
    f.endNode();
  }
  f.beginNode('cpu-map').beginNode('cluster0');
  for (let i = 0; i < c.harts; i++) f.beginNode(`core${i}`).propU32('cpu', cpuPh[i]).endNode();
  f.endNode().endNode();
  f.endNode(); // cpus

  f.beginNode('soc');
  f.propU32('#address-cells', 2).propU32('#size-cells', 2).propString('compatible', 'simple-bus').propEmpty('ranges');

  f.beginNode('rtc@101000').propU32('interrupts', 11).propU32('interrupt-parent', plicPh)
    .propU64s('reg', [0x101000, 0x1000]).propString('compatible', 'google,goldfish-rtc').endNode();

  f.beginNode('serial@10000000').propU32('interrupts', 10).propU32('interrupt-parent', plicPh)
    .propU32('clock-frequency', UART_CLOCK).propU64s('reg', [0x10000000, 0x100]).propString('compatible', 'ns16550a').endNode();

  f.beginNode('test@100000').propU32('phandle', testPh).propU64s('reg', [0x100000, 0x1000])
    .propStrings('compatible', ['sifive,test1', 'sifive,test0', 'syscon']).endNode();

  for (let i = c.virtioSlots - 1; i >= 0; i--) {
    const base = 0x10001000 + i * 0x1000;
    f.beginNode(`virtio_mmio@${base.toString(16)}`).propU32('interrupts', 1 + i).propU32('interrupt-parent', plicPh)
      .propU64s('reg', [base, 0x1000]).propString('compatible', 'virtio,mmio').endNode();
  }

  const plicIrqs: number[] = [];
  const clintIrqs: number[] = [];
  for (let i = 0; i < c.harts; i++) {
    plicIrqs.push(intc[i], 11, intc[i], 9); // M-mode external, S-mode external
    clintIrqs.push(intc[i], 3, intc[i], 7); // M software, M timer
  }
  f.beginNode('plic@c000000').propU32('phandle', plicPh).propU32('riscv,ndev', 96)
    .propU64s('reg', [0xc000000, 0x600000]).propCells('interrupts-extended', plicIrqs).propEmpty('interrupt-controller')
    .propStrings('compatible', ['sifive,plic-1.0.0', 'riscv,plic0']).propU32('#address-cells', 0).propU32('#interrupt-cells', 1)
    .endNode();
  f.beginNode('clint@2000000').propCells('interrupts-extended', clintIrqs).propU64s('reg', [0x2000000, 0x10000])
    .propStrings('compatible', ['sifive,clint0', 'riscv,clint0']).endNode();

  f.endNode(); // soc
  f.endNode(); // root
  return f.finish();
}
