/**
 * A block backend over a raw image file, with synchronous positioned I/O
 * (`fs.readSync`/`fs.writeSync` on a file descriptor): the VMM is
 * single-threaded and a request completes before the guest sees it used.
 */
import * as fs from 'node:fs';
import { type BlockBackend, BlockBackendError, checkBlockRange } from './block-backend.js';

/** Options of {@link FileBlockBackend.open}. */
export interface FileBlockOptions {
  /** Open the file read-only and refuse writes (the guest sees VIRTIO_BLK_F_RO). */
  readOnly?: boolean;
}

/** Discards are done by writing zeros in chunks of this size. */
const ZERO_CHUNK = 1 << 20;

/** A {@link BlockBackend} over a raw disk image. */
export class FileBlockBackend implements BlockBackend {
  private fd: number | undefined;

  private constructor(readonly path: string, fd: number, readonly size: number, readonly readOnly: boolean) {
    this.fd = fd;
  }

  /** Opens `path`; throws {@link BlockBackendError} with a message that says what is wrong and what to do. */
  static open(path: string, options: FileBlockOptions = {}): FileBlockBackend {
    const readOnly = options.readOnly ?? false;
    let fd: number;
    try {
      fd = fs.openSync(path, readOnly ? 'r' : 'r+');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      const hint =
        code === 'ENOENT' ? 'the file does not exist; create it first (e.g. `truncate -s 1G disk.img`) or fix the path'
        : code === 'EACCES' || code === 'EPERM' ? (readOnly ? 'the file is not readable; check its permissions' : 'the file is not writable; check its permissions or open it read-only')
        : code === 'EISDIR' ? 'it is a directory; give the path of a raw disk image'
        : code === 'EROFS' ? 'the file system is read-only; open the image read-only'
        : `the system said ${code ?? String(e)}`;
      throw new BlockBackendError(`cannot open disk image ${path}: ${hint}`, { cause: e });
    }
    try {
      const st = fs.fstatSync(fd);
      if (!st.isFile() && !st.isBlockDevice()) throw new BlockBackendError(`disk image ${path} is not a regular file or block device`);
      if (st.size === 0 && st.isFile()) throw new BlockBackendError(`disk image ${path} is empty; give it a size (e.g. \`truncate -s 1G ${path}\`)`);
      return new FileBlockBackend(path, fd, st.size, readOnly);
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
  }

  read(offset: number, dest: Uint8Array): void {
    const fd = this.check(offset, dest.length);
    let done = 0;
    while (done < dest.length) {
      const n = this.io(() => fs.readSync(fd, dest, done, dest.length - done, offset + done), 'read', offset);
      if (n === 0) {
        // The file shrank under us: what is past its end reads as zeros.
        dest.fill(0, done);
        return;
      }
      done += n;
    }
  }

  write(offset: number, src: Uint8Array): void {
    const fd = this.check(offset, src.length);
    if (this.readOnly) throw new BlockBackendError(`write to read-only disk image ${this.path}`);
    let done = 0;
    while (done < src.length) {
      done += this.io(() => fs.writeSync(fd, src, done, src.length - done, offset + done), 'write', offset);
    }
  }

  flush(): void {
    const fd = this.check(0, 0);
    if (this.readOnly) return;
    this.io(() => fs.fsyncSync(fd), 'flush', 0);
  }

  discard(offset: number, length: number): void {
    this.check(offset, length);
    if (this.readOnly) throw new BlockBackendError(`discard on read-only disk image ${this.path}`);
    // Node has no fallocate(PUNCH_HOLE); writing zeros keeps the contract (discarded ranges read as zeros).
    const zeros = new Uint8Array(Math.min(length, ZERO_CHUNK));
    for (let done = 0; done < length; done += zeros.length) {
      this.write(offset + done, zeros.subarray(0, Math.min(zeros.length, length - done)));
    }
  }

  close(): void {
    if (this.fd === undefined) return;
    fs.closeSync(this.fd);
    this.fd = undefined;
  }

  private check(offset: number, length: number): number {
    if (this.fd === undefined) throw new BlockBackendError(`disk image ${this.path} is closed`);
    checkBlockRange(this, offset, length);
    return this.fd;
  }

  private io<T>(op: () => T, what: string, offset: number): T {
    try {
      return op();
    } catch (e) {
      throw new BlockBackendError(`${what} of disk image ${this.path} at byte ${offset} failed: ${(e as Error).message}`, { cause: e });
    }
  }
}
