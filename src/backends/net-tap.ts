/**
 * A host TAP device as a network backend: the guest's NIC appears on the
 * host as an Ethernet interface (bridge it, give it an address, route or
 * NAT through it).
 *
 * Attaching to a TAP device means opening /dev/net/tun and issuing
 * `ioctl(fd, TUNSETIFF, { ifr_name, ifr_flags: IFF_TAP | IFF_NO_PI })`;
 * afterwards each read/write of the fd is one Ethernet frame. Node.js has no
 * ioctl, and the npm packages that provide one (`ioctl`, `ioctl-napi`) are
 * native addons built with node-gyp, which this project does not depend on.
 * So the ioctl and the frame copying are done by a small helper in python3
 * (standard library only, present on every Linux host), `tap-helper.py`
 * next to this file's source: it attaches to the interface, optionally
 * brings the link up, says `ready <name>` on stderr, and then relays frames
 * between the TAP fd and its stdin/stdout in net-stream.ts's framing (a
 * 4-byte big-endian length, then the frame). Any failure is one line on its
 * stderr and a non-zero exit, which {@link openTap} turns into a
 * {@link NetBackendError}.
 *
 * The helper lives as long as the backend: {@link TapNetBackend.close} ends
 * its stdin (and kills it if it lingers), and it is killed when this
 * process exits; if this process dies anyway, the helper sees end of file on
 * stdin and exits. A TAP the helper created disappears with it; a
 * persistent one (`ip tuntap add`) stays.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ETH_HEADER_LEN, FrameHandlerList, MAX_FRAME_LEN, NetBackendError, type NetBackend } from './net-backend.js';
import { DEFAULT_MAX_QUEUED_BYTES, StreamFrameDecoder, encodeStreamFrame } from './net-stream.js';

/** The clone device TAP interfaces are created through. */
export const TUN_DEVICE = '/dev/net/tun';
/** `TUNSETIFF` = _IOW('T', 202, int) on Linux (issued by the helper). */
export const TUNSETIFF = 0x400454ca;
/** `ifr_flags`: a TAP (Ethernet) device rather than TUN (IP). */
export const IFF_TAP = 0x0002;
/** `ifr_flags`: no 4-byte packet-information prefix on each frame. */
export const IFF_NO_PI = 0x1000;
/** Interface names are at most IFNAMSIZ - 1 = 15 bytes. */
const MAX_IFNAME = 15;
/** How long the helper may take to attach before {@link openTap} gives up. */
const DEFAULT_OPEN_TIMEOUT_MS = 10_000;
/** How long a closed helper may take to exit before it is killed. */
const CLOSE_GRACE_MS = 1000;
/** The most helper stderr kept (its tail) for an error message. */
const MAX_STDERR = 4096;

/**
 * Why TAP cannot be used on this host, from the most basic reason on (empty
 * when the up-front checks pass; the kernel may still refuse, see {@link openTap}).
 */
export function tapUnavailableReasons(device: string = TUN_DEVICE): string[] {
  const reasons: string[] = [];
  if (process.platform !== 'linux') {
    reasons.push(`TAP devices through ${TUN_DEVICE} exist on Linux only (this host is ${process.platform})`);
    return reasons;
  }
  if (!existsSync(device)) {
    reasons.push(`${device} does not exist: load the tun module (modprobe tun) or, in a container, pass the device in (e.g. --device /dev/net/tun)`);
  } else {
    try {
      accessSync(device, constants.R_OK | constants.W_OK);
    } catch {
      reasons.push(`no permission to open ${device} read-write: run as root, or create a persistent TAP owned by you (ip tuntap add dev <name> mode tap user $USER)`);
    }
  }
  return reasons;
}

/**
 * Where `tap-helper.py` is: beside this module when running from `src/`,
 * or back in `src/backends/` of the repository when running from
 * `dist/src/backends/` (tsc does not copy it; the package ships `src/`).
 */
export function tapHelperPath(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, 'tap-helper.py'), resolve(here, '../../../src/backends/tap-helper.py')];
  const found = candidates.find((p) => existsSync(p));
  if (found === undefined) {
    throw new NetBackendError(`the TAP helper is missing (looked for ${candidates.join(' and ')}); reinstall tsvisor`);
  }
  return found;
}

/** Options of {@link openTap}. */
export interface TapOptions {
  /** Set the link up if it is not (default true). Needs CAP_NET_ADMIN unless it is up already. */
  up?: boolean;
  /** The clone device (default {@link TUN_DEVICE}); tests pass others. */
  device?: string;
  /** The python3 interpreter (default `python3` from PATH). */
  python?: string;
  /** Give up attaching after this many ms (default 10 s). */
  openTimeoutMs?: number;
  /** Frames are dropped while more than this many bytes wait for the helper (default {@link DEFAULT_MAX_QUEUED_BYTES}). */
  maxQueuedBytes?: number;
  /**
   * Called once when the backend closes after a successful open: with no
   * argument for {@link TapNetBackend.close}, with an error when the helper
   * failed or exited on its own (the interface was deleted, say).
   */
  onClose?: (error?: NetBackendError) => void;
}

/** Counters of a TAP backend. */
export interface TapNetStats {
  txFrames: number;
  rxFrames: number;
  /** Frames not sent: bad length, helper gone, or too much queued. */
  txDropped: number;
}

/**
 * A host TAP interface as a {@link NetBackend}, through a python3 helper
 * process; made by {@link openTap}.
 */
export class TapNetBackend implements NetBackend {
  /** Counters. */
  readonly stats: TapNetStats = { txFrames: 0, rxFrames: 0, txDropped: 0 };
  /** Resolves once the helper process has exited (the interface is released by then). */
  readonly exited: Promise<void>;
  private readonly handlers = new FrameHandlerList();
  private readonly decoder = new StreamFrameDecoder();
  private readonly child: ChildProcessWithoutNullStreams;
  private stderr = '';
  private closed = false;
  private hasExited = false;
  private opened = false;
  private interfaceName: string;
  private readonly killOnExit = (): void => {
    this.child.kill('SIGKILL');
  };

  /** Starts the helper for `name` and waits until it has attached (see {@link openTap}, which checks `name` first). */
  static async open(name: string, options: TapOptions = {}): Promise<TapNetBackend> {
    const backend = new TapNetBackend(name, options);
    await backend.ready(options.openTimeoutMs ?? DEFAULT_OPEN_TIMEOUT_MS);
    return backend;
  }

  private constructor(name: string, private readonly options: TapOptions) {
    this.interfaceName = name;
    const args = [tapHelperPath(), options.device ?? TUN_DEVICE, name, options.up === false ? 'noup' : 'up'];
    this.child = spawn(options.python ?? 'python3', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    process.on('exit', this.killOnExit);
    this.exited = new Promise((resolve) => {
      this.child.once('close', () => {
        this.hasExited = true;
        process.off('exit', this.killOnExit);
        resolve();
      });
    });
    this.child.stdout.on('data', this.onData);
    this.child.stderr.setEncoding('utf8');
    this.child.stderr.on('data', (text: string) => {
      // Keep the tail: the helper's last line (or a traceback's) says why it stopped.
      this.stderr = (this.stderr + text).slice(-MAX_STDERR);
    });
    // A helper that dies makes writes to its stdin fail, and a failed spawn or
    // kill is an 'error' event; {@link ready} and the exit handler report why.
    this.child.stdin.on('error', () => {});
    this.child.on('error', () => {});
  }

  /** The interface name, as the kernel has it. */
  get name(): string {
    return this.interfaceName;
  }

  /** True once the backend is closed or its helper is gone. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** Waits for the helper's `ready` line; rejects with what it said instead. */
  private ready(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const fail = (message: string, cause?: unknown): void => {
        cleanup();
        this.shutDown();
        reject(new NetBackendError(`cannot open TAP interface '${this.interfaceName}': ${message}`, { cause }));
      };
      const onStderr = (): void => {
        const m = /^ready (\S+)\n/.exec(this.stderr);
        if (m === null) return;
        cleanup();
        this.interfaceName = m[1];
        this.stderr = this.stderr.slice(m[0].length);
        this.opened = true;
        this.child.once('close', this.onHelperExit);
        resolve();
      };
      const onSpawnError = (e: NodeJS.ErrnoException): void => {
        const python = this.options.python ?? 'python3';
        // execvp reports EACCES rather than ENOENT when some PATH directory is unreadable.
        fail(e.code === 'ENOENT' || e.code === 'EACCES'
          ? `${python} was not found on PATH or cannot be run (${e.code}); the TAP backend runs a small python3 helper (standard library only), so install python3`
          : `cannot start the TAP helper with ${python}: ${e.message}`, e);
      };
      const onEarlyExit = (code: number | null, signal: string | null): void => {
        const said = this.stderr.trim().split('\n').pop();
        fail(said !== undefined && said !== '' ? said : `the TAP helper exited (${signal ?? `status ${code}`}) without a reason`);
      };
      const timer = setTimeout(() => fail(`the TAP helper did not attach within ${timeoutMs} ms`), timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        this.child.stderr.off('data', onStderr);
        this.child.off('error', onSpawnError);
        this.child.off('close', onEarlyExit);
      };
      // Listeners run in registration order: the buffering listener above has already appended.
      this.child.stderr.on('data', onStderr);
      this.child.once('error', onSpawnError);
      this.child.once('close', onEarlyExit);
    });
  }

  private readonly onData = (chunk: Buffer): void => {
    let frames: Uint8Array[];
    try {
      frames = this.decoder.push(chunk);
    } catch {
      // Cannot happen with our helper; do not let a garbled stream go on.
      this.shutDown();
      return;
    }
    for (const f of frames) {
      this.stats.rxFrames++;
      this.handlers.deliver(f);
    }
  };

  private readonly onHelperExit = (code: number | null, signal: string | null): void => {
    if (this.closed) return;
    this.closed = true;
    this.handlers.clear();
    const said = this.stderr.trim().split('\n').pop();
    const why = said !== undefined && said !== '' ? said : `the TAP helper exited (${signal ?? `status ${code}`})`;
    this.options.onClose?.(new NetBackendError(`TAP interface '${this.interfaceName}' is gone: ${why}`));
  };

  send(frame: Uint8Array): void {
    const limit = this.options.maxQueuedBytes ?? DEFAULT_MAX_QUEUED_BYTES;
    if (this.closed || frame.length < ETH_HEADER_LEN || frame.length > MAX_FRAME_LEN || this.child.stdin.writableLength > limit) {
      this.stats.txDropped++;
      return;
    }
    this.stats.txFrames++;
    this.child.stdin.write(encodeStreamFrame(frame));
  }

  onReceive(handler: (frame: Uint8Array) => void): void {
    this.handlers.add(handler);
  }

  /** Stops the helper, which releases the interface. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.handlers.clear();
    this.shutDown();
    if (this.opened) this.options.onClose?.();
  }

  /** Ends the helper's stdin (it exits on end of file) and kills it if it lingers. */
  private shutDown(): void {
    this.closed = true;
    this.child.stdout.off('data', this.onData);
    if (this.hasExited) return;
    this.child.stdin.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), CLOSE_GRACE_MS);
    timer.unref();
    void this.exited.then(() => clearTimeout(timer));
  }
}

/**
 * Opens host TAP interface `name` (creating it if it does not exist, which
 * needs CAP_NET_ADMIN) as a {@link NetBackend}. Rejects with a
 * {@link NetBackendError} that says what is missing and what to do: not
 * Linux, no /dev/net/tun, no permission, the name in use by another
 * process or taken by a non-TAP interface, no python3.
 */
export async function openTap(name: string, options: TapOptions = {}): Promise<TapNetBackend> {
  if (name.length === 0 || Buffer.byteLength(name) > MAX_IFNAME || /[\s/:]/.test(name) || name === '.' || name === '..') {
    throw new NetBackendError(`'${name}' is not a valid interface name (1 to ${MAX_IFNAME} bytes, no spaces, '/' or ':')`);
  }
  const reasons = tapUnavailableReasons(options.device);
  if (reasons.length > 0) {
    throw new NetBackendError(`cannot open TAP interface '${name}': ${reasons.join('; ')}`);
  }
  return TapNetBackend.open(name, options);
}
