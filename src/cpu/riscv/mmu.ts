/**
 * Address translation for one hart: Sv39/Sv48 page walks (privileged spec
 * §4.3–4.5), the hypervisor extension's two-stage translation (§9.5: a
 * VS-stage on vsatp over a G-stage on hgatp, Sv39x4/Sv48x4), physical memory
 * protection (§3.7), and a software TLB.
 *
 * The TLB is direct-mapped and split by effective privilege and
 * virtualization mode (U, S, M, VU, VS) and access kind (read, write,
 * execute), so a hit needs no permission check: an
 * entry exists only where the access is allowed. Write entries are made only
 * once the PTE's D bit is set. Entries are 4 KiB even for superpages. Each
 * entry holds the page's offset in guest RAM (or -1 for I/O), which the
 * interpreter uses on its inline fast path. In the VU/VS contexts an entry
 * maps a guest virtual page straight to the host physical page (both stages
 * combined).
 *
 * Counters: TLB hits and misses, page walks, and page-walk memory references
 * (in total, and for two-stage walks per stage: a full Sv39-over-Sv39x4 walk
 * makes 3 VS-stage and 12 G-stage references).
 */
import { Access, Cause, Mstatus, MstatusHi, Priv } from './constants.js';
import type { Hart } from './hart.js';
import { r64 } from './int64.js';
import { Pte, accessedBits, leafAllows, nonLeafReserved, privilegeAllows, pteInvalid, ptePpn } from './pte.js';

/** Entries per TLB context. */
export const TLB_SIZE = 2048;
export const TLB_MASK = TLB_SIZE - 1;

/**
 * The TLB entry of address `va` within a context: the low bits of its page
 * number, from va's low 32 bits (`| 0` is va modulo 2^32 for any integral
 * double) — a double modulo would be a call to fmod on every lookup.
 */
function tlbIndex(va: number): number {
  return ((va | 0) >>> 12) & TLB_MASK;
}
const CONTEXTS = 15; // {U, S, M, VU, VS} × {R, W, X}
/** The U-mode contexts (read, write, fetch) come first. */
const USER_CONTEXTS = 3;
/** Where a saved user space keeps its tag words (after tags, physical addresses and RAM offsets; in units of n entries). */
const SAVED_TAG_WORDS = 3;
/** Int32 words of an entry in {@link Mmu.entryWords}: the page address (two words), the RAM offset, one unused. */
export const ENTRY_WORDS = 4;
/** The int32 word of an entry in {@link Mmu.entryWords} that holds its RAM offset (after the page address). */
export const ENTRY_RO_WORD = 2;
/** Its byte offset in the entry, for the JIT's loads. */
export const ENTRY_RAM_OFFSET = 4 * ENTRY_RO_WORD;
/** The {@link Mmu.entryWords} tag of an entry no address hits: the int64 2^63 - 1, whose low bits no masked address has. */
const NO_TAG_LO = -1, NO_TAG_HI = 0x7fffffff;
const EMPTY_ENTRY_WORDS = (() => {
  const w = new Int32Array(ENTRY_WORDS * CONTEXTS * TLB_SIZE);
  for (let i = 0; i < w.length; i += ENTRY_WORDS) { w[i] = NO_TAG_LO; w[i + 1] = NO_TAG_HI; }
  return w;
})();
const TWO32 = 4294967296;
const PA_LIMIT = 2 ** 56;

/** The U-mode TLB entries of an address space left by Mmu.switchUserSpace. */
interface SavedUserSpace {
  /** Tags, physical addresses, RAM offsets (n entries each), then tag words (2n), n = USER_CONTEXTS * TLB_SIZE. */
  entries: Float64Array;
  /** The indices of the entries that were valid when saved (the first `count`). */
  valid: Int32Array;
  count: number;
}

/** One active PMP region, precomputed from pmpcfg/pmpaddr. */
interface PmpRegion {
  start: number;
  end: number;
  /** R=1, W=2, X=4. */
  perm: number;
  locked: boolean;
}

/** Statistics of translation. */
export interface MmuStats {
  tlbHits: number;
  tlbMisses: number;
  pageWalks: number;
  walkMemoryRefs: number;
  /** References to VS-level page tables (two-stage walks). */
  walkMemoryRefsVs: number;
  /** References to G-stage page tables (including those translating VS-level table addresses). */
  walkMemoryRefsG: number;
  /** Guest-page faults raised. */
  guestPageFaults: number;
  pageFaults: number;
  tlbFlushes: number;
}

const ctxOf = (p: Priv, v: boolean): number => (v ? 3 + p : p === Priv.M ? 2 : p);
const faultCause = [Cause.LoadPageFault, Cause.StorePageFault, Cause.FetchPageFault];
const guestFaultCause = [Cause.LoadGuestPageFault, Cause.StoreGuestPageFault, Cause.FetchGuestPageFault];
const accessCause = [Cause.LoadAccess, Cause.StoreAccess, Cause.FetchAccess];

export class Mmu {
  /** TLB tags: virtual page number (signed), NaN when empty. */
  readonly tag: Float64Array;
  /**
   * The entries as the inline paths read them, {@link ENTRY_WORDS} int32
   * words each: the page address (tag × 4096) as a little-endian int64 when
   * the page is RAM at an offset below 4 GiB, else a value no address
   * matches; then the page's RAM offset as a uint32 word (valid where the
   * page address is); then a word left 0. One compare of an address with its
   * in-page bits masked checks the tag, the alignment and "is RAM" at once
   * (as QEMU's softmmu TLB does): the interpreter compares the two words, the
   * JIT's WebAssembly code one i64 (see {@link ramHit}). The RAM offset sits
   * in the same 16 bytes, so the JIT's code reads it at a constant offset
   * from the tag's address: one base address a context, no second index.
   */
  readonly entryWords: Int32Array;
  /** Physical address of the page. */
  readonly phys = new Float64Array(CONTEXTS * TLB_SIZE);
  /** Index of the first entry of the current data-read, data-write and fetch contexts. */
  readBase = 0;
  writeBase = 0;
  fetchBase = 0;
  /** Inline-path hit counter (the interpreter increments it). */
  hits = 0;
  misses = 0;
  pageWalks = 0;
  walkRefs = 0;
  walkRefsVs = 0;
  walkRefsG = 0;
  guestPageFaults = 0;
  pageFaults = 0;
  flushes = 0;
  private hasSuperpages = false;

  // satp, parsed
  satpMode = 0;
  satpRoot = 0;
  // vsatp and hgatp, parsed
  vsatpMode = 0;
  vsatpRoot = 0;
  hgatpMode = 0;
  hgatpRoot = 0;
  /**
   * While a hypervisor load/store (HLV/HLVX/HSV) executes: the privilege its
   * accesses use (with V=1), else -1; and whether it is HLVX (needs execute
   * permission, faults as a load).
   */
  private hlvPriv = -1;
  /** While the G-stage translates a VS-stage page-table address (an implicit access, §9.6.3). */
  private implicitAccess = false;
  /** ... and it is the A/D update of a VS-stage PTE (a write). */
  private implicitWrite = false;
  private hlvx = false;
  // PMP
  readonly pmpcfg = new Uint8Array(16);
  readonly pmpaddrLo = new Int32Array(16);
  readonly pmpaddrHi = new Int32Array(16);
  private pmpRegions: PmpRegion[] = [];

  constructor(private readonly hart: Hart) {
    // In RAM's host state area, where the JIT's WebAssembly code reads them.
    this.tag = hart.env.ram.hostArray(Float64Array, CONTEXTS * TLB_SIZE).fill(NaN);
    this.entryWords = hart.env.ram.hostArray(Int32Array, ENTRY_WORDS * CONTEXTS * TLB_SIZE);
    this.entryWords.set(EMPTY_ENTRY_WORDS);
    this.contextChanged();
  }

  /** A snapshot of the counters. */
  stats(): MmuStats {
    return {
      tlbHits: this.hits, tlbMisses: this.misses, pageWalks: this.pageWalks,
      walkMemoryRefs: this.walkRefs, walkMemoryRefsVs: this.walkRefsVs, walkMemoryRefsG: this.walkRefsG,
      guestPageFaults: this.guestPageFaults, pageFaults: this.pageFaults, tlbFlushes: this.flushes,
    };
  }

  /** Effective privilege of data accesses (MPRV, §3.1.6.3; HLV/HSV, §9.3.3). */
  dataPriv(): Priv {
    if (this.hlvPriv >= 0) return this.hlvPriv as Priv;
    const h = this.hart;
    const ms = h.csr.mstatus;
    if (h.priv === Priv.M && (ms & Mstatus.MPRV) !== 0) return ((ms >>> Mstatus.MPP_SHIFT) & 3) as Priv;
    return h.priv;
  }

  /** Effective virtualization mode of data accesses (MPRV with MPV, §9.4.1; HLV/HSV). */
  dataVirt(): boolean {
    if (this.hlvPriv >= 0) return true;
    const h = this.hart;
    const ms = h.csr.mstatus;
    if (h.priv === Priv.M && (ms & Mstatus.MPRV) !== 0) {
      return ((ms >>> Mstatus.MPP_SHIFT) & 3) !== Priv.M && (h.csr.mstatusH & MstatusHi.MPV) !== 0;
    }
    return h.virt;
  }

  /**
   * Makes data accesses act as V=1 at privilege `p` (HLV/HSV, §9.3.3) until
   * {@link endHypervisorAccess}; with `execute`, loads need execute
   * permission instead of read (HLVX).
   */
  beginHypervisorAccess(p: Priv, execute: boolean): void {
    this.hlvPriv = p;
    this.hlvx = execute;
  }

  /** Ends what {@link beginHypervisorAccess} started. */
  endHypervisorAccess(): void {
    this.hlvPriv = -1;
    this.hlvx = false;
    this.contextChanged(); // a trap taken meanwhile recomputed the contexts with the override in force
  }

  /** Zeroes the counters. */
  clearStats(): void {
    this.hits = this.misses = this.pageWalks = this.walkRefs = this.walkRefsVs = this.walkRefsG = 0;
    this.guestPageFaults = this.pageFaults = this.flushes = 0;
  }

  /** Recomputes the TLB contexts after a change of privilege, V, MPRV, MPP or MPV. */
  contextChanged(): void {
    const dp = ctxOf(this.dataPriv(), this.dataVirt());
    this.readBase = (dp * 3 + Access.Read) * TLB_SIZE;
    this.writeBase = (dp * 3 + Access.Write) * TLB_SIZE;
    this.fetchBase = (ctxOf(this.hart.priv, this.hart.virt) * 3 + Access.Execute) * TLB_SIZE;
  }

  /** Empties every TLB context (SFENCE.VMA x0, satp, SUM/MXR or PMP changes), saved user spaces included. */
  flushAll(): void {
    this.tag.fill(NaN);
    this.entryWords.set(EMPTY_ENTRY_WORDS);
    this.hasSuperpages = false;
    this.userSpaces.clear();
    this.userCount = 0;
    this.flushes++;
  }

  /** Drops translations of the page holding `va` (SFENCE.VMA rs1), in saved user spaces too. */
  flushPage(va: number): void {
    if (this.hasSuperpages) { this.flushAll(); return; }
    const vpn = Math.floor(va / 4096);
    const idx = tlbIndex(va);
    for (let c = 0; c < CONTEXTS; c++) {
      const t = c * TLB_SIZE + idx;
      if (this.tag[t] === vpn) this.setTag(t, NaN, false);
    }
    const n = USER_CONTEXTS * TLB_SIZE;
    for (const { entries } of this.userSpaces.values()) {
      for (let c = 0; c < USER_CONTEXTS; c++) {
        const t = c * TLB_SIZE + idx;
        if (entries[t] !== vpn) continue;
        entries[t] = NaN;
        entries[SAVED_TAG_WORDS * n + 2 * t] = NO_TAG_LO; entries[SAVED_TAG_WORDS * n + 2 * t + 1] = NO_TAG_HI;
      }
    }
    this.flushes++;
  }

  /**
   * U-mode TLB entries (tags, physical addresses, RAM offsets, tag words) saved by address-space key, for
   * {@link switchUserSpace}, with the list of the entries a save found valid.
   */
  private readonly userSpaces = new Map<string, SavedUserSpace>();
  /**
   * The U-mode entries filled (or restored) since the last switch or flush, which are all the U-mode
   * entries that can be valid: a switch saves, empties and refills only those instead of every entry.
   * Past `userEntries.length` fills the list stops, and the switch goes over every entry.
   */
  private readonly userEntries = new Int32Array(USER_CONTEXTS * TLB_SIZE);
  private userCount = 0;

  private noteUserEntry(t: number): void {
    if (this.userCount < this.userEntries.length) this.userEntries[this.userCount] = t;
    this.userCount++;
  }

  /**
   * Loads satp for U-mode code that switches among a few address spaces
   * often — a VMM's shadow tables for a deprivileged guest's kernel and user
   * views — without emptying the TLB: the U-mode entries of the space being
   * left are saved under `leaving` and those saved under `entering` come
   * back, as a TLB tagged by address-space ID would keep them. Every
   * SFENCE.VMA and satp write reaches the saved entries as well (flushAll,
   * flushPage). Returns false for an unsupported satp mode.
   */
  switchUserSpace(lo: number, hi: number, leaving: string, entering: string): boolean {
    const a = parseAtp(lo, hi);
    if (a === undefined) return false;
    const n = USER_CONTEXTS * TLB_SIZE;
    let saved = this.userSpaces.get(leaving);
    if (saved === undefined) {
      saved = { entries: new Float64Array((SAVED_TAG_WORDS + 2) * n), valid: new Int32Array(n), count: 0 };
      this.userSpaces.set(leaving, saved);
    }
    // Save the valid U-mode entries, and empty them.
    const all = this.userCount > this.userEntries.length;
    const listed = all ? n : this.userCount;
    const e = saved.entries, w = this.entryWords;
    saved.count = 0;
    for (let i = 0; i < listed; i++) {
      const t = all ? i : this.userEntries[i];
      const tag = this.tag[t];
      if (tag !== tag) continue; // empty (or listed twice: already saved and emptied)
      const k = ENTRY_WORDS * t;
      e[t] = tag; e[n + t] = this.phys[t]; e[2 * n + t] = w[k + ENTRY_RO_WORD];
      e[SAVED_TAG_WORDS * n + 2 * t] = w[k]; e[SAVED_TAG_WORDS * n + 2 * t + 1] = w[k + 1];
      saved.valid[saved.count++] = t;
      this.setTag(t, NaN, false);
    }
    this.userCount = 0;
    const restore = this.userSpaces.get(entering);
    if (restore !== undefined) {
      const r = restore.entries;
      for (let i = 0; i < restore.count; i++) {
        const t = restore.valid[i];
        const tag = r[t];
        if (tag !== tag) continue; // dropped by flushPage since
        const k = ENTRY_WORDS * t;
        this.tag[t] = tag; this.phys[t] = r[n + t]; w[k + ENTRY_RO_WORD] = r[2 * n + t];
        w[k] = r[SAVED_TAG_WORDS * n + 2 * t]; w[k + 1] = r[SAVED_TAG_WORDS * n + 2 * t + 1];
        this.noteUserEntry(t);
      }
    }
    this.satpMode = a.mode;
    this.satpRoot = a.root;
    this.hart.dropFetchPage();
    return true;
  }

  /** Parses a satp value (§4.1.11). Unsupported modes leave satp unchanged: returns false. */
  setSatp(lo: number, hi: number): boolean {
    const a = parseAtp(lo, hi);
    if (a === undefined) return false;
    this.satpMode = a.mode;
    this.satpRoot = a.root;
    this.translationChanged();
    return true;
  }

  /** After satp, vsatp or hgatp changed: cached translations and the fetch page are stale. */
  private translationChanged(): void {
    this.flushAll();
    this.hart.dropFetchPage();
  }

  /** Parses a vsatp value (§9.2.18). Unsupported modes leave vsatp unchanged: returns false. */
  setVsatp(lo: number, hi: number): boolean {
    const a = parseAtp(lo, hi);
    if (a === undefined) return false;
    this.vsatpMode = a.mode;
    this.vsatpRoot = a.root;
    this.translationChanged();
    return true;
  }

  /** Parses an hgatp value (§9.2.10): Bare, Sv39x4 (8), Sv48x4 (9). Unsupported modes leave hgatp unchanged: returns false. */
  setHgatp(lo: number, hi: number): boolean {
    // The G-stage root table is 16 KiB: bits 1:0 of the PPN are zero (§9.2.10).
    const a = parseAtp(lo & ~3, hi);
    if (a === undefined) return false;
    this.hgatpMode = a.mode;
    this.hgatpRoot = a.root;
    this.translationChanged();
    return true;
  }


  private translates(p: Priv): boolean {
    return p !== Priv.M && this.satpMode !== 0;
  }

  /**
   * Checks that (lo, hi) is a valid virtual address for the effective data
   * privilege; raises a page fault (access fault in bare mode) and returns false if not.
   */
  checkCanonical(lo: number, hi: number, access: Access): boolean {
    const v = access === Access.Execute ? this.hart.virt : this.dataVirt();
    let mode: number;
    if (v) mode = this.vsatpMode;
    else {
      const p = access === Access.Execute ? this.hart.priv : this.dataPriv();
      mode = this.translates(p) ? this.satpMode : 0;
    }
    if (mode === 0) return true; // (in V=1 the G-stage checks the guest physical address)
    const top = mode === 8 ? hi >> 6 : hi >> 15;
    if (top === 0 || top === -1) return true;
    this.pageFaults++;
    if (v) this.hart.gvaNext = true;
    this.hart.trap(faultCause[access], lo, hi);
    return false;
  }

  /** Translates a data access at `va` for the effective data privilege. Returns the physical address or -1 (trap taken). */
  translateData(va: number, access: Access, tval: number, size = 1): number {
    // HLVX reads need execute permission: they use (and fill) the execute context.
    if (this.hlvx && access === Access.Read) access = Access.Execute;
    return this.lookup(va, access, this.dataPriv(), this.dataVirt(), tval, false, size);
  }

  /** Translates at the current privilege (used for fetch). With `probe`, no trap is taken. */
  translate(va: number, access: Access, probe: boolean): number {
    const fetch = access === Access.Execute;
    const p = fetch ? this.hart.priv : this.dataPriv();
    const v = fetch ? this.hart.virt : this.dataVirt();
    return this.lookup(va, access, p, v, va, probe);
  }

  private lookup(va: number, access: Access, p: Priv, v: boolean, tval: number, probe: boolean, size = 1): number {
    const vpn = Math.floor(va / 4096);
    const t = (ctxOf(p, v) * 3 + access) * TLB_SIZE + tlbIndex(va);
    if (this.tag[t] === vpn) {
      this.hits++;
      return this.phys[t] + (va - vpn * 4096);
    }
    this.misses++;
    let pa: number;
    if (v) {
      pa = this.translateGuest(va, access, p, tval, probe);
      if (pa < 0) return -1;
    } else if (!this.translates(p)) {
      if (va < 0 || va >= PA_LIMIT) {
        if (!probe) this.raise(accessCause[access], tval);
        return -1;
      }
      pa = va;
    } else {
      if (access === Access.Execute) {
        // Fetch addresses are checked here (data addresses by checkCanonical).
        const hi = Math.floor(va / TWO32);
        const top = this.satpMode === 8 ? hi >> 6 : hi >> 15;
        if (top !== 0 && top !== -1) {
          if (!probe) { this.pageFaults++; this.raise(faultCause[access], tval); }
          return -1;
        }
      }
      pa = this.walk(va, access, p, tval, probe);
      if (pa < 0) return -1;
    }
    if (!this.pmpAllows(pa, access, p, size)) {
      if (!probe) { if (v) this.hart.gvaNext = true; this.raise(accessCause[this.faultAccess(access)], tval); }
      return -1;
    }
    const pagePa = pa - (pa & 4095);
    if (this.pmpUniform(pagePa)) {
      const ram = this.hart.env.ram;
      const ro = pagePa >= ram.base && pagePa < ram.end ? pagePa - ram.base : -1;
      this.setTag(t, vpn, ro >= 0 && ro <= 0xffffffff);
      this.phys[t] = pagePa;
      this.entryWords[ENTRY_WORDS * t + ENTRY_RO_WORD] = ro; // (as uint32; the tag words mark the entries where it is valid)
      if (t < USER_CONTEXTS * TLB_SIZE) this.noteUserEntry(t);
    }
    return pa;
  }

  /**
   * The RAM offset of an access of `size` bytes at (lo, hi) that hits the
   * TLB context starting at entry `base` on RAM and is aligned; -1 otherwise
   * (the general path then translates it).
   */
  ramHit(base: number, lo: number, hi: number, size: number): number {
    const t = base + ((lo >>> 12) & TLB_MASK);
    const w = this.entryWords, k = ENTRY_WORDS * t;
    if (w[k] !== (lo & (-4096 | (size - 1))) || w[k + 1] !== hi) return -1;
    return (w[k + ENTRY_RO_WORD] >>> 0) + (lo & 0xfff);
  }

  /** Sets entry `t`'s tag (NaN: empty), and its page address in entryWords when its page is RAM at an offset below 4 GiB. */
  private setTag(t: number, vpn: number, ram: boolean): void {
    this.tag[t] = vpn;
    const w = this.entryWords, k = ENTRY_WORDS * t;
    if (vpn !== vpn || !ram) { w[k] = NO_TAG_LO; w[k + 1] = NO_TAG_HI; return; }
    const hi = Math.floor(vpn / 1048576);
    w[k] = (vpn - hi * 1048576) * 4096;
    w[k + 1] = hi;
  }

  private raise(cause: Cause, tval: number): void {
    this.hart.trapAt(cause, tval);
  }

  /** The Sv39/Sv48 walk (§4.3.2). Returns the physical address or -1. */
  private walk(va: number, access: Access, p: Priv, tval: number, probe: boolean): number {
    this.pageWalks++;
    const h = this.hart;
    const ram = h.env.ram;
    const levels = this.satpMode === 8 ? 3 : 4;
    const hi = Math.floor(va / TWO32);
    const lo = (va - hi * TWO32) >>> 0;
    const vpn = [(lo >>> 12) & 511, (lo >>> 21) & 511, ((lo >>> 30) | (hi << 2)) & 511, (hi >>> 7) & 511];
    let a = this.satpRoot;
    const ms = h.csr.mstatus;
    for (let i = levels - 1; i >= 0; i--) {
      const pteAddr = a + vpn[i] * 8;
      this.walkRefs++;
      if (!this.pteReadable(pteAddr)) {
        if (!probe) this.raise(accessCause[access], tval);
        return -1;
      }
      const o = pteAddr - ram.base;
      const pteLo = ram.i32[o >>> 2];
      const pteHi = ram.i32[(o >>> 2) + 1];
      if (pteInvalid(pteLo, pteHi)) return this.walkFault(access, tval, probe);
      const ppn = ptePpn(pteLo, pteHi);
      if ((pteLo & (Pte.R | Pte.X)) === 0) {
        if (nonLeafReserved(pteLo)) return this.walkFault(access, tval, probe);
        a = ppn * 4096;
        continue;
      }
      // Leaf: permission checks (§4.3.1, §3.1.6.3).
      if (!leafAllows(pteLo, access, (ms & Mstatus.MXR) !== 0)) return this.walkFault(access, tval, probe);
      if (!privilegeAllows(pteLo, access, p === Priv.U, (ms & Mstatus.SUM) !== 0)) return this.walkFault(access, tval, probe);
      // A misaligned superpage is a page fault.
      const span = i === 0 ? 1 : 2 ** (9 * i);
      if (ppn % span !== 0) return this.walkFault(access, tval, probe);
      if (!this.markAccessed(o, pteLo, access, probe, i)) return -1;
      const vpnLow = i === 0 ? 0 : i === 1 ? vpn[0] : i === 2 ? vpn[0] + vpn[1] * 512 : vpn[0] + vpn[1] * 512 + vpn[2] * 262144;
      return (ppn + vpnLow) * 4096 + (lo & 0xfff);
    }
    return this.walkFault(access, tval, probe);
  }

  /** Whether the PTE at physical `pteAddr` can be read by the walker: inside RAM and allowed by PMP. */
  private pteReadable(pteAddr: number): boolean {
    const ram = this.hart.env.ram;
    return pteAddr >= ram.base && pteAddr + 8 <= ram.end && this.pmpAllows(pteAddr, Access.Read, Priv.S);
  }

  /**
   * The hardware A/D update (as QEMU does) of the leaf PTE at RAM offset `o`
   * found at level `level`: sets A, and D on writes. A probe must not write:
   * it fails instead (returns false) when the update would be needed.
   */
  private markAccessed(o: number, pteLo: number, access: Access, probe: boolean, level: number): boolean {
    const want = accessedBits(access);
    if ((pteLo & want) !== want) {
      if (probe) return false;
      const ram = this.hart.env.ram;
      ram.i32[o >>> 2] = pteLo | want;
      ram.noteWrite(o, 8);
    }
    if (level > 0) this.hasSuperpages = true;
    return true;
  }

  /** The kind of access a fault reports: HLVX uses execute permission but faults as a load. */
  private faultAccess(access: Access): Access {
    return this.hlvx && access === Access.Execute ? Access.Read : access;
  }

  /**
   * Two-stage translation of guest virtual address `va` (§9.5): the VS-stage
   * on vsatp (each of its page-table reads translated by the G-stage), then
   * the G-stage on hgatp. Returns the host physical address or -1.
   */
  private translateGuest(va: number, access: Access, p: Priv, tval: number, probe: boolean): number {
    let gpa: number;
    if (this.vsatpMode !== 0) {
      this.pageWalks++;
      if (access === Access.Execute) {
        const hi = Math.floor(va / TWO32);
        const top = this.vsatpMode === 8 ? hi >> 6 : hi >> 15;
        if (top !== 0 && top !== -1) {
          if (!probe) { this.pageFaults++; this.hart.gvaNext = true; this.raise(faultCause[access], tval); }
          return -1;
        }
      }
      gpa = this.walkVs(va, access, p, tval, probe);
      if (gpa < 0) return -1;
    } else {
      gpa = va < 0 ? va + 2 ** 64 : va;
    }
    return this.walkG(gpa, access, this.faultAccess(access), tval, probe);
  }

  /** The VS-stage walk (Sv39/Sv48 on vsatp, §9.5.1). Returns the guest physical address or -1. */
  private walkVs(va: number, access: Access, p: Priv, tval: number, probe: boolean): number {
    const h = this.hart;
    const ram = h.env.ram;
    const fa = this.faultAccess(access);
    const levels = this.vsatpMode === 8 ? 3 : 4;
    const vs = h.csr.vsstatus;
    const mxr = ((h.csr.mstatus | vs) & Mstatus.MXR) !== 0;
    const sum = (vs & Mstatus.SUM) !== 0;
    let a = this.vsatpRoot;
    for (let i = levels - 1; i >= 0; i--) {
      const pteGpa = a + (Math.floor(va / 2 ** (12 + 9 * i)) & 511) * 8;
      // The page-table read is itself translated by the G-stage (an implicit access, read permission).
      this.implicitAccess = true;
      const pteAddr = this.walkG(pteGpa, Access.Read, fa, tval, probe);
      this.implicitAccess = false;
      if (pteAddr < 0) return -1;
      this.walkRefs++;
      this.walkRefsVs++;
      if (!this.pteReadable(pteAddr)) {
        if (!probe) { h.gvaNext = true; this.raise(accessCause[fa], tval); }
        return -1;
      }
      const o = pteAddr - ram.base;
      const pteLo = ram.i32[o >>> 2];
      const pteHi = ram.i32[(o >>> 2) + 1];
      if (pteInvalid(pteLo, pteHi)) return this.vsFault(fa, tval, probe);
      const ppn = ptePpn(pteLo, pteHi);
      if ((pteLo & (Pte.R | Pte.X)) === 0) {
        if (nonLeafReserved(pteLo)) return this.vsFault(fa, tval, probe);
        a = ppn * 4096;
        continue;
      }
      if (!leafAllows(pteLo, access, mxr)) return this.vsFault(fa, tval, probe);
      if (!privilegeAllows(pteLo, access, p === Priv.U, sum)) return this.vsFault(fa, tval, probe);
      const span = 2 ** (9 * i);
      if (ppn % span !== 0) return this.vsFault(fa, tval, probe);
      // §9.5.1: setting A/D is an implicit write, which the G-stage must allow too (faulting as the original access).
      const want = accessedBits(access);
      if ((pteLo & want) !== want && !probe) {
        this.implicitAccess = this.implicitWrite = true;
        const writable = this.walkG(pteGpa, Access.Write, fa, tval, probe);
        this.implicitAccess = this.implicitWrite = false;
        if (writable < 0) return -1;
      }
      if (!this.markAccessed(o, pteLo, access, probe, i)) return -1;
      const vaPage = Math.floor(va / 4096);
      return (ppn + (((vaPage % span) + span) % span)) * 4096 + (va - vaPage * 4096);
    }
    return this.vsFault(fa, tval, probe);
  }

  private vsFault(fa: Access, tval: number, probe: boolean): number {
    if (!probe) { this.hart.gvaNext = true; }
    return this.walkFault(fa, tval, probe);
  }

  /**
   * The G-stage walk (Sv39x4/Sv48x4 on hgatp, §9.5.1) of guest physical
   * address `gpa` for an access needing `access` permission; faults are
   * reported as `fa` accesses with tval `tval` (the guest virtual address).
   * Returns the host physical address or -1.
   */
  private walkG(gpa: number, access: Access, fa: Access, tval: number, probe: boolean): number {
    const h = this.hart;
    if (this.hgatpMode === 0) {
      if (gpa >= PA_LIMIT) {
        if (!probe) { h.gvaNext = true; this.raise(accessCause[fa], tval); }
        return -1;
      }
      return gpa;
    }
    const levels = this.hgatpMode === 8 ? 3 : 4;
    // The guest physical address is 2 bits wider than the virtual address of Sv39/Sv48.
    if (gpa >= 2 ** (14 + 9 * levels)) return this.guestFault(fa, tval, gpa, probe);
    const ram = h.env.ram;
    const mxr = (h.csr.mstatus & Mstatus.MXR) !== 0;
    let a = this.hgatpRoot;
    for (let i = levels - 1; i >= 0; i--) {
      // The root table has 2048 entries (16 KiB): its index is 11 bits.
      const idx = Math.floor(gpa / 2 ** (12 + 9 * i)) % (i === levels - 1 ? 2048 : 512);
      const pteAddr = a + idx * 8;
      this.walkRefs++;
      this.walkRefsG++;
      if (!this.pteReadable(pteAddr)) {
        if (!probe) { h.gvaNext = true; this.raise(accessCause[fa], tval); }
        return -1;
      }
      const o = pteAddr - ram.base;
      const pteLo = ram.i32[o >>> 2];
      const pteHi = ram.i32[(o >>> 2) + 1];
      if (pteInvalid(pteLo, pteHi)) return this.guestFault(fa, tval, gpa, probe);
      const ppn = ptePpn(pteLo, pteHi);
      if ((pteLo & (Pte.R | Pte.X)) === 0) {
        if (nonLeafReserved(pteLo)) return this.guestFault(fa, tval, gpa, probe);
        a = ppn * 4096;
        continue;
      }
      // G-stage accesses are all treated as U-mode accesses: the leaf must have U=1.
      if (!leafAllows(pteLo, access, mxr) || (pteLo & Pte.U) === 0) return this.guestFault(fa, tval, gpa, probe);
      const span = 2 ** (9 * i);
      if (ppn % span !== 0) return this.guestFault(fa, tval, gpa, probe);
      if (!this.markAccessed(o, pteLo, access, probe, i)) return -1;
      const gpaPage = Math.floor(gpa / 4096);
      return (ppn + (gpaPage % span)) * 4096 + (gpa - gpaPage * 4096);
    }
    return this.guestFault(fa, tval, gpa, probe);
  }

  /** Raises a guest-page fault for guest physical address `gpa` (unless probing); returns -1. */
  private guestFault(fa: Access, tval: number, gpa: number, probe: boolean): number {
    if (!probe) {
      this.guestPageFaults++;
      this.hart.gvaNext = true;
      this.hart.gpaNext = gpa;
      // §9.6.3: a fault on an implicit VS-stage page-table access reports the pseudoinstruction of a 64-bit read or write.
      if (this.implicitAccess) this.hart.htinstNext = this.implicitWrite ? 0x3020 : 0x3000;
      this.raise(guestFaultCause[fa], tval);
    }
    return -1;
  }

  /** Raises the page fault of a failed walk (unless probing); returns -1. */
  private walkFault(access: Access, tval: number, probe: boolean): number {
    if (!probe) { this.pageFaults++; this.raise(faultCause[access], tval); }
    return -1;
  }

  // ---------------------------------------------------------------- PMP (§3.7)

  /** Recomputes the PMP regions after a pmpcfg/pmpaddr write. */
  pmpChanged(): void {
    const regions: PmpRegion[] = [];
    let prevTop = 0n;
    for (let i = 0; i < 16; i++) {
      const cfg = this.pmpcfg[i];
      const addr = (BigInt(this.pmpaddrHi[i] >>> 0) << 32n) | BigInt(this.pmpaddrLo[i] >>> 0);
      const mode = (cfg >>> 3) & 3;
      const perm = cfg & 7;
      const locked = (cfg & 0x80) !== 0;
      let start = 0n, end = 0n;
      if (mode === 1) { start = prevTop; end = addr << 2n; }
      else if (mode === 2) { start = addr << 2n; end = start + 4n; }
      else if (mode === 3) {
        // NAPOT: trailing ones of pmpaddr give the size.
        let ones = 0n;
        while (ones < 64n && ((addr >> ones) & 1n) === 1n) ones++;
        const size = 1n << (ones + 3n);
        start = (addr & ~((1n << ones) - 1n)) << 2n;
        end = start + size;
      }
      prevTop = addr << 2n;
      if (mode !== 0 && end > start) {
        const lim = BigInt(PA_LIMIT);
        regions.push({ start: Number(start > lim ? lim : start), end: Number(end > lim ? lim : end), perm, locked });
      } else if (mode !== 0) {
        regions.push({ start: 0, end: 0, perm, locked });
      }
    }
    this.pmpRegions = regions;
    this.flushAll();
    this.hart.dropFetchPage();
  }

  /**
   * True when an access of `size` bytes at `pa` by privilege `p` is allowed
   * by PMP (§3.7.1): the lowest-numbered entry matching any byte decides, and
   * an entry that matches only some of the bytes makes the access fail.
   */
  pmpAllows(pa: number, access: Access, p: Priv, size = 1): boolean {
    const regions = this.pmpRegions;
    // No active entry: everything is allowed (as QEMU does for a hart with no PMP rules set).
    if (regions.length === 0) return true;
    const bit = access === Access.Read ? 1 : access === Access.Write ? 2 : 4;
    const end = pa + size;
    for (const r of regions) {
      if (pa < r.end && end > r.start) {
        if (pa < r.start || end > r.end) return false;
        if (p === Priv.M && !r.locked) return true;
        return (r.perm & bit) !== 0;
      }
    }
    return p === Priv.M;
  }

  /** True when every byte of the page at `pagePa` gets the same PMP decision (the page may be cached). */
  private pmpUniform(pagePa: number): boolean {
    const end = pagePa + 4096;
    for (const r of this.pmpRegions) {
      if ((r.start > pagePa && r.start < end) || (r.end > pagePa && r.end < end)) return false;
    }
    return true;
  }

  // ---------------------------------------------------------------- physical access

  /** Loads `size` bytes at physical `pa` into r64 (zero-extended). Raises a load access fault (tval `va`) on failure. */
  physLoad(pa: number, size: number, va: number): boolean {
    const ram = this.hart.env.ram;
    if (pa >= ram.base && pa + size <= ram.end) {
      const o = pa - ram.base;
      const dv = ram.dv;
      switch (size) {
        case 1: r64.lo = ram.u8[o]; r64.hi = 0; break;
        case 2: r64.lo = dv.getUint16(o, true); r64.hi = 0; break;
        case 4: r64.lo = dv.getInt32(o, true); r64.hi = 0; break;
        default: r64.lo = dv.getInt32(o, true); r64.hi = dv.getInt32(o + 4, true);
      }
      return true;
    }
    const bus = this.hart.env.bus;
    this.hart.stats.mmioReads++;
    if (size === 8) {
      const l = bus.read(pa, 4), h = bus.read(pa + 4, 4);
      if (l === undefined || h === undefined) { this.raise(Cause.LoadAccess, va); return false; }
      r64.lo = l | 0; r64.hi = h | 0;
      return true;
    }
    const v = bus.read(pa, size as 1 | 2 | 4);
    if (v === undefined) { this.raise(Cause.LoadAccess, va); return false; }
    r64.lo = v | 0; r64.hi = 0;
    return true;
  }

  /** Stores the low `size` bytes of (vl, vh) at physical `pa`. Raises a store access fault on failure. */
  physStore(pa: number, size: number, vl: number, vh: number, va: number): boolean {
    const ram = this.hart.env.ram;
    if (pa >= ram.base && pa + size <= ram.end) {
      const o = pa - ram.base;
      const dv = ram.dv;
      switch (size) {
        case 1: ram.u8[o] = vl; break;
        case 2: dv.setUint16(o, vl & 0xffff, true); break;
        case 4: dv.setInt32(o, vl, true); break;
        default: dv.setInt32(o, vl, true); dv.setInt32(o + 4, vh, true);
      }
      ram.noteWrite(o, size);
      return true;
    }
    const bus = this.hart.env.bus;
    this.hart.stats.mmioWrites++;
    let ok: boolean;
    if (size === 8) ok = bus.write(pa, 4, vl >>> 0) && bus.write(pa + 4, 4, vh >>> 0);
    else ok = bus.write(pa, size as 1 | 2 | 4, size === 4 ? vl >>> 0 : vl & (size === 1 ? 0xff : 0xffff));
    if (!ok) { this.raise(Cause.StoreAccess, va); return false; }
    return true;
  }

  /** Reads 16 bits of instruction memory at physical `pa`; -1 if nothing is there. */
  fetch16(pa: number): number {
    const ram = this.hart.env.ram;
    if (pa >= ram.base && pa + 2 <= ram.end) return ram.u16[(pa - ram.base) >>> 1];
    const v = this.hart.env.bus.read(pa, 2);
    return v === undefined ? -1 : v;
  }
}

/** Leaf permission check (§4.3.1) for `access`; with `mxr`, executable pages are readable. */
/**
 * The mode and root-table address of a satp-format value (satp §4.1.11,
 * vsatp §9.2.18, hgatp §9.2.10: MODE in bits 63:60, PPN in bits 43:0);
 * undefined for a mode other than Bare (0), Sv39(x4) (8) or Sv48(x4) (9).
 */
function parseAtp(lo: number, hi: number): { mode: number; root: number } | undefined {
  const mode = hi >>> 28;
  if (mode !== 0 && mode !== 8 && mode !== 9) return undefined;
  return { mode, root: ((hi & 0xfff) * TWO32 + (lo >>> 0)) * 4096 };
}
