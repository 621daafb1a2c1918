/**
 * NS16550A UART (National Semiconductor PC16550D datasheet), as on QEMU
 * `virt`: 1-byte registers at offsets 0–7, a 16-byte receive FIFO, and one
 * level interrupt line. Transmit is immediate (the host side never blocks),
 * so THR is always empty.
 */
import type { CharBackend } from '../backends/char-backend.js';
import type { AccessSize, InterruptLine, MmioDevice, Saveable } from './device.js';

const IER_RDI = 0x01, IER_THRI = 0x02;
const IIR_NONE = 0x01, IIR_THRI = 0x02, IIR_RDI = 0x04, IIR_FIFO = 0xc0;
const LSR_DR = 0x01, LSR_OE = 0x02, LSR_THRE = 0x20, LSR_TEMT = 0x40;
const LCR_DLAB = 0x80;
const MCR_LOOP = 0x10;
const FIFO_SIZE = 16;
/** Host input waits here when the guest's FIFO is full (nothing typed is lost). */
const HOST_QUEUE_LIMIT = 1 << 20;

/** Saved UART state. */
export interface UartState {
  version: 1;
  ier: number; lcr: number; mcr: number; scr: number; dll: number; dlm: number; fcr: number;
  thrIpending: boolean; rx: number[];
}

export class Uart16550 implements MmioDevice, Saveable<UartState> {
  readonly name = 'uart0';
  private ier = 0;
  private lcr = 0;
  private mcr = 0;
  private scr = 0;
  private dll = 0;
  private dlm = 0;
  private fcr = 0;
  private lsrErrors = 0;
  /** THR-empty interrupt armed (set by THR write / IER enable, cleared by reading IIR). */
  private thrIpending = false;
  private rx: number[] = [];
  private hostQueue: number[] = [];
  /** Bytes sent and received, for statistics. */
  readonly stats = { txBytes: 0, rxBytes: 0 };

  constructor(private readonly irq: InterruptLine, private readonly backend: CharBackend) {
    backend.onInput((data) => this.receive(data));
  }

  /** Feeds host input into the receive FIFO. */
  receive(data: Uint8Array): void {
    for (const b of data) {
      if (this.hostQueue.length < HOST_QUEUE_LIMIT) this.hostQueue.push(b);
    }
    this.refill();
    this.update();
  }

  private refill(): void {
    while (this.rx.length < FIFO_SIZE && this.hostQueue.length > 0) this.rx.push(this.hostQueue.shift() as number);
  }

  private iir(): number {
    if ((this.ier & IER_RDI) && this.rx.length > 0) return IIR_RDI;
    if ((this.ier & IER_THRI) && this.thrIpending) return IIR_THRI;
    return IIR_NONE;
  }

  private update(): void {
    this.irq.setLevel(this.iir() !== IIR_NONE);
  }

  read(offset: number, _size: AccessSize): number {
    const dlab = (this.lcr & LCR_DLAB) !== 0;
    switch (offset) {
      case 0: {
        if (dlab) return this.dll;
        const b = this.rx.shift();
        this.refill();
        this.update();
        if (b !== undefined) this.stats.rxBytes++;
        return b ?? 0;
      }
      case 1: return dlab ? this.dlm : this.ier;
      case 2: {
        const v = this.iir();
        if (v === IIR_THRI) { this.thrIpending = false; this.update(); }
        return v | ((this.fcr & 1) ? IIR_FIFO : 0);
      }
      case 3: return this.lcr;
      case 4: return this.mcr;
      case 5: {
        const v = (this.rx.length > 0 ? LSR_DR : 0) | LSR_THRE | LSR_TEMT | this.lsrErrors;
        this.lsrErrors = 0;
        return v;
      }
      case 6: return (this.mcr & MCR_LOOP) ? 0 : 0xb0; // DCD, DSR, CTS asserted
      case 7: return this.scr;
      default: return 0;
    }
  }

  write(offset: number, _size: AccessSize, value: number): void {
    const v = value & 0xff;
    const dlab = (this.lcr & LCR_DLAB) !== 0;
    switch (offset) {
      case 0:
        if (dlab) { this.dll = v; return; }
        if (this.mcr & MCR_LOOP) {
          if (this.rx.length < FIFO_SIZE) this.rx.push(v); else this.lsrErrors |= LSR_OE;
        } else {
          this.backend.write(Uint8Array.of(v));
          this.stats.txBytes++;
        }
        this.thrIpending = true;
        this.update();
        return;
      case 1:
        if (dlab) { this.dlm = v; return; }
        // Enabling THRI while THR is empty raises the interrupt at once.
        if (!(this.ier & IER_THRI) && (v & IER_THRI)) this.thrIpending = true;
        this.ier = v & 0x0f;
        this.update();
        return;
      case 2:
        this.fcr = v & 0xc9;
        if (v & 0x02) { this.rx = []; this.refill(); } // clear RX FIFO (host bytes refill it)
        this.update();
        return;
      case 3: this.lcr = v; return;
      case 4: this.mcr = v & 0x1f; return;
      case 7: this.scr = v; return;
      default: return; // LSR/MSR are read-only
    }
  }

  save(): UartState {
    return {
      version: 1, ier: this.ier, lcr: this.lcr, mcr: this.mcr, scr: this.scr, dll: this.dll, dlm: this.dlm,
      fcr: this.fcr, thrIpending: this.thrIpending, rx: [...this.rx],
    };
  }

  restore(s: UartState): void {
    this.ier = s.ier; this.lcr = s.lcr; this.mcr = s.mcr; this.scr = s.scr; this.dll = s.dll; this.dlm = s.dlm;
    this.fcr = s.fcr; this.thrIpending = s.thrIpending; this.rx = [...s.rx];
    this.update();
  }
}
