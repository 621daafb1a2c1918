/**
 * Child process of the benchmark: boots the default Linux guest once (on the
 * engine TSVISOR_CPU names) and
 * prints one JSON line — boot-to-init time, peak RSS, guest pages touched,
 * and where the host memory goes at the init marker ({@link MemoryBreakdown}).
 * A separate process gives a clean peak RSS for one VM.
 */
import { readFileSync } from 'node:fs';
import { getHeapSpaceStatistics } from 'node:v8';
import { VirtMachine, DEFAULT_BIOS, INIT_MARKER } from '../src/machine/virt.js';
import { BufferCharBackend } from '../src/backends/buffer-char.js';
import { DEFAULT_APPEND } from '../src/guests/linux-guest.js';
import { HOST_STATE_BYTES } from '../src/memory/guest-memory.js';
import type { InlineMemory } from '../src/cpu/riscv/jit/wasm.js';

/** Bytes of one decoded page: two Int32Array(2048) (src/cpu/riscv/decode-cache.ts). */
const DECODED_PAGE_BYTES = 2 * 2048 * 4;

/** Host memory of one VM, in bytes, sampled at the init marker. */
export interface MemoryBreakdown {
  /** RSS of this process right after its imports, before the machine exists (Node itself). */
  nodeBaselineRss: number;
  rss: number;
  /** Resident pages of the guest RAM's mapping (from /proc/self/smaps; null elsewhere). */
  guestRamResident: number | null;
  /** RSS by kind of mapping (null where /proc/self/smaps is missing). */
  smaps: SmapsSummary | null;
  /** V8 heap: committed (heapTotal), live objects (heapUsed), and resident per space. */
  heapTotal: number;
  heapUsed: number;
  heapSpacesResident: Record<string, number>;
  /** Memory of ArrayBuffers and Buffers outside the V8 heap, guest RAM's full size included. */
  arrayBuffers: number;
  /** `arrayBuffers` minus the guest RAM's size: decode cache, bitmaps, image buffers not yet collected. */
  arrayBuffersBesideGuestRam: number;
  /** Decoded pages held by the decode cache and their size. */
  decodedPages: number;
  decodeCacheBytes: number;
  /** rss − guest RAM resident − resident V8 heap − ArrayBuffers beside guest RAM: Node's binary, libraries, malloc, stacks. */
  unaccounted: number | null;
}

/** Resident bytes by kind of mapping (Linux /proc/self/smaps), and guest RAM's own mapping. */
interface SmapsSummary {
  /**
   * The mapping just over the guest RAM's size (malloc gives a large calloc its own
   * mmap; V8's reservations are far larger); null when the kernel merged it with a neighbour.
   */
  guestRam: number | null;
  /** Mapped files: the node binary, shared libraries, ICU data. */
  files: number;
  /** The brk heap (small malloc allocations). */
  brkHeap: number;
  /** Other anonymous memory: V8's heap pages, large malloc blocks, thread stacks. */
  anonymous: number;
}

/** How much larger than guest RAM its mapping may be: the host state area after RAM (see GuestRam). */
const GUEST_MAPPING_SLACK = HOST_STATE_BYTES + (32 << 20);

function readSmaps(guestRamSize: number): SmapsSummary | null {
  let smaps: string;
  try {
    smaps = readFileSync('/proc/self/smaps', 'utf8');
  } catch {
    return null;
  }
  const sum = { guestRam: 0, files: 0, brkHeap: 0, anonymous: 0 };
  let kind: keyof typeof sum = 'anonymous';
  let guestFound = false;
  for (const line of smaps.split('\n')) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head !== null) {
      const size = parseInt(head[2], 16) - parseInt(head[1], 16);
      const name = head[3];
      // Guest RAM is one anonymous mapping just over its size (a WebAssembly memory adds the host state area).
      if (!guestFound && name === '' && size >= guestRamSize && size <= guestRamSize + GUEST_MAPPING_SLACK) { kind = 'guestRam'; guestFound = true; }
      else if (name.startsWith('/')) kind = 'files';
      else if (name === '[heap]') kind = 'brkHeap';
      else kind = 'anonymous';
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss !== null) sum[kind] += Number(rss[1]) * 1024;
  }
  return { ...sum, guestRam: guestFound ? sum.guestRam : null };
}

const [kernel, initrd] = process.argv.slice(2);
const memory = 256 * 1048576;
const nodeBaselineRss = process.memoryUsage().rss;
const con = new BufferCharBackend();
const t0 = performance.now();
// TSVISOR_JIT_THRESHOLD overrides the JIT's translation threshold (for tuning it).
const threshold = process.env.TSVISOR_JIT_THRESHOLD;
const m = new VirtMachine({
  memory, harts: 1, bios: DEFAULT_BIOS, kernel, initrd, append: DEFAULT_APPEND, console: con,
  jitThreshold: threshold === undefined || threshold === '' ? undefined : Number(threshold),
});
// TSVISOR_JIT_BACKGROUND=0 compiles synchronously, TSVISOR_JIT_EAGER=0 keeps V8's lazy compilation,
// TSVISOR_JIT_INLINE=none|loops|all chooses where memory accesses are inlined, TSVISOR_JIT_TIER_UP sets
// the instructions after which a page is recompiled with them all inlined (for tuning the JIT).
const env = process.env;
m.jit?.configure({
  ...(env.TSVISOR_JIT_BACKGROUND === undefined ? {} : { background: env.TSVISOR_JIT_BACKGROUND !== '0' }),
  ...(env.TSVISOR_JIT_EAGER === undefined ? {} : { eager: env.TSVISOR_JIT_EAGER !== '0' }),
  ...(env.TSVISOR_JIT_INLINE === undefined ? {} : { inlineMemory: env.TSVISOR_JIT_INLINE as InlineMemory }),
  ...(env.TSVISOR_JIT_TIER_UP === undefined ? {} : { tierUpAt: Number(env.TSVISOR_JIT_TIER_UP) }),
});
const done = m.run();
await con.waitFor(INIT_MARKER, 600_000);
const bootMs = performance.now() - t0;

const mu = process.memoryUsage();
const smaps = readSmaps(memory);
const guestRamResident = smaps?.guestRam ?? null;
const heapSpacesResident: Record<string, number> = {};
let heapResident = 0;
for (const s of getHeapSpaceStatistics()) {
  heapSpacesResident[s.space_name] = s.physical_space_size;
  heapResident += s.physical_space_size;
}
// A WebAssembly memory is not counted among ArrayBuffers; a plain ArrayBuffer is.
const arrayBuffersBesideGuestRam = mu.arrayBuffers - (m.ram.wasmMemory === undefined ? memory : 0);
const breakdown: MemoryBreakdown = {
  nodeBaselineRss, rss: mu.rss, guestRamResident, smaps, heapTotal: mu.heapTotal, heapUsed: mu.heapUsed, heapSpacesResident,
  arrayBuffers: mu.arrayBuffers, arrayBuffersBesideGuestRam,
  decodedPages: m.decodeCache.size, decodeCacheBytes: m.decodeCache.size * DECODED_PAGE_BYTES,
  unaccounted: guestRamResident === null ? null : mu.rss - guestRamResident - heapResident - arrayBuffersBesideGuestRam,
};

m.powerOff(0);
await done;
const touchedPages = m.ram.dirty.count();
process.stdout.write(JSON.stringify({
  bootMs, instructions: m.instructionsRetired(), maxRssBytes: process.resourceUsage().maxRSS * 1024,
  guestRamBytes: memory, touchedGuestBytes: touchedPages * 4096, decodedPages: m.decodeCache.size,
  execArgv: process.execArgv, memory: breakdown, engine: m.jit === undefined ? 'interp' : 'jit', jit: m.jit?.snapshot() ?? null,
}) + '\n');
