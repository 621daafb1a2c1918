/**
 * The bench programs' phase lines: parsed and set side by side as `npm run
 * bench` does, printed by a program on the engine under test (their
 * instructions add up to what the hart retired), and printed alike by the
 * same source built for the host.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VirtMachine } from '../src/machine/virt.js';
import { BufferCharBackend } from '../src/backends/buffer-char.js';
import { buildGuestPrograms, haveCrossCompiler } from '../src/guests/guest-programs.js';
import { formatPhases, phaseRows, phasesOf, runNative } from './phases.js';

test('phase lines are parsed, with CR LF endings too, and other lines ignored', () => {
  const out = 'tsvisor bare-metal: x\r\nphase crc32: 1500 us, 1000 instructions\r\nphase hash: 20 us, 7 instructions\nphasey: 1 us\nx: checksum ok\n';
  assert.deepEqual(phasesOf(out), [
    { name: 'crc32', us: 1500, instructions: 1000 },
    { name: 'hash', us: 20, instructions: 7 },
  ]);
  assert.deepEqual(phasesOf('no phases here'), []);
});

test("phases are matched by name across engines; an engine that printed none shows n/a", () => {
  const interp = 'phase a: 10000 us, 500 instructions\nphase b: 4000 us, 100 instructions\n';
  const jit = 'phase b: 1000 us, 100 instructions\nphase a: 2000 us, 500 instructions\n';
  const rows = phaseRows('w', interp, jit, undefined, 'phase a: 1000 us, 0 instructions\n');
  assert.deepEqual(rows, [
    { workload: 'w', phase: 'a', instructions: 500, interpUs: 10000, jitUs: 2000, qemuUs: null, nativeUs: 1000 },
    { workload: 'w', phase: 'b', instructions: 100, interpUs: 4000, jitUs: 1000, qemuUs: null, nativeUs: null },
  ]);
  const table = formatPhases(rows).split('\n');
  assert.equal(table.length, 4);
  // w/a: 10 ms interpreted, 2 ms on the JIT (5x), 1 ms native (the JIT at 0.5x native); no QEMU.
  assert.match(table[2], /^w\/a\s+500\s+10\.0\s+2\.0\s+n\/a\s+1\.0\s+5\.000x\s+n\/a\s+0\.500x\s+n\/a$/);
  assert.match(table[3], /^w\/b\s+100\s+4\.0\s+1\.0\s+n\/a\s+n\/a\s+4\.000x\s+n\/a\s+n\/a\s+n\/a$/);
});

const skip = haveCrossCompiler() ? false : 'riscv64-unknown-elf-gcc is missing (apt-get install gcc-riscv64-unknown-elf)';

test('a bench program times its phases: their instructions add up to nearly all the hart retired', { skip, timeout: 120_000 }, async () => {
  const fp = buildGuestPrograms().bench.find((p) => p.name === 'fp');
  assert.ok(fp !== undefined, 'the fp bench program is built');
  const con = new BufferCharBackend();
  const m = new VirtMachine({ memory: 128 * 1048576, harts: 1, bios: null, kernel: fp.elf, console: con });
  assert.equal(await m.run(), 0, con.output.slice(-2000));
  const phases = phasesOf(con.output);
  assert.deepEqual(phases.map((p) => p.name), ['nbody', 'matmul']);
  const inPhases = phases.reduce((a, p) => a + p.instructions, 0);
  const retired = m.instructionsRetired();
  // Outside the phases: the start-up code, zeroing .bss, and printing the results.
  assert.ok(inPhases <= retired && inPhases > 0.99 * retired, `phases ${inPhases} of ${retired} instructions`);
  for (const p of phases) assert.ok(p.us > 0 && p.instructions > 1_000_000, `${p.name}: ${p.us} us, ${p.instructions} instructions`);
});

const noCc = spawnSync(process.env.CC ?? 'cc', ['--version']).status === 0 ? false : 'no host C compiler (cc)';

test('built for the host, a bench program prints the same phases (no instruction counts there)', { skip: noCc, timeout: 60_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsvisor-phases-'));
  try {
    const r = runNative('fp', dir);
    assert.ok(r !== null && r.ok, `the native fp build runs: ${r?.output ?? 'no build'}`);
    const phases = phasesOf(r.output);
    assert.deepEqual(phases.map((p) => p.name), ['nbody', 'matmul']);
    for (const p of phases) assert.equal(p.instructions, 0);
    assert.match(r.output, /fp: checksum 0x[0-9a-f]{16} \(expected 0x[0-9a-f]{16}\) ok/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('without a C compiler there is no native column, and no crash', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsvisor-phases-'));
  const saved = process.env.CC;
  try {
    process.env.CC = join(dir, 'no-such-cc');
    assert.equal(runNative('fp', dir), null);
  } finally {
    if (saved === undefined) delete process.env.CC; else process.env.CC = saved;
    rmSync(dir, { recursive: true, force: true });
  }
});
