/**
 * A block backend held in memory, for tests and scratch disks.
 */
import { type BlockBackend, BlockBackendError, checkBlockRange } from './block-backend.js';

/** A {@link BlockBackend} over a Uint8Array. */
export class MemoryBlockBackend implements BlockBackend {
  readonly data: Uint8Array;
  /** Counts of calls, for tests. */
  readonly calls = { read: 0, write: 0, flush: 0, discard: 0 };
  /** When set, every operation throws this (to test host I/O failures). */
  failWith: Error | undefined;

  /** A zero-filled disk of `size` bytes, or one over `data` (not copied). */
  constructor(sizeOrData: number | Uint8Array, readonly readOnly = false) {
    this.data = typeof sizeOrData === 'number' ? new Uint8Array(sizeOrData) : sizeOrData;
  }

  get size(): number {
    return this.data.length;
  }

  read(offset: number, dest: Uint8Array): void {
    this.check(offset, dest.length);
    this.calls.read++;
    dest.set(this.data.subarray(offset, offset + dest.length));
  }

  write(offset: number, src: Uint8Array): void {
    this.check(offset, src.length);
    if (this.readOnly) throw new BlockBackendError('write to a read-only block backend');
    this.calls.write++;
    this.data.set(src, offset);
  }

  flush(): void {
    if (this.failWith) throw this.failWith;
    this.calls.flush++;
  }

  discard(offset: number, length: number): void {
    this.check(offset, length);
    if (this.readOnly) throw new BlockBackendError('discard on a read-only block backend');
    this.calls.discard++;
    this.data.fill(0, offset, offset + length);
  }

  close(): void {
    // Nothing to release.
  }

  private check(offset: number, length: number): void {
    if (this.failWith) throw this.failWith;
    checkBlockRange(this, offset, length);
  }
}
