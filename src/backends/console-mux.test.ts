import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BufferCharBackend } from './buffer-char.js';
import { ConsoleMux } from './console-mux.js';

const bytes = (s: string): Uint8Array => Buffer.from(s);

test('the focused VM is shown and gets the input; the others are kept and shown when the focus comes to them', () => {
  const host = new BufferCharBackend();
  const mux = new ConsoleMux(host, ['vm0', 'vm1']);
  const got: string[] = ['', ''];
  [0, 1].forEach((i) => mux.port(i).onInput((d) => { got[i] += Buffer.from(d).toString(); }));
  mux.port(0).write(bytes('zero\n'));
  mux.port(1).write(bytes('one\n'));
  assert.equal(host.output, 'zero\n');
  host.type('ls\n');
  assert.deepEqual(got, ['ls\n', '']);
  mux.next();
  assert.match(host.output, /\[tsvisor: console of vm1\]\r\none\n$/);
  host.type('pwd\n');
  assert.deepEqual(got, ['ls\n', 'pwd\n']);
  mux.port(0).write(bytes('later\n'));
  assert.doesNotMatch(host.output, /later/);
  mux.next();
  assert.match(host.output, /console of vm0\]\r\nlater\n$/);
});

test('on a pipe every line is shown with its VM\'s name', () => {
  const host = new BufferCharBackend();
  const mux = new ConsoleMux(host, ['a', 'b'], true);
  mux.port(0).write(bytes('one\ntw'));
  mux.port(1).write(bytes('x\n'));
  mux.port(0).write(bytes('o\n'));
  assert.equal(host.output, '[a] one\n[b] x\n[a] two\n');
  mux.port(1).write(bytes('unfinished'));
  mux.port(1).close();
  assert.match(host.output, /\[b\] unfinished\n$/);
});

test('the host console closes with the last VM console', () => {
  let closed = 0;
  const host = { write: () => {}, onInput: () => {}, close: () => { closed++; } };
  const mux = new ConsoleMux(host, ['a', 'b']);
  mux.port(0).close();
  assert.equal(closed, 0);
  mux.port(1).close();
  assert.equal(closed, 1);
});
