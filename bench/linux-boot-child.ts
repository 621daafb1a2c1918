/**
 * Child process of the benchmark: boots the default Linux guest once and
 * prints one JSON line — boot-to-init time, peak RSS, guest pages touched.
 * A separate process gives a clean peak RSS for one VM.
 */
import { VirtMachine, DEFAULT_BIOS, INIT_MARKER } from '../src/machine/virt.js';
import { BufferCharBackend } from '../src/backends/buffer-char.js';
import { DEFAULT_APPEND } from '../src/guests/linux-guest.js';

const [kernel, initrd] = process.argv.slice(2);
const memory = 256 * 1048576;
const con = new BufferCharBackend();
const t0 = performance.now();
const m = new VirtMachine({ memory, harts: 1, bios: DEFAULT_BIOS, kernel, initrd, append: DEFAULT_APPEND, console: con });
const done = m.run();
await con.waitFor(INIT_MARKER, 600_000);
const bootMs = performance.now() - t0;
m.powerOff(0);
await done;
const touchedPages = m.ram.dirty.count();
process.stdout.write(JSON.stringify({
  bootMs, instructions: m.instructionsRetired(), maxRssBytes: process.resourceUsage().maxRSS * 1024,
  guestRamBytes: memory, touchedGuestBytes: touchedPages * 4096, decodedPages: m.decodeCache.size,
}) + '\n');
