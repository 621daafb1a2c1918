/**
 * SiFive CLINT (core-local interruptor), as on QEMU `virt`: per hart a
 * machine software interrupt bit (msip, offset 4*hart) and a 64-bit timer
 * compare (mtimecmp, 0x4000 + 8*hart), and the shared 64-bit mtime at 0xbff8
 * (SiFive FU540 manual ch. 9; RISC-V ACLINT spec for MSWI/MTIMER).
 */
import type { AccessSize, HartInterruptPins, MmioDevice, Pollable, Saveable, TimeSource } from './device.js';
import { MipBit } from './device.js';

const MTIMECMP = 0x4000;
const MTIME = 0xbff8;
const TWO32 = 4294967296;

/** Saved CLINT state. */
export interface ClintState {
  version: 1;
  msip: number[];
  mtimecmpLo: number[];
  mtimecmpHi: number[];
}

export class Clint implements MmioDevice, Pollable, Saveable<ClintState> {
  readonly name = 'clint';
  private readonly msip: Uint8Array;
  private readonly cmpLo: Uint32Array;
  private readonly cmpHi: Uint32Array;
  private readonly mtip: Uint8Array;

  constructor(private readonly harts: number, private readonly time: TimeSource, private readonly pins: HartInterruptPins) {
    this.msip = new Uint8Array(harts);
    this.cmpLo = new Uint32Array(harts).fill(0xffffffff);
    this.cmpHi = new Uint32Array(harts).fill(0xffffffff);
    this.mtip = new Uint8Array(harts);
  }

  private cmp(h: number): number {
    return this.cmpHi[h] * TWO32 + this.cmpLo[h];
  }

  read(offset: number, size: AccessSize): number {
    if (size !== 4) return 0;
    if (offset < 4 * this.harts) return offset % 4 === 0 ? this.msip[offset >>> 2] : 0;
    if (offset >= MTIMECMP && offset < MTIMECMP + 8 * this.harts) {
      const h = (offset - MTIMECMP) >>> 3;
      return offset & 4 ? this.cmpHi[h] : this.cmpLo[h];
    }
    if (offset === MTIME || offset === MTIME + 4) {
      const t = this.time.now();
      return offset === MTIME ? t % TWO32 : Math.floor(t / TWO32);
    }
    return 0;
  }

  write(offset: number, size: AccessSize, value: number): void {
    if (size !== 4) return;
    if (offset < 4 * this.harts) {
      if (offset % 4 !== 0) return;
      const h = offset >>> 2;
      this.msip[h] = value & 1;
      this.pins.set(h, MipBit.MSIP, (value & 1) === 1);
      return;
    }
    if (offset >= MTIMECMP && offset < MTIMECMP + 8 * this.harts) {
      const h = (offset - MTIMECMP) >>> 3;
      if (offset & 4) this.cmpHi[h] = value >>> 0; else this.cmpLo[h] = value >>> 0;
      this.updateHart(h, this.time.now());
    }
    // mtime is read-only here: time comes from the board's clock.
  }

  private updateHart(h: number, now: number): void {
    const level = now >= this.cmp(h) ? 1 : 0;
    if (level !== this.mtip[h]) {
      this.mtip[h] = level;
      this.pins.set(h, MipBit.MTIP, level === 1);
    }
  }

  /** Updates MTIP for every hart; returns ticks until the next compare is reached (or Infinity). */
  poll(now: number): number {
    let next = Infinity;
    for (let h = 0; h < this.harts; h++) {
      this.updateHart(h, now);
      const c = this.cmp(h);
      if (c > now) next = Math.min(next, c - now);
    }
    return next;
  }

  save(): ClintState {
    return { version: 1, msip: [...this.msip], mtimecmpLo: [...this.cmpLo], mtimecmpHi: [...this.cmpHi] };
  }

  restore(s: ClintState): void {
    this.msip.set(s.msip); this.cmpLo.set(s.mtimecmpLo); this.cmpHi.set(s.mtimecmpHi);
    for (let h = 0; h < this.harts; h++) this.pins.set(h, MipBit.MSIP, this.msip[h] === 1);
    this.mtip.fill(2); // force re-evaluation
    this.poll(this.time.now());
  }
}
