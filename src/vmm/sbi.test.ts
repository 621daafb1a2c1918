import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HartState, SbiError, SbiExt, SbiService, SBI_SPEC_VERSION, type SbiHost } from './sbi.js';

const M64 = (1n << 64n) - 1n;
const err = (e: SbiError): bigint => BigInt(e) & M64;

/** A host that records what the guest asked for. */
class FakeHost implements SbiHost {
  readonly harts = 4;
  timers = new Map<number, bigint>();
  ipis: number[] = [];
  fences: string[] = [];
  states = [HartState.Started, HartState.Stopped, HartState.Stopped, HartState.Stopped];
  resets: Array<[number, number]> = [];
  out: number[] = [];
  input: number[] = [];
  ram = new Uint8Array(0x1000);
  setTimer(h: number, t: bigint): void { this.timers.set(h, t); }
  sendIpi(h: number): void { this.ipis.push(h); }
  remoteFence(h: number, kind: string): void { this.fences.push(`${kind}@${h}`); }
  hartState(h: number): HartState { return this.states[h]; }
  hartStart(h: number): SbiError {
    if (this.states[h] !== HartState.Stopped) return SbiError.AlreadyAvailable;
    this.states[h] = HartState.StartPending;
    return SbiError.Success;
  }
  hartStop(h: number): SbiError { this.states[h] = HartState.Stopped; return SbiError.Success; }
  systemReset(type: number, reason: number): void { this.resets.push([type, reason]); }
  consoleWrite(b: Uint8Array): void { this.out.push(...b); }
  consoleRead(max: number): Uint8Array { return Uint8Array.from(this.input.splice(0, max)); }
  readGuest(gpa: bigint, len: number): Uint8Array | undefined {
    return gpa + BigInt(len) <= 0x1000n ? this.ram.slice(Number(gpa), Number(gpa) + len) : undefined;
  }
  writeGuest(gpa: bigint, data: Uint8Array): boolean {
    if (gpa + BigInt(data.length) > 0x1000n) return false;
    this.ram.set(data, Number(gpa));
    return true;
  }
}

function call(s: SbiService, eid: number, fid: number, args: bigint[] = [], hart = 0): ReturnType<SbiService['call']> {
  const a = [...args, 0n, 0n, 0n, 0n, 0n, 0n].slice(0, 6);
  return s.call({ hart, a: [...a, BigInt(fid), BigInt(eid)] });
}

test('base: spec version 2.0, probe finds what is implemented and nothing else', () => {
  const s = new SbiService(new FakeHost());
  assert.equal(call(s, SbiExt.Base, 0).value, BigInt(SBI_SPEC_VERSION));
  assert.equal(call(s, SbiExt.Base, 3, [BigInt(SbiExt.Hsm)]).value, 1n);
  assert.equal(call(s, SbiExt.Base, 3, [0x12345n]).value, 0n);
  assert.equal(call(s, SbiExt.Base, 3, [(1n << 40n) + 0x10n]).value, 0n, 'an EID above 32 bits is not a known extension');
  assert.equal(call(s, SbiExt.Base, 99).error, err(SbiError.NotSupported));
  assert.equal(call(s, 0x0badcafe, 0).error, err(SbiError.NotSupported));
  assert.equal(s.stats.unsupported, 2);
});

test('timer, IPI masks (including base -1) and remote fences reach the right harts', () => {
  const h = new FakeHost();
  const s = new SbiService(h);
  call(s, SbiExt.Time, 0, [123456789n], 2);
  assert.equal(h.timers.get(2), 123456789n);
  assert.equal(call(s, SbiExt.Ipi, 0, [0b101n, 0n]).error, 0n);
  assert.deepEqual(h.ipis, [0, 2]);
  assert.equal(call(s, SbiExt.Ipi, 0, [0b1n, 2n]).error, 0n);
  assert.equal(call(s, SbiExt.Ipi, 0, [0n, M64]).error, 0n);
  assert.deepEqual(h.ipis, [0, 2, 2, 0, 1, 2, 3]);
  // A mask naming a hart that does not exist: invalid, and no hart is interrupted.
  assert.equal(call(s, SbiExt.Ipi, 0, [0b11n, 3n]).error, err(SbiError.InvalidParam));
  assert.equal(h.ipis.length, 7);
  call(s, SbiExt.Rfence, 1, [0b10n, 0n, 0x1000n, 0x2000n]);
  call(s, SbiExt.Rfence, 0, [0b1n, 0n]);
  assert.deepEqual(h.fences, ['sfence.vma@1', 'fence.i@0']);
});

test('HSM: start, status, stop, and bad hart IDs', () => {
  const h = new FakeHost();
  const s = new SbiService(h);
  assert.equal(call(s, SbiExt.Hsm, 2, [1n]).value, BigInt(HartState.Stopped));
  assert.equal(call(s, SbiExt.Hsm, 0, [1n, 0x80200000n, 42n]).error, 0n);
  assert.equal(call(s, SbiExt.Hsm, 2, [1n]).value, BigInt(HartState.StartPending));
  assert.equal(call(s, SbiExt.Hsm, 0, [1n, 0x80200000n, 42n]).error, err(SbiError.AlreadyAvailable));
  assert.equal(call(s, SbiExt.Hsm, 0, [9n, 0n, 0n]).error, err(SbiError.InvalidParam));
  assert.equal(call(s, SbiExt.Hsm, 2, [M64]).error, err(SbiError.InvalidParam));
  const stop = call(s, SbiExt.Hsm, 1, [], 3);
  assert.equal(stop.noReturn, true);
});

test('SRST and the legacy shutdown reset the system; reserved types and reasons are refused', () => {
  const h = new FakeHost();
  const s = new SbiService(h);
  assert.equal(call(s, SbiExt.Srst, 0, [3n, 0n]).error, err(SbiError.InvalidParam));
  assert.equal(call(s, SbiExt.Srst, 0, [0n, 7n]).error, err(SbiError.InvalidParam));
  assert.equal(h.resets.length, 0);
  assert.equal(call(s, SbiExt.Srst, 0, [1n, 0n]).noReturn, true);
  call(s, SbiExt.LegacyShutdown, 0);
  assert.deepEqual(h.resets, [[1, 0], [0, 0]]);
});

test('console: legacy putchar/getchar and DBCN read and write through guest memory', () => {
  const h = new FakeHost();
  const s = new SbiService(h);
  call(s, SbiExt.LegacyConsolePutchar, 0, [0x141n]); // only the low byte counts
  assert.equal(call(s, SbiExt.LegacyConsoleGetchar, 0).error, M64, 'no input: -1');
  h.input.push(0x7a);
  assert.equal(call(s, SbiExt.LegacyConsoleGetchar, 0).error, 0x7an);
  h.ram.set(Buffer.from('hello'), 0x100);
  assert.equal(call(s, SbiExt.Dbcn, 0, [5n, 0x100n, 0n]).value, 5n);
  call(s, SbiExt.Dbcn, 2, [0x21n]);
  assert.equal(Buffer.from(h.out).toString('latin1'), 'Ahello!');
  assert.equal(call(s, SbiExt.Dbcn, 0, [16n, 0xff8n, 0n]).error, err(SbiError.InvalidParam), 'past the end of RAM');
  assert.equal(call(s, SbiExt.Dbcn, 0, [1n, 0n, 1n]).error, err(SbiError.InvalidParam), 'an address above 64 bits');
  h.input.push(0x31, 0x32, 0x33);
  assert.equal(call(s, SbiExt.Dbcn, 1, [2n, 0x200n, 0n]).value, 2n);
  assert.deepEqual([...h.ram.subarray(0x200, 0x203)], [0x31, 0x32, 0]);
  assert.equal(s.stats.byExtension.dbcn, 5);
});
