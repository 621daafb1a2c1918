/** Formatting of a machine's counters for the terminal. */
import type { VirtMachine } from '../machine/virt.js';
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
