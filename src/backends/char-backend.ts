/**
 * The host side of a character device (a UART, a virtio console): a byte
 * stream in each direction. Devices only ever see this interface; whether
 * the bytes go to a terminal, a pipe, a socket or a test's buffer is the
 * backend's business (cf. TinyEMU's `CharacterDevice`).
 */

/** A byte stream between a guest character device and the host. */
export interface CharBackend {
  /** Sends guest output to the host. The backend may not keep a reference to `data` after returning. */
  write(data: Uint8Array): void;
  /**
   * Registers a handler for host input. Several handlers may be registered
   * (the device, and the board to wake sleeping harts); each receives every
   * chunk, in registration order.
   */
  onInput(handler: (data: Uint8Array) => void): void;
  /** Releases host resources (restores terminal modes, detaches streams). Idempotent. */
  close(): void;
}

/**
 * The handler list every backend keeps. Input that arrives before any
 * handler is registered is held and delivered to the first one, so nothing a
 * user types (or a test sends) while the machine is being built is lost.
 */
export class InputHandlerList {
  private readonly handlers: ((data: Uint8Array) => void)[] = [];
  private held: Uint8Array[] = [];

  /** Adds a handler; hands it whatever input was held back. */
  add(handler: (data: Uint8Array) => void): void {
    this.handlers.push(handler);
    if (this.handlers.length === 1 && this.held.length > 0) {
      const held = this.held;
      this.held = [];
      for (const chunk of held) handler(chunk);
    }
  }

  /** Delivers one chunk of host input to every handler. */
  deliver(data: Uint8Array): void {
    if (data.length === 0) return;
    if (this.handlers.length === 0) {
      this.held.push(data.slice());
      return;
    }
    for (const h of this.handlers) h(data);
  }

  /** Forgets every handler and any held input. */
  clear(): void {
    this.handlers.length = 0;
    this.held = [];
  }
}

/** A backend that discards output and never produces input (`--console null`). */
export class NullCharBackend implements CharBackend {
  write(_data: Uint8Array): void {
    // Output goes nowhere.
  }

  onInput(_handler: (data: Uint8Array) => void): void {
    // No input ever arrives.
  }

  close(): void {
    // Nothing to release.
  }
}
