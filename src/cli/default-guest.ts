/**
 * The default guest: Debian's OpenSBI (fw_jump) with Debian's U-Boot for
 * the `virt` board in S-mode as its payload. Both come prebuilt from Debian
 * packages (`opensbi`, `u-boot-qemu`).
 */
import { existsSync } from 'node:fs';
import { BootError } from '../machine/loader.js';

/** Paths of the default guest's images. */
export interface DefaultGuest {
  bios: string;
  kernel: string;
}

export const OPENSBI_FW_JUMP = '/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.elf';
export const UBOOT_SMODE = '/usr/lib/u-boot/qemu-riscv64_smode/u-boot.bin';

/** Finds the default guest's images, or says which package to install. */
export function defaultGuest(): DefaultGuest {
  if (!existsSync(OPENSBI_FW_JUMP)) throw new BootError(`${OPENSBI_FW_JUMP} is missing: install Debian's 'opensbi' package (apt-get install opensbi)`);
  if (!existsSync(UBOOT_SMODE)) throw new BootError(`${UBOOT_SMODE} is missing: install Debian's 'u-boot-qemu' package (apt-get install u-boot-qemu)`);
  return { bios: OPENSBI_FW_JUMP, kernel: UBOOT_SMODE };
}
