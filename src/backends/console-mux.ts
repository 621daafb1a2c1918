/**
 * One host console shared by the consoles of several VMs, as QEMU's
 * character-device multiplexer shares stdio between a guest and its
 * monitor. On a terminal one VM has the focus: its output is shown and it
 * gets what is typed; the others' output is kept (the most recent 64 KiB
 * each) and shown when the focus comes to them (Ctrl-A n, see
 * {@link TerminalBackend}). On a pipe every VM's output is shown in whole
 * lines, each prefixed with the VM's name, and input goes to the first VM.
 */
import { type CharBackend, InputHandlerList } from './char-backend.js';

/** How much of an unfocused VM's output is kept for when it gets the focus. */
const KEEP = 64 * 1024;

class MuxPort implements CharBackend {
  readonly handlers = new InputHandlerList();
  /** Output written while another port had the focus (most recent KEEP bytes). */
  pending: Uint8Array[] = [];
  pendingBytes = 0;
  /** In prefix mode: the start of a line not finished yet. */
  partial: Uint8Array = new Uint8Array(0);

  constructor(private readonly mux: ConsoleMux, readonly index: number, readonly name: string) {}

  write(data: Uint8Array): void {
    this.mux.output(this, data);
  }

  onInput(handler: (data: Uint8Array) => void): void {
    this.handlers.add(handler);
  }

  private closed = false;

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.mux.portClosed(this);
  }
}

export class ConsoleMux {
  private readonly ports: MuxPort[];
  private focus = 0;
  private open: number;

  /**
   * @param host the real console (a terminal, or a stream)
   * @param names one name per VM, for the banner or the line prefix
   * @param prefix show every VM's output at once, lines prefixed (for pipes)
   */
  constructor(private readonly host: CharBackend, names: string[], private readonly prefix = false) {
    this.ports = names.map((n, i) => new MuxPort(this, i, n));
    this.open = names.length;
    host.onInput((data) => this.ports[this.focus].handlers.deliver(data));
  }

  /** The console of VM `i`. */
  port(i: number): CharBackend {
    return this.ports[i];
  }

  /** Gives the focus to the next VM and shows what it printed meanwhile. */
  next(): void {
    this.focus = (this.focus + 1) % this.ports.length;
    const p = this.ports[this.focus];
    this.host.write(Buffer.from(`\r\n[tsvisor: console of ${p.name}]\r\n`));
    for (const chunk of p.pending) this.host.write(chunk);
    p.pending = [];
    p.pendingBytes = 0;
  }

  /** Output of a port: shown, prefixed, or kept. */
  output(p: MuxPort, data: Uint8Array): void {
    if (this.prefix) { this.writePrefixed(p, data); return; }
    if (p.index === this.focus) { this.host.write(data); return; }
    p.pending.push(data.slice());
    p.pendingBytes += data.length;
    while (p.pendingBytes > KEEP && p.pending.length > 1) p.pendingBytes -= p.pending.shift()!.length;
  }

  /** Whole lines only, each with the VM's name, so lines of different VMs never mix. */
  private writePrefixed(p: MuxPort, data: Uint8Array): void {
    const text = Buffer.concat([p.partial, data]);
    const end = text.lastIndexOf(0x0a) + 1;
    p.partial = text.subarray(end);
    if (end === 0) return;
    const lines = text.subarray(0, end).toString('latin1').split('\n').slice(0, -1);
    this.host.write(Buffer.from(lines.map((l) => `[${p.name}] ${l}\n`).join(''), 'latin1'));
  }

  /** Closes every VM's console, and so the host console. */
  close(): void {
    for (const p of this.ports) p.close();
  }

  /** The host console closes with the last port; an unfinished line is shown first. */
  portClosed(p: MuxPort): void {
    if (this.prefix && p.partial.length > 0) this.writePrefixed(p, Uint8Array.of(0x0a));
    if (--this.open === 0) this.host.close();
  }
}
