#!/usr/bin/env python3
"""Relays Ethernet frames between a host TAP interface and stdin/stdout.

Started by tsvisor's TAP backend (src/backends/net-tap.ts), because Node.js
cannot issue ioctl(2) without a native addon:

    python3 tap-helper.py DEVICE IFNAME up|noup

It opens DEVICE (normally /dev/net/tun), attaches to TAP interface IFNAME
with TUNSETIFF and IFF_TAP|IFF_NO_PI (creating it if it does not exist),
brings the link up if asked and it is not up already, then writes one line
on stderr:

    ready <interface name the kernel chose>

and relays frames until stdin ends: every frame read from the TAP goes to
stdout, and every frame from stdin goes to the TAP, each as a 4-byte
big-endian length followed by the frame (net-stream.ts's framing).

On failure it writes one line on stderr, saying what went wrong and what
to do, and exits with status 1 (2 for a usage or protocol error). Only the
standard library is used.
"""
import errno
import fcntl
import os
import select
import signal
import socket
import struct
import sys

TUNSETIFF = 0x400454CA  # _IOW('T', 202, int)
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x0001
IFNAMSIZ = 16
# struct ifreq is 40 bytes on 64-bit Linux: the name, then a 24-byte union.
IFREQ_LEN = 40

ETH_HEADER_LEN = 14
# A 64 KiB payload plus an Ethernet header and a VLAN tag (net-backend.ts's MAX_FRAME_LEN).
MAX_FRAME_LEN = 65535 + 14 + 4


def fail(message, status=1):
    """One line on stderr for net-tap.ts to put into its NetBackendError, then exit."""
    os.write(2, (message.replace("\n", " ") + "\n").encode("utf-8", "replace"))
    sys.exit(status)


def ifreq(name, flags):
    return struct.pack("16sH", name.encode(), flags).ljust(IFREQ_LEN, b"\0")


def open_tap(device, name):
    try:
        fd = os.open(device, os.O_RDWR | os.O_CLOEXEC)
    except OSError as e:
        if e.errno == errno.ENOENT:
            fail(f"{device} does not exist: load the tun module (modprobe tun) or, in a container, pass the device in (e.g. --device /dev/net/tun)")
        if e.errno in (errno.EACCES, errno.EPERM):
            fail(f"no permission to open {device} read-write: run as root, or create a persistent TAP owned by you (ip tuntap add dev {name} mode tap user $USER)")
        fail(f"cannot open {device}: {e.strerror}")
    try:
        result = fcntl.ioctl(fd, TUNSETIFF, ifreq(name, IFF_TAP | IFF_NO_PI))
    except OSError as e:
        if e.errno == errno.EPERM:
            fail(f"not permitted to create or attach TAP interface '{name}': that needs CAP_NET_ADMIN (run as root), "
                 f"or create it once as a persistent TAP owned by you: ip tuntap add dev {name} mode tap user $USER")
        if e.errno == errno.EBUSY:
            fail(f"TAP interface '{name}' is busy: another process (another tsvisor or QEMU?) has it open; stop that process or choose another name")
        if e.errno == errno.EINVAL:
            fail(f"'{name}' exists but is not a TAP interface usable with IFF_TAP|IFF_NO_PI (a TUN device, a bridge, a physical NIC?); choose another name")
        if e.errno in (errno.ENOTTY, errno.EBADFD):
            fail(f"{device} is not the TUN/TAP clone device (TUNSETIFF is not supported on it)")
        fail(f"TUNSETIFF for '{name}' on {device} failed: {e.strerror}")
    return fd, result[:IFNAMSIZ].split(b"\0", 1)[0].decode()


def bring_up(name):
    """Sets IFF_UP unless it is set already (a persistent TAP an administrator brought up needs no privilege)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        req = fcntl.ioctl(s.fileno(), SIOCGIFFLAGS, ifreq(name, 0))
        flags = struct.unpack_from("H", req, IFNAMSIZ)[0]
        if flags & IFF_UP:
            return
        try:
            fcntl.ioctl(s.fileno(), SIOCSIFFLAGS, ifreq(name, flags | IFF_UP))
        except OSError as e:
            fail(f"cannot bring TAP interface '{name}' up: {e.strerror}; run 'ip link set {name} up' as root first, or open it without bringing it up")


def write_all(fd, data):
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def relay(tap, name):
    pending = b""
    while True:
        try:
            readable, _, _ = select.select([tap, 0], [], [])
        except InterruptedError:
            continue
        if tap in readable:
            try:
                frame = os.read(tap, MAX_FRAME_LEN)
            except (BlockingIOError, InterruptedError):
                frame = None
            except OSError as e:
                fail(f"TAP interface '{name}': read failed: {e.strerror} (was the interface deleted?)")
            if frame:
                try:
                    write_all(1, struct.pack(">I", len(frame)) + frame)
                except BrokenPipeError:
                    return  # tsvisor is gone
        if 0 in readable:
            chunk = os.read(0, 1 << 20)
            if not chunk:
                return  # tsvisor closed the backend
            pending += chunk
            while len(pending) >= 4:
                length = struct.unpack_from(">I", pending)[0]
                if length < ETH_HEADER_LEN or length > MAX_FRAME_LEN:
                    fail(f"TAP interface '{name}': frame length {length} from tsvisor is outside {ETH_HEADER_LEN}..{MAX_FRAME_LEN}", 2)
                if len(pending) < 4 + length:
                    break
                try:
                    os.write(tap, pending[4:4 + length])
                except OSError:
                    pass  # Ethernet is lossy: a frame the kernel refuses (link down, too big) is dropped
                pending = pending[4 + length:]


def main():
    if len(sys.argv) != 4 or sys.argv[3] not in ("up", "noup"):
        fail("usage: tap-helper.py DEVICE IFNAME up|noup", 2)
    device, name, up = sys.argv[1], sys.argv[2], sys.argv[3] == "up"
    if not name or len(name.encode()) >= IFNAMSIZ:
        fail(f"'{name}' is not a valid interface name (1 to {IFNAMSIZ - 1} bytes)", 2)
    # Ctrl-C at a terminal reaches the whole process group; tsvisor decides
    # when to stop, and closing stdin (or dying) stops this helper.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    tap, actual = open_tap(device, name)
    if up:
        bring_up(actual)
    os.write(2, f"ready {actual}\n".encode())
    relay(tap, actual)


if __name__ == "__main__":
    main()
