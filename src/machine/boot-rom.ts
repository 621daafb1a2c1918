/**
 * The reset-vector ROM at 0x1000, as on QEMU `virt` (hw/riscv/boot.c,
 * riscv_setup_rom_reset_vec): every hart starts here with a0 = mhartid,
 * a1 = device tree address, a2 = address of the OpenSBI `fw_dynamic_info`
 * structure (OpenSBI docs/firmware/fw_dynamic.md), and jumps to the firmware.
 */
import type { AccessSize, MmioDevice } from '../devices/device.js';

/** fw_dynamic_info.next_mode values. */
export const enum NextMode {
  U = 0,
  S = 1,
  M = 3,
}

/** Inputs of the reset vector. */
export interface ResetVectorConfig {
  /** Where the harts jump (the firmware, or the kernel with no firmware). */
  startAddress: number;
  /** Device tree address, passed in a1. */
  fdtAddress: number;
  /** The address fw_dynamic hands over to, and in which mode. */
  nextAddress: number;
  nextMode: NextMode;
}

const FW_DYNAMIC_INFO_MAGIC = 0x4942534f; // "OSBI"
const FW_DYNAMIC_INFO_VERSION = 2;

/** A read-only memory device holding the reset vector. */
export class BootRom implements MmioDevice {
  readonly name = 'mrom';
  readonly bytes: Uint8Array;

  constructor(readonly size: number, config: ResetVectorConfig) {
    this.bytes = new Uint8Array(size);
    const dv = new DataView(this.bytes.buffer);
    const code = [
      0x00000297, // auipc t0, 0          (t0 = 0x1000)
      0x02828613, // addi  a2, t0, 40     (a2 = &fw_dynamic_info)
      0xf1402573, // csrr  a0, mhartid
      0x0202b583, // ld    a1, 32(t0)     (fdt address)
      0x0182b283, // ld    t0, 24(t0)     (start address)
      0x00028067, // jr    t0
    ];
    code.forEach((w, i) => dv.setUint32(i * 4, w, true));
    dv.setBigUint64(24, BigInt(config.startAddress), true);
    dv.setBigUint64(32, BigInt(config.fdtAddress), true);
    // struct fw_dynamic_info { magic, version, next_addr, next_mode, options, boot_hart } (unsigned long each)
    dv.setBigUint64(40, BigInt(FW_DYNAMIC_INFO_MAGIC), true);
    dv.setBigUint64(48, BigInt(FW_DYNAMIC_INFO_VERSION), true);
    dv.setBigUint64(56, BigInt(config.nextAddress), true);
    dv.setBigUint64(64, BigInt(config.nextMode), true);
    dv.setBigUint64(72, 0n, true);
    dv.setBigUint64(80, 0n, true);
  }

  read(offset: number, size: AccessSize): number {
    if (offset + size > this.size) return 0;
    const b = this.bytes;
    if (size === 1) return b[offset];
    if (size === 2) return b[offset] | (b[offset + 1] << 8);
    return (b[offset] | (b[offset + 1] << 8) | (b[offset + 2] << 16) | (b[offset + 3] << 24)) >>> 0;
  }

  write(): void {
    // ROM: writes are ignored.
  }
}
