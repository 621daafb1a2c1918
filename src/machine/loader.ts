/**
 * Loading guest images into RAM the way QEMU's `virt` board does
 * (hw/riscv/boot.c): firmware at the start of RAM, the kernel at the next
 * 2 MiB boundary after the firmware, the initrd half-way into RAM (at most
 * 128 MiB after the kernel), the device tree near the top of RAM.
 */
import { readFileSync, statSync } from 'node:fs';
import type { GuestAddress, GuestMemory } from '../memory/guest-memory.js';

/** Where images are loaded: a board's RAM, or a VM's RAM window. */
export interface LoadTarget extends GuestMemory {
  readonly base: GuestAddress;
  readonly size: number;
  readonly end: GuestAddress;
}

/** A boot failure with a message meant for the user. */
export class BootError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BootError';
  }
}

/** What was loaded where. */
export interface LoadedImage {
  /** Entry point (ELF e_entry, or the load address of a raw image). */
  entry: number;
  /** Lowest and one-past-highest guest-physical address written. */
  start: number;
  end: number;
  /** True for an ELF image. */
  elf: boolean;
}

const EM_RISCV = 243;
const MACHINES: Record<number, string> = { 3: 'x86', 40: 'ARM', 62: 'x86-64', 183: 'AArch64', 243: 'RISC-V', 8: 'MIPS', 21: 'PowerPC64' };

/** Reads a whole image file, turning file-system errors into one-line messages. */
export function readImage(path: string, what: string): Uint8Array {
  let size: number;
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new BootError(`${what} '${path}' is not a regular file`);
    size = st.size;
  } catch (e) {
    if (e instanceof BootError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new BootError(`${what} '${path}' does not exist`);
    if (code === 'EACCES') throw new BootError(`${what} '${path}' is not readable (permission denied)`);
    throw new BootError(`cannot open ${what} '${path}': ${(e as Error).message}`);
  }
  if (size === 0) throw new BootError(`${what} '${path}' is empty`);
  try {
    // A view, not `new Uint8Array(buffer)`: that copies, doubling the host memory an image costs at boot.
    const b = readFileSync(path);
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EACCES') throw new BootError(`${what} '${path}' is not readable (permission denied)`);
    throw new BootError(`cannot read ${what} '${path}': ${(e as Error).message}`);
  }
}

/** True when the bytes start with the ELF magic. */
export function isElf(data: Uint8Array): boolean {
  return data.length >= 4 && data[0] === 0x7f && data[1] === 0x45 && data[2] === 0x4c && data[3] === 0x46;
}

function hex(n: number): string {
  return '0x' + n.toString(16);
}

function ramRange(ram: LoadTarget): string {
  return `${hex(ram.base)}-${hex(ram.end)} (${ram.size / 1048576} MiB)`;
}

/** Copies `data` to guest-physical `addr`, or fails with a message saying it does not fit. */
function place(ram: LoadTarget, addr: number, data: Uint8Array, memsz: number, what: string): void {
  if (!ram.contains(addr, memsz)) {
    throw new BootError(`${what} does not fit in RAM: it needs ${hex(addr)}-${hex(addr + memsz)}, ` +
      `RAM is ${ramRange(ram)}; give the guest more memory with -m`);
  }
  ram.write(addr, data);
  if (memsz > data.length) ram.write(addr + data.length, new Uint8Array(memsz - data.length));
}

/** Loads an ELF64 RISC-V image by its program headers' physical addresses. */
export function loadElf(ram: LoadTarget, data: Uint8Array, what: string): LoadedImage {
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (data.length < 64) throw new BootError(`${what} is a truncated ELF file`);
  if (data[4] !== 2) throw new BootError(`${what} is a 32-bit ELF file; tsvisor runs RV64 guests`);
  if (data[5] !== 1) throw new BootError(`${what} is a big-endian ELF file; RISC-V is little-endian`);
  const machine = dv.getUint16(18, true);
  if (machine !== EM_RISCV) {
    const name = MACHINES[machine] ?? `machine ${machine}`;
    throw new BootError(`${what} is an ELF file for ${name}, not RISC-V`);
  }
  const entry = Number(dv.getBigUint64(24, true));
  const phoff = Number(dv.getBigUint64(32, true));
  const phentsize = dv.getUint16(54, true);
  const phnum = dv.getUint16(56, true);
  if (phoff + phnum * phentsize > data.length || phentsize < 56) throw new BootError(`${what} has a corrupt ELF program header table`);
  let start = Infinity, end = 0;
  for (let i = 0; i < phnum; i++) {
    const ph = phoff + i * phentsize;
    if (dv.getUint32(ph, true) !== 1) continue; // PT_LOAD
    const offset = Number(dv.getBigUint64(ph + 8, true));
    const paddr = Number(dv.getBigUint64(ph + 24, true));
    const filesz = Number(dv.getBigUint64(ph + 32, true));
    const memsz = Number(dv.getBigUint64(ph + 40, true));
    if (memsz === 0) continue;
    if (offset + filesz > data.length || filesz > memsz) throw new BootError(`${what} has a corrupt ELF segment (past the end of the file)`);
    place(ram, paddr, data.subarray(offset, offset + filesz), memsz, `${what} segment ${i}`);
    start = Math.min(start, paddr);
    end = Math.max(end, paddr + memsz);
  }
  if (end === 0) throw new BootError(`${what} has no loadable segments`);
  return { entry, start, end, elf: true };
}

/** Loads a raw (flat binary) image at `addr`. */
export function loadRaw(ram: LoadTarget, data: Uint8Array, addr: number, what: string): LoadedImage {
  place(ram, addr, data, data.length, what);
  return { entry: addr, start: addr, end: addr + data.length, elf: false };
}

/** Loads an ELF or raw image file; raw images go to `rawAddr`. */
export function loadImageFile(ram: LoadTarget, path: string, rawAddr: number, what: string): LoadedImage {
  const data = readImage(path, what);
  if (isElf(data)) return loadElf(ram, data, `${what} '${path}'`);
  return loadRaw(ram, data, rawAddr, `${what} '${path}'`);
}

/** Aligns up to a power of two. */
export function alignUp(v: number, a: number): number {
  return Math.ceil(v / a) * a;
}

/** Where QEMU puts the kernel after firmware that ends at `firmwareEnd` (RV64: next 2 MiB boundary). */
export function kernelStartAfter(firmwareEnd: number): number {
  return alignUp(firmwareEnd, 2 * 1048576);
}

/** Where QEMU puts the initrd: kernel start + min(RAM/2, 128 MiB). */
export function initrdStart(ram: LoadTarget, kernelStart: number): number {
  return kernelStart + Math.min(ram.size / 2, 128 * 1048576);
}

/** Where QEMU puts the device tree: below min(end of RAM, 3 GiB), aligned down to 16 MiB... but above what is loaded. */
export function fdtAddress(ram: LoadTarget, fdtSize: number): number {
  const top = ram.base < 3072 * 1048576 ? Math.min(ram.end, 3072 * 1048576) : ram.end;
  // QEMU 7.2 aligns to 16 MiB; with small RAM that would land below RAM, so fall back to 2 MiB / 4 KiB.
  for (const align of [16 * 1048576, 2 * 1048576, 4096]) {
    const a = Math.floor((top - fdtSize) / align) * align;
    if (a >= ram.base) return a;
  }
  throw new BootError(`the device tree (${fdtSize} bytes) does not fit in RAM`);
}
