/**
 * The project's ISA test programs (guests/isa), each run on the virt board
 * with no firmware: a program reports pass (exit 0) or the failing check's
 * number through the sifive,test device, and prints details on the UART.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VirtMachine } from './virt.js';
import { BufferCharBackend } from '../backends/buffer-char.js';
import { buildGuestPrograms, haveCrossCompiler } from '../guests/guest-programs.js';

const skip = haveCrossCompiler() ? false : 'riscv64-unknown-elf-gcc is missing (apt-get install gcc-riscv64-unknown-elf)';
const programs = skip ? { isa: [] } : buildGuestPrograms();

test('the ISA test suite has programs for every area', { skip }, () => {
  const names = programs.isa.map((p) => p.name);
  for (const n of ['rv64i', 'rv64m', 'rv64a', 'rv64fd', 'rvc', 'zicsr', 'traps', 'mmu', 'pmp', 'hyp']) {
    assert.ok(names.includes(n), `missing ISA program ${n} (have ${names.join(', ')})`);
  }
});

// Each program on the default engine with 1 and 2 harts, and on the JIT translating every
// entry point at its first arrival (so the translator, not the interpreter, runs the checks).
const variants = [
  { harts: 1, jitThreshold: undefined, label: '1 hart' },
  { harts: 2, jitThreshold: undefined, label: '2 harts' },
  { harts: 1, jitThreshold: 1, jitBackend: 'wasm', label: '1 hart, JIT to WebAssembly at once' },
  { harts: 1, jitThreshold: 1, jitBackend: 'js', label: '1 hart, JIT to JavaScript at once' },
] as const;

for (const p of programs.isa) {
  for (const v of variants) {
    test(`ISA ${p.name} passes (${v.label})`, { skip, timeout: 180_000 }, async () => {
      const con = new BufferCharBackend();
      const cpu = v.jitThreshold === undefined ? undefined : 'jit';
      const m = new VirtMachine({ memory: 128 * 1048576, harts: v.harts, bios: null, kernel: p.elf, console: con, cpu, jitThreshold: v.jitThreshold, jitBackend: 'jitBackend' in v ? v.jitBackend : undefined });
      const timer = setTimeout(() => m.powerOff(124), 150_000);
      const code = await m.run();
      clearTimeout(timer);
      assert.equal(code, 0, `${p.name} failed with code ${code}; console:\n${con.output.slice(-3000)}`);
      assert.match(con.output, /PASS/);
      if (v.jitThreshold !== undefined) assert.ok((m.jit?.stats.translations ?? 0) > 0, 'the JIT translated nothing');
    });
  }
}

// The hypervisor program's guest-page faults and two-stage walks, as the hart's counters see them.
const hyp = programs.isa.find((p) => p.name === 'hyp');
test('ISA hyp takes its guest-page faults and walks guest page tables in two stages (counters)', { skip: skip || (hyp === undefined && 'no hyp program'), timeout: 180_000 }, async () => {
  const con = new BufferCharBackend();
  const m = new VirtMachine({ memory: 128 * 1048576, harts: 1, bios: null, kernel: (hyp as { elf: string }).elf, console: con });
  assert.equal(await m.run(), 0, con.output.slice(-3000));
  const h = m.harts[0];
  const byCause = h.stats.exceptionsByCause;
  // hyp.c: guest-page faults on fetch 1; on loads 6 (M, no-U leaf, HS, under a VS mapping, implicit walk, hlv.d); on stores 2.
  assert.deepEqual([byCause[20], byCause[21], byCause[23]], [1, 6, 2]);
  assert.equal(byCause[22], 6, 'one virtual-instruction exception per case');
  const t = h.mmu.stats();
  assert.equal(t.guestPageFaults, 9);
  assert.ok(t.walkMemoryRefsVs > 0 && t.walkMemoryRefsG > t.walkMemoryRefsVs, `VS refs ${t.walkMemoryRefsVs}, G refs ${t.walkMemoryRefsG}`);
});
