/**
 * A character backend that keeps guest output in memory and lets a program
 * type input: tests drive guests through the serial console with it.
 */
import type { CharBackend } from './char-backend.js';

/** Raised when {@link BufferCharBackend.waitFor} times out; the message holds the output tail. */
export class ConsoleTimeoutError extends Error {}

export class BufferCharBackend implements CharBackend {
  private chunks: string[] = [];
  private text = '';
  private handler: ((data: Uint8Array) => void) | undefined;
  private waiters: Array<() => void> = [];
  /** Also copy output here (e.g. process.stdout for debugging). */
  echo: ((s: string) => void) | undefined;

  write(data: Uint8Array): void {
    const s = Buffer.from(data).toString('latin1');
    this.chunks.push(s);
    this.echo?.(s);
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  onInput(handler: (data: Uint8Array) => void): void {
    this.handler = handler;
  }

  close(): void {
    this.handler = undefined;
  }

  /** Everything the guest has written so far. */
  get output(): string {
    if (this.chunks.length > 0) {
      this.text += this.chunks.join('');
      this.chunks = [];
    }
    return this.text;
  }

  /** Types `s` into the guest. */
  type(s: string): void {
    this.handler?.(new Uint8Array(Buffer.from(s, 'latin1')));
  }

  /**
   * Resolves when the output (after index `from`) matches `pattern`; returns
   * the index just past the match. Rejects after `timeoutMs`.
   */
  waitFor(pattern: string | RegExp, timeoutMs: number, from = 0): Promise<number> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const out = this.output.slice(from);
        if (typeof pattern === 'string') {
          const i = out.indexOf(pattern);
          if (i >= 0) { resolve(from + i + pattern.length); return true; }
        } else {
          const m = pattern.exec(out);
          if (m !== null) { resolve(from + m.index + m[0].length); return true; }
        }
        return false;
      };
      if (check()) return;
      const timer = setTimeout(() => {
        reject(new ConsoleTimeoutError(`timed out after ${timeoutMs} ms waiting for ${String(pattern)}; output ends with:\n${this.output.slice(-600)}`));
      }, timeoutMs);
      const again = (): void => {
        if (check()) clearTimeout(timer);
        else this.waiters.push(again);
      };
      this.waiters.push(again);
    });
  }
}
