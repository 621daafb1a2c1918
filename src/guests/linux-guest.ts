/**
 * The default Linux guest: built by guests/build-linux.sh from Debian's
 * linux-source-6.1 and busybox, cached outside the repository.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from './guest-programs.js';

/** Paths of the built guest. */
export interface LinuxGuest {
  dir: string;
  kernel: string;
  initrd: string;
  /** The pristine ext4 data disk (copy it before writing: see {@link scratchDisk}). */
  disk: string;
}

/** The kernel command line tsvisor boots the default guest with. */
export const DEFAULT_APPEND = 'console=ttyS0 earlycon=sbi quiet';

/**
 * Builds the guest if it is not cached (minutes the first time), showing the
 * script's staged progress on stderr when `showProgress`; returns the paths.
 */
export function buildLinuxGuest(showProgress: boolean): LinuxGuest {
  const script = join(repoRoot(), 'guests/build-linux.sh');
  let out: string;
  try {
    out = execFileSync('bash', [script], {
      encoding: 'utf8', maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', showProgress ? 'inherit' : 'pipe'],
    });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`building the Linux guest failed (guests/build-linux.sh): ${(err.stderr ?? err.message).slice(-3000)}`);
  }
  const lines = out.trim().split('\n');
  const dir = lines[lines.length - 1].trim();
  const g: LinuxGuest = { dir, kernel: join(dir, 'Image'), initrd: join(dir, 'initramfs.cpio.gz'), disk: join(dir, 'disk.ext4') };
  for (const f of [g.kernel, g.initrd, g.disk]) {
    if (!existsSync(f)) throw new Error(`guests/build-linux.sh finished but ${f} is missing`);
  }
  return g;
}

/** A private writable copy of the guest's data disk. */
export function scratchDisk(g: LinuxGuest): string {
  const path = join(mkdtempSync(join(tmpdir(), 'tsvisor-disk-')), 'disk.ext4');
  copyFileSync(g.disk, path);
  return path;
}
