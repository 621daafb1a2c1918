#!/usr/bin/env -S node --v8-pool-size=1 --single-threaded-gc
/**
 * The `tsvisor` command line.
 *
 *   tsvisor run --bios fw_jump.elf --kernel u-boot.bin -m 256M --smp 2
 *
 * Flags follow QEMU's names where QEMU has one (-m, --smp, --bios, --kernel,
 * --initrd, --append). Bad input gets one line on stderr and a non-zero exit.
 */
import { writeFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { VirtMachine, DEFAULT_BIOS, CPU_ENGINES } from '../machine/virt.js';
import { BootError } from '../machine/loader.js';
import { UsageError, parseMemorySize, parseIntegerIn, parseChoice, parseDrive } from './options.js';
import { isTerminal, openConsole } from './console.js';
import { ConsoleMux } from '../backends/console-mux.js';
import { formatStats, formatSummary, formatVmStats, formatVmSummary } from './stats.js';
import { Vmm } from '../vmm/vmm.js';
import type { Vm } from '../vmm/vm.js';
import { TECHNIQUES, type TechniqueName } from '../vmm/techniques/technique.js';
import { CONFIGURATIONS, PVKERNEL_CONFIGURATIONS, WORKLOADS, formatComparison, runComparison, type ComparisonGuest } from '../vmm/compare.js';
import { buildPvKernel } from '../guests/pvkernel.js';
import { defaultGuest, defaultLinuxGuest } from './default-guest.js';
import type { NetBackend } from '../backends/net-backend.js';
import type { CharBackend } from '../backends/char-backend.js';
import { NetSwitchServer, connectSwitch } from '../backends/net-switch.js';
import { openTap } from '../backends/net-tap.js';

/** Opens a --net backend. */
async function openNet(spec: string): Promise<NetBackend> {
  if (spec.startsWith('switch:') && spec.length > 7) {
    try {
      return await connectSwitch(spec.slice(7));
    } catch (e) {
      throw new BootError(`cannot join the switch at '${spec.slice(7)}': ${(e as Error).message} (start one with: tsvisor switch ${spec.slice(7)})`);
    }
  }
  if (spec.startsWith('tap:') && spec.length > 4) {
    const name = spec.slice(4);
    try {
      // Ethernet is lossy: a TAP that goes away mid-run is reported, the VM runs on without it.
      return await openTap(name, {
        onClose: (e) => { if (e !== undefined) process.stderr.write(`\ntsvisor: ${e.message}\n`); },
      });
    } catch (e) {
      throw new BootError((e as Error).message);
    }
  }
  throw new UsageError(`invalid --net value '${spec}': expected switch:SOCKET or tap:IFNAME`);
}

interface RunFlags {
  bios?: string;
  virt?: string;
  pin?: string;
  hostHarts?: string;
  kernel?: string;
  initrd?: string;
  append?: string;
  memory: string;
  smp: string;
  mmu: string;
  cpu?: string;
  console: string;
  virtioConsole?: string;
  stats: boolean;
  quiet?: boolean;
  drive?: string[];
  net?: string[];
  rng?: boolean;
  balloon?: boolean;
}

/** What `run` drives: the bare board, or one VM of the VMM. */
interface Target {
  run(): Promise<number>;
  powerOff(code: number): void;
  close(): void;
  readonly internalError: string | undefined;
  stats(seconds: number): string;
  summary(seconds: number): string;
}

/** Parses `--pin 0,1,...` (the host hart of each vCPU). */
function parsePin(text: string, vcpus: number, hostHarts: number): number[] {
  const pin = text.split(',').map((p) => parseIntegerIn(p.trim(), '--pin entry', 0, hostHarts - 1));
  if (pin.length > vcpus) throw new UsageError(`--pin lists ${pin.length} host harts for ${vcpus} vCPU${vcpus > 1 ? 's' : ''}`);
  return pin;
}

/** Runs a machine built from parsed flags; resolves with the process exit code. */
async function runMachine(flags: RunFlags): Promise<number> {
  const memory = parseMemorySize(flags.memory);
  const harts = parseIntegerIn(flags.smp, '--smp value', 1, 64);
  const mmu = parseChoice(flags.mmu, '--mmu value', ['sv39', 'sv48'] as const);
  const cpu = flags.cpu === undefined ? undefined : parseChoice(flags.cpu, '--cpu value', CPU_ENGINES);
  const virts = (flags.virt ?? 'none').split(',').map((v) => parseChoice(v.trim(), '--virt value', ['none', ...TECHNIQUES] as const));
  const virt = virts[0];
  if (virts.length > 1 && virts.includes('none')) throw new UsageError("--virt none runs one guest on the bare machine: it cannot be one of several VMs");
  if (virt === 'none' && (flags.pin !== undefined || flags.hostHarts !== undefined)) {
    throw new UsageError('--pin and --host-harts schedule vCPUs of the VMM: give --virt hw, trap, bt or pv');
  }
  if (virt !== 'none' && flags.bios !== undefined && flags.bios !== 'none') {
    throw new UsageError(`under --virt ${virt} the VMM plays the firmware: --bios applies to --virt none only`);
  }
  if (virt !== 'none' && flags.kernel === undefined) throw new UsageError(`--virt ${virt} needs a --kernel (an S-mode kernel such as Linux's Image)`);
  const hostHarts = flags.hostHarts === undefined ? harts : parseIntegerIn(flags.hostHarts, '--host-harts value', 1, 64);
  const pin = flags.pin === undefined ? undefined : parsePin(flags.pin, harts, hostHarts);
  const bios = flags.bios === 'none' ? null : flags.bios === undefined || flags.bios === 'default' ? DEFAULT_BIOS : flags.bios;
  // The console exists before the machine; Ctrl-A x reaches the machine through this holder.
  const quit: { target?: Target } = {};
  if (flags.console === 'stdio' && flags.virtioConsole === 'stdio') {
    throw new UsageError('--console and --virtio-console cannot both be stdio: give one of them file:PATH or null');
  }
  const startedAt = performance.now();
  const stats = (): string => (quit.target === undefined ? 'tsvisor: the VM is not running yet\n'
    : quit.target.stats((performance.now() - startedAt) / 1000));
  // Several VMs share the console through a multiplexer: Ctrl-A n moves the focus on a terminal.
  const mux: { it?: ConsoleMux } = {};
  const keys = virts.length > 1 ? { n: { help: "switch to the next VM's console", run: () => mux.it?.next() } } : undefined;
  const hostConsole = openConsole(flags.console, () => quit.target?.powerOff(0), '--console', stats, keys);
  if (virts.length > 1) mux.it = new ConsoleMux(hostConsole, virts.map((v, i) => `vm${i} (${v})`), !isTerminal(flags.console));
  const console = mux.it?.port(0) ?? hostConsole;
  let virtioConsole: CharBackend | undefined;
  try {
    virtioConsole = flags.virtioConsole === undefined ? undefined : openConsole(flags.virtioConsole, () => quit.target?.powerOff(0), '--virtio-console');
  } catch (e) {
    hostConsole.close();
    throw e;
  }
  const nics: Array<{ backend: NetBackend }> = [];
  for (const spec of flags.net ?? []) nics.push({ backend: await openNet(spec) });
  const devices = { console, drives: (flags.drive ?? []).map(parseDrive), rng: flags.rng, balloon: flags.balloon, nics, virtioConsole };
  let target: Target;
  try {
    if (virt === 'none') {
      const m = new VirtMachine({ memory, harts, bios, kernel: flags.kernel, initrd: flags.initrd, append: flags.append, mmu, cpu, ...devices });
      target = {
        run: () => m.run(), powerOff: (code) => m.powerOff(code), close: () => m.close(),
        get internalError() { return m.internalError; },
        stats: (seconds) => formatStats(m, seconds), summary: (seconds) => formatSummary(m, seconds),
      };
    } else {
      // Host memory: the guests' RAM and room for the VMM's page tables.
      const vmm = new Vmm({ memory: virts.length * (memory + 64 * 1048576), harts: hostHarts, cpu });
      const vms: Vm[] = [];
      try {
        for (const [i, v] of virts.entries()) {
          // Disks, NICs and the virtio console belong to the first VM; the others get their console and an RNG.
          const own = i === 0 ? devices : { console: mux.it!.port(i), rng: flags.rng };
          vms.push(vmm.createVm({ memory, vcpus: harts, kernel: flags.kernel!, initrd: flags.initrd, append: flags.append, mmu, pin, ...own }, v as TechniqueName));
        }
      } catch (e) {
        vmm.close();
        throw e;
      }
      target = {
        run: async () => { await vmm.run(); return vms.map((vm) => vm.exitCode ?? 0).find((c) => c !== 0) ?? 0; },
        powerOff: (code) => vmm.powerOff(code), close: () => vmm.close(),
        get internalError() { return vms.map((vm) => vm.internalError).filter((e) => e !== undefined).join('\n') || undefined; },
        stats: (seconds) => vms.map((vm) => formatVmStats(vmm, vm, seconds)).join(''),
        summary: (seconds) => vms.map((vm) => formatVmSummary(vmm, vm, seconds)).join(''),
      };
    }
  } catch (e) {
    hostConsole.close();
    virtioConsole?.close();
    for (const n of nics) n.backend.close();
    throw e;
  }
  quit.target = target;
  const t0 = performance.now();
  const code = await target.run();
  const seconds = (performance.now() - t0) / 1000;
  mux.it?.close();
  hostConsole.close();
  virtioConsole?.close();
  target.close();
  if (target.internalError !== undefined) process.stderr.write(`\ntsvisor: internal error, the VM was stopped: ${target.internalError}\n`);
  if (flags.stats) process.stderr.write(target.stats(seconds));
  else if (!flags.quiet) process.stderr.write(target.summary(seconds));
  return code;
}

/** `--virt MODE` (a fresh Option per command). */
function virtOption(): Option {
  return new Option('--virt <mode>', "how the guest runs: 'none' (on the bare machine, with firmware), or as a VM of the VMM under " +
    "'hw' (H extension), 'trap' (trap-and-emulate, shadow paging), 'bt' (binary translation of the kernel) or 'pv' " +
    "(paravirtualization: a kernel that uses tsvisor's hypercalls, see docs/pv-abi.md)").default('none');
}

/** `--cpu interp|jit` (a fresh Option per command: commander keeps state on options). */
function cpuOption(): Option {
  return new Option('--cpu <engine>', "execution engine: 'interp' (interpreter) or 'jit' (hot code translated to JavaScript); default jit, or $TSVISOR_CPU");
}

function addRunFlags(cmd: Command): Command {
  return cmd
    .option('--bios <file>', "firmware image (ELF or raw), 'default' for Debian's OpenSBI fw_dynamic (the default under --virt none), or 'none'")
    .addOption(virtOption())
    .option('--host-harts <n>', 'host harts the VMM schedules vCPUs on (default: as many as vCPUs)')
    .option('--pin <list>', 'host hart of each vCPU, e.g. 0,1 (vCPUs not listed float)')
    .option('--kernel <file>', 'kernel image (ELF or raw), or the firmware payload')
    .option('--initrd <file>', 'initial ramdisk')
    .option('--append <cmdline>', 'kernel command line')
    .addOption(new Option('-m, --memory <size>', 'guest RAM, e.g. 256M or 1G').default('256M'))
    .addOption(new Option('--smp <n>', 'number of harts').default('1'))
    .addOption(new Option('--mmu <mode>', 'largest translation mode advertised: sv39 or sv48').default('sv48'))
    .addOption(cpuOption())
    .addOption(new Option('--console <backend>', "UART backend: 'stdio', 'file:PATH' (output only) or 'null'").default('stdio'))
    .option('--virtio-console <backend>', "a virtio-console port (the guest's hvc1; hvc0 is the SBI console): 'stdio', 'file:PATH' (output only) or 'null'")
    .option('--drive <spec>', "virtio-blk disk: file=PATH[,readonly=on] (repeatable)", (v: string, prev: string[] = []) => [...prev, v])
    .option('--net <spec>', "virtio-net NIC: switch:SOCKET (a 'tsvisor switch' server) or tap:IFNAME (repeatable)", (v: string, prev: string[] = []) => [...prev, v])
    .option('--rng', 'add a virtio-rng device fed by the host CSPRNG', false)
    .option('--balloon', 'add a virtio-balloon device', false)
    .option('--stats', 'print exit, trap, TLB and device counters when the guest stops', false)
    .option('-q, --quiet', 'print nothing of its own at exit', false);
}

/** Builds the command tree. */
export function buildCli(): Command {
  const program = new Command();
  program
    .name('tsvisor')
    .description('A hackable virtual machine monitor: a RISC-V `virt` machine in TypeScript')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });

  addRunFlags(program.command('run').description('boot a guest on the virt board (QEMU-compatible flags)'))
    .action(async (flags: RunFlags) => { process.exitCode = await runMachine(flags); });

  program.command('boot-default')
    .description('boot the default guest (Linux 6.1 + busybox on Debian OpenSBI, built on first use) on the terminal; Ctrl-A x quits')
    .option('--smp <n>', 'number of harts', '2')
    .option('-m, --memory <size>', 'guest RAM', '256M')
    .addOption(cpuOption())
    .addOption(virtOption())
    .option('--stats', 'print counters when the guest stops', false)
    .action(async (flags: { smp: string; memory: string; stats: boolean; cpu?: string; virt: string }) => {
      const g = defaultLinuxGuest();
      process.exitCode = await runMachine({
        bios: flags.virt === 'none' ? g.bios : undefined, kernel: g.kernel, initrd: g.initrd, append: g.append, drive: [`file=${g.disk}`], rng: true,
        memory: flags.memory, smp: flags.smp, mmu: 'sv48', console: 'stdio', stats: flags.stats, cpu: flags.cpu, virt: flags.virt,
      });
    });

  program.command('compare')
    .description('run the same workload under every technique (the default Linux guest: boot, a few commands, power off; or the pvkernel) and print the comparison table')
    .option('--smp <n>', 'number of harts', '1')
    .option('--json <file>', 'also write the rows as JSON (for plots)')
    .addOption(new Option('--workload <name>', "'linux': the default Linux guest's boot and a few commands; 'pvkernel': the project's small kernel, native and paravirtualized").default('linux'))
    .action(async (flags: { smp: string; json?: string; workload: string }) => {
      const harts = parseIntegerIn(flags.smp, '--smp value', 1, 64);
      const workload = parseChoice(flags.workload, '--workload value', WORKLOADS);
      let g: ComparisonGuest;
      if (workload === 'linux') g = defaultLinuxGuest();
      else {
        const b = buildPvKernel();
        g = { workload, kernel: b.native, pvKernel: b.pv };
      }
      const configurations = workload === 'linux' ? CONFIGURATIONS : PVKERNEL_CONFIGURATIONS;
      const rows = await runComparison(g, configurations, harts, (msg) => process.stderr.write(msg + '\n'));
      process.stdout.write(formatComparison(rows));
      if (flags.json !== undefined) writeFileSync(flags.json, JSON.stringify({ date: new Date().toISOString(), workload, harts, rows }, null, 2) + '\n');
      if (rows.some((r) => !r.outputMatches || r.exitCode !== 0)) process.exitCode = 1;
    });

  program.command('switch')
    .description('run an Ethernet switch on a Unix socket that VMs of several tsvisor processes join with --net switch:SOCKET')
    .argument('<socket>', 'path of the Unix socket to listen on')
    .action(async (socket: string) => {
      const server = await NetSwitchServer.listen(socket).catch((e: Error) => { throw new BootError(e.message); });
      process.stderr.write(`tsvisor: switch listening on ${socket} (Ctrl-C stops it)\n`);
      await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
      await server.close();
    });

  program.command('boot-uboot')
    .description('boot Debian OpenSBI + U-Boot on the terminal; Ctrl-A x quits')
    .option('--smp <n>', 'number of harts', '1')
    .addOption(cpuOption())
    .option('--stats', 'print counters when the guest stops', false)
    .action(async (flags: { smp: string; stats: boolean; cpu?: string }) => {
      const g = defaultGuest();
      process.exitCode = await runMachine({
        bios: g.bios, kernel: g.kernel, memory: '256M', smp: flags.smp, mmu: 'sv48', console: 'stdio', stats: flags.stats, cpu: flags.cpu,
      });
    });
  return program;
}

/** Entry point: parses argv and maps errors to one-line messages and exit codes. */
export async function main(argv: string[]): Promise<void> {
  try {
    await buildCli().parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      process.exitCode = e.exitCode === 0 ? 0 : 2;
      return;
    }
    if (e instanceof UsageError) {
      process.stderr.write(`tsvisor: ${e.message}\n`);
      process.exitCode = 2;
      return;
    }
    if (e instanceof BootError) {
      process.stderr.write(`tsvisor: ${e.message}\n`);
      process.exitCode = 1;
      return;
    }
    process.stderr.write(`tsvisor: internal error: ${(e as Error).stack ?? String(e)}\n`);
    process.exitCode = 70;
  }
}

await main(process.argv);
