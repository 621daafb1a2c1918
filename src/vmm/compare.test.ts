import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { DEFAULT_BIOS } from '../machine/virt.js';
import { buildLinuxGuest } from '../guests/linux-guest.js';
import { CONFIGURATIONS, PVKERNEL_CONFIGURATIONS, formatComparison, runComparison } from './compare.js';
import { buildPvKernel } from '../guests/pvkernel.js';
import { haveCrossCompiler } from '../guests/guest-programs.js';
import { defaultCpuEngine } from '../machine/virt.js';

const skip = existsSync(DEFAULT_BIOS) ? false : `missing ${DEFAULT_BIOS} (apt-get install opensbi)`;

test('compare runs the Linux workload under emulation and binary translation with the same output', { skip, timeout: 600_000 }, async () => {
  const g = buildLinuxGuest(false);
  const configs = CONFIGURATIONS.filter((c) => c.engine === 'interp' || c.backend === 'wasm');
  const rows = await runComparison(g, configs);
  assert.equal(rows.length, 2);
  for (const r of rows) {
    assert.equal(r.exitCode, 0, `${r.configuration} powered off`);
    assert.ok(r.outputMatches, `${r.configuration}: same command output`);
    assert.ok(r.instructions > 50e6 && r.ecalls > 100 && r.pageWalks > 1000, `${r.configuration}: counters move`);
    assert.ok(r.tlbHitRate > 0.9 && r.tlbHitRate < 1);
  }
  assert.equal(rows[0].translations, 0, 'the interpreter translates nothing');
  assert.equal(rows[0].relativeTime, 1);
  const table = formatComparison(rows);
  assert.match(table, /emulation \(interpreter\)\s+binary translation \(JIT to WebAssembly\)/);
  assert.match(table, /same command output\s+yes\s+yes/);
});

test('compare runs the pvkernel workload natively on the bare machine and under hw, trap and bt, and its pv build under pv, with the same output', { skip: skip || (haveCrossCompiler() ? false : 'no riscv64-unknown-elf-gcc'), timeout: 300_000 }, async () => {
  const b = buildPvKernel();
  const rows = await runComparison({ workload: 'pvkernel', kernel: b.native, pvKernel: b.pv }, PVKERNEL_CONFIGURATIONS.map((c) => ({ ...c, engine: defaultCpuEngine() })));
  assert.deepEqual(rows.map((r) => r.technique), ['none', 'hw', 'trap', 'bt', 'pv']);
  for (const r of rows) {
    assert.equal(r.exitCode, 0, `${r.configuration} powered off`);
    assert.ok(r.outputMatches, `${r.configuration}: the same phase lines`);
  }
  assert.match(rows[0].commandOutput, /^irqflag: pairs=\d+ checksum=0x[0-9a-f]{16}$/m);
  const [, hw, trap, bt, pv] = rows;
  assert.ok(trap.emulated > 100_000 && (trap.exitsByCause['illegal instruction'] ?? 0) === trap.emulated, 'trap: each privileged instruction traps and is emulated');
  assert.equal(bt.exitsByCause['illegal instruction'], undefined);
  assert.equal(pv.exitsByCause['illegal instruction'], undefined);
  assert.ok((pv.techniqueCounters.hypercalls ?? 0) > 0 && pv.exits < trap.exits / 5, 'pv: hypercalls instead of traps');
  assert.ok(hw.exits < 100, 'hw: only the SBI calls exit');
});
