/**
 * The host side of a character device (a UART, a console): bytes out to the
 * host, bytes in from the host. Devices see only this interface, never
 * terminals, files or sockets.
 */
export interface CharBackend {
  /** Sends guest output to the host. */
  write(data: Uint8Array): void;
  /** Registers the receiver of host input (one per backend). */
  onInput(handler: (data: Uint8Array) => void): void;
  /** Releases host resources (restores the terminal mode, closes files). */
  close(): void;
}
