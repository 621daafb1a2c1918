/**
 * Ethernet frames over a byte stream (a Unix domain socket between tsvisor
 * processes): each frame is a 4-byte big-endian length followed by the
 * frame, the framing QEMU's `-netdev stream` uses too. A stream carries no
 * frame boundaries, so the decoder reassembles frames from reads of any
 * size; a length outside what Ethernet can carry means the peer is not
 * speaking this protocol, and the connection is dropped.
 */
import type { Duplex } from 'node:stream';
import { ETH_HEADER_LEN, FrameHandlerList, MAX_FRAME_LEN, type NetBackend, NetBackendError } from './net-backend.js';

/** Bytes of the length prefix in front of every frame on a stream. */
export const STREAM_LENGTH_PREFIX = 4;
/** Default bound on bytes queued for a slow peer before frames are dropped. */
export const DEFAULT_MAX_QUEUED_BYTES = 4 << 20;

/** Prefixes `frame` with its 4-byte big-endian length. */
export function encodeStreamFrame(frame: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(STREAM_LENGTH_PREFIX + frame.length);
  out.writeUInt32BE(frame.length, 0);
  out.set(frame, STREAM_LENGTH_PREFIX);
  return out;
}

/** Reassembles length-prefixed frames from stream chunks of any size. */
export class StreamFrameDecoder {
  private buffered: Buffer = Buffer.alloc(0);

  /** Bytes received but not yet part of a complete frame. */
  get bufferedBytes(): number {
    return this.buffered.length;
  }

  /**
   * Adds one chunk; returns the frames it completed (each its own copy).
   * Throws {@link NetBackendError} for a length below an Ethernet header or
   * above {@link MAX_FRAME_LEN}; the stream cannot be resynchronised after that.
   */
  push(chunk: Uint8Array): Uint8Array[] {
    let data = this.buffered.length === 0 ? Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length) : Buffer.concat([this.buffered, chunk]);
    const frames: Uint8Array[] = [];
    while (data.length >= STREAM_LENGTH_PREFIX) {
      const length = data.readUInt32BE(0);
      if (length < ETH_HEADER_LEN || length > MAX_FRAME_LEN) {
        this.buffered = Buffer.alloc(0);
        throw new NetBackendError(`network stream: frame length ${length} is outside ${ETH_HEADER_LEN}..${MAX_FRAME_LEN}; the peer does not speak the length-prefixed frame protocol`);
      }
      if (data.length < STREAM_LENGTH_PREFIX + length) break;
      // A plain Uint8Array copy (a Buffer slice would share the stream's pool and be a Buffer).
      frames.push(new Uint8Array(data.subarray(STREAM_LENGTH_PREFIX, STREAM_LENGTH_PREFIX + length)));
      data = data.subarray(STREAM_LENGTH_PREFIX + length);
    }
    // Copy the remainder: `chunk` may be a view the stream reuses.
    this.buffered = Buffer.from(data);
    return frames;
  }
}

/** Counters of a stream backend. */
export interface StreamNetStats {
  txFrames: number;
  rxFrames: number;
  /** Frames not sent: bad length, peer gone, or too much queued for a slow peer. */
  txDropped: number;
  /** Protocol errors from the peer (the connection is then closed). */
  errors: number;
}

/** Options of {@link StreamNetBackend}. */
export interface StreamNetOptions {
  /** Called once when the connection ends, fails or is closed. */
  onClose?: () => void;
  /** Frames are dropped while more than this many bytes wait to be written (default {@link DEFAULT_MAX_QUEUED_BYTES}). */
  maxQueuedBytes?: number;
}

/** A {@link NetBackend} over a connected duplex stream (usually a `net.Socket`); it owns the stream. */
export class StreamNetBackend implements NetBackend {
  /** Counters. */
  readonly stats: StreamNetStats = { txFrames: 0, rxFrames: 0, txDropped: 0, errors: 0 };
  private readonly handlers = new FrameHandlerList();
  private readonly decoder = new StreamFrameDecoder();
  private closed = false;
  private ended = false;

  constructor(private readonly stream: Duplex, private readonly options: StreamNetOptions = {}) {
    stream.on('data', this.onData);
    stream.on('end', this.onEnd);
    stream.on('close', this.onEnd);
    stream.on('error', this.onEnd);
  }

  private readonly onData = (chunk: Buffer): void => {
    let frames: Uint8Array[];
    try {
      frames = this.decoder.push(chunk);
    } catch {
      this.stats.errors++;
      this.close();
      return;
    }
    for (const f of frames) {
      this.stats.rxFrames++;
      this.handlers.deliver(f);
    }
  };

  private readonly onEnd = (): void => {
    if (this.ended) return;
    this.ended = true;
    this.close();
    this.options.onClose?.();
  };

  /** True once the connection is gone. */
  get isClosed(): boolean {
    return this.closed;
  }

  send(frame: Uint8Array): void {
    const limit = this.options.maxQueuedBytes ?? DEFAULT_MAX_QUEUED_BYTES;
    if (this.closed || frame.length < ETH_HEADER_LEN || frame.length > MAX_FRAME_LEN || this.stream.writableLength > limit) {
      this.stats.txDropped++;
      return;
    }
    this.stats.txFrames++;
    this.stream.write(encodeStreamFrame(frame));
  }

  onReceive(handler: (frame: Uint8Array) => void): void {
    this.handlers.add(handler);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.handlers.clear();
    this.stream.off('data', this.onData);
    // Let queued frames go out, then close; `destroy` also covers a peer that never reads.
    this.stream.end(() => this.stream.destroy());
    if (!this.ended) {
      this.ended = true;
      this.options.onClose?.();
    }
  }
}
