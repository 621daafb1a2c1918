/**
 * Shadow page tables: the VMM's own page tables that map guest-virtual
 * addresses straight to host memory, built from the guest's page tables
 * (guest-virtual → guest-physical) composed with the VM's RAM placement
 * (guest-physical → host-physical). The host hart walks only these — one
 * stage, Sv39 or Sv48 — while the guest's own tables are read by the VMM in
 * software.
 *
 * They are filled lazily: a shadow entry is written when the hart faults on
 * a page the shadow does not map yet (a "hidden" page fault the guest never
 * sees). A guest page fault — one the guest's tables also have — is
 * reflected to the guest. Coherence follows the architecture's own rule
 * (privileged spec §4.2.1): a guest must execute SFENCE.VMA after changing a
 * page-table entry before the change is sure to take effect, and under the
 * deprivileged techniques SFENCE.VMA and satp writes reach the VMM (as traps,
 * inline calls or hypercalls), which drops the affected shadow entries then.
 * Entries that go from invalid to valid need no fence: the shadow never
 * caches a missing translation.
 *
 * The guest kernel runs in host U-mode, so every shadow entry has U set. The
 * guest's own U bit is enforced by keeping separate shadows ("views") for
 * the guest in S-mode, in S-mode with sstatus.SUM set, and in U-mode.
 */
import type { HostMachine } from './host.js';
import type { RamWindow } from '../memory/ram-window.js';
import { Access, Cause } from '../cpu/riscv/constants.js';
import { Pte, accessedBits, leafAllows, nonLeafReserved, privilegeAllows, pteInvalid, ptePpn } from '../cpu/riscv/pte.js';

/** Which shadow the hart uses: by the guest's privilege and sstatus.SUM. */
export const enum View {
  Kernel = 0,
  KernelSum = 1,
  User = 2,
}

/** satp modes (privileged spec §4.1.11). */
export const enum AtpMode {
  Bare = 0,
  Sv39 = 8,
  Sv48 = 9,
}

export type AccessKind = 'read' | 'write' | 'execute';
const ACCESS: Record<AccessKind, Access> = { read: Access.Read, write: Access.Write, execute: Access.Execute };

/** What a fill found. */
export type FillResult =
  | { kind: 'filled' }
  /** The guest's own tables fault: reflect this page fault (or access fault) to the guest. */
  | { kind: 'fault'; cause: number }
  /** The guest maps the page to guest-physical `gpa`, which is no RAM: a device access to emulate. */
  | { kind: 'mmio'; gpa: number };

export interface ShadowStats {
  /** Shadow entries written on hidden page faults. */
  fills: number;
  /** Page faults the guest's own tables have (reflected). */
  guestFaults: number;
  /** Whole-shadow flushes (SFENCE.VMA without an address, satp writes, pool exhaustion) and single-page ones. */
  flushes: number;
  pageFlushes: number;
  /** Guest page-table walks done by the VMM in software, and the guest memory references they made. */
  guestWalks: number;
  guestWalkRefs: number;
  /** Shadow table pages in use now, and the most ever. */
  tablePages: number;
  peakTablePages: number;
}

/** One guest address space (a guest satp value) and its shadows. */
interface Context {
  mode: AtpMode;
  /** Guest-physical address of the guest's root table (0 in Bare mode). */
  root: number;
  /** Host-physical root of each view's shadow, once made. */
  views: Array<number | undefined>;
  /** Every table page of this context's shadows. */
  pages: number[];
  /**
   * The guest superpages the shadows hold 4 KiB pieces of, as "level:number":
   * SFENCE.VMA of any address inside one must drop all its pieces.
   */
  superpages: Set<string>;
  lastUsed: number;
}

const PAGE = 4096;
/** The guest address spaces whose shadows are kept at once. */
const MAX_CONTEXTS = 16;

export class ShadowMmu {
  readonly stats: ShadowStats = { fills: 0, guestFaults: 0, flushes: 0, pageFlushes: 0, guestWalks: 0, guestWalkRefs: 0, tablePages: 0, peakTablePages: 0 };
  /** Bumped whenever shadow roots may have been freed: harts must reload their satp. */
  generation = 0;
  private readonly pool: number;
  private readonly freePages: number[] = [];
  private readonly contexts = new Map<string, Context>();
  private clock = 0;

  /**
   * @param host where the shadow tables live
   * @param memory the VM's RAM (guest-physical → host-physical)
   * @param isDevice whether a guest-physical address outside RAM belongs to a device
   * @param poolPages host pages set aside for shadow tables
   */
  constructor(private readonly host: HostMachine, private readonly memory: RamWindow,
    private readonly isDevice: (gpa: number) => boolean, readonly poolPages = 4096) {
    this.pool = host.allocate(poolPages * PAGE);
    for (let i = poolPages - 1; i >= 0; i--) this.freePages.push(this.pool + i * PAGE);
  }

  /** Returns the pool to the host. */
  release(): void {
    this.host.release(this.pool, this.poolPages * PAGE);
    this.contexts.clear();
    this.freePages.length = 0;
  }

  /**
   * The host satp value (mode and root PPN) that makes the hart see guest
   * address space (mode, root) through `view`, creating its shadow root if needed.
   */
  hostSatp(mode: AtpMode, root: number, view: View): bigint {
    if (this.freePages.length === 0) this.flushAll(); // the pool is spent: start over, as a TLB evicts
    const c = this.context(mode, root);
    let r = c.views[view];
    if (r === undefined) {
      r = this.allocPage(c);
      c.views[view] = r;
    }
    const hostMode = mode === AtpMode.Sv48 ? AtpMode.Sv48 : AtpMode.Sv39;
    return BigInt(hostMode) << 60n | BigInt(r / PAGE);
  }

  private context(mode: AtpMode, root: number): Context {
    const key = `${mode}:${root}`;
    let c = this.contexts.get(key);
    if (c === undefined) {
      if (this.contexts.size >= MAX_CONTEXTS) this.evictOldest();
      c = { mode, root, views: [], pages: [], superpages: new Set(), lastUsed: 0 };
      this.contexts.set(key, c);
    }
    c.lastUsed = ++this.clock;
    return c;
  }

  private evictOldest(): void {
    let oldest: [string, Context] | undefined;
    for (const e of this.contexts) if (oldest === undefined || e[1].lastUsed < oldest[1].lastUsed) oldest = e;
    if (oldest === undefined) return;
    this.freeContext(oldest[1]);
    this.contexts.delete(oldest[0]);
    this.generation++;
  }

  private freeContext(c: Context): void {
    for (const p of c.pages) this.freePages.push(p);
    this.stats.tablePages -= c.pages.length;
    c.pages.length = 0;
    c.views.length = 0;
    c.superpages.clear();
  }

  private allocPage(c: Context): number {
    const p = this.freePages.pop();
    if (p === undefined) throw new Error('shadow page pool exhausted');
    this.host.zero(p, PAGE);
    c.pages.push(p);
    this.stats.tablePages++;
    this.stats.peakTablePages = Math.max(this.stats.peakTablePages, this.stats.tablePages);
    return p;
  }

  /** Drops every shadow (SFENCE.VMA x0, x0). Harts must reload their satp ({@link generation}). */
  flushAll(): void {
    for (const c of this.contexts.values()) this.freeContext(c);
    this.contexts.clear();
    this.stats.flushes++;
    this.generation++;
  }

  /**
   * Drops the shadow entries for the page holding `va` in every address
   * space and view (SFENCE.VMA rs1) — all of them when the guest mapped it
   * with a superpage, since the shadow holds it as 4 KiB pieces.
   */
  flushPage(va: number): void {
    this.stats.pageFlushes++;
    for (const c of this.contexts.values()) {
      const levels = c.mode === AtpMode.Sv48 ? 4 : 3;
      let at = 0;
      for (let level = levels - 1; level > 0 && at === 0; level--) {
        const key = superpageKey(va, level);
        if (c.superpages.delete(key)) at = level;
      }
      for (const root of c.views) if (root !== undefined) this.clearEntry(root, levels, va, at);
    }
  }

  /** Clears the shadow entry for `va` at `level` (0: the 4 KiB leaf; above: the table holding a superpage's pieces). */
  private clearEntry(root: number, levels: number, va: number, level: number): void {
    const ram = this.host.ram;
    let table: number = root;
    for (let l = levels - 1; l >= level; l--) {
      const at = table + vpn(va, l) * 8;
      const pte = ram.readU32(at);
      if ((pte & Pte.V) === 0) return;
      if (l === level) { ram.writeU64(at, 0); return; }
      table = ptePpn(ram.readU32(at), ram.readU32(at + 4)) * PAGE;
    }
  }

  /**
   * Handles a hidden page fault at guest-virtual `va`: walks the guest's
   * tables as the hardware would for the guest (setting A and D), and
   * installs the shadow entry when the guest allows the access.
   *
   * @param sum sstatus.SUM, @param mxr sstatus.MXR of the guest
   */
  fill(mode: AtpMode, root: number, view: View, va: number, access: AccessKind, sum: boolean, mxr: boolean): FillResult {
    const pageFault = access === 'execute' ? Cause.FetchPageFault : access === 'read' ? Cause.LoadPageFault : Cause.StorePageFault;
    const accessFault = access === 'execute' ? Cause.FetchAccess : access === 'read' ? Cause.LoadAccess : Cause.StoreAccess;
    const fault = (cause: number): FillResult => { this.stats.guestFaults++; return { kind: 'fault', cause }; };
    let gpa: number;
    let perms: number;
    // The level of the guest's leaf (0: a 4 KiB page; above: a superpage).
    let level = 0;
    if (mode === AtpMode.Bare) {
      // No guest translation: guest-virtual is guest-physical, every access allowed (Sv39 shadow reaches 2^38).
      if (va < 0 || va >= 2 ** 38) return fault(accessFault);
      gpa = va - (va % PAGE);
      perms = Pte.R | Pte.W | Pte.X;
    } else {
      const w = this.walk(mode, root, va);
      if (w === undefined) return fault(pageFault);
      if ('access' in w) return fault(accessFault);
      const { pte, at } = w;
      level = w.level;
      // The guest's own permission checks for its privilege (§4.3.1), as its hart would make them.
      const kind = ACCESS[access];
      if (!privilegeAllows(pte, kind, view === View.User, sum) || !leafAllows(pte, kind, mxr)) return fault(pageFault);
      const readable = leafAllows(pte, Access.Read, mxr);
      // A and D as the hardware sets them (§4.3.1 step 7).
      const ad = accessedBits(kind);
      if ((pte & ad) !== ad) this.memory.writeU32(at, (pte | ad) >>> 0);
      const updated = pte | ad;
      // The page inside a superpage: the low VPN bits come from the address (§4.3.2 step 8).
      const span = 2 ** (9 * level);
      gpa = w.ppnBase * PAGE + (((Math.floor(va / PAGE) % span) + span) % span) * PAGE;
      perms = (readable ? Pte.R : 0) | ((updated & Pte.D) !== 0 ? (updated & Pte.W) : 0) |
        (view === View.KernelSum && (pte & Pte.U) !== 0 ? 0 : (pte & Pte.X));
    }
    if (!this.memory.contains(gpa, PAGE)) {
      const at = gpa + (((va % PAGE) + PAGE) % PAGE);
      return this.isDevice(at) ? { kind: 'mmio', gpa: at } : fault(accessFault);
    }
    this.install(mode, root, view, va, this.memory.toHost(gpa, PAGE), perms);
    if (level > 0) this.context(mode, root).superpages.add(superpageKey(va, level));
    this.stats.fills++;
    return { kind: 'filled' };
  }

  /**
   * Walks the guest's tables for `va` (§4.3.2). Returns the leaf, undefined
   * for a page fault, or `{ access }` when a table lies outside guest RAM.
   */
  private walk(mode: AtpMode, root: number, va: number):
    { pte: number; at: number; level: number; ppnBase: number } | { access: true } | undefined {
    const levels = mode === AtpMode.Sv48 ? 4 : 3;
    const bits = 12 + 9 * levels;
    // Canonical: the bits above the top VPN equal its top bit.
    if (va >= 2 ** (bits - 1) || va < -(2 ** (bits - 1))) return undefined;
    this.stats.guestWalks++;
    let leaf: { pte: number; at: number; level: number; ppnBase: number } | undefined;
    const inRam = walkGuestTables(this.memory, mode, root, va, (at, lo, hi, level) => {
      this.stats.guestWalkRefs++;
      if (pteInvalid(lo, hi)) return false;
      const ppn = ptePpn(lo, hi);
      if ((lo & (Pte.R | Pte.X)) !== 0) {
        // A misaligned superpage is a page fault.
        if (ppn % 2 ** (9 * level) === 0) leaf = { pte: lo, at, level, ppnBase: ppn };
        return false;
      }
      return !nonLeafReserved(lo);
    });
    return inRam ? leaf : { access: true };
  }

  /** Writes the shadow leaf va → hpa (4 KiB) with `perms`, making the tables on the way. */
  private install(mode: AtpMode, root: number, view: View, va: number, hpa: number, perms: number): void {
    const levels = mode === AtpMode.Sv48 ? 4 : 3;
    // Room for a whole path first, so no flush can happen half-way down.
    if (this.freePages.length < levels) this.flushAll();
    const c = this.context(mode, root);
    const ram = this.host.ram;
    let table: number = c.views[view] ?? (c.views[view] = this.allocPage(c));
    for (let level = levels - 1; level > 0; level--) {
      const at: number = table + vpn(va, level) * 8;
      const pte = ram.readU32(at);
      if ((pte & Pte.V) !== 0) { table = ptePpn(pte, ram.readU32(at + 4)) * PAGE; continue; }
      const next = this.allocPage(c);
      ram.writeU64(at, (next / PAGE) * 1024 + Pte.V);
      table = next;
    }
    ram.writeU64(table + vpn(va, 0) * 8, (hpa / PAGE) * 1024 + (perms | Pte.V | Pte.U | Pte.A | Pte.D));
  }
}

/** Names the superpage of `level` holding `va`. */
function superpageKey(va: number, level: number): string {
  return `${level}:${Math.floor(va / 2 ** (12 + 9 * level))}`;
}

/**
 * Visits the entries a walk of guest-virtual `va` reads in the guest's
 * tables (privileged spec §4.3.2), from the root down: `visit` gets each
 * entry's guest-physical address, its two words and its level, and returns
 * whether to go on. The walk also ends at an invalid entry or a leaf.
 * Returns false when a table lies outside guest RAM.
 */
export function walkGuestTables(mem: RamWindow, mode: AtpMode, root: number, va: number,
  visit: (at: number, lo: number, hi: number, level: number) => boolean): boolean {
  let table = root;
  for (let level = mode === AtpMode.Sv48 ? 3 : 2; level >= 0; level--) {
    const at = table + vpn(va, level) * 8;
    if (!mem.contains(at, 8)) return false;
    const lo = mem.readU32(at), hi = mem.readU32(at + 4);
    if (!visit(at, lo, hi, level) || (lo & Pte.V) === 0 || (lo & (Pte.R | Pte.W | Pte.X)) !== 0) return true;
    table = ptePpn(lo, hi) * 4096;
  }
  return true;
}

/** VPN[level] of `va` (9 bits each, from bit 12). */
function vpn(va: number, level: number): number {
  const v = Math.floor(va / 2 ** (12 + 9 * level)) % 512;
  return v < 0 ? v + 512 : v;
}

