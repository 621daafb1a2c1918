/**
 * The host machine the VMM runs its VMs on: host-physical RAM, host harts
 * with the H extension, and the code caches and translator they share.
 *
 * tsvisor's VMM is the host's only software, written in TypeScript rather
 * than running on the host harts, so the host has no devices of its own:
 * every device a guest sees belongs to its VM. Host RAM holds the VMs' RAM
 * and the page tables the VMM builds for them (G-stage tables under `hw`,
 * shadow tables under `trap`, `bt` and `pv`); the host harts reach only what
 * those tables map.
 *
 * A vCPU's architectural state lives in a hart context of its own (the
 * {@link Hart} object: registers, CSRs, TLB). A host hart runs one context at
 * a time for a time slice; keeping the contexts apart rather than copying
 * state in and out on each switch is equivalent to a hart whose TLB entries
 * are tagged by VMID and ASID.
 */
import { GuestRam, PAGE_SIZE } from '../memory/guest-memory.js';
import { MmioBus } from '../devices/bus.js';
import { Hart } from '../cpu/riscv/hart.js';
import { DecodeCache } from '../cpu/riscv/decode-cache.js';
import { Jit, type JitBackend } from '../cpu/riscv/jit/jit.js';
import { warmUpOnce } from '../cpu/riscv/warmup.js';
import { HostClock } from '../machine/host-clock.js';
import { defaultCpuEngine, defaultJitBackend, VirtMap, type CpuEngine } from '../machine/virt.js';
import { BootError } from '../machine/loader.js';

export interface HostOptions {
  /** Host-physical RAM in bytes: the VMs' RAM and their page tables come out of it. */
  memory: number;
  /** Host harts (physical CPUs) the scheduler runs vCPUs on. */
  harts: number;
  cpu?: CpuEngine;
  jitBackend?: JitBackend;
  jitThreshold?: number;
}

/** Raised when host memory cannot satisfy an allocation. */
export class HostMemoryError extends BootError {}

/** A free range of host-physical memory. */
interface Extent {
  base: number;
  size: number;
}

export class HostMachine {
  readonly ram: GuestRam;
  /** No host devices: an empty bus, so a stray host-physical access outside RAM is an access fault. */
  readonly bus = new MmioBus();
  readonly clock = new HostClock();
  readonly decodeCache: DecodeCache;
  readonly jit: Jit | undefined;
  readonly harts: number;
  private readonly free: Extent[];
  private readonly wasm: boolean;
  private contexts = 0;
  /** Hart contexts of closed VMs, handed to the next vCPUs (the host state area holds about 100). */
  private readonly spare: Hart[] = [];

  constructor(options: HostOptions) {
    const { memory, harts } = options;
    if (!Number.isInteger(harts) || harts < 1 || harts > 64) throw new BootError(`invalid number of host harts ${harts}: use 1 to 64`);
    if (memory < 16 * 1048576 || memory % PAGE_SIZE !== 0) throw new BootError('host memory must be at least 16 MiB');
    this.harts = harts;
    this.ram = new GuestRam(VirtMap.dram.base, memory);
    this.decodeCache = new DecodeCache(this.ram);
    const engine = options.cpu ?? defaultCpuEngine();
    warmUpOnce(engine);
    this.jit = engine === 'jit' ? new Jit(this.ram, this.decodeCache, options.jitThreshold) : undefined;
    this.wasm = this.jit !== undefined && (options.jitBackend ?? defaultJitBackend()) === 'wasm' && this.jit.useWasm([]) === 'wasm';
    this.free = [{ base: this.ram.base, size: memory }];
  }

  /**
   * Allocates `size` bytes of host-physical memory aligned to `align` (a
   * power of two, at least a page), zeroed. Throws {@link HostMemoryError}.
   */
  allocate(size: number, align = PAGE_SIZE): number {
    size = Math.ceil(size / PAGE_SIZE) * PAGE_SIZE;
    for (let i = 0; i < this.free.length; i++) {
      const e = this.free[i];
      const base = Math.ceil(e.base / align) * align;
      if (base + size > e.base + e.size) continue;
      const after = { base: base + size, size: e.base + e.size - (base + size) };
      const parts = [{ base: e.base, size: base - e.base }, after].filter((p) => p.size > 0);
      this.free.splice(i, 1, ...parts);
      this.zero(base, size);
      return base;
    }
    throw new HostMemoryError(`host memory exhausted: cannot allocate ${size / 1024} KiB ` +
      `(${this.freeBytes() / 1048576} MiB free in ${this.free.length} pieces); give the host more memory`);
  }

  /** Returns host-physical memory to the free list. */
  release(base: number, size: number): void {
    size = Math.ceil(size / PAGE_SIZE) * PAGE_SIZE;
    this.free.push({ base, size });
    this.free.sort((a, b) => a.base - b.base);
    for (let i = 0; i + 1 < this.free.length;) {
      const a = this.free[i], b = this.free[i + 1];
      if (a.base + a.size === b.base) { a.size += b.size; this.free.splice(i + 1, 1); } else i++;
    }
  }

  freeBytes(): number {
    return this.free.reduce((n, e) => n + e.size, 0);
  }

  /** Clears host memory through the RAM's write tracking (so the code caches forget what was there). */
  zero(base: number, size: number): void {
    const off = base - this.ram.base;
    this.ram.u8.fill(0, off, off + size);
    this.ram.noteWrite(off, size);
  }

  /** A hart context (one vCPU's architectural state) on this host: a released one, reset, or a new one. */
  createContext(): Hart {
    const reused = this.spare.pop();
    if (reused !== undefined) {
      // Nothing of the last VM may show through: registers (FP ones included), CSRs, TLB, counters.
      reused.reset(0);
      reused.fpu.i32.fill(0);
      reused.clearStats();
      reused.exit = undefined;
      reused.vmmExits = reused.userExits = false;
      reused.privilegedHook = undefined;
      return reused;
    }
    const env = { ram: this.ram, bus: this.bus, time: this.clock, decodeCache: this.decodeCache, jit: this.jit };
    const h = new Hart(this.contexts++, env);
    // The WebAssembly translations reach registers and TLBs inside the shared memory.
    if (this.wasm && !(this.ram.inWasmMemory(h.xl) && this.ram.inWasmMemory(h.mmu.entryWords))) {
      throw new BootError(`too many vCPUs on one host (${this.contexts}): the host state area is full`);
    }
    return h;
  }

  /** Takes back the context of a vCPU whose VM is gone. */
  releaseContext(h: Hart): void {
    this.spare.push(h);
  }
}
