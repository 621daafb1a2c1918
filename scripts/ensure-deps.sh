#!/usr/bin/env bash
# Installs the Debian packages tsvisor's guests, tests and benchmarks need,
# if any is missing. Idempotent: does nothing when all are present.
#   opensbi              firmware (fw_jump/fw_dynamic) for the virt board
#   u-boot-qemu          U-Boot for the virt board (S-mode payload)
#   gcc-riscv64-unknown-elf  builds the bare-metal test and benchmark programs
#   qemu-system-misc     the reference machine and performance peer
#   device-tree-compiler dtc, to check generated device trees
set -euo pipefail
PACKAGES=(opensbi u-boot-qemu gcc-riscv64-unknown-elf qemu-system-misc device-tree-compiler)
missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "tsvisor: installing Debian packages: ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "tsvisor: missing packages ${missing[*]}; run as root: apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >&2 || { echo "tsvisor: apt-get update failed; retry when the package mirror is reachable" >&2; exit 1; }
$SUDO apt-get install -y -q "${missing[@]}" >&2 || { echo "tsvisor: apt-get install ${missing[*]} failed; retry, or install them by hand" >&2; exit 1; }
