/**
 * SiFive CLINT (core-local interruptor), as on QEMU `virt` at 0x2000000
 * (size 0x10000): SiFive FU540-C000 manual ch. 9 and the RISC-V ACLINT
 * specification v1.0 (MSWI and MTIMER devices), as QEMU implements them in
 * hw/intc/riscv_aclint.c.
 *
 * | offset            | register                                   |
 * |-------------------|--------------------------------------------|
 * | 0x0000 + 4*hart   | msip: bit 0 drives the hart's mip.MSIP     |
 * | 0x4000 + 8*hart   | mtimecmp (64-bit): mip.MTIP = mtime >= it  |
 * | 0xbff8            | mtime (64-bit), the board's 10 MHz clock   |
 *
 * 64-bit registers are kept as two 32-bit halves, so values above 2^53
 * (e.g. OpenSBI's "never" of all ones) are exact. Like QEMU, mtimecmp is 0
 * after reset (OpenSBI writes all ones before enabling the timer), so MTIP
 * reads pending until the firmware programs it.
 *
 * mtime comes from the board's {@link TimeSource}, the same one the harts'
 * `time` CSR (and Sstc's stimecmp) read; writes to mtime are ignored so the
 * two can never disagree. An 8-byte mtime read arrives as two 4-byte reads,
 * low half first: reading the low half latches the high half for the read
 * that immediately follows, so the pair is one consistent 64-bit value.
 */
import type { AccessSize, HartInterruptPins, MmioDevice, Pollable, Saveable, TimeSource } from './device.js';
import { MipBit } from './device.js';

const MSIP_BASE = 0x0000;
const MTIMECMP_BASE = 0x4000;
const MTIME = 0xbff8;
const TWO32 = 4294967296;

/** Saved CLINT state (version 1). mtime is the board clock's and is not part of it. */
export interface ClintState {
  version: 1;
  msip: number[];
  mtimecmpLo: number[];
  mtimecmpHi: number[];
}

/** The CLINT of `harts` harts (hart ids 0..harts-1). */
export class Clint implements MmioDevice, Pollable, Saveable<ClintState> {
  private readonly msip: Uint8Array;
  private readonly cmpLo: Uint32Array;
  private readonly cmpHi: Uint32Array;
  /** Last MTIP level driven per hart (2 = unknown: drive on next update). */
  private readonly mtip: Uint8Array;
  /** High half of mtime latched by a low-half read; valid for the very next access only. */
  private latchedHigh: number | undefined;

  /**
   * @param harts number of harts (contexts of msip/mtimecmp)
   * @param time the board's time base (mtime)
   * @param pins where MSIP and MTIP are driven
   * @param name name for logs and statistics
   */
  constructor(
    private readonly harts: number,
    private readonly time: TimeSource,
    private readonly pins: HartInterruptPins,
    readonly name = 'clint',
  ) {
    this.msip = new Uint8Array(harts);
    this.cmpLo = new Uint32Array(harts);
    this.cmpHi = new Uint32Array(harts);
    this.mtip = new Uint8Array(harts).fill(2);
  }

  /** Returns to the reset state: msip 0, mtimecmp 0 (QEMU riscv_aclint.c), pins re-driven. */
  reset(): void {
    this.msip.fill(0);
    this.cmpLo.fill(0);
    this.cmpHi.fill(0);
    this.latchedHigh = undefined;
    for (let h = 0; h < this.harts; h++) this.pins.set(h, MipBit.MSIP, false);
    this.mtip.fill(2);
    this.poll(this.time.now());
  }

  /** mtimecmp of `hart` as a bigint (for tests and debuggers). */
  mtimecmp(hart: number): bigint {
    return (BigInt(this.cmpHi[hart]) << 32n) | BigInt(this.cmpLo[hart]);
  }

  read(offset: number, size: AccessSize): number {
    const latched = this.latchedHigh;
    this.latchedHigh = undefined;
    const word = offset & ~3;
    const v = this.read32(word, latched);
    if (size === 4) return offset === word ? v : 0;
    // Narrow reads see the corresponding bytes of the aligned word.
    const shift = (offset & 3) * 8;
    return (v >>> shift) & (size === 1 ? 0xff : 0xffff);
  }

  private read32(offset: number, latched: number | undefined): number {
    if (offset >= MSIP_BASE && offset < MSIP_BASE + 4 * this.harts) return this.msip[(offset - MSIP_BASE) >>> 2];
    if (offset >= MTIMECMP_BASE && offset < MTIMECMP_BASE + 8 * this.harts) {
      const h = (offset - MTIMECMP_BASE) >>> 3;
      return (offset & 4) !== 0 ? this.cmpHi[h] : this.cmpLo[h];
    }
    if (offset === MTIME) {
      const t = this.time.now();
      this.latchedHigh = Math.floor(t / TWO32) >>> 0;
      return t % TWO32;
    }
    if (offset === MTIME + 4) return latched ?? Math.floor(this.time.now() / TWO32) >>> 0;
    return 0;
  }

  write(offset: number, size: AccessSize, value: number): void {
    this.latchedHigh = undefined;
    const word = offset & ~3;
    let v = value >>> 0;
    if (size !== 4) {
      // Narrow writes merge into the aligned word.
      const shift = (offset & 3) * 8;
      const mask = (size === 1 ? 0xff : 0xffff) << shift;
      v = ((this.peek32(word) & ~mask) | ((v << shift) & mask)) >>> 0;
    } else if (offset !== word) {
      return;
    }
    if (word >= MSIP_BASE && word < MSIP_BASE + 4 * this.harts) {
      const h = (word - MSIP_BASE) >>> 2;
      const bit = v & 1; // bits 31:1 are hardwired to zero
      if (bit !== this.msip[h]) {
        this.msip[h] = bit;
        this.pins.set(h, MipBit.MSIP, bit === 1);
      }
      return;
    }
    if (word >= MTIMECMP_BASE && word < MTIMECMP_BASE + 8 * this.harts) {
      const h = (word - MTIMECMP_BASE) >>> 3;
      if ((word & 4) !== 0) this.cmpHi[h] = v;
      else this.cmpLo[h] = v;
      this.updateHart(h, this.time.now());
    }
    // mtime writes are ignored: see the file comment. Unknown offsets too.
  }

  /** The aligned word's current value without side effects (for narrow writes). */
  private peek32(word: number): number {
    if (word >= MSIP_BASE && word < MSIP_BASE + 4 * this.harts) return this.msip[(word - MSIP_BASE) >>> 2];
    if (word >= MTIMECMP_BASE && word < MTIMECMP_BASE + 8 * this.harts) {
      const h = (word - MTIMECMP_BASE) >>> 3;
      return (word & 4) !== 0 ? this.cmpHi[h] : this.cmpLo[h];
    }
    return 0;
  }

  /** Ticks from `now` until hart `h`'s compare value; 0 when reached, Infinity when out of reach. */
  private ticksUntil(h: number, now: number): number {
    const nowHi = Math.floor(now / TWO32);
    const nowLo = now - nowHi * TWO32;
    const hi = this.cmpHi[h];
    const lo = this.cmpLo[h];
    if (hi < nowHi || (hi === nowHi && lo <= nowLo)) return 0;
    const diff = (hi - nowHi) * TWO32 + (lo - nowLo);
    // Beyond 2^53 ticks (28 years at 10 MHz) is "never" for scheduling purposes.
    return diff > Number.MAX_SAFE_INTEGER ? Infinity : diff;
  }

  private updateHart(h: number, now: number): number {
    const until = this.ticksUntil(h, now);
    const level = until === 0 ? 1 : 0;
    if (level !== this.mtip[h]) {
      this.mtip[h] = level;
      this.pins.set(h, MipBit.MTIP, level === 1);
    }
    return until;
  }

  /**
   * Sets or clears MTIP on every hart for mtime = `now`; returns the ticks
   * until the next compare value is reached (Infinity when none is ahead:
   * a compare already reached keeps its level until mtimecmp is written).
   */
  poll(now: number): number {
    let next = Infinity;
    for (let h = 0; h < this.harts; h++) {
      const until = this.updateHart(h, now);
      if (until > 0 && until < next) next = until;
    }
    return next;
  }

  save(): ClintState {
    return { version: 1, msip: Array.from(this.msip), mtimecmpLo: Array.from(this.cmpLo), mtimecmpHi: Array.from(this.cmpHi) };
  }

  restore(s: ClintState): void {
    if (s.version !== 1) throw new Error(`clint: unsupported state version ${String(s.version)}; this build reads version 1`);
    if (s.msip.length !== this.harts || s.mtimecmpLo.length !== this.harts || s.mtimecmpHi.length !== this.harts) {
      throw new Error(`clint: the snapshot has ${s.msip.length} harts, this machine ${this.harts}; restore into a machine with as many harts`);
    }
    for (let h = 0; h < this.harts; h++) {
      this.msip[h] = s.msip[h] & 1;
      this.cmpLo[h] = s.mtimecmpLo[h] >>> 0;
      this.cmpHi[h] = s.mtimecmpHi[h] >>> 0;
      this.pins.set(h, MipBit.MSIP, this.msip[h] === 1);
    }
    this.latchedHigh = undefined;
    this.mtip.fill(2);
    this.poll(this.time.now());
  }
}
