import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BufferCharBackend, ConsoleTimeoutError } from './buffer-char.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

test('collects output as text (UTF-8, split sequences too) and bytes', () => {
  const con = new BufferCharBackend();
  const bytes = enc('héllo ✓\r\n');
  con.write(bytes.subarray(0, 2)); // splits the two-byte é
  con.write(bytes.subarray(2));
  assert.equal(con.output, 'héllo ✓\r\n');
  assert.deepEqual(Array.from(con.bytes), Array.from(bytes));
});

test('input goes to every handler; input sent before any handler is held for the first', () => {
  const con = new BufferCharBackend();
  con.send('early');
  const a: number[][] = [];
  const b: number[][] = [];
  con.onInput((d) => a.push(Array.from(d)));
  con.onInput((d) => b.push(Array.from(d)));
  con.send('é');
  con.type('\x01\xff'); // one byte per character
  assert.deepEqual(a, [Array.from(enc('early')), [0xc3, 0xa9], [0x01, 0xff]]);
  assert.deepEqual(b, [[0xc3, 0xa9], [0x01, 0xff]]);
});

test('waitFor resolves with the index past the match, from a given index, now or later', async () => {
  const con = new BufferCharBackend();
  con.write(enc('=> '));
  assert.equal(await con.waitFor('=> ', 100), 3);
  const later = con.waitFor(/U-Boot (\d+)[\s\S]*=> /, 1000, 3);
  con.write(enc('version\r\nU-Boot 2023'));
  con.write(enc('.01\r\n=> '));
  assert.equal(await later, con.output.length);
});

test('expect advances a cursor, returns groups and the text before the match', async () => {
  const con = new BufferCharBackend();
  con.write(enc('login: '));
  const m1 = await con.expect('login: ');
  assert.equal(m1.index, 0);
  assert.equal(con.cursor, 7);
  const pending = con.expect(/(\d+) processes/);
  con.write(enc('foo\n12 processes\n'));
  const m2 = await pending;
  assert.equal(m2.groups[1], '12');
  assert.equal(m2.before, 'foo\n');
  // The same text again does not match before the cursor.
  await assert.rejects(con.expect('login: ', { timeoutMs: 20 }), ConsoleTimeoutError);
  assert.equal((await con.expect('login: ', { from: 0 })).index, 0);
  con.skip();
  assert.equal(con.cursor, con.output.length);
});

test('a global or sticky regex is searched statelessly', async () => {
  const con = new BufferCharBackend();
  con.write(enc('aaa'));
  const re = /a/g;
  assert.equal(await con.waitFor(re, 10, 0), 1);
  assert.equal(await con.waitFor(re, 10, 0), 1);
});

test('a timeout names the pattern and shows the output tail', async () => {
  const con = new BufferCharBackend();
  con.write(enc('Kernel panic - not syncing'));
  await assert.rejects(con.waitFor('login:', 20), (e: unknown) => {
    assert.ok(e instanceof ConsoleTimeoutError);
    assert.match(e.message, /"login:"/);
    assert.match(e.message, /Kernel panic/);
    assert.equal(e.output, 'Kernel panic - not syncing');
    return true;
  });
});

test('close rejects pending waits, ignores later output and input', async () => {
  const con = new BufferCharBackend();
  const got: number[] = [];
  con.onInput((d) => got.push(...d));
  const w = con.waitFor('never', 10_000);
  con.close();
  await assert.rejects(w, /closed/);
  con.write(enc('late'));
  con.send('late');
  assert.equal(con.output, '');
  assert.deepEqual(got, []);
  con.close();
});

test('clear forgets the output', () => {
  const con = new BufferCharBackend();
  con.write(enc('abc'));
  con.clear();
  assert.equal(con.output, '');
  assert.equal(con.bytes.length, 0);
  assert.equal(con.cursor, 0);
});
