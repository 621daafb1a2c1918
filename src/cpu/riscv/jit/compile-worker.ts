/**
 * Compiles WebAssembly modules on a worker thread, for the JIT to collect
 * without waiting for the event loop.
 *
 * `WebAssembly.compile()` also compiles off the main thread, but its promise
 * settles only when the machine yields to the event loop (every slice, about
 * 10 ms, and in practice ~30 ms after the start of a batch during a Linux
 * boot), so code the JIT has compiled keeps being interpreted meanwhile. A
 * worker's reply can instead be taken synchronously
 * (`receiveMessageOnPort`) the next time the hart arrives at code waiting
 * for it: the latency is the compile itself. A `WebAssembly.Module` crosses
 * threads without being compiled again (V8 shares its code).
 *
 * One worker serves the whole process (every machine's JIT); it does not
 * keep the process alive.
 */
import { MessageChannel, Worker, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';

/** The worker: compiles each module it is sent and posts it back (or the error) on its port. */
const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const port = workerData.port;
port.on('message', ({ id, bytes }) => {
  let module, error;
  try { module = new WebAssembly.Module(bytes); } catch (e) { error = String(e && e.stack || e); }
  port.postMessage({ id, module, error });
});
`;

interface Reply {
  id: number;
  module?: WebAssembly.Module;
  error?: string;
}

/** A compiled module handed back, or the compile error (a bug in the code generator). */
export type CompileResult = { id: number; module: WebAssembly.Module } | { id: number; error: string };

/** The process's compile worker. */
export class CompileWorker {
  private static shared: CompileWorker | null | undefined;
  private nextId = 0;
  /** Results taken from the port for other users of the worker, by id. */
  private readonly others = new Map<number, CompileResult>();

  private constructor(private readonly port: MessagePort) {}

  /** The process's worker, started on first use; null where worker threads are unavailable. */
  static get(): CompileWorker | null {
    if (CompileWorker.shared === undefined) {
      try {
        const { port1, port2 } = new MessageChannel();
        const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { port: port2 }, transferList: [port2] });
        worker.unref();
        port1.unref();
        CompileWorker.shared = new CompileWorker(port1);
      } catch {
        CompileWorker.shared = null;
      }
    }
    return CompileWorker.shared;
  }

  /** Starts compiling `bytes` (handed over: the caller must not use them again); returns the job's id. */
  submit(bytes: Uint8Array<ArrayBuffer>): number {
    const id = this.nextId++;
    const owned = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : bytes.slice();
    this.port.postMessage({ id, bytes: owned }, [owned.buffer]);
    return id;
  }

  /** The result of job `id` if it has arrived (never waits). */
  take(id: number): CompileResult | undefined {
    const mine = this.others.get(id);
    if (mine !== undefined) { this.others.delete(id); return mine; }
    for (;;) {
      const msg = receiveMessageOnPort(this.port) as { message: Reply } | undefined;
      if (msg === undefined) return undefined;
      const r = msg.message;
      const result: CompileResult = r.module !== undefined ? { id: r.id, module: r.module } : { id: r.id, error: r.error ?? 'compile failed' };
      if (r.id === id) return result;
      this.others.set(r.id, result);
    }
  }
}
