import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { TerminalBackend, type TerminalInput } from './terminal.js';

/** A stand-in for a TTY stdin: a stream with raw-mode switching. */
class FakeTty extends PassThrough implements TerminalInput {
  readonly isTTY = true;
  isRaw = false;
  modes: boolean[] = [];
  setRawMode(mode: boolean): this {
    this.isRaw = mode;
    this.modes.push(mode);
    return this;
  }
}

function setup(): { term: TerminalBackend; tty: FakeTty; out: () => string; input: number[]; quits: { n: number } } {
  const tty = new FakeTty();
  const output = new PassThrough();
  const chunks: Buffer[] = [];
  output.on('data', (c: Buffer) => chunks.push(c));
  const quits = { n: 0 };
  const term = new TerminalBackend(() => quits.n++, { input: tty, output, restoreOnExit: false });
  const input: number[] = [];
  term.onInput((d) => input.push(...d));
  return { term, tty, out: () => Buffer.concat(chunks).toString(), input, quits };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

test('a TTY is put in raw mode and restored on close', async () => {
  const { term, tty } = setup();
  assert.deepEqual(tty.modes, [true]);
  term.close();
  assert.deepEqual(tty.modes, [true, false]);
  term.close();
  assert.deepEqual(tty.modes, [true, false], 'close is idempotent');
});

test('plain keys pass through (Ctrl-C included); output goes to the terminal', async () => {
  const { term, tty, out, input } = setup();
  tty.write(Buffer.from('ls\x03\r'));
  await tick();
  assert.deepEqual(input, [...Buffer.from('ls\x03\r')]);
  term.write(new TextEncoder().encode('$ '));
  await tick();
  assert.equal(out(), '$ ');
  term.close();
});

test('Ctrl-A a and Ctrl-A Ctrl-A send Ctrl-A; Ctrl-A h prints help; other escapes are dropped', async () => {
  const { term, tty, out, input } = setup();
  tty.write(Buffer.from('\x01a\x01\x01\x01zq'));
  await tick();
  assert.deepEqual(input, [1, 1, 0x71]);
  tty.write(Buffer.from('\x01'));
  await tick();
  tty.write(Buffer.from('h')); // the escape spans two reads
  await tick();
  assert.match(out(), /C-a x\s+exit tsvisor/);
  assert.deepEqual(input, [1, 1, 0x71], 'help is not guest input');
  term.close();
});

test('Ctrl-A x quits; keys typed before it in the same chunk still arrive', async () => {
  const { term, tty, out, input, quits } = setup();
  tty.write(Buffer.from('ab\x01xcd'));
  await tick();
  assert.equal(quits.n, 1);
  assert.deepEqual(input, [0x61, 0x62]);
  assert.match(out(), /terminated/);
  term.close();
});

test('escape handling can be turned off; a non-TTY input is not switched to raw', async () => {
  const input = new PassThrough();
  const output = new PassThrough();
  let quits = 0;
  const term = new TerminalBackend(() => quits++, { input, output, escapeChar: null, restoreOnExit: false });
  const got: number[] = [];
  term.onInput((d) => got.push(...d));
  input.write(Buffer.from('\x01x'));
  await tick();
  assert.deepEqual(got, [1, 0x78]);
  assert.equal(quits, 0);
  term.close();
});

test('the mode is restored when the process exits', () => {
  const tty = new FakeTty();
  const before = process.listenerCount('exit');
  const term = new TerminalBackend(() => {}, { input: tty, output: new PassThrough() });
  assert.equal(process.listenerCount('exit'), before + 1);
  // Call our hook directly: emitting 'exit' would run the test runner's own hooks too.
  const hook = process.listeners('exit').at(-1) as (code: number) => void;
  hook(0);
  assert.deepEqual(tty.modes, [true, false]);
  term.close();
  assert.equal(process.listenerCount('exit'), before);
});

test('Ctrl-A s prints the statistics with carriage returns, and is not guest input', async () => {
  const tty = new FakeTty();
  const output = new PassThrough();
  const chunks: Buffer[] = [];
  output.on('data', (c: Buffer) => chunks.push(c));
  let asked = 0;
  const term = new TerminalBackend(() => {}, { input: tty, output, restoreOnExit: false, stats: () => { asked++; return 'instret: 42\nexits: 7\n'; } });
  const input: number[] = [];
  term.onInput((d) => input.push(...d));
  tty.write(Buffer.from('a\x01sb'));
  await tick();
  assert.equal(asked, 1);
  assert.deepEqual(input, [0x61, 0x62]);
  assert.equal(Buffer.concat(chunks).toString(), '\r\ninstret: 42\r\nexits: 7\r\n');
  term.close();
});
