import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { openTap, tapHelperPath, tapUnavailableReasons, TUN_DEVICE, type TapNetBackend } from './net-tap.js';
import { NetBackendError } from './net-backend.js';

/** Asserts that `p` rejects with a NetBackendError whose message matches every pattern. */
async function rejectsWith(p: Promise<unknown>, ...patterns: RegExp[]): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof NetBackendError, `expected a NetBackendError, got ${String(e)}`);
    for (const re of patterns) assert.match(e.message, re);
    return true;
  });
}

test('openTap rejects invalid interface names before anything else', async () => {
  await rejectsWith(openTap('a-name-longer-than-15'), /not a valid interface name/);
  await rejectsWith(openTap(''), /not a valid interface name/);
  await rejectsWith(openTap('has space'), /not a valid interface name/);
  await rejectsWith(openTap('a/b'), /not a valid interface name/);
});

test('openTap says when the clone device is missing', { skip: process.platform !== 'linux' && 'TAP is Linux only' }, async () => {
  await rejectsWith(openTap('tsvtest0', { device: '/nonexistent/net/tun' }),
    /cannot open TAP interface 'tsvtest0'/, /\/nonexistent\/net\/tun does not exist/, /modprobe tun/);
  assert.ok(tapUnavailableReasons('/nonexistent/net/tun').length === 1);
});

test('the helper reports what the kernel refused as a NetBackendError', { skip: process.platform !== 'linux' && 'TAP is Linux only' }, async () => {
  // /dev/null opens read-write for anyone but is no TUN clone device: the
  // up-front checks pass, the helper's TUNSETIFF fails, and says so.
  await rejectsWith(openTap('tsvtest0', { device: '/dev/null' }), /cannot open TAP interface 'tsvtest0'/, /not the TUN\/TAP clone device/);
  await rejectsWith(openTap('tsvtest0', { device: '/dev/null', python: 'no-such-python3' }), /no-such-python3 was not found/);
  assert.ok(existsSync(tapHelperPath()));
});

/** Why the root-only test below cannot run here, or undefined. */
function tapTestBlocker(): string | undefined {
  if (process.platform !== 'linux') return 'TAP is Linux only';
  if (process.getuid?.() !== 0) return 'needs root (CAP_NET_ADMIN) to create a TAP interface';
  try {
    accessSync(TUN_DEVICE, constants.R_OK | constants.W_OK);
  } catch {
    return `${TUN_DEVICE} is missing or not read-writable`;
  }
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' });
  } catch {
    return "the 'ip' command (iproute2) is not installed";
  }
  return undefined;
}

const OUR_MAC = Uint8Array.of(0x02, 0x00, 0x5e, 0x10, 0x20, 0x30);
const OUR_IP = Uint8Array.of(10, 99, 0, 2);
const HOST_IP = Uint8Array.of(10, 99, 0, 1);

/** An ARP request (RFC 826) from OUR_MAC/OUR_IP asking who has HOST_IP. */
function arpRequest(): Uint8Array {
  const f = new Uint8Array(42);
  f.fill(0xff, 0, 6); // broadcast
  f.set(OUR_MAC, 6);
  f.set([0x08, 0x06], 12); // EtherType ARP
  f.set([0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01], 14); // Ethernet, IPv4, hlen, plen, request
  f.set(OUR_MAC, 22);
  f.set(OUR_IP, 28);
  f.set(HOST_IP, 38); // target MAC (32..37) stays zero
  return f;
}

/** The host's MAC if `f` is the ARP reply to {@link arpRequest}, else undefined. */
function arpReplyFromHost(f: Uint8Array): Uint8Array | undefined {
  const eq = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((x, i) => x === b[i]);
  if (f.length < 42 || f[12] !== 0x08 || f[13] !== 0x06 || f[20] !== 0 || f[21] !== 2) return undefined;
  if (!eq(f.subarray(0, 6), OUR_MAC) || !eq(f.subarray(28, 32), HOST_IP) || !eq(f.subarray(32, 38), OUR_MAC)) return undefined;
  return f.slice(22, 28);
}

async function waitFor(what: string, ok: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('frames flow both ways through a real TAP interface (the host answers ARP)', { timeout: 30_000 }, async (t) => {
  const blocker = tapTestBlocker();
  if (blocker !== undefined) {
    t.skip(`skipped: ${blocker}`);
    return;
  }
  const name = `tsvtap${process.pid % 1000}`;
  const sys = `/sys/class/net/${name}`;
  assert.ok(!existsSync(sys), `${name} already exists; delete it (ip link del ${name}) and rerun`);
  let tap: TapNetBackend | undefined;
  try {
    tap = await openTap(name);
    assert.equal(tap.name, name);
    assert.ok(existsSync(sys), `${sys} should exist while the backend is open`);

    // A second open of the same name is refused: the first holds it.
    await rejectsWith(openTap(name), /is busy/);
    // An interface that is not a TAP is refused too.
    await rejectsWith(openTap('lo'), /not a TAP interface/);

    execFileSync('ip', ['addr', 'add', '10.99.0.1/24', 'dev', name]);
    execFileSync('ip', ['link', 'set', name, 'up']);

    let hostMac: Uint8Array | undefined;
    let received = 0;
    tap.onReceive((f) => {
      received++;
      hostMac ??= arpReplyFromHost(f);
    });
    const backend = tap;
    const request = arpRequest();
    backend.send(request);
    // Resend now and then: a freshly upped link may miss the first one.
    const resend = setInterval(() => backend.send(request), 500);
    try {
      await waitFor('the host kernel\'s ARP reply', () => hostMac !== undefined, 10_000);
    } finally {
      clearInterval(resend);
    }
    const link = JSON.parse(execFileSync('ip', ['-j', 'link', 'show', name], { encoding: 'utf8' })) as { address: string }[];
    assert.equal(Array.from(hostMac!, (b) => b.toString(16).padStart(2, '0')).join(':'), link[0].address);
    // rxFrames also counts frames from before the handler was added (IPv6 chatter once the link is up).
    assert.ok(tap.stats.txFrames >= 1 && received >= 1 && tap.stats.rxFrames >= received);

    tap.close();
    await tap.exited;
    await waitFor(`${name} to disappear`, () => !existsSync(sys), 5000);
    tap.send(request); // after close: dropped, never throws
    assert.ok(tap.stats.txDropped >= 1);
  } finally {
    tap?.close();
    if (existsSync(sys)) execFileSync('ip', ['link', 'del', name], { stdio: 'ignore' });
  }
});

test('a helper that dies is reported through onClose', { timeout: 20_000 }, async (t) => {
  const blocker = tapTestBlocker();
  if (blocker !== undefined) {
    t.skip(`skipped: ${blocker}`);
    return;
  }
  const name = `tsvtbq${process.pid % 1000}`;
  let reported: NetBackendError | undefined;
  let calls = 0;
  const tap = await openTap(name, { up: false, onClose: (e) => { calls++; reported = e; } });
  try {
    // Deleting the interface under the helper makes its reads fail.
    execFileSync('ip', ['link', 'del', name]);
    await Promise.race([tap.exited, new Promise((_, reject) => setTimeout(() => reject(new Error('the helper did not exit')), 10_000).unref())]);
    await waitFor('onClose', () => calls > 0, 2000);
    assert.equal(calls, 1);
    assert.ok(reported instanceof NetBackendError);
    assert.match(reported.message, new RegExp(`TAP interface '${name}' is gone`));
    assert.ok(tap.isClosed);
  } finally {
    tap.close();
    assert.equal(calls, 1);
  }
});
