import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  FdtBuilder, FdtBuildError, FdtError, findNode, parseFdt, propCells, propString, propStrings, propU32, propU64s, readFdt,
} from './fdt.js';

const haveDtc = spawnSync('dtc', ['--version']).status === 0;

/** Decompiles a blob with dtc; returns its DTS and its warnings. */
function dtcDecompile(blob: Uint8Array): { dts: string; stderr: string } {
  const dir = mkdtempSync(join(tmpdir(), 'tsvisor-fdt-'));
  try {
    const file = join(dir, 'x.dtb');
    writeFileSync(file, blob);
    const r = spawnSync('dtc', ['-I', 'dtb', '-O', 'dts', file], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`dtc failed (${r.status}): ${r.stderr}`);
    return { dts: r.stdout, stderr: r.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function sample(): Uint8Array {
  const f = new FdtBuilder();
  const ph = f.allocPhandle();
  f.addReservation(0x8000_0000, 0x1000);
  f.beginNode('');
  f.propU32('#address-cells', 2).propU32('#size-cells', 2);
  f.propString('model', 'abc'); // 4 bytes with the NUL: no padding
  f.propString('compatible', 'x,yz'); // 5 bytes: padded to 8
  f.beginNode('memory@80000000');
  f.propString('device_type', 'memory');
  f.propU64s('reg', [0x8000_0000, 0x1_0000_0000]);
  f.endNode();
  f.beginNode('intc');
  f.propU32('phandle', ph).propEmpty('interrupt-controller');
  f.propStrings('compatible', ['a,b', 'c']);
  f.propU64('big', (1n << 63n) + 5n);
  f.propBytes('raw', Uint8Array.of(1, 2, 3));
  f.endNode();
  f.endNode();
  return f.finish(3);
}

test('header: magic, version 17/16, 8-byte aligned blocks, sizes and boot cpu', () => {
  const blob = sample();
  const { header: h, reservations } = readFdt(blob);
  const dv = new DataView(blob.buffer, blob.byteOffset);
  assert.equal(dv.getUint32(0), 0xd00dfeed);
  assert.equal(h.totalSize, blob.length);
  assert.equal(blob.length % 8, 0);
  assert.equal(h.version, 17);
  assert.equal(h.lastCompVersion, 16);
  assert.equal(h.bootCpuidPhys, 3);
  assert.equal(h.offMemRsvmap, 40);
  assert.equal(h.offDtStruct % 8, 0);
  assert.equal(h.offDtStrings, h.offDtStruct + h.sizeDtStruct);
  assert.equal(h.sizeDtStruct % 4, 0);
  assert.deepEqual(reservations, [{ address: 0x8000_0000n, size: 0x1000n }]);
});

test('strings block holds each property name once', () => {
  const blob = sample();
  const { header: h } = readFdt(blob);
  const strings = Buffer.from(blob.subarray(h.offDtStrings, h.offDtStrings + h.sizeDtStrings)).toString('latin1');
  const names = strings.split('\0').filter((s) => s !== '');
  assert.equal(new Set(names).size, names.length);
  assert.deepEqual(
    names.sort(),
    ['#address-cells', '#size-cells', 'big', 'compatible', 'device_type', 'interrupt-controller', 'model', 'phandle', 'raw', 'reg'].sort(),
  );
});

test('the parser reads back every value', () => {
  const root = parseFdt(sample());
  assert.equal(root.name, '');
  assert.equal(propU32(root, '#address-cells'), 2);
  assert.equal(propString(root, 'model'), 'abc');
  assert.equal(propString(root, 'compatible'), 'x,yz');
  const mem = findNode(root, '/memory@80000000');
  assert.ok(mem);
  assert.deepEqual(propU64s(mem, 'reg'), [0x8000_0000n, 0x1_0000_0000n]);
  assert.deepEqual(propCells(mem, 'reg'), [0, 0x8000_0000, 1, 0]);
  const intc = findNode(root, 'intc');
  assert.ok(intc);
  assert.equal(propU32(intc, 'phandle'), 1);
  assert.equal(intc.props.get('interrupt-controller')?.length, 0);
  assert.deepEqual(propStrings(intc, 'compatible'), ['a,b', 'c']);
  assert.deepEqual(propU64s(intc, 'big'), [(1n << 63n) + 5n]);
  assert.deepEqual(Array.from(intc.props.get('raw') ?? []), [1, 2, 3]);
  assert.equal(findNode(root, '/nope'), undefined);
  assert.equal(findNode(root, '/'), root);
});

test('strings beyond ASCII are written as UTF-8, lengths in bytes', () => {
  const f = new FdtBuilder();
  f.beginNode('');
  f.propStrings('labels', ['café', 'x', 'π≈3']);
  f.propString('après', 'ok');
  f.beginNode('nœud@1');
  f.endNode();
  f.endNode();
  const root = parseFdt(f.finish());
  assert.deepEqual(propStrings(root, 'labels'), ['café', 'x', 'π≈3']);
  assert.equal(root.props.get('labels')?.length, (5 + 1) + (1 + 1) + (6 + 1)); // é is 2 bytes, π 2, ≈ 3
  assert.equal(propString(root, 'après'), 'ok');
  assert.ok(findNode(root, '/nœud@1'));
});

test('a rejected property leaves nothing behind', () => {
  const build = (bad: boolean): Uint8Array => {
    const f = new FdtBuilder();
    f.beginNode('');
    f.propU32('a', 1);
    if (bad) {
      assert.throws(() => f.propCells('cells', [1, 2 ** 32]), FdtBuildError);
      assert.throws(() => f.propStrings('strings', ['ok', 'n\0ul']), FdtBuildError);
    }
    f.propString('b', 'x');
    f.endNode();
    return f.finish();
  };
  assert.deepEqual(build(true), build(false));
});

test('dtc decompiles the blob to the same tree', { skip: haveDtc ? false : 'dtc is not installed (apt-get install device-tree-compiler)' }, () => {
  const { dts } = dtcDecompile(sample());
  assert.match(dts, /\/memreserve\/\s+0x0*80000000 0x0*1000;/);
  assert.match(dts, /model = "abc";/);
  assert.match(dts, /compatible = "x,yz";/);
  assert.match(dts, /reg = <0x00 0x80000000 0x01 0x00>;/);
  assert.match(dts, /compatible = "a,b\\0c";/);
  assert.match(dts, /big = <0x80000000 0x05>;/);
  assert.match(dts, /raw = \[01 02 03\];/);
  assert.match(dts, /interrupt-controller;/);
  // And dtc's own blob of that source parses with our parser.
  const dir = mkdtempSync(join(tmpdir(), 'tsvisor-fdt-'));
  try {
    writeFileSync(join(dir, 'x.dts'), dts);
    const blob = new Uint8Array(execFileSync('dtc', ['-I', 'dts', '-O', 'dtb', join(dir, 'x.dts')], { stdio: ['ignore', 'pipe', 'ignore'] }));
    const root = parseFdt(blob);
    assert.deepEqual(propStrings(findNode(root, '/intc') ?? root, 'compatible'), ['a,b', 'c']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('builder misuse is reported', () => {
  assert.throws(() => new FdtBuilder().propU32('x', 1), FdtBuildError);
  assert.throws(() => new FdtBuilder().beginNode('root'), /root node's name/);
  assert.throws(() => new FdtBuilder().endNode(), FdtBuildError);
  assert.throws(() => new FdtBuilder().beginNode('').finish(), /left open/);
  assert.throws(() => new FdtBuilder().finish(), /no root/);
  assert.throws(() => new FdtBuilder().beginNode('').beginNode('a').endNode().propU32('late', 1), /after a child/);
  assert.throws(() => new FdtBuilder().beginNode('').endNode().beginNode(''), /after the root/);
  assert.throws(() => new FdtBuilder().beginNode('').propU64s('x', [2 ** 60]), /bigint/);
  assert.throws(() => new FdtBuilder().beginNode('').propCells('x', [2 ** 32]), /32 bits/);
  const f = new FdtBuilder().beginNode('').endNode();
  f.finish();
  assert.throws(() => f.finish(), /already finished/);
});

test('malformed blobs are rejected with FdtError, never a crash', () => {
  const good = sample();
  assert.throws(() => parseFdt(new Uint8Array(10)), FdtError);
  const badMagic = good.slice();
  badMagic[0] = 0;
  assert.throws(() => parseFdt(badMagic), /magic/);
  assert.throws(() => parseFdt(good.slice(0, 64)), FdtError);
  const { header: h } = readFdt(good);
  const badToken = good.slice();
  new DataView(badToken.buffer).setUint32(h.offDtStruct + 8, 0x77); // first token after the root's name
  assert.throws(() => parseFdt(badToken), /token|property|name/);
  // FDT_NOP tokens are skipped.
  const f = new FdtBuilder().beginNode('').propU32('a', 1).endNode();
  const blob = f.finish();
  const { header: h2 } = readFdt(blob);
  const withNop = blob.slice();
  const dv = new DataView(withNop.buffer);
  // Overwrite the property (token, len, nameoff, one value word) with NOPs.
  for (let i = 0; i < 4; i++) dv.setUint32(h2.offDtStruct + 8 + 4 * i, 4);
  const root = parseFdt(withNop);
  assert.equal(root.props.size, 0);
});
