/**
 * virtio-net (virtio 1.2 §5.1): one receiveq (queue 0) and one transmitq
 * (queue 1) over a host {@link NetBackend}. No multiqueue, no control queue,
 * no offloads.
 *
 * Every frame carries a 12-byte `virtio_net_hdr` in front (§5.1.6): with
 * VIRTIO_F_VERSION_1 the header always includes `num_buffers`, mergeable
 * receive buffers or not. No checksum or segmentation offload is offered,
 * so the driver sends `flags = 0, gso_type = GSO_NONE` and the device
 * writes the same (§5.1.6.4: `num_buffers = 1` without MRG_RXBUF).
 *
 * TX completes synchronously: the header is stripped and the Ethernet frame
 * handed to the backend. RX frames from the backend go into receive buffers
 * at once when the driver has some; otherwise they wait on the host side, up
 * to {@link NetOptions.rxQueueLimit} frames, and are delivered when the
 * driver adds buffers (its notify) — beyond that they are dropped and
 * counted, as a full NIC FIFO would.
 *
 * A frame too big for the receive buffer at hand is dropped (counted) and
 * the buffer kept for the next frame, as QEMU does without MRG_RXBUF.
 * A transmit chain too short to hold the header is the driver's bug and
 * sets DEVICE_NEEDS_RESET (QEMU reports it with virtio_error too).
 */
import { createHash, getRandomValues } from 'node:crypto';
import { ETH_HEADER_LEN, MAX_FRAME_LEN, type NetBackend, formatMac, parseMac } from '../../../backends/net-backend.js';
import { completeAvailable, type VirtioActivation, type VirtioDevice, VirtioDeviceId } from '../device.js';
import { ChainCursor, type DescriptorChain } from '../queue.js';

// Feature bits (§5.1.3).
/** The device reports its maximum MTU in `mtu`. */
export const VIRTIO_NET_F_MTU = 1n << 3n;
/** The device has a MAC address in `mac`. */
export const VIRTIO_NET_F_MAC = 1n << 5n;
/** The link state is in `status`. */
export const VIRTIO_NET_F_STATUS = 1n << 16n;
/** `status` bit: the link is up (§5.1.4). */
export const VIRTIO_NET_S_LINK_UP = 1;

/** Size of `struct virtio_net_hdr` with `num_buffers` (§5.1.6, VERSION_1). */
export const VIRTIO_NET_HDR_LEN = 12;
/** Default number of host frames held while the driver has no receive buffer. */
export const RX_QUEUE_LIMIT = 256;
/** Queue indexes (§5.1.2). */
export const RECEIVEQ = 0;
/** The transmit queue's index. */
export const TRANSMITQ = 1;
const QUEUE_SIZE = 256;
/** Config: u8 mac[6]; le16 status; le16 max_virtqueue_pairs; le16 mtu (§5.1.4). */
const CONFIG_SIZE = 12;
const MIN_MTU = 68;
const MAX_MTU = 65535;

/** A frame the driver put on the transmitq that cannot be parsed (its bug). */
export class VirtioNetError extends Error {
  constructor(message: string) {
    super(`virtio-net: ${message}`);
    this.name = 'VirtioNetError';
  }
}

/** Counters of a virtio-net device (Ethernet frame bytes, headers excluded). */
export interface NetMetrics {
  txFrames: number;
  txBytes: number;
  /** Transmitted frames not handed to the backend: runts, oversized, link down, backend failure. */
  txDropped: number;
  rxFrames: number;
  rxBytes: number;
  /** Host frames dropped: host queue full, too big for the receive buffer, link down. */
  rxDropped: number;
  /** Driver mistakes that did not need a reset (a receive buffer too small for any frame). */
  rxErrors: number;
  /** Times the device asked for a reset (malformed transmit chain, host-side delivery failure). */
  errors: number;
}

/** Saved virtio-net state (version 1): frames waiting for receive buffers travel with it. */
export interface NetState {
  version: 1;
  /** The MAC the guest was given, `52:54:00:…` form. */
  mac: string;
  linkUp: boolean;
  metrics: NetMetrics;
  /** Frames waiting for receive buffers, base64. */
  pending: string[];
  /** A receive chain popped but not used (the last frame did not fit), or null. */
  held: DescriptorChain | null;
}

/** Options of {@link VirtioNet}. */
export interface NetOptions {
  /** The MAC address (6 bytes, unicast). Default: {@link defaultMac} (random). */
  mac?: Uint8Array;
  /** Offer VIRTIO_NET_F_MTU with this MTU (68..65535). Default: not offered (the driver uses 1500). */
  mtu?: number;
  /** Host frames held while the driver has no receive buffer (default {@link RX_QUEUE_LIMIT}). */
  rxQueueLimit?: number;
}

/**
 * A locally administered unicast MAC in QEMU's 52:54:00 range. With a
 * `seed` (e.g. the VM's name plus the NIC's index) it is derived from the
 * seed, so the same VM gets the same MAC on every run; otherwise random.
 */
export function defaultMac(seed?: string): Uint8Array {
  const tail = seed === undefined ? getRandomValues(new Uint8Array(3)) : createHash('sha256').update(seed).digest().subarray(0, 3);
  return Uint8Array.of(0x52, 0x54, 0x00, tail[0], tail[1], tail[2]);
}

/** A virtio network device with one queue pair. */
export class VirtioNet implements VirtioDevice<NetState> {
  readonly deviceId = VirtioDeviceId.NET;
  readonly features: bigint;
  readonly queueMaxSizes = [QUEUE_SIZE, QUEUE_SIZE];
  readonly metrics: NetMetrics = newMetrics();
  private mac: Uint8Array;
  private readonly mtu: number | undefined;
  private readonly rxQueueLimit: number;
  private link = true;
  private pending: Uint8Array[] = [];
  private held: DescriptorChain | undefined;
  private active: VirtioActivation | undefined;

  constructor(readonly backend: NetBackend, options: NetOptions = {}) {
    this.mac = checkMac(options.mac ?? defaultMac());
    if (options.mtu !== undefined && (!Number.isInteger(options.mtu) || options.mtu < MIN_MTU || options.mtu > MAX_MTU)) {
      throw new RangeError(`virtio-net MTU ${options.mtu} must be an integer from ${MIN_MTU} to ${MAX_MTU}`);
    }
    this.mtu = options.mtu;
    this.rxQueueLimit = options.rxQueueLimit ?? RX_QUEUE_LIMIT;
    this.features = VIRTIO_NET_F_MAC | VIRTIO_NET_F_STATUS | (this.mtu === undefined ? 0n : VIRTIO_NET_F_MTU);
    backend.onReceive((frame) => this.receive(frame));
  }

  /** The MAC address in the config space (a copy). */
  get macAddress(): Uint8Array {
    return this.mac.slice();
  }

  /** Whether the link is up (`status` bit VIRTIO_NET_S_LINK_UP). */
  get linkUp(): boolean {
    return this.link;
  }

  /** Frames waiting for receive buffers. */
  get pendingFrames(): number {
    return this.pending.length;
  }

  /** Plugs or unplugs the cable: updates `status` and tells the driver (§5.1.4, configuration change). */
  setLinkUp(up: boolean): void {
    if (up === this.link) return;
    this.link = up;
    if (!up) {
      this.metrics.rxDropped += this.pending.length;
      this.pending = [];
    }
    this.active?.signalConfig();
  }

  readConfig(offset: number, size: 1 | 2 | 4): number {
    if (offset < 0 || offset + size > CONFIG_SIZE) return 0;
    const c = new Uint8Array(CONFIG_SIZE);
    const dv = new DataView(c.buffer);
    c.set(this.mac, 0);
    dv.setUint16(6, this.link ? VIRTIO_NET_S_LINK_UP : 0, true); // status
    dv.setUint16(8, 1, true); // max_virtqueue_pairs (meaningful with MQ/RSS only)
    dv.setUint16(10, this.mtu ?? 1500, true); // mtu (meaningful with F_MTU only)
    let v = 0;
    for (let i = size - 1; i >= 0; i--) v = v * 256 + c[offset + i];
    return v;
  }

  writeConfig(): void {
    // §5.1.4: with VERSION_1 the config space is read-only (the MAC changes only via the control queue, not offered).
  }

  activate(activation: VirtioActivation): void {
    this.active = activation;
    this.deliver();
  }

  reset(): void {
    // Frames waiting on the host side are kept: they were on the wire for whoever drives the NIC next.
    this.active = undefined;
    this.held = undefined;
  }

  notify(queueIndex: number): void {
    if (queueIndex === TRANSMITQ) this.transmit();
    else if (queueIndex === RECEIVEQ) this.deliverOrThrow();
  }

  /** Drains the transmitq: strips each header and hands the frame to the backend (§5.1.6.2). */
  private transmit(): void {
    const a = this.active;
    if (a === undefined) return;
    completeAvailable(a, TRANSMITQ, (chain) => {
      if (chain.readableLength < VIRTIO_NET_HDR_LEN) {
        throw new VirtioNetError(`transmit chain ${chain.head} has ${chain.readableLength} readable bytes, less than the ${VIRTIO_NET_HDR_LEN}-byte virtio_net_hdr (§5.1.6.2)`);
      }
      const length = chain.readableLength - VIRTIO_NET_HDR_LEN;
      if (length < ETH_HEADER_LEN || length > MAX_FRAME_LEN || !this.link) {
        this.metrics.txDropped++;
      } else {
        const cursor = new ChainCursor(a.mem, chain.readable);
        // No CSUM/GSO offered: the header's flags and gso_type are 0 and carry nothing (§5.1.6.2).
        cursor.skip(VIRTIO_NET_HDR_LEN);
        const frame = new Uint8Array(length);
        cursor.read(frame);
        this.send(frame);
      }
      return 0;
    });
  }

  private send(frame: Uint8Array): void {
    try {
      this.backend.send(frame);
    } catch {
      // The NetBackend contract says send never throws; if one does, the frame is lost, not the device.
      this.metrics.txDropped++;
      return;
    }
    this.metrics.txFrames++;
    this.metrics.txBytes += frame.length;
  }

  /** A frame from the backend: queue it, then deliver what fits. */
  private receive(frame: Uint8Array): void {
    if (!this.link || this.pending.length >= this.rxQueueLimit || frame.length > MAX_FRAME_LEN) {
      this.metrics.rxDropped++;
      return;
    }
    // Backends may share a frame between receivers (flooding): keep our own copy.
    this.pending.push(frame.slice());
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

  /** Moves pending frames into receive buffers while both exist (§5.1.6.3, §5.1.6.4). */
  private deliverOrThrow(): void {
    const a = this.active;
    if (a === undefined || this.pending.length === 0) return;
    const q = a.queues[RECEIVEQ];
    if (!q.ready) return;
    let completed = 0;
    while (this.pending.length > 0) {
      const chain = this.held ?? q.pop(a.mem);
      this.held = undefined;
      if (chain === undefined) break;
      if (chain.writableLength < VIRTIO_NET_HDR_LEN + ETH_HEADER_LEN) {
        // No frame can ever fit: give the buffer back empty rather than hold it forever.
        this.metrics.rxErrors++;
        q.push(a.mem, chain.head, 0);
        completed++;
        continue;
      }
      const frame = this.pending.shift() as Uint8Array;
      if (VIRTIO_NET_HDR_LEN + frame.length > chain.writableLength) {
        // Without MRG_RXBUF a frame must fit one chain (§5.1.6.3.1); drop it, keep the buffer.
        this.metrics.rxDropped++;
        this.held = chain;
        continue;
      }
      const cursor = new ChainCursor(a.mem, chain.writable);
      cursor.write(rxHeader());
      cursor.write(frame);
      q.push(a.mem, chain.head, VIRTIO_NET_HDR_LEN + frame.length);
      this.metrics.rxFrames++;
      this.metrics.rxBytes += frame.length;
      completed++;
    }
    if (completed > 0) a.signalUsed(RECEIVEQ);
  }

  save(): NetState {
    return {
      version: 1,
      mac: formatMac(this.mac),
      linkUp: this.link,
      metrics: { ...this.metrics },
      pending: this.pending.map((f) => Buffer.from(f).toString('base64')),
      held: this.held === undefined ? null : structuredClone(this.held),
    };
  }

  restore(s: NetState): void {
    if (s.version !== 1) throw new Error(`unsupported virtio-net state version ${String(s.version)}`);
    this.mac = checkMac(parseMac(s.mac));
    this.link = s.linkUp ?? true;
    Object.assign(this.metrics, newMetrics(), s.metrics);
    this.pending = (s.pending ?? []).map((b64) => new Uint8Array(Buffer.from(b64, 'base64')));
    this.held = s.held ?? undefined;
  }
}

/** The header of a received frame: no checksum/GSO information, one buffer (§5.1.6.4). */
function rxHeader(): Uint8Array {
  const h = new Uint8Array(VIRTIO_NET_HDR_LEN);
  // flags = 0, gso_type = VIRTIO_NET_HDR_GSO_NONE, hdr_len = gso_size = csum_* = 0.
  h[10] = 1; // le16 num_buffers = 1: MUST without VIRTIO_NET_F_MRG_RXBUF
  return h;
}

function checkMac(mac: Uint8Array): Uint8Array {
  if (mac.length !== 6) throw new RangeError(`virtio-net MAC must be 6 bytes, got ${mac.length}`);
  if (mac[0] & 1) throw new RangeError('virtio-net MAC must be unicast (low bit of the first byte clear)');
  return mac.slice();
}

function newMetrics(): NetMetrics {
  return { txFrames: 0, txBytes: 0, txDropped: 0, rxFrames: 0, rxBytes: 0, rxDropped: 0, rxErrors: 0, errors: 0 };
}
