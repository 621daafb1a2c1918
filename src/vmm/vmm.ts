/**
 * The VMM: VMs on one host machine, and the scheduler that runs their vCPUs
 * on the host harts in time slices.
 *
 * Each round, every host hart runs one runnable vCPU for a slice: a vCPU
 * pinned to it (`--pin`) if one is runnable, else the next unpinned one in
 * round-robin order. Within its slice a vCPU runs until the budget is spent
 * or it idles in WFI; each exit on the way is handled by its VM's technique
 * and the vCPU resumes. When no vCPU can run, the VMM sleeps until the next
 * timer deadline or until a device or an IPI wakes it. The rounds yield to
 * the Node.js event loop every few milliseconds so host I/O keeps flowing.
 */
import { StopReason } from '../cpu/riscv/hart.js';
import { HostMachine, type HostOptions } from './host.js';
import { Idler, driveRounds } from '../machine/idle.js';
import { Vm, type VmOptions } from './vm.js';
import type { Vcpu } from './vcpu.js';
import { createTechnique, type TechniqueOptions } from './techniques/index.js';
import type { TechniqueName } from './techniques/technique.js';

/** Counters of one host hart. */
export interface HostHartStats {
  /** Time slices run, and those that switched to a different vCPU than the last. */
  slices: number;
  switches: number;
  /** Rounds in which it had nothing to run. */
  idleRounds: number;
}

export interface VmmStats {
  rounds: number;
  sleeps: number;
  sleptMs: number;
  hostHarts: HostHartStats[];
}

export class Vmm {
  readonly host: HostMachine;
  readonly vms: Vm[] = [];
  readonly stats: VmmStats;
  /** Instructions per vCPU time slice. */
  readonly slice: number;
  private readonly last: Array<Vcpu | undefined>;
  private rr = 0;
  private readonly idler: Idler;

  constructor(host: HostOptions & { slice?: number }) {
    this.host = new HostMachine(host);
    this.slice = host.slice ?? 20000;
    this.stats = {
      rounds: 0, sleeps: 0, sleptMs: 0,
      hostHarts: Array.from({ length: this.host.harts }, () => ({ slices: 0, switches: 0, idleRounds: 0 })),
    };
    this.last = new Array<Vcpu | undefined>(this.host.harts);
    this.idler = new Idler(this.host.clock, this.stats);
  }

  /** Creates a VM running under `technique`; it starts running with the others on {@link run}. */
  createVm(options: VmOptions, technique: TechniqueName, techniqueOptions: TechniqueOptions = {}): Vm {
    const vm = new Vm(this.host, { name: `vm${this.vms.length}`, ...options }, createTechnique(technique, techniqueOptions));
    vm.wake = () => this.idler.wake();
    this.vms.push(vm);
    return vm;
  }

  private get alive(): Vm[] {
    return this.vms.filter((vm) => vm.exitCode === undefined && !vm.closed);
  }

  /** Runs every VM until all have powered off. */
  async run(): Promise<void> {
    for (const vm of this.vms) vm.devices.startClock();
    await driveRounds(() => this.alive.length > 0, () => this.round(), () => this.sleep());
    for (const vm of this.vms) vm.flushOnce();
  }

  /** One scheduling round; returns true when no vCPU could run. */
  round(): boolean {
    this.stats.rounds++;
    const now = this.host.clock.now();
    // What a VM that powered off wrote to its disks is made durable now, while the others run on.
    for (const vm of this.vms) if (vm.exitCode !== undefined) vm.flushOnce();
    for (const vm of this.alive) { vm.serviceReset(); vm.checkTimers(now); }
    const ready = this.alive.flatMap((vm) => vm.vcpus.filter(canRun));
    if (ready.length === 0) return true;
    const ran = new Set<Vcpu>();
    const unpinned = ready.filter((v) => v.pinned === undefined);
    for (let hh = 0; hh < this.host.harts; hh++) {
      let v = ready.find((c) => c.pinned === hh && !ran.has(c));
      if (v === undefined) {
        for (let k = 0; k < unpinned.length && v === undefined; k++) {
          const c = unpinned[(this.rr + k) % unpinned.length];
          if (!ran.has(c)) { v = c; this.rr = (this.rr + k + 1) % unpinned.length; }
        }
      }
      const s = this.stats.hostHarts[hh];
      if (v === undefined) { s.idleRounds++; continue; }
      ran.add(v);
      s.slices++;
      if (this.last[hh] !== v) { s.switches++; v.stats.switches++; this.last[hh] = v; }
      v.hostHart = hh;
      v.stats.slicesOn[hh] = (v.stats.slicesOn[hh] ?? 0) + 1;
      this.runSlice(v);
    }
    return false;
  }

  /** Runs `vcpu` for one slice, handling its exits. */
  private runSlice(vcpu: Vcpu): void {
    const vm = vcpu.vm;
    const h = vcpu.hart;
    vcpu.stats.slices++;
    try {
      vm.technique.enter(vcpu);
      let left = this.slice;
      while (left > 0 && vcpu.running && !vcpu.idle && vm.exitCode === undefined) {
        const before = h.stats.instret;
        const r = h.run(left);
        // An exit costs at least one unit, so a vCPU that exits at once still ends its slice.
        left -= Math.max(1, h.stats.instret - before);
        if (r !== StopReason.Exit) break;
        const exit = h.exit!;
        h.exit = undefined;
        vm.handleExit(vcpu, exit);
      }
    } catch (e) {
      vm.fail(vcpu, e);
    }
  }

  /** Sleeps until the earliest vCPU timer or until something wakes a vCPU. */
  private async sleep(): Promise<void> {
    const clock = this.host.clock;
    let deadline = Infinity;
    for (const vm of this.alive) {
      deadline = Math.min(deadline, vm.checkTimers(clock.now()));
      // The harts' own comparators (vstimecmp under hw) wake their vCPUs too.
      for (const v of vm.vcpus) if (v.running) deadline = Math.min(deadline, v.hart.csr.timerDeadline());
    }
    await this.idler.sleepUntil(deadline);
  }

  /** Powers every VM off (the user quit). */
  powerOff(code: number): void {
    for (const vm of this.vms) vm.powerOff(code);
    this.idler.wake();
  }

  /** Releases every VM's host resources. */
  close(): void {
    for (const vm of this.vms) vm.close();
  }
}

/** A vCPU that can make progress now: started, and not idling in WFI without a wake-up. */
function canRun(v: Vcpu): boolean {
  if (!v.running || v.idle) return false;
  if (!v.hart.waiting) return true;
  v.hart.csr.updateTimers(); // a comparator of the hart's own (vstimecmp) may have fired while it waited
  return v.hart.hasWakeup();
}
