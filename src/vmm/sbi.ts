/**
 * The Supervisor Binary Interface as the VMM provides it to its guests.
 *
 * Under the `hw`, `trap` and `bt` techniques there is no firmware inside the
 * VM: the guest kernel's ECALLs reach the VMM, which plays OpenSBI's role
 * (as KVM does for its guests). Under `pv` the same calls are the guest's
 * hypercalls. This module decodes one call from the argument registers and
 * carries it out through an {@link SbiHost} the VMM implements, so every
 * technique shares one implementation and one set of counters.
 *
 * Spec: RISC-V Supervisor Binary Interface Specification v2.0 — the calling
 * convention (ch. 3: a7 = extension ID, a6 = function ID, a0–a5 arguments;
 * a0 = error, a1 = value), Base (ch. 4), the legacy extensions (ch. 5),
 * TIME (ch. 6), IPI (ch. 7), RFENCE (ch. 8), HSM (ch. 9), SRST (ch. 10) and
 * DBCN (ch. 12).
 */

/** Standard SBI error codes (SBI v2.0 §3.2). */
export const enum SbiError {
  Success = 0,
  Failed = -1,
  NotSupported = -2,
  InvalidParam = -3,
  Denied = -4,
  InvalidAddress = -5,
  AlreadyAvailable = -6,
  AlreadyStarted = -7,
  AlreadyStopped = -8,
}

/** Extension IDs. */
export const enum SbiExt {
  LegacySetTimer = 0x00,
  LegacyConsolePutchar = 0x01,
  LegacyConsoleGetchar = 0x02,
  LegacyShutdown = 0x08,
  Base = 0x10,
  Time = 0x54494d45,
  Ipi = 0x735049,
  Rfence = 0x52464e43,
  Hsm = 0x48534d,
  Srst = 0x53525354,
  Dbcn = 0x4442434e,
}

/** HSM hart states (SBI v2.0 §9.1). */
export const enum HartState {
  Started = 0,
  Stopped = 1,
  StartPending = 2,
  StopPending = 3,
  Suspended = 4,
}

/** SBI specification version implemented: 2.0 (major in bits 30:24). */
export const SBI_SPEC_VERSION = 2 << 24;
/** Implementation ID reported by sbi_get_impl_id: not in the SBI registry's list, so an unused number. */
export const SBI_IMPL_ID_TSVISOR = 0x7473;

/** What the VMM provides to carry out SBI calls. Hart IDs are the guest's. */
export interface SbiHost {
  /** Number of vCPUs (hart IDs 0 .. n-1). */
  readonly harts: number;
  /** Programs hart `hart`'s timer to fire at `time` (in timebase ticks; 2^64-1 effectively cancels). */
  setTimer(hart: number, time: bigint): void;
  /** Makes a supervisor software interrupt pending on `hart`. */
  sendIpi(hart: number): void;
  /** Remote FENCE.I / SFENCE.VMA on `hart` (the range is advisory: the VMM may flush more). */
  remoteFence(hart: number, kind: 'fence.i' | 'sfence.vma', start: bigint, size: bigint, asid?: bigint): void;
  hartState(hart: number): HartState;
  /** Starts a stopped hart in S-mode at `start` with a0 = hart, a1 = `opaque`. */
  hartStart(hart: number, start: bigint, opaque: bigint): SbiError;
  /** Stops the calling hart (it never returns to the guest). */
  hartStop(hart: number): SbiError;
  /** System reset: shutdown (type 0) or reboot (types 1, 2), with a reason (0 = none, 1 = failure). */
  systemReset(type: number, reason: number): void;
  consoleWrite(bytes: Uint8Array): void;
  /** Up to `max` bytes of pending console input (possibly none). */
  consoleRead(max: number): Uint8Array;
  /** Reads guest physical memory; undefined when [gpa, gpa+length) is not RAM. */
  readGuest(gpa: bigint, length: number): Uint8Array | undefined;
  /** Writes guest physical memory; false when the range is not RAM. */
  writeGuest(gpa: bigint, data: Uint8Array): boolean;
}

/** The registers of one SBI call, as unsigned 64-bit values. */
export interface SbiCall {
  /** The calling hart. */
  hart: number;
  /** a0 .. a7. */
  a: bigint[];
}

/** The result of a call: a0 (error) and a1 (value); `noReturn` when the hart must not resume (stop, reset). */
export interface SbiResult {
  error: bigint;
  value: bigint;
  noReturn?: boolean;
  /** Legacy calls return their result in a0 only (a1 is left alone). */
  legacy?: boolean;
}

/** Counters of the calls a VM made, by extension name and function. */
export interface SbiStats {
  calls: number;
  byExtension: Record<string, number>;
  unsupported: number;
}

const MASK64 = (1n << 64n) - 1n;
/** The most console bytes one DBCN call moves. */
const DBCN_MAX = 4096n;
const XLEN = 64;

const extName = (eid: number): string => ({
  [SbiExt.LegacySetTimer]: 'legacy-set-timer', [SbiExt.LegacyConsolePutchar]: 'legacy-putchar',
  [SbiExt.LegacyConsoleGetchar]: 'legacy-getchar', [SbiExt.LegacyShutdown]: 'legacy-shutdown',
  [SbiExt.Base]: 'base', [SbiExt.Time]: 'time', [SbiExt.Ipi]: 'ipi', [SbiExt.Rfence]: 'rfence',
  [SbiExt.Hsm]: 'hsm', [SbiExt.Srst]: 'srst', [SbiExt.Dbcn]: 'dbcn',
} as Record<number, string>)[eid] ?? `0x${eid.toString(16)}`;

const SUPPORTED = new Set<number>([
  SbiExt.LegacySetTimer, SbiExt.LegacyConsolePutchar, SbiExt.LegacyConsoleGetchar, SbiExt.LegacyShutdown,
  SbiExt.Base, SbiExt.Time, SbiExt.Ipi, SbiExt.Rfence, SbiExt.Hsm, SbiExt.Srst, SbiExt.Dbcn,
]);

const ok = (value: bigint | number = 0n): SbiResult => ({ error: 0n, value: BigInt(value) & MASK64 });
const fail = (e: SbiError): SbiResult => ({ error: BigInt(e) & MASK64, value: 0n });

/** Carries out SBI calls for one VM and counts them. */
export class SbiService {
  readonly stats: SbiStats = { calls: 0, byExtension: {}, unsupported: 0 };

  constructor(private readonly host: SbiHost) {}

  /** Decodes and performs one call. Never throws for guest input: bad arguments are SBI errors. */
  call(c: SbiCall): SbiResult {
    const a = c.a.map((v) => v & MASK64);
    const eid = Number(a[7] & 0xffffffffn);
    const fid = Number(a[6] & 0xffffffffn);
    this.stats.calls++;
    const name = extName(eid);
    this.stats.byExtension[name] = (this.stats.byExtension[name] ?? 0) + 1;
    switch (eid) {
      case SbiExt.LegacySetTimer: this.host.setTimer(c.hart, a[0]); return { ...ok(), legacy: true };
      case SbiExt.LegacyConsolePutchar: this.host.consoleWrite(Uint8Array.of(Number(a[0] & 0xffn))); return { ...ok(), legacy: true };
      case SbiExt.LegacyConsoleGetchar: {
        const b = this.host.consoleRead(1);
        return { error: b.length === 0 ? MASK64 : BigInt(b[0]), value: 0n, legacy: true };
      }
      case SbiExt.LegacyShutdown: this.host.systemReset(0, 0); return { ...ok(), noReturn: true, legacy: true };
      case SbiExt.Base: return this.base(fid, a);
      case SbiExt.Time: return fid === 0 ? (this.host.setTimer(c.hart, a[0]), ok()) : this.unsupported();
      case SbiExt.Ipi: return fid === 0 ? this.forHarts(a[0], a[1], (h) => this.host.sendIpi(h)) : this.unsupported();
      case SbiExt.Rfence: return this.rfence(fid, a);
      case SbiExt.Hsm: return this.hsm(c.hart, fid, a);
      case SbiExt.Srst: return this.srst(fid, a);
      case SbiExt.Dbcn: return this.dbcn(fid, a);
      default: return this.unsupported();
    }
  }

  private unsupported(): SbiResult {
    this.stats.unsupported++;
    return fail(SbiError.NotSupported);
  }

  private base(fid: number, a: bigint[]): SbiResult {
    switch (fid) {
      case 0: return ok(SBI_SPEC_VERSION);
      case 1: return ok(SBI_IMPL_ID_TSVISOR);
      case 2: return ok(1);
      case 3: return ok(a[0] <= 0xffffffffn && SUPPORTED.has(Number(a[0])) ? 1 : 0);
      case 4: case 5: case 6: return ok(0); // mvendorid, marchid, mimpid: not implemented (0), as the spec allows
      default: return this.unsupported();
    }
  }

  /**
   * Runs `f` for every hart selected by (hart_mask, hart_mask_base) (SBI v2.0
   * §3.3): base = -1 (all ones) selects every hart; a selected hart that does
   * not exist is an invalid parameter, checked before any hart is touched.
   */
  private forHarts(mask: bigint, base: bigint, f: (hart: number) => void): SbiResult {
    const n = this.host.harts;
    const targets: number[] = [];
    if (base === MASK64) {
      for (let h = 0; h < n; h++) targets.push(h);
    } else {
      for (let bit = 0; bit < XLEN; bit++) {
        if (((mask >> BigInt(bit)) & 1n) === 0n) continue;
        const h = base + BigInt(bit);
        if (h >= BigInt(n)) return fail(SbiError.InvalidParam);
        targets.push(Number(h));
      }
    }
    for (const h of targets) f(h);
    return ok();
  }

  private rfence(fid: number, a: bigint[]): SbiResult {
    switch (fid) {
      case 0: return this.forHarts(a[0], a[1], (h) => this.host.remoteFence(h, 'fence.i', 0n, MASK64));
      case 1: return this.forHarts(a[0], a[1], (h) => this.host.remoteFence(h, 'sfence.vma', a[2], a[3]));
      case 2: return this.forHarts(a[0], a[1], (h) => this.host.remoteFence(h, 'sfence.vma', a[2], a[3], a[4]));
      default: return this.unsupported(); // the HFENCE functions are for guests that are hypervisors themselves
    }
  }

  private hsm(caller: number, fid: number, a: bigint[]): SbiResult {
    const n = BigInt(this.host.harts);
    switch (fid) {
      case 0: {
        if (a[0] >= n) return fail(SbiError.InvalidParam);
        return { error: BigInt(this.host.hartStart(Number(a[0]), a[1], a[2])) & MASK64, value: 0n };
      }
      case 1: {
        const e = this.host.hartStop(caller);
        return e === SbiError.Success ? { ...ok(), noReturn: true } : fail(e);
      }
      case 2: return a[0] >= n ? fail(SbiError.InvalidParam) : ok(this.host.hartState(Number(a[0])));
      default: return this.unsupported(); // hart_suspend: not offered (probe says so through the error)
    }
  }

  private srst(fid: number, a: bigint[]): SbiResult {
    if (fid !== 0) return this.unsupported();
    const type = a[0], reason = a[1];
    if (type > 2n) return fail(SbiError.InvalidParam);
    if (reason > 1n && reason < 0xe0000000n) return fail(SbiError.InvalidParam);
    this.host.systemReset(Number(type), Number(reason & 0xffffffffn));
    return { ...ok(), noReturn: true };
  }

  private dbcn(fid: number, a: bigint[]): SbiResult {
    switch (fid) {
      case 0: case 1: {
        // console_write / console_read (num_bytes, base_addr_lo, base_addr_hi): the address is physical.
        // At most DBCN_MAX bytes per call: the spec lets the implementation move fewer than asked.
        const len = a[0] > DBCN_MAX ? DBCN_MAX : a[0];
        const gpa = (a[1] & MASK64) | ((a[2] & MASK64) << 64n);
        if (fid === 0) {
          const bytes = this.host.readGuest(gpa, Number(len));
          if (bytes === undefined) return fail(SbiError.InvalidParam);
          this.host.consoleWrite(bytes);
          return ok(len);
        }
        const got = this.host.consoleRead(Number(len));
        if (!this.host.writeGuest(gpa, got)) return fail(SbiError.InvalidParam);
        return ok(got.length);
      }
      case 2: this.host.consoleWrite(Uint8Array.of(Number(a[0] & 0xffn))); return ok();
      default: return this.unsupported();
    }
  }
}
