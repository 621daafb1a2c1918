/**
 * Goldfish RTC (Android emulator goldfish platform; Linux drivers/rtc/rtc-goldfish.c,
 * QEMU hw/rtc/goldfish_rtc.c): nanoseconds since the Unix epoch, with one alarm.
 * Reading TIME_LOW latches TIME_HIGH.
 */
import type { AccessSize, InterruptLine, MmioDevice, Saveable } from './device.js';

const TIME_LOW = 0x00, TIME_HIGH = 0x04, ALARM_LOW = 0x08, ALARM_HIGH = 0x0c;
const IRQ_ENABLED = 0x10, CLEAR_ALARM = 0x14, ALARM_STATUS = 0x18, CLEAR_INTERRUPT = 0x1c;
const TWO32 = 4294967296n;

/** Saved RTC state. */
export interface RtcState {
  version: 1;
  offsetNs: string;
  alarmNs: string;
  alarmArmed: boolean;
  irqEnabled: number;
  irqPending: boolean;
}

export class GoldfishRtc implements MmioDevice, Saveable<RtcState> {
  readonly name = 'rtc';
  private latchedHigh = 0;
  private alarmHighStaged = 0;
  private alarmNs = 0n;
  private alarmArmed = false;
  private irqEnabled = 0;
  private irqPending = false;
  /** Guest time minus host time, in ns (the guest may set the clock). */
  private offsetNs = 0n;

  constructor(private readonly irq: InterruptLine, private readonly hostNs: () => bigint = () => BigInt(Date.now()) * 1000000n) {}

  private nowNs(): bigint {
    return this.hostNs() + this.offsetNs;
  }

  /** Raises the alarm interrupt when its time has come; returns ms until it is due (or Infinity). */
  poll(): number {
    if (!this.alarmArmed) return Infinity;
    const now = this.nowNs();
    if (now >= this.alarmNs) {
      this.alarmArmed = false;
      this.irqPending = true;
      this.update();
      return Infinity;
    }
    return Number((this.alarmNs - now) / 1000000n);
  }

  private update(): void {
    this.irq.setLevel(this.irqPending && this.irqEnabled !== 0);
  }

  read(offset: number, size: AccessSize): number {
    if (size !== 4) return 0;
    switch (offset) {
      case TIME_LOW: {
        const t = this.nowNs();
        this.latchedHigh = Number(t / TWO32);
        return Number(t % TWO32);
      }
      case TIME_HIGH: return this.latchedHigh;
      case ALARM_LOW: return Number(this.alarmNs % TWO32);
      case ALARM_HIGH: return Number(this.alarmNs / TWO32);
      case IRQ_ENABLED: return this.irqEnabled;
      case ALARM_STATUS: return this.alarmArmed ? 1 : 0;
      default: return 0;
    }
  }

  write(offset: number, size: AccessSize, value: number): void {
    if (size !== 4) return;
    const v = value >>> 0;
    switch (offset) {
      case TIME_LOW: {
        // Setting the time: high word written first (rtc-goldfish), low write commits.
        const want = (BigInt(this.latchedHigh) << 32n) | BigInt(v);
        this.offsetNs = want - this.hostNs();
        return;
      }
      case TIME_HIGH: this.latchedHigh = v; return;
      case ALARM_LOW:
        this.alarmNs = (BigInt(this.alarmHighStaged) << 32n) | BigInt(v);
        this.alarmArmed = true;
        this.poll();
        return;
      case ALARM_HIGH: this.alarmHighStaged = v; return;
      case IRQ_ENABLED: this.irqEnabled = v & 1; this.update(); return;
      case CLEAR_ALARM: this.alarmArmed = false; return;
      case CLEAR_INTERRUPT: this.irqPending = false; this.update(); return;
    }
  }

  save(): RtcState {
    return {
      version: 1, offsetNs: this.offsetNs.toString(), alarmNs: this.alarmNs.toString(), alarmArmed: this.alarmArmed,
      irqEnabled: this.irqEnabled, irqPending: this.irqPending,
    };
  }

  restore(s: RtcState): void {
    this.offsetNs = BigInt(s.offsetNs); this.alarmNs = BigInt(s.alarmNs); this.alarmArmed = s.alarmArmed;
    this.irqEnabled = s.irqEnabled; this.irqPending = s.irqPending;
    this.update();
  }
}
