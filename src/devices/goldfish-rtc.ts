/**
 * Goldfish RTC (the Android emulator's "goldfish" platform real-time clock;
 * Linux drivers/rtc/rtc-goldfish.c, QEMU hw/rtc/goldfish_rtc.c), at
 * 0x101000 on QEMU `virt` (size 0x1000, PLIC source 11). Time is
 * nanoseconds since the Unix epoch, a 64-bit value read as two halves.
 *
 * | offset | read                         | write                          |
 * |--------|------------------------------|--------------------------------|
 * | 0x00   | TIME_LOW (latches TIME_HIGH) | set time bits 31:0             |
 * | 0x04   | TIME_HIGH (the latched half) | set time bits 63:32            |
 * | 0x08   | ALARM_LOW                    | alarm bits 31:0, arms the alarm|
 * | 0x0c   | ALARM_HIGH                   | alarm bits 63:32               |
 * | 0x10   | IRQ_ENABLED                  | IRQ_ENABLED                    |
 * | 0x14   |                              | CLEAR_ALARM (disarm)           |
 * | 0x18   | ALARM_STATUS (1 = armed)     |                                |
 * | 0x1c   |                              | CLEAR_INTERRUPT                |
 *
 * The guest's time is the host clock plus an offset the guest changes by
 * setting the time (as QEMU keeps `tick_offset`). An alarm at or before the
 * current time fires at once; a later one fires when {@link GoldfishRtc.poll}
 * (or, by default, a host timer) finds it due. The interrupt line is high
 * while an alarm interrupt is pending and IRQ_ENABLED is set.
 *
 * Values are bigints inside: the time (~1.7e18 ns) is far beyond 2^53.
 */
import type { AccessSize, InterruptLine, MmioDevice, Pollable, Saveable } from './device.js';

const TIME_LOW = 0x00, TIME_HIGH = 0x04, ALARM_LOW = 0x08, ALARM_HIGH = 0x0c;
const IRQ_ENABLED = 0x10, CLEAR_ALARM = 0x14, ALARM_STATUS = 0x18, CLEAR_INTERRUPT = 0x1c;
const MASK32 = 0xffffffffn;
const MASK64 = (1n << 64n) - 1n;
/** setTimeout's longest delay. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Nanoseconds since the Unix epoch from the host: wall-clock origin, monotonic progress. */
export function hostEpochNs(): () => bigint {
  const originNs = BigInt(Date.now()) * 1_000_000n;
  const originHr = process.hrtime.bigint();
  return () => originNs + (process.hrtime.bigint() - originHr);
}

/** Options of {@link GoldfishRtc}. */
export interface GoldfishRtcOptions {
  /** The host clock, ns since the Unix epoch (default {@link hostEpochNs}; tests inject their own). */
  clock?: () => bigint;
  /** Arm a host timer so alarms fire without polling (default: true unless `clock` is given). */
  hostTimer?: boolean;
  /** Ticks per second of the `now`/return value of {@link GoldfishRtc.poll} (default 10 MHz, the virt timebase). */
  tickFrequency?: number;
  /** Name for logs and statistics (default `rtc`). */
  name?: string;
}

/** Saved RTC state (version 1). 64-bit values are decimal strings, since JSON has no bigint. */
export interface RtcState {
  version: 1;
  /** Guest time minus host time, ns (a two's complement 64-bit difference as a signed decimal). */
  offsetNs: string;
  alarmNs: string;
  alarmArmed: boolean;
  irqEnabled: number;
  irqPending: boolean;
  /** The TIME_HIGH half latched by the last TIME_LOW read. */
  timeHigh: number;
}

/** The goldfish RTC. */
export class GoldfishRtc implements MmioDevice, Pollable, Saveable<RtcState> {
  readonly name: string;
  private readonly clock: () => bigint;
  private readonly useHostTimer: boolean;
  private readonly tickFrequency: number;
  private offsetNs = 0n;
  private timeHigh = 0;
  private alarmNs = 0n;
  private alarmArmed = false;
  private irqEnabled = 0;
  private irqPending = false;
  private irqLevel = false;
  private timer: ReturnType<typeof setTimeout> | undefined;

  /**
   * @param irq the interrupt line (PLIC source 11 on virt)
   * @param options clock injection and alarm delivery
   */
  constructor(
    private readonly irq: InterruptLine,
    options: GoldfishRtcOptions = {},
  ) {
    this.clock = options.clock ?? hostEpochNs();
    this.useHostTimer = options.hostTimer ?? options.clock === undefined;
    this.tickFrequency = options.tickFrequency ?? 10_000_000;
    this.name = options.name ?? 'rtc';
  }

  /** The guest's current time, ns since the epoch (64-bit). */
  nowNs(): bigint {
    return (this.clock() + this.offsetNs) & MASK64;
  }

  /** Returns to the reset state (the time offset survives, as a battery-backed clock does). */
  reset(): void {
    this.alarmNs = 0n;
    this.alarmArmed = false;
    this.irqEnabled = 0;
    this.irqPending = false;
    this.timeHigh = 0;
    this.cancelTimer();
    this.updateIrq();
  }

  /** Stops the host timer (when the machine is torn down). */
  close(): void {
    this.cancelTimer();
  }

  /**
   * Fires a due alarm; returns the ticks (at `tickFrequency`) until the
   * armed alarm is due, or Infinity. `now` (machine ticks) is not needed:
   * the RTC runs on its own clock.
   */
  poll(_now?: number): number {
    if (!this.alarmArmed) return Infinity;
    const left = this.alarmNs - this.nowNs();
    if (left <= 0n) {
      this.fire();
      return Infinity;
    }
    return Math.ceil((Number(left) * this.tickFrequency) / 1e9);
  }

  private fire(): void {
    this.alarmArmed = false;
    this.irqPending = true;
    this.cancelTimer();
    this.updateIrq();
  }

  private updateIrq(): void {
    const level = this.irqPending && this.irqEnabled !== 0;
    if (level !== this.irqLevel) {
      this.irqLevel = level;
      this.irq.setLevel(level);
    }
  }

  /** Arms the alarm for `alarmNs`, or fires it now if that is not in the future (QEMU goldfish_rtc_set_alarm). */
  private setAlarm(): void {
    if (this.alarmNs <= this.nowNs()) {
      this.fire();
      return;
    }
    this.alarmArmed = true;
    this.scheduleTimer();
  }

  private scheduleTimer(): void {
    this.cancelTimer();
    if (!this.useHostTimer || !this.alarmArmed) return;
    const leftMs = Number((this.alarmNs - this.nowNs()) / 1_000_000n) + 1;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.poll() !== Infinity) this.scheduleTimer(); // early (a long alarm, or the clock was set): wait again
    }, Math.min(Math.max(leftMs, 0), MAX_TIMER_MS));
    // An armed alarm must not keep the VMM process alive on its own.
    this.timer.unref?.();
  }

  private cancelTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  read(offset: number, size: AccessSize): number {
    if (size !== 4 || (offset & 3) !== 0) return 0;
    switch (offset) {
      case TIME_LOW: {
        const t = this.nowNs();
        this.timeHigh = Number(t >> 32n);
        return Number(t & MASK32);
      }
      case TIME_HIGH:
        return this.timeHigh;
      case ALARM_LOW:
        return Number(this.alarmNs & MASK32);
      case ALARM_HIGH:
        return Number(this.alarmNs >> 32n);
      case IRQ_ENABLED:
        return this.irqEnabled;
      case ALARM_STATUS:
        return this.alarmArmed ? 1 : 0;
      default:
        return 0;
    }
  }

  write(offset: number, size: AccessSize, value: number): void {
    if (size !== 4 || (offset & 3) !== 0) return;
    const v = BigInt(value >>> 0);
    switch (offset) {
      case TIME_LOW:
      case TIME_HIGH: {
        // Replace one half of the current time (QEMU deposit64). rtc-goldfish
        // writes TIME_HIGH then TIME_LOW, which sets both halves.
        const cur = this.nowNs();
        const next = offset === TIME_LOW ? (cur & ~MASK32 & MASK64) | v : (cur & MASK32) | (v << 32n);
        this.offsetNs = (this.offsetNs + next - cur) & MASK64;
        if (this.alarmArmed) this.scheduleTimer();
        return;
      }
      case ALARM_LOW:
        // rtc-goldfish writes ALARM_HIGH first; the low half arms the alarm.
        this.alarmNs = (this.alarmNs & ~MASK32 & MASK64) | v;
        this.setAlarm();
        return;
      case ALARM_HIGH:
        this.alarmNs = (this.alarmNs & MASK32) | (v << 32n);
        return;
      case IRQ_ENABLED:
        this.irqEnabled = value & 1;
        this.updateIrq();
        return;
      case CLEAR_ALARM:
        this.alarmArmed = false;
        this.cancelTimer();
        return;
      case CLEAR_INTERRUPT:
        this.irqPending = false;
        this.updateIrq();
        return;
      default:
        return;
    }
  }

  save(): RtcState {
    return {
      version: 1,
      offsetNs: BigInt.asIntN(64, this.offsetNs).toString(),
      alarmNs: this.alarmNs.toString(),
      alarmArmed: this.alarmArmed,
      irqEnabled: this.irqEnabled,
      irqPending: this.irqPending,
      timeHigh: this.timeHigh,
    };
  }

  restore(s: RtcState): void {
    if (s.version !== 1) throw new Error(`goldfish-rtc: unsupported state version ${String(s.version)}; this build reads version 1`);
    this.offsetNs = BigInt(s.offsetNs) & MASK64;
    this.alarmNs = BigInt(s.alarmNs) & MASK64;
    this.alarmArmed = s.alarmArmed;
    this.irqEnabled = s.irqEnabled & 1;
    this.irqPending = s.irqPending;
    this.timeHigh = s.timeHigh >>> 0;
    this.irqLevel = this.irqPending && this.irqEnabled !== 0;
    this.irq.setLevel(this.irqLevel);
    this.cancelTimer();
    if (this.alarmArmed) this.scheduleTimer();
  }
}
