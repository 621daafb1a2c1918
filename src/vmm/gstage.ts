/**
 * G-stage page tables (privileged spec §9.5: Sv39x4 and Sv48x4): the VMM's
 * map from a VM's guest-physical addresses to host-physical memory, walked
 * by the host hart's MMU for every guest access under the `hw` technique.
 *
 * The tables live in host memory allocated by the VMM. The root table is
 * 16 KiB and 16 KiB-aligned (two extra bits of guest-physical address,
 * §9.5.1). Every leaf has U set: G-stage accesses are checked as U-mode
 * accesses (§9.5.1). A and D are set up front, so the hardware never has to
 * update them.
 */
import type { HostMachine } from './host.js';
import { Pte } from '../cpu/riscv/pte.js';

export type GStageMode = 'sv39x4' | 'sv48x4';


const HGATP_MODE: Record<GStageMode, number> = { sv39x4: 8, sv48x4: 9 };
const LEVELS: Record<GStageMode, number> = { sv39x4: 3, sv48x4: 4 };
/** Leaf sizes: a 4 KiB page (level 0) or a 2 MiB megapage (level 1). */
export type GStagePageSize = 4096 | 0x200000;

export class GStageTables {
  /** Host-physical address of the root table. */
  readonly root: number;
  /** Host pages used by the tables (root counted as 4). */
  tablePages = 4;
  private readonly levels: number;
  private readonly owned: Array<{ base: number; size: number }> = [];

  constructor(private readonly host: HostMachine, readonly mode: GStageMode) {
    this.levels = LEVELS[mode];
    this.root = host.allocate(16384, 16384);
    this.owned.push({ base: this.root, size: 16384 });
  }

  /** The hgatp value (MODE, VMID, root PPN) as low and high words. */
  hgatp(vmid = 0): { lo: number; hi: number } {
    const ppn = this.root / 4096;
    const v = BigInt(HGATP_MODE[this.mode]) << 60n | BigInt(vmid) << 44n | BigInt(ppn);
    return { lo: Number(v & 0xffffffffn) | 0, hi: Number(v >> 32n) | 0 };
  }

  /** Maps [gpa, gpa+size) to [hpa, hpa+size) read/write/execute, with leaves of `pageSize`. */
  map(gpa: number, hpa: number, size: number, pageSize: GStagePageSize = 4096): void {
    if (gpa % pageSize !== 0 || hpa % pageSize !== 0 || size % pageSize !== 0) {
      throw new RangeError(`G-stage mapping 0x${gpa.toString(16)}→0x${hpa.toString(16)}+${size} is not aligned to ${pageSize}`);
    }
    const leafLevel = pageSize === 4096 ? 0 : 1;
    for (let off = 0; off < size; off += pageSize) this.mapOne(gpa + off, hpa + off, leafLevel);
  }

  private mapOne(gpa: number, hpa: number, leafLevel: number): void {
    const ram = this.host.ram;
    let table = this.root;
    for (let level = this.levels - 1; ; level--) {
      const shift = 12 + 9 * level;
      // The root index has two extra bits (§9.5.1).
      const bits = level === this.levels - 1 ? 11 : 9;
      const index = Math.floor(gpa / 2 ** shift) % 2 ** bits;
      const at = table + index * 8;
      if (level === leafLevel) {
        ram.writeU64(at, (hpa / 4096) * 1024 + (Pte.V | Pte.R | Pte.W | Pte.X | Pte.U | Pte.A | Pte.D));
        return;
      }
      const pte = ram.readU64(at);
      if (pte % 2 === 0) {
        const next = this.host.allocate(4096);
        this.owned.push({ base: next, size: 4096 });
        this.tablePages++;
        ram.writeU64(at, (next / 4096) * 1024 + Pte.V);
        table = next;
      } else {
        table = Math.floor(pte / 1024) * 4096;
      }
    }
  }

  /** Returns the tables' memory to the host. */
  release(): void {
    for (const o of this.owned) this.host.release(o.base, o.size);
    this.owned.length = 0;
  }
}
