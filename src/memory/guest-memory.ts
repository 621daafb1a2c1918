/**
 * Guest physical RAM: one contiguous block at a guest-physical base address.
 *
 * This module only *accesses* memory. Whoever maps it (the board, the VMM)
 * decides where it lives. Devices and virtqueues never own memory: they are
 * handed a {@link GuestMemory} and go through its bounds-checked accessors.
 */

/** A guest-physical address. Always a non-negative integer below 2^53. */
export type GuestAddress = number;

/** Size of the pages tracked by the dirty bitmap and code tracking. */
export const PAGE_SIZE = 4096;
export const PAGE_SHIFT = 12;

/**
 * Bytes reserved after RAM for host state that WebAssembly code reads: per-hart registers and TLBs (about
 * 0.6 MiB a hart), the JIT's tables. Pages of it never written cost no host memory.
 */
export const HOST_STATE_BYTES = 64 << 20;
/** The largest 32-bit WebAssembly memory (4 GiB less one 64 KiB page, to stay clear of the limit). */
const MAX_WASM_MEMORY = 65535 * 65536;

/** Raised when a guest-supplied address range does not lie inside RAM. */
export class GuestMemoryError extends Error {
  constructor(readonly address: GuestAddress, readonly length: number) {
    super(`guest address range 0x${address.toString(16)}+${length} is outside guest RAM`);
    this.name = 'GuestMemoryError';
  }
}

/** One bit per guest page, set when the page is written. */
export class DirtyBitmap {
  readonly bits: Uint8Array;
  constructor(readonly pages: number, bits?: Uint8Array) {
    this.bits = bits ?? new Uint8Array(pages);
  }
  /** Marks page `page` dirty. */
  mark(page: number): void {
    this.bits[page] = 1;
  }
  /** Marks every page overlapping [offset, offset+length) dirty. */
  markRange(offset: number, length: number): void {
    if (length <= 0) return;
    const first = offset >>> PAGE_SHIFT;
    const last = (offset + length - 1) >>> PAGE_SHIFT;
    this.bits.fill(1, first, last + 1);
  }
  /** Returns the dirty page numbers and clears the bitmap. */
  collectAndClear(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.pages; i++) if (this.bits[i]) out.push(i);
    this.bits.fill(0);
    return out;
  }
  /** Number of dirty pages. */
  count(): number {
    let n = 0;
    for (let i = 0; i < this.pages; i++) n += this.bits[i];
    return n;
  }
}

/** Bounds-checked access to guest RAM for devices (DMA) and loaders. */
export interface GuestMemory {
  /** True when [address, address+length) lies entirely inside RAM. */
  contains(address: GuestAddress, length: number): boolean;
  /** Copies guest bytes into `dest`. Throws {@link GuestMemoryError} when out of range. */
  read(address: GuestAddress, dest: Uint8Array): void;
  /** Copies `src` into guest memory. Throws {@link GuestMemoryError} when out of range. */
  write(address: GuestAddress, src: Uint8Array): void;
  /** A live view of guest bytes (no copy). Throws {@link GuestMemoryError} when out of range. */
  view(address: GuestAddress, length: number): Uint8Array;
  readU16(address: GuestAddress): number;
  readU32(address: GuestAddress): number;
  /** Reads a 64-bit little-endian value as a number; exact below 2^53. */
  readU64(address: GuestAddress): number;
  writeU16(address: GuestAddress, value: number): void;
  writeU32(address: GuestAddress, value: number): void;
  writeU64(address: GuestAddress, value: number): void;
}

/**
 * Guest RAM backed by one ArrayBuffer. The typed-array views are public so
 * the CPU's fast paths can index them directly (the host is little-endian,
 * like RISC-V).
 */
export class GuestRam implements GuestMemory {
  readonly buffer: ArrayBuffer;
  readonly u8: Uint8Array;
  readonly u16: Uint16Array;
  readonly i32: Int32Array;
  readonly u32: Uint32Array;
  readonly dv: DataView;
  readonly dirty: DirtyBitmap;
  /**
   * Per page: non-zero when some CPU holds decoded/translated code for the page.
   * Writers call {@link noteWrite}, which tells the code caches to drop it.
   */
  readonly codePages: Uint8Array;
  /**
   * For each page marked in {@link codePages}: the bytes [lo, hi) of it that
   * may hold cached instructions, as lo | hi << 16 (empty: lo 0xffff, hi 0),
   * which the code caches widen as they decode. A write outside them cannot
   * touch cached code (data sharing a page with code), so the JIT's inline
   * stores skip the code-write path for it.
   */
  readonly codeSpan: Int32Array;
  /** Called with a page index when a page holding code is written. */
  /**
   * Called when bytes [offset, offset + length) of page `page`, a page marked
   * in {@link codePages}, are written. Returns true when the page no longer
   * holds cached code (its mark is then cleared); false keeps the mark, for a
   * write that missed every cached instruction (data sharing a page with code).
   */
  onCodeWrite: (page: number, offset: number, length: number) => boolean = () => true;

  /**
   * The WebAssembly memory holding RAM (at offset 0) and, after it, the host
   * state area: when present, the JIT's WebAssembly code reaches guest RAM,
   * registers, TLBs and the page bitmaps directly. Absent when RAM is too
   * large for a 32-bit WebAssembly memory.
   */
  readonly wasmMemory: WebAssembly.Memory | undefined;
  private stateNext: number;
  private readonly stateEnd: number;

  constructor(readonly base: GuestAddress, readonly size: number) {
    if (size % PAGE_SIZE !== 0) throw new RangeError('guest RAM size must be a multiple of 4 KiB');
    const pages = size / PAGE_SIZE;
    const total = size + 6 * pages + HOST_STATE_BYTES; // RAM, the dirty, code-page and code-span maps, host state
    if (total <= MAX_WASM_MEMORY) {
      const wasmPages = Math.ceil(total / 65536);
      this.wasmMemory = new WebAssembly.Memory({ initial: wasmPages, maximum: wasmPages });
      this.buffer = this.wasmMemory.buffer;
      this.stateNext = size;
      this.stateEnd = wasmPages * 65536;
    } else {
      this.buffer = new ArrayBuffer(size);
      this.stateNext = this.stateEnd = size;
    }
    this.u8 = new Uint8Array(this.buffer, 0, size);
    this.u16 = new Uint16Array(this.buffer, 0, size / 2);
    this.i32 = new Int32Array(this.buffer, 0, size / 4);
    this.u32 = new Uint32Array(this.buffer, 0, size / 4);
    this.dv = new DataView(this.buffer, 0, size);
    this.dirty = new DirtyBitmap(pages, this.hostArray(Uint8Array, pages));
    this.codePages = this.hostArray(Uint8Array, pages);
    this.codeSpan = this.hostArray(Int32Array, pages);
  }

  /**
   * A zeroed typed array for host-side state (registers, TLBs), placed in the
   * state area after RAM when there is one (so WebAssembly code can reach it
   * at `array.byteOffset`), else on its own.
   */
  hostArray<T extends Uint8Array | Int32Array | Float64Array>(
    ctor: { new (buffer: ArrayBuffer, offset: number, length: number): T; new (length: number): T; BYTES_PER_ELEMENT: number },
    length: number,
  ): T {
    const bytes = length * ctor.BYTES_PER_ELEMENT;
    const at = (this.stateNext + 7) & ~7;
    if (this.wasmMemory === undefined || at + bytes > this.stateEnd) return new ctor(length);
    this.stateNext = at + bytes;
    return new ctor(this.buffer, at, length);
  }

  /** True when `array` lives in this RAM's WebAssembly memory. */
  inWasmMemory(array: ArrayBufferView): boolean {
    return this.wasmMemory !== undefined && array.buffer === this.buffer;
  }

  /** The first address past the end of RAM. */
  get end(): GuestAddress {
    return this.base + this.size;
  }

  contains(address: GuestAddress, length: number): boolean {
    return address >= this.base && length >= 0 && address + length <= this.base + this.size;
  }

  private offsetOf(address: GuestAddress, length: number): number {
    if (!this.contains(address, length)) throw new GuestMemoryError(address, length);
    return address - this.base;
  }

  /** Records a write of `length` bytes at RAM offset `offset` (dirty + code tracking). */
  noteWrite(offset: number, length: number): void {
    this.dirty.markRange(offset, length);
    const first = offset >>> PAGE_SHIFT;
    const last = (offset + Math.max(length, 1) - 1) >>> PAGE_SHIFT;
    for (let p = first; p <= last; p++) {
      if (this.codePages[p]) {
        const start = Math.max(offset, p << PAGE_SHIFT), end = Math.min(offset + length, (p + 1) << PAGE_SHIFT);
        if (this.onCodeWrite(p, start & (PAGE_SIZE - 1), Math.max(end - start, 1))) this.codePages[p] = 0;
      }
    }
  }

  read(address: GuestAddress, dest: Uint8Array): void {
    const off = this.offsetOf(address, dest.length);
    dest.set(this.u8.subarray(off, off + dest.length));
  }

  write(address: GuestAddress, src: Uint8Array): void {
    const off = this.offsetOf(address, src.length);
    this.u8.set(src, off);
    this.noteWrite(off, src.length);
  }

  view(address: GuestAddress, length: number): Uint8Array {
    const off = this.offsetOf(address, length);
    return this.u8.subarray(off, off + length);
  }

  readU16(address: GuestAddress): number {
    return this.dv.getUint16(this.offsetOf(address, 2), true);
  }
  readU32(address: GuestAddress): number {
    return this.dv.getUint32(this.offsetOf(address, 4), true);
  }
  readU64(address: GuestAddress): number {
    const off = this.offsetOf(address, 8);
    return this.dv.getUint32(off + 4, true) * 4294967296 + this.dv.getUint32(off, true);
  }
  writeU16(address: GuestAddress, value: number): void {
    const off = this.offsetOf(address, 2);
    this.dv.setUint16(off, value, true);
    this.noteWrite(off, 2);
  }
  writeU32(address: GuestAddress, value: number): void {
    const off = this.offsetOf(address, 4);
    this.dv.setUint32(off, value >>> 0, true);
    this.noteWrite(off, 4);
  }
  writeU64(address: GuestAddress, value: number): void {
    const off = this.offsetOf(address, 8);
    this.dv.setUint32(off, value % 4294967296, true);
    this.dv.setUint32(off + 4, Math.floor(value / 4294967296), true);
    this.noteWrite(off, 8);
  }
}
