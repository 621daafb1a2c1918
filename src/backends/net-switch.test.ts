import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as tick } from 'node:timers/promises';
import { NetSwitch, NetSwitchServer, connectSwitch, type NetSwitchPort } from './net-switch.js';
import { NetBackendError, type NetBackend } from './net-backend.js';
import { GuestRam } from '../memory/guest-memory.js';
import { VirtioMmioTransport } from '../devices/virtio/mmio.js';
import { MockMmioDriver } from '../devices/virtio/mock-driver.js';
import { VirtioNet, RECEIVEQ, TRANSMITQ, VIRTIO_NET_HDR_LEN } from '../devices/virtio/net/device.js';

const BROADCAST = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
const A = [0x52, 0x54, 0, 0, 0, 0xa];
const B = [0x52, 0x54, 0, 0, 0, 0xb];
const C = [0x52, 0x54, 0, 0, 0, 0xc];

function eth(dst: number[], src: number[], payload = 'hi'): Uint8Array {
  return Uint8Array.from([...dst, ...src, 0x88, 0xb5, ...Buffer.from(payload)]);
}

/** Collects what arrives on a backend. */
function listen(b: NetBackend): Uint8Array[] {
  const got: Uint8Array[] = [];
  b.onReceive((f) => got.push(f));
  return got;
}

/** Waits until `cond` holds, turning the event loop (sockets need real I/O). */
async function until(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('switch: broadcast floods to every other port, never back to the sender; delivery is asynchronous', async () => {
  const sw = new NetSwitch();
  const [pa, pb, pc] = ['a', 'b', 'c'].map((n) => sw.attach(n));
  const [ga, gb, gc] = [pa, pb, pc].map(listen);
  const f = eth(BROADCAST, A);
  pa.send(f);
  assert.equal(gb.length, 0, 'not delivered inside send');
  await tick();
  assert.deepEqual([ga.length, gb.length, gc.length], [0, 1, 1]);
  assert.deepEqual(gb[0], f);
  assert.equal(sw.stats.flooded, 1);
});

test('switch: learns source MACs and forwards known unicast to one port only', async () => {
  const sw = new NetSwitch();
  const [pa, pb, pc] = ['a', 'b', 'c'].map((n) => sw.attach(n));
  const [ga, gb, gc] = [pa, pb, pc].map(listen);
  pb.send(eth(A, B)); // A unknown: flooded; B learned on port b
  await tick();
  assert.deepEqual([ga.length, gb.length, gc.length], [1, 0, 1]);
  pa.send(eth(B, A, 'reply')); // B known: only port b; A learned
  await tick();
  assert.deepEqual([ga.length, gb.length, gc.length], [1, 1, 1]);
  assert.equal(Buffer.from(gb[0].subarray(14)).toString(), 'reply');
  assert.deepEqual(sw.macTable().map((e) => [e.mac, e.port]), [['52:54:00:00:00:0b', 'b'], ['52:54:00:00:00:0a', 'a']]);
  // A frame for a MAC on its own ingress port goes nowhere.
  pa.send(eth(A, C));
  await tick();
  assert.deepEqual([ga.length, gb.length, gc.length], [1, 1, 1]);
  assert.equal(sw.stats.filtered, 1);
  // A MAC that moves is re-learned on its new port.
  pc.send(eth(BROADCAST, A));
  await tick();
  assert.equal(sw.stats.macMoves, 1);
  pb.send(eth(A, B));
  await tick();
  assert.equal(gc.length, 2);
  assert.equal(ga.length, 2, 'the broadcast from c reached a, the unicast did not');
});

test('switch: multicast floods, runts are dropped, MACs age out and leave with their port', async () => {
  let now = 0;
  const sw = new NetSwitch({ ageingMs: 1000, now: () => now });
  const [pa, pb, pc] = ['a', 'b', 'c'].map((n) => sw.attach(n));
  const [, gb, gc] = [pa, pb, pc].map(listen);
  pa.send(eth([0x01, 0x00, 0x5e, 0, 0, 1], A));
  pa.send(new Uint8Array(10));
  await tick();
  assert.deepEqual([gb.length, gc.length], [1, 1]);
  assert.equal(sw.stats.dropped, 1);
  now = 5000;
  assert.deepEqual(sw.macTable(), []);
  pb.send(eth(A, B)); // A aged out: flooded
  await tick();
  assert.equal(gc.length, 2);
  pb.close();
  assert.deepEqual(sw.macTable(), []);
  assert.equal(sw.ports.length, 2);
  pa.send(eth(B, A)); // B's port is gone: flooded to c only
  await tick();
  assert.equal(gc.length, 3);
});

test('switch: the MAC table is bounded', async () => {
  const sw = new NetSwitch({ macTableSize: 2 });
  const p = sw.attach('a');
  sw.attach('b');
  for (const m of [A, B, C]) p.send(eth(BROADCAST, m));
  await tick();
  assert.deepEqual(sw.macTable().map((e) => e.mac), ['52:54:00:00:00:0b', '52:54:00:00:00:0c']);
});

/** A VM: a virtio-net device over the transport, driven by the mock driver. */
function vm(port: NetSwitchPort, mac: number[]) {
  const mem = new GuestRam(0x8000_0000, 1 << 20);
  const net = new VirtioNet(port, { mac: Uint8Array.from(mac) });
  const dev = new VirtioMmioTransport('virtio-net', net, mem, { setLevel: () => {} });
  const drv = new MockMmioDriver(dev, mem);
  drv.start();
  const rx = drv.queues[RECEIVEQ];
  const tx = drv.queues[TRANSMITQ];
  for (let i = 0; i < 4; i++) rx.add([{ writable: 1526 }]);
  drv.kick(RECEIVEQ);
  return {
    net,
    send(frame: Uint8Array) {
      tx.add([{ readable: new Uint8Array(VIRTIO_NET_HDR_LEN) }, { readable: frame }]);
      drv.kick(TRANSMITQ);
    },
    received(): Uint8Array[] {
      return rx.takeUsed().map((u) => {
        // The mock allocates receive buffers in order: find the chain by its head.
        const addr = rx.mem.readU64(rx.desc + 16 * u.id);
        return rx.bytes(addr + VIRTIO_NET_HDR_LEN, u.len - VIRTIO_NET_HDR_LEN);
      });
    },
  };
}

test('two VMs exchange frames through a switch', async () => {
  const sw = new NetSwitch();
  const vm1 = vm(sw.attach('vm1'), A);
  const vm2 = vm(sw.attach('vm2'), B);
  const ping = eth(BROADCAST, A, 'who has B?');
  vm1.send(ping);
  assert.deepEqual(vm2.received(), [], 'not synchronous');
  await tick();
  assert.deepEqual(vm2.received(), [ping]);
  assert.deepEqual(vm1.received(), [], 'no echo to the sender');
  const pong = eth(A, B, 'B is here');
  vm2.send(pong);
  await tick();
  assert.deepEqual(vm1.received(), [pong]);
  assert.equal(vm1.net.metrics.txFrames, 1);
  assert.equal(vm1.net.metrics.rxFrames, 1);
  assert.equal(vm2.net.metrics.rxBytes, ping.length);
});

test('socket switch: a server and two clients exchange frames; switches join across the socket', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsvisor-net-'));
  const path = join(dir, 'switch.sock');
  const server = await NetSwitchServer.listen(path);
  try {
    const c1 = await connectSwitch(path);
    const c2 = await connectSwitch(path);
    const g1 = listen(c1);
    const g2 = listen(c2);
    // A VM on the server's own switch sees the clients too.
    const local = server.netSwitch.attach('local');
    const gl = listen(local);
    await until(() => server.peers === 2, 'two peers');
    const hello = eth(BROADCAST, A, 'hello from c1');
    c1.send(hello);
    await until(() => g2.length === 1 && gl.length === 1, 'the broadcast');
    assert.deepEqual(g2[0], hello);
    assert.equal(g1.length, 0);
    c2.send(eth(A, B, 'unicast to c1'));
    await until(() => g1.length === 1, 'the unicast');
    assert.equal(Buffer.from(g1[0].subarray(14)).toString(), 'unicast to c1');
    assert.equal(gl.length, 1, 'A is known: the unicast was not flooded');
    // A second process's switch joined by an uplink: its VM talks to c1.
    const remote = new NetSwitch();
    remote.connect('uplink', await connectSwitch(path));
    const far = remote.attach('far');
    const gf = listen(far);
    far.send(eth(A, C, 'from afar'));
    await until(() => g1.length === 2, 'the frame through two switches');
    c1.send(eth(C, A, 'back'));
    await until(() => gf.length === 1, 'the reply through two switches');
    assert.equal(Buffer.from(gf[0].subarray(14)).toString(), 'back');
    // A client that leaves becomes a closed port on the server.
    c2.close();
    await until(() => server.peers === 2 && server.netSwitch.ports.length === 3, 'c2 to leave');
    c1.close();
    remote.close();
    await until(() => server.peers === 0, 'everyone to leave');
  } finally {
    await server.close();
    assert.equal(existsSync(path), false, 'socket file removed');
    rmSync(dir, { recursive: true, force: true });
  }
});

test('socket switch: a peer that breaks the framing is disconnected', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsvisor-net-'));
  const path = join(dir, 'switch.sock');
  const server = await NetSwitchServer.listen(path);
  try {
    const { createConnection } = await import('node:net');
    const bad = createConnection(path);
    await new Promise((r) => bad.once('connect', r));
    await until(() => server.peers === 1, 'the peer');
    bad.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3]));
    await until(() => server.peers === 0, 'the bad peer to be dropped');
    bad.destroy();
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('socket switch: stale socket files are replaced, live ones refused, missing servers reported', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsvisor-net-'));
  const path = join(dir, 'switch.sock');
  try {
    await assert.rejects(connectSwitch(path), (e: unknown) => e instanceof NetBackendError && /no such socket/.test(e.message));
    // A socket file whose server died without cleaning up: a child that listens, then is SIGKILLed.
    const child = spawnSync(process.execPath, ['-e',
      `require('net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`]);
    assert.equal(child.signal, 'SIGKILL');
    assert.equal(existsSync(path), true, 'stale socket file left behind');
    await assert.rejects(connectSwitch(path), (e: unknown) => e instanceof NetBackendError && /nothing is listening/.test(e.message));
    const s1 = await NetSwitchServer.listen(path);
    await assert.rejects(NetSwitchServer.listen(path), (e: unknown) => e instanceof NetBackendError && /in use/.test(e.message));
    await s1.close();
    await assert.rejects(NetSwitchServer.listen(join(dir, 'missing', 'x.sock')), NetBackendError);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
