import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { createServer, connect, type Socket } from 'node:net';
import { StreamCharBackend } from './stream-char.js';
import { Uart16550 } from '../devices/uart16550.js';

function collect(stream: PassThrough): () => string {
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  return () => Buffer.concat(chunks).toString();
}

test('output goes to the writable, input comes from the readable to every handler', async () => {
  const input = new PassThrough();
  const output = new PassThrough();
  const seen = collect(output);
  const be = new StreamCharBackend(input, output);
  const a: string[] = [];
  const b: string[] = [];
  be.onInput((d) => a.push(Buffer.from(d).toString()));
  be.onInput((d) => b.push(Buffer.from(d).toString()));
  const buf = new TextEncoder().encode('out');
  be.write(buf);
  buf.fill(0); // the backend copied it
  input.write('in');
  await new Promise((r) => setImmediate(r));
  assert.equal(seen(), 'out');
  assert.deepEqual(a, ['in']);
  assert.deepEqual(b, ['in']);
  be.close();
  input.write('after');
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(a, ['in'], 'no input after close');
  be.write(new Uint8Array([1]));
  assert.equal(seen(), 'out', 'no output after close');
});

test('either side may be null; onEnd reports the end of input', async () => {
  const input = new PassThrough();
  let ended = 0;
  const be = new StreamCharBackend(input, null, { onEnd: () => ended++ });
  be.write(new Uint8Array([65]));
  input.end();
  await new Promise((r) => setImmediate(r));
  assert.equal(ended, 1);
  be.close();
  new StreamCharBackend(null, null).close();
});

test('a UART driven through a socket pair: the guest side and the host side talk', async () => {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const accepted = new Promise<Socket>((r) => server.once('connection', r));
  const client = connect(port, '127.0.0.1');
  const sock = await accepted;
  const be = new StreamCharBackend(sock, sock, { ownsStreams: true });
  const uart = new Uart16550({ setLevel: () => {} }, be);

  const fromGuest: Buffer[] = [];
  client.on('data', (c: Buffer) => fromGuest.push(c));
  for (const ch of 'ping') uart.write(0, 1, ch.charCodeAt(0));
  client.write('pong');
  const deadline = Date.now() + 2000;
  let got = '';
  while (got.length < 4 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 5));
    while (uart.read(5, 1) & 1) got += String.fromCharCode(uart.read(0, 1));
  }
  assert.equal(got, 'pong');
  assert.equal(Buffer.concat(fromGuest).toString(), 'ping');
  be.close();
  client.destroy();
  await new Promise<void>((r) => server.close(() => r()));
});
