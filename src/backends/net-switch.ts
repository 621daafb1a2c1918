/**
 * A learning Ethernet switch (IEEE 802.1D forwarding without spanning tree)
 * that connects the NICs of VMs: in one process through {@link NetSwitch}
 * ports, and across tsvisor processes through a Unix domain socket served
 * by {@link NetSwitchServer}, each connected peer being one more port.
 *
 * Forwarding: the source MAC of every frame is learned for its ingress port;
 * a unicast frame to a known MAC goes to that port only (or nowhere if that
 * is where it came from); broadcast, multicast and unknown unicast frames
 * are flooded to every port except the ingress one, so a sender never hears
 * its own frame back.
 *
 * Frames are delivered from a `setImmediate` callback, never inside the
 * sender's `send`: a VM's transmit can never re-enter another VM's receive
 * path, and two VMs ping-ponging cannot starve the event loop.
 *
 * Loops: one switch is a star and cannot loop. Joined switches must form a
 * tree (every process connects to one server); there is no spanning tree
 * protocol to break a loop built by connecting switches in a ring.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { ETH_HEADER_LEN, FrameHandlerList, MAX_FRAME_LEN, type NetBackend, NetBackendError, formatMac } from './net-backend.js';
import { StreamNetBackend, type StreamNetOptions } from './net-stream.js';

/** Default size of the MAC table; the least recently seen entry goes when it is full. */
export const DEFAULT_MAC_TABLE_SIZE = 4096;
/** Default ageing time of a learned MAC (802.1D's default: 300 s). */
export const DEFAULT_MAC_AGEING_MS = 300_000;

/** Counters of one switch port; "in" is from the attached NIC to the switch. */
export interface SwitchPortStats {
  inFrames: number;
  inBytes: number;
  outFrames: number;
  outBytes: number;
}

/** Counters of a switch. */
export interface NetSwitchStats {
  /** Unicast frames sent to the one port their destination was learned on. */
  forwarded: number;
  /** Frames sent to every other port (broadcast, multicast, unknown unicast). */
  flooded: number;
  /** Frames whose destination is on their own ingress port (not sent anywhere). */
  filtered: number;
  /** Frames refused: shorter than an Ethernet header or longer than {@link MAX_FRAME_LEN}. */
  dropped: number;
  /** Times a MAC was seen on a different port than the one it was learned on. */
  macMoves: number;
}

/** One entry of {@link NetSwitch.macTable}. */
export interface MacTableEntry {
  mac: string;
  port: string;
  /** Milliseconds since the MAC was last seen. */
  ageMs: number;
}

/** Options of {@link NetSwitch}. */
export interface NetSwitchOptions {
  /** MAC table capacity (default {@link DEFAULT_MAC_TABLE_SIZE}). */
  macTableSize?: number;
  /** Ageing time of learned MACs in ms (default {@link DEFAULT_MAC_AGEING_MS}). */
  ageingMs?: number;
  /** The clock (default `Date.now`); tests pass their own. */
  now?: () => number;
}

/**
 * A port of a {@link NetSwitch}, as the NIC attached to it sees it: `send`
 * puts a frame into the switch, `onReceive` gets the frames the switch
 * sends out of this port.
 */
export class NetSwitchPort implements NetBackend {
  /** Counters. */
  readonly stats: SwitchPortStats = { inFrames: 0, inBytes: 0, outFrames: 0, outBytes: 0 };
  private readonly handlers = new FrameHandlerList();
  private closed = false;

  /** Created by {@link NetSwitch.attach} or {@link NetSwitch.connect}. */
  constructor(readonly name: string, private readonly sw: NetSwitch, private readonly onClose?: () => void) {}

  /** True once the port left its switch. */
  get isClosed(): boolean {
    return this.closed;
  }

  send(frame: Uint8Array): void {
    if (this.closed) return;
    this.stats.inFrames++;
    this.stats.inBytes += frame.length;
    this.sw.ingress(this, frame);
  }

  onReceive(handler: (frame: Uint8Array) => void): void {
    this.handlers.add(handler);
  }

  /** Leaves the switch: its MACs are forgotten, queued frames to it are discarded. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.handlers.clear();
    this.sw.detach(this);
    this.onClose?.();
  }

  /** A frame leaving the switch through this port (called by the switch). */
  egress(frame: Uint8Array): void {
    if (this.closed) return;
    this.stats.outFrames++;
    this.stats.outBytes += frame.length;
    this.handlers.deliver(frame);
  }
}

interface LearnedMac {
  port: NetSwitchPort;
  seen: number;
}

/** A learning Ethernet switch in one process. */
export class NetSwitch {
  /** Counters. */
  readonly stats: NetSwitchStats = { forwarded: 0, flooded: 0, filtered: 0, dropped: 0, macMoves: 0 };
  private readonly portList: NetSwitchPort[] = [];
  /** MAC (as a 48-bit number) → where it was learned; Map order is least recently seen first. */
  private readonly table = new Map<number, LearnedMac>();
  private queue: { port: NetSwitchPort; frame: Uint8Array }[] = [];
  private scheduled = false;
  private readonly macTableSize: number;
  private readonly ageingMs: number;
  private readonly now: () => number;

  constructor(options: NetSwitchOptions = {}) {
    this.macTableSize = options.macTableSize ?? DEFAULT_MAC_TABLE_SIZE;
    this.ageingMs = options.ageingMs ?? DEFAULT_MAC_AGEING_MS;
    this.now = options.now ?? Date.now;
  }

  /** A new port for a NIC (e.g. `new VirtioNet(sw.attach('vm1'))`). */
  attach(name: string): NetSwitchPort {
    const port = new NetSwitchPort(name, this);
    this.portList.push(port);
    return port;
  }

  /**
   * Plugs another backend into a new port (an uplink: a socket to another
   * switch, a TAP device): frames it receives enter the switch, frames the
   * switch sends out of the port go to its `send`. Closing the port closes
   * the backend.
   */
  connect(name: string, backend: NetBackend): NetSwitchPort {
    const port = new NetSwitchPort(name, this, () => backend.close());
    this.portList.push(port);
    port.onReceive((frame) => backend.send(frame));
    backend.onReceive((frame) => port.send(frame));
    return port;
  }

  /** The ports currently attached. */
  get ports(): readonly NetSwitchPort[] {
    return this.portList;
  }

  /** The learned MACs (ageing applied), least recently seen first. */
  macTable(): MacTableEntry[] {
    const now = this.now();
    const out: MacTableEntry[] = [];
    for (const [mac, e] of this.table) {
      if (now - e.seen > this.ageingMs) continue;
      out.push({ mac: formatMac(macBytes(mac)), port: e.port.name, ageMs: now - e.seen });
    }
    return out;
  }

  /** Closes every port. */
  close(): void {
    for (const p of [...this.portList]) p.close();
    this.queue = [];
  }

  /** A frame entering through `port` (called by the port): copied, queued, forwarded from the event loop. */
  ingress(port: NetSwitchPort, frame: Uint8Array): void {
    if (frame.length < ETH_HEADER_LEN || frame.length > MAX_FRAME_LEN) {
      this.stats.dropped++;
      return;
    }
    // Copy: the sender may reuse its buffer before the frame is forwarded.
    this.queue.push({ port, frame: frame.slice() });
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Removes a port (called by the port's close). */
  detach(port: NetSwitchPort): void {
    const i = this.portList.indexOf(port);
    if (i >= 0) this.portList.splice(i, 1);
    for (const [mac, e] of this.table) if (e.port === port) this.table.delete(mac);
  }

  /** Forwards every frame queued so far; frames sent meanwhile wait for the next turn. */
  private flush(): void {
    this.scheduled = false;
    const batch = this.queue;
    this.queue = [];
    for (const { port, frame } of batch) {
      if (!port.isClosed) this.forward(port, frame);
    }
  }

  private forward(from: NetSwitchPort, frame: Uint8Array): void {
    const now = this.now();
    const src = macNumber(frame, 6);
    // A multicast source is bogus (802.3): forward the frame but do not learn it.
    if ((frame[6] & 1) === 0) this.learn(src, from, now);
    if ((frame[0] & 1) === 0) {
      const dst = this.table.get(macNumber(frame, 0));
      if (dst !== undefined && now - dst.seen <= this.ageingMs) {
        if (dst.port === from) {
          this.stats.filtered++;
        } else {
          this.stats.forwarded++;
          dst.port.egress(frame);
        }
        return;
      }
    }
    this.stats.flooded++;
    // Snapshot: a handler may close a port while we iterate.
    for (const p of [...this.portList]) if (p !== from) p.egress(frame);
  }

  private learn(mac: number, port: NetSwitchPort, now: number): void {
    const old = this.table.get(mac);
    if (old !== undefined) {
      if (old.port !== port) this.stats.macMoves++;
      this.table.delete(mac); // re-insert: Map order tracks recency
    } else if (this.table.size >= this.macTableSize) {
      const oldest = this.table.keys().next();
      if (!oldest.done) this.table.delete(oldest.value);
    }
    this.table.set(mac, { port, seen: now });
  }
}

/** Reads the 6-byte MAC at `offset` as a number (48 bits fit a double exactly). */
function macNumber(frame: Uint8Array, offset: number): number {
  return frame[offset] * 2 ** 40 + frame[offset + 1] * 2 ** 32 + ((frame[offset + 2] << 24) >>> 0) +
    (frame[offset + 3] << 16) + (frame[offset + 4] << 8) + frame[offset + 5];
}

function macBytes(mac: number): Uint8Array {
  const out = new Uint8Array(6);
  for (let i = 5; i >= 0; i--) {
    out[i] = mac % 256;
    mac = Math.floor(mac / 256);
  }
  return out;
}

/**
 * Serves a {@link NetSwitch} on a Unix domain socket: every process that
 * connects (see {@link connectSwitch}) becomes one port, named `peer<N>`.
 */
export class NetSwitchServer {
  private readonly sockets = new Set<Socket>();
  private peerCount = 0;
  private closing: Promise<void> | undefined;

  private constructor(
    readonly path: string,
    readonly netSwitch: NetSwitch,
    private readonly server: Server,
    private readonly streamOptions: StreamNetOptions,
  ) {
    server.on('connection', (socket) => this.accept(socket));
  }

  /**
   * Listens on `path` (a stale socket file left by a dead server is
   * replaced; a live server there is an error) with `sw` as the switch
   * (default: a new one).
   */
  static async listen(path: string, sw: NetSwitch = new NetSwitch(), options: StreamNetOptions = {}): Promise<NetSwitchServer> {
    const server = createServer();
    try {
      await listenOn(server, path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw wrapListenError(path, e);
      if (await isLive(path)) throw new NetBackendError(`network switch socket ${path} is in use by a running switch; connect to it instead, or choose another path`);
      const { unlink } = await import('node:fs/promises');
      await unlink(path);
      try {
        await listenOn(server, path);
      } catch (e2) {
        throw wrapListenError(path, e2);
      }
    }
    return new NetSwitchServer(path, sw, server, options);
  }

  /** Processes currently connected. */
  get peers(): number {
    return this.sockets.size;
  }

  private accept(socket: Socket): void {
    if (this.closing) {
      socket.destroy();
      return;
    }
    this.sockets.add(socket);
    const name = `peer${this.peerCount++}`;
    // `port` is assigned before any stream event can fire (they are emitted asynchronously).
    const backend = new StreamNetBackend(socket, {
      ...this.streamOptions,
      onClose: () => {
        this.sockets.delete(socket);
        port.close();
      },
    });
    const port = this.netSwitch.connect(name, backend);
  }

  /** Stops listening, disconnects every peer and removes the socket file. The switch itself stays. */
  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      for (const s of this.sockets) s.destroy();
      this.sockets.clear();
      // net.Server removes its Unix socket file when it closes.
      this.server.close(() => resolve());
    });
    return this.closing;
  }
}

/**
 * Connects to a {@link NetSwitchServer} at `path`; the result is a backend
 * for a NIC (`new VirtioNet(await connectSwitch(p))`) or an uplink for a
 * local switch (`sw.connect('uplink', await connectSwitch(p))`).
 */
export function connectSwitch(path: string, options: StreamNetOptions = {}): Promise<StreamNetBackend> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(path);
    const onError = (e: Error): void => {
      const code = (e as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'no such socket' : code === 'ECONNREFUSED' ? 'nothing is listening there' : e.message;
      reject(new NetBackendError(`cannot connect to the network switch at ${path}: ${why}; start one with NetSwitchServer.listen (e.g. in another tsvisor) first`, { cause: e }));
    };
    socket.once('error', onError);
    socket.once('connect', () => {
      socket.off('error', onError);
      resolve(new StreamNetBackend(socket, options));
    });
  });
}

function listenOn(server: Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error): void => reject(e);
    server.once('error', onError);
    server.listen(path, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

/** Whether a server answers on `path` (false for a stale socket file). */
function isLive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

function wrapListenError(path: string, e: unknown): NetBackendError {
  const message = e instanceof Error ? e.message : String(e);
  return new NetBackendError(`cannot listen for the network switch on ${path}: ${message}; check that the directory exists and is writable`, { cause: e });
}
