/**
 * The MMIO bus: maps guest-physical address ranges to devices. Devices see
 * offsets only. Accesses that hit no device are reported to the caller
 * (which raises a guest-visible access fault); they never throw.
 */
import type { AccessSize, MmioDevice } from './device.js';

/** One mapped range. */
export interface BusRegion {
  readonly base: number;
  readonly size: number;
  readonly device: MmioDevice;
}

/** Raised when two regions overlap at mapping time (a board construction bug). */
export class BusOverlapError extends Error {}

/** Counts of accesses the bus could not route. */
export interface BusStats {
  unmappedReads: number;
  unmappedWrites: number;
}

export class MmioBus {
  private regions: BusRegion[] = [];
  private last: BusRegion | undefined;
  readonly stats: BusStats = { unmappedReads: 0, unmappedWrites: 0 };
  /** Where unroutable accesses are logged (rate-limited by the caller if needed). */
  log: (message: string) => void = () => {};

  /** Maps `device` at [base, base+size). */
  map(base: number, size: number, device: MmioDevice): void {
    for (const r of this.regions) {
      if (base < r.base + r.size && r.base < base + size) {
        throw new BusOverlapError(`${device.name} at 0x${base.toString(16)} overlaps ${r.device.name}`);
      }
    }
    this.regions.push({ base, size, device });
    this.regions.sort((a, b) => a.base - b.base);
  }

  /** All mapped regions, by address. */
  list(): readonly BusRegion[] {
    return this.regions;
  }

  /** The region containing [addr, addr+len), or undefined. */
  find(addr: number, len = 1): BusRegion | undefined {
    const l = this.last;
    if (l !== undefined && addr >= l.base && addr + len <= l.base + l.size) return l;
    for (const r of this.regions) {
      if (addr >= r.base && addr + len <= r.base + r.size) {
        this.last = r;
        return r;
      }
    }
    return undefined;
  }

  /** Reads through the bus; returns undefined when nothing is mapped there. */
  read(addr: number, size: AccessSize): number | undefined {
    const r = this.find(addr, size);
    if (r === undefined) {
      this.stats.unmappedReads++;
      this.log(`unmapped read of ${size} bytes at 0x${addr.toString(16)}`);
      return undefined;
    }
    return r.device.read(addr - r.base, size);
  }

  /** Writes through the bus; returns false when nothing is mapped there. */
  write(addr: number, size: AccessSize, value: number): boolean {
    const r = this.find(addr, size);
    if (r === undefined) {
      this.stats.unmappedWrites++;
      this.log(`unmapped write of ${size} bytes at 0x${addr.toString(16)}`);
      return false;
    }
    r.device.write(addr - r.base, size, value);
    return true;
  }
}
