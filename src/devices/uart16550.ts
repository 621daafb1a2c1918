/**
 * NS16550A UART (TI/National "PC16550D Universal Asynchronous
 * Receiver/Transmitter with FIFOs" datasheet, SNLS378C), as QEMU's `virt`
 * board has it (hw/char/serial.c): UART0 at 0x10000000, 1-byte registers at
 * offsets 0–7 (reg-shift 0), input clock 3.6864 MHz, one level-triggered
 * interrupt line (PLIC source 10).
 *
 * | off | read (DLAB=0) | write (DLAB=0) | DLAB=1 |
 * |-----|---------------|----------------|--------|
 * | 0   | RBR           | THR            | DLL    |
 * | 1   | IER           | IER            | DLM    |
 * | 2   | IIR           | FCR            |        |
 * | 3   | LCR           | LCR            |        |
 * | 4   | MCR           | MCR            |        |
 * | 5   | LSR           | (ignored)      |        |
 * | 6   | MSR           | (ignored)      |        |
 * | 7   | SCR           | SCR            |        |
 *
 * Emulation choices:
 * - Transmission is instantaneous: a THR write goes straight to the host
 *   backend, so LSR.THRE and LSR.TEMT always read 1 and the THR-empty
 *   interrupt re-arms right after every write (what QEMU does too).
 * - Host input never gets lost: bytes beyond what the guest has read wait
 *   in the receive queue (up to {@link RX_QUEUE_LIMIT}), so a paste into the
 *   console arrives whole. Only loopback writes can overrun (LSR.OE).
 * - With FIFOs on, "received data available" (IIR 0x4) is reported once
 *   the trigger level is reached; below it the character-timeout indication
 *   (IIR 0xc) is reported at once instead of after four character times.
 *   Drivers treat both the same way: drain RBR while LSR.DR is set.
 * - In loopback (MCR bit 4) THR feeds the receiver, MSR mirrors MCR, and
 *   host input is held back until loopback ends.
 */
import type { CharBackend } from '../backends/char-backend.js';
import type { AccessSize, InterruptLine, MmioDevice, Saveable } from './device.js';

// Register offsets.
const RBR_THR_DLL = 0, IER_DLM = 1, IIR_FCR = 2, LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7;

// IER bits (datasheet Table 4).
const IER_ERBFI = 0x01; // received data available
const IER_ETBEI = 0x02; // transmitter holding register empty
const IER_ELSI = 0x04; // receiver line status
const IER_EDSSI = 0x08; // modem status

// IIR values, highest priority first (datasheet Table 5).
const IIR_NO_INT = 0x01;
const IIR_RLS = 0x06; // receiver line status
const IIR_RDA = 0x04; // received data available
const IIR_CTI = 0x0c; // character timeout
const IIR_THRE = 0x02; // THR empty
const IIR_MS = 0x00; // modem status
const IIR_FIFO_ENABLED = 0xc0;

// FCR bits.
const FCR_ENABLE = 0x01, FCR_CLEAR_RX = 0x02, FCR_DMA_MODE = 0x08; // bit 2 clears the TX FIFO, always empty here
const RX_TRIGGER = [1, 4, 8, 14];

// LCR, MCR, LSR, MSR bits.
const LCR_DLAB = 0x80;
const MCR_DTR = 0x01, MCR_RTS = 0x02, MCR_OUT1 = 0x04, MCR_OUT2 = 0x08, MCR_LOOP = 0x10;
const LSR_DR = 0x01, LSR_OE = 0x02, LSR_PE = 0x04, LSR_FE = 0x08, LSR_BI = 0x10, LSR_THRE = 0x20, LSR_TEMT = 0x40;
const LSR_ERRORS = LSR_OE | LSR_PE | LSR_FE | LSR_BI;
const MSR_DCTS = 0x01, MSR_DDSR = 0x02, MSR_TERI = 0x04, MSR_DDCD = 0x08;
const MSR_CTS = 0x10, MSR_DSR = 0x20, MSR_RI = 0x40, MSR_DCD = 0x80;
const MSR_DELTAS = MSR_DCTS | MSR_DDSR | MSR_TERI | MSR_DDCD;
/** Outside loopback the "cable" reports carrier, data-set-ready and clear-to-send, as QEMU does. */
const MSR_IDLE_LINES = MSR_DCD | MSR_DSR | MSR_CTS;

/** The hardware receive FIFO depth (loopback overruns past it). */
export const RX_FIFO_SIZE = 16;
/** Host input queued beyond this many unread bytes is dropped (and counted). */
export const RX_QUEUE_LIMIT = 1 << 20;
/** QEMU virt's UART input clock, Hz (the device tree's clock-frequency). */
export const UART_CLOCK_HZ = 3686400;

/** Saved UART state (version 1). */
export interface UartState {
  version: 1;
  ier: number;
  lcr: number;
  mcr: number;
  scr: number;
  dll: number;
  dlm: number;
  fcr: number;
  /** Error bits of LSR waiting to be read (OE/PE/FE/BI). */
  lsrErrors: number;
  /** Delta bits of MSR waiting to be read. */
  msrDeltas: number;
  thrIpending: boolean;
  /** Received bytes the guest has not read yet, oldest first. */
  rx: number[];
  /** Host input held back during loopback. */
  held: number[];
}

/** Counters of one UART. */
export interface UartStats {
  txBytes: number;
  rxBytes: number;
  /** Host bytes dropped because the receive queue was full. */
  droppedBytes: number;
  /** Loopback overruns (LSR.OE). */
  overruns: number;
}

/** A byte queue with O(1) push and shift (an array with a moving head). */
class ByteQueue {
  private buf = new Uint8Array(64);
  private head = 0;
  private tail = 0;

  get length(): number {
    return this.tail - this.head;
  }

  push(b: number): void {
    if (this.tail === this.buf.length) {
      const n = this.length;
      if (n * 2 >= this.buf.length) {
        const next = new Uint8Array(this.buf.length * 2);
        next.set(this.buf.subarray(this.head, this.tail));
        this.buf = next;
      } else {
        this.buf.copyWithin(0, this.head, this.tail);
      }
      this.head = 0;
      this.tail = n;
    }
    this.buf[this.tail++] = b;
  }

  shift(): number | undefined {
    if (this.head === this.tail) return undefined;
    const b = this.buf[this.head++];
    if (this.head === this.tail) this.head = this.tail = 0;
    return b;
  }

  clear(): void {
    this.head = this.tail = 0;
  }

  toArray(): number[] {
    return Array.from(this.buf.subarray(this.head, this.tail));
  }
}

/** The 16550A UART; its host side is a {@link CharBackend}. */
export class Uart16550 implements MmioDevice, Saveable<UartState> {
  private ier = 0;
  private lcr = 0;
  private mcr = 0;
  private scr = 0;
  private dll = 0;
  private dlm = 0;
  private fcr = 0;
  private lsrErrors = 0;
  private msrDeltas = 0;
  /** The THR-empty interrupt is armed (datasheet Table 5: cleared by reading IIR when it is the source, or writing THR). */
  private thrIpending = false;
  private readonly rx = new ByteQueue();
  private readonly held = new ByteQueue();
  private irqLevel = false;
  /** Bytes sent and received. */
  readonly stats: UartStats = { txBytes: 0, rxBytes: 0, droppedBytes: 0, overruns: 0 };

  /**
   * @param irq the interrupt line (PLIC source 10 on virt)
   * @param backend the host side; the UART registers itself for its input
   * @param name name for logs and statistics
   */
  constructor(
    private readonly irq: InterruptLine,
    private readonly backend: CharBackend,
    readonly name = 'uart0',
  ) {
    backend.onInput((data) => this.receive(data));
  }

  /** Returns the UART to its power-on state (datasheet Table 7); queued host input is kept. */
  reset(): void {
    this.ier = this.lcr = this.mcr = this.scr = this.dll = this.dlm = this.fcr = 0;
    this.lsrErrors = this.msrDeltas = 0;
    this.thrIpending = false;
    this.updateIrq();
  }

  /** Feeds host input to the receiver (called by the backend; public for tests). */
  receive(data: Uint8Array): void {
    const q = (this.mcr & MCR_LOOP) !== 0 ? this.held : this.rx;
    for (const b of data) {
      if (this.rx.length + this.held.length >= RX_QUEUE_LIMIT) {
        this.stats.droppedBytes++;
        continue;
      }
      q.push(b);
    }
    this.updateIrq();
  }

  /** The baud rate the guest programmed (0 when the divisor is 0). */
  get baudRate(): number {
    const div = (this.dlm << 8) | this.dll;
    return div === 0 ? 0 : UART_CLOCK_HZ / (16 * div);
  }

  private get fifoEnabled(): boolean {
    return (this.fcr & FCR_ENABLE) !== 0;
  }

  /** The current interrupt identification, by priority (datasheet Table 5). */
  private interruptId(): number {
    if ((this.ier & IER_ELSI) !== 0 && (this.lsrErrors & LSR_ERRORS) !== 0) return IIR_RLS;
    if ((this.ier & IER_ERBFI) !== 0 && this.rx.length > 0) {
      if (!this.fifoEnabled) return IIR_RDA;
      return this.rx.length >= RX_TRIGGER[this.fcr >>> 6] ? IIR_RDA : IIR_CTI;
    }
    if ((this.ier & IER_ETBEI) !== 0 && this.thrIpending) return IIR_THRE;
    if ((this.ier & IER_EDSSI) !== 0 && (this.msrDeltas & MSR_DELTAS) !== 0) return IIR_MS;
    return IIR_NO_INT;
  }

  private updateIrq(): void {
    const level = this.interruptId() !== IIR_NO_INT;
    if (level !== this.irqLevel) {
      this.irqLevel = level;
      this.irq.setLevel(level);
    }
  }

  /** MSR's line bits: mirrored from MCR in loopback (datasheet §8.6), else the idle cable. */
  private msrLines(mcr: number): number {
    if ((mcr & MCR_LOOP) === 0) return MSR_IDLE_LINES;
    return (
      ((mcr & MCR_RTS) !== 0 ? MSR_CTS : 0) |
      ((mcr & MCR_DTR) !== 0 ? MSR_DSR : 0) |
      ((mcr & MCR_OUT1) !== 0 ? MSR_RI : 0) |
      ((mcr & MCR_OUT2) !== 0 ? MSR_DCD : 0)
    );
  }

  read(offset: number, _size: AccessSize): number {
    const dlab = (this.lcr & LCR_DLAB) !== 0;
    switch (offset) {
      case RBR_THR_DLL: {
        if (dlab) return this.dll;
        const b = this.rx.shift();
        if (b === undefined) return 0;
        this.stats.rxBytes++;
        this.updateIrq();
        return b;
      }
      case IER_DLM:
        return dlab ? this.dlm : this.ier;
      case IIR_FCR: {
        const id = this.interruptId();
        // Reading IIR while THRE is the source acknowledges it (datasheet Table 5).
        if (id === IIR_THRE) {
          this.thrIpending = false;
          this.updateIrq();
        }
        return id | (this.fifoEnabled ? IIR_FIFO_ENABLED : 0);
      }
      case LCR:
        return this.lcr;
      case MCR:
        return this.mcr;
      case LSR: {
        const v = (this.rx.length > 0 ? LSR_DR : 0) | LSR_THRE | LSR_TEMT | this.lsrErrors;
        // Reading LSR clears the error bits (and so a line-status interrupt).
        if (this.lsrErrors !== 0) {
          this.lsrErrors = 0;
          this.updateIrq();
        }
        return v;
      }
      case MSR: {
        const v = this.msrLines(this.mcr) | this.msrDeltas;
        if (this.msrDeltas !== 0) {
          this.msrDeltas = 0;
          this.updateIrq();
        }
        return v;
      }
      case SCR:
        return this.scr;
      default:
        return 0;
    }
  }

  write(offset: number, _size: AccessSize, value: number): void {
    const v = value & 0xff;
    const dlab = (this.lcr & LCR_DLAB) !== 0;
    switch (offset) {
      case RBR_THR_DLL:
        if (dlab) {
          this.dll = v;
          return;
        }
        this.transmit(v);
        return;
      case IER_DLM: {
        if (dlab) {
          this.dlm = v;
          return;
        }
        const changed = (this.ier ^ v) & 0x0f;
        this.ier = v & 0x0f;
        // Enabling ETBEI while THR is empty raises THRE at once; disabling it
        // forgets the armed interrupt (QEMU serial.c does the same; Linux's
        // 8250 THRE test relies on the former).
        if ((changed & IER_ETBEI) !== 0) this.thrIpending = (this.ier & IER_ETBEI) !== 0;
        this.updateIrq();
        return;
      }
      case IIR_FCR: {
        // Toggling the FIFO enable clears both FIFOs (datasheet §8.4).
        if (((this.fcr ^ v) & FCR_ENABLE) !== 0 || (v & FCR_CLEAR_RX) !== 0) this.clearRx();
        this.fcr = (v & FCR_ENABLE) !== 0 ? v & (0xc0 | FCR_DMA_MODE | FCR_ENABLE) : 0;
        this.updateIrq();
        return;
      }
      case LCR:
        this.lcr = v;
        return;
      case MCR: {
        const old = this.mcr;
        this.mcr = v & 0x1f;
        const before = this.msrLines(old);
        const after = this.msrLines(this.mcr);
        this.recordMsrChange(before, after);
        if ((old & MCR_LOOP) !== 0 && (this.mcr & MCR_LOOP) === 0) {
          // Leaving loopback: the host input typed meanwhile reaches the receiver.
          for (let b = this.held.shift(); b !== undefined; b = this.held.shift()) this.rx.push(b);
        }
        this.updateIrq();
        return;
      }
      case SCR:
        this.scr = v;
        return;
      default:
        return; // LSR and MSR are read-only; writes are ignored
    }
  }

  private transmit(v: number): void {
    if ((this.mcr & MCR_LOOP) !== 0) {
      if (this.rx.length >= RX_FIFO_SIZE) {
        this.lsrErrors |= LSR_OE;
        this.stats.overruns++;
      } else {
        this.rx.push(v);
      }
    } else {
      this.backend.write(Uint8Array.of(v));
      this.stats.txBytes++;
    }
    // The byte left THR at once: THR is empty again, so THRE re-arms.
    this.thrIpending = true;
    this.updateIrq();
  }

  /** Sets MSR's delta bits for line changes (CTS/DSR/DCD any edge, RI trailing edge). */
  private recordMsrChange(before: number, after: number): void {
    const diff = before ^ after;
    if ((diff & MSR_CTS) !== 0) this.msrDeltas |= MSR_DCTS;
    if ((diff & MSR_DSR) !== 0) this.msrDeltas |= MSR_DDSR;
    if ((diff & MSR_DCD) !== 0) this.msrDeltas |= MSR_DDCD;
    if ((before & MSR_RI) !== 0 && (after & MSR_RI) === 0) this.msrDeltas |= MSR_TERI;
  }

  private clearRx(): void {
    this.rx.clear();
    // Bytes the guest has not seen yet are gone; so is a pending overrun.
    this.lsrErrors &= ~LSR_OE;
  }

  save(): UartState {
    return {
      version: 1,
      ier: this.ier,
      lcr: this.lcr,
      mcr: this.mcr,
      scr: this.scr,
      dll: this.dll,
      dlm: this.dlm,
      fcr: this.fcr,
      lsrErrors: this.lsrErrors,
      msrDeltas: this.msrDeltas,
      thrIpending: this.thrIpending,
      rx: this.rx.toArray(),
      held: this.held.toArray(),
    };
  }

  restore(s: UartState): void {
    if (s.version !== 1) throw new Error(`uart16550: unsupported state version ${String(s.version)}; this build reads version 1`);
    this.ier = s.ier & 0x0f;
    this.lcr = s.lcr & 0xff;
    this.mcr = s.mcr & 0x1f;
    this.scr = s.scr & 0xff;
    this.dll = s.dll & 0xff;
    this.dlm = s.dlm & 0xff;
    this.fcr = s.fcr & 0xff;
    this.lsrErrors = s.lsrErrors & LSR_ERRORS;
    this.msrDeltas = s.msrDeltas & MSR_DELTAS;
    this.thrIpending = s.thrIpending;
    this.rx.clear();
    for (const b of s.rx) this.rx.push(b & 0xff);
    this.held.clear();
    for (const b of s.held) this.held.push(b & 0xff);
    // Drive the line from the restored state whatever it was before.
    this.irqLevel = this.interruptId() !== IIR_NO_INT;
    this.irq.setLevel(this.irqLevel);
  }
}
