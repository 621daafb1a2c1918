/**
 * A host TAP device as a network backend — currently unavailable, and
 * honest about it.
 *
 * Attaching to a TAP device means opening /dev/net/tun and issuing
 * `ioctl(fd, TUNSETIFF, { ifr_name, ifr_flags: IFF_TAP | IFF_NO_PI })`;
 * afterwards each read/write of the fd is one Ethernet frame. Node.js has no
 * ioctl. The npm packages that provide one (`ioctl` 2.0.2, `ioctl-napi`) are
 * native addons built with node-gyp; tsvisor does not depend on them, and
 * their install scripts do not run in this project's npm setup. So
 * {@link openTap} checks what it can (platform, the device node, the
 * permission to open it) and then throws a {@link NetBackendError} that
 * says what is missing, rather than pretending to work.
 *
 * Until then, VMs reach each other through `NetSwitch` (one process) and
 * `NetSwitchServer`/`connectSwitch` (several processes).
 */
import { accessSync, constants, existsSync } from 'node:fs';
import { NetBackendError, type NetBackend } from './net-backend.js';

/** The clone device TAP interfaces are created through. */
export const TUN_DEVICE = '/dev/net/tun';
/** `TUNSETIFF` = _IOW('T', 202, int) on Linux. */
export const TUNSETIFF = 0x400454ca;
/** `ifr_flags`: a TAP (Ethernet) device rather than TUN (IP). */
export const IFF_TAP = 0x0002;
/** `ifr_flags`: no 4-byte packet-information prefix on each frame. */
export const IFF_NO_PI = 0x1000;
/** Interface names are at most IFNAMSIZ - 1 = 15 bytes. */
const MAX_IFNAME = 15;

/** Why TAP cannot be used on this host, from the most basic reason on. */
export function tapUnavailableReasons(): string[] {
  const reasons: string[] = [];
  if (process.platform !== 'linux') {
    reasons.push(`TAP devices through ${TUN_DEVICE} exist on Linux only (this host is ${process.platform})`);
    return reasons;
  }
  if (!existsSync(TUN_DEVICE)) {
    reasons.push(`${TUN_DEVICE} does not exist: load the tun module (modprobe tun) or, in a container, pass the device in (e.g. --device /dev/net/tun)`);
  } else {
    try {
      accessSync(TUN_DEVICE, constants.R_OK | constants.W_OK);
    } catch {
      reasons.push(`no permission to open ${TUN_DEVICE} read-write: run as root, or create a persistent TAP owned by you (ip tuntap add dev <name> mode tap user $USER)`);
    }
  }
  reasons.push('Node.js cannot issue ioctl(TUNSETIFF, IFF_TAP|IFF_NO_PI) without a native addon, and tsvisor ships none (npm\'s `ioctl`/`ioctl-napi` need node-gyp to compile)');
  return reasons;
}

/**
 * Opens host TAP interface `name` as a {@link NetBackend}. Always throws a
 * {@link NetBackendError} today, listing what is missing (see the module
 * comment); use a `NetSwitch` or `connectSwitch` instead.
 */
export function openTap(name: string): NetBackend {
  if (name.length === 0 || Buffer.byteLength(name) > MAX_IFNAME || /[\s/:]/.test(name)) {
    throw new NetBackendError(`'${name}' is not a valid interface name (1 to ${MAX_IFNAME} bytes, no spaces, '/' or ':')`);
  }
  const reasons = tapUnavailableReasons();
  throw new NetBackendError(
    `cannot open TAP interface '${name}': ${reasons.join('; ')}. ` +
    'Connect VMs with the built-in switch instead (NetSwitch in one process, NetSwitchServer/connectSwitch across processes).',
  );
}
