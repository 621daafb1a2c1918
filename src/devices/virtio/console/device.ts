/**
 * virtio-console (virtio 1.2 §5.3), port 0 only: receiveq (queue 0, host →
 * guest) and transmitq (queue 1, guest → host), over a {@link CharBackend}.
 *
 * VIRTIO_CONSOLE_F_EMERG_WRITE is offered: a byte written to `emerg_wr`
 * goes straight to the host, for early boot. MULTIPORT is not offered, so
 * there is no control queue. `cols`/`rows` are in the config space but
 * VIRTIO_CONSOLE_F_SIZE is not offered.
 *
 * Host input is never lost: bytes that arrive while the guest has no
 * receive buffer (or before DRIVER_OK) wait, up to {@link RX_PENDING_LIMIT}
 * bytes, and are delivered when the driver adds buffers.
 */
import type { CharBackend } from '../../../backends/char-backend.js';
import { completeAvailable, type VirtioActivation, type VirtioDevice, VirtioDeviceId } from '../device.js';
import { ChainCursor } from '../queue.js';

/** Early-boot output register (§5.3.4). */
export const VIRTIO_CONSOLE_F_EMERG_WRITE = 1n << 2n;
/** Host input held back beyond this many bytes is dropped (and counted). */
export const RX_PENDING_LIMIT = 1 << 20;
const RECEIVEQ = 0;
const TRANSMITQ = 1;
/** Config: le16 cols; le16 rows; le32 max_nr_ports; le32 emerg_wr (§5.3.4). */
const EMERG_WR = 8;
const CONFIG_SIZE = 12;

/** Counters of a virtio console. */
export interface ConsoleMetrics {
  txRequests: number;
  txBytes: number;
  rxBytes: number;
  /** Host input dropped because too much was pending. */
  droppedBytes: number;
  emergencyBytes: number;
  errors: number;
}

/** Saved virtio-console state (version 1): pending input travels with it. */
export interface ConsoleState {
  version: 1;
  metrics: ConsoleMetrics;
  /** Input not yet delivered, as an array of byte values. */
  pending: number[];
}

/** A virtio console with one port. */
export class VirtioConsole implements VirtioDevice<ConsoleState> {
  readonly deviceId = VirtioDeviceId.CONSOLE;
  readonly features = VIRTIO_CONSOLE_F_EMERG_WRITE;
  readonly queueMaxSizes = [256, 256];
  readonly metrics: ConsoleMetrics = newMetrics();
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  private active: VirtioActivation | undefined;

  /** `cols`×`rows` is what the config reports (informational). */
  constructor(readonly backend: CharBackend, private readonly cols = 80, private readonly rows = 25) {
    backend.onInput((data) => this.input(data));
  }

  /** Bytes of host input waiting for receive buffers. */
  get pendingInput(): number {
    return this.pendingBytes;
  }

  readConfig(offset: number, size: 1 | 2 | 4): number {
    const c = new Uint8Array(CONFIG_SIZE);
    const dv = new DataView(c.buffer);
    dv.setUint16(0, this.cols, true);
    dv.setUint16(2, this.rows, true);
    dv.setUint32(4, 1, true); // max_nr_ports (meaningful with MULTIPORT only)
    if (offset < 0 || offset + size > CONFIG_SIZE) return 0;
    let v = 0;
    for (let i = size - 1; i >= 0; i--) v = v * 256 + c[offset + i];
    return v;
  }

  writeConfig(offset: number, _size: 1 | 2 | 4, value: number): void {
    if (offset !== EMERG_WR) return;
    this.metrics.emergencyBytes++;
    this.backend.write(Uint8Array.of(value & 0xff));
  }

  activate(activation: VirtioActivation): void {
    this.active = activation;
    this.deliver();
  }

  reset(): void {
    // Pending input is kept: it was typed for whoever drives the console next.
    this.active = undefined;
  }

  notify(queueIndex: number): void {
    if (queueIndex === TRANSMITQ) this.transmit();
    else if (queueIndex === RECEIVEQ) this.deliverOrThrow();
  }

  private transmit(): void {
    const a = this.active;
    if (a === undefined) return;
    completeAvailable(a, TRANSMITQ, (chain) => {
      this.metrics.txRequests++;
      const data = new Uint8Array(chain.readableLength);
      new ChainCursor(a.mem, chain.readable).read(data);
      if (data.length > 0) this.backend.write(data);
      this.metrics.txBytes += data.length;
      return 0;
    });
  }

  private input(data: Uint8Array): void {
    const room = RX_PENDING_LIMIT - this.pendingBytes;
    if (data.length > room) this.metrics.droppedBytes += data.length - Math.max(room, 0);
    if (room <= 0) return;
    const kept = data.slice(0, room);
    this.pending.push(kept);
    this.pendingBytes += kept.length;
    this.deliver();
  }

  /** Delivery outside a transport call: errors go to the transport as DEVICE_NEEDS_RESET. */
  private deliver(): void {
    try {
      this.deliverOrThrow();
    } catch (e) {
      this.metrics.errors++;
      this.active?.fail(e);
    }
  }

  /** Moves pending input into receive buffers while both exist (§5.3.6.1). */
  private deliverOrThrow(): void {
    const a = this.active;
    if (a === undefined || this.pendingBytes === 0) return;
    const q = a.queues[RECEIVEQ];
    if (!q.ready) return;
    let completed = 0;
    while (this.pendingBytes > 0) {
      const chain = q.pop(a.mem);
      if (chain === undefined) break;
      const cursor = new ChainCursor(a.mem, chain.writable);
      let written = 0;
      while (this.pending.length > 0 && cursor.remaining() > 0) {
        const chunk = this.pending[0];
        const n = cursor.write(chunk);
        written += n;
        if (n === chunk.length) this.pending.shift();
        else this.pending[0] = chunk.subarray(n);
      }
      this.pendingBytes -= written;
      this.metrics.rxBytes += written;
      if (written === 0) this.metrics.errors++; // a receive buffer with no writable space
      q.push(a.mem, chain.head, written);
      completed++;
    }
    if (completed > 0) a.signalUsed(RECEIVEQ);
  }

  save(): ConsoleState {
    const pending: number[] = [];
    for (const chunk of this.pending) for (const b of chunk) pending.push(b);
    return { version: 1, metrics: { ...this.metrics }, pending };
  }

  restore(s: ConsoleState): void {
    if (s.version !== 1) throw new Error(`unsupported virtio-console state version ${String(s.version)}`);
    Object.assign(this.metrics, newMetrics(), s.metrics);
    this.pending = s.pending.length > 0 ? [Uint8Array.from(s.pending)] : [];
    this.pendingBytes = s.pending.length;
  }
}

function newMetrics(): ConsoleMetrics {
  return { txRequests: 0, txBytes: 0, rxBytes: 0, droppedBytes: 0, emergencyBytes: 0, errors: 0 };
}
