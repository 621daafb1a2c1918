/**
 * Robustness: whatever a guest executes — random instruction words, random
 * CSR writes (satp, pmp*, mstatus…), wild loads and stores to every device —
 * becomes guest-visible traps, never an exception in the host.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VirtMachine } from './virt.js';
import { BufferCharBackend } from '../backends/buffer-char.js';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** xorshift32, deterministic per seed. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return s;
  };
}

/** A random program: mostly valid-looking encodings, biased to loads, stores, CSRs and jumps. */
function randomProgram(seed: number, words: number): Uint8Array {
  const r = rng(seed);
  const out = new Uint32Array(words);
  const opcodes = [0x03, 0x13, 0x17, 0x1b, 0x23, 0x2f, 0x33, 0x37, 0x3b, 0x63, 0x67, 0x6f, 0x73, 0x07, 0x27, 0x53, 0x43, 0x0f];
  for (let i = 0; i < words; i++) {
    const w = r();
    const kind = w % 8;
    if (kind === 0) out[i] = r(); // anything, including compressed pairs
    else out[i] = (r() & ~0x7f) | opcodes[r() % opcodes.length];
  }
  // Start by pointing the trap vectors into the program so traps keep executing it.
  out[0] = 0x00000297; // auipc t0, 0
  out[1] = 0x30529073; // csrw mtvec, t0
  out[2] = 0x10529073; // csrw stvec, t0
  return new Uint8Array(out.buffer);
}

test('random guest code never makes the host throw', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsvisor-rand-'));
  for (let seed = 1; seed <= 12; seed++) {
    const image = join(dir, `r${seed}.bin`);
    writeFileSync(image, randomProgram(seed, 16384));
    const con = new BufferCharBackend();
    const m = new VirtMachine({ memory: 32 * 1048576, harts: 2, bios: null, kernel: image, console: con, slice: 5000 });
    // Drive it by hand for a bounded number of slices (a random guest may never power off).
    for (let i = 0; i < 200 && m.exitCode === undefined; i++) m.runSlice();
    assert.equal(m.internalError, undefined, `seed ${seed}: ${m.internalError}`);
    assert.ok(m.instructionsRetired() > 0);
  }
});
