/**
 * SiFive PLIC (RISC-V Platform-Level Interrupt Controller Specification
 * v1.0.0), as on QEMU 7.2 `virt` at 0xc000000 (size 0x600000;
 * hw/riscv/virt.c and hw/intc/sifive_plic.c):
 *
 * - sources 1..96 (the device tree's riscv,ndev = VIRT_IRQCHIP_NUM_SOURCES
 *   = 96; source 0 does not exist), priorities 0..7
 *   (VIRT_IRQCHIP_NUM_PRIO_BITS = 3; a priority of 0 never interrupts);
 * - two contexts per hart: context 2h is hart h's M-mode (→ mip.MEIP),
 *   context 2h+1 its S-mode (→ mip.SEIP).
 *
 * | offset                     | register                                |
 * |----------------------------|-----------------------------------------|
 * | 0x000000 + 4*src           | priority of source `src`                |
 * | 0x001000 + 4*word          | pending bits (read-only)                |
 * | 0x002000 + 0x80*ctx + 4*w  | enable bits of context `ctx`            |
 * | 0x200000 + 0x1000*ctx      | priority threshold of context `ctx`     |
 * | 0x200004 + 0x1000*ctx      | claim (read) / complete (write)         |
 *
 * Sources are level-triggered through a gateway (spec §5): while a source's
 * line is high and it is not in service, it is pending. A claim returns the
 * highest-priority pending source enabled for the context with a priority
 * above its threshold (the lowest id among equals), clears its pending bit
 * and puts it in service; the source is not presented again until the
 * context writes its id to complete, after which a line still high makes it
 * pending again. A pending source whose line drops before a claim stops
 * being pending (as in QEMU). Completing a source that is not enabled for
 * the context is ignored (spec §8, which Linux's irq-sifive-plic relies on).
 * Only naturally aligned 32-bit accesses are served (QEMU's
 * min_access_size = 4): others read 0 and are ignored.
 */
import type { AccessSize, HartInterruptPins, InterruptLine, MmioDevice, Saveable } from './device.js';
import { MipBit } from './device.js';

/** QEMU virt's riscv,ndev: the highest source id. */
export const VIRT_PLIC_NDEV = 96;
/** Number of source slots on virt, the reserved source 0 included. */
export const PLIC_SOURCES = VIRT_PLIC_NDEV + 1;
/** Priorities are 3 bits wide on virt. */
const PRIORITY_MASK = 7;

const PRIORITY_BASE = 0x0;
const PENDING_BASE = 0x1000;
const ENABLE_BASE = 0x2000;
const ENABLE_STRIDE = 0x80;
const CONTEXT_BASE = 0x200000;
const CONTEXT_STRIDE = 0x1000;

/** Saved PLIC state (version 1). Word arrays hold one bit per source. */
export interface PlicState {
  version: 1;
  /** Priority of each source slot (index 0 unused). */
  priority: number[];
  /** Line levels. */
  level: number[];
  /** Sources in service (claimed, not completed). */
  claimed: number[];
  /** Enable words, `words` per context. */
  enable: number[];
  threshold: number[];
}

/** Counters of the PLIC. */
export interface PlicStats {
  claims: number;
  /** Claims that found nothing to return (0). */
  spuriousClaims: number;
  completes: number;
}

/** The PLIC of `harts` harts with sources 1..`ndev`. */
export class Plic implements MmioDevice, Saveable<PlicState> {
  private readonly contexts: number;
  /** Source slots, 0 included. */
  private readonly sources: number;
  /** 32-bit words per bit vector. */
  private readonly words: number;
  private readonly priority: Uint32Array;
  private readonly level: Uint32Array;
  private readonly claimed: Uint32Array;
  private readonly enable: Uint32Array;
  private readonly threshold: Uint32Array;
  /** Last level driven per context (2 = unknown: drive on next update). */
  private readonly outputs: Uint8Array;
  /** Counters. */
  readonly stats: PlicStats = { claims: 0, spuriousClaims: 0, completes: 0 };

  /**
   * @param harts number of harts; the PLIC has 2 contexts per hart
   * @param pins where MEIP and SEIP are driven
   * @param ndev the highest source id (riscv,ndev; 96 on virt)
   * @param name name for logs and statistics
   */
  constructor(
    private readonly harts: number,
    private readonly pins: HartInterruptPins,
    ndev = VIRT_PLIC_NDEV,
    readonly name = 'plic',
  ) {
    if (!Number.isInteger(ndev) || ndev < 1 || ndev > 1023) throw new RangeError(`PLIC: ndev ${ndev} must be 1..1023`);
    this.contexts = harts * 2;
    this.sources = ndev + 1;
    this.words = Math.ceil(this.sources / 32);
    this.priority = new Uint32Array(this.sources);
    this.level = new Uint32Array(this.words);
    this.claimed = new Uint32Array(this.words);
    this.enable = new Uint32Array(this.contexts * this.words);
    this.threshold = new Uint32Array(this.contexts);
    this.outputs = new Uint8Array(this.contexts);
  }

  /** Number of harts served. */
  get hartCount(): number {
    return this.harts;
  }

  /** The interrupt line of source `irq` (1..ndev), for the device wired to it. */
  line(irq: number): InterruptLine {
    if (!Number.isInteger(irq) || irq < 1 || irq >= this.sources) {
      throw new RangeError(`PLIC source ${irq} out of range: sources are 1..${this.sources - 1}`);
    }
    const w = irq >>> 5;
    const bit = 1 << (irq & 31);
    return {
      setLevel: (high: boolean): void => {
        const old = this.level[w];
        const now = high ? (old | bit) >>> 0 : (old & ~bit) >>> 0;
        if (now === old) return;
        this.level[w] = now;
        this.update();
      },
    };
  }

  /** Returns to the reset state: everything 0, outputs low. Line levels are the devices' and are kept. */
  reset(): void {
    this.priority.fill(0);
    this.claimed.fill(0);
    this.enable.fill(0);
    this.threshold.fill(0);
    this.outputs.fill(2);
    this.update();
  }

  /** Pending bits of word `w`: line high and not in service. */
  private pendingWord(w: number): number {
    return (this.level[w] & ~this.claimed[w]) >>> 0;
  }

  /** The source a claim by `ctx` would return now (0 = none). */
  private best(ctx: number): number {
    let best = 0;
    let bestPrio = this.threshold[ctx];
    const base = ctx * this.words;
    for (let w = 0; w < this.words; w++) {
      let bits = (this.pendingWord(w) & this.enable[base + w]) >>> 0;
      while (bits !== 0) {
        const b = 31 - Math.clz32(bits & -bits); // lowest set bit first: ties go to the lowest id
        bits = (bits & (bits - 1)) >>> 0;
        const src = (w << 5) + b;
        const p = this.priority[src];
        if (p > bestPrio) {
          best = src;
          bestPrio = p;
        }
      }
    }
    return best;
  }

  /** Drives every context's external interrupt pin from the current state. */
  private update(): void {
    for (let ctx = 0; ctx < this.contexts; ctx++) {
      const out = this.best(ctx) !== 0 ? 1 : 0;
      if (out !== this.outputs[ctx]) {
        this.outputs[ctx] = out;
        this.pins.set(ctx >>> 1, (ctx & 1) !== 0 ? MipBit.SEIP : MipBit.MEIP, out === 1);
      }
    }
  }

  read(offset: number, size: AccessSize): number {
    if (size !== 4 || (offset & 3) !== 0) return 0;
    if (offset < PENDING_BASE) {
      const src = (offset - PRIORITY_BASE) >>> 2;
      return src < this.sources ? this.priority[src] : 0;
    }
    if (offset < ENABLE_BASE) {
      const w = (offset - PENDING_BASE) >>> 2;
      return w < this.words ? this.pendingWord(w) : 0;
    }
    if (offset < CONTEXT_BASE) {
      const ctx = Math.floor((offset - ENABLE_BASE) / ENABLE_STRIDE);
      const w = ((offset - ENABLE_BASE) % ENABLE_STRIDE) >>> 2;
      return ctx < this.contexts && w < this.words ? this.enable[ctx * this.words + w] : 0;
    }
    const ctx = Math.floor((offset - CONTEXT_BASE) / CONTEXT_STRIDE);
    if (ctx >= this.contexts) return 0;
    const reg = (offset - CONTEXT_BASE) % CONTEXT_STRIDE;
    if (reg === 0) return this.threshold[ctx];
    if (reg === 4) return this.claim(ctx);
    return 0;
  }

  /** Claim (spec §7): takes the best source into service and returns it (0 when none). */
  private claim(ctx: number): number {
    this.stats.claims++;
    const src = this.best(ctx);
    if (src === 0) {
      this.stats.spuriousClaims++;
      return 0;
    }
    this.claimed[src >>> 5] = (this.claimed[src >>> 5] | (1 << (src & 31))) >>> 0;
    this.update();
    return src;
  }

  write(offset: number, size: AccessSize, value: number): void {
    if (size !== 4 || (offset & 3) !== 0) return;
    const v = value >>> 0;
    if (offset < PENDING_BASE) {
      const src = (offset - PRIORITY_BASE) >>> 2;
      if (src === 0 || src >= this.sources) return; // source 0 is reserved
      this.priority[src] = v & PRIORITY_MASK; // WARL: unimplemented bits read 0
      this.update();
      return;
    }
    if (offset < ENABLE_BASE) return; // pending bits are read-only
    if (offset < CONTEXT_BASE) {
      const ctx = Math.floor((offset - ENABLE_BASE) / ENABLE_STRIDE);
      const w = ((offset - ENABLE_BASE) % ENABLE_STRIDE) >>> 2;
      if (ctx >= this.contexts || w >= this.words) return;
      let bits = v;
      if (w === 0) bits &= ~1; // source 0 does not exist
      if (w === this.words - 1 && (this.sources & 31) !== 0) bits &= (1 << (this.sources & 31)) - 1; // nor do ids past ndev
      this.enable[ctx * this.words + w] = bits >>> 0;
      this.update();
      return;
    }
    const ctx = Math.floor((offset - CONTEXT_BASE) / CONTEXT_STRIDE);
    if (ctx >= this.contexts) return;
    const reg = (offset - CONTEXT_BASE) % CONTEXT_STRIDE;
    if (reg === 0) {
      this.threshold[ctx] = v & PRIORITY_MASK;
      this.update();
    } else if (reg === 4) {
      this.complete(ctx, v);
    }
  }

  /** Completion (spec §8): ends the service of `src` if it is enabled for `ctx`. */
  private complete(ctx: number, src: number): void {
    if (src === 0 || src >= this.sources) return;
    const w = src >>> 5;
    const bit = 1 << (src & 31);
    if ((this.enable[ctx * this.words + w] & bit) === 0) return;
    this.stats.completes++;
    if ((this.claimed[w] & bit) === 0) return;
    this.claimed[w] = (this.claimed[w] & ~bit) >>> 0;
    this.update();
  }

  save(): PlicState {
    return {
      version: 1,
      priority: Array.from(this.priority),
      level: Array.from(this.level),
      claimed: Array.from(this.claimed),
      enable: Array.from(this.enable),
      threshold: Array.from(this.threshold),
    };
  }

  restore(s: PlicState): void {
    if (s.version !== 1) throw new Error(`plic: unsupported state version ${String(s.version)}; this build reads version 1`);
    if (s.priority.length !== this.sources || s.enable.length !== this.enable.length) {
      throw new Error(
        `plic: the snapshot has ${s.priority.length - 1} sources and ${s.threshold.length} contexts, ` +
          `this machine ${this.sources - 1} and ${this.contexts}; restore into an identical machine`,
      );
    }
    for (let i = 0; i < this.sources; i++) this.priority[i] = i === 0 ? 0 : s.priority[i] & PRIORITY_MASK;
    this.level.set(s.level.map((x) => x >>> 0));
    this.claimed.set(s.claimed.map((x) => x >>> 0));
    this.enable.set(s.enable.map((x) => x >>> 0));
    this.threshold.set(s.threshold.map((x) => x & PRIORITY_MASK));
    this.outputs.fill(2);
    this.update();
  }
}
