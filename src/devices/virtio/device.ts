/**
 * The contract between a virtio transport (virtio-mmio, later PCI) and a
 * virtio device model (blk, console, rng, balloon...).
 *
 * The transport owns the registers, the device status state machine
 * (virtio 1.2 §2.1), feature negotiation (§2.2) and the virtqueues' addresses
 * (§2.7); the device owns its configuration space (§2.5) and the meaning of
 * the buffers on its queues. A device is handed its queues, guest memory and
 * a way to interrupt the driver only when the driver sets DRIVER_OK (§3.1.1).
 */
import type { GuestMemory } from '../../memory/guest-memory.js';
import type { DescriptorChain, VirtQueue } from './queue.js';

/** Device status bits (virtio 1.2 §2.1). */
export const enum VirtioStatus {
  ACKNOWLEDGE = 1,
  DRIVER = 2,
  DRIVER_OK = 4,
  FEATURES_OK = 8,
  DEVICE_NEEDS_RESET = 64,
  FAILED = 128,
}

/** Reserved (device-independent) feature bits (virtio 1.2 §6). */
export const VIRTIO_RING_F_INDIRECT_DESC = 1n << 28n;
/** used_event / avail_event notification suppression (virtio 1.2 §2.7.10). */
export const VIRTIO_RING_F_EVENT_IDX = 1n << 29n;
/** The modern (non-legacy) interface; a version-2 MMIO driver must accept it (§6.1). */
export const VIRTIO_F_VERSION_1 = 1n << 32n;

/** Device IDs (virtio 1.2 §5). */
export const enum VirtioDeviceId {
  NET = 1,
  BLOCK = 2,
  CONSOLE = 3,
  ENTROPY = 4,
  BALLOON = 5,
}

/** What a device is handed when the driver sets DRIVER_OK. */
export interface VirtioActivation {
  /** The device's queues, in queue-index order; each has been validated (§2.7). */
  readonly queues: readonly VirtQueue[];
  /** Guest memory the queues' rings and buffers live in. */
  readonly mem: GuestMemory;
  /** The features the driver accepted (device-specific and transport bits). */
  readonly features: bigint;
  /**
   * Tells the transport that buffers were put on queue `queueIndex`'s used
   * ring; it interrupts the driver unless the driver suppressed it (§2.7.7, §2.7.10).
   */
  signalUsed(queueIndex: number): void;
  /** Tells the driver the configuration space changed (§2.5.1, §4.2.3.3). */
  signalConfig(): void;
  /**
   * Reports an error found outside a transport call (host input, a host API):
   * the transport sets DEVICE_NEEDS_RESET (§2.1.2). Errors thrown from
   * {@link VirtioDevice.notify} are reported automatically.
   */
  fail(error: unknown): void;
}

/**
 * A virtio device model, independent of its transport.
 *
 * `notify` may throw a `VirtqueueError` or a `GuestMemoryError` for a
 * malformed request; the transport turns that into DEVICE_NEEDS_RESET.
 */
export interface VirtioDevice<S = unknown> {
  /** The virtio device ID (§5), e.g. 2 for a block device. */
  readonly deviceId: number;
  /** Device-specific feature bits offered; the transport adds VERSION_1, INDIRECT_DESC and EVENT_IDX. */
  readonly features: bigint;
  /** Maximum size of each queue (at most 256 here); the array's length is the number of queues. */
  readonly queueMaxSizes: readonly number[];
  /** Reads the device configuration space (§2.5); unknown offsets read 0. */
  readConfig(offset: number, size: 1 | 2 | 4): number;
  /** Writes the device configuration space; read-only fields ignore writes. */
  writeConfig(offset: number, size: 1 | 2 | 4, value: number): void;
  /** The driver set DRIVER_OK: the device may now use its queues. */
  activate(activation: VirtioActivation): void;
  /** The driver notified queue `queueIndex` (available buffers, §2.7.13). */
  notify(queueIndex: number): void;
  /** Device reset (§2.1, §4.2.3.1): forget the activation and in-flight requests. */
  reset(): void;
  /** The device's own state (its config and counters), versioned; queues are saved by the transport. */
  save(): S;
  /** Restores {@link save}'s output; called before a restored transport re-activates the device. */
  restore(state: S): void;
}

/**
 * Completes every available chain of queue `queueIndex` synchronously: `serve`
 * handles one chain and returns the bytes it wrote into the chain's writable
 * buffers; each chain then goes on the used ring, and the driver is signalled
 * once if anything completed (§2.7.8, §2.7.7). An error thrown by `serve` or by
 * the queue propagates (the transport turns it into DEVICE_NEEDS_RESET).
 */
export function completeAvailable(a: VirtioActivation, queueIndex: number, serve: (chain: DescriptorChain) => number): void {
  const q = a.queues[queueIndex];
  let completed = 0;
  for (const chain of q.drain(a.mem)) {
    q.push(a.mem, chain.head, serve(chain));
    completed++;
  }
  if (completed > 0) a.signalUsed(queueIndex);
}
