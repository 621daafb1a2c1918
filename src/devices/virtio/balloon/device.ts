/**
 * virtio-balloon, the traditional memory balloon (virtio 1.2 §5.5).
 *
 * The host asks for a balloon size with {@link VirtioBalloon.setTarget}
 * (config `num_pages`, announced with a configuration-change interrupt);
 * the driver gives pages back on inflateq (queue 0) and takes them again on
 * deflateq (queue 1), as arrays of le32 page frame numbers of 4096-byte
 * pages (§5.5.6), and reports its progress in config `actual`. With
 * VIRTIO_BALLOON_F_STATS_VQ, queue 2 carries memory statistics (§5.5.6.3).
 *
 * This device only tracks which frames are in the balloon and counts;
 * what the host does with those pages is a policy decided elsewhere.
 */
import { completeAvailable, type VirtioActivation, type VirtioDevice, VirtioDeviceId } from '../device.js';
import { ChainCursor, type DescriptorChain } from '../queue.js';

/** The host must be told before the guest reuses a deflated page. */
export const VIRTIO_BALLOON_F_MUST_TELL_HOST = 1n << 0n;
/** A statistics queue is present. */
export const VIRTIO_BALLOON_F_STATS_VQ = 1n << 1n;
/** The balloon page size of the PFNs on inflateq/deflateq, always 4 KiB (§5.5.6). */
export const BALLOON_PAGE_SIZE = 4096;
const INFLATEQ = 0;
const DEFLATEQ = 1;
const STATSQ = 2;
/** One statistic: le16 tag; le64 val, packed (§5.5.6.3). */
const STAT_SIZE = 10;

/** Names of the statistics tags (§5.5.6.3). */
export const BALLOON_STAT_NAMES: readonly string[] = [
  'swap-in', 'swap-out', 'major-faults', 'minor-faults', 'free-memory', 'total-memory',
  'available-memory', 'disk-caches', 'hugetlb-allocations', 'hugetlb-failures',
];

/** Counters of a balloon. */
export interface BalloonMetrics {
  inflateRequests: number;
  deflateRequests: number;
  pagesInflated: number;
  pagesDeflated: number;
  statsUpdates: number;
  /** Malformed buffers (PFN arrays with a partial entry, PFNs outside a given bound). */
  errors: number;
}

/** Saved balloon state (version 1). */
export interface BalloonState {
  version: 1;
  numPages: number;
  actual: number;
  pages: number[];
  metrics: BalloonMetrics;
  stats: Record<string, number>;
  statsHead: number;
}

/** A virtio memory balloon. */
export class VirtioBalloon implements VirtioDevice<BalloonState> {
  readonly deviceId = VirtioDeviceId.BALLOON;
  readonly features = VIRTIO_BALLOON_F_MUST_TELL_HOST | VIRTIO_BALLOON_F_STATS_VQ;
  readonly queueMaxSizes = [256, 256, 256];
  readonly metrics: BalloonMetrics = newMetrics();
  /** The latest statistics the driver reported, by name (unknown tags as `tag-N`). */
  stats: Record<string, number> = {};
  private numPages = 0;
  private actual = 0;
  private readonly pages = new Set<number>();
  /** The stats buffer the device holds until it wants fresh numbers (§5.5.6.3); -1 = none. */
  private statsHead = -1;
  private active: VirtioActivation | undefined;

  /** The host's target balloon size, in 4 KiB pages (config `num_pages`). */
  get target(): number {
    return this.numPages;
  }

  /** The driver's reported balloon size (config `actual`). */
  get actualPages(): number {
    return this.actual;
  }

  /** Number of page frames currently in the balloon. */
  get inflatedPages(): number {
    return this.pages.size;
  }

  /** The page frame numbers in the balloon, ascending. */
  inflatedFrames(): number[] {
    return [...this.pages].sort((a, b) => a - b);
  }

  /** Asks the guest to grow or shrink the balloon to `pages` 4 KiB pages (§5.5.6.1). */
  setTarget(pages: number): void {
    if (!Number.isInteger(pages) || pages < 0 || pages > 0xffffffff) throw new RangeError(`balloon target ${pages} is not a page count`);
    if (pages === this.numPages) return;
    this.numPages = pages;
    this.active?.signalConfig();
  }

  /** Returns the held stats buffer so the driver refreshes the statistics; false when none is held. */
  requestStats(): boolean {
    const a = this.active;
    if (a === undefined || this.statsHead < 0) return false;
    const head = this.statsHead;
    this.statsHead = -1;
    try {
      a.queues[STATSQ].push(a.mem, head, 0);
      a.signalUsed(STATSQ);
    } catch (e) {
      a.fail(e);
      return false;
    }
    return true;
  }

  readConfig(offset: number, size: 1 | 2 | 4): number {
    // le32 num_pages; le32 actual; le32 free_page_hint_cmd_id; le32 poison_val (§5.5.4).
    const c = new Uint8Array(16);
    const dv = new DataView(c.buffer);
    dv.setUint32(0, this.numPages, true);
    dv.setUint32(4, this.actual, true);
    if (offset < 0 || offset + size > c.length) return 0;
    let v = 0;
    for (let i = size - 1; i >= 0; i--) v = v * 256 + c[offset + i];
    return v;
  }

  writeConfig(offset: number, size: 1 | 2 | 4, value: number): void {
    // Only `actual` is driver-writable; allow byte-wise updates too.
    if (offset < 4 || offset + size > 8) return;
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, this.actual, true);
    for (let i = 0; i < size; i++) b[offset - 4 + i] = Math.floor(value / 2 ** (8 * i)) & 0xff;
    this.actual = new DataView(b.buffer).getUint32(0, true);
  }

  activate(activation: VirtioActivation): void {
    this.active = activation;
  }

  reset(): void {
    // §5.5.6.1: after reset the guest owns all its memory again.
    this.active = undefined;
    this.pages.clear();
    this.actual = 0;
    this.statsHead = -1;
  }

  notify(queueIndex: number): void {
    const a = this.active;
    if (a === undefined) return;
    if (queueIndex === INFLATEQ || queueIndex === DEFLATEQ) {
      completeAvailable(a, queueIndex, (chain) => {
        this.pfns(a, chain, queueIndex === INFLATEQ);
        return 0;
      });
    } else if (queueIndex === STATSQ) {
      const q = a.queues[STATSQ];
      for (const chain of q.drain(a.mem)) {
        if (this.statsHead >= 0) q.push(a.mem, this.statsHead, 0); // a driver bug; do not leak the old one
        this.readStats(a, chain);
        this.statsHead = chain.head;
      }
    }
  }

  private pfns(a: VirtioActivation, chain: DescriptorChain, inflate: boolean): void {
    const bytes = new Uint8Array(chain.readableLength - (chain.readableLength % 4));
    if (bytes.length !== chain.readableLength) this.metrics.errors++;
    new ChainCursor(a.mem, chain.readable).read(bytes);
    const dv = new DataView(bytes.buffer);
    if (inflate) this.metrics.inflateRequests++;
    else this.metrics.deflateRequests++;
    for (let i = 0; i < bytes.length; i += 4) {
      const pfn = dv.getUint32(i, true);
      if (inflate) {
        if (!this.pages.has(pfn)) this.metrics.pagesInflated++;
        this.pages.add(pfn);
      } else if (this.pages.delete(pfn)) {
        this.metrics.pagesDeflated++;
      }
    }
  }

  private readStats(a: VirtioActivation, chain: DescriptorChain): void {
    const n = Math.floor(chain.readableLength / STAT_SIZE);
    const bytes = new Uint8Array(n * STAT_SIZE);
    new ChainCursor(a.mem, chain.readable).read(bytes);
    const dv = new DataView(bytes.buffer);
    for (let i = 0; i < n; i++) {
      const tag = dv.getUint16(i * STAT_SIZE, true);
      const value = dv.getUint32(i * STAT_SIZE + 2, true) + dv.getUint32(i * STAT_SIZE + 6, true) * 2 ** 32;
      this.stats[BALLOON_STAT_NAMES[tag] ?? `tag-${tag}`] = value;
    }
    this.metrics.statsUpdates++;
  }

  save(): BalloonState {
    return {
      version: 1, numPages: this.numPages, actual: this.actual, pages: this.inflatedFrames(),
      metrics: { ...this.metrics }, stats: { ...this.stats }, statsHead: this.statsHead,
    };
  }

  restore(s: BalloonState): void {
    if (s.version !== 1) throw new Error(`unsupported virtio-balloon state version ${String(s.version)}`);
    this.numPages = s.numPages;
    this.actual = s.actual;
    this.pages.clear();
    for (const p of s.pages) this.pages.add(p);
    Object.assign(this.metrics, newMetrics(), s.metrics);
    this.stats = { ...s.stats };
    this.statsHead = s.statsHead ?? -1;
  }
}

function newMetrics(): BalloonMetrics {
  return { inflateRequests: 0, deflateRequests: 0, pagesInflated: 0, pagesDeflated: 0, statsUpdates: 0, errors: 0 };
}
