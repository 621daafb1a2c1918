/**
 * Shadow page tables against hand-built guest page tables: hidden faults
 * fill, the guest's own faults are reported, permissions follow the guest's
 * privilege, A/D are set as the hardware would, and SFENCE.VMA of any page
 * of a superpage drops all of its pieces.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HostMachine } from './host.js';
import { RamWindow } from '../memory/ram-window.js';
import { AtpMode, ShadowMmu, View } from './shadow.js';
import { Pte } from '../cpu/riscv/pte.js';
import { Cause } from '../cpu/riscv/constants.js';

const MiB = 1048576;
const BASE = 0x80000000;
const DEVICE = 0x10000000;

function setup(): { host: HostMachine; mem: RamWindow; shadow: ShadowMmu; root: number; map: (va: number, gpa: number, flags: number, level?: number) => number } {
  const host = new HostMachine({ memory: 64 * MiB, harts: 1, cpu: 'interp' });
  const hostBase = host.allocate(16 * MiB, 2 * MiB);
  const mem = new RamWindow(host.ram, BASE, 16 * MiB, hostBase);
  const shadow = new ShadowMmu(host, mem, (gpa) => gpa >= DEVICE && gpa < DEVICE + 0x1000, 64);
  // Guest tables (Sv39) in guest RAM from 8 MiB on.
  let next = BASE + 8 * MiB;
  const alloc = (): number => { const a = next; next += 4096; return a; };
  const root = alloc();
  const map = (va: number, gpa: number, flags: number, level = 0): number => {
    let table = root;
    for (let l = 2; l > level; l--) {
      const at = table + (Math.floor(va / 2 ** (12 + 9 * l)) % 512) * 8;
      let pte = mem.readU64(at);
      if (pte % 2 === 0) { const t = alloc(); pte = (t / 4096) * 1024 + Pte.V; mem.writeU64(at, pte); }
      table = Math.floor(pte / 1024) * 4096;
    }
    const at = table + (Math.floor(va / 2 ** (12 + 9 * level)) % 512) * 8;
    mem.writeU64(at, (gpa / 4096) * 1024 + flags);
    return at;
  };
  return { host, mem, shadow, root, map };
}

/** The host-physical page the shadow of `view` maps `va` to, with its permission bits, or undefined. */
function shadowLeaf(s: ReturnType<typeof setup>, view: View, va: number): { hpa: number; flags: number } | undefined {
  const satp = s.shadow.hostSatp(AtpMode.Sv39, s.root, view);
  let table = Number(satp & ((1n << 44n) - 1n)) * 4096;
  for (let l = 2; l >= 0; l--) {
    const pte = s.host.ram.readU64(table + (Math.floor(va / 2 ** (12 + 9 * l)) % 512) * 8);
    if (pte % 2 === 0) return undefined;
    if (l === 0) return { hpa: Math.floor(pte / 1024) * 4096, flags: pte % 256 };
    table = Math.floor(pte / 1024) * 4096;
  }
  return undefined;
}

const RWX = Pte.V | Pte.R | Pte.W | Pte.X;

test('a hidden fault fills the shadow with the host page; A is set, and D only by a write', () => {
  const s = setup();
  const pteAt = s.map(0x1000, BASE + 0x5000, RWX);
  assert.deepEqual(s.shadow.fill(AtpMode.Sv39, s.root, View.Kernel, 0x1234, 'read', false, false), { kind: 'filled' });
  const leaf = shadowLeaf(s, View.Kernel, 0x1000)!;
  assert.equal(leaf.hpa, s.mem.toHost(BASE + 0x5000, 1));
  assert.equal(leaf.flags & Pte.W, 0, 'not writable until the guest PTE is dirty');
  assert.equal(s.mem.readU64(pteAt) & (Pte.A | Pte.D), Pte.A);
  s.shadow.fill(AtpMode.Sv39, s.root, View.Kernel, 0x1234, 'write', false, false);
  assert.equal(s.mem.readU64(pteAt) & (Pte.A | Pte.D), Pte.A | Pte.D);
  assert.equal(shadowLeaf(s, View.Kernel, 0x1000)!.flags & (Pte.W | Pte.U), Pte.W | Pte.U, 'writable, and U for the deprivileged kernel');
  assert.equal(s.shadow.stats.guestWalkRefs, 6, 'two Sv39 walks of three references');
});

test('the guest\'s privilege decides: U pages only for its user mode, and for its kernel only with SUM and never to execute', () => {
  const s = setup();
  s.map(0x2000, BASE + 0x6000, RWX | Pte.U);
  s.map(0x3000, BASE + 0x7000, RWX);
  const fill = (view: View, va: number, access: 'read' | 'write' | 'execute', sum = false) => s.shadow.fill(AtpMode.Sv39, s.root, view, va, access, sum, false);
  assert.deepEqual(fill(View.Kernel, 0x2000, 'read'), { kind: 'fault', cause: Cause.LoadPageFault });
  assert.deepEqual(fill(View.KernelSum, 0x2000, 'read', true), { kind: 'filled' });
  assert.deepEqual(fill(View.KernelSum, 0x2000, 'execute', true), { kind: 'fault', cause: Cause.FetchPageFault });
  assert.equal(shadowLeaf(s, View.KernelSum, 0x2000)!.flags & Pte.X, 0, 'a user page is never executable for the kernel');
  assert.deepEqual(fill(View.User, 0x2000, 'execute'), { kind: 'filled' });
  assert.deepEqual(fill(View.User, 0x3000, 'read'), { kind: 'fault', cause: Cause.LoadPageFault });
  assert.equal(shadowLeaf(s, View.User, 0x3000), undefined);
});

test('device pages are reported for emulation; tables and pages outside RAM are access faults', () => {
  const s = setup();
  s.map(0x4000, DEVICE, Pte.V | Pte.R | Pte.W);
  assert.deepEqual(s.shadow.fill(AtpMode.Sv39, s.root, View.Kernel, 0x4008, 'write', false, false), { kind: 'mmio', gpa: DEVICE + 8 });
  s.map(0x5000, 0x200000000, RWX);
  assert.deepEqual(s.shadow.fill(AtpMode.Sv39, s.root, View.Kernel, 0x5000, 'read', false, false), { kind: 'fault', cause: Cause.LoadAccess });
  // A level-1 entry pointing at a table outside RAM.
  const l2 = s.map(0x40000000, 0x300000000, Pte.V, 1);
  assert.ok(l2 > 0);
  assert.deepEqual(s.shadow.fill(AtpMode.Sv39, s.root, View.Kernel, 0x40000000, 'read', false, false), { kind: 'fault', cause: Cause.LoadAccess });
});

test('SFENCE.VMA of one page of a guest superpage drops every piece of it; of a 4 KiB page, that page only', () => {
  const s = setup();
  const superVa = 0x200000; // a 2 MiB superpage
  s.map(superVa, BASE + 2 * MiB, RWX | Pte.A | Pte.D, 1);
  s.map(0x1000, BASE + 0x5000, RWX | Pte.A | Pte.D);
  s.map(0x3000, BASE + 0x7000, RWX | Pte.A | Pte.D);
  for (const va of [superVa, superVa + 0x1000, superVa + 0x1ff000, 0x1000, 0x3000]) s.shadow.fill(AtpMode.Sv39, s.root, View.Kernel, va, 'read', false, false);
  assert.equal(shadowLeaf(s, View.Kernel, superVa + 0x1ff000)!.hpa, s.mem.toHost(BASE + 4 * MiB - 0x1000, 1), 'the piece inside the superpage');
  s.shadow.flushPage(superVa + 0x5000); // a page of the superpage the shadow never filled
  for (const va of [superVa, superVa + 0x1000, superVa + 0x1ff000]) assert.equal(shadowLeaf(s, View.Kernel, va), undefined);
  s.shadow.flushPage(0x1000);
  assert.equal(shadowLeaf(s, View.Kernel, 0x1000), undefined);
  assert.ok(shadowLeaf(s, View.Kernel, 0x3000) !== undefined, 'other 4 KiB pages stay');
});

test('a spent pool starts over instead of failing', () => {
  const s = setup();
  for (let i = 0; i < 200; i++) s.map(i * 2 * MiB, BASE + 0x5000, RWX);
  for (let i = 0; i < 200; i++) assert.deepEqual(s.shadow.fill(AtpMode.Sv39, s.root, View.Kernel, i * 2 * MiB, 'read', false, false), { kind: 'filled' });
  assert.ok(s.shadow.stats.flushes > 0, 'the 64-page pool was flushed');
  assert.ok(s.shadow.stats.tablePages <= 64);
});
