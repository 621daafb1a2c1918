/**
 * The host side of a network device (cf. TinyEMU's `EthernetDevice`): whole
 * Ethernet frames (destination MAC first, no preamble, no FCS) in each
 * direction. A virtio-net device only ever sees this interface; whether the
 * frames go to an in-process switch, a socket or a host TAP device is the
 * backend's business.
 *
 * Ethernet is lossy by design: a backend that cannot take a frame (its peer
 * is gone, its buffers are full) drops it and counts it, it never throws
 * into the device.
 */

/** Length of an Ethernet header: destination MAC, source MAC, EtherType. */
export const ETH_HEADER_LEN = 14;
/** Length of an 802.1Q VLAN tag. */
export const VLAN_TAG_LEN = 4;
/**
 * The largest frame any backend carries: a 64 KiB payload (what a guest may
 * send with a large MTU) plus an Ethernet header and a VLAN tag.
 */
export const MAX_FRAME_LEN = 65535 + ETH_HEADER_LEN + VLAN_TAG_LEN;

/** Whole Ethernet frames between a guest NIC and the host. */
export interface NetBackend {
  /**
   * Sends one frame from the guest. The backend copies what it keeps: the
   * caller may reuse `frame` as soon as this returns. Never throws for a
   * frame it cannot deliver; it drops it.
   */
  send(frame: Uint8Array): void;
  /**
   * Registers a handler for frames arriving for the guest. Several handlers
   * may be registered; each receives every frame. A handler must not
   * modify the frame (flooded frames are shared). Frames are delivered from
   * the event loop, never from inside another guest's {@link send}.
   */
  onReceive(handler: (frame: Uint8Array) => void): void;
  /** Releases host resources (sockets, file descriptors, switch ports). Idempotent. */
  close(): void;
}

/** A backend that cannot be opened or used; the message says what is missing and what to do. */
export class NetBackendError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'NetBackendError';
  }
}

/** The handler list every backend keeps. Frames that arrive with no handler are dropped (a NIC with no driver). */
export class FrameHandlerList {
  private readonly handlers: ((frame: Uint8Array) => void)[] = [];

  /** Adds a handler. */
  add(handler: (frame: Uint8Array) => void): void {
    this.handlers.push(handler);
  }

  /** Delivers one frame to every handler; returns false when there was none. */
  deliver(frame: Uint8Array): boolean {
    for (const h of this.handlers) h(frame);
    return this.handlers.length > 0;
  }

  /** Forgets every handler. */
  clear(): void {
    this.handlers.length = 0;
  }
}

/** Formats a MAC address as `52:54:00:12:34:56`. */
export function formatMac(mac: Uint8Array): string {
  return Array.from(mac.subarray(0, 6), (b) => b.toString(16).padStart(2, '0')).join(':');
}

/** Parses `52:54:00:12:34:56` (or with `-`); throws a RangeError for anything else. */
export function parseMac(text: string): Uint8Array {
  const parts = text.split(/[:-]/);
  if (parts.length !== 6 || !parts.every((p) => /^[0-9a-fA-F]{2}$/.test(p))) {
    throw new RangeError(`'${text}' is not a MAC address (expected six hex bytes such as 52:54:00:12:34:56)`);
  }
  return Uint8Array.from(parts, (p) => parseInt(p, 16));
}
