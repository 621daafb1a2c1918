/**
 * The contracts every device model implements and uses.
 *
 * Devices see offsets inside their own region, never absolute addresses, and
 * reach the outside world only through what they are handed: interrupt
 * lines, guest memory (for DMA), and host backends.
 */

/** MMIO access widths a device is asked to serve. 8-byte accesses are split into two 4-byte ones, low half first. */
export type AccessSize = 1 | 2 | 4;

/** A device mapped on the MMIO bus. */
export interface MmioDevice {
  /** Short name for logs and statistics, e.g. `uart0`. */
  readonly name: string;
  /** Reads `size` bytes at `offset`; returns the unsigned little-endian value. */
  read(offset: number, size: AccessSize): number;
  /** Writes the low `size` bytes of `value` at `offset`. */
  write(offset: number, size: AccessSize, value: number): void;
}

/** A level-triggered interrupt line into an interrupt controller. */
export interface InterruptLine {
  /** Drives the line high (`true`) or low (`false`). */
  setLevel(high: boolean): void;
}

/** `mip` bit numbers (privileged spec §3.1.9) the board drives from devices. */
export const enum MipBit {
  SSIP = 1,
  MSIP = 3,
  STIP = 5,
  MTIP = 7,
  SEIP = 9,
  MEIP = 11,
}

/**
 * The interrupt pins of the harts, as seen by the CLINT and the PLIC.
 * The board implements it by setting hardware-driven bits of `mip`.
 */
export interface HartInterruptPins {
  /** Sets or clears `mip` bit `bit` of hart `hartId`. */
  set(hartId: number, bit: MipBit, level: boolean): void;
}

/** The machine's time base (the `time` CSR and the CLINT's `mtime`). */
export interface TimeSource {
  /** Ticks per second (QEMU `virt`: 10 MHz). */
  readonly frequency: number;
  /** The current tick count (an integer below 2^53). */
  now(): number;
}

/** Versioned plain-object state, for snapshots and migration. */
export interface Saveable<S> {
  save(): S;
  restore(state: S): void;
}

/** Something the machine asks to be polled between CPU slices (timers, input). */
export interface Pollable {
  /** Updates time-driven state; returns ticks until it next needs polling, or Infinity. */
  poll(now: number): number;
}
