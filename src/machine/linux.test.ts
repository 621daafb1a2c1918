/**
 * End-to-end: the default Linux guest (Debian's Linux 6.1 + busybox, built by
 * guests/build-linux.sh) boots on tsvisor under Debian's OpenSBI and is driven
 * through the serial console.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { VirtMachine, DEFAULT_BIOS, INIT_MARKER } from './virt.js';
import { BufferCharBackend } from '../backends/buffer-char.js';
import { buildLinuxGuest, scratchDisk, DEFAULT_APPEND, type LinuxGuest } from '../guests/linux-guest.js';
import { NetSwitch } from '../backends/net-switch.js';
import type { NetBackend } from '../backends/net-backend.js';

const skip = existsSync(DEFAULT_BIOS) ? false : `missing ${DEFAULT_BIOS} (apt-get install opensbi)`;
const guest: LinuxGuest | undefined = skip ? undefined : buildLinuxGuest(false);
const PROMPT = /[#$] $/m;

function boot(harts: number, disk?: string, nic?: NetBackend, virtioConsole?: BufferCharBackend): { m: VirtMachine; con: BufferCharBackend; done: Promise<number> } {
  const g = guest as LinuxGuest;
  const con = new BufferCharBackend();
  if (process.env.TSVISOR_ECHO) con.echo = (s) => process.stderr.write(s);
  const m = new VirtMachine({
    memory: 256 * 1048576, harts, bios: DEFAULT_BIOS, kernel: g.kernel, initrd: g.initrd, append: DEFAULT_APPEND,
    console: con, drives: disk === undefined ? [] : [{ path: disk }], rng: true, nics: nic === undefined ? [] : [{ backend: nic }],
    virtioConsole,
  });
  return { m, con, done: m.run() };
}

/** Types a command and waits for the prompt after its output; returns the output. */
async function sh(con: BufferCharBackend, cmd: string, from: number, timeoutMs = 60_000): Promise<{ out: string; at: number }> {
  con.type(cmd + '\n');
  const at = await con.waitFor(PROMPT, timeoutMs, from + 1);
  return { out: con.output.slice(from, at), at };
}

for (const harts of [1, 2]) {
  test(`Linux boots to a busybox shell with ${harts} hart${harts > 1 ? 's' : ''}; /proc/cpuinfo shows the ISA; poweroff exits 0`, { skip, timeout: 600_000 }, async () => {
    const { m, con, done } = boot(harts);
    let at = await con.waitFor(INIT_MARKER, 400_000);
    at = await con.waitFor(PROMPT, 120_000, at);
    const cpu = await sh(con, 'cat /proc/cpuinfo', at);
    assert.match(cpu.out, /isa\s*: rv64imafdc/);
    assert.equal((cpu.out.match(/^processor\s*:/gm) ?? []).length, harts);
    con.type('poweroff\n');
    const code = await done;
    m.close();
    assert.equal(code, 0);
    assert.ok(m.bootMarkerMs !== undefined && m.bootMarkerMs > 0);
  });
}

test('virtio-console is hvc1 in Linux: guest output reaches the host, and a shell on it answers host input', { skip, timeout: 180_000 }, async () => {
  const vcon = new BufferCharBackend();
  if (process.env.TSVISOR_ECHO) vcon.echo = (s) => process.stderr.write(`[hvc1] ${s}`);
  const { m, con, done } = boot(1, undefined, undefined, vcon);
  let at = await con.waitFor(INIT_MARKER, 120_000);
  at = await con.waitFor(PROMPT, 60_000, at);
  // hvc0 is the SBI console (CONFIG_HVC_RISCV_SBI); the virtio port comes next.
  at = (await sh(con, 'cat /sys/class/tty/hvc1/dev && echo guest-to-host > /dev/hvc1', at)).at;
  await vcon.waitFor('guest-to-host', 10_000);
  // A shell reading the virtio console. ENV is cleared: /init's rc file powers off when its shell exits.
  await sh(con, "ENV= PS1='hvc1# ' setsid sh -i </dev/hvc1 >/dev/hvc1 2>&1 &", at);
  const vat = await vcon.waitFor('hvc1# ', 30_000);
  // The tty echoes the typed line; only the shell can print the product.
  vcon.type('echo $((6*7))-from-hvc1\n');
  await vcon.waitFor('42-from-hvc1', 30_000, vat);
  const [entry] = m.virtio.filter((v) => v.device.deviceId === 3);
  assert.ok(entry !== undefined, 'a virtio-console on the bus');
  assert.equal(entry.transport.deviceStatus, 15, 'ACKNOWLEDGE|DRIVER|FEATURES_OK|DRIVER_OK');
  con.type('poweroff\n');
  assert.equal(await done, 0);
  m.close();
});

test('a file written to the virtio-blk disk survives a reboot', { skip, timeout: 900_000 }, async () => {
  const disk = scratchDisk(guest as LinuxGuest);
  const text = `tsvisor persistence check ${process.pid}`;
  {
    const { m, con, done } = boot(1, disk);
    let at = await con.waitFor(INIT_MARKER, 400_000);
    at = await con.waitFor(PROMPT, 120_000, at);
    at = (await sh(con, 'cat /mnt/hello.txt', at)).at;
    assert.match(con.output, /hello from the tsvisor data disk/);
    await sh(con, `echo '${text}' > /mnt/persist.txt && sync`, at);
    con.type('poweroff\n');
    assert.equal(await done, 0);
    m.close();
  }
  {
    const { m, con, done } = boot(1, disk);
    let at = await con.waitFor(INIT_MARKER, 400_000);
    at = await con.waitFor(PROMPT, 120_000, at);
    const r = await sh(con, 'cat /mnt/persist.txt', at);
    assert.match(r.out, new RegExp(text));
    con.type('poweroff\n');
    assert.equal(await done, 0);
    m.close();
  }
});

test('two VMs on one switch reach each other: ping and a TCP transfer with nc', { skip, timeout: 900_000 }, async () => {
  const sw = new NetSwitch();
  const a = boot(1, undefined, sw.attach('vm-a'));
  const b = boot(1, undefined, sw.attach('vm-b'));
  let atA = await a.con.waitFor(PROMPT, 400_000, await a.con.waitFor(INIT_MARKER, 400_000));
  let atB = await b.con.waitFor(PROMPT, 400_000, await b.con.waitFor(INIT_MARKER, 400_000));
  atA = (await sh(a.con, 'ip addr add 10.0.2.1/24 dev eth0 && ip link set eth0 up', atA)).at;
  atB = (await sh(b.con, 'ip addr add 10.0.2.2/24 dev eth0 && ip link set eth0 up', atB)).at;
  const ping = await sh(b.con, 'ping -c 3 -W 5 10.0.2.1', atB, 120_000);
  atB = ping.at;
  assert.match(ping.out, /3 packets transmitted, 3 packets received/);
  // TCP: A listens and writes what it receives to a file; B sends a generated payload.
  a.con.type('nc -l -p 5000 > /tmp/received &\n');
  atA = await a.con.waitFor(PROMPT, 60_000, atA + 1);
  atB = (await sh(b.con, 'seq 1 2000 > /tmp/payload; md5sum /tmp/payload', atB)).at;
  const sum = /([0-9a-f]{32})\s+\/tmp\/payload/.exec(b.con.output)?.[1];
  assert.ok(sum !== undefined, 'md5sum of the payload');
  atB = (await sh(b.con, 'nc -w 3 10.0.2.1 5000 < /tmp/payload; echo sent', atB, 120_000)).at;
  let received = '';
  for (let i = 0; i < 10 && !received.includes(sum); i++) {
    const r = await sh(a.con, 'sleep 1; md5sum /tmp/received', atA);
    atA = r.at;
    received = r.out;
  }
  assert.match(received, new RegExp(sum));
  a.con.type('poweroff\n');
  b.con.type('poweroff\n');
  assert.equal(await a.done, 0);
  assert.equal(await b.done, 0);
  a.m.close();
  b.m.close();
  sw.close();
});
