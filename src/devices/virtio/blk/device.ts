/**
 * virtio-blk (virtio 1.2 §5.2): one request queue over a host
 * {@link BlockBackend}.
 *
 * A request (§5.2.6) is `{ le32 type; le32 reserved; le64 sector }`, then
 * data, then one status byte the device writes last. The header and data
 * may be split across descriptors any way the driver likes; the status byte
 * is the last byte of the writable part.
 *
 * Requests complete synchronously. A request the device can parse but not
 * serve (out of range, bad length, read-only, host I/O failure) completes
 * with VIRTIO_BLK_S_IOERR or S_UNSUPP; a chain with no room for the status
 * byte completes with zero bytes written and is counted as an error. Only
 * malformed rings (see `VirtqueueError`) reach the transport.
 */
import type { BlockBackend } from '../../../backends/block-backend.js';
import { completeAvailable, type VirtioActivation, type VirtioDevice, VirtioDeviceId } from '../device.js';
import { GuestMemoryError } from '../../../memory/guest-memory.js';
import { ChainCursor, type DescriptorChain, VirtqueueError } from '../queue.js';

// Feature bits (§5.2.3).
/** Maximum number of segments in a request is in seg_max. */
export const VIRTIO_BLK_F_SEG_MAX = 1n << 2n;
/** The device is read-only. */
export const VIRTIO_BLK_F_RO = 1n << 5n;
/** Block size of disk is in blk_size. */
export const VIRTIO_BLK_F_BLK_SIZE = 1n << 6n;
/** Cache flush command support. */
export const VIRTIO_BLK_F_FLUSH = 1n << 9n;
/** Discard command support. */
export const VIRTIO_BLK_F_DISCARD = 1n << 13n;
/** Write-zeroes command support. */
export const VIRTIO_BLK_F_WRITE_ZEROES = 1n << 14n;

// Request types and status values (§5.2.6).
/** Read. */
export const VIRTIO_BLK_T_IN = 0;
/** Write. */
export const VIRTIO_BLK_T_OUT = 1;
/** Flush. */
export const VIRTIO_BLK_T_FLUSH = 4;
/** Get the device ID string. */
export const VIRTIO_BLK_T_GET_ID = 8;
/** Discard. */
export const VIRTIO_BLK_T_DISCARD = 11;
/** Write zeroes. */
export const VIRTIO_BLK_T_WRITE_ZEROES = 13;
/** Success. */
export const VIRTIO_BLK_S_OK = 0;
/** Device or driver error. */
export const VIRTIO_BLK_S_IOERR = 1;
/** Request unsupported by the device. */
export const VIRTIO_BLK_S_UNSUPP = 2;

/** The sector unit of virtio-blk, whatever the block size (§5.2.4). */
export const SECTOR_SIZE = 512;
const HEADER_SIZE = 16;
const ID_BYTES = 20;
/** One discard/write-zeroes segment: le64 sector; le32 num_sectors; le32 flags (§5.2.6). */
const SEGMENT_SIZE = 16;
const QUEUE_SIZE = 256;
/** seg_max: a chain also carries the header and status descriptors (what QEMU reports). */
const SEG_MAX = QUEUE_SIZE - 2;
const MAX_DISCARD_SEG = 32;
/** Largest data transfer served in one request (bytes); larger ones get S_IOERR. */
export const MAX_REQUEST_BYTES = 64 << 20;

/** Counters of a virtio-blk device. */
export interface BlkMetrics {
  requests: number;
  readRequests: number;
  writeRequests: number;
  flushes: number;
  discards: number;
  bytesRead: number;
  bytesWritten: number;
  /** Requests completed with S_IOERR, or with no room for a status. */
  errors: number;
  /** Requests completed with S_UNSUPP. */
  unsupported: number;
}

/** Saved virtio-blk state (version 1). The backend's contents travel separately. */
export interface BlkState {
  version: 1;
  metrics: BlkMetrics;
}

/** Options of {@link VirtioBlock}. */
export interface VirtioBlockOptions {
  /** The serial number GET_ID returns (at most 20 bytes; default: empty). */
  id?: string;
}

/** A virtio block device. */
export class VirtioBlock implements VirtioDevice<BlkState> {
  readonly deviceId = VirtioDeviceId.BLOCK;
  readonly features: bigint;
  readonly queueMaxSizes = [QUEUE_SIZE];
  readonly metrics: BlkMetrics = newMetrics();
  private readonly config: Uint8Array;
  private readonly id: Uint8Array;
  private active: VirtioActivation | undefined;

  constructor(readonly backend: BlockBackend, options: VirtioBlockOptions = {}) {
    this.features = VIRTIO_BLK_F_SEG_MAX | VIRTIO_BLK_F_BLK_SIZE | VIRTIO_BLK_F_FLUSH |
      (backend.readOnly ? VIRTIO_BLK_F_RO : VIRTIO_BLK_F_DISCARD | VIRTIO_BLK_F_WRITE_ZEROES);
    this.id = new TextEncoder().encode(options.id ?? '').subarray(0, ID_BYTES);
    this.config = this.buildConfig();
  }

  /** Capacity in 512-byte sectors (a partial last sector is not exposed). */
  get capacity(): number {
    return Math.floor(this.backend.size / SECTOR_SIZE);
  }

  /** struct virtio_blk_config (§5.2.4), 60 bytes up to write_zeroes_may_unmap. */
  private buildConfig(): Uint8Array {
    const c = new Uint8Array(64);
    const dv = new DataView(c.buffer);
    const cap = this.capacity;
    dv.setUint32(0, cap % 2 ** 32, true); // capacity
    dv.setUint32(4, Math.floor(cap / 2 ** 32), true);
    dv.setUint32(12, SEG_MAX, true); // seg_max
    dv.setUint32(20, SECTOR_SIZE, true); // blk_size
    const maxSectors = Math.min(cap, 0xffffffff);
    dv.setUint32(36, maxSectors, true); // max_discard_sectors
    dv.setUint32(40, MAX_DISCARD_SEG, true); // max_discard_seg
    dv.setUint32(44, 1, true); // discard_sector_alignment
    dv.setUint32(48, maxSectors, true); // max_write_zeroes_sectors
    dv.setUint32(52, MAX_DISCARD_SEG, true); // max_write_zeroes_seg
    c[56] = 1; // write_zeroes_may_unmap
    return c;
  }

  readConfig(offset: number, size: 1 | 2 | 4): number {
    if (offset < 0 || offset + size > this.config.length) return 0;
    let v = 0;
    for (let i = size - 1; i >= 0; i--) v = v * 256 + this.config[offset + i];
    return v;
  }

  writeConfig(): void {
    // VIRTIO_BLK_F_CONFIG_WCE is not offered: every field is read-only.
  }

  activate(activation: VirtioActivation): void {
    this.active = activation;
  }

  reset(): void {
    this.active = undefined;
  }

  notify(queueIndex: number): void {
    const a = this.active;
    if (a === undefined || queueIndex !== 0) return;
    completeAvailable(a, 0, (chain) => this.serve(a, chain));
  }

  /** Serves one request; returns the bytes written into the chain (data + status). */
  private serve(a: VirtioActivation, chain: DescriptorChain): number {
    this.metrics.requests++;
    if (chain.writableLength < 1) {
      // No room for the status byte: nothing can be reported (§5.2.6.1 says the driver MUST provide it).
      this.metrics.errors++;
      return 0;
    }
    const statusAddr = lastByte(chain);
    const header = new Uint8Array(HEADER_SIZE);
    const readable = new ChainCursor(a.mem, chain.readable);
    let status: number;
    let written = 0;
    if (readable.read(header) < HEADER_SIZE) {
      status = VIRTIO_BLK_S_IOERR;
    } else {
      const dv = new DataView(header.buffer);
      const type = dv.getUint32(0, true);
      const sector = dv.getUint32(8, true) + dv.getUint32(12, true) * 2 ** 32;
      const dataIn = chain.writableLength - 1; // writable bytes before the status byte
      try {
        [status, written] = this.dispatch(a, chain, readable, type, sector, dataIn);
      } catch (e) {
        // Host I/O failed (BlockBackendError) or the guest's buffer vanished: report, never throw.
        if (e instanceof GuestMemoryError || e instanceof VirtqueueError) throw e;
        status = VIRTIO_BLK_S_IOERR;
        written = 0;
      }
    }
    if (status === VIRTIO_BLK_S_IOERR) this.metrics.errors++;
    if (status === VIRTIO_BLK_S_UNSUPP) this.metrics.unsupported++;
    // §5.2.6: the status byte is written last, after the data.
    a.mem.write(statusAddr, Uint8Array.of(status));
    return written + 1;
  }

  private dispatch(
    a: VirtioActivation, chain: DescriptorChain, readable: ChainCursor,
    type: number, sector: number, dataIn: number,
  ): [number, number] {
    const ro = this.backend.readOnly;
    switch (type) {
      case VIRTIO_BLK_T_IN: {
        this.metrics.readRequests++;
        if (!this.inRange(sector, dataIn) || dataIn === 0 || dataIn % SECTOR_SIZE !== 0) return [VIRTIO_BLK_S_IOERR, 0];
        const buf = new Uint8Array(dataIn);
        this.backend.read(sector * SECTOR_SIZE, buf);
        new ChainCursor(a.mem, chain.writable).write(buf);
        this.metrics.bytesRead += dataIn;
        return [VIRTIO_BLK_S_OK, dataIn];
      }
      case VIRTIO_BLK_T_OUT: {
        this.metrics.writeRequests++;
        const len = readable.remaining();
        // §5.2.6.2: a read-only device fails writes with S_IOERR and writes nothing.
        if (ro || !this.inRange(sector, len) || len === 0 || len % SECTOR_SIZE !== 0) return [VIRTIO_BLK_S_IOERR, 0];
        const buf = new Uint8Array(len);
        readable.read(buf);
        this.backend.write(sector * SECTOR_SIZE, buf);
        this.metrics.bytesWritten += len;
        return [VIRTIO_BLK_S_OK, 0];
      }
      case VIRTIO_BLK_T_FLUSH:
        this.metrics.flushes++;
        this.backend.flush();
        return [VIRTIO_BLK_S_OK, 0];
      case VIRTIO_BLK_T_GET_ID: {
        // §5.2.6: 20 bytes, NUL-padded; not NUL-terminated when exactly 20 long.
        if (dataIn < ID_BYTES) return [VIRTIO_BLK_S_IOERR, 0];
        const id = new Uint8Array(ID_BYTES);
        id.set(this.id);
        new ChainCursor(a.mem, chain.writable).write(id);
        return [VIRTIO_BLK_S_OK, ID_BYTES];
      }
      case VIRTIO_BLK_T_DISCARD:
      case VIRTIO_BLK_T_WRITE_ZEROES:
        this.metrics.discards++;
        if (ro) return [VIRTIO_BLK_S_IOERR, 0];
        return [this.discard(readable, type === VIRTIO_BLK_T_DISCARD), 0];
      default:
        return [VIRTIO_BLK_S_UNSUPP, 0];
    }
  }

  /** DISCARD / WRITE_ZEROES: an array of segments (§5.2.6). Both leave zeros here. */
  private discard(readable: ChainCursor, isDiscard: boolean): number {
    const len = readable.remaining();
    const count = len / SEGMENT_SIZE;
    if (len === 0 || len % SEGMENT_SIZE !== 0 || count > MAX_DISCARD_SEG) return VIRTIO_BLK_S_IOERR;
    const seg = new Uint8Array(len);
    readable.read(seg);
    const dv = new DataView(seg.buffer);
    const ranges: [number, number][] = [];
    for (let i = 0; i < count; i++) {
      const sector = dv.getUint32(16 * i, true) + dv.getUint32(16 * i + 4, true) * 2 ** 32;
      const sectors = dv.getUint32(16 * i + 8, true);
      const flags = dv.getUint32(16 * i + 12, true);
      // §5.2.6.2: the unmap flag is for write-zeroes only; other flag bits are reserved.
      if (isDiscard ? flags !== 0 : (flags & ~1) !== 0) return VIRTIO_BLK_S_UNSUPP;
      if (!this.inRange(sector, sectors * SECTOR_SIZE)) return VIRTIO_BLK_S_IOERR;
      ranges.push([sector * SECTOR_SIZE, sectors * SECTOR_SIZE]);
    }
    for (const [offset, length] of ranges) this.backend.discard(offset, length);
    return VIRTIO_BLK_S_OK;
  }

  private inRange(sector: number, bytes: number): boolean {
    return bytes <= MAX_REQUEST_BYTES && sector <= this.capacity && sector * SECTOR_SIZE + bytes <= this.capacity * SECTOR_SIZE;
  }

  save(): BlkState {
    return { version: 1, metrics: { ...this.metrics } };
  }

  restore(s: BlkState): void {
    if (s.version !== 1) throw new Error(`unsupported virtio-blk state version ${String(s.version)}`);
    Object.assign(this.metrics, newMetrics(), s.metrics);
  }
}

function newMetrics(): BlkMetrics {
  return { requests: 0, readRequests: 0, writeRequests: 0, flushes: 0, discards: 0, bytesRead: 0, bytesWritten: 0, errors: 0, unsupported: 0 };
}

/** Guest address of the last writable byte of a chain (the status byte). */
function lastByte(chain: DescriptorChain): number {
  for (let i = chain.writable.length - 1; i >= 0; i--) {
    const b = chain.writable[i];
    if (b.len > 0) return b.addr + b.len - 1;
  }
  throw new Error('unreachable: writableLength > 0 but no writable byte');
}
