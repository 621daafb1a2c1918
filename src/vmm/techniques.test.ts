/**
 * The default Linux guest, unmodified, under every technique the VMM has:
 * it boots to its shell, runs the same commands with the same output as on
 * the bare machine, and the counters move as each technique implies.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { DEFAULT_BIOS, defaultCpuEngine } from '../machine/virt.js';
import { buildLinuxGuest } from '../guests/linux-guest.js';
import { runComparison, type Configuration } from './compare.js';
import { Vmm } from './vmm.js';
import { BufferCharBackend } from '../backends/buffer-char.js';
import { INIT_MARKER } from '../machine/virt.js';
import { DEFAULT_APPEND } from '../guests/linux-guest.js';

const PROMPT = /[#$] $/m;
// eslint-disable-next-line no-control-regex -- ls colours its output with escape sequences
const ANSI_COLOUR = /\x1b\[[0-9;]*m/g;

const skip = existsSync(DEFAULT_BIOS) ? false : `missing ${DEFAULT_BIOS} (apt-get install opensbi)`;

test('Linux runs the same commands with the same output under none, hw, trap, bt and pv; the counters follow the technique', { skip, timeout: 900_000 }, async () => {
  const g = buildLinuxGuest(false);
  const engine = defaultCpuEngine();
  const configs: Configuration[] = (['none', 'hw', 'trap', 'bt', 'pv'] as const).map((technique) => ({ name: technique, technique, engine, guestModifications: 'none' }));
  const rows = await runComparison(g, configs);
  const [none, hw, trap, bt, pv] = rows;
  for (const r of rows) {
    assert.equal(r.exitCode, 0, `${r.configuration} powered off`);
    assert.ok(r.outputMatches, `${r.configuration}: same command output as on the bare machine`);
  }
  assert.equal(none.exits, 0, 'the bare machine has no VMM');

  // hw: CSR accesses, SRET, SFENCE.VMA and the guest's own page faults stay in the guest; nested walks touch both stages.
  assert.equal(hw.exitsByCause['illegal instruction'] ?? 0, 0, 'hw: no exits for privileged instructions');
  assert.equal(hw.exitsByCause['load page fault'] ?? 0, 0, 'hw: the guest handles its own page faults');
  assert.ok((hw.exitsByCause['ecall from VS'] ?? 0) > 100 && hw.exitsByCause['ecall from VS'] === hw.sbiCalls, 'hw: SBI calls exit');
  assert.ok((hw.exitsByCause['load guest-page fault'] ?? 0) + (hw.exitsByCause['store guest-page fault'] ?? 0) > 100, 'hw: device accesses exit');
  // Linux picks Sv48 when the hart has it: a full nested walk of Sv48 over Sv39x4 is 4 + 5 × 3 = 19 references.
  assert.ok(hw.walkRefsPerMiss > 4 && hw.walkRefsPerMiss <= 19, `hw: nested walks make up to 19 references (${hw.walkRefsPerMiss.toFixed(2)})`);

  // trap: one exit per privileged instruction, all emulated; shadow walks touch one stage.
  const trapIllegal = trap.exitsByCause['illegal instruction'] ?? 0;
  assert.ok(trap.emulated > 10_000, `trap: privileged instructions emulated (${trap.emulated})`);
  assert.ok(trapIllegal >= trap.emulated, 'trap: each emulated instruction trapped first');
  assert.ok((trap.techniqueCounters.fills ?? 0) > 1000, 'trap: shadow page tables filled on hidden faults');
  assert.ok(trap.walkRefsPerMiss > 0 && trap.walkRefsPerMiss <= 4, `trap: the hart walks one stage, Sv48 (${trap.walkRefsPerMiss.toFixed(2)})`);

  // bt: the same emulation, by inline calls instead of traps.
  assert.equal(bt.exitsByCause['illegal instruction'] ?? 0, 0, 'bt: privileged instructions do not trap');
  assert.ok(bt.emulated > 10_000, `bt: privileged instructions emulated inline (${bt.emulated})`);
  if (engine === 'jit') assert.ok((bt.techniqueCounters.inlineVmmCalls ?? 0) > 1000, 'bt: translated code calls the VMM in place of privileged instructions');
  assert.equal(trap.techniqueCounters.inlineVmmCalls ?? 0, 0, 'trap: no inline calls');
  assert.ok(bt.exits < trap.exits / 5, 'bt: far fewer exits than trap');

  // pv: Linux has no TSVI port; it runs on its SBI and virtio paravirtual paths, its privileged instructions emulated.
  assert.equal(pv.techniqueCounters.hypercalls, 0);
  assert.ok(pv.emulated > 10_000 && pv.sbiCalls > 100);
});

test('Linux with 2 vCPUs on 1 host hart under hw, trap and bt: both CPUs come up, same command output', { skip, timeout: 900_000 }, async () => {
  const g = buildLinuxGuest(false);
  const engine = defaultCpuEngine();
  const configs: Configuration[] = (['hw', 'trap', 'bt'] as const).map((technique) => ({ name: technique, technique, engine, guestModifications: 'none' }));
  const rows = await runComparison(g, configs, 2);
  assert.match(rows[0].commandOutput, /^2$/m, 'grep -c ^processor /proc/cpuinfo says 2');
  for (const r of rows) {
    assert.equal(r.exitCode, 0, `${r.configuration} powered off`);
    assert.ok(r.outputMatches, `${r.configuration}: same command output as hw`);
    assert.ok((r.techniqueCounters.sbiCalls ?? r.sbiCalls) > 0);
  }
});

test('two Linux VMs, one under hw and one under trap, run at once in one VMM, each with its own console and memory; one reboots', { skip, timeout: 600_000 }, async () => {
  const g = buildLinuxGuest(false);
  const vmm = new Vmm({ memory: 2 * 128 * 1048576 + 64 * 1048576, harts: 2 });
  const vms = (['hw', 'trap'] as const).map((t) => {
    const con = new BufferCharBackend();
    return { con, vm: vmm.createVm({ memory: 128 * 1048576, vcpus: 1, kernel: g.kernel, initrd: g.initrd, append: DEFAULT_APPEND, console: con }, t) };
  });
  const done = vmm.run();
  // Each writes a file in its own RAM disk; the other does not see it.
  const said: string[] = [];
  for (const [i, { con }] of vms.entries()) {
    let at = await con.waitFor(INIT_MARKER, 300_000);
    at = await con.waitFor(PROMPT, 60_000, at);
    con.type(`echo vm${i} > /tmp/who; cat /tmp/who; ls /tmp\n`);
    const end = await con.waitFor(PROMPT, 60_000, at + 1);
    // Without carriage returns and ls's colour escapes.
    said.push(con.output.slice(at, end).replace(/\r/g, '').replace(ANSI_COLOUR, ''));
  }
  // The trap VM reboots (SBI SRST): devices, RAM and shadow tables start over, and its shell answers again.
  {
    const con = vms[1].con;
    let at = con.output.length;
    con.type('reboot\n');
    at = await con.waitFor(INIT_MARKER, 300_000, at);
    at = await con.waitFor(PROMPT, 60_000, at);
    con.type('cat /tmp/who 2>&1; echo rebooted\n');
    const end = await con.waitFor(PROMPT, 60_000, at + 1);
    const out = con.output.slice(at, end);
    assert.match(out, /^rebooted\r?$/m);
    assert.match(out, /No such file/, 'a fresh RAM disk after the reboot');
  }
  for (const { con } of vms) con.type('poweroff\n');
  await done;
  assert.equal(vms[1].vm.stats.resets, 1);
  assert.match(said[0], /^vm0$/m);
  assert.match(said[1], /^vm1$/m);
  for (const s of said) assert.equal((s.match(/^who$/gm) ?? []).length, 1, `each /tmp holds its own file only: ${JSON.stringify(s)}`);
  for (const { vm } of vms) assert.equal(vm.exitCode, 0);
  assert.ok(vmm.stats.hostHarts.every((h) => h.slices > 0), 'both host harts ran');
  vmm.close();
});
