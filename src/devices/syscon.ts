/**
 * The `sifive,test` device at 0x100000 on QEMU `virt` (hw/misc/sifive_test.c):
 * a 32-bit write of 0x5555 powers off with success, `code << 16 | 0x3333`
 * powers off with failure `code`, 0x7777 resets. Linux's syscon-poweroff and
 * syscon-reboot drivers and OpenSBI use it.
 */
import type { AccessSize, MmioDevice } from './device.js';

/** What the board does when the guest asks to power off or reset. */
export interface PowerControl {
  powerOff(exitCode: number): void;
  reset(): void;
}

export const TEST_PASS = 0x5555;
export const TEST_FAIL = 0x3333;
export const TEST_RESET = 0x7777;

export class Syscon implements MmioDevice {
  readonly name = 'test';
  constructor(private readonly power: PowerControl) {}

  read(): number {
    return 0;
  }

  write(offset: number, size: AccessSize, value: number): void {
    if (offset !== 0 || size !== 4) return;
    const status = value & 0xffff;
    const code = value >>> 16;
    if (status === TEST_PASS) this.power.powerOff(0);
    else if (status === TEST_FAIL) this.power.powerOff(code === 0 ? 1 : code);
    else if (status === TEST_RESET) this.power.reset();
  }
}
