/**
 * SiFive PLIC (RISC-V Platform-Level Interrupt Controller spec v1.0.0), as on
 * QEMU `virt`: 96 sources (1–96, riscv,ndev = 96), priorities 0–7, two contexts per hart
 * (context 2h = hart h M-mode → MEIP, 2h+1 = S-mode → SEIP). Sources are
 * level-triggered: a claimed source is not presented again until completed.
 */
import type { AccessSize, HartInterruptPins, InterruptLine, MmioDevice, Saveable } from './device.js';
import { MipBit } from './device.js';

/** Number of interrupt source slots: the reserved source 0 and sources 1–96 (QEMU advertises riscv,ndev = 96). */
export const PLIC_SOURCES = 97;
const WORDS = Math.ceil(PLIC_SOURCES / 32);
const PENDING = 0x1000;
const ENABLE = 0x2000;
const ENABLE_STRIDE = 0x80;
const CONTEXT = 0x200000;
const CONTEXT_STRIDE = 0x1000;

/** Saved PLIC state. */
export interface PlicState {
  version: 1;
  priority: number[];
  level: number[];
  claimed: number[];
  enable: number[];
  threshold: number[];
}

export class Plic implements MmioDevice, Saveable<PlicState> {
  readonly name = 'plic';
  private readonly contexts: number;
  private readonly priority = new Uint32Array(PLIC_SOURCES);
  /** Current line level of each source. */
  private readonly level = new Uint8Array(PLIC_SOURCES);
  /** Claimed and not yet completed. */
  private readonly claimed = new Uint8Array(PLIC_SOURCES);
  private readonly enable: Uint32Array;
  private readonly threshold: Uint32Array;
  private readonly outputs: Uint8Array;

  constructor(private readonly harts: number, private readonly pins: HartInterruptPins) {
    this.contexts = harts * 2;
    this.enable = new Uint32Array(this.contexts * WORDS);
    this.threshold = new Uint32Array(this.contexts);
    this.outputs = new Uint8Array(this.contexts);
  }

  /** The interrupt line of source `irq` (1–96). */
  line(irq: number): InterruptLine {
    if (irq < 1 || irq >= PLIC_SOURCES) throw new RangeError(`PLIC source ${irq} out of range`);
    return { setLevel: (high: boolean) => { this.level[irq] = high ? 1 : 0; this.update(); } };
  }

  private pending(src: number): boolean {
    return this.level[src] === 1 && this.claimed[src] === 0;
  }

  /** The highest-priority pending, enabled source above the context's threshold (0 = none). */
  private best(ctx: number): number {
    let best = 0, bestPrio = this.threshold[ctx];
    for (let s = 1; s < PLIC_SOURCES; s++) {
      if (!this.pending(s)) continue;
      if (((this.enable[ctx * WORDS + (s >>> 5)] >>> (s & 31)) & 1) === 0) continue;
      if (this.priority[s] > bestPrio) { best = s; bestPrio = this.priority[s]; }
    }
    return best;
  }

  private update(): void {
    for (let ctx = 0; ctx < this.contexts; ctx++) {
      const out = this.best(ctx) !== 0 ? 1 : 0;
      if (out !== this.outputs[ctx]) {
        this.outputs[ctx] = out;
        this.pins.set(ctx >>> 1, ctx & 1 ? MipBit.SEIP : MipBit.MEIP, out === 1);
      }
    }
  }

  read(offset: number, size: AccessSize): number {
    if (size !== 4 || offset % 4 !== 0) return 0;
    if (offset < PENDING) {
      const s = offset >>> 2;
      return s < PLIC_SOURCES ? this.priority[s] : 0;
    }
    if (offset < ENABLE) {
      const w = (offset - PENDING) >>> 2;
      if (w >= WORDS) return 0;
      let v = 0;
      for (let b = 0; b < 32; b++) if (this.pending(w * 32 + b)) v |= 1 << b;
      return v >>> 0;
    }
    if (offset < CONTEXT) {
      const ctx = Math.floor((offset - ENABLE) / ENABLE_STRIDE);
      const w = ((offset - ENABLE) % ENABLE_STRIDE) >>> 2;
      if (ctx >= this.contexts || w >= WORDS) return 0;
      return this.enable[ctx * WORDS + w];
    }
    const ctx = Math.floor((offset - CONTEXT) / CONTEXT_STRIDE);
    const reg = (offset - CONTEXT) % CONTEXT_STRIDE;
    if (ctx >= this.contexts) return 0;
    if (reg === 0) return this.threshold[ctx];
    if (reg === 4) {
      // Claim (§7): the best source is no longer pending until completed.
      const s = this.best(ctx);
      if (s !== 0) { this.claimed[s] = 1; this.update(); }
      return s;
    }
    return 0;
  }

  write(offset: number, size: AccessSize, value: number): void {
    if (size !== 4 || offset % 4 !== 0) return;
    if (offset < PENDING) {
      const s = offset >>> 2;
      if (s > 0 && s < PLIC_SOURCES) { this.priority[s] = value & 7; this.update(); }
      return;
    }
    if (offset < ENABLE) return; // pending bits are read-only
    if (offset < CONTEXT) {
      const ctx = Math.floor((offset - ENABLE) / ENABLE_STRIDE);
      const w = ((offset - ENABLE) % ENABLE_STRIDE) >>> 2;
      if (ctx >= this.contexts || w >= WORDS) return;
      this.enable[ctx * WORDS + w] = w === 0 ? (value & ~1) >>> 0 : value >>> 0; // source 0 does not exist
      this.update();
      return;
    }
    const ctx = Math.floor((offset - CONTEXT) / CONTEXT_STRIDE);
    const reg = (offset - CONTEXT) % CONTEXT_STRIDE;
    if (ctx >= this.contexts) return;
    if (reg === 0) { this.threshold[ctx] = value & 7; this.update(); }
    else if (reg === 4) {
      // Complete: only for a source enabled for this context (§8); others are ignored.
      const s = value >>> 0;
      if (s > 0 && s < PLIC_SOURCES && ((this.enable[ctx * WORDS + (s >>> 5)] >>> (s & 31)) & 1)) {
        this.claimed[s] = 0;
        this.update();
      }
    }
  }

  save(): PlicState {
    return {
      version: 1, priority: [...this.priority], level: [...this.level], claimed: [...this.claimed],
      enable: [...this.enable], threshold: [...this.threshold],
    };
  }

  restore(s: PlicState): void {
    this.priority.set(s.priority); this.level.set(s.level); this.claimed.set(s.claimed);
    this.enable.set(s.enable); this.threshold.set(s.threshold);
    this.outputs.fill(2);
    this.update();
  }

  /** Number of harts served. */
  get hartCount(): number {
    return this.harts;
  }
}
