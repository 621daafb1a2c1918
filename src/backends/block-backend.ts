/**
 * The host side of a block device (cf. TinyEMU's `BlockDevice`): a byte
 * array of fixed size that a virtio-blk device reads and writes. Whether it
 * is a raw file or a test's buffer is the backend's business.
 *
 * Calls are synchronous; offsets and lengths are bytes, already checked
 * against {@link BlockBackend.size} by the device. A backend throws
 * {@link BlockBackendError} when the host I/O fails; the device turns that
 * into an I/O error status for the guest.
 */

/** A block device's host storage. */
export interface BlockBackend {
  /** Size in bytes. */
  readonly size: number;
  /** True when writes, discards and write-zeroes must be refused. */
  readonly readOnly: boolean;
  /** Fills `dest` from byte `offset`. */
  read(offset: number, dest: Uint8Array): void;
  /** Writes `src` at byte `offset`. */
  write(offset: number, src: Uint8Array): void;
  /** Makes completed writes durable. */
  flush(): void;
  /** Says the range's contents are no longer needed; afterwards it reads as zeros here. */
  discard(offset: number, length: number): void;
  /** Releases host resources. Idempotent. */
  close(): void;
}

/** A host I/O failure, or a backend that cannot be opened; the message says what to do. */
export class BlockBackendError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BlockBackendError';
  }
}

/** Checks an access against a backend's size (a device bug if it fails). */
export function checkBlockRange(backend: BlockBackend, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || offset < 0 || length < 0 || offset + length > backend.size) {
    throw new BlockBackendError(`block access ${offset}+${length} is outside a ${backend.size}-byte device`);
  }
}
