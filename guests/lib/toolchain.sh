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

# Where built guests are cached (outside the repository).
cache="${TSVISOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tsvisor}"

# Linker flags of every static bare-metal image (the RWX-segment warning off where ld has it).
ld_common=(-static -Wl,--no-relax -Wl,--build-id=none)
if "$CC" -Wl,--help 2>/dev/null | grep -q -- --no-warn-rwx-segments; then
    ld_common+=(-Wl,--no-warn-rwx-segments)
fi

# reuse_cached OUT WHAT FILE...: when every FILE (relative to OUT) exists and
# TSVISOR_REBUILD is not 1, says WHAT is up to date, prints OUT and exits.
reuse_cached() {
    local out="$1" what="$2" f
    shift 2
    [ "${TSVISOR_REBUILD:-0}" != 1 ] || return 0
    for f in "$@"; do [ -f "$out/$f" ] || return 0; done
    log "$what up to date: $out"
    printf '%s\n' "$out"
    exit 0
}

# begin_build NAME: a fresh directory $tmp in the cache for the build, removed
# on exit unless finish_build moves it into place.
begin_build() {
    mkdir -p "$cache"
    tmp="$(mktemp -d "$cache/.$1.XXXXXX")"
    chmod 755 "$tmp"
    trap 'rm -rf "$tmp"' EXIT
}

# finish_build OUT: the build in $tmp becomes OUT (replacing an old one); prints OUT.
finish_build() {
    rm -rf "$1"
    mv -T "$tmp" "$1"
    trap - EXIT
    printf '%s\n' "$1"
}
