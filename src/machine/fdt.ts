/**
 * Flattened Device Tree blobs, Devicetree Specification v0.4 ch. 5:
 * a builder that writes them and a small parser that reads them back.
 *
 * Layout written (§5.1–5.5), all integers big-endian:
 * - the 40-byte header (§5.2): magic 0xd00dfeed, totalsize, the offsets of
 *   the structure, strings and memory reservation blocks, version 17,
 *   last_comp_version 16, boot_cpuid_phys, and the two block sizes;
 * - the memory reservation block (§5.3) at an 8-byte aligned offset:
 *   (address, size) u64 pairs ending with a (0, 0) entry;
 * - the structure block (§5.4), 8-byte aligned here (the spec asks for 4):
 *   FDT_BEGIN_NODE name\0 (padded to 4), FDT_PROP len nameoff value (padded
 *   to 4), FDT_END_NODE, and one FDT_END;
 * - the strings block (§5.5): every property name once, NUL-terminated.
 *
 * Written by hand rather than taken from a library: the device tree is part
 * of the boot protocol the project owns, and this is ~300 lines.
 */
import { GrowableBytes } from '../memory/growable-bytes.js';

const FDT_MAGIC = 0xd00dfeed;
const FDT_BEGIN_NODE = 0x1;
const FDT_END_NODE = 0x2;
const FDT_PROP = 0x3;
const FDT_NOP = 0x4;
const FDT_END = 0x9;
const HEADER_SIZE = 40;
const FDT_VERSION = 17;
const FDT_LAST_COMP_VERSION = 16;
const TWO32 = 4294967296;

/** Raised when the builder is used out of order (a bug in the code building the tree). */
export class FdtBuildError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FdtBuildError';
  }
}

/** Raised for a blob that is not a valid flattened device tree. */
export class FdtError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FdtError';
  }
}

/** A growable big-endian byte buffer. */
class ByteSink extends GrowableBytes {
  constructor() {
    super(4096);
  }

  u32(v: number): void {
    this.reserve(4);
    const b = this.bytes;
    const at = this.len;
    b[at] = (v >>> 24) & 0xff;
    b[at + 1] = (v >>> 16) & 0xff;
    b[at + 2] = (v >>> 8) & 0xff;
    b[at + 3] = v & 0xff;
    this.len += 4;
  }

  /**
   * A string's UTF-8 bytes (no terminator). ASCII, which every name and
   * nearly every value is, is written directly: a TextEncoder call and the
   * array it returns cost more than building the rest of the tree.
   */
  str(s: string): void {
    if (!isAscii(s)) { this.put(utf8.encode(s)); return; }
    this.reserve(s.length);
    const b = this.bytes;
    for (let i = 0, at = this.len; i < s.length; i++) b[at + i] = s.charCodeAt(i);
    this.len += s.length;
  }

  /** A string and its NUL terminator. */
  cstr(s: string): void {
    this.str(s);
    this.zeros(1);
  }

  zeros(n: number): void {
    this.reserve(n);
    this.bytes.fill(0, this.len, this.len + n);
    this.len += n;
  }

  padTo(align: number): void {
    const rem = this.len % align;
    if (rem !== 0) this.zeros(align - rem);
  }
}

/** A 64-bit unsigned value as a number (exact below 2^53) or a bigint. */
export type FdtU64 = number | bigint;

function splitU64(v: FdtU64): [number, number] {
  if (typeof v === 'bigint') {
    if (v < 0n || v >= 1n << 64n) throw new FdtBuildError(`value ${v} does not fit in 64 bits`);
    return [Number(v >> 32n), Number(v & 0xffffffffn)];
  }
  if (!Number.isSafeInteger(v) || v < 0) throw new FdtBuildError(`value ${v} is not an exact non-negative integer; pass a bigint`);
  const hi = Math.floor(v / TWO32);
  return [hi, v - hi * TWO32];
}

const utf8 = new TextEncoder();
function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

/** Bytes of `s` in UTF-8. */
function utf8Length(s: string): number {
  return isAscii(s) ? s.length : utf8.encode(s).length;
}

/**
 * Builds a device tree blob node by node, depth first:
 *
 * ```ts
 * const fdt = new FdtBuilder();
 * fdt.beginNode('');
 * fdt.propU32('#address-cells', 2).propU32('#size-cells', 2);
 * fdt.beginNode('memory@80000000').propString('device_type', 'memory')
 *    .propU64s('reg', [0x80000000, 256 << 20]).endNode();
 * fdt.endNode();
 * const blob = fdt.finish();
 * ```
 *
 * A node's properties must come before its children (§5.4.1).
 */
export class FdtBuilder {
  private readonly struct = new ByteSink();
  private readonly strings = new ByteSink();
  private readonly stringOffsets = new Map<string, number>();
  private readonly reservations: [FdtU64, FdtU64][] = [];
  /** Per open node: whether a child has been started (properties must precede children). */
  private readonly open: { name: string; hasChild: boolean }[] = [];
  private rootDone = false;
  private finished = false;
  private nextPhandle = 1;

  /** Allocates a fresh phandle (1, 2, 3...); pass it to `propU32('phandle', ...)` and to references. */
  allocPhandle(): number {
    return this.nextPhandle++;
  }

  /** Adds a memory reservation block entry (§5.3). */
  addReservation(address: FdtU64, size: FdtU64): this {
    this.checkNotFinished();
    splitU64(address);
    splitU64(size);
    this.reservations.push([address, size]);
    return this;
  }

  /** Opens a node; the root's name is ''. */
  beginNode(name: string): this {
    this.checkNotFinished();
    if (this.open.length === 0) {
      if (this.rootDone) throw new FdtBuildError(`node '${name}' begun after the root node was closed`);
      if (name !== '') throw new FdtBuildError(`the root node's name must be '', not '${name}'`);
    } else {
      if (name === '' || name.includes('/') || name.includes('\0')) throw new FdtBuildError(`invalid node name '${name}'`);
      this.open[this.open.length - 1].hasChild = true;
    }
    this.struct.u32(FDT_BEGIN_NODE);
    this.struct.cstr(name);
    this.struct.padTo(4);
    this.open.push({ name, hasChild: false });
    return this;
  }

  /** Closes the innermost open node. */
  endNode(): this {
    this.checkNotFinished();
    if (this.open.length === 0) throw new FdtBuildError('endNode() without an open node');
    this.open.pop();
    this.struct.u32(FDT_END_NODE);
    if (this.open.length === 0) this.rootDone = true;
    return this;
  }

  private nameOffset(name: string): number {
    let off = this.stringOffsets.get(name);
    if (off === undefined) {
      off = this.strings.len;
      this.strings.cstr(name);
      this.stringOffsets.set(name, off);
    }
    return off;
  }

  /** A property with raw bytes as its value. */
  propBytes(name: string, value: Uint8Array): this {
    this.beginProp(name, value.length);
    this.struct.put(value);
    this.struct.padTo(4);
    return this;
  }

  /** Checks that a property may go here and writes its header; `length` bytes of value follow. */
  private beginProp(name: string, length: number): void {
    this.checkNotFinished();
    const node = this.open[this.open.length - 1];
    if (node === undefined) throw new FdtBuildError(`property '${name}' outside any node`);
    if (node.hasChild) throw new FdtBuildError(`property '${name}' of node '${node.name}' after a child node: properties come first`);
    if (name === '' || name.includes('\0')) throw new FdtBuildError(`invalid property name '${name}'`);
    this.struct.u32(FDT_PROP);
    this.struct.u32(length);
    this.struct.u32(this.nameOffset(name));
  }

  /** An empty property (a boolean, e.g. `interrupt-controller`). */
  propEmpty(name: string): this {
    return this.propBytes(name, new Uint8Array(0));
  }

  /** A list of 32-bit cells, e.g. `interrupts-extended`. */
  propCells(name: string, cells: readonly number[]): this {
    for (const c of cells) {
      if (!Number.isInteger(c) || c < -0x80000000 || c > 0xffffffff) throw new FdtBuildError(`cell ${c} of '${name}' does not fit in 32 bits`);
    }
    this.beginProp(name, cells.length * 4);
    for (const c of cells) this.struct.u32(c >>> 0);
    return this;
  }

  /** One 32-bit cell. */
  propU32(name: string, value: number): this {
    return this.propCells(name, [value]);
  }

  /** One 64-bit value as two cells (high, low). */
  propU64(name: string, value: FdtU64): this {
    return this.propU64s(name, [value]);
  }

  /** 64-bit values, each as two cells (high, low): `reg` with #address-cells = #size-cells = 2. */
  propU64s(name: string, values: readonly FdtU64[]): this {
    const cells: number[] = [];
    for (const v of values) cells.push(...splitU64(v));
    return this.propCells(name, cells);
  }

  /** A NUL-terminated string. */
  propString(name: string, value: string): this {
    return this.propStrings(name, [value]);
  }

  /** A string list (each NUL-terminated), e.g. `compatible`. */
  propStrings(name: string, values: readonly string[]): this {
    let length = 0;
    for (const s of values) {
      if (s.includes('\0')) throw new FdtBuildError(`string of '${name}' contains NUL`);
      length += utf8Length(s) + 1;
    }
    this.beginProp(name, length);
    for (const s of values) {
      this.struct.cstr(s);
    }
    this.struct.padTo(4);
    return this;
  }

  /** Ends the structure block and returns the blob. Every node must be closed. */
  finish(bootCpuId = 0): Uint8Array {
    this.checkNotFinished();
    if (this.open.length !== 0) {
      throw new FdtBuildError(`${this.open.length} node(s) left open: ${this.open.map((n) => n.name || '/').join(' > ')}`);
    }
    if (!this.rootDone) throw new FdtBuildError('the tree has no root node');
    this.finished = true;
    this.struct.u32(FDT_END);

    const rsvOff = HEADER_SIZE; // 40: already 8-byte aligned
    const rsvSize = (this.reservations.length + 1) * 16;
    const structOff = align(rsvOff + rsvSize, 8);
    const structSize = this.struct.len;
    const stringsOff = structOff + structSize;
    const stringsSize = this.strings.len;
    const total = align(stringsOff + stringsSize, 8);

    const blob = new Uint8Array(total);
    const dv = new DataView(blob.buffer);
    const header = [
      FDT_MAGIC, total, structOff, stringsOff, rsvOff, FDT_VERSION, FDT_LAST_COMP_VERSION, bootCpuId >>> 0, stringsSize, structSize,
    ];
    header.forEach((v, i) => dv.setUint32(i * 4, v, false));
    this.reservations.forEach(([a, s], i) => {
      const [ah, al] = splitU64(a);
      const [sh, sl] = splitU64(s);
      const at = rsvOff + i * 16;
      dv.setUint32(at, ah, false);
      dv.setUint32(at + 4, al, false);
      dv.setUint32(at + 8, sh, false);
      dv.setUint32(at + 12, sl, false);
    });
    blob.set(this.struct.view(), structOff);
    blob.set(this.strings.view(), stringsOff);
    return blob;
  }

  private checkNotFinished(): void {
    if (this.finished) throw new FdtBuildError('the blob is already finished');
  }
}

function align(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

// ---------------------------------------------------------------------------
// Parser

/** A parsed node. */
export interface FdtNode {
  /** Node name with unit address, e.g. `serial@10000000`; '' for the root. */
  name: string;
  /** Properties in blob order. */
  props: Map<string, Uint8Array>;
  children: FdtNode[];
}

/** The header fields of a blob (§5.2). */
export interface FdtHeader {
  totalSize: number;
  offDtStruct: number;
  offDtStrings: number;
  offMemRsvmap: number;
  version: number;
  lastCompVersion: number;
  bootCpuidPhys: number;
  sizeDtStrings: number;
  sizeDtStruct: number;
}

/** Everything in a blob. */
export interface FdtTree {
  header: FdtHeader;
  reservations: { address: bigint; size: bigint }[];
  root: FdtNode;
}

const utf8Decoder = new TextDecoder('utf-8');

/** Parses a whole blob, checking its structure; throws {@link FdtError}. */
export function readFdt(blob: Uint8Array): FdtTree {
  const dv = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  if (blob.length < HEADER_SIZE) throw new FdtError(`blob of ${blob.length} bytes is shorter than the FDT header`);
  const magic = dv.getUint32(0, false);
  if (magic !== FDT_MAGIC) throw new FdtError(`bad magic 0x${magic.toString(16)} (expected 0xd00dfeed)`);
  const h: FdtHeader = {
    totalSize: dv.getUint32(4, false),
    offDtStruct: dv.getUint32(8, false),
    offDtStrings: dv.getUint32(12, false),
    offMemRsvmap: dv.getUint32(16, false),
    version: dv.getUint32(20, false),
    lastCompVersion: dv.getUint32(24, false),
    bootCpuidPhys: dv.getUint32(28, false),
    sizeDtStrings: dv.getUint32(32, false),
    sizeDtStruct: dv.getUint32(36, false),
  };
  if (h.totalSize > blob.length) throw new FdtError(`totalsize ${h.totalSize} exceeds the ${blob.length} bytes given`);
  if (h.lastCompVersion > FDT_VERSION) throw new FdtError(`blob needs a reader of version ${h.lastCompVersion}; this one reads ${FDT_VERSION}`);
  if (h.version < 16) throw new FdtError(`version ${h.version} blobs are not supported (need 16 or later)`);
  const inBlob = (off: number, len: number): boolean => off <= h.totalSize && len <= h.totalSize - off;
  if (!inBlob(h.offDtStruct, h.sizeDtStruct)) throw new FdtError('structure block lies outside the blob');
  if (!inBlob(h.offDtStrings, h.sizeDtStrings)) throw new FdtError('strings block lies outside the blob');
  if (h.offMemRsvmap % 8 !== 0 || h.offMemRsvmap < HEADER_SIZE) throw new FdtError('misplaced memory reservation block');

  const reservations: { address: bigint; size: bigint }[] = [];
  for (let at = h.offMemRsvmap; ; at += 16) {
    if (!inBlob(at, 16)) throw new FdtError('memory reservation block is not terminated');
    const address = dv.getBigUint64(at, false);
    const size = dv.getBigUint64(at + 8, false);
    if (address === 0n && size === 0n) break;
    reservations.push({ address, size });
  }

  const structEnd = h.offDtStruct + h.sizeDtStruct;
  const cstr = (from: number, end: number, what: string): string => {
    let z = from;
    while (z < end && blob[z] !== 0) z++;
    if (z >= end) throw new FdtError(`unterminated ${what} at offset ${from}`);
    return utf8Decoder.decode(blob.subarray(from, z));
  };

  let p = h.offDtStruct;
  const stack: FdtNode[] = [];
  let root: FdtNode | undefined;
  for (;;) {
    if (p + 4 > structEnd) throw new FdtError('structure block ends without FDT_END');
    const token = dv.getUint32(p, false);
    p += 4;
    if (token === FDT_BEGIN_NODE) {
      if (root !== undefined && stack.length === 0) throw new FdtError('a second root node');
      const name = cstr(p, structEnd, 'node name');
      while (blob[p] !== 0) p++;
      p = align(p + 1, 4);
      if (stack.length === 0 && name !== '') throw new FdtError(`root node named '${name}'`);
      const node: FdtNode = { name, props: new Map(), children: [] };
      if (stack.length > 0) stack[stack.length - 1].children.push(node);
      else root = node;
      stack.push(node);
    } else if (token === FDT_PROP) {
      if (p + 8 > structEnd) throw new FdtError('truncated property');
      const len = dv.getUint32(p, false);
      const nameOff = dv.getUint32(p + 4, false);
      p += 8;
      if (len > structEnd - p) throw new FdtError(`property value of ${len} bytes overruns the structure block`);
      if (nameOff >= h.sizeDtStrings) throw new FdtError(`property name offset ${nameOff} outside the strings block`);
      const node = stack[stack.length - 1];
      if (node === undefined) throw new FdtError('property outside any node');
      const name = cstr(h.offDtStrings + nameOff, h.offDtStrings + h.sizeDtStrings, 'property name');
      node.props.set(name, blob.slice(p, p + len));
      p = align(p + len, 4);
    } else if (token === FDT_END_NODE) {
      if (stack.length === 0) throw new FdtError('FDT_END_NODE without an open node');
      stack.pop();
    } else if (token === FDT_END) {
      if (stack.length !== 0) throw new FdtError(`FDT_END with ${stack.length} node(s) open`);
      break;
    } else if (token !== FDT_NOP) {
      throw new FdtError(`bad structure token 0x${token.toString(16)} at offset ${p - 4}`);
    }
  }
  if (root === undefined) throw new FdtError('the blob has no root node');
  return { header: h, reservations, root };
}

/** Parses a blob and returns its root node; throws {@link FdtError}. */
export function parseFdt(blob: Uint8Array): FdtNode {
  return readFdt(blob).root;
}

/** Finds a node by absolute path, e.g. `/soc/serial@10000000`; `/` is the root. */
export function findNode(root: FdtNode, path: string): FdtNode | undefined {
  let node: FdtNode | undefined = root;
  for (const part of path.split('/')) {
    if (part === '') continue;
    node = node.children.find((c): boolean => c.name === part);
    if (node === undefined) return undefined;
  }
  return node;
}

/** Reads a string property (the first string of a list). */
export function propString(node: FdtNode, name: string): string | undefined {
  return propStrings(node, name)?.[0];
}

/** Reads a string-list property, e.g. `compatible`. */
export function propStrings(node: FdtNode, name: string): string[] | undefined {
  const v = node.props.get(name);
  if (v === undefined) return undefined;
  const text = utf8Decoder.decode(v);
  const parts = text.split('\0');
  if (parts.length > 0 && parts[parts.length - 1] === '') parts.pop();
  return parts;
}

/** Reads a property as 32-bit cells. */
export function propCells(node: FdtNode, name: string): number[] | undefined {
  const v = node.props.get(name);
  if (v === undefined) return undefined;
  const dv = new DataView(v.buffer, v.byteOffset, v.byteLength);
  const out: number[] = [];
  for (let i = 0; i + 4 <= v.length; i += 4) out.push(dv.getUint32(i, false));
  return out;
}

/** Reads a one-cell property. */
export function propU32(node: FdtNode, name: string): number | undefined {
  return propCells(node, name)?.[0];
}

/** Reads a property as 64-bit values (pairs of cells). */
export function propU64s(node: FdtNode, name: string): bigint[] | undefined {
  const cells = propCells(node, name);
  if (cells === undefined) return undefined;
  const out: bigint[] = [];
  for (let i = 0; i + 1 < cells.length; i += 2) out.push((BigInt(cells[i]) << 32n) | BigInt(cells[i + 1]));
  return out;
}
