/** Formatting of a machine's counters for the terminal. */
import type { VirtMachine } from '../machine/virt.js';
import type { Vmm } from '../vmm/vmm.js';
import type { Vm } from '../vmm/vm.js';
import { EXCEPTION_NAMES, INTERRUPT_NAMES } from '../cpu/riscv/constants.js';

/** A multi-line report of every counter, ending with a newline. */
export function formatStats(m: VirtMachine, seconds: number): string {
  const lines: string[] = [];
  const instret = m.instructionsRetired();
  lines.push(`--- tsvisor statistics (${seconds.toFixed(2)} s wall) ---`);
  lines.push(`instructions retired: ${instret}  (${(instret / seconds / 1e6).toFixed(1)} MIPS)`);
  if (m.bootMarkerMs !== undefined) lines.push(`boot to init: ${(m.bootMarkerMs / 1000).toFixed(3)} s`);
  for (const h of m.harts) {
    const s = h.stats;
    const t = h.mmu.stats();
    lines.push(`hart ${h.id}: instret ${s.instret}, exceptions ${s.exceptions}, interrupts ${s.interrupts}, exits to the VMM ${s.vmExits}, wfi ${s.wfi}, mmio reads ${s.mmioReads}, writes ${s.mmioWrites}`);
    s.exceptionsByCause.forEach((n, c) => { if (n) lines.push(`  exception ${EXCEPTION_NAMES[c] ?? c}: ${n}`); });
    s.interruptsByCause.forEach((n, c) => { if (n) lines.push(`  interrupt ${INTERRUPT_NAMES[c] ?? c}: ${n}`); });
    const acc = t.tlbHits + t.tlbMisses;
    lines.push(`  tlb: hits ${t.tlbHits}, misses ${t.tlbMisses} (${acc ? ((100 * t.tlbHits) / acc).toFixed(2) : '0'}% hit), page walks ${t.pageWalks}, walk memory refs ${t.walkMemoryRefs}, flushes ${t.tlbFlushes}`);
    if (t.walkMemoryRefsG > 0 || t.guestPageFaults > 0) {
      lines.push(`  two-stage (H): VS-stage walk refs ${t.walkMemoryRefsVs}, G-stage walk refs ${t.walkMemoryRefsG}, guest-page faults ${t.guestPageFaults}`);
    }
  }
  const d = m.decodeCache.stats;
  lines.push(`decode cache: pages ${d.pagesDecoded}, instructions ${d.instructionsDecoded}, invalidations ${d.invalidations}, data writes to code pages ${d.dataWrites}`);
  if (m.jit === undefined) lines.push('engine: interpreter');
  else {
    const j = m.jit.snapshot();
    const perUs = j.translations ? (1000 * j.translateMs) / j.translations : 0;
    lines.push(`engine: jit (${m.jit.backend}, threshold ${m.jit.threshold}): translations ${j.translations} (${j.blocksTranslated} blocks, ${j.instructionsTranslated} instructions), ` +
      `${perUs.toFixed(0)} us each, ${j.translateMs.toFixed(0)} ms in all = ${((100 * j.translateMs) / 1000 / Math.max(seconds, 1e-9)).toFixed(1)}% of the run; ` +
      `cache hits ${j.cacheHits}, misses ${j.cacheMisses}, rejected entries ${j.rejected}, invalidated pages ${j.invalidations}`);
  }
  lines.push(`bus: unmapped reads ${m.bus.stats.unmappedReads}, unmapped writes ${m.bus.stats.unmappedWrites}`);
  lines.push(`board: slices ${m.stats.slices}, sleeps ${m.stats.sleeps} (${m.stats.sleptMs.toFixed(0)} ms)`);
  return lines.join('\n') + '\n';
}

/** The short report `tsvisor run` prints at exit: boot-to-init time and the main counters. */
export function formatSummary(m: VirtMachine, seconds: number): string {
  const instret = m.instructionsRetired();
  const t = m.totals();
  const boot = m.bootMarkerMs === undefined ? 'not reached' : `${(m.bootMarkerMs / 1000).toFixed(2)} s`;
  const engine = m.jit === undefined ? 'interpreter' : `jit to ${m.jit.backend}, ${m.jit.stats.translations} translations`;
  return `\ntsvisor: ran ${seconds.toFixed(2)} s (${engine}), ${instret} instructions (${(instret / Math.max(seconds, 1e-9) / 1e6).toFixed(1)} MIPS); ` +
    `boot to init: ${boot}; traps: ${t.exceptions} exceptions (${t.ecalls} ecalls), ${t.interrupts} interrupts; MMIO accesses: ${t.mmioAccesses}\n`;
}

/** A multi-line report of a VM's counters and its VMM's, ending with a newline. */
export function formatVmStats(vmm: Vmm, vm: Vm, seconds: number): string {
  const lines: string[] = [];
  const instret = vm.instructionsRetired();
  const exits = vm.exits();
  lines.push(`--- tsvisor statistics: ${vm.name}, technique ${vm.technique.name} (${seconds.toFixed(2)} s wall) ---`);
  lines.push(`instructions retired: ${instret}  (${(instret / seconds / 1e6).toFixed(1)} MIPS)`);
  if (vm.bootMarkerMs !== undefined) lines.push(`boot to init: ${(vm.bootMarkerMs / 1000).toFixed(3)} s`);
  lines.push(`exits to the VMM: ${exits.total}`);
  for (const [cause, n] of Object.entries(exits.byCause).sort((a, b) => b[1] - a[1])) lines.push(`  ${cause}: ${n}`);
  const sbi = vm.sbi.stats;
  lines.push(`SBI calls: ${sbi.calls} (${Object.entries(sbi.byExtension).map(([k, n]) => `${k} ${n}`).join(', ')}), unsupported ${sbi.unsupported}`);
  lines.push(`technique: ${Object.entries(vm.technique.counters()).map(([k, n]) => `${k} ${n}`).join(', ')}`);
  for (const v of vm.vcpus) {
    const s = v.stats;
    const t = v.hart.mmu.stats();
    const acc = t.tlbHits + t.tlbMisses;
    lines.push(`vCPU ${v.id}: instret ${v.hart.stats.instret}, exits ${s.exits}, device accesses ${s.mmio}, interrupts injected ${s.injected}, ` +
      `slices ${s.slices} (${Object.entries(s.slicesOn).map(([h, n]) => `host hart ${h}: ${n}`).join(', ')}), switches ${s.switches}`);
    lines.push(`  tlb: ${acc ? ((100 * t.tlbHits) / acc).toFixed(2) : '0'}% hit, page walks ${t.pageWalks}, walk memory refs ${t.walkMemoryRefs}` +
      (t.walkMemoryRefsG > 0 ? ` (VS-stage ${t.walkMemoryRefsVs}, G-stage ${t.walkMemoryRefsG})` : ''));
  }
  const jit = vmm.host.jit;
  if (jit !== undefined) {
    const j = jit.snapshot();
    lines.push(`engine: jit (${jit.backend}): translations ${j.translations}, ${j.translateMs.toFixed(0)} ms translating`);
  } else lines.push('engine: interpreter');
  const s = vmm.stats;
  lines.push(`scheduler: rounds ${s.rounds}, sleeps ${s.sleeps} (${s.sleptMs.toFixed(0)} ms); ` +
    s.hostHarts.map((h, i) => `host hart ${i}: slices ${h.slices}, switches ${h.switches}, idle rounds ${h.idleRounds}`).join('; '));
  lines.push(`host memory: ${(vmm.host.ram.size / 1048576).toFixed(0)} MiB, ${(vmm.host.freeBytes() / 1048576).toFixed(0)} MiB free`);
  return lines.join('\n') + '\n';
}

/** The short report `tsvisor run --virt MODE` prints at exit. */
export function formatVmSummary(vmm: Vmm, vm: Vm, seconds: number): string {
  const instret = vm.instructionsRetired();
  const boot = vm.bootMarkerMs === undefined ? 'not reached' : `${(vm.bootMarkerMs / 1000).toFixed(2)} s`;
  const engine = vmm.host.jit === undefined ? 'interpreter' : `jit to ${vmm.host.jit.backend}`;
  const exits = vm.exits();
  const top = Object.entries(exits.byCause).sort((a, b) => b[1] - a[1]).slice(0, 4).map(([k, n]) => `${k} ${n}`).join(', ');
  return `\ntsvisor: ${vm.name} under ${vm.technique.name} ran ${seconds.toFixed(2)} s (${engine}), ${instret} instructions ` +
    `(${(instret / Math.max(seconds, 1e-9) / 1e6).toFixed(1)} MIPS); boot to init: ${boot}; exits to the VMM: ${exits.total} (${top}); SBI calls: ${vm.sbi.stats.calls}\n`;
}
