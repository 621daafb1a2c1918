/**
 * An empty virtio-mmio transport slot (virtio 1.2 §4.2.2): it answers the
 * magic value and version with DeviceID 0, which drivers take to mean "no
 * device here", as QEMU's unused `virt` slots do.
 */
import type { AccessSize, MmioDevice } from '../device.js';

const MAGIC = 0x74726976; // "virt"

export class EmptyVirtioMmioSlot implements MmioDevice {
  constructor(readonly name: string) {}

  read(offset: number, size: AccessSize): number {
    if (size !== 4) return 0;
    switch (offset) {
      case 0x000: return MAGIC;
      case 0x004: return 2; // Version: modern
      case 0x008: return 0; // DeviceID 0: no device
      case 0x00c: return 0x554d4551; // VendorID ("QEMU", as QEMU's slots report)
      default: return 0;
    }
  }

  write(): void {
    // Nothing to configure in an empty slot.
  }
}
