/** Formatting of a machine's counters for the terminal. */
import type { VirtMachine } from '../machine/virt.js';

const CAUSES: Record<number, string> = {
  0: 'misaligned fetch', 1: 'fetch access', 2: 'illegal instruction', 3: 'breakpoint', 4: 'misaligned load',
  5: 'load access', 6: 'misaligned store', 7: 'store access', 8: 'ecall from U', 9: 'ecall from S',
  10: 'ecall from VS', 11: 'ecall from M', 12: 'fetch page fault', 13: 'load page fault', 15: 'store page fault',
  20: 'fetch guest-page fault', 21: 'load guest-page fault', 22: 'virtual instruction', 23: 'store guest-page fault',
};
const IRQS: Record<number, string> = {
  1: 'supervisor software', 2: 'VS software', 3: 'machine software', 5: 'supervisor timer', 6: 'VS timer', 7: 'machine timer',
  9: 'supervisor external', 10: 'VS external', 11: 'machine external',
};

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
    s.exceptionsByCause.forEach((n, c) => { if (n) lines.push(`  exception ${CAUSES[c] ?? c}: ${n}`); });
    s.interruptsByCause.forEach((n, c) => { if (n) lines.push(`  interrupt ${IRQS[c] ?? c}: ${n}`); });
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
  let exc = 0, irq = 0, ecalls = 0, mmio = 0;
  for (const h of m.harts) {
    exc += h.stats.exceptions; irq += h.stats.interrupts; ecalls += h.stats.ecalls;
    mmio += h.stats.mmioReads + h.stats.mmioWrites;
  }
  const boot = m.bootMarkerMs === undefined ? 'not reached' : `${(m.bootMarkerMs / 1000).toFixed(2)} s`;
  const engine = m.jit === undefined ? 'interpreter' : `jit to ${m.jit.backend}, ${m.jit.stats.translations} translations`;
  return `\ntsvisor: ran ${seconds.toFixed(2)} s (${engine}), ${instret} instructions (${(instret / Math.max(seconds, 1e-9) / 1e6).toFixed(1)} MIPS); ` +
    `boot to init: ${boot}; traps: ${exc} exceptions (${ecalls} ecalls), ${irq} interrupts; MMIO accesses: ${mmio}\n`;
}
