/**
 * A character backend over any Node.js stream pair: pipes, files, sockets,
 * child-process stdio. Input chunks are delivered as they arrive; output is
 * written as it is produced.
 */
import type { Readable, Writable } from 'node:stream';
import { type CharBackend, InputHandlerList } from './char-backend.js';

/** Options of {@link StreamCharBackend}. */
export interface StreamCharOptions {
  /** Destroy the input and end the output on close (default false: the caller owns them, e.g. process.stdin). */
  ownsStreams?: boolean;
  /** Called once when the input stream ends or fails (e.g. the peer closed the socket). */
  onEnd?: () => void;
}

/** Guest console over a readable (host → guest) and a writable (guest → host) stream. Either may be null. */
export class StreamCharBackend implements CharBackend {
  private readonly handlers = new InputHandlerList();
  private closed = false;
  private ended = false;
  private readonly onData = (chunk: Buffer | string): void => {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    this.handlers.deliver(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length));
  };
  private readonly onEndOrError = (): void => {
    if (this.ended) return;
    this.ended = true;
    this.options.onEnd?.();
  };
  private readonly onOutputError = (): void => {
    // A closed pipe on the host side must not crash the VMM; output is dropped from then on.
    this.outputBroken = true;
  };
  private outputBroken = false;

  constructor(
    private readonly input: Readable | null,
    private readonly output: Writable | null,
    private readonly options: StreamCharOptions = {},
  ) {
    if (input !== null) {
      input.on('data', this.onData);
      input.on('end', this.onEndOrError);
      input.on('error', this.onEndOrError);
    }
    output?.on('error', this.onOutputError);
  }

  write(data: Uint8Array): void {
    if (this.closed || this.outputBroken || this.output === null || data.length === 0) return;
    // Copy: the caller may reuse its buffer while the stream still queues ours.
    this.output.write(Buffer.from(data));
  }

  onInput(handler: (data: Uint8Array) => void): void {
    this.handlers.add(handler);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    const input = this.input;
    if (input !== null) {
      input.off('data', this.onData);
      input.off('end', this.onEndOrError);
      input.off('error', this.onEndOrError);
      if (this.options.ownsStreams) input.destroy();
      else input.pause();
    }
    if (this.output !== null) {
      if (this.options.ownsStreams) this.output.end();
      // Keep the error listener: a write queued before close may still fail.
    }
    this.handlers.clear();
  }
}
