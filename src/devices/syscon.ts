/**
 * The SiFive test finisher (`sifive,test0`/`sifive,test1`, with `syscon`)
 * at 0x100000 on QEMU `virt` (size 0x1000), as QEMU implements it in
 * hw/misc/sifive_test.c. One 32-bit register at offset 0:
 *
 * | value written            | effect                                 |
 * |--------------------------|----------------------------------------|
 * | 0x5555                   | power off, pass (exit code 0)          |
 * | 0x3333 \| (code << 16)   | power off, fail with exit code `code`  |
 * |                          | (a code of 0 becomes 1, see below)     |
 * | 0x7777                   | reset the machine                      |
 *
 * Linux's syscon-poweroff/syscon-reboot drivers (via the device tree's
 * poweroff and reboot nodes), OpenSBI's system reset and U-Boot's
 * `poweroff` use it. Reads return 0; other values and offsets are ignored.
 *
 * One deliberate difference from QEMU: a failure with code 0 (OpenSBI's
 * "system failure" shutdown is a 16-bit write of 0x3333, which carries no
 * code) exits with 1, not 0, so a failing guest never looks like a passing one.
 */
import type { AccessSize, MmioDevice, Saveable } from './device.js';

/** What the board does when the guest asks to power off or reset. */
export interface PowerControl {
  /** Stops the machine; `exitCode` becomes the VMM's exit status (0 = pass). */
  powerOff(exitCode: number): void;
  /** Resets the machine. */
  reset(): void;
}

/** Status value: power off with success. */
export const TEST_PASS = 0x5555;
/** Status value: power off with failure; the exit code is in bits 31:16. */
export const TEST_FAIL = 0x3333;
/** Status value: reset. */
export const TEST_RESET = 0x7777;

/** Saved syscon state: it has none beyond its version. */
export interface SysconState {
  version: 1;
}

/** The sifive,test power/reset register. */
export class Syscon implements MmioDevice, Saveable<SysconState> {
  /**
   * @param power what power-off and reset requests call
   * @param name name for logs and statistics
   */
  constructor(
    private readonly power: PowerControl,
    readonly name = 'test',
  ) {}

  read(_offset: number, _size: AccessSize): number {
    return 0;
  }

  write(offset: number, size: AccessSize, value: number): void {
    // QEMU accepts 2- and 4-byte writes; a 2-byte write carries no exit code.
    if (offset !== 0 || size === 1) return;
    const status = value & 0xffff;
    const code = size === 4 ? (value >>> 16) & 0xffff : 0;
    switch (status) {
      case TEST_PASS:
        this.power.powerOff(0);
        return;
      case TEST_FAIL:
        this.power.powerOff(code === 0 ? 1 : code);
        return;
      case TEST_RESET:
        this.power.reset();
        return;
      default:
        return;
    }
  }

  save(): SysconState {
    return { version: 1 };
  }

  restore(s: SysconState): void {
    if (s.version !== 1) throw new Error(`syscon: unsupported state version ${String(s.version)}; this build reads version 1`);
  }
}
