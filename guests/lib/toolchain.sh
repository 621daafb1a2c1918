# Sourced by the guest build scripts: the bare-metal RISC-V cross toolchain
# (CC, OBJDUMP; RISCV_PREFIX overrides the riscv64-unknown-elf- prefix), and
# log/die helpers that name the calling script. Fails with the Debian package
# to install when a tool is missing.
prefix="${RISCV_PREFIX:-riscv64-unknown-elf-}"
CC="${prefix}gcc"
OBJDUMP="${prefix}objdump"
script_name="$(basename "$0")"

log() { printf '%s\n' "$*" >&2; }
die() { printf '%s: error: %s\n' "$script_name" "$*" >&2; exit 1; }

if ! command -v "$CC" >/dev/null 2>&1; then
    die "$CC not found. Install the bare-metal RISC-V cross compiler: apt-get install gcc-riscv64-unknown-elf (Debian package gcc-riscv64-unknown-elf)"
fi
command -v "$OBJDUMP" >/dev/null 2>&1 || die "$OBJDUMP not found (Debian package binutils-riscv64-unknown-elf)"
command -v sha256sum >/dev/null 2>&1 || die "sha256sum not found (Debian package coreutils)"
