import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Uart16550, RX_FIFO_SIZE } from './uart16550.js';
import { BufferCharBackend } from '../backends/buffer-char.js';
import type { InterruptLine } from './device.js';

const RBR = 0, THR = 0, IER = 1, IIR = 2, FCR = 2, LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7;

class Line implements InterruptLine {
  level = false;
  changes = 0;
  setLevel(high: boolean): void {
    if (high !== this.level) this.changes++;
    this.level = high;
  }
}

function setup(): { uart: Uart16550; con: BufferCharBackend; irq: Line } {
  const con = new BufferCharBackend();
  const irq = new Line();
  const uart = new Uart16550(irq, con);
  return { uart, con, irq };
}

test('THR writes reach the host; LSR always shows THRE and TEMT', () => {
  const { uart, con } = setup();
  for (const ch of 'hi\r\n') uart.write(THR, 1, ch.charCodeAt(0));
  assert.equal(con.output, 'hi\r\n');
  assert.equal(uart.read(LSR, 1) & 0x60, 0x60);
  assert.equal(uart.stats.txBytes, 4);
});

test('host input fills the receiver; LSR.DR follows; RBR drains in order', () => {
  const { uart, con } = setup();
  assert.equal(uart.read(LSR, 1) & 1, 0);
  con.send('abc');
  assert.equal(uart.read(LSR, 1) & 1, 1);
  assert.equal(String.fromCharCode(uart.read(RBR, 1), uart.read(RBR, 1), uart.read(RBR, 1)), 'abc');
  assert.equal(uart.read(LSR, 1) & 1, 0);
  assert.equal(uart.read(RBR, 1), 0, 'reading an empty RBR returns 0');
});

test('a paste longer than the FIFO arrives whole', () => {
  const { uart, con } = setup();
  const text = 'x'.repeat(1000) + 'END';
  con.send(text);
  let got = '';
  while (uart.read(LSR, 1) & 1) got += String.fromCharCode(uart.read(RBR, 1));
  assert.equal(got, text);
});

test('IIR: no interrupt, then RX data available, then THRE after reading RX', () => {
  const { uart, con, irq } = setup();
  assert.equal(uart.read(IIR, 1), 0x01);
  uart.write(IER, 1, 0x01); // ERBFI
  assert.equal(irq.level, false);
  con.send('k');
  assert.equal(irq.level, true);
  assert.equal(uart.read(IIR, 1), 0x04);
  assert.equal(uart.read(RBR, 1), 'k'.charCodeAt(0));
  assert.equal(irq.level, false);
  assert.equal(uart.read(IIR, 1), 0x01);
});

test('THRE interrupt: raised by enabling ETBEI, cleared by reading IIR, re-armed by writing THR', () => {
  const { uart, con, irq } = setup();
  uart.write(IER, 1, 0x02);
  assert.equal(irq.level, true, 'enabling ETBEI with THR empty raises THRE at once');
  assert.equal(uart.read(IIR, 1), 0x02);
  assert.equal(irq.level, false, 'reading IIR with THRE as the source clears it');
  assert.equal(uart.read(IIR, 1), 0x01);
  uart.write(THR, 1, 0x41);
  assert.equal(con.output, 'A');
  assert.equal(irq.level, true, 'THR empties again at once: THRE is back');
  // Linux 8250's THRE test: toggling IER.THRI re-raises it.
  uart.read(IIR, 1);
  uart.write(IER, 1, 0);
  uart.write(IER, 1, 0x02);
  assert.equal(uart.read(IIR, 1) & 0x0f, 0x02);
  // Disabling ETBEI drops the armed interrupt.
  uart.write(THR, 1, 0x42);
  uart.write(IER, 1, 0);
  assert.equal(irq.level, false);
  uart.write(IER, 1, 0x02);
  assert.equal(irq.level, true);
});

test('IIR priority: RX data beats THRE; line status beats RX data', () => {
  const { uart, con } = setup();
  uart.write(IER, 1, 0x07);
  con.send('z');
  assert.equal(uart.read(IIR, 1), 0x04, 'RDA is reported before THRE');
  // Reading IIR while RDA is the source must not consume THRE.
  uart.read(RBR, 1);
  assert.equal(uart.read(IIR, 1), 0x02);
  // Overrun in loopback → line status interrupt (highest priority).
  uart.write(MCR, 1, 0x10);
  for (let i = 0; i < RX_FIFO_SIZE + 1; i++) uart.write(THR, 1, i);
  assert.equal(uart.read(IIR, 1), 0x06);
  assert.equal(uart.read(LSR, 1) & 0x02, 0x02, 'LSR.OE');
  assert.equal(uart.read(LSR, 1) & 0x02, 0, 'reading LSR clears OE');
  assert.equal(uart.read(IIR, 1), 0x04);
});

test('FIFO mode: IIR bits 7:6, trigger level vs character timeout, FCR clears RX', () => {
  const { uart, con } = setup();
  uart.write(FCR, 1, 0x81); // enable FIFOs, trigger level 8
  uart.write(IER, 1, 0x01);
  con.send('abc');
  assert.equal(uart.read(IIR, 1), 0xcc, 'below the trigger level: character timeout, FIFOs enabled');
  con.send('defgh');
  assert.equal(uart.read(IIR, 1), 0xc4, 'at the trigger level: received data available');
  uart.write(FCR, 1, 0x83); // clear RX FIFO
  assert.equal(uart.read(LSR, 1) & 1, 0);
  assert.equal(uart.read(IIR, 1), 0xc1);
  uart.write(FCR, 1, 0x00);
  assert.equal(uart.read(IIR, 1), 0x01, 'FIFOs off: bits 7:6 clear');
});

test('DLAB switches offsets 0 and 1 to the divisor latch', () => {
  const { uart, con } = setup();
  uart.write(LCR, 1, 0x83);
  uart.write(0, 1, 0x01);
  uart.write(1, 1, 0x00);
  assert.equal(uart.baudRate, 230400);
  assert.equal(uart.read(0, 1), 1);
  assert.equal(uart.read(1, 1), 0);
  assert.equal(con.output, '', 'a DLL write is not output');
  uart.write(LCR, 1, 0x03);
  assert.equal(uart.read(IER, 1), 0);
  assert.equal(uart.read(LCR, 1), 0x03);
});

test('scratch register, MSR outside and inside loopback, unknown offsets', () => {
  const { uart, con } = setup();
  uart.write(SCR, 1, 0xa5);
  assert.equal(uart.read(SCR, 1), 0xa5);
  assert.equal(uart.read(MSR, 1), 0xb0, 'DCD, DSR, CTS asserted');
  uart.write(MCR, 1, 0x10 | 0x0f);
  // Entering loopback with all outputs high only raises RI, which sets no delta (TERI is for its trailing edge).
  const msr = uart.read(MSR, 1);
  assert.equal(msr, 0xf0, 'MCR OUT2/OUT1/RTS/DTR mirrored to DCD/RI/CTS/DSR');
  uart.write(MCR, 1, 0x10);
  assert.equal(uart.read(MSR, 1) & 0x0f, 0x0f, 'dropping DTR/RTS/OUT2 sets their deltas; OUT1 (RI) falling sets TERI');
  assert.equal(uart.read(MSR, 1) & 0x0f, 0, 'reading MSR clears deltas');
  // Loopback: THR to RX, nothing to the host; host input waits until loopback ends.
  uart.write(THR, 1, 0x55);
  con.send('q');
  assert.equal(con.output, '');
  assert.equal(uart.read(RBR, 1), 0x55);
  assert.equal(uart.read(LSR, 1) & 1, 0);
  uart.write(MCR, 1, 0);
  assert.equal(uart.read(RBR, 1), 'q'.charCodeAt(0));
  assert.equal(uart.read(0x20, 1), 0);
  uart.write(0x20, 1, 0xff);
  uart.write(LSR, 1, 0);
  assert.equal(uart.read(LSR, 1), 0x60);
});

test('modem status interrupt has the lowest priority', () => {
  const { uart, irq } = setup();
  uart.write(MCR, 1, 0x10 | 0x02); // loopback, RTS → CTS rises
  uart.write(IER, 1, 0x08);
  assert.equal(irq.level, true);
  assert.equal(uart.read(IIR, 1), 0x00);
  uart.read(MSR, 1);
  assert.equal(irq.level, false);
});

test('save/restore round-trips state, buffered input and the interrupt level', () => {
  const { uart, con } = setup();
  uart.write(IER, 1, 0x01);
  uart.write(FCR, 1, 0x01);
  uart.write(SCR, 1, 0x42);
  con.send('hello');
  uart.read(RBR, 1);
  const s = uart.save();
  assert.equal(s.version, 1);
  const json = JSON.parse(JSON.stringify(s)) as typeof s;

  const b = setup();
  b.uart.restore(json);
  assert.equal(b.irq.level, true);
  assert.equal(b.uart.read(SCR, 1), 0x42);
  assert.equal(b.uart.read(IIR, 1), 0xc4);
  let got = '';
  while (b.uart.read(LSR, 1) & 1) got += String.fromCharCode(b.uart.read(RBR, 1));
  assert.equal(got, 'ello');
  assert.equal(b.irq.level, false);
  assert.throws(() => b.uart.restore({ ...json, version: 2 as 1 }), /version/);
});

test('reset returns registers to power-on values and drops the interrupt', () => {
  const { uart, irq } = setup();
  uart.write(IER, 1, 0x02);
  assert.equal(irq.level, true);
  uart.reset();
  assert.equal(irq.level, false);
  assert.equal(uart.read(IER, 1), 0);
  assert.equal(uart.read(IIR, 1), 0x01);
});
