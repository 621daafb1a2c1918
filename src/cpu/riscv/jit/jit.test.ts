/**
 * The binary translator against the interpreter: random programs run on both
 * engines must end in exactly the same state — every integer and FP
 * register, fflags, the data they stored, and the retired-instruction count.
 *
 * Each program is a loop whose body is random instructions (ALU, M, loads
 * and stores including misaligned ones, FP, atomics, forward branches and
 * jumps, CSR accesses, ECALL/illegal encodings that trap to a handler which
 * skips them). The loop runs often enough for the translator to take over,
 * and halfway through it patches an instruction of its own body, so a stale
 * translation would show in the final registers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VirtMachine, type CpuEngine } from '../../../machine/virt.js';
import type { JitBackend, JitOptions } from './jit.js';
import { BufferCharBackend } from '../../../backends/buffer-char.js';
import { Priv } from '../constants.js';
import type { Hart } from '../hart.js';
import { BRANCH_HINTS, WasmBackend, type InlineMemory } from './wasm.js';

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return s;
  };
}

// ---- a tiny assembler (unprivileged spec ch. 2/34 encodings) ----
const R = (f7: number, rs2: number, rs1: number, f3: number, rd: number, op: number): number =>
  ((f7 << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | op) >>> 0;
const I = (imm: number, rs1: number, f3: number, rd: number, op: number): number =>
  (((imm & 0xfff) << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | op) >>> 0;
const S = (imm: number, rs2: number, rs1: number, f3: number, op: number): number =>
  ((((imm >> 5) & 0x7f) << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) | ((imm & 31) << 7) | op) >>> 0;
const B = (imm: number, rs2: number, rs1: number, f3: number): number =>
  ((((imm >> 12) & 1) << 31) | (((imm >> 5) & 0x3f) << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) |
    (((imm >> 1) & 0xf) << 8) | (((imm >> 11) & 1) << 7) | 0x63) >>> 0;
const J = (imm: number, rd: number): number =>
  ((((imm >> 20) & 1) << 31) | (((imm >> 1) & 0x3ff) << 21) | (((imm >> 11) & 1) << 20) | (((imm >> 12) & 0xff) << 12) | (rd << 7) | 0x6f) >>> 0;
const U = (imm20: number, rd: number, op: number): number => (((imm20 & 0xfffff) << 12) | (rd << 7) | op) >>> 0;
/** The R4 format of the fused multiply-adds (opcode MADD, MSUB, NMSUB, NMADD). */
const R4 = (rs3: number, fmt: number, rs2: number, rs1: number, rm: number, rd: number, op: number): number =>
  ((rs3 << 27) | (fmt << 25) | (rs2 << 20) | (rs1 << 15) | (rm << 12) | (rd << 7) | op) >>> 0;
const FMA_OPCODES = [0x43, 0x47, 0x4b, 0x4f];
const addi = (rd: number, rs1: number, imm: number): number => I(imm, rs1, 0, rd, 0x13);
const csrrw = (rd: number, csr: number, rs1: number): number => I(csr, rs1, 1, rd, 0x73);
const csrrs = (rd: number, csr: number, rs1: number): number => I(csr, rs1, 2, rd, 0x73);

/** Registers the random body may write (x24..x31 hold the harness's pointers and counters). */
const BODY_REGS = 23;
const DATA = 31, CODE = 30, LOOP = 29, TMP = 28, TMP2 = 27, PATCH = 26, ACC = 25, INC = 24;

/** (funct7, funct3, opcode) of every OP and OP-32 instruction of RV64IM. */
const RR_FORMS: Array<[number, number, number]> = [
  ...[0, 1, 2, 3, 4, 5, 6, 7].map((f3): [number, number, number] => [0, f3, 0x33]),
  [0x20, 0, 0x33], [0x20, 5, 0x33],
  ...[0, 1, 2, 3, 4, 5, 6, 7].map((f3): [number, number, number] => [1, f3, 0x33]),
  [0, 0, 0x3b], [0, 1, 0x3b], [0, 5, 0x3b], [0x20, 0, 0x3b], [0x20, 5, 0x3b],
  [1, 0, 0x3b], [1, 4, 0x3b], [1, 5, 0x3b], [1, 6, 0x3b], [1, 7, 0x3b],
];

/**
 * FP values at DATA + EDGE_AT, where the FPU's fast paths end: signed zeros, subnormals and the smallest
 * normals, integers and halves at the conversions' range limits, the largest finite numbers, infinities,
 * quiet and signaling NaNs, as doubles and as NaN-boxed singles (and one single that is not boxed).
 */
const EDGE_AT = 64;
const EDGES: bigint[] = [
  0n, 0x8000000000000000n, 1n, 0x000fffffffffffffn, 0x0010000000000000n, 0x8010000000000001n,
  0x3ff0000000000000n, 0xbff8000000000000n, 0x4004000000000000n, 0xbfe0000000000000n,
  0x41dfffffffe00000n, 0xc1e0000000200000n, 0x43e0000000000000n, 0xc3e0000000000000n, 0x43f0000000000000n, 0x41efffffffff0000n,
  0x7fefffffffffffffn, 0x7ff0000000000000n, 0xfff0000000000000n, 0x7ff8000000000000n, 0x7ff0000000000001n, 0x3fd5555555555555n,
  0xffffffff3f800000n, 0xffffffff80000000n, 0xffffffff00800000n, 0xffffffff00000001n, 0xffffffff7f7fffffn,
  0xffffffff7f800000n, 0xffffffff7f800001n, 0xffffffff3dcccccdn, 0xffffffff4f000000n, 0x000000003f800000n,
  // and ordinary numbers
  0x3ff199999999999an, 0xc00d99999999999an, 0x400921fb54442d18n, 0x4202a05f20000000n, 0x3ddb7cdfd9d7bdbbn,
  0xc4ada56a4b0835c0n, 0x40fe240c9fbe76c9n, 0x3fb999999999999an, 0x81bac9a7b3b7302fn, 0x44dfde9f10a8d361n,
  0xffffffff3f8ccccdn, 0xffffffffc06ccccdn, 0xffffffff40490fdbn, 0xffffffff501502f9n, 0xffffffff2edbe6ffn,
  0xffffffffe56d2b52n, 0xffffffff3e99999an,
  // 49 and 55 (49 ^ 55 = 6, the index of 1.0): x = 1 + 2^-52 and y = 2^-53 (1 - 2^-53), where the fused x * y + 1
  // is 1 + 2^-53 + (2^-106 - 2^-158): just above a tie, which only rounding to odd in the emulation gets right.
  0x3ff0000000000001n, 0x4000000000000000n, 0x3fe8000000000000n, 0x8170000000000000n, 0x7e70000000000000n,
  0x01a56e1fc2f8f359n, 0x3c9fffffffffffffn,
];

/** Powers off through the sifive,test device (writing 0x5555 to 0x100000), then spins. */
const POWER_OFF = [U(0x100, TMP, 0x37), U(0x5, TMP2, 0x37), addi(TMP2, TMP2, 0x555), S(0, TMP2, TMP, 2, 0x23), J(0, 0)];

/** An image of `code` at the start of the code page with the edge table on the data page, at DATA + EDGE_AT. */
function withEdgeTable(code: number[]): Uint32Array {
  const image = new Uint32Array((0x10000 + EDGE_AT) / 4 + 2 * EDGES.length);
  image.set(code);
  new BigUint64Array(image.buffer, 0x10000 + EDGE_AT).set(EDGES);
  return image;
}

/** Builds one random program; returns its 32-bit words (the body may hold 16-bit pairs) and, after them, the data page's edge table. */
/**
 * What a program's body is made of: everything; everything but the CSR accesses and traps that leave
 * translated code ('straight', which patches its first instruction); or mostly FP instructions, with a
 * CSR access (fflags, frm) about every 40 instructions, so that most run in translated code after another.
 */
type ProgramKind = 'mixed' | 'straight' | 'fp';

function program(seed: number, kind: ProgramKind = 'mixed'): Uint32Array {
  const straight = kind === 'straight';
  const r = rng(seed);
  const pick = (n: number): number => r() % n;
  const reg = (): number => pick(32);
  const dst = (): number => 1 + pick(BODY_REGS);
  const body: number[] = [];
  const bodyLen = 120 + pick(80);
  // A straight program has no CSR accesses or traps (which leave translated code) and patches its first instruction.
  let patchSlot = straight ? 0 : -1;
  if (straight) body.push(addi(ACC, ACC, 0));
  for (let k = body.length; k < bodyLen; k++) {
    const left = bodyLen - k - 1;
    let form = pick(16);
    if (straight && (form === 12 || form === 13)) form = 0;
    if (kind === 'fp') form = form < 14 ? 10 : pick(3) === 0 ? 12 : 0;
    switch (form) {
      case 0: case 1: { // register-immediate ALU
        const f3 = pick(8);
        let imm = (r() & 0xfff) - 2048;
        if (f3 === 1) imm = pick(64);
        if (f3 === 5) imm = pick(64) | (pick(2) << 10);
        body.push(I(imm, reg(), f3, dst(), 0x13));
        break;
      }
      case 2: { // 32-bit register-immediate
        const f3 = [0, 1, 5][pick(3)];
        const imm = f3 === 0 ? (r() & 0xfff) - 2048 : pick(32) | (f3 === 5 ? pick(2) << 10 : 0);
        body.push(I(imm, reg(), f3, dst(), 0x1b));
        break;
      }
      case 3: case 4: { // register-register ALU, M, and their W forms
        const [f7, f3, op] = RR_FORMS[pick(RR_FORMS.length)];
        body.push(R(f7, reg(), reg(), f3, dst(), op));
        break;
      }
      case 5: body.push(pick(2) ? U(r(), dst(), 0x37) : U(r(), dst(), 0x17)); break;
      case 6: case 7: { // loads near DATA, any alignment
        const f3 = [0, 1, 2, 3, 4, 5, 6][pick(7)];
        body.push(I(pick(128) - 64, DATA, f3, dst(), 0x03));
        break;
      }
      case 8: body.push(S(pick(128) - 64, reg(), DATA, pick(4), 0x23)); break;
      case 9: { // forward branch or jump, within the body
        if (left < 2) { body.push(addi(dst(), reg(), 1)); break; }
        const skip = 1 + pick(Math.min(3, left - 1));
        if (pick(4) === 0) body.push(J(4 * (skip + 1), pick(2) ? dst() : 0));
        else body.push(B(4 * (skip + 1), reg(), reg(), [0, 1, 4, 5, 6, 7][pick(6)]));
        break;
      }
      case 10: { // FP: every form of F and D but FMA and FCLASS, on values that include the edge table's
        // Singles mostly in f0-f15 and doubles in f16-f31, so that most operands are of their operation's format
        // (a single operation on a double register reads the canonical NaN, which would spread).
        const fmt = pick(2); // 0: single, 1: double
        const fr = (f = fmt): number => pick(8) === 0 ? pick(32) : 16 * f + pick(16);
        const rm = (): number => [0, 1, 2, 3, 4, 7, 7, 7][pick(8)]; // mostly dynamic, as compilers emit
        const edge = (f: number): number => { // an entry of the format (single entries are boxed, bits 63:32 all set)
          for (;;) { const k = pick(EDGES.length); if (pick(8) === 0 || (EDGES[k] >> 32n === 0xffffffffn) === (f === 0)) return k; }
        };
        switch (pick(16)) {
          case 0: body.push(I(8 * pick(16) - 64, DATA, 3, fr(1), 0x07)); break; // fld
          case 1: body.push(S(8 * pick(16) - 64, fr(1), DATA, 3, 0x27)); break; // fsd
          case 2: case 14: { const rd = fr(); body.push(I(EDGE_AT + 8 * edge(rd >> 4), DATA, 3, rd, 0x07)); break; } // from the table
          case 15: body.push(R4(fr(), fmt, fr(), fr(), rm(), fr(), FMA_OPCODES[pick(4)])); break; // fmadd/fmsub/fnmsub/fnmadd
          case 3: body.push(R([0x00, 0x04, 0x08, 0x0c][pick(4)] | fmt, fr(), fr(), rm(), fr(), 0x53)); break; // fadd/fsub/fmul/fdiv
          case 4: body.push(R(0x2c | fmt, 0, fr(), rm(), fr(), 0x53)); break; // fsqrt
          case 5: body.push(R(0x78 | fmt, 0, reg(), 0, fr(), 0x53)); break; // fmv.w.x, fmv.d.x
          case 6: body.push(R(0x70 | fmt, 0, fr(), 0, dst(), 0x53)); break; // fmv.x.w, fmv.x.d
          case 7: body.push(R(0x60 | fmt, pick(4), fr(), [0, 1, 7][pick(3)], dst(), 0x53)); break; // fcvt.{w,wu,l,lu}.fmt
          case 8: body.push(R(0x50 | fmt, fr(), fr(), pick(3), dst(), 0x53)); break; // fle/flt/feq
          case 9: body.push(R(0x68 | fmt, pick(4), reg(), rm(), fr(), 0x53)); break; // fcvt.fmt.{w,wu,l,lu}
          case 10: body.push(R(0x10 | fmt, fr(), fr(), pick(3), fr(), 0x53)); break; // fsgnj/fsgnjn/fsgnjx
          case 11: body.push(R(0x14 | fmt, fr(), fr(), pick(2), fr(), 0x53)); break; // fmin/fmax
          case 12: body.push(fmt ? R(0x21, 0, fr(0), rm(), fr(1), 0x53) : R(0x20, 1, fr(1), rm(), fr(0), 0x53)); break; // fcvt.d.s, fcvt.s.d
          default: body.push(pick(2) ? I(4 * pick(32) - 64, DATA, 2, fr(0), 0x07) : S(4 * pick(32) - 64, fr(0), DATA, 2, 0x27)); break; // flw, fsw
        }
        break;
      }
      case 11: { // atomics on DATA (aligned)
        const f5 = [0x00, 0x01, 0x04, 0x08, 0x0c, 0x10, 0x14, 0x18, 0x1c, 0x02, 0x03][pick(11)];
        const f3 = pick(2) ? 2 : 3;
        body.push(R((f5 << 2) | pick(4), f5 === 0x02 ? 0 : reg(), DATA, f3, dst(), 0x2f));
        break;
      }
      case 12: // CSR traffic that ends translated blocks: mscratch, fflags (read, or write: NX on or off), frm
        switch (pick(4)) {
          case 0: body.push(csrrw(dst(), 0x340, reg())); break;
          case 1: body.push(csrrs(dst(), 0x001, 0)); break;
          case 2: body.push(csrrw(dst(), 0x001, reg())); break;
          default: body.push(I(0x002, [0, 0, 0, 0, 0, 0, 1, 2, 3, 4][pick(10)], 5, dst(), 0x73)); break; // csrrwi frm
        }
        break;
      case 13: // traps: ecall, ebreak, an illegal word; the handler skips them
        body.push([0x00000073, 0x00100073, 0xffffffff, 0x00000000][pick(4)] >>> 0);
        break;
      case 14: { // a pair of compressed instructions: c.addi and c.mv/c.add
        const rd = dst();
        const imm = pick(64) - 32 || 1;
        const cAddi = 0x0001 | ((imm & 0x1f) << 2) | (rd << 7) | (((imm >> 5) & 1) << 12);
        const cAdd = 0x9002 | (pick(31) + 1) << 2 | (dst() << 7);
        body.push((cAddi | (cAdd << 16)) >>> 0);
        break;
      }
      default:
        if (patchSlot < 0) { patchSlot = body.length; body.push(addi(ACC, ACC, 0)); } // patched at run time
        else body.push(addi(dst(), reg(), (r() & 0xfff) - 2048));
    }
  }
  if (patchSlot < 0) { patchSlot = body.length; body.push(addi(ACC, ACC, 0)); }

  const w: number[] = [];
  // Prologue.
  const HANDLER_AT = 16; // word index of the trap handler
  w.push(U(0, CODE, 0x17)); // auipc x30, 0: code base
  w.push(addi(TMP, CODE, HANDLER_AT * 4));
  w.push(csrrw(0, 0x305, TMP)); // mtvec
  w.push(U(0x6, TMP, 0x37)); // lui x28, 0x6 -> 0x6000: mstatus.FS
  w.push(csrrs(0, 0x300, TMP));
  w.push(U(0x10, DATA, 0x37)); // lui x31, 0x10 ...
  w.push(R(0, DATA, CODE, 0, DATA, 0x33)); // x31 = code + 0x10000: the data page
  w.push(addi(LOOP, 0, 40));
  w.push(U(0x000c9, PATCH, 0x37)); // x26 = the encoding of addi x25, x25, 0 (0x000c8c93)
  w.push(addi(PATCH, PATCH, -0x36d));
  w.push(U(0x00700, INC, 0x37)); // x24 turns it into addi x25, x25, 7
  w.push(I(0x001, 1, 6, 0, 0x73)); // csrrsi x0, fflags, NX: as in FP code that has rounded once
  const bodyAt = 24;
  while (w.length < HANDLER_AT) w.push(addi(0, 0, 0));
  // Trap handler: mepc += length of the trapping instruction.
  w.push(I(0x341, 0, 2, TMP2, 0x73)); // csrr x27, mepc
  w.push(I(0, TMP2, 5, TMP, 0x03)); // lhu x28, 0(x27)
  w.push(I(3, TMP, 7, TMP, 0x13)); // andi x28, x28, 3
  w.push(addi(TMP, TMP, -3));
  w.push(B(12, 0, TMP, 1)); // bnez x28, +12 (compressed)
  w.push(addi(TMP2, TMP2, 4));
  w.push(J(8, 0));
  w.push(addi(TMP2, TMP2, 2));
  w.push(csrrw(0, 0x341, TMP2)); // csrw mepc
  w.push(0x30200073); // mret
  while (w.length < bodyAt) w.push(addi(0, 0, 0));
  // Loop: every iteration stores to a data word on the code page (keeping the write TLB warm);
  // iteration 20 patches the marked body instruction.
  const loopAt = w.length;
  w.push(S(0x7fc, 0, CODE, 2, 0x23)); // sw x0, 0x7fc(x30)
  w.push(addi(TMP, 0, 20));
  w.push(B(12, TMP, LOOP, 1)); // bne x29, x28, +12
  w.push(R(0, INC, PATCH, 0, PATCH, 0x33)); // add x26, x26, x24
  w.push(S((loopAt + 5 + patchSlot) * 4, PATCH, CODE, 2, 0x23)); // sw x26, slot(x30)
  w.push(...body);
  w.push(addi(LOOP, LOOP, -1));
  w.push(B((loopAt - w.length) * 4, 0, LOOP, 1)); // bnez x29, loop
  w.push(...POWER_OFF);
  return withEdgeTable(w);
}

interface EndState {
  exit: number | undefined;
  instret: number;
  x: string;
  f: string;
  fflags: number;
  data: string;
  translations: number;
  tierUps: number;
}

/** Instructions per slice: small, so that background compiles land (between slices) while the programs run. */
const SLICE = 256;

/**
 * Runs `m` slice by slice until it powers off; whenever a batch is compiling
 * in the background, waits for it first (as if the compile took no time:
 * deterministic, and the background path still installs every module).
 */
async function runToEnd(m: VirtMachine): Promise<void> {
  for (let i = 0; i < 200_000 && m.exitCode === undefined; i++) {
    if (m.jit?.busy === true) await m.jit.settle();
    m.runSlice();
  }
}

/** The integer registers as `i:high:low` words (the end state's `x`). */
function registers(h: Hart): string {
  return Array.from(h.xl.subarray(0, 32), (v, i) => `${i}:${h.xh[i]}:${v}`).join(' ');
}

async function runOn(image: string, cpu: CpuEngine, jitBackend: JitBackend = 'wasm', options: JitOptions = {}): Promise<EndState> {
  const m = machineOn(image, cpu, jitBackend, options);
  await runToEnd(m);
  return endState(m);
}

/** A machine with `mib` MiB of RAM that runs `image` on `cpu`, translating at a threshold of 4. */
function machineOn(image: string, cpu: CpuEngine, jitBackend: JitBackend = 'wasm', options: JitOptions = {}, mib = 32): VirtMachine {
  const m = new VirtMachine({ memory: mib * 1048576, harts: 1, bios: null, kernel: image, console: new BufferCharBackend(), cpu, jitThreshold: 4, jitBackend, slice: SLICE });
  if (cpu === 'jit') assert.equal(m.jit?.backend, jitBackend);
  m.jit?.configure(options);
  return m;
}

/** An end state without the translator's own counts (the interpreter has none): what the guest can see. */
function guestState(s: EndState): EndState {
  return { ...s, translations: 0, tierUps: 0 };
}

/**
 * Runs `image` on the interpreter, which must power off, then on the
 * WebAssembly back end with each of `modes`' options: each run must
 * translate and end as the interpreter's did.
 */
async function assertJitMatchesInterpreter(image: string, modes: ReadonlyArray<readonly [string, JitOptions]>): Promise<void> {
  const interp = await runOn(image, 'interp');
  assert.equal(interp.exit, 0, 'the program must power off');
  for (const [mode, options] of modes) {
    const jit = await runOn(image, 'jit', 'wasm', options);
    assert.ok(jit.translations > 0);
    assert.deepEqual(guestState(jit), guestState(interp), mode);
  }
}

/** What a program left behind in `m` (see {@link EndState}). */
function endState(m: VirtMachine): EndState {
  const h = m.harts[0];
  const dataOff = 0x10000 - 64;
  return {
    exit: m.exitCode,
    instret: h.stats.instret,
    x: registers(h),
    f: Array.from(h.fpu.i32).join(','),
    fflags: h.fpu.fflags,
    data: Buffer.from(m.ram.u8.subarray(dataOff, dataOff + 256)).toString('hex'),
    translations: m.jit?.stats.translations ?? 0,
    tierUps: m.jit?.stats.tierUps ?? 0,
  };
}

/** Writes `words` as a raw image in a new temporary directory; returns its path. */
function imageOf(name: string, words: ArrayLike<number>): string {
  const image = join(mkdtempSync(join(tmpdir(), 'tsvisor-jit-')), name);
  writeFileSync(image, new Uint8Array(Uint32Array.from(words).buffer));
  return image;
}

/**
 * Runs `image` on the JIT's WebAssembly back end with `options`, telling
 * `seen` about every module it assembles: each region's inline mode and the
 * module's bytes.
 */
async function runSeeingModules(image: string, options: JitOptions, seen: (modes: InlineMemory[], bytes: Uint8Array) => void): Promise<EndState> {
  const assemble = Object.getOwnPropertyDescriptor(WasmBackend.prototype, 'assemble') as PropertyDescriptor;
  const original = WasmBackend.prototype.assemble;
  WasmBackend.prototype.assemble = function (this: WasmBackend, regions, inline) {
    const bytes = original.call(this, regions, inline);
    seen(typeof inline === 'string' ? regions.map(() => inline) : [...inline], bytes.slice());
    return bytes;
  };
  try {
    return await runOn(image, 'jit', 'wasm', options);
  } finally {
    Object.defineProperty(WasmBackend.prototype, 'assemble', assemble);
  }
}

const MODES: Array<[string, JitBackend, JitOptions]> = [
  ['wasm', 'wasm', {}],
  ['wasm, calling the shared accesses', 'wasm', { inlineMemory: 'none' }],
  ['wasm, compiled in the background', 'wasm', { background: true }],
  // Memory accesses inlined in loops only, and pages recompiled with them all inlined as soon as they have run.
  ['wasm, inlined in loops and tiered up', 'wasm', { inlineMemory: 'loops', tierUpAt: 1, tierUpEvery: 1 }],
  ['js', 'js', {}],
];
for (const [mode, backend, options] of MODES) for (const kind of ['mixed', 'fp'] as const) {
  const what = kind === 'fp' ? 'random FP-heavy programs' : 'random programs';
  test(`the JIT (${mode}) ends ${what} in the same state as the interpreter`, { timeout: 120_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsvisor-jit-'));
    let translated = 0, tieredUp = 0;
    for (let seed = 1; seed <= 40; seed++) {
      const image = join(dir, `p${seed}.bin`);
      writeFileSync(image, new Uint8Array(program(seed, kind).buffer));
      const interp = await runOn(image, 'interp');
      const jit = await runOn(image, 'jit', backend, options);
      assert.equal(interp.exit, 0, `seed ${seed}: the program must power off`);
      translated += jit.translations;
      tieredUp += jit.tierUps;
      assert.deepEqual(guestState(jit), guestState(interp), `seed ${seed}`);
    }
    assert.ok(translated >= 40, `the translator must have taken over (translations: ${translated})`);
    if (options.tierUpAt !== undefined) assert.ok(tieredUp > 0, 'pages were recompiled with inlined accesses');
  });
}

test('a store into a translated loop changes what the loop does next', { timeout: 30_000 }, async () => {
  // x25 stays 0 under "addi x25, x25, 0" until the loop patches it to "addi x25, x25, 7" in iteration 20 of 40.
  const image = imageOf('smc.bin', program(1000, 'straight'));
  const interp = await runOn(image, 'interp');
  const jit = await runOn(image, 'jit');
  assert.ok(jit.translations > 0);
  assert.equal(jit.x, interp.x);
  assert.match(interp.x, / 25:0:140 /);
  assert.equal(jit.instret, interp.instret);
});

/**
 * Every FP instruction form with an inline fast path in translated code (and their neighbours: static
 * rounding modes, the other format), on every pair of edge-table operands, folding each result into a
 * hash (x7) and, after each pair, the exception flags. Three passes: frm RNE with NX set before each
 * pair (the fast paths run), RNE with no flags set, and RDN. The interpreter, which the fast paths must
 * match result for result and flag for flag, is the reference.
 */
function fpEdgeProgram(): Uint32Array {
  const w: number[] = [];
  const ACC_ = 7, K = 15, T = 14, R_ = 13, BITS = 16, SMALL = 17, END = 9, PASS = 10, FRM = 11, FLAGS = 12;
  const fold = (r: number): void => { w.push(R(0, r, ACC_, 4, ACC_, 0x33), R(1, K, ACC_, 0, ACC_, 0x33)); }; // xor, mul
  const foldF = (f: number, double = true): void => { w.push(R(double ? 0x71 : 0x70, 0, f, 0, T, 0x53)); fold(T); };
  w.push(U(0, CODE, 0x17), U(0x10, DATA, 0x37), R(0, DATA, CODE, 0, DATA, 0x33)); // DATA = code + 0x10000
  w.push(U(0x6, TMP, 0x37), csrrs(0, 0x300, TMP)); // mstatus.FS
  w.push(addi(END, 0, 8 * EDGES.length), U(0x9e378, K, 0x37), addi(K, K, 0x5b1), addi(PASS, 0, 0), addi(ACC_, 0, 0));
  const pass = w.length;
  // frm = pass 2 ? RDN : RNE; the flags each pair starts with = pass 1 ? none : NX
  w.push(addi(R_, PASS, -2), I(1, R_, 3, R_, 0x13), I(1, R_, 1, FRM, 0x13)); // sltiu, slli
  w.push(addi(R_, PASS, -1), R(0, R_, 0, 3, FLAGS, 0x33)); // snez
  w.push(csrrw(0, 0x002, FRM), csrrw(0, 0x001, FLAGS), addi(5, 0, 0), addi(6, 0, 0));
  const pair = w.length;
  w.push(R(0, 5, DATA, 0, 8, 0x33), I(EDGE_AT, 8, 3, 1, 0x07)); // f1 = table[i]
  w.push(R(0, 6, DATA, 0, 8, 0x33), I(EDGE_AT, 8, 3, 2, 0x07)); // f2 = table[j]
  w.push(R(0, 6, 5, 4, 8, 0x33), R(0, DATA, 8, 0, 8, 0x33), I(EDGE_AT, 8, 3, 3, 0x07)); // f3 = table[i ^ j] (0 past its end)
  w.push(R(0x71, 0, 1, 0, BITS, 0x53), I(40 | 0x400, BITS, 5, SMALL, 0x13)); // x16 = bits of f1, x17 = x16 >> 40
  const ff = (insn: number, double = true): void => { w.push(insn); foldF(4, double); };
  const fi = (insn: number): void => { w.push(insn); fold(R_); };
  for (const rm of [7, 0]) {
    for (const f7 of [0x00, 0x04, 0x08, 0x0c]) { ff(R(f7 | 1, 2, 1, rm, 4, 0x53)); ff(R(f7, 2, 1, rm, 4, 0x53), false); }
    ff(R(0x2d, 0, 1, rm, 4, 0x53)); ff(R(0x2c, 0, 2, rm, 4, 0x53), false);
    ff(R(0x21, 0, 1, rm, 4, 0x53)); ff(R(0x20, 1, 2, rm, 4, 0x53), false);
    for (const op of FMA_OPCODES) { ff(R4(3, 1, 2, 1, rm, 4, op)); ff(R4(3, 0, 2, 1, rm, 4, op), false); }
  }
  for (const fmt of [0, 1]) {
    for (let f3 = 0; f3 < 3; f3++) ff(R(0x10 | fmt, 2, 1, f3, 4, 0x53), fmt === 1);
    for (let f3 = 0; f3 < 2; f3++) ff(R(0x14 | fmt, 2, 1, f3, 4, 0x53), fmt === 1);
    for (let f3 = 0; f3 < 3; f3++) fi(R(0x50 | fmt, 2, 1, f3, R_, 0x53));
    for (let rs2 = 0; rs2 < 4; rs2++) {
      for (const rm of [0, 1, 7]) fi(R(0x60 | fmt, rs2, rm === 1 ? 2 : 1, rm, R_, 0x53));
      for (const src of [BITS, SMALL]) ff(R(0x68 | fmt, rs2, src, 7, 4, 0x53), fmt === 1);
    }
    fi(R(0x70 | fmt, 0, 1, 0, R_, 0x53));
    ff(R(0x78 | fmt, 0, BITS, 0, 4, 0x53), fmt === 1);
  }
  // Loads and stores: fsd, flw (the low half, NaN-boxed), fsw, fld.
  w.push(S(0, 1, DATA, 3, 0x27)); ff(I(0, DATA, 2, 4, 0x07), false);
  w.push(S(4, 2, DATA, 2, 0x27)); ff(I(0, DATA, 3, 4, 0x07));
  // The flags, then the next pair's start: the CSR accesses come last, just before the loops' branches.
  w.push(csrrs(T, 0x001, 0)); fold(T);
  w.push(csrrw(0, 0x001, FLAGS));
  const back = (to: number, rs2: number, rs1: number): void => { w.push(B((to - w.length) * 4, rs2, rs1, 1)); }; // bne
  w.push(addi(6, 6, 8)); back(pair, END, 6); // next j
  w.push(addi(5, 5, 8), addi(6, 0, 0)); back(pair, END, 5); // next i
  w.push(addi(PASS, PASS, 1), addi(R_, 0, 3)); back(pass, R_, PASS); // next pass
  w.push(...POWER_OFF);
  return withEdgeTable(w);
}

/**
 * The rounding operations one at a time from clear flags (frm RNE): each pair of edge-table operands goes
 * through FADD, FSUB, FMUL, FDIV, FSQRT of both formats, each after clearing fflags, folding its result and the
 * flags it raised. Translated code writes a result as is while NX is clear only once it is shown exact (the
 * runtime's xop); an operation it wrongly took for exact would raise no NX here.
 */
function fpFlagsEachProgram(): Uint32Array {
  const w: number[] = [];
  const ACC_ = 7, K = 15, T = 14, END = 9;
  const fold = (r: number): void => { w.push(R(0, r, ACC_, 4, ACC_, 0x33), R(1, K, ACC_, 0, ACC_, 0x33)); }; // xor, mul
  w.push(U(0, CODE, 0x17), U(0x10, DATA, 0x37), R(0, DATA, CODE, 0, DATA, 0x33)); // DATA = code + 0x10000
  w.push(U(0x6, TMP, 0x37), csrrs(0, 0x300, TMP)); // mstatus.FS
  w.push(csrrw(0, 0x002, 0)); // frm = RNE
  w.push(addi(END, 0, 8 * EDGES.length), U(0x9e378, K, 0x37), addi(K, K, 0x5b1), addi(ACC_, 0, 0), addi(5, 0, 0), addi(6, 0, 0));
  const pair = w.length;
  w.push(R(0, 5, DATA, 0, 8, 0x33), I(EDGE_AT, 8, 3, 1, 0x07)); // f1 = table[i]
  w.push(R(0, 6, DATA, 0, 8, 0x33), I(EDGE_AT, 8, 3, 2, 0x07)); // f2 = table[j]
  for (const fmt of [1, 0]) {
    for (const f7 of [0x00, 0x04, 0x08, 0x0c, 0x2c]) {
      // fflags = 0 (the interpreter runs the instructions after a CSR access up to the next jump: one to the next
      // instruction enters translated code there), then an FSGNJ: translated code enters with the FP state
      // unknown (see FpUnit.jitFast), and its first FP instruction, which the FPU's JavaScript runs, lets the
      // next one take the fast path.
      w.push(csrrw(0, 0x001, 0), J(4, 0), R(0x11, 1, 1, 0, 10, 0x53));
      w.push(R(f7 | fmt, f7 === 0x2c ? 0 : 2, 1, 7, 4, 0x53)); // f4 = f1 op f2 (dynamic rm)
      w.push(csrrs(T, 0x001, 0)); fold(T);
      w.push(R(0x71, 0, 4, 0, T, 0x53)); fold(T); // fmv.x.d
    }
  }
  const back = (to: number, rs2: number, rs1: number): void => { w.push(B((to - w.length) * 4, rs2, rs1, 1)); }; // bne
  w.push(addi(6, 6, 8)); back(pair, END, 6); // next j
  w.push(addi(5, 5, 8), addi(6, 0, 0)); back(pair, END, 5); // next i
  w.push(...POWER_OFF);
  return withEdgeTable(w);
}

test('FP rounding operations from clear flags raise the interpreter\'s flags in translated code', { timeout: 60_000 }, async () => {
  await assertJitMatchesInterpreter(imageOf('fp-flags-each.bin', fpFlagsEachProgram()),
    [['calls', { inlineMemory: 'none' }], ['inlined', { inlineMemory: 'all' }]]);
});

test('FP instructions on edge-case operands give the interpreter\'s results and flags in translated code', { timeout: 60_000 }, async () => {
  await assertJitMatchesInterpreter(imageOf('fp-edges.bin', fpEdgeProgram()),
    [['calls', { inlineMemory: 'none' }], ['inlined in loops', { inlineMemory: 'loops' }], ['inlined', { inlineMemory: 'all' }]]);
});

test('machines of different sizes, alive at once and run in turns, each end as the interpreter does', { timeout: 60_000 }, async () => {
  // The runtime module is compiled once per layout: 32 and 64 MiB machines place their structures at different
  // offsets, and the two 32 MiB machines share one module, each instance with its own memory.
  const image = imageOf('layouts.bin', program(3, 'mixed'));
  const interp = await runOn(image, 'interp');
  const machines = [32, 64, 32].map((mib) => machineOn(image, 'jit', 'wasm', {}, mib));
  for (let i = 0; i < 200_000 && machines.some((m) => m.exitCode === undefined); i++) {
    for (const m of machines) if (m.exitCode === undefined) m.runSlice();
  }
  for (const m of machines) {
    const end = endState(m);
    assert.ok(end.translations > 0, 'the JIT translated nothing');
    assert.deepEqual(guestState(end), guestState(interp));
  }
});

/**
 * A loop calling a function on each of `pages` code pages: with a low
 * threshold the pages' regions are compiled together (several regions per
 * WebAssembly module) and the calls and returns chain from region to region
 * inside WebAssembly. Iteration `patchAt` rewrites the first instruction of
 * the function on page `patchPage` (addi x25, x25, k -> addi x25, x25, 100),
 * so a region left in the module, the function table or the entry table
 * after its page was dropped would show in x25.
 */
function multiPageProgram(pages: number, patchPage: number, patchAt: number): Uint32Array {
  const w = new Uint32Array((pages + 1) * 1024);
  const RA = 1, PTR = 22;
  let at = 0;
  const emit = (insn: number): void => { w[at++] = insn; };
  emit(U(0, CODE, 0x17)); // auipc x30, 0
  emit(U(0x20, DATA, 0x37)); // lui x31, 0x20
  emit(R(0, DATA, CODE, 0, DATA, 0x33)); // x31 = code + 0x20000
  emit(addi(LOOP, 0, 60));
  emit(U(0x064c9, PATCH, 0x37)); // x26 = the encoding of addi x25, x25, 100 (0x064c8c93)
  emit(addi(PATCH, PATCH, -0x36d));
  emit(U(patchPage + 1, PTR, 0x37)); // x22 = (patchPage + 1) << 12
  emit(R(0, PTR, CODE, 0, PTR, 0x33)); // x22 = the patched function's address
  const loop = at;
  for (let f = 0; f < pages; f++) emit(J(((f + 1) * 1024 - at) * 4, RA)); // jal ra, function f
  emit(addi(TMP, 0, patchAt));
  emit(B(8, TMP, LOOP, 1)); // bne x29, x28, +8
  emit(S(0, PATCH, PTR, 2, 0x23)); // sw x26, 0(x22)
  emit(addi(LOOP, LOOP, -1));
  emit(B((loop - at) * 4, 0, LOOP, 1)); // bnez x29, loop
  for (const word of POWER_OFF) emit(word);
  for (let f = 0; f < pages; f++) {
    at = (f + 1) * 1024;
    emit(addi(ACC, ACC, f + 1));
    emit(I(8 * f, DATA, 3, 20, 0x03)); // ld x20, 8f(x31)
    emit(R(0, ACC, 20, 0, 20, 0x33)); // add x20, x20, x25
    emit(S(8 * f, 20, DATA, 3, 0x23)); // sd x20, 8f(x31)
    emit(B(8, 0, 20, 0)); // beqz x20, +8
    emit(addi(21, 21, 1));
    emit(I(0, RA, 0, 0, 0x67)); // jalr x0, 0(ra)
  }
  return w;
}

/**
 * The multi-page program as an image: its end state on the interpreter, and
 * a machine on the JIT (WebAssembly, threshold 4) loaded with it, not started.
 */
async function multiPageMachine(pages: number, patchPage: number, patchAt: number): Promise<{ interp: EndState; m: VirtMachine }> {
  const image = imageOf('pages.bin', multiPageProgram(pages, patchPage, patchAt));
  return { interp: await runOn(image, 'interp'), m: machineOn(image, 'jit') };
}

test('regions compiled together in one module chain, and one dropped by a code write stops being used', { timeout: 30_000 }, async () => {
  const { interp, m } = await multiPageMachine(20, 7, 30);
  assert.equal(interp.exit, 0);
  await runToEnd(m);
  const h = m.harts[0];
  assert.equal(m.exitCode, 0);
  assert.equal(registers(h), interp.x);
  assert.equal(h.stats.instret, interp.instret);
  const s = (m.jit as NonNullable<typeof m.jit>).snapshot();
  assert.ok(s.translations > 20, `translations: ${s.translations}`);
  assert.ok(s.batches < s.translations, `modules hold several regions (batches ${s.batches}, translations ${s.translations})`);
  // 20 calls to functions on other pages and 20 returns, 60 times: 2 400 transfers. Both directions chain once
  // translated (through the fetch TLB's entry for the target page): more than one chain per call, which one
  // direction alone stays under (1 111 chains when only same-page lookups chained).
  assert.ok(s.chains > 20 * 60, `calls and returns chain inside WebAssembly (${s.chains} chains)`);
  assert.ok(s.invalidations >= 1, 'the patched page was dropped');
});

test('a full function table drops every translation and hot code is translated again', { timeout: 30_000 }, async () => {
  const { interp, m } = await multiPageMachine(20, 3, 45);
  const jit = m.jit as NonNullable<typeof m.jit>;
  jit.configure({ batch: 2, maxRegions: 8 });
  await runToEnd(m);
  const h = m.harts[0];
  assert.equal(m.exitCode, 0);
  assert.equal(registers(h), interp.x);
  assert.equal(h.stats.instret, interp.instret);
  const s = jit.snapshot();
  assert.ok(s.translations > 8 * 3, `regions were translated again after the table filled (translations: ${s.translations})`);
});

test('a page rewritten while its module compiles in the background never runs the stale translation', { timeout: 30_000 }, async () => {
  // Iteration 30 of 60 rewrites the function on page 8 (function 7). Its region is in the first batch
  // (compiled once the functions are hot, within a few iterations), which the JIT is told to install only
  // at settle(), so the guest runs on in the interpreter and rewrites the page before the module is installed.
  const { interp, m } = await multiPageMachine(20, 7, 30);
  const jit = m.jit as NonNullable<typeof m.jit>;
  jit.configure({ background: true, deferInstall: true });
  const h = m.harts[0];
  let compiledBeforePatch = false, looping = false;
  for (let i = 0; i < 200_000 && m.exitCode === undefined && !(looping && h.xl[LOOP] < 30); i++) {
    m.runSlice();
    looping ||= h.xl[LOOP] > 30;
    if (h.xl[LOOP] > 30 && jit.busy) compiledBeforePatch = true;
  }
  assert.ok(compiledBeforePatch, `a batch was compiling before the guest rewrote the page (${JSON.stringify(jit.snapshot())}, x29 ${h.xl[LOOP]})`);
  assert.equal(jit.snapshot().translations, 0, 'nothing installed yet');
  await jit.settle();
  const s = jit.snapshot();
  assert.ok(s.staleRegions >= 1, `the rewritten page's region was not installed (stale regions: ${s.staleRegions})`);
  assert.ok(s.translations > 0, 'the other regions were installed');
  await runToEnd(m);
  assert.equal(m.exitCode, 0);
  assert.equal(registers(h), interp.x);
  assert.equal(h.stats.instret, interp.instret);
});

/**
 * Binary translation's inline VMM call: a U-mode loop around a privileged
 * instruction (csrrs a0, sstatus, x0), with a VMM routine that emulates it
 * (a0 = 7, pc + 4). Translated, the instruction becomes a call to the
 * routine; the end state is the interpreter's, where the same routine runs
 * in place of the illegal-instruction trap.
 */
async function runPrivilegedLoop(cpu: CpuEngine, backend: JitBackend, inline: boolean): Promise<{ x: string; instret: number; calls: number; hooked: number }> {
  const loop = [
    I(1, 11, 0, 11, 0x13), // addi a1, a1, 1
    I(0x100, 0, 2, 10, 0x73), // csrrs a0, sstatus, x0
    R(0, 10, 12, 0, 12, 0x33), // add a2, a2, a0
    I(0xc01, 0, 2, 0, 0x73), // csrrs x0, time, x0: a user CSR, which the kernel reads natively (the counters allow it)
    B(-16, 13, 11, 4), // blt a1, a3, loop
    // Power off through the sifive,test device (U-mode reaches it: no translation, no PMP).
    U(0x100, 5, 0x37), U(0x5, 6, 0x37), I(0x555, 6, 0, 6, 0x13), S(0, 6, 5, 2, 0x23),
    J(0, 0), // j .
  ];
  const image = imageOf('priv.bin', [I(500, 0, 0, 13, 0x13), ...loop]); // li a3, 500
  const m = machineOn(image, cpu, backend);
  if (m.jit !== undefined) m.jit.inlineVmmCalls = inline;
  const h = m.harts[0];
  h.pc = 0x80000000;
  h.setPriv(Priv.U);
  h.csr.mcounteren = h.csr.scounteren = 7; // cycle, time, instret
  let hooked = 0;
  h.privilegedHook = (raw) => {
    hooked++;
    if (raw !== I(0x100, 0, 2, 10, 0x73)) return false;
    h.setX(10, 7);
    h.pc += 4;
    return true;
  };
  await runToEnd(m);
  assert.equal(m.exitCode, 0, 'the program powered off');
  return { x: Array.from(h.xl.subarray(0, 32)).join(','), instret: h.stats.instret, calls: h.stats.inlineVmmCalls, hooked };
}

test('binary translation calls the VMM in place of a deprivileged kernel\'s privileged instruction, as the interpreter does', async () => {
  const interp = await runPrivilegedLoop('interp', 'wasm', false);
  assert.equal(interp.hooked, 500);
  assert.match(interp.x, /^0,(-?\d+,){9}7,500,3500,500,/, 'a0 = 7, a1 = 500, a2 = 3500, a3 = 500');
  for (const backend of ['wasm', 'js'] as const) {
    const jit = await runPrivilegedLoop('jit', backend, true);
    assert.equal(jit.x, interp.x, backend);
    assert.equal(jit.instret, interp.instret, `${backend}: instret`);
    assert.equal(jit.hooked, 500, `${backend}: only the privileged instruction reached the VMM`);
    assert.ok(jit.calls > 400, `${backend}: translated code made the calls (${jit.calls})`);
    const off = await runPrivilegedLoop('jit', backend, false);
    assert.equal(off.x, interp.x);
    assert.equal(off.calls, 0, `${backend}: without inlineVmmCalls the interpreter makes them`);
  }
});

test('a device read that changes what interrupts see gives translated code its value (PLIC claims)', { timeout: 30_000 }, async () => {
  // M-mode, interrupts disabled: the UART's THR-empty interrupt (source 10), re-armed by toggling IER.ETBEI, is
  // claimed and completed 200 times. A claim lowers MEIP, so the hart must recheck interrupts: translated code
  // leaves after the load, which must still land in a0.
  const UART = 5, PLIC = 6, T = 7, A0 = 10, A1 = 11, A2 = 12, A3 = 13, ITERATIONS = 200;
  const w = [
    U(0x10000, UART, 0x37), // 0x10000000
    U(0x0c000, PLIC, 0x37), addi(T, 0, 1), S(40, T, PLIC, 2, 0x23), // priority of source 10 = 1
    U(0x0c002, PLIC, 0x37), addi(T, 0, 1), I(10, T, 1, T, 0x13), S(0, T, PLIC, 2, 0x23), // context 0 enables it
    U(0x0c200, PLIC, 0x37), S(0, 0, PLIC, 2, 0x23), // threshold 0
    addi(A1, 0, 0), addi(A2, 0, 0), addi(A3, 0, ITERATIONS),
    // loop:
    S(1, 0, UART, 0, 0x23), addi(T, 0, 2), S(1, T, UART, 0, 0x23), // IER = 0, then ETBEI
    addi(A0, 0, 0),
    I(4, PLIC, 2, A0, 0x03), // lw a0, 4(plic): claim
    S(4, A0, PLIC, 2, 0x23), // sw a0, 4(plic): complete
    R(0, A0, A2, 0, A2, 0x33), // add a2, a2, a0
    addi(A1, A1, 1),
    B(-32, A3, A1, 4), // blt a1, a3, loop
    ...POWER_OFF,
  ];
  const image = imageOf('claim.bin', w);
  const interp = await runOn(image, 'interp');
  assert.equal(interp.exit, 0);
  assert.match(interp.x, new RegExp(` 12:0:${10 * ITERATIONS} `), 'every claim returned source 10');
  for (const backend of ['wasm', 'js'] as const) {
    const jit = await runOn(image, 'jit', backend);
    assert.ok(jit.translations > 0, `${backend}: the loop was translated`);
    assert.equal(jit.x, interp.x, backend);
    assert.equal(jit.instret, interp.instret, backend);
  }
});

test('a store that reaches into a translated loop from the data before it changes what the loop does next', { timeout: 30_000 }, async () => {
  // Page 1 holds 4 bytes of data at 0x100 and the loop's code from 0x104: an aligned 8-byte store at 0x100 starts
  // before the page's first decoded instruction and ends inside it, patching "addi x25, x25, 0" into
  // "addi x25, x25, 7" when x29 reaches 20. A 4-byte store to the data each iteration, which ends where the
  // code starts, must not drop the translation; it keeps the write TLB warm, so the patch takes the inline path.
  const w = new Uint32Array(0x2000 / 4);
  const PAGE1 = 5, NEW = 26;
  w.set([
    U(0, CODE, 0x17), U(1, PAGE1, 0x37), R(0, CODE, PAGE1, 0, PAGE1, 0x33), // x5 = page 1
    addi(LOOP, 0, 40),
    U(0x7c9, NEW, 0x37), addi(NEW, NEW, -0x36d), I(32, NEW, 1, NEW, 0x13), // x26 = (addi x25, x25, 7) << 32
    I(0x104, PAGE1, 0, 0, 0x67), // jr 0x104(x5)
  ]);
  const loop = [
    addi(ACC, ACC, 0), // 0x104: patched
    S(0x100, 0, PAGE1, 2, 0x23), // sw x0, 0x100(x5): keeps the write TLB warm; ends where the code starts
    addi(TMP, 0, 20),
    B(8, TMP, LOOP, 1), // bne x29, x28, +8
    S(0x100, NEW, PAGE1, 3, 0x23), // sd x26, 0x100(x5)
    addi(LOOP, LOOP, -1),
    B(-0x18, 0, LOOP, 1), // bnez x29, 0x104
    ...POWER_OFF,
  ];
  w.set(loop, (0x1000 + 0x104) / 4);
  const image = imageOf('span.bin', w);
  const interp = await runOn(image, 'interp');
  assert.equal(interp.exit, 0);
  assert.match(interp.x, / 25:0:133 /, '19 iterations after the patch add 7 each');
  for (const backend of ['wasm', 'js'] as const) {
    const jit = await runOn(image, 'jit', backend);
    assert.ok(jit.translations > 0);
    assert.equal(jit.x, interp.x, backend);
    assert.equal(jit.instret, interp.instret, backend);
    assert.ok(jit.translations <= 3, `${backend}: only the patch dropped translations (${jit.translations} made)`);
  }
});

test('code that gets hot on a page after it was tiered up is compiled with its memory accesses inlined', { timeout: 30_000 }, async () => {
  // Two loops on one page, each loading and storing on the next page. The first runs long enough to tier the page
  // up; the second is reached only by a jump through a register, so the tiered-up region (grown through direct
  // branches) does not hold it: it gets hot afterwards and gets a region of its own.
  const BASE = 5, N = 6, V = 7, TARGET = 8, DAT = 9;
  const w = [
    U(0, BASE, 0x17), // auipc x5, 0
    U(1, DAT, 0x37), R(0, BASE, DAT, 0, DAT, 0x33), // x9 = x5 + 0x1000
    addi(N, 0, 2000),
    // loop 1: x7 += mem[x9]; mem[x9] = x7
    I(0, DAT, 3, TMP, 0x03), R(0, TMP, V, 0, V, 0x33), addi(V, V, 1), S(0, V, DAT, 3, 0x23),
    addi(N, N, -1), B(-20, 0, N, 1),
    U(0, TARGET, 0x17), addi(TARGET, TARGET, 12), I(0, TARGET, 0, 0, 0x67), // jr to loop 2 (3 instructions on)
    addi(N, 0, 2000),
    // loop 2: the same on the next word
    I(8, DAT, 3, TMP, 0x03), R(0, TMP, V, 0, V, 0x33), addi(V, V, 3), S(8, V, DAT, 3, 0x23),
    addi(N, N, -1), B(-20, 0, N, 1),
    ...POWER_OFF,
  ];
  const image = imageOf('late.bin', w);
  const interp = await runOn(image, 'interp');
  assert.equal(interp.exit, 0);
  // How each region of each module was generated.
  const modes: InlineMemory[][] = [];
  // Regions call the shared accesses ('none') until the page is tiered up.
  const jit = await runSeeingModules(image, { inlineMemory: 'none', tierUpAt: 1000, tierUpEvery: 1 }, (m) => modes.push(m));
  assert.equal(jit.x, interp.x);
  assert.equal(jit.instret, interp.instret);
  assert.equal(jit.tierUps, 1, 'the page was tiered up once');
  const tierUp = modes.findIndex((m) => m.length === 1 && m[0] === 'all');
  assert.ok(tierUp >= 0, 'the tier-up compiled the page with every access inlined');
  assert.ok(modes.slice(0, tierUp).flat().every((m) => m === 'none'), 'regions before it call the shared accesses');
  const later = modes.slice(tierUp + 1).flat();
  assert.ok(later.length > 0 && later.every((m) => m === 'all'), `regions made after it inline their accesses (${later.join(', ')})`);
});

/** Reads an unsigned LEB128 at `at.i` of `b` (advancing it). */
function uleb(b: Uint8Array, at: { i: number }): number {
  let v = 0, shift = 0;
  for (;;) {
    const byte = b[at.i++];
    v += (byte & 0x7f) * 2 ** shift;
    if ((byte & 0x80) === 0) return v;
    shift += 7;
  }
}

test('every branch hint of a translated module points at an if or br_if of its function', { timeout: 30_000 }, async () => {
  const modules: Uint8Array[] = [];
  const jit = await runSeeingModules(imageOf('hints.bin', program(7)), { inlineMemory: 'loops', tierUpAt: 1, tierUpEvery: 1 },
    (_, bytes) => modules.push(bytes));
  assert.ok(jit.translations > 0);
  assert.ok(modules.length > 0);
  let checked = 0;
  for (const m of modules) {
    // Sections: id, size, payload. The hints (a custom section) come before the code section.
    const at = { i: 8 };
    let hints: Array<{ fn: number; offsets: number[] }> | undefined;
    while (at.i < m.length) {
      const id = m[at.i++];
      const size = uleb(m, at);
      const end = at.i + size;
      if (id === 0) {
        const nameLength = uleb(m, at);
        const name = String.fromCharCode(...m.subarray(at.i, at.i + nameLength));
        at.i += nameLength;
        if (name === BRANCH_HINTS) {
          hints = [];
          for (let f = uleb(m, at); f > 0; f--) {
            const fn = uleb(m, at);
            const offsets: number[] = [];
            for (let h = uleb(m, at); h > 0; h--) {
              offsets.push(uleb(m, at));
              assert.equal(uleb(m, at), 1, 'a hint is one byte');
              assert.ok(m[at.i++] <= 1, 'a hint is 0 or 1');
            }
            hints.push({ fn, offsets });
          }
          assert.equal(at.i, end, 'the hints fill their section');
        }
      } else if (id === 10) {
        assert.ok(hints !== undefined, 'the hints come before the code section');
        const count = uleb(m, at);
        assert.equal(hints.length, count, 'one entry of hints per function');
        for (let k = 0; k < count; k++) {
          const size = uleb(m, at);
          const body = at.i;
          assert.equal(hints[k].fn, hints[0].fn + k, 'functions in order');
          for (const o of hints[k].offsets) {
            assert.ok(o < size && (m[body + o] === 0x04 || m[body + o] === 0x0d), `hint at ${o} of function ${k}: opcode ${m[body + o]}`);
            checked++;
          }
          at.i = body + size;
        }
      }
      at.i = end;
    }
  }
  assert.ok(checked > 0, 'the regions hold hinted branches');
});
