/**
 * A VM's guest-physical RAM seen through a window onto the host's RAM.
 *
 * The VMM gives each VM one contiguous range of host-physical memory and
 * maps it at the VM's RAM base (0x80000000 on `virt`) with the G-stage or
 * shadow page tables. Devices and loaders of that VM reach its RAM through
 * this window by guest-physical address; an address outside the VM's RAM is
 * refused exactly as on the bare board, so no device of one VM can reach the
 * memory of another. Writes go through the host RAM's own write tracking
 * (dirty bitmap, code caches).
 */
import { GuestMemoryError, type GuestAddress, type GuestMemory, type GuestRam } from './guest-memory.js';

export class RamWindow implements GuestMemory {
  /**
   * @param host the host's RAM
   * @param base the guest-physical address of the VM's RAM
   * @param size its size in bytes
   * @param hostBase the host-physical address where it lives
   */
  constructor(readonly host: GuestRam, readonly base: GuestAddress, readonly size: number, readonly hostBase: number) {
    if (!host.contains(hostBase, size)) throw new RangeError(`RAM window 0x${hostBase.toString(16)}+${size} is outside host RAM`);
  }

  get end(): GuestAddress {
    return this.base + this.size;
  }

  contains(address: GuestAddress, length: number): boolean {
    return address >= this.base && length >= 0 && address + length <= this.base + this.size;
  }

  /** The host-physical address of guest-physical `address`, checked for `length` bytes. */
  toHost(address: GuestAddress, length: number): number {
    if (!this.contains(address, length)) throw new GuestMemoryError(address, length);
    return address - this.base + this.hostBase;
  }

  read(address: GuestAddress, dest: Uint8Array): void { this.host.read(this.toHost(address, dest.length), dest); }
  write(address: GuestAddress, src: Uint8Array): void { this.host.write(this.toHost(address, src.length), src); }
  view(address: GuestAddress, length: number): Uint8Array { return this.host.view(this.toHost(address, length), length); }
  readU16(address: GuestAddress): number { return this.host.readU16(this.toHost(address, 2)); }
  readU32(address: GuestAddress): number { return this.host.readU32(this.toHost(address, 4)); }
  readU64(address: GuestAddress): number { return this.host.readU64(this.toHost(address, 8)); }
  writeU16(address: GuestAddress, value: number): void { this.host.writeU16(this.toHost(address, 2), value); }
  writeU32(address: GuestAddress, value: number): void { this.host.writeU32(this.toHost(address, 4), value); }
  writeU64(address: GuestAddress, value: number): void { this.host.writeU64(this.toHost(address, 8), value); }
}
