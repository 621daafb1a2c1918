/**
 * The hypervisor extension (privileged spec ch. 9) on the software hart: its
 * CSRs and their aliasing, trap routing between M, HS and VS, virtual
 * instructions, HLV/HSV, and two-stage (VS-stage over G-stage) translation
 * with its per-stage walk reference counts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GuestRam } from '../../memory/guest-memory.js';
import { MmioBus } from '../../devices/bus.js';
import { Hart, StopReason, type VmExit } from './hart.js';
import { DecodeCache } from './decode-cache.js';
import { Access, Cause, Csr, Hstatus, Priv } from './constants.js';
import { Op } from './decode.js';
import { TLB_SIZE } from './mmu.js';

const RAM = 0x80000000;
const PAGE = 4096;
const PTE_V = 1, PTE_R = 2, PTE_W = 4, PTE_X = 8, PTE_U = 16, PTE_A = 64, PTE_D = 128;
const LEAF = PTE_V | PTE_R | PTE_W | PTE_X | PTE_A | PTE_D;

function newHart(program: number[] = []): Hart {
  const ram = new GuestRam(RAM, 8 << 20);
  program.forEach((w, i) => ram.writeU32(RAM + 4 * i, w));
  const h = new Hart(0, { ram, bus: new MmioBus(), time: { frequency: 1e7, now: () => 0 }, decodeCache: new DecodeCache(ram) });
  h.reset(RAM);
  return h;
}

/** csrrw/csrrs through the CSR file as the instruction would (rd = x10, source x11). Returns the fault cause or 0. */
function csrOp(h: Hart, csr: number, op: Op, value?: number): number {
  if (value !== undefined) h.setX(11, value);
  return h.csr.execute(op, 10, value === undefined ? 0 : 11, csr);
}
const csrRead = (h: Hart, csr: number): number => {
  assert.equal(csrOp(h, csr, Op.CSRRS), 0, `read of CSR 0x${csr.toString(16)}`);
  return h.getX(10);
};
const csrWrite = (h: Hart, csr: number, v: number): number => csrOp(h, csr, Op.CSRRW, v);

test('misa has H, mideleg reads the VS interrupts as delegated, hstatus.VSXL is 64-bit', () => {
  const h = newHart();
  h.csr.execute(Op.CSRRS, 10, 0, Csr.MISA);
  assert.equal((h.getXBig(10) >> 7n) & 1n, 1n);
  csrWrite(h, Csr.MIDELEG, 0);
  assert.equal(csrRead(h, Csr.MIDELEG), 0x444);
  csrWrite(h, Csr.HSTATUS, -1);
  const hs = h.getXBig(10);
  h.csr.execute(Op.CSRRS, 10, 0, Csr.HSTATUS);
  assert.equal(h.getXBig(10) >> 32n, 2n, 'VSXL = 2');
  assert.equal(Number(h.getXBig(10) & 0xffffffffn), Hstatus.GVA | Hstatus.SPV | Hstatus.SPVP | Hstatus.HU | Hstatus.VTVM | Hstatus.VTW | Hstatus.VTSR);
  assert.ok(hs >= 0n);
  csrWrite(h, Csr.HEDELEG, -1);
  assert.equal(csrRead(h, Csr.HEDELEG), 0xb1ff, 'ecalls from HS/VS/M, guest-page faults and virtual instruction stay with HS');
  csrWrite(h, Csr.HIDELEG, -1);
  assert.equal(csrRead(h, Csr.HIDELEG), 0x444);
  assert.equal(csrRead(h, Csr.HGEIP), 0);
});

test('hvip, hip, mip and vsip alias the VS interrupt-pending bits', () => {
  const h = newHart();
  csrWrite(h, Csr.HVIP, 0x444);
  assert.equal(csrRead(h, Csr.HIP), 0x444);
  assert.equal(csrRead(h, Csr.MIP) & 0x444, 0x444);
  assert.equal(csrRead(h, Csr.VSIP), 0, 'nothing delegated by hideleg: vsip reads 0');
  csrWrite(h, Csr.HIDELEG, 0x044); // VSSIP, VSTIP
  assert.equal(csrRead(h, Csr.VSIP), 0x022, 'vsip shows the delegated VS bits at their S positions');
  csrWrite(h, Csr.VSIP, 0); // clears VSSIP (the only writable bit)
  assert.equal(csrRead(h, Csr.HVIP), 0x440);
  csrWrite(h, Csr.HIP, 0x4);
  assert.equal(csrRead(h, Csr.HVIP), 0x444, 'hip.VSSIP is hvip.VSSIP');
  csrWrite(h, Csr.VSIE, 0x222);
  assert.equal(csrRead(h, Csr.HIE), 0x044, 'vsie only reaches the delegated bits');
  assert.equal(csrRead(h, Csr.SIP) & 0x444, 0, 'sip hides the VS bits');
});

test('hgatp and vsatp are WARL: unsupported modes are ignored, the x4 root is 16 KiB-aligned', () => {
  const h = newHart();
  csrWrite(h, Csr.HGATP, Number((8n << 60n) | 0x80103n) | 0);
  h.setXBig(11, (8n << 60n) | (0x3fffn << 44n) | 0x80103n);
  h.csr.execute(Op.CSRRW, 0, 11, Csr.HGATP);
  h.csr.execute(Op.CSRRS, 10, 0, Csr.HGATP);
  assert.equal(h.getXBig(10), (8n << 60n) | 0x80100n, 'VMID reads 0, PPN[1:0] reads 0');
  assert.equal(h.mmu.hgatpRoot, 0x80100000);
  h.setXBig(11, (5n << 60n) | 0x1n);
  h.csr.execute(Op.CSRRW, 0, 11, Csr.HGATP);
  h.csr.execute(Op.CSRRS, 10, 0, Csr.HGATP);
  assert.equal(h.getXBig(10), (8n << 60n) | 0x80100n, 'an unsupported mode leaves hgatp unchanged');
  h.setXBig(11, (9n << 60n) | 0x80200n);
  h.csr.execute(Op.CSRRW, 0, 11, Csr.VSATP);
  assert.equal(h.mmu.vsatpMode, 9);
});

test('in V=1 the supervisor CSRs are the VS ones; hypervisor CSRs raise virtual instruction', () => {
  const h = newHart();
  h.setMode(Priv.S, true);
  assert.equal(csrWrite(h, Csr.SSCRATCH, 0x1234), 0);
  assert.equal(h.csr.vsscratchLo, 0x1234);
  assert.equal(h.csr.sscratchLo, 0);
  assert.equal(csrWrite(h, Csr.STVEC, 0x5000), 0);
  assert.equal(h.csr.vstvecLo, 0x5000);
  assert.equal(csrWrite(h, Csr.SSTATUS, 2), 0);
  assert.equal(h.csr.vsstatus & 2, 2);
  assert.equal(h.csr.mstatus & 2, 0);
  assert.equal(csrOp(h, Csr.HSTATUS, Op.CSRRS), Cause.VirtualInstruction);
  assert.equal(csrOp(h, Csr.VSSTATUS, Op.CSRRS), Cause.VirtualInstruction);
  assert.equal(csrOp(h, Csr.MSTATUS, Op.CSRRS), Cause.IllegalInstruction);
  assert.equal(csrOp(h, Csr.HGEIP, Op.CSRRW, 0), Cause.IllegalInstruction, 'writing a read-only CSR is illegal even for HS');
  h.csr.hstatus |= Hstatus.VTVM;
  assert.equal(csrOp(h, Csr.SATP, Op.CSRRS), Cause.VirtualInstruction);
  h.setMode(Priv.U, true);
  assert.equal(csrOp(h, Csr.SSCRATCH, Op.CSRRS), Cause.VirtualInstruction);
  h.setMode(Priv.U, false);
  assert.equal(csrOp(h, Csr.HSTATUS, Op.CSRRS), Cause.IllegalInstruction);
  h.setMode(Priv.S, false);
  assert.equal(csrOp(h, Csr.HSTATUS, Op.CSRRS), 0, 'HS-mode may access hypervisor CSRs');
  // Counters: mcounteren allows, hcounteren denies -> virtual instruction in VS.
  h.csr.mcounteren = 7;
  h.csr.hcounteren = 0;
  h.setMode(Priv.S, true);
  assert.equal(csrOp(h, Csr.TIME, Op.CSRRS), Cause.VirtualInstruction);
  h.csr.hcounteren = 2;
  assert.equal(csrOp(h, Csr.TIME, Op.CSRRS), 0);
});

/** Page-table builder: tables are taken from a pool of host pages; `toHost` maps a table's address to where it is written. */
class Tables {
  private next: number;
  constructor(private readonly ram: GuestRam, poolHost: number, private readonly toHost: (a: number) => number = (a) => a,
    private readonly fromHost: (a: number) => number = (a) => a) {
    this.next = poolHost;
  }

  alloc(bytes = PAGE): number {
    const at = this.next;
    this.next += bytes;
    for (let i = 0; i < bytes; i += 4) this.ram.writeU32(at + i, 0);
    return this.fromHost(at);
  }

  /** Maps the 4 KiB page at `va` to `pa` in the table rooted at `root` with `levels` levels (rootEntries in the root). */
  map(root: number, levels: number, rootEntries: number, va: number, pa: number, flags: number): void {
    let table = root;
    for (let i = levels - 1; i > 0; i--) {
      const idx = Math.floor(va / 2 ** (12 + 9 * i)) % (i === levels - 1 ? rootEntries : 512);
      const slot = this.toHost(table + idx * 8);
      let pte = this.ram.readU64(slot);
      if ((pte & PTE_V) === 0) {
        pte = (Math.floor(this.alloc() / PAGE) * 1024) | PTE_V;
        this.ram.writeU64(slot, pte);
      }
      table = Math.floor(pte / 1024) * PAGE;
    }
    this.ram.writeU64(this.toHost(table + (Math.floor(va / PAGE) % 512) * 8), Math.floor(pa / PAGE) * 1024 + flags);
  }
}

/**
 * A guest: G-stage (Sv39x4 or Sv48x4) maps guest-physical [GPA_BASE, +2 MiB)
 * to host [HOST_BASE, +2 MiB) with 4 KiB pages; the VS-stage tables live in
 * that guest-physical window and map GVA 0x1000_0000.. to GPA_BASE + 1 MiB..
 */
const GPA_BASE = 0x40000000, HOST_BASE = RAM + (4 << 20), GVA = 0x10000000;
function guest(h: Hart, sv48: boolean): void {
  const ram = h.env.ram;
  const levels = sv48 ? 4 : 3;
  const g = new Tables(ram, RAM + (1 << 20));
  const groot = g.alloc(4 * PAGE);
  for (let off = 0; off < (2 << 20); off += PAGE) g.map(groot, levels, 2048, GPA_BASE + off, HOST_BASE + off, LEAF | PTE_U);
  const toHost = (gpa: number): number => gpa - GPA_BASE + HOST_BASE;
  const vs = new Tables(ram, HOST_BASE, toHost, (a) => a - HOST_BASE + GPA_BASE);
  const vroot = vs.alloc();
  for (let k = 0; k < 4; k++) vs.map(vroot, levels, 512, GVA + k * PAGE, GPA_BASE + (1 << 20) + k * PAGE, LEAF);
  // A VS mapping to a guest-physical page the G-stage does not map.
  vs.map(vroot, levels, 512, GVA + 16 * PAGE, GPA_BASE + (8 << 20), LEAF);
  // A VS mapping to a page the G-stage maps without U (not accessible to a guest).
  const gNoU = GPA_BASE + (3 << 20);
  g.map(groot, levels, 2048, gNoU, HOST_BASE + (3 << 20), LEAF);
  vs.map(vroot, levels, 512, GVA + 17 * PAGE, gNoU, LEAF);
  // A readable, non-executable alias of the first data page.
  vs.map(vroot, levels, 512, GVA + 18 * PAGE, GPA_BASE + (1 << 20), LEAF & ~PTE_X);
  const mode = sv48 ? 9n : 8n;
  h.setXBig(11, (mode << 60n) | BigInt(groot / PAGE));
  assert.equal(h.csr.execute(Op.CSRRW, 0, 11, Csr.HGATP), 0);
  h.setXBig(11, (mode << 60n) | BigInt(vroot / PAGE));
  assert.equal(h.csr.execute(Op.CSRRW, 0, 11, Csr.VSATP), 0);
  ram.writeU32(HOST_BASE + (1 << 20) + 8, 0x55667788);
  ram.writeU32(HOST_BASE + (1 << 20) + 12, 0x11223344);
}

for (const sv48 of [false, true]) {
  const name = sv48 ? 'Sv48 over Sv48x4' : 'Sv39 over Sv39x4';
  test(`a two-stage walk (${name}) references ${sv48 ? 24 : 15} PTEs and is cached as one TLB entry`, () => {
    const h = newHart();
    h.setMode(Priv.S, false);
    guest(h, sv48);
    h.setMode(Priv.S, true);
    const m = h.mmu;
    const before = m.stats();
    const pa = m.translate(GVA + 8, Access.Read, false);
    assert.equal(pa, HOST_BASE + (1 << 20) + 8);
    const after = m.stats();
    const vsRefs = after.walkMemoryRefsVs - before.walkMemoryRefsVs;
    const gRefs = after.walkMemoryRefsG - before.walkMemoryRefsG;
    const levels = sv48 ? 4 : 3;
    assert.equal(vsRefs, levels);
    assert.equal(gRefs, levels * (levels + 1));
    assert.equal(after.walkMemoryRefs - before.walkMemoryRefs, sv48 ? 24 : 15);
    // The combined translation is in the VS read context: no more walks.
    assert.equal(m.translate(GVA + 16, Access.Read, false), HOST_BASE + (1 << 20) + 16);
    assert.equal(m.stats().walkMemoryRefs, after.walkMemoryRefs);
    // HS-mode does not see it (separate contexts): VA GVA is untranslated there (satp Bare).
    h.setMode(Priv.S, false);
    assert.equal(m.translate(GVA + 8, Access.Read, true), GVA + 8);
  });

  test(`guest-page faults (${name}) go to HS with htval = GPA >> 2 and hstatus.GVA/SPV/SPVP`, () => {
    const h = newHart();
    h.setMode(Priv.S, false);
    guest(h, sv48);
    h.csr.medeleg = 1 << Cause.LoadGuestPageFault | 1 << Cause.StoreGuestPageFault;
    h.csr.stvecLo = 0x80000400;
    h.setMode(Priv.S, true);
    h.pc = RAM + 0x100;
    assert.equal(h.mmu.translateData(GVA + 16 * PAGE + 0x18, Access.Read, GVA + 16 * PAGE + 0x18), -1);
    assert.equal(h.priv, Priv.S);
    assert.equal(h.virt, false);
    assert.equal(h.csr.scause, Cause.LoadGuestPageFault);
    assert.equal(h.csr.stvalLo, GVA + 16 * PAGE + 0x18);
    assert.equal(h.csr.htvalLo, (GPA_BASE + (8 << 20) + 0x18) / 4);
    assert.equal(h.csr.hstatus & (Hstatus.SPV | Hstatus.SPVP | Hstatus.GVA), Hstatus.SPV | Hstatus.SPVP | Hstatus.GVA);
    assert.equal(h.pc, 0x80000400);
    // A G-stage leaf without U faults too (store: cause 23).
    h.setMode(Priv.S, true);
    assert.equal(h.mmu.translateData(GVA + 17 * PAGE, Access.Write, GVA + 17 * PAGE), -1);
    assert.equal(h.csr.scause, Cause.StoreGuestPageFault);
    assert.equal(h.csr.htvalLo, (GPA_BASE + (3 << 20)) / 4);
    // Not delegated: to M, with mstatus.MPV/GVA and mtval2.
    h.csr.medeleg = 0;
    h.setMode(Priv.S, true);
    assert.equal(h.mmu.translateData(GVA + 16 * PAGE, Access.Read, GVA + 16 * PAGE), -1);
    assert.equal(h.priv, Priv.M);
    assert.equal(h.csr.mcause, Cause.LoadGuestPageFault);
    assert.equal(h.csr.mstatusH, 0xc0, 'MPV and GVA');
    assert.equal(h.csr.mtval2Lo, (GPA_BASE + (8 << 20)) / 4);
  });
}

// ---- instruction-level tests ----
const I = {
  ldA0A1: 0x0005b503, // ld a0, 0(a1)
  ecall: 0x00000073,
  sret: 0x10200073,
  wfi: 0x10500073,
  hlvD: (0x36 << 25) | (0 << 20) | (11 << 15) | (4 << 12) | (10 << 7) | 0x73, // hlv.d a0, (a1)
  hlvxWu: (0x34 << 25) | (3 << 20) | (11 << 15) | (4 << 12) | (10 << 7) | 0x73, // hlvx.wu a0, (a1)
  hsvW: (0x35 << 25) | (12 << 20) | (11 << 15) | (4 << 12) | (0 << 7) | 0x73, // hsv.w a2, (a1)
  hfenceGvma: (0x31 << 25) | 0x73,
  j0: 0x0000006f,
};

test('HLV/HSV from HS-mode access guest memory through both stages', () => {
  const h = newHart([I.hlvD, I.hsvW, I.hlvxWu, I.j0]);
  h.setMode(Priv.S, false);
  guest(h, false);
  h.csr.hstatus = Hstatus.SPVP;
  h.setX(11, GVA + 8);
  h.setX(12, 0x0badcafe);
  h.pc = RAM;
  h.run(2);
  assert.equal(h.getXBig(10), 0x1122334455667788n);
  assert.equal(h.env.ram.readU32(HOST_BASE + (1 << 20) + 8), 0x0badcafe);
  h.run(1);
  assert.equal(h.getXBig(10), 0x0badcafen, 'hlvx.wu reads an executable page');
  assert.equal(h.virt, false);
  assert.equal(h.priv, Priv.S);
  // hlvx.wu of a non-executable page: a load page fault, into HS with hstatus.GVA (and SPV = 0).
  h.csr.medeleg = 1 << Cause.LoadPageFault;
  h.csr.stvecLo = RAM + 12;
  h.setX(11, GVA + 18 * PAGE + 8);
  h.pc = RAM + 8;
  h.run(1);
  assert.deepEqual([h.csr.scause, h.csr.stvalLo, h.pc], [Cause.LoadPageFault, GVA + 18 * PAGE + 8, RAM + 12]);
  assert.equal(h.csr.hstatus & (Hstatus.GVA | Hstatus.SPV), Hstatus.GVA);
  assert.equal(h.mmu.readBase, 1 * 3 * TLB_SIZE, 'the HS read context is back after the faulting HLVX');
  // From U without hstatus.HU: illegal; from VS: virtual instruction.
  h.csr.medeleg = (1 << Cause.IllegalInstruction) | (1 << Cause.VirtualInstruction);
  h.csr.stvecLo = RAM + 12;
  h.setMode(Priv.U, false);
  h.pc = RAM;
  h.run(1);
  assert.equal(h.csr.scause, Cause.IllegalInstruction);
  h.mmu.setVsatp(0, 0);
  h.mmu.setHgatp(0, 0);
  h.setMode(Priv.S, true);
  h.pc = RAM;
  h.run(1);
  assert.equal(h.csr.scause, Cause.VirtualInstruction);
  assert.equal(h.csr.stvalLo, I.hlvD);
});

test('traps from V=1: hedeleg sends them to VS, ecall from VS is cause 10, SRET/WFI follow VTSR/VTW', () => {
  const h = newHart([I.ecall, I.sret, I.wfi, I.hfenceGvma, I.j0]);
  h.csr.medeleg = 0xffffff;
  h.csr.medeleg &= ~(1 << 11);
  h.csr.hedeleg = 1 << Cause.EcallU;
  h.csr.stvecLo = RAM + 0x800;
  h.csr.vstvecLo = RAM + 0x900;
  // ecall from VU, delegated to VS.
  h.setMode(Priv.U, true);
  h.pc = RAM;
  h.run(1);
  assert.deepEqual([h.priv, h.virt, h.pc, h.csr.vscause, h.csr.vsepcLo >>> 0], [Priv.S, true, RAM + 0x900, Cause.EcallU, RAM]);
  assert.equal(h.csr.vsstatus & 0x100, 0, 'vsstatus.SPP = U');
  // ecall from VS: cause 10, to HS.
  h.pc = RAM;
  h.run(1);
  assert.deepEqual([h.priv, h.virt, h.pc, h.csr.scause], [Priv.S, false, RAM + 0x800, Cause.EcallVS]);
  assert.equal(h.csr.hstatus & (Hstatus.SPV | Hstatus.SPVP | Hstatus.GVA), Hstatus.SPV | Hstatus.SPVP);
  // sret from HS returns to VS (hstatus.SPV).
  h.csr.sepcLo = RAM + 4; h.csr.sepcHi = 0;
  h.csr.mstatus |= 0x100; // SPP = S
  h.pc = RAM + 4;
  h.run(1);
  assert.deepEqual([h.priv, h.virt, h.pc], [Priv.S, true, RAM + 4]);
  // sret in VS with VTSR: virtual instruction (to HS).
  h.csr.hstatus |= Hstatus.VTSR;
  h.run(1);
  assert.deepEqual([h.priv, h.virt, h.csr.scause], [Priv.S, false, Cause.VirtualInstruction]);
  // sret in VS without VTSR: uses vsstatus/vsepc and stays in V=1.
  h.csr.hstatus = 0;
  h.setMode(Priv.S, true);
  h.csr.vsepcLo = RAM + 8;
  h.csr.vsstatus = 0;
  h.pc = RAM + 4;
  h.run(1);
  assert.deepEqual([h.priv, h.virt, h.pc], [Priv.U, true, RAM + 8]);
  // wfi in VU: virtual instruction; hfence.gvma in VS: virtual instruction.
  h.run(1);
  assert.equal(h.csr.scause, Cause.VirtualInstruction);
  h.setMode(Priv.S, true);
  h.pc = RAM + 12;
  h.run(1);
  assert.equal(h.csr.scause, Cause.VirtualInstruction);
  assert.equal(h.csr.stvalLo, I.hfenceGvma);
});

test('VS-level interrupts: taken in V=1 by VS when delegated by hideleg, cause translated to the S code', () => {
  const h = newHart([I.j0]);
  h.csr.mideleg = 0x222;
  h.csr.hideleg = 0x444;
  h.csr.vstvecLo = RAM + 0x900 + 1; // vectored
  h.csr.stvecLo = RAM + 0x800;
  h.csr.mie = 0x444;
  h.csr.hvip = 0x040; // VSTIP
  // In HS (V=0) a VS interrupt delegated to VS is not taken.
  h.setMode(Priv.S, false);
  h.csr.mstatus |= 2;
  h.pc = RAM;
  assert.equal(h.takeInterrupt(), false);
  // In VS with vsstatus.SIE = 0: not taken; with SIE = 1: to vstvec + 4 * 5.
  h.setMode(Priv.S, true);
  assert.equal(h.takeInterrupt(), false);
  h.csr.vsstatus |= 2;
  assert.equal(h.takeInterrupt(), true);
  assert.equal(h.csr.vscause, 5);
  assert.equal(h.csr.vscauseInterrupt, true);
  assert.equal(h.pc, RAM + 0x900 + 20);
  assert.equal(h.virt, true);
  // Not delegated by hideleg: the interrupt goes to HS even with vsstatus.SIE = 0 (HS interrupts are always enabled in V=1).
  h.csr.hideleg = 0;
  h.csr.vsstatus = 0;
  h.pc = RAM;
  assert.equal(h.takeInterrupt(), true);
  assert.deepEqual([h.virt, h.csr.scause, h.csr.scauseInterrupt], [false, 6, true]);
});

/** The hart's pending exit (read through a call: the compiler narrows the field after a test clears it). */
const pendingExit = (h: Hart): VmExit | undefined => h.exit;

test('with vmmExits, traps from VS that would reach HS or M stop the hart with the exit recorded, guest state untouched', () => {
  const h = newHart();
  h.setMode(Priv.S, false);
  guest(h, false);
  // Code on the second guest page (GVA + PAGE -> host HOST_BASE + 1 MiB + PAGE):
  // ecall; lui a1, 0x10010; ld a0, 0(a1) (GVA + 16 pages: the G-stage does not map it); j .
  const code = HOST_BASE + (1 << 20) + PAGE;
  [0x00000073, 0x100105b7, 0x0005b503, 0x0000006f].forEach((w, i) => h.env.ram.writeU32(code + 4 * i, w));
  h.vmmExits = true;
  h.pc = GVA + PAGE;
  h.setMode(Priv.S, true);
  const sepc = h.csr.sepcLo, hstatus = h.csr.hstatus;
  assert.equal(h.run(1000), StopReason.Exit);
  assert.deepEqual(h.exit, { cause: Cause.EcallVS, interrupt: false, tval: 0, gpa: 0, htinst: 0, priv: Priv.S, pc: GVA + PAGE });
  assert.equal(h.run(1000), StopReason.Exit, 'an unhandled exit stays pending');
  // The VMM handles the call and resumes the guest after it.
  h.exit = undefined;
  h.pc += 4;
  assert.equal(h.run(1000), StopReason.Exit);
  const exit = pendingExit(h);
  assert.equal(exit?.cause, Cause.LoadGuestPageFault);
  assert.equal(exit?.gpa, GPA_BASE + (8 << 20));
  assert.equal(exit?.htinst, 0, 'the instruction\'s own access: no pseudoinstruction');
  assert.equal(exit?.pc, GVA + PAGE + 8);
  assert.equal(h.virt, true, 'still in VS-mode');
  assert.equal(h.priv, Priv.S);
  assert.equal(h.csr.sepcLo, sepc, 'no trap state written');
  assert.equal(h.csr.hstatus, hstatus);
  assert.equal(h.stats.vmExits, 2);

  // A VS-stage root the G-stage does not map: the fault is on an implicit page-table read (§9.6.3).
  h.exit = undefined;
  h.csr.write(Csr.VSATP, (GPA_BASE + (8 << 20)) / PAGE, 8 << 28);
  assert.equal(h.run(1000), StopReason.Exit);
  assert.equal(pendingExit(h)?.cause, Cause.FetchGuestPageFault);
  assert.equal(pendingExit(h)?.htinst, 0x3000, 'the pseudoinstruction of a 64-bit page-table read');
  assert.equal(pendingExit(h)?.gpa, GPA_BASE + (8 << 20));
});

test('Sstc for VS-mode: stimecmp in VS is vstimecmp, compared with time + htimedelta, raising VSTIP (henvcfg.STCE)', () => {
  let now = 1000;
  const ram = new GuestRam(RAM, 8 << 20);
  const h = new Hart(0, { ram, bus: new MmioBus(), time: { frequency: 1e7, now: () => now }, decodeCache: new DecodeCache(ram) });
  h.reset(RAM);
  const STCE_HI = 1 << 31;
  csrOp(h, Csr.MCOUNTEREN, Op.CSRRW, 2);
  csrOp(h, Csr.HCOUNTEREN, Op.CSRRW, 2);
  // henvcfg.STCE is read-only zero while menvcfg.STCE is clear.
  h.csr.write(Csr.HENVCFG, 0, STCE_HI);
  assert.equal(h.csr.henvcfgHi, 0);
  h.csr.write(Csr.MENVCFG, 0, STCE_HI);
  h.setMode(Priv.S, true);
  assert.equal(csrOp(h, Csr.STIMECMP, Op.CSRRS), Cause.VirtualInstruction, 'without henvcfg.STCE: virtual instruction');
  h.setMode(Priv.M, false);
  h.csr.write(Csr.HENVCFG, 0, STCE_HI);
  h.csr.write(Csr.HTIMEDELTA, 500, 0);
  h.setMode(Priv.S, true);
  assert.equal(csrOp(h, Csr.STIMECMP, Op.CSRRW, 2000), 0);
  h.setMode(Priv.M, false);
  assert.equal(csrRead(h, Csr.VSTIMECMP), 2000, 'the write went to vstimecmp');
  assert.equal(csrRead(h, Csr.STIMECMP), -1, 'stimecmp untouched');
  h.csr.updateTimers();
  assert.equal(csrRead(h, Csr.HIP) & (1 << 6), 0, 'guest time 1500 < 2000');
  assert.equal(h.csr.timerDeadline(), 1500, 'fires at host time 2000 - 500');
  now = 1500;
  h.csr.updateTimers();
  assert.equal(csrRead(h, Csr.HIP) & (1 << 6), 1 << 6, 'VSTIP at guest time 2000');
  assert.equal(csrRead(h, Csr.HVIP) & (1 << 6), 0, 'hvip.VSTIP is the hypervisor\'s own bit');
  h.setMode(Priv.U, true);
  assert.equal(csrOp(h, Csr.STIMECMP, Op.CSRRS), Cause.VirtualInstruction, 'VU-mode may not touch it');
});

test('setting A/D in a VS-stage PTE is a write the G-stage must allow: else a guest-page fault with the write pseudoinstruction', () => {
  const h = newHart();
  h.setMode(Priv.S, false);
  const ram = h.env.ram;
  const g = new Tables(ram, RAM + (1 << 20));
  const groot = g.alloc(4 * PAGE);
  // The VS tables' pages (GPA_BASE + 0..3 pages) are read-only in the G-stage; the data page is read/write.
  for (let k = 0; k < 4; k++) g.map(groot, 3, 2048, GPA_BASE + k * PAGE, HOST_BASE + k * PAGE, PTE_V | PTE_R | PTE_U | PTE_A | PTE_D);
  g.map(groot, 3, 2048, GPA_BASE + (1 << 20), HOST_BASE + (1 << 20), LEAF | PTE_U);
  const vs = new Tables(ram, HOST_BASE, (gpa) => gpa - GPA_BASE + HOST_BASE, (a) => a - HOST_BASE + GPA_BASE);
  const vroot = vs.alloc();
  vs.map(vroot, 3, 512, GVA, GPA_BASE + (1 << 20), LEAF & ~(PTE_A | PTE_D)); // A and D clear: the walk must set A
  vs.map(vroot, 3, 512, GVA + PAGE, GPA_BASE + (1 << 20), LEAF); // A and D already set: no write needed
  h.csr.write(Csr.HGATP, groot / PAGE, 8 << 28);
  h.csr.write(Csr.VSATP, vroot / PAGE, 8 << 28);
  h.vmmExits = true;
  h.setMode(Priv.S, true);
  assert.equal(h.mmu.translate(GVA + PAGE, Access.Read, true), HOST_BASE + (1 << 20), 'no A/D update: the read-only G-stage mapping is enough');
  assert.equal(h.mmu.translate(GVA, Access.Read, false), -1);
  assert.equal(pendingExit(h)?.cause, Cause.LoadGuestPageFault, 'faults as the original access (a load)');
  assert.equal(pendingExit(h)?.htinst, 0x3020, 'the pseudoinstruction of a 64-bit write');
  assert.equal(ram.readU32(HOST_BASE + 2 * PAGE) & PTE_A, 0, 'the PTE was not written');
});

test('in V=1 the FPU needs vsstatus.FS on as well as mstatus.FS, and FP writes dirty both (§9.2.11)', () => {
  const h = newHart();
  h.csr.mstatus |= 1 << 13; // mstatus.FS = Initial
  h.setMode(Priv.S, true);
  assert.equal(csrOp(h, Csr.FCSR, Op.CSRRS), Cause.IllegalInstruction, 'vsstatus.FS is Off');
  h.setMode(Priv.M, false);
  h.csr.vsstatus |= 1 << 13; // vsstatus.FS = Initial
  h.setMode(Priv.S, true);
  assert.equal(csrOp(h, Csr.FCSR, Op.CSRRW, 0x20), 0);
  assert.equal((h.csr.vsstatus >>> 13) & 3, 3, 'vsstatus.FS Dirty');
  assert.equal((h.csr.mstatus >>> 13) & 3, 3, 'mstatus.FS Dirty');
  assert.equal((csrRead(h, Csr.SSTATUS) >>> 13) & 3, 3, 'the guest reads its own FS (sstatus is vsstatus in V=1)');
  h.setMode(Priv.M, false);
  h.csr.mstatus &= ~(3 << 13);
  h.setMode(Priv.S, true);
  assert.equal(csrOp(h, Csr.FCSR, Op.CSRRS), Cause.IllegalInstruction, 'mstatus.FS Off disables it for the guest too');
  // An FP instruction in VS-mode with the FPU off traps as illegal.
  h.setMode(Priv.M, false);
  h.csr.mstatus |= 1 << 13;
  h.csr.vsstatus &= ~(3 << 13);
  h.env.ram.writeU32(RAM, 0x021080d3); // fadd.d f1, f1, f1
  h.pc = RAM;
  h.setMode(Priv.S, true);
  h.vmmExits = true;
  h.run(1);
  assert.equal(h.exit?.cause, Cause.IllegalInstruction);
});
