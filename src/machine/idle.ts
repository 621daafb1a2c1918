/**
 * Sleeping while every hart waits for an interrupt: until the next timer
 * deadline (at most 50 ms, so host I/O is looked at), or until something
 * wakes the machine — a device raising an interrupt, console input, an IPI.
 */
import type { HostClock } from './host-clock.js';

/** Where the sleeps are counted. */
export interface IdleStats {
  sleeps: number;
  sleptMs: number;
}

/**
 * Drives a machine from the Node.js event loop until `running()` is false:
 * `step` (one round of every hart; true when none could run) for up to
 * 10 ms, then `sleep` when nothing could run, else a yield so host I/O
 * keeps flowing.
 */
export async function driveRounds(running: () => boolean, step: () => boolean, sleep: () => Promise<void>): Promise<void> {
  while (running()) {
    const until = performance.now() + 10;
    let idle = false;
    while (running()) {
      idle = step();
      if (idle || performance.now() >= until) break;
    }
    if (!running()) break;
    if (idle) await sleep();
    else await new Promise<void>((r) => setImmediate(r));
  }
}

export class Idler {
  private wakeUp: (() => void) | undefined;

  constructor(private readonly clock: HostClock, private readonly stats: IdleStats) {}

  /** Ends the sleep in progress, if any. */
  wake(): void {
    this.wakeUp?.();
  }

  /** Sleeps until clock time `deadline` (in ticks; Infinity for none), or until {@link wake}. */
  async sleepUntil(deadline: number): Promise<void> {
    const ms = Math.max(0, Math.min(50, this.clock.msUntil(deadline)));
    if (ms <= 0.05) return;
    this.stats.sleeps++;
    const t0 = performance.now();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => { this.wakeUp = undefined; resolve(); }, ms);
      this.wakeUp = () => { clearTimeout(timer); this.wakeUp = undefined; resolve(); };
    });
    this.stats.sleptMs += performance.now() - t0;
  }
}
