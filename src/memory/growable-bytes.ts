/**
 * A byte buffer written at its end that doubles as it fills: the device
 * tree builder, the JIT's WebAssembly writer and the warm-up's assembler
 * build their output in one. The first {@link len} bytes of {@link bytes}
 * are the output; the rest are zero (growing copies only what was written).
 */
export class GrowableBytes {
  bytes: Uint8Array<ArrayBuffer>;
  len = 0;

  constructor(capacity: number) {
    this.bytes = new Uint8Array(capacity);
  }

  /** Makes room for `n` more bytes. */
  reserve(n: number): void {
    if (this.len + n <= this.bytes.length) return;
    let size = this.bytes.length * 2;
    while (size < this.len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.bytes.subarray(0, this.len));
    this.bytes = next;
  }

  /** Appends `a`. */
  put(a: ArrayLike<number>): void {
    this.reserve(a.length);
    this.bytes.set(a, this.len);
    this.len += a.length;
  }

  /** The bytes written so far (a view). */
  view(): Uint8Array<ArrayBuffer> {
    return this.bytes.subarray(0, this.len);
  }
}
