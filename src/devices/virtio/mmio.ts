/**
 * The virtio-mmio transport, version 2 ("modern"), virtio 1.2 §4.2.2.
 *
 * | off | register | | off | register |
 * |---|---|---|---|---|
 * | 0x000 | MagicValue "virt" | | 0x060 | InterruptStatus |
 * | 0x004 | Version (2) | | 0x064 | InterruptACK |
 * | 0x008 | DeviceID | | 0x070 | Status |
 * | 0x00c | VendorID | | 0x080/84 | QueueDescLow/High |
 * | 0x010 | DeviceFeatures | | 0x090/94 | QueueDriverLow/High |
 * | 0x014 | DeviceFeaturesSel | | 0x0a0/a4 | QueueDeviceLow/High |
 * | 0x020 | DriverFeatures | | 0x0ac | SHMSel |
 * | 0x024 | DriverFeaturesSel | | 0x0b0/b4 | SHMLenLow/High (-1: none) |
 * | 0x030 | QueueSel | | 0x0b8/bc | SHMBaseLow/High |
 * | 0x034 | QueueNumMax | | 0x0c0 | QueueReset |
 * | 0x038 | QueueNum | | 0x0fc | ConfigGeneration |
 * | 0x044 | QueueReady | | 0x100+ | device configuration space |
 * | 0x050 | QueueNotify | | | |
 *
 * Robustness: nothing the driver does makes this throw. A malformed request
 * (a {@link VirtqueueError} or a {@link GuestMemoryError} out of the device)
 * sets DEVICE_NEEDS_RESET and raises a configuration-change interrupt
 * (§2.1.2); the device is then left alone until the driver resets it.
 */
import type { AccessSize, InterruptLine, MmioDevice, Saveable } from '../device.js';
import type { GuestMemory } from '../../memory/guest-memory.js';
import { VirtQueue, type VirtQueueState } from './queue.js';
import {
  type VirtioActivation, type VirtioDevice, VirtioStatus,
  VIRTIO_F_VERSION_1, VIRTIO_RING_F_EVENT_IDX, VIRTIO_RING_F_INDIRECT_DESC,
} from './device.js';

/** Size of one virtio-mmio region on the `virt` board. */
export const VIRTIO_MMIO_SIZE = 0x1000;
const MAGIC = 0x74726976; // "virt"
/** VendorID reported: "QEMU", as QEMU's virtio-mmio does; drivers ignore it. */
const VENDOR_ID = 0x554d4551;
const CONFIG_BASE = 0x100;

// Register offsets (§4.2.2).
const enum Reg {
  MagicValue = 0x000, Version = 0x004, DeviceID = 0x008, VendorID = 0x00c,
  DeviceFeatures = 0x010, DeviceFeaturesSel = 0x014, DriverFeatures = 0x020, DriverFeaturesSel = 0x024,
  QueueSel = 0x030, QueueNumMax = 0x034, QueueNum = 0x038, QueueReady = 0x044, QueueNotify = 0x050,
  InterruptStatus = 0x060, InterruptACK = 0x064, Status = 0x070,
  QueueDescLow = 0x080, QueueDescHigh = 0x084, QueueDriverLow = 0x090, QueueDriverHigh = 0x094,
  QueueDeviceLow = 0x0a0, QueueDeviceHigh = 0x0a4, SHMSel = 0x0ac, SHMLenLow = 0x0b0, SHMLenHigh = 0x0b4,
  SHMBaseLow = 0x0b8, SHMBaseHigh = 0x0bc, QueueReset = 0x0c0, ConfigGeneration = 0x0fc,
}

/** InterruptStatus bits (§4.2.2). */
const INT_USED_BUFFER = 1;
const INT_CONFIG_CHANGE = 2;

/** Features every device gets from this transport. */
const TRANSPORT_FEATURES = VIRTIO_F_VERSION_1 | VIRTIO_RING_F_INDIRECT_DESC | VIRTIO_RING_F_EVENT_IDX;

/** Counters of the transport. */
export interface VirtioMmioStats {
  notifications: number;
  interrupts: number;
  /** Times the device entered DEVICE_NEEDS_RESET. */
  deviceErrors: number;
  /** Register writes ignored because they broke the protocol (wrong state, bad value). */
  ignoredWrites: number;
}

/** Saved transport state (version 1); the device's state rides along in `device`. */
export interface VirtioMmioState {
  version: 1;
  deviceId: number;
  status: number;
  deviceFeaturesSel: number;
  driverFeaturesSel: number;
  /** Driver features as a hex string (bigint is not plain JSON). */
  driverFeatures: string;
  queueSel: number;
  interruptStatus: number;
  configGeneration: number;
  queues: VirtQueueState[];
  device: unknown;
}

/** A virtio device behind a virtio-mmio register window. */
export class VirtioMmioTransport implements MmioDevice, Saveable<VirtioMmioState> {
  readonly queues: VirtQueue[];
  readonly stats: VirtioMmioStats = { notifications: 0, interrupts: 0, deviceErrors: 0, ignoredWrites: 0 };
  /** Where protocol violations and device errors are reported. */
  log: (message: string) => void = () => {};
  /** The last device error (why DEVICE_NEEDS_RESET is set), for diagnostics. */
  lastError: unknown;

  private status = 0;
  private deviceFeaturesSel = 0;
  private driverFeaturesSel = 0;
  private driverFeatures = 0n;
  private queueSel = 0;
  private interruptStatus = 0;
  private configGeneration = 0;
  private activated = false;
  /** Bumped on reset so a stale activation cannot touch the new session. */
  private epoch = 0;

  constructor(
    readonly name: string,
    readonly device: VirtioDevice,
    private readonly mem: GuestMemory,
    private readonly irq: InterruptLine,
  ) {
    this.queues = device.queueMaxSizes.map((n) => new VirtQueue(n));
  }

  /** All features offered: the device's plus the transport's. */
  get deviceFeatures(): bigint {
    return this.device.features | TRANSPORT_FEATURES;
  }

  /** The Status register (§2.1). */
  get deviceStatus(): number {
    return this.status;
  }

  read(offset: number, size: AccessSize): number {
    if (offset >= CONFIG_BASE) {
      if (size === 1 || size === 2 || size === 4) return this.device.readConfig(offset - CONFIG_BASE, size) >>> 0;
      return 0;
    }
    // §4.2.2.2: registers are read 32 bits wide; anything else reads 0.
    if (size !== 4 || offset % 4 !== 0) return 0;
    const q = this.queues[this.queueSel];
    switch (offset) {
      case Reg.MagicValue: return MAGIC;
      case Reg.Version: return 2;
      case Reg.DeviceID: return this.device.deviceId;
      case Reg.VendorID: return VENDOR_ID;
      case Reg.DeviceFeatures: return this.featureWord(this.deviceFeatures, this.deviceFeaturesSel);
      case Reg.QueueNumMax: return q === undefined ? 0 : q.maxSize; // 0: queue not available
      case Reg.QueueNum: return q?.size ?? 0;
      case Reg.QueueReady: return q?.ready ? 1 : 0;
      case Reg.InterruptStatus: return this.interruptStatus;
      case Reg.Status: return this.status;
      case Reg.QueueDescLow: return q ? q.desc % 2 ** 32 : 0;
      case Reg.QueueDescHigh: return q ? Math.floor(q.desc / 2 ** 32) : 0;
      case Reg.QueueDriverLow: return q ? q.avail % 2 ** 32 : 0;
      case Reg.QueueDriverHigh: return q ? Math.floor(q.avail / 2 ** 32) : 0;
      case Reg.QueueDeviceLow: return q ? q.used % 2 ** 32 : 0;
      case Reg.QueueDeviceHigh: return q ? Math.floor(q.used / 2 ** 32) : 0;
      case Reg.SHMLenLow: case Reg.SHMLenHigh: return 0xffffffff; // no shared memory regions (§4.2.2)
      case Reg.QueueReset: return 0;
      case Reg.ConfigGeneration: return this.configGeneration;
      default: return 0;
    }
  }

  write(offset: number, size: AccessSize, value: number): void {
    if (offset >= CONFIG_BASE) {
      // §4.2.3.4 does not forbid config writes before DRIVER_OK (e.g. balloon `actual`).
      this.device.writeConfig(offset - CONFIG_BASE, size, value >>> 0);
      return;
    }
    if (size !== 4 || offset % 4 !== 0) return this.ignore(`${size}-byte write at 0x${offset.toString(16)}`);
    value >>>= 0;
    const q = this.queues[this.queueSel];
    switch (offset) {
      case Reg.DeviceFeaturesSel: this.deviceFeaturesSel = value; return;
      case Reg.DriverFeaturesSel: this.driverFeaturesSel = value; return;
      case Reg.DriverFeatures: {
        // §3.1.1 step 4: features are written before FEATURES_OK. Drivers that skip
        // ACKNOWLEDGE/DRIVER after a reset (U-Boot does) are tolerated, as QEMU does.
        if (this.status & VirtioStatus.FEATURES_OK) return this.ignore('DriverFeatures after FEATURES_OK');
        if (this.driverFeaturesSel > 1) return; // words beyond 64 bits: nothing defined
        const shift = BigInt(32 * this.driverFeaturesSel);
        this.driverFeatures = (this.driverFeatures & ~(0xffffffffn << shift)) | (BigInt(value) << shift);
        return;
      }
      case Reg.QueueSel: this.queueSel = value; return;
      case Reg.QueueNum:
        if (!this.queueWritable(q)) return;
        q.size = value;
        return;
      case Reg.QueueReady: this.writeQueueReady(q, value); return;
      case Reg.QueueDescLow: case Reg.QueueDescHigh:
      case Reg.QueueDriverLow: case Reg.QueueDriverHigh:
      case Reg.QueueDeviceLow: case Reg.QueueDeviceHigh: {
        if (!this.queueWritable(q)) return;
        const queue = q;
        const field = offset < Reg.QueueDriverLow ? 'desc' : offset < Reg.QueueDeviceLow ? 'avail' : 'used';
        queue[field] = setHalf(queue[field], (offset & 4) !== 0, value);
        return;
      }
      case Reg.QueueNotify: this.notify(value & 0xffff); return;
      case Reg.InterruptACK:
        this.interruptStatus &= ~value;
        this.updateIrq();
        return;
      case Reg.Status: this.writeStatus(value & 0xff); return;
      case Reg.QueueReset:
        // VIRTIO_F_RING_RESET is not offered (§4.2.2): ignore.
        return this.ignore('QueueReset without VIRTIO_F_RING_RESET');
      default:
        return this.ignore(`write to read-only or unknown register 0x${offset.toString(16)}`);
    }
  }

  /** Sets DEVICE_NEEDS_RESET and tells the driver (§2.1.2). Safe to call any time. */
  fail(error: unknown): void {
    this.lastError = error;
    this.stats.deviceErrors++;
    const message = error instanceof Error ? error.message : String(error);
    this.log(`${this.name}: device error, needs reset: ${message}`);
    if (this.status & VirtioStatus.DEVICE_NEEDS_RESET) return;
    this.status |= VirtioStatus.DEVICE_NEEDS_RESET;
    if (this.status & VirtioStatus.DRIVER_OK) this.raise(INT_CONFIG_CHANGE);
  }

  private featureWord(features: bigint, sel: number): number {
    if (sel > 1) return 0;
    return Number((features >> BigInt(32 * sel)) & 0xffffffffn);
  }

  private ignore(what: string): void {
    this.stats.ignoredWrites++;
    this.log(`${this.name}: ignored ${what}`);
  }

  /** Queue registers may change only while the queue is not ready and the device not live (§4.2.3.2). */
  private queueWritable(q: VirtQueue | undefined): q is VirtQueue {
    if (q === undefined) {
      this.ignore(`queue register write for missing queue ${this.queueSel}`);
      return false;
    }
    if (q.ready || this.status & VirtioStatus.DRIVER_OK) {
      this.ignore(`queue ${this.queueSel} register write while the queue is ready`);
      return false;
    }
    return true;
  }

  private writeQueueReady(q: VirtQueue | undefined, value: number): void {
    if (q === undefined) return this.ignore(`QueueReady for missing queue ${this.queueSel}`);
    if ((value & 1) === 0) {
      // Without VIRTIO_F_RING_RESET a live queue cannot be stopped alone; allow it only before DRIVER_OK.
      if (this.status & VirtioStatus.DRIVER_OK) return this.ignore('QueueReady=0 on a live device');
      q.ready = false;
      return;
    }
    if (q.ready) return;
    const why = q.validate(this.mem);
    if (why !== undefined) {
      // The driver checks nothing here, so a bad queue is a device error rather than a silent refusal.
      this.fail(new Error(`queue ${this.queueSel}: ${why}`));
      return;
    }
    q.ready = true;
  }

  private writeStatus(value: number): void {
    if (value === 0) return this.reset();
    const old = this.status;
    const sticky = old & VirtioStatus.DEVICE_NEEDS_RESET;
    const driverBits = old & ~VirtioStatus.DEVICE_NEEDS_RESET;
    const requested = value & ~VirtioStatus.DEVICE_NEEDS_RESET;
    // §2.1.2: the driver MUST NOT clear a status bit (except by writing 0).
    if ((requested & driverBits) !== driverBits) return this.ignore(`status 0x${value.toString(16)} clears bits of 0x${old.toString(16)}`);
    const added = requested & ~driverBits;
    if (added & VirtioStatus.FAILED) {
      this.status = requested | sticky;
      return;
    }
    // §3.1.1 order: ACKNOWLEDGE, DRIVER, FEATURES_OK, DRIVER_OK, each needing the previous.
    // §3.1.1 orders the steps for drivers; the device only insists on what it needs:
    // features accepted before the device goes live. (U-Boot sets DRIVER without
    // re-setting ACKNOWLEDGE after a reset; QEMU accepts that, and so do we.)
    const needs: [number, number][] = [
      [VirtioStatus.DRIVER_OK, VirtioStatus.FEATURES_OK],
    ];
    for (const [bit, prerequisite] of needs) {
      if (added & bit && !(requested & prerequisite)) return this.ignore(`status bit ${bit} without bit ${prerequisite}`);
    }
    let next = requested;
    if (added & VirtioStatus.FEATURES_OK && !this.featuresAcceptable()) {
      // §2.2.2: leave FEATURES_OK clear so the driver sees the refusal when it re-reads Status.
      this.log(`${this.name}: refused driver features 0x${this.driverFeatures.toString(16)}`);
      next &= ~VirtioStatus.FEATURES_OK;
    }
    this.status = next | sticky;
    if (added & VirtioStatus.DRIVER_OK && !sticky) this.activate();
  }

  private featuresAcceptable(): boolean {
    const offered = this.deviceFeatures;
    return (this.driverFeatures & ~offered) === 0n && (this.driverFeatures & VIRTIO_F_VERSION_1) !== 0n;
  }

  private activate(): void {
    for (let i = 0; i < this.queues.length; i++) {
      const q = this.queues[i];
      if (!q.ready) continue;
      const why = q.validate(this.mem);
      if (why !== undefined) return this.fail(new Error(`queue ${i}: ${why}`));
    }
    const eventIdx = (this.driverFeatures & VIRTIO_RING_F_EVENT_IDX) !== 0n;
    for (const q of this.queues) q.eventIdx = eventIdx;
    this.activated = true;
    this.guard(() => this.device.activate(this.activation()));
  }

  private activation(): VirtioActivation {
    const epoch = this.epoch;
    const live = (): boolean => epoch === this.epoch && this.activated && !(this.status & VirtioStatus.DEVICE_NEEDS_RESET);
    return {
      queues: this.queues,
      mem: this.mem,
      features: this.driverFeatures,
      signalUsed: (queueIndex: number) => {
        if (!live()) return;
        const q = this.queues[queueIndex];
        let needed = true;
        try {
          needed = q.needsNotification(this.mem);
        } catch (e) {
          return this.fail(e);
        }
        if (needed) this.raise(INT_USED_BUFFER);
      },
      signalConfig: () => {
        if (epoch !== this.epoch) return;
        this.configGeneration = (this.configGeneration + 1) >>> 0;
        if (this.status & VirtioStatus.DRIVER_OK) this.raise(INT_CONFIG_CHANGE);
      },
      fail: (error: unknown) => {
        if (epoch === this.epoch) this.fail(error);
      },
    };
  }

  private notify(queueIndex: number): void {
    this.stats.notifications++;
    if (!this.activated || this.status & VirtioStatus.DEVICE_NEEDS_RESET) return this.ignore(`notify of queue ${queueIndex} while the device is not live`);
    const q = this.queues[queueIndex];
    if (q === undefined || !q.ready) return this.ignore(`notify of queue ${queueIndex}, which is not ready`);
    this.guard(() => this.device.notify(queueIndex));
  }

  /** Runs device code; whatever it throws becomes DEVICE_NEEDS_RESET, never the caller's problem. */
  private guard(action: () => void): void {
    try {
      action();
    } catch (e) {
      this.fail(e);
    }
  }

  private raise(bits: number): void {
    this.interruptStatus |= bits;
    this.stats.interrupts++;
    this.updateIrq();
  }

  private updateIrq(): void {
    this.irq.setLevel(this.interruptStatus !== 0);
  }

  /** Device reset (§2.1, §4.2.3.1): status 0, queues and features cleared, interrupt lowered. */
  reset(): void {
    this.epoch++;
    const wasActive = this.activated;
    this.activated = false;
    this.status = 0;
    this.deviceFeaturesSel = this.driverFeaturesSel = 0;
    this.driverFeatures = 0n;
    this.queueSel = 0;
    this.interruptStatus = 0;
    for (const q of this.queues) q.reset();
    this.updateIrq();
    try {
      this.device.reset();
    } catch (e) {
      // A device must not fail its reset; if it does, say so but stay in a clean state.
      this.log(`${this.name}: device reset failed${wasActive ? '' : ' (inactive)'}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  save(): VirtioMmioState {
    return {
      version: 1,
      deviceId: this.device.deviceId,
      status: this.status,
      deviceFeaturesSel: this.deviceFeaturesSel,
      driverFeaturesSel: this.driverFeaturesSel,
      driverFeatures: this.driverFeatures.toString(16),
      queueSel: this.queueSel,
      interruptStatus: this.interruptStatus,
      configGeneration: this.configGeneration,
      queues: this.queues.map((q) => q.save()),
      device: this.device.save(),
    };
  }

  restore(s: VirtioMmioState): void {
    if (s.version !== 1) throw new Error(`${this.name}: unsupported virtio-mmio state version ${String(s.version)}`);
    if (s.deviceId !== this.device.deviceId) throw new Error(`${this.name}: state is for device ID ${s.deviceId}, this is ${this.device.deviceId}`);
    if (s.queues.length !== this.queues.length) throw new Error(`${this.name}: state has ${s.queues.length} queues, device has ${this.queues.length}`);
    this.epoch++;
    this.activated = false;
    this.device.reset();
    this.status = s.status;
    this.deviceFeaturesSel = s.deviceFeaturesSel;
    this.driverFeaturesSel = s.driverFeaturesSel;
    this.driverFeatures = BigInt(`0x${s.driverFeatures || '0'}`);
    this.queueSel = s.queueSel;
    this.interruptStatus = s.interruptStatus;
    this.configGeneration = s.configGeneration;
    s.queues.forEach((qs, i) => this.queues[i].restore(qs));
    this.device.restore(s.device);
    if (this.status & VirtioStatus.DRIVER_OK && !(this.status & VirtioStatus.DEVICE_NEEDS_RESET)) {
      this.activated = true;
      this.guard(() => this.device.activate(this.activation()));
    }
    this.updateIrq();
  }
}

/** Replaces the low or high 32 bits of a 64-bit guest address held in a number. */
function setHalf(current: number, high: boolean, value: number): number {
  const lo = current % 2 ** 32;
  const hi = Math.floor(current / 2 ** 32);
  // Addresses at or above 2^53 cannot exist in guest RAM; clamp so validate() rejects them.
  return high ? Math.min(value * 2 ** 32 + lo, Number.MAX_SAFE_INTEGER) : hi * 2 ** 32 + value;
}
