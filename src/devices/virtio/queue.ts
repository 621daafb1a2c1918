/**
 * The device side of a split virtqueue (virtio 1.2 §2.7).
 *
 * A queue never owns guest memory: every ring operation takes `mem`. The
 * driver sets three guest-physical areas (§2.7.2):
 *
 * | area | layout | alignment |
 * |---|---|---|
 * | descriptor table | `size` × { le64 addr; le32 len; le16 flags; le16 next } | 16 |
 * | available ring (driver area) | le16 flags; le16 idx; le16 ring[size]; le16 used_event | 2 |
 * | used ring (device area) | le16 flags; le16 idx; { le32 id; le32 len }[size]; le16 avail_event | 4 |
 *
 * Every guest-controlled value is checked: a chain that loops or is longer
 * than the table, a nested indirect table, a buffer outside guest RAM or a
 * writable buffer before a readable one raise a {@link VirtqueueError}
 * (the transport then sets DEVICE_NEEDS_RESET, §2.1.2). Memory barriers are
 * implicit: the VMM is single-threaded.
 */
import type { GuestAddress, GuestMemory } from '../../memory/guest-memory.js';

/** The largest queue this implementation offers (QueueNumMax). */
export const MAX_QUEUE_SIZE = 256;

// Descriptor flags (§2.7.5).
const VIRTQ_DESC_F_NEXT = 1;
const VIRTQ_DESC_F_WRITE = 2;
const VIRTQ_DESC_F_INDIRECT = 4;
// Available ring flags (§2.7.6).
const VIRTQ_AVAIL_F_NO_INTERRUPT = 1;
const DESC_SIZE = 16;

/** What was wrong with what the driver put on a queue. */
export type VirtqueueErrorKind =
  | 'not-ready'
  | 'bad-avail-index'
  | 'bad-descriptor-index'
  | 'chain-too-long'
  | 'nested-indirect'
  | 'bad-indirect-table'
  | 'out-of-ram'
  | 'write-before-read'
  | 'bad-used-head';

/** A malformed ring or descriptor chain (the driver's bug, not the host's). */
export class VirtqueueError extends Error {
  constructor(readonly kind: VirtqueueErrorKind, message: string) {
    super(`virtqueue: ${message}`);
    this.name = 'VirtqueueError';
  }
}

/** One guest buffer of a descriptor chain. */
export interface VirtqBuffer {
  addr: GuestAddress;
  len: number;
}

/** A descriptor chain taken from the available ring. */
export interface DescriptorChain {
  /** Index of the head descriptor: what {@link VirtQueue.push} returns to the driver. */
  head: number;
  /** Device-readable buffers, in order. */
  readable: VirtqBuffer[];
  /** Device-writable buffers, in order (they all follow the readable ones, §2.7.4.2). */
  writable: VirtqBuffer[];
  /** Total bytes of the readable buffers. */
  readableLength: number;
  /** Total bytes of the writable buffers. */
  writableLength: number;
}

/** A queue's saved state (version 1): a plain object of its own. */
export interface VirtQueueState {
  version: 1;
  maxSize: number;
  size: number;
  ready: boolean;
  desc: number;
  avail: number;
  used: number;
  lastAvail: number;
  usedIdx: number;
  eventIdx: boolean;
  /** used idx at the last interrupt decision, or -1 when none is valid. */
  signalledUsed: number;
}

/** Device side of one split virtqueue. */
export class VirtQueue {
  /** Queue size set by the driver (QueueNum); a power of 2 up to {@link maxSize}. */
  size: number;
  /** QueueReady (§4.2.2). */
  ready = false;
  /** Descriptor table address (QueueDesc). */
  desc: GuestAddress = 0;
  /** Available ring address (QueueDriver). */
  avail: GuestAddress = 0;
  /** Used ring address (QueueDevice). */
  used: GuestAddress = 0;
  /** VIRTIO_F_EVENT_IDX was negotiated (§2.7.10). */
  eventIdx = false;
  /** Next available-ring index the device will look at (free-running, mod 2^16). */
  private lastAvail = 0;
  /** The device's used idx (free-running, mod 2^16). */
  private usedIdx = 0;
  /** usedIdx when the transport last decided about an interrupt; -1 = none yet. */
  private signalledUsed = -1;

  /** `maxSize` is what QueueNumMax reports; at most {@link MAX_QUEUE_SIZE}. */
  constructor(readonly maxSize: number = MAX_QUEUE_SIZE) {
    if (maxSize < 1 || maxSize > MAX_QUEUE_SIZE || (maxSize & (maxSize - 1)) !== 0) {
      throw new RangeError(`virtqueue max size ${maxSize} must be a power of 2 up to ${MAX_QUEUE_SIZE}`);
    }
    this.size = maxSize;
  }

  /** Back to the state after device reset (§2.7: everything zero, size = max). */
  reset(): void {
    this.size = this.maxSize;
    this.ready = false;
    this.desc = this.avail = this.used = 0;
    this.eventIdx = false;
    this.lastAvail = this.usedIdx = 0;
    this.signalledUsed = -1;
  }

  /** Why the driver's configuration cannot be used, or undefined when it can (§2.7, §2.7.2 alignment). */
  validate(mem: GuestMemory): string | undefined {
    const n = this.size;
    if (n < 1 || n > this.maxSize || (n & (n - 1)) !== 0) return `queue size ${n} is not a power of 2 up to ${this.maxSize}`;
    if (this.desc % 16 !== 0) return `descriptor table 0x${this.desc.toString(16)} is not 16-byte aligned`;
    if (this.avail % 2 !== 0) return `available ring 0x${this.avail.toString(16)} is not 2-byte aligned`;
    if (this.used % 4 !== 0) return `used ring 0x${this.used.toString(16)} is not 4-byte aligned`;
    if (!mem.contains(this.desc, DESC_SIZE * n)) return 'descriptor table is outside guest RAM';
    if (!mem.contains(this.avail, 6 + 2 * n)) return 'available ring is outside guest RAM';
    if (!mem.contains(this.used, 6 + 8 * n)) return 'used ring is outside guest RAM';
    return undefined;
  }

  /** Number of chains the driver made available that the device has not popped. */
  pending(mem: GuestMemory): number {
    if (!this.ready) return 0;
    const n = (mem.readU16(this.avail + 2) - this.lastAvail) & 0xffff;
    if (n > this.size) throw new VirtqueueError('bad-avail-index', `available idx runs ${n} entries ahead of a queue of ${this.size}`);
    return n;
  }

  /**
   * Takes the next available descriptor chain, or returns undefined when
   * there is none. Follows NEXT and INDIRECT descriptors (§2.7.5.3).
   * With EVENT_IDX, also publishes avail_event so the driver notifies for
   * the next chain (§2.7.10).
   */
  pop(mem: GuestMemory): DescriptorChain | undefined {
    if (!this.ready) throw new VirtqueueError('not-ready', 'pop from a queue that is not ready');
    if (this.pending(mem) === 0) return undefined;
    const head = mem.readU16(this.avail + 4 + 2 * (this.lastAvail % this.size));
    // Consume the entry before parsing it: a malformed chain must not be
    // retried forever (the transport also stops serving the device).
    this.lastAvail = (this.lastAvail + 1) & 0xffff;
    if (this.eventIdx) mem.writeU16(this.used + 4 + 8 * this.size, this.lastAvail);
    return this.readChain(mem, head);
  }

  /** Pops every available chain (convenience for devices that complete synchronously). */
  *drain(mem: GuestMemory): Generator<DescriptorChain> {
    for (;;) {
      const chain = this.pop(mem);
      if (chain === undefined) return;
      yield chain;
    }
  }

  private readChain(mem: GuestMemory, head: number): DescriptorChain {
    const chain: DescriptorChain = { head, readable: [], writable: [], readableLength: 0, writableLength: 0 };
    if (head >= this.size) throw new VirtqueueError('bad-descriptor-index', `head descriptor ${head} is outside a table of ${this.size}`);
    let table = this.desc;
    let tableSize = this.size;
    let indirect = false;
    let index = head;
    // A chain visits each descriptor of its table at most once; more means a loop (§2.7.5.3.1/§2.7.4.2).
    let budget = tableSize;
    for (;;) {
      if (budget-- === 0) throw new VirtqueueError('chain-too-long', `descriptor chain from ${head} is longer than its table of ${tableSize} (a loop?)`);
      const at = table + DESC_SIZE * index;
      const addr = mem.readU64(at);
      const len = mem.readU32(at + 8);
      const flags = mem.readU16(at + 12);
      const next = mem.readU16(at + 14);
      if (flags & VIRTQ_DESC_F_INDIRECT) {
        // §2.7.5.3.1: no nested tables; INDIRECT and NEXT are exclusive; the table's length is a multiple of 16.
        if (indirect) throw new VirtqueueError('nested-indirect', `indirect descriptor inside an indirect table (chain ${head})`);
        if (flags & VIRTQ_DESC_F_NEXT) throw new VirtqueueError('bad-indirect-table', `descriptor ${index} sets both INDIRECT and NEXT`);
        if (len === 0 || len % DESC_SIZE !== 0) throw new VirtqueueError('bad-indirect-table', `indirect table length ${len} is not a non-zero multiple of 16`);
        if (!mem.contains(addr, len)) throw new VirtqueueError('out-of-ram', `indirect table 0x${addr.toString(16)}+${len} is outside guest RAM`);
        if (chain.readable.length + chain.writable.length > 0) {
          // Linux only ever uses an indirect descriptor alone; mixing is legal
          // per §2.7.5.3 but we keep one rule: the indirect table is the chain.
          throw new VirtqueueError('bad-indirect-table', `indirect descriptor after direct buffers (chain ${head})`);
        }
        table = addr;
        tableSize = len / DESC_SIZE;
        budget = tableSize;
        indirect = true;
        index = 0;
        continue;
      }
      if (!mem.contains(addr, len)) throw new VirtqueueError('out-of-ram', `buffer 0x${addr.toString(16)}+${len} of chain ${head} is outside guest RAM`);
      if (flags & VIRTQ_DESC_F_WRITE) {
        chain.writable.push({ addr, len });
        chain.writableLength += len;
      } else {
        if (chain.writable.length > 0) throw new VirtqueueError('write-before-read', `readable buffer after a writable one in chain ${head} (§2.7.4.2)`);
        chain.readable.push({ addr, len });
        chain.readableLength += len;
      }
      if (!(flags & VIRTQ_DESC_F_NEXT)) return chain;
      if (next >= tableSize) throw new VirtqueueError('bad-descriptor-index', `next descriptor ${next} is outside a table of ${tableSize}`);
      index = next;
    }
  }

  /** Puts chain `head` on the used ring with `writtenLen` bytes written into its writable buffers (§2.7.8). */
  push(mem: GuestMemory, head: number, writtenLen: number): void {
    if (head >= this.size) throw new VirtqueueError('bad-used-head', `used head ${head} is outside a queue of ${this.size}`);
    const slot = this.used + 4 + 8 * (this.usedIdx % this.size);
    mem.writeU32(slot, head);
    mem.writeU32(slot + 4, writtenLen);
    this.usedIdx = (this.usedIdx + 1) & 0xffff;
    mem.writeU16(this.used + 2, this.usedIdx);
  }

  /**
   * Whether the driver wants a used-buffer notification for what was pushed
   * since the last call (§2.7.7 without EVENT_IDX, §2.7.10 with it).
   */
  needsNotification(mem: GuestMemory): boolean {
    const newIdx = this.usedIdx;
    const oldIdx = this.signalledUsed;
    this.signalledUsed = newIdx;
    if (!this.eventIdx) return (mem.readU16(this.avail) & VIRTQ_AVAIL_F_NO_INTERRUPT) === 0;
    if (oldIdx < 0) return true;
    const usedEvent = mem.readU16(this.avail + 4 + 2 * this.size);
    // vring_need_event (§2.7.10): notify when used_event lies in [old, new).
    return ((newIdx - usedEvent - 1) & 0xffff) < ((newIdx - oldIdx) & 0xffff);
  }

  /** The queue's state as a plain object. */
  save(): VirtQueueState {
    return {
      version: 1, maxSize: this.maxSize, size: this.size, ready: this.ready,
      desc: this.desc, avail: this.avail, used: this.used,
      lastAvail: this.lastAvail, usedIdx: this.usedIdx, eventIdx: this.eventIdx, signalledUsed: this.signalledUsed,
    };
  }

  /** Restores {@link save}'s output. */
  restore(s: VirtQueueState): void {
    if (s.version !== 1) throw new Error(`unsupported virtqueue state version ${String(s.version)}`);
    if (s.maxSize !== this.maxSize) throw new Error(`virtqueue state has max size ${s.maxSize}, this queue ${this.maxSize}`);
    this.size = s.size;
    this.ready = s.ready;
    this.desc = s.desc;
    this.avail = s.avail;
    this.used = s.used;
    this.lastAvail = s.lastAvail;
    this.usedIdx = s.usedIdx;
    this.eventIdx = s.eventIdx;
    this.signalledUsed = s.signalledUsed ?? -1;
  }
}

/**
 * Reads and writes a chain's buffers as one byte stream each way, so a
 * request header or payload may be split across descriptors any way the
 * driver likes.
 */
export class ChainCursor {
  private index = 0;
  private offset = 0;

  constructor(private readonly mem: GuestMemory, private readonly buffers: readonly VirtqBuffer[]) {}

  /** Bytes left from the cursor to the end. */
  remaining(): number {
    let n = -this.offset;
    for (let i = this.index; i < this.buffers.length; i++) n += this.buffers[i].len;
    return n;
  }

  /** Copies the next `dest.length` bytes into `dest`; returns how many were available. */
  read(dest: Uint8Array): number {
    return this.walk(dest.length, (addr, at, n) => this.mem.read(addr, dest.subarray(at, at + n)));
  }

  /** Copies `src` to the next bytes of the chain; returns how many fit. */
  write(src: Uint8Array): number {
    return this.walk(src.length, (addr, at, n) => this.mem.write(addr, src.subarray(at, at + n)));
  }

  /** Moves the cursor forward `n` bytes; returns how many it moved. */
  skip(n: number): number {
    return this.walk(n, () => {});
  }

  private walk(length: number, copy: (addr: GuestAddress, at: number, n: number) => void): number {
    let done = 0;
    while (done < length && this.index < this.buffers.length) {
      const b = this.buffers[this.index];
      const n = Math.min(b.len - this.offset, length - done);
      if (n > 0) copy(b.addr + this.offset, done, n);
      done += n;
      this.offset += n;
      if (this.offset >= b.len) {
        this.index++;
        this.offset = 0;
      }
    }
    return done;
  }
}
