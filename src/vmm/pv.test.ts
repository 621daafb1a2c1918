/**
 * The `pv` technique end to end, on the pvkernel workload (guests/pvkernel):
 * its pv build under `pv` prints exactly what its native build prints under
 * `trap`, `bt` and `hw` (with the VMM in OpenSBI's place), and the counters
 * show why pv exists — no privileged instruction traps, page-table updates
 * come in batches, and masking interrupts costs no exit. pvcheck, a guest of
 * its own, holds the technique to docs/pv-abi.md: garbage hypercall
 * arguments get the SBI errors the ABI names and the VM runs on; the
 * translations stay exact without fences.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BufferCharBackend } from '../backends/buffer-char.js';
import { haveCrossCompiler } from '../guests/guest-programs.js';
import { buildPvKernel, pvKernelConfig, pvKernelExpectedLines, pvKernelLines, type PvKernelBuild } from '../guests/pvkernel.js';
import { Vmm } from './vmm.js';
import type { Vm } from './vm.js';
import type { TechniqueName } from './techniques/technique.js';

const skip = haveCrossCompiler() ? false : 'riscv64-unknown-elf-gcc is missing (apt-get install gcc-riscv64-unknown-elf)';
const build = skip ? undefined : buildPvKernel();
const MiB = 1048576;

/** One guest run: what it printed, how it ended, and the VMM's counters. */
interface Run {
  output: string;
  exitCode: number | undefined;
  vm: Vm;
  seconds: number;
  exits: Record<string, number>;
  counters: Record<string, number>;
}

async function runGuest(kernel: string, technique: TechniqueName): Promise<Run> {
  const vmm = new Vmm({ memory: 192 * MiB, harts: 1 });
  const con = new BufferCharBackend();
  if (process.env.TSVISOR_ECHO) con.echo = (s) => process.stderr.write(s);
  const vm = vmm.createVm({ memory: 128 * MiB, vcpus: 1, kernel, console: con }, technique);
  const t0 = performance.now();
  const timer = setTimeout(() => vmm.powerOff(124), 60_000);
  await vmm.run();
  clearTimeout(timer);
  const seconds = (performance.now() - t0) / 1000;
  vmm.close();
  assert.equal(vm.internalError, undefined, `tsvisor failed under ${technique}`);
  return { output: con.output, exitCode: vm.exitCode, vm, seconds, exits: vm.exits().byCause, counters: vm.technique.counters() };
}

// Each configuration runs once; the tests share the runs.
const runs = new Map<string, Promise<Run>>();
function run(variant: 'native' | 'pv' | 'check', technique: TechniqueName): Promise<Run> {
  const key = `${variant}/${technique}`;
  let r = runs.get(key);
  if (r === undefined) {
    const b = build as PvKernelBuild;
    r = runGuest(variant === 'native' ? b.native : variant === 'pv' ? b.pv : b.check, technique);
    runs.set(key, r);
  }
  return r;
}

function assertPrinted(r: Run, variant: 'native' | 'pv'): void {
  const lines = pvKernelLines(r.output);
  assert.ok(!lines.some((l) => l.includes('FAIL')), `the kernel failed:\n${r.output.slice(-3000)}`);
  assert.deepEqual(lines, pvKernelExpectedLines(variant), r.output.slice(-3000));
  assert.equal(r.exitCode, 0);
}

/** The phase lines without the first one, which names the build. */
const phases = (r: Run): string[] => pvKernelLines(r.output).slice(1);

function summary(name: string, r: Run): string {
  const hypercalls = r.counters.hypercalls === undefined ? '' : `, ${r.counters.hypercalls} hypercalls`;
  return `${name}: ${r.seconds.toFixed(2)} s, ${r.vm.exits().total} exits ${JSON.stringify(r.exits)}${hypercalls}`;
}

test('pv kernel under pv prints exactly what the native kernel prints', { skip, timeout: 120_000 }, async () => {
  const pv = await run('pv', 'pv');
  assertPrinted(pv, 'pv');
  assert.deepEqual(phases(pv), phases(await run('native', 'trap')));
});

for (const technique of ['trap', 'bt', 'hw'] as const) {
  test(`native kernel under ${technique} (the VMM plays OpenSBI) prints the same lines`, { skip, timeout: 120_000 }, async () => {
    assertPrinted(await run('native', technique), 'native');
  });
}

test('counters: trap exits on every privileged instruction; bt never; pv makes few hypercalls instead', { skip, timeout: 120_000 }, async (t) => {
  const c = pvKernelConfig();
  const trap = await run('native', 'trap'), bt = await run('native', 'bt'), pv = await run('pv', 'pv');
  t.diagnostic(summary('native under trap', trap));
  t.diagnostic(summary('native under bt', bt));
  t.diagnostic(summary('pv under pv', pv));
  t.diagnostic(`pv hypercalls: ${JSON.stringify(Object.fromEntries(Object.entries(pv.counters).filter(([k]) => k.startsWith('hypercall '))))}`);

  // trap: the irqflag phase alone is 2 * IRQ_PAIRS csrs/csrc sstatus, each an exit; then every trap's CSR accesses and sret.
  const illegal = trap.exits['illegal instruction'] ?? 0;
  assert.ok(illegal >= 2 * c.irqPairs, `trap: ${illegal} illegal-instruction exits, want at least ${2 * c.irqPairs}`);
  assert.ok(trap.counters['emulated csr sstatus'] >= 2 * c.irqPairs);
  assert.ok(trap.counters['emulated sfence.vma'] >= c.ptPages * c.ptRounds, 'trap: an sfence.vma per page-table update');

  // bt: the same instructions are emulated in place, without an exit.
  assert.equal(bt.exits['illegal instruction'], undefined);
  assert.ok(bt.counters['emulated csr sstatus'] >= 2 * c.irqPairs, 'bt: the irqflag phase emulated in place');

  // pv: no privileged instruction at all; the irq flag is a store, page tables go in batches.
  assert.equal(pv.exits['illegal instruction'], undefined, 'pv: no illegal-instruction exits');
  assert.equal(Object.keys(pv.counters).filter((k) => k.startsWith('emulated')).length, 0, 'pv: nothing emulated');
  const hypercalls = pv.counters.hypercalls;
  assert.ok(hypercalls * 10 < illegal, `pv: ${hypercalls} hypercalls, far fewer than trap's ${illegal} privileged-instruction exits`);
  assert.ok(pv.vm.exits().total * 5 < trap.vm.exits().total, 'pv: far fewer exits in all');
  // One TRAP_RETURN per trap delivered (system calls, page faults, interrupts), and no more.
  assert.equal(pv.counters['hypercall TRAP_RETURN'], pv.counters.reflected + pv.counters.interruptsDelivered);
  // Interrupts are unmasked by a store: IRQ_ENABLE only when one was held back (once per timer tick at most).
  assert.ok((pv.counters['hypercall IRQ_ENABLE'] ?? 0) <= c.timerTicks, 'pv: the irqflag phase makes no hypercall');
  // Page tables: one MMU_UPDATE per batch (a round's maps, its unmaps; one per demand-paging fault), no fence per page.
  const batches = 1 + 2 * c.ptRounds + c.faultPages + Math.ceil(c.faultPages / 512);
  assert.equal(pv.counters['hypercall MMU_UPDATE'], batches);
  assert.equal(pv.counters['hypercall FLUSH_TLB'] ?? 0, 0, 'pv: no flush needed');
  assert.ok(pv.counters.mmuUpdateEntries >= 2 * c.ptPages * c.ptRounds);
  assert.equal(pv.counters.mmuUpdateFullFlushes, 0, 'pv: every update knew its va: no full flush');
});

/** What pvcheck.c prints under a VMM that follows docs/pv-abi.md. */
const PVCHECK = [
  'pvcheck: start',
  'SET_SHARED misaligned: error=-3 value=0',
  'SET_SHARED below RAM: error=-5 value=0',
  'SET_SHARED at the end of RAM: error=-5 value=0',
  'SET_SHARED beyond 2^53: error=-5 value=0',
  'TRAP_RETURN without a shared page: error=-3 value=0',
  'SET_TRAP_VECTOR misaligned: error=-3 value=0',
  'unknown function: error=-2 value=0',
  'VERSION: error=0 value=1',
  'MMU_UPDATE list below RAM: error=-5 value=0',
  'MMU_UPDATE list across the end of RAM: error=-5 value=0',
  'MMU_UPDATE list beyond 2^53: error=-5 value=0',
  'MMU_UPDATE 513 entries: error=-3 value=0',
  'MMU_UPDATE no entries: error=0 value=0',
  'MMU_UPDATE misaligned pte: error=-5 value=0',
  'MMU_UPDATE pte outside RAM: error=-5 value=0',
  'MMU_UPDATE leaf outside RAM: error=-5 value=0',
  'MMU_UPDATE leaf at the end of RAM: error=-5 value=0',
  'MMU_UPDATE leaf with every frame bit set: error=-5 value=0',
  'failed batches wrote nothing: yes',
  'SET_PTBR mode 5: error=-3 value=0',
  'SET_PTBR root outside RAM: error=-5 value=0',
  'TRAP_RETURN from_kernel=2: error=-3 value=0',
  'FLUSH_TLB at a garbage address: error=0 value=0',
  'IRQ_ENABLE with nothing pending: error=0 value=0',
  'superpage replaced: exact',
  'table replaced: exact',
  'plain store + FLUSH_TLB: visible',
  'unmapped page: read 0xffffffffffffffff, traps=1 cause=13 tval=0x40200000 from_kernel=1',
  'update of a space that is not live: exact after SET_PTBR',
  'privileged instruction: traps=1 cause=2 tval=0x10500073 from_kernel=1, a0/a1/a6/a7 kept',
  'interrupt in user mode: resumed=1 cause=0x8000000000000005 from_kernel=0',
  'pvcheck: done',
];

test('pvcheck: garbage hypercall arguments get SBI errors and the VM runs on; translations stay exact', { skip, timeout: 60_000 }, async () => {
  const r = await run('check', 'pv');
  const lines = r.output.replace(/\r/g, '').split('\n').filter((l) => l !== '');
  assert.deepEqual(lines, PVCHECK, r.output);
  assert.equal(r.exitCode, 0);
  assert.equal(r.counters.undeliverableTraps, 0);
});

test('a kernel with no TSVI port runs under pv as under trap (the native kernel: privileged instructions emulated)', { skip, timeout: 60_000 }, async () => {
  const r = await runGuest((build as PvKernelBuild).native, 'pv');
  assert.deepEqual(pvKernelLines(r.output), pvKernelExpectedLines('native'));
  assert.equal(r.exitCode, 0);
  assert.ok((r.exits['illegal instruction'] ?? 0) > 100_000, 'its privileged instructions trap and are emulated');
  assert.equal(r.counters.hypercalls, 0);
});

test('the pv kernel needs TSVI: under trap it says so and stops', { skip, timeout: 60_000 }, async () => {
  const r = await runGuest((build as PvKernelBuild).pv, 'trap');
  assert.match(r.output, /pvkernel: FAIL: no TSVI extension/);
  assert.equal(r.exitCode, 1);
});
