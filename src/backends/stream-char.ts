/**
 * A character backend over any pair of Node streams: pipes, files, sockets.
 */
import type { Readable, Writable } from 'node:stream';
import type { CharBackend } from './char-backend.js';

export class StreamCharBackend implements CharBackend {
  private listener: ((chunk: Buffer) => void) | undefined;

  constructor(private readonly input: Readable | null, private readonly output: Writable | null) {}

  write(data: Uint8Array): void {
    this.output?.write(data);
  }

  onInput(handler: (data: Uint8Array) => void): void {
    if (this.input === null) return;
    this.listener = (chunk: Buffer) => handler(new Uint8Array(chunk));
    this.input.on('data', this.listener);
  }

  close(): void {
    if (this.input !== null && this.listener !== undefined) {
      this.input.off('data', this.listener);
      this.input.pause();
    }
  }
}
