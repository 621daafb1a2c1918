import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { DEFAULT_BIOS } from '../machine/virt.js';
import { buildLinuxGuest } from '../guests/linux-guest.js';
import { CONFIGURATIONS, formatComparison, runComparison } from './compare.js';

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
