import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FileBlockBackend } from './block-file.js';
import { BlockBackendError } from './block-backend.js';

function tempImage(size: number): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvisor-blk-'));
  const file = path.join(dir, 'disk.img');
  fs.writeFileSync(file, new Uint8Array(size).map((_, i) => i & 0xff));
  return file;
}

test('reads, writes, discards and flushes a raw image', () => {
  const file = tempImage(8192);
  const b = FileBlockBackend.open(file);
  assert.equal(b.size, 8192);
  assert.equal(b.readOnly, false);
  const buf = new Uint8Array(4);
  b.read(510, buf);
  assert.deepEqual([...buf], [254, 255, 0, 1]);
  b.write(1024, Uint8Array.of(9, 9, 9));
  b.discard(2048, 512);
  b.flush();
  b.close();
  b.close();
  const data = fs.readFileSync(file);
  assert.deepEqual([...data.subarray(1024, 1027)], [9, 9, 9]);
  assert.ok(data.subarray(2048, 2560).every((x) => x === 0));
  assert.throws(() => b.read(0, buf), /closed/);
  fs.rmSync(path.dirname(file), { recursive: true });
});

test('read-only images refuse writes; out-of-range accesses are refused', () => {
  const file = tempImage(4096);
  const b = FileBlockBackend.open(file, { readOnly: true });
  assert.equal(b.readOnly, true);
  assert.throws(() => b.write(0, new Uint8Array(1)), BlockBackendError);
  assert.throws(() => b.read(4095, new Uint8Array(2)), /outside/);
  b.close();
  fs.rmSync(path.dirname(file), { recursive: true });
});

test('opening a missing, empty or directory path says what to do', () => {
  assert.throws(() => FileBlockBackend.open('/nonexistent/disk.img'), /does not exist/);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvisor-blk-'));
  assert.throws(() => FileBlockBackend.open(dir, { readOnly: true }), /directory|not a regular file/);
  const empty = path.join(dir, 'empty.img');
  fs.writeFileSync(empty, '');
  assert.throws(() => FileBlockBackend.open(empty), /empty/);
  fs.rmSync(dir, { recursive: true });
});
