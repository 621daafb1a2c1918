/**
 * An in-memory character backend for tests: it records everything the guest
 * writes, lets the test type input, and waits until the output matches a
 * string or a regular expression.
 *
 * Two ways to wait:
 * - `waitFor(pattern, timeoutMs, from)` searches the output from index
 *   `from` (default 0) and resolves with the index just past the match;
 * - `expect(pattern, options)` works like `expect(1)`: it searches from a
 *   cursor that every match advances, and resolves with the match.
 *
 * ```ts
 * const con = new BufferCharBackend();
 * // ... boot a machine with `console: con` ...
 * await con.expect('login: ', { timeoutMs: 30_000 });
 * con.send('root\n');
 * const m = await con.expect(/(\d+) processes/);
 * ```
 */
import { type CharBackend, InputHandlerList } from './char-backend.js';

/** Raised when a wait times out or the backend is closed while waiting; the message holds the output tail. */
export class ConsoleTimeoutError extends Error {
  constructor(message: string, readonly output: string) {
    super(message);
    this.name = 'ConsoleTimeoutError';
  }
}

/** Options of {@link BufferCharBackend.expect}. */
export interface ExpectOptions {
  /** Give up after this many milliseconds (default 10 000). */
  timeoutMs?: number;
  /** Search from this character index of the output instead of from the cursor. */
  from?: number;
}

/** What {@link BufferCharBackend.expect} found. */
export interface ConsoleMatch {
  /** The matched text. */
  text: string;
  /** Character index of the match in {@link BufferCharBackend.output}. */
  index: number;
  /** Character index just past the match. */
  end: number;
  /** Capture groups when the pattern was a RegExp (index 0 is the whole match; unmatched groups are ''). */
  groups: readonly string[];
  /** The output between the search start and the start of the match. */
  before: string;
}

interface Waiter {
  pattern: string | RegExp;
  from: number;
  advanceCursor: boolean;
  resolve: (m: ConsoleMatch) => void;
  reject: (e: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

const DEFAULT_TIMEOUT_MS = 10_000;

/** Collects guest output in memory; test code pushes input and awaits output. */
export class BufferCharBackend implements CharBackend {
  private readonly handlers = new InputHandlerList();
  private readonly decoder = new TextDecoder('utf-8');
  private chunks: Uint8Array[] = [];
  private byteCount = 0;
  private decoded = '';
  private waiters: Waiter[] = [];
  private closed = false;
  /** Character index where the next {@link expect} starts searching (the end of the last match). */
  cursor = 0;
  /** Also copy guest output here, e.g. `(s) => process.stderr.write(s)` while debugging a test. */
  echo: ((text: string) => void) | undefined;

  /** Everything the guest wrote so far, decoded as UTF-8. */
  get output(): string {
    return this.decoded;
  }

  /** Everything the guest wrote so far, as raw bytes. */
  get bytes(): Uint8Array {
    if (this.chunks.length > 1) {
      const all = new Uint8Array(this.byteCount);
      let at = 0;
      for (const c of this.chunks) {
        all.set(c, at);
        at += c.length;
      }
      this.chunks = [all];
    }
    return this.chunks.length === 0 ? new Uint8Array(0) : this.chunks[0].slice();
  }

  write(data: Uint8Array): void {
    if (this.closed || data.length === 0) return;
    this.chunks.push(data.slice());
    this.byteCount += data.length;
    const s = this.decoder.decode(data, { stream: true });
    if (s.length === 0) return;
    this.decoded += s;
    this.echo?.(s);
    this.checkWaiters();
  }

  onInput(handler: (data: Uint8Array) => void): void {
    this.handlers.add(handler);
  }

  /** Types `input` into the guest's console, synchronously; a string is sent as UTF-8. */
  send(input: string | Uint8Array): void {
    if (this.closed) return;
    this.handlers.deliver(typeof input === 'string' ? new TextEncoder().encode(input) : input);
  }

  /** Types `s` into the guest, one byte per character code (latin1), so any byte value can be sent. */
  type(s: string): void {
    if (this.closed) return;
    this.handlers.deliver(new Uint8Array(Buffer.from(s, 'latin1')));
  }

  /**
   * Resolves with the index just past the first match of `pattern` in the
   * output at or after index `from`. Rejects with a {@link ConsoleTimeoutError}
   * after `timeoutMs`. Does not move the {@link cursor}.
   */
  async waitFor(pattern: string | RegExp, timeoutMs = DEFAULT_TIMEOUT_MS, from = 0): Promise<number> {
    const m = await this.wait(pattern, from, timeoutMs, false);
    return m.end;
  }

  /**
   * Resolves with the first match of `pattern` at or after the cursor (or
   * `options.from`) and moves the cursor past it. Rejects with a
   * {@link ConsoleTimeoutError} on timeout.
   */
  expect(pattern: string | RegExp, options: ExpectOptions = {}): Promise<ConsoleMatch> {
    return this.wait(pattern, options.from ?? this.cursor, options.timeoutMs ?? DEFAULT_TIMEOUT_MS, true);
  }

  /** Moves the cursor to the end of the output: later {@link expect}s ignore everything printed so far. */
  skip(): void {
    this.cursor = this.decoded.length;
  }

  /** Forgets all output and resets the cursor. */
  clear(): void {
    this.chunks = [];
    this.byteCount = 0;
    this.decoded = '';
    this.cursor = 0;
    for (const w of this.waiters) w.from = 0;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) {
      clearTimeout(w.timer);
      w.reject(this.failure(w.pattern, w.from, 'the console was closed'));
    }
    this.handlers.clear();
  }

  private wait(pattern: string | RegExp, from: number, timeoutMs: number, advanceCursor: boolean): Promise<ConsoleMatch> {
    const now = this.match(pattern, from);
    if (now !== undefined) {
      if (advanceCursor) this.cursor = Math.max(this.cursor, now.end);
      return Promise.resolve(now);
    }
    if (this.closed) return Promise.reject(this.failure(pattern, from, 'the console is closed'));
    return new Promise<ConsoleMatch>((resolve, reject) => {
      const waiter: Waiter = {
        pattern,
        from,
        advanceCursor,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters = this.waiters.filter((w) => w !== waiter);
          reject(this.failure(pattern, from, `timed out after ${timeoutMs} ms`));
        }, timeoutMs),
      };
      this.waiters.push(waiter);
    });
  }

  private checkWaiters(): void {
    if (this.waiters.length === 0) return;
    const pending: Waiter[] = [];
    // Resolve in registration order, so cursor updates happen in the order the test asked.
    for (const w of this.waiters) {
      const m = this.match(w.pattern, w.from);
      if (m === undefined) {
        pending.push(w);
        continue;
      }
      clearTimeout(w.timer);
      if (w.advanceCursor) this.cursor = Math.max(this.cursor, m.end);
      w.resolve(m);
    }
    this.waiters = pending;
  }

  private match(pattern: string | RegExp, from: number): ConsoleMatch | undefined {
    const hay = this.decoded;
    let index: number;
    let text: string;
    let groups: string[];
    if (typeof pattern === 'string') {
      index = hay.indexOf(pattern, from);
      if (index < 0) return undefined;
      text = pattern;
      groups = [pattern];
    } else {
      // A copy without the g/y flags, so no lastIndex state leaks between searches.
      const re = new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, ''));
      const m = re.exec(hay.slice(from));
      if (m === null) return undefined;
      index = from + m.index;
      text = m[0];
      groups = Array.from(m, (g) => g ?? '');
    }
    return { text, index, end: index + text.length, groups, before: hay.slice(from, index) };
  }

  private failure(pattern: string | RegExp, from: number, why: string): ConsoleTimeoutError {
    const tail = this.decoded.slice(Math.max(from, this.decoded.length - 2000));
    const shown = typeof pattern === 'string' ? JSON.stringify(pattern) : String(pattern);
    return new ConsoleTimeoutError(
      `console output did not match ${shown} (searching from index ${from}): ${why}; ` +
        `the output since then ends with:\n${tail}`,
      this.decoded,
    );
  }
}
