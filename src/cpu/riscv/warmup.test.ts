import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runWarmup, warmupProgram, WARMUP_CODE_END, WARMUP_PASSES } from './warmup.js';
import { decode, newDecoded, Op } from './decode.js';

test('the warm-up program runs to its end through all three privilege modes on the interpreter', () => {
  const r = runWarmup('interp');
  assert.equal(r.finished, true, 'reached the final WFI');
  assert.equal(r.passes, WARMUP_PASSES, 'every pass of the body in M, S and U-mode completed');
  assert.ok(r.instructions > 1_000, `${r.instructions} instructions`);
  assert.equal(r.stops, 1, 'the stop request at its end stopped the hart once');
  assert.equal(r.dropped, 0, 'the stores beside the code kept its page decoded');
});

test('the warm-up program runs the same on the JIT dispatcher', () => {
  const interp = runWarmup('interp');
  const jit = runWarmup('jit');
  assert.equal(jit.finished, true);
  assert.equal(jit.passes, WARMUP_PASSES);
  assert.equal(jit.instructions, interp.instructions, 'the same instruction count on both engines');
  assert.ok(jit.arrivals > 0, 'the dispatcher counted arrivals');
  assert.equal(jit.stops, 1, 'the stop request stopped the dispatcher once');
});

test('the warm-up program holds every operation the decoder knows', () => {
  const code = warmupProgram().subarray(0, WARMUP_CODE_END);
  const seen = new Set<number>();
  const d = newDecoded();
  for (let at = 0; at + 2 <= code.length;) {
    decode(code[at] | (code[at + 1] << 8) | ((code[at + 2] ?? 0) << 16) | ((code[at + 3] ?? 0) << 24), d);
    seen.add(d.op);
    at += d.length;
  }
  const missing = [];
  for (let op = Op.ILLEGAL + 1; op < Op.COUNT; op++) if (!seen.has(op)) missing.push(op);
  assert.deepEqual(missing, [], 'operations (Op numbers) the warm-up never executes');
});
