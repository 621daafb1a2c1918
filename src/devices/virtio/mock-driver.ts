/**
 * The driver side of virtio, for tests: a split virtqueue laid out in a
 * {@link GuestRam} (virtio 1.2 §2.7), and the virtio-mmio register handshake
 * (§3.1.1, §4.2.3). With these a device is exercised through its real
 * transport without a guest, and a test can forge any malformed ring.
 */
import type { MmioDevice } from '../device.js';
import type { GuestAddress, GuestRam } from '../../memory/guest-memory.js';

/** Descriptor flags (§2.7.5). */
export const DESC_F_NEXT = 1;
/** The buffer is device-writable. */
export const DESC_F_WRITE = 2;
/** The buffer is an indirect descriptor table. */
export const DESC_F_INDIRECT = 4;

/** One buffer of a chain the test adds: bytes for the device to read, or a length for it to write. */
export type MockBuffer = { readable: Uint8Array } | { writable: number };

/** An entry of the used ring. */
export interface UsedElement {
  id: number;
  len: number;
}

/** A chain the test added: its head and where each writable buffer lives. */
export interface AddedChain {
  head: number;
  /** Guest address and length of every buffer, in chain order. */
  buffers: { addr: GuestAddress; len: number; writable: boolean }[];
}

/** A driver-side split virtqueue in guest RAM, with a bump allocator for buffers. */
export class MockVirtqueue {
  /** Descriptor table address. */
  readonly desc: GuestAddress;
  /** Available ring address. */
  readonly avail: GuestAddress;
  /** Used ring address. */
  readonly used: GuestAddress;
  private nextDesc = 0;
  private availIdx = 0;
  private lastUsed = 0;

  /**
   * Lays out a queue of `size` entries at `base` (16-byte aligned) and
   * allocates buffers from [dataBase, dataEnd).
   */
  constructor(
    readonly mem: GuestRam,
    base: GuestAddress,
    readonly size: number,
    private dataBase: GuestAddress,
    private readonly dataEnd: GuestAddress,
  ) {
    this.desc = base;
    this.avail = base + 16 * size;
    this.used = align(this.avail + 6 + 2 * size, 4);
    // A fresh driver starts from zeroed rings (§2.7.6: idx starts at 0).
    mem.write(this.desc, new Uint8Array(this.end - this.desc));
  }

  /** First address past the rings (for laying out the next queue). */
  get end(): GuestAddress {
    return this.used + 6 + 8 * this.size;
  }

  /** Allocates `len` bytes of buffer space (8-byte aligned). */
  alloc(len: number): GuestAddress {
    const at = align(this.dataBase, 8);
    if (at + len > this.dataEnd) throw new RangeError('mock virtqueue: buffer space exhausted');
    this.dataBase = at + len;
    return at;
  }

  /** Writes descriptor `index` of the table at `table` (default: the queue's own table). */
  writeDesc(index: number, addr: GuestAddress, len: number, flags: number, next = 0, table: GuestAddress = this.desc): void {
    const at = table + 16 * index;
    this.mem.writeU64(at, addr);
    this.mem.writeU32(at + 8, len);
    this.mem.writeU16(at + 12, flags);
    this.mem.writeU16(at + 14, next);
  }

  /** Takes `n` consecutive free descriptor slots of the main table (wrapping), returns the first index. */
  takeDescriptors(n: number): number {
    const first = this.nextDesc;
    this.nextDesc = (this.nextDesc + n) % this.size;
    return first;
  }

  /**
   * Adds a chain of `buffers` and makes it available. With `indirect`, the
   * chain goes in an indirect table referenced by one main descriptor (§2.7.5.3).
   */
  add(buffers: MockBuffer[], options: { indirect?: boolean; publish?: boolean } = {}): AddedChain {
    const placed = buffers.map((b) => {
      if ('readable' in b) {
        const addr = this.alloc(b.readable.length);
        this.mem.write(addr, b.readable);
        return { addr, len: b.readable.length, writable: false };
      }
      return { addr: this.alloc(b.writable), len: b.writable, writable: true };
    });
    let head: number;
    if (options.indirect) {
      const table = this.alloc(16 * placed.length);
      placed.forEach((b, i) => {
        const last = i === placed.length - 1;
        this.writeDesc(i, b.addr, b.len, (b.writable ? DESC_F_WRITE : 0) | (last ? 0 : DESC_F_NEXT), last ? 0 : i + 1, table);
      });
      head = this.takeDescriptors(1);
      this.writeDesc(head, table, 16 * placed.length, DESC_F_INDIRECT);
    } else {
      head = this.takeDescriptors(placed.length);
      placed.forEach((b, i) => {
        const index = (head + i) % this.size;
        const last = i === placed.length - 1;
        const next = (head + i + 1) % this.size;
        this.writeDesc(index, b.addr, b.len, (b.writable ? DESC_F_WRITE : 0) | (last ? 0 : DESC_F_NEXT), last ? 0 : next);
      });
    }
    if (options.publish ?? true) this.publish(head);
    return { head, buffers: placed };
  }

  /** Puts descriptor `head` on the available ring and bumps avail idx (§2.7.13). */
  publish(head: number): void {
    this.mem.writeU16(this.avail + 4 + 2 * (this.availIdx % this.size), head);
    this.availIdx = (this.availIdx + 1) & 0xffff;
    this.mem.writeU16(this.avail + 2, this.availIdx);
  }

  /** Sets the available ring's idx directly (to forge a bogus one). */
  setAvailIdx(idx: number): void {
    this.availIdx = idx & 0xffff;
    this.mem.writeU16(this.avail + 2, this.availIdx);
  }

  /** Sets VIRTQ_AVAIL_F_NO_INTERRUPT (§2.7.7). */
  setNoInterrupt(on: boolean): void {
    this.mem.writeU16(this.avail, on ? 1 : 0);
  }

  /** Writes used_event (§2.7.10). */
  setUsedEvent(idx: number): void {
    this.mem.writeU16(this.avail + 4 + 2 * this.size, idx & 0xffff);
  }

  /** Reads avail_event, which the device writes with EVENT_IDX (§2.7.10). */
  availEvent(): number {
    return this.mem.readU16(this.used + 4 + 8 * this.size);
  }

  /** The used ring's idx. */
  usedIdx(): number {
    return this.mem.readU16(this.used + 2);
  }

  /** Used elements added since the last call. */
  takeUsed(): UsedElement[] {
    const out: UsedElement[] = [];
    const idx = this.usedIdx();
    while (this.lastUsed !== idx) {
      const at = this.used + 4 + 8 * (this.lastUsed % this.size);
      out.push({ id: this.mem.readU32(at), len: this.mem.readU32(at + 4) });
      this.lastUsed = (this.lastUsed + 1) & 0xffff;
    }
    return out;
  }

  /** Copies `len` guest bytes at `addr`. */
  bytes(addr: GuestAddress, len: number): Uint8Array {
    const out = new Uint8Array(len);
    this.mem.read(addr, out);
    return out;
  }
}

/** virtio-mmio register offsets a driver uses (§4.2.2). */
export const MmioReg = {
  MagicValue: 0x000, Version: 0x004, DeviceID: 0x008, DeviceFeatures: 0x010, DeviceFeaturesSel: 0x014,
  DriverFeatures: 0x020, DriverFeaturesSel: 0x024, QueueSel: 0x030, QueueNumMax: 0x034, QueueNum: 0x038,
  QueueReady: 0x044, QueueNotify: 0x050, InterruptStatus: 0x060, InterruptACK: 0x064, Status: 0x070,
  QueueDescLow: 0x080, QueueDescHigh: 0x084, QueueDriverLow: 0x090, QueueDriverHigh: 0x094,
  QueueDeviceLow: 0x0a0, QueueDeviceHigh: 0x0a4, ConfigGeneration: 0x0fc, Config: 0x100,
} as const;

/** A driver talking to a virtio-mmio device through its registers. */
export class MockMmioDriver {
  /** The queues set up by {@link start}. */
  queues: MockVirtqueue[] = [];

  /** `ringBase` is where queue rings are laid out; buffers come from [dataBase, mem end). */
  constructor(
    readonly dev: MmioDevice,
    readonly mem: GuestRam,
    private readonly ringBase: GuestAddress = mem.base,
    private readonly dataBase: GuestAddress = mem.base + mem.size / 2,
  ) {}

  /** Reads a 32-bit register. */
  reg(offset: number): number {
    return this.dev.read(offset, 4);
  }

  /** Writes a 32-bit register. */
  setReg(offset: number, value: number): void {
    this.dev.write(offset, 4, value);
  }

  /** The 64 device feature bits. */
  deviceFeatures(): bigint {
    this.setReg(MmioReg.DeviceFeaturesSel, 0);
    const lo = this.reg(MmioReg.DeviceFeatures);
    this.setReg(MmioReg.DeviceFeaturesSel, 1);
    const hi = this.reg(MmioReg.DeviceFeatures);
    return (BigInt(hi) << 32n) | BigInt(lo);
  }

  /** The Status register. */
  status(): number {
    return this.reg(MmioReg.Status);
  }

  /**
   * Runs the initialization sequence of §3.1.1: reset, ACKNOWLEDGE, DRIVER,
   * features (`accept` filters the offer; default: accept everything),
   * FEATURES_OK, queue setup (`queueSizes[i]`, default QueueNumMax, at most
   * `queueCount` queues), DRIVER_OK. Returns the accepted features; throws
   * when the device refuses them.
   */
  start(options: { accept?: (offered: bigint) => bigint; queueSizes?: number[]; queueCount?: number } = {}): bigint {
    this.setReg(MmioReg.Status, 0);
    this.setReg(MmioReg.Status, 1);
    this.setReg(MmioReg.Status, 1 | 2);
    const features = (options.accept ?? ((f) => f))(this.deviceFeatures());
    this.setReg(MmioReg.DriverFeaturesSel, 0);
    this.setReg(MmioReg.DriverFeatures, Number(features & 0xffffffffn));
    this.setReg(MmioReg.DriverFeaturesSel, 1);
    this.setReg(MmioReg.DriverFeatures, Number(features >> 32n));
    this.setReg(MmioReg.Status, 1 | 2 | 8);
    if (!(this.status() & 8)) throw new Error('device refused the features (FEATURES_OK stayed clear)');
    this.queues = [];
    let ring = align(this.ringBase, 4096);
    const dataSpan = Math.floor((this.mem.end - this.dataBase) / 8);
    for (let i = 0; ; i++) {
      if (options.queueCount !== undefined && i >= options.queueCount) break;
      this.setReg(MmioReg.QueueSel, i);
      const max = this.reg(MmioReg.QueueNumMax);
      if (max === 0) break;
      const size = options.queueSizes?.[i] ?? max;
      const dataStart = this.dataBase + dataSpan * Math.min(i, 7);
      const q = new MockVirtqueue(this.mem, ring, size, dataStart, dataStart + dataSpan);
      ring = align(q.end, 4096);
      this.setReg(MmioReg.QueueNum, size);
      this.setReg(MmioReg.QueueDescLow, q.desc % 2 ** 32);
      this.setReg(MmioReg.QueueDescHigh, Math.floor(q.desc / 2 ** 32));
      this.setReg(MmioReg.QueueDriverLow, q.avail % 2 ** 32);
      this.setReg(MmioReg.QueueDriverHigh, Math.floor(q.avail / 2 ** 32));
      this.setReg(MmioReg.QueueDeviceLow, q.used % 2 ** 32);
      this.setReg(MmioReg.QueueDeviceHigh, Math.floor(q.used / 2 ** 32));
      this.setReg(MmioReg.QueueReady, 1);
      this.queues.push(q);
    }
    this.setReg(MmioReg.Status, 1 | 2 | 8 | 4);
    return features;
  }

  /** Notifies queue `index` (QueueNotify). */
  kick(index: number): void {
    this.setReg(MmioReg.QueueNotify, index);
  }

  /** Reads InterruptStatus and acknowledges every bit; returns what was set. */
  ackInterrupt(): number {
    const s = this.reg(MmioReg.InterruptStatus);
    if (s) this.setReg(MmioReg.InterruptACK, s);
    return s;
  }

  /** Reads `size` bytes of device config at `offset`. */
  config(offset: number, size: 1 | 2 | 4 = 4): number {
    return this.dev.read(MmioReg.Config + offset, size);
  }

  /** Reads a 64-bit config field as two 32-bit halves (§4.2.3.3 allows it with ConfigGeneration). */
  config64(offset: number): number {
    return this.config(offset + 4) * 2 ** 32 + this.config(offset);
  }
}

function align(x: number, a: number): number {
  return Math.ceil(x / a) * a;
}
