/**
 * The interactive terminal backend: the guest console on the user's
 * terminal, as QEMU's `-nographic` / `-serial mon:stdio` gives it.
 *
 * Input is put in raw mode when it is a TTY (every key, Ctrl-C included,
 * goes to the guest) and the previous mode is restored on close and when
 * the process exits. QEMU's escape sequences (docs: "Keys in the character
 * backend multiplexer") are recognized:
 *
 * | keys         | action                          |
 * |--------------|---------------------------------|
 * | Ctrl-A x     | quit (calls `onQuit`)           |
 * | Ctrl-A h, ?  | print help                      |
 * | Ctrl-A s     | print the VM's statistics (`stats`) |
 * | Ctrl-A a     | send a literal Ctrl-A           |
 * | Ctrl-A (key) | an extra action (`keys`), e.g. n: next VM's console |
 * | Ctrl-A Ctrl-A| send a literal Ctrl-A           |
 *
 * Any other key after Ctrl-A is dropped, as in QEMU.
 */
import { type CharBackend, InputHandlerList } from './char-backend.js';

/** The terminal input: process.stdin, or a stand-in in tests. */
export interface TerminalInput {
  readonly isTTY?: boolean;
  readonly isRaw?: boolean;
  setRawMode?(mode: boolean): unknown;
  on(event: 'data', listener: (chunk: Buffer | string) => void): unknown;
  off(event: 'data', listener: (chunk: Buffer | string) => void): unknown;
  resume(): unknown;
  pause(): unknown;
}

/** The terminal output: process.stdout, or a stand-in in tests. */
export interface TerminalOutput {
  write(data: Uint8Array | string): unknown;
}

/** Options of {@link TerminalBackend}. */
export interface TerminalOptions {
  /** Default process.stdin. */
  input?: TerminalInput;
  /** Default process.stdout. */
  output?: TerminalOutput;
  /** The escape key's byte (default 0x01, Ctrl-A); null turns escape handling off. */
  escapeChar?: number | null;
  /** Whether to hook process 'exit' to restore the terminal mode (default true). */
  restoreOnExit?: boolean;
  /** The text Ctrl-A s prints: the running VM's statistics. */
  stats?: () => string;
  /** Extra Ctrl-A actions, by key (a lower-case letter), with their help text. */
  keys?: Record<string, { help: string; run: () => void }>;
}

const CTRL_A = 0x01;

/** The user's terminal as the guest console, with Ctrl-A escapes. */
export class TerminalBackend implements CharBackend {
  private readonly handlers = new InputHandlerList();
  private readonly input: TerminalInput;
  private readonly output: TerminalOutput;
  private readonly escapeChar: number | null;
  private readonly wasRaw: boolean;
  private readonly madeRaw: boolean;
  private readonly hookedExit: boolean;
  private escaping = false;
  private readonly stats: (() => string) | undefined;
  private readonly keys: Record<string, { help: string; run: () => void }>;
  private closed = false;
  private readonly restoreOnExit = (): void => this.restoreMode();
  private readonly onData = (chunk: Buffer | string): void => {
    this.process(typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk);
  };

  /** `onQuit` runs when the user types Ctrl-A x. */
  constructor(private readonly onQuit: () => void, options: TerminalOptions = {}) {
    this.input = options.input ?? process.stdin;
    this.output = options.output ?? process.stdout;
    this.escapeChar = options.escapeChar === undefined ? CTRL_A : options.escapeChar;
    const input = this.input;
    this.wasRaw = input.isRaw === true;
    this.madeRaw = input.isTTY === true && typeof input.setRawMode === 'function';
    if (this.madeRaw) input.setRawMode?.(true);
    this.hookedExit = options.restoreOnExit ?? true;
    this.stats = options.stats;
    this.keys = options.keys ?? {};
    if (this.hookedExit) process.on('exit', this.restoreOnExit);
    input.on('data', this.onData);
    input.resume();
  }

  /** The escape character as typed, for messages (`C-a`). */
  private get escapeName(): string {
    const c = this.escapeChar ?? CTRL_A;
    return c < 0x20 ? `C-${String.fromCharCode(c + 0x60)}` : String.fromCharCode(c);
  }

  write(data: Uint8Array): void {
    if (this.closed || data.length === 0) return;
    this.output.write(Buffer.from(data));
  }

  onInput(handler: (data: Uint8Array) => void): void {
    this.handlers.add(handler);
  }

  /** Prints the escape-key help on the terminal. */
  printHelp(): void {
    const e = this.escapeName;
    // \r\n: the terminal is raw, so a bare \n would not return the carriage.
    this.output.write(
      `\r\n${e} h    print this help\r\n${e} x    exit tsvisor\r\n${e} s    print the VM's statistics\r\n` +
      Object.entries(this.keys).map(([k, a]) => `${e} ${k}    ${a.help}\r\n`).join('') +
      `${e} a    send ${e}\r\n${e} ${e}  send ${e}\r\n`,
    );
  }

  private process(chunk: Uint8Array): void {
    if (this.closed) return;
    const esc = this.escapeChar;
    if (esc === null) {
      this.handlers.deliver(chunk);
      return;
    }
    const out: number[] = [];
    for (const b of chunk) {
      if (!this.escaping) {
        if (b === esc) this.escaping = true;
        else out.push(b);
        continue;
      }
      this.escaping = false;
      if (b === 0x78 /* x */ || b === 0x58 /* X */) {
        this.flush(out);
        this.output.write('\r\ntsvisor: terminated\r\n');
        this.onQuit();
        return; // everything typed after the quit is dropped
      }
      if (b === 0x68 /* h */ || b === 0x48 /* H */ || b === 0x3f /* ? */) this.printHelp();
      else if ((b === 0x73 /* s */ || b === 0x53 /* S */) && this.stats !== undefined) {
        // The terminal is raw: every line needs its carriage return.
        this.output.write('\r\n' + this.stats().replace(/\r?\n/g, '\r\n'));
      }
      else if (b === esc || b === 0x61 /* a */) out.push(esc);
      else if (this.keys[String.fromCharCode(b).toLowerCase()] !== undefined) {
        this.flush(out);
        this.keys[String.fromCharCode(b).toLowerCase()].run();
      }
      // Anything else after the escape key is dropped, as QEMU's mux does.
    }
    this.flush(out);
  }

  private flush(out: number[]): void {
    if (out.length > 0) this.handlers.deliver(Uint8Array.from(out));
    out.length = 0;
  }

  private restoreMode(): void {
    if (this.madeRaw) this.input.setRawMode?.(this.wasRaw);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.input.off('data', this.onData);
    // Pausing stdin lets the process exit once nothing else is pending.
    this.input.pause();
    this.restoreMode();
    if (this.hookedExit) process.off('exit', this.restoreOnExit);
    this.handlers.clear();
  }
}
