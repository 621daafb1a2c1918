/**
 * The board's time base: the host's monotonic clock at the `virt` timebase
 * frequency of 10 MHz. It can be paused (a stopped VM's time does not run).
 */
import type { TimeSource } from '../devices/device.js';

export class HostClock implements TimeSource {
  readonly frequency = 10_000_000;
  private origin = performance.now();
  private pausedAt: number | undefined;

  now(): number {
    const t = this.pausedAt ?? performance.now();
    return Math.floor((t - this.origin) * (this.frequency / 1000));
  }

  /** Stops time (e.g. while a VM is paused or being migrated). */
  pause(): void {
    if (this.pausedAt === undefined) this.pausedAt = performance.now();
  }

  /** Restarts time where it stopped. */
  resume(): void {
    if (this.pausedAt !== undefined) {
      this.origin += performance.now() - this.pausedAt;
      this.pausedAt = undefined;
    }
  }

  /** Milliseconds of host time until tick `t`. */
  msUntil(t: number): number {
    return (t - this.now()) / (this.frequency / 1000);
  }
}
