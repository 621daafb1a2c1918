/**
 * Flattened device tree blobs (Devicetree Specification v0.4, ch. 5): a
 * builder that writes the header, an empty memory reservation block, the
 * structure block and a deduplicated strings block; and a small parser used
 * by tests and tools.
 */

const FDT_MAGIC = 0xd00dfeed;
const FDT_BEGIN_NODE = 1, FDT_END_NODE = 2, FDT_PROP = 3, FDT_END = 9;
const HEADER_SIZE = 40;

/** Builds a device tree blob node by node. */
export class FdtBuilder {
  private struct: number[] = [];
  private strings: number[] = [];
  private stringOffsets = new Map<string, number>();
  private depth = 0;
  private nextPhandle = 1;

  /** Allocates a fresh phandle value. */
  allocPhandle(): number {
    return this.nextPhandle++;
  }

  private u32(v: number): void {
    this.struct.push((v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
  }

  private pad(): void {
    while (this.struct.length % 4 !== 0) this.struct.push(0);
  }

  private nameOffset(name: string): number {
    let off = this.stringOffsets.get(name);
    if (off === undefined) {
      off = this.strings.length;
      for (const b of Buffer.from(name, 'utf8')) this.strings.push(b);
      this.strings.push(0);
      this.stringOffsets.set(name, off);
    }
    return off;
  }

  /** Opens a node; the root node's name is ''. */
  beginNode(name: string): this {
    this.u32(FDT_BEGIN_NODE);
    for (const b of Buffer.from(name, 'utf8')) this.struct.push(b);
    this.struct.push(0);
    this.pad();
    this.depth++;
    return this;
  }

  /** Closes the innermost open node. */
  endNode(): this {
    if (this.depth === 0) throw new Error('endNode without beginNode');
    this.u32(FDT_END_NODE);
    this.depth--;
    return this;
  }

  /** A property with raw bytes. */
  propBytes(name: string, value: Uint8Array): this {
    this.u32(FDT_PROP);
    this.u32(value.length);
    this.u32(this.nameOffset(name));
    for (const b of value) this.struct.push(b);
    this.pad();
    return this;
  }

  /** An empty (boolean) property. */
  propEmpty(name: string): this {
    return this.propBytes(name, new Uint8Array(0));
  }

  /** A list of 32-bit cells. */
  propCells(name: string, cells: number[]): this {
    const b = new Uint8Array(cells.length * 4);
    const dv = new DataView(b.buffer);
    cells.forEach((c, i) => dv.setUint32(i * 4, c >>> 0, false));
    return this.propBytes(name, b);
  }

  /** One 32-bit cell. */
  propU32(name: string, v: number): this {
    return this.propCells(name, [v]);
  }

  /** 64-bit values, each as two cells (high, low). */
  propU64s(name: string, values: number[]): this {
    const cells: number[] = [];
    for (const v of values) cells.push(Math.floor(v / 4294967296), v % 4294967296);
    return this.propCells(name, cells);
  }

  /** A NUL-terminated string. */
  propString(name: string, s: string): this {
    return this.propStrings(name, [s]);
  }

  /** A list of NUL-terminated strings. */
  propStrings(name: string, list: string[]): this {
    const parts = list.map((s) => Buffer.concat([Buffer.from(s, 'utf8'), Buffer.of(0)]));
    return this.propBytes(name, new Uint8Array(Buffer.concat(parts)));
  }

  /** Finishes the blob. All nodes must be closed. */
  finish(bootCpu = 0): Uint8Array {
    if (this.depth !== 0) throw new Error(`${this.depth} device tree node(s) left open`);
    this.u32(FDT_END);
    const rsvOff = HEADER_SIZE;
    const rsvSize = 16; // one terminating (0, 0) entry
    const structOff = rsvOff + rsvSize;
    const stringsOff = structOff + this.struct.length;
    const total = stringsOff + this.strings.length;
    const blob = new Uint8Array(Math.ceil(total / 8) * 8);
    const dv = new DataView(blob.buffer);
    const hdr = [FDT_MAGIC, blob.length, structOff, stringsOff, rsvOff, 17, 16, bootCpu, this.strings.length, this.struct.length];
    hdr.forEach((v, i) => dv.setUint32(i * 4, v, false));
    blob.set(this.struct, structOff);
    blob.set(this.strings, stringsOff);
    return blob;
  }
}

/** A parsed node. */
export interface FdtNode {
  name: string;
  props: Map<string, Uint8Array>;
  children: FdtNode[];
}

/** Raised for a blob that is not a valid device tree. */
export class FdtError extends Error {}

/** Parses a blob into a tree. */
export function parseFdt(blob: Uint8Array): FdtNode {
  const dv = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  if (blob.length < HEADER_SIZE || dv.getUint32(0, false) !== FDT_MAGIC) throw new FdtError('not a flattened device tree (bad magic)');
  const structOff = dv.getUint32(8, false);
  const stringsOff = dv.getUint32(12, false);
  const str = (off: number): string => {
    let end = off;
    while (end < blob.length && blob[end] !== 0) end++;
    return Buffer.from(blob.subarray(off, end)).toString('utf8');
  };
  let p = structOff;
  const stack: FdtNode[] = [];
  let root: FdtNode | undefined;
  for (;;) {
    if (p + 4 > blob.length) throw new FdtError('truncated structure block');
    const tok = dv.getUint32(p, false);
    p += 4;
    if (tok === FDT_BEGIN_NODE) {
      const name = str(p);
      p += Math.ceil((Buffer.byteLength(name) + 1) / 4) * 4;
      const node: FdtNode = { name, props: new Map(), children: [] };
      if (stack.length > 0) stack[stack.length - 1].children.push(node);
      else root = node;
      stack.push(node);
    } else if (tok === FDT_PROP) {
      const len = dv.getUint32(p, false);
      const nameOff = dv.getUint32(p + 4, false);
      p += 8;
      const cur = stack[stack.length - 1];
      if (cur === undefined) throw new FdtError('property outside a node');
      cur.props.set(str(stringsOff + nameOff), blob.slice(p, p + len));
      p += Math.ceil(len / 4) * 4;
    } else if (tok === FDT_END_NODE) {
      stack.pop();
    } else if (tok === FDT_END) {
      break;
    } else if (tok !== 4 /* FDT_NOP */) {
      throw new FdtError(`bad structure token ${tok}`);
    }
  }
  if (root === undefined) throw new FdtError('no root node');
  return root;
}

/** Finds a node by path, e.g. `/soc/serial@10000000`. */
export function findNode(root: FdtNode, path: string): FdtNode | undefined {
  let node: FdtNode | undefined = root;
  for (const part of path.split('/').filter((s) => s.length > 0)) {
    node = node?.children.find((c) => c.name === part);
    if (node === undefined) return undefined;
  }
  return node;
}

/** Reads a string property. */
export function propString(node: FdtNode, name: string): string | undefined {
  const v = node.props.get(name);
  return v === undefined ? undefined : Buffer.from(v).toString('utf8').replace(/\0+$/, '');
}

/** Reads a cell-list property. */
export function propCells(node: FdtNode, name: string): number[] | undefined {
  const v = node.props.get(name);
  if (v === undefined) return undefined;
  const dv = new DataView(v.buffer, v.byteOffset, v.byteLength);
  const out: number[] = [];
  for (let i = 0; i + 4 <= v.length; i += 4) out.push(dv.getUint32(i, false));
  return out;
}
