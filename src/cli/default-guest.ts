/**
 * The default guest: Debian's OpenSBI (fw_jump) with Debian's U-Boot for
 * the `virt` board in S-mode as its payload. Both come prebuilt from Debian
 * packages (`opensbi`, `u-boot-qemu`).
 */
import { copyFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { BootError } from '../machine/loader.js';
import { DEFAULT_BIOS } from '../machine/virt.js';
import { buildLinuxGuest, DEFAULT_APPEND } from '../guests/linux-guest.js';

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

/** The default Linux guest's boot inputs. */
export interface DefaultLinuxGuest {
  bios: string;
  kernel: string;
  initrd: string;
  append: string;
  /** The user's own data disk (kept across runs beside the build cache). */
  disk: string;
}

/**
 * Builds the default Linux guest if it is missing (showing progress), and
 * makes the user's data disk from the pristine image the first time.
 */
export function defaultLinuxGuest(): DefaultLinuxGuest {
  if (!existsSync(DEFAULT_BIOS)) throw new BootError(`${DEFAULT_BIOS} is missing: install Debian's 'opensbi' package (apt-get install opensbi)`);
  let g;
  try {
    g = buildLinuxGuest(true);
  } catch (e) {
    throw new BootError((e as Error).message.split('\n')[0] + ' — see the messages above; rerun to retry');
  }
  const disk = join(dirname(g.dir), 'user-disk.ext4');
  if (!existsSync(disk)) copyFileSync(g.disk, disk);
  return { bios: DEFAULT_BIOS, kernel: g.kernel, initrd: g.initrd, append: DEFAULT_APPEND, disk };
}
