/**
 * virtio-rng, the entropy device (virtio 1.2 §5.4): one request queue whose
 * writable buffers the device fills with random bytes from the host's
 * CSPRNG (`crypto.randomFillSync`). No features, no configuration space.
 */
import { randomFillSync } from 'node:crypto';
import { completeAvailable, type VirtioActivation, type VirtioDevice, VirtioDeviceId } from '../device.js';
import { ChainCursor } from '../queue.js';

/** Most bytes handed out per request; a larger buffer gets this many (the driver reads used len). */
export const MAX_ENTROPY_PER_REQUEST = 64 * 1024;

/** Counters of a virtio-rng device. */
export interface RngMetrics {
  requests: number;
  bytes: number;
  /** Requests without a writable buffer (completed with 0 bytes). */
  errors: number;
}

/** Saved virtio-rng state (version 1). */
export interface RngState {
  version: 1;
  metrics: RngMetrics;
}

/** A virtio entropy device. */
export class VirtioRng implements VirtioDevice<RngState> {
  readonly deviceId = VirtioDeviceId.ENTROPY;
  readonly features = 0n;
  readonly queueMaxSizes = [256];
  readonly metrics: RngMetrics = { requests: 0, bytes: 0, errors: 0 };
  private active: VirtioActivation | undefined;

  /** `fill` supplies the random bytes (default: the host CSPRNG); tests may pass a deterministic one. */
  constructor(private readonly fill: (dest: Uint8Array) => void = (d) => void randomFillSync(d)) {}

  readConfig(): number {
    return 0;
  }

  writeConfig(): void {
    // No configuration space (§5.4.4).
  }

  activate(activation: VirtioActivation): void {
    this.active = activation;
  }

  reset(): void {
    this.active = undefined;
  }

  notify(queueIndex: number): void {
    const a = this.active;
    if (a === undefined || queueIndex !== 0) return;
    completeAvailable(a, 0, (chain) => {
      this.metrics.requests++;
      const n = Math.min(chain.writableLength, MAX_ENTROPY_PER_REQUEST);
      if (n === 0) this.metrics.errors++;
      const bytes = new Uint8Array(n);
      this.fill(bytes);
      new ChainCursor(a.mem, chain.writable).write(bytes);
      this.metrics.bytes += n;
      return n;
    });
  }

  save(): RngState {
    return { version: 1, metrics: { ...this.metrics } };
  }

  restore(s: RngState): void {
    if (s.version !== 1) throw new Error(`unsupported virtio-rng state version ${String(s.version)}`);
    Object.assign(this.metrics, s.metrics);
  }
}
