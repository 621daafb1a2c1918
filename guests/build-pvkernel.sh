#!/usr/bin/env bash
# Build the pvkernel guest (guests/pvkernel/) twice from the same sources:
#   pvkernel-native.elf  an S-mode kernel (privileged instructions, SBI)
#   pvkernel-pv.elf      the same kernel with -DPV: no privileged instruction,
#                        tsvisor's paravirtual interface (docs/pv-abi.md)
#   pvcheck.elf          a pv guest that checks the pv technique against the
#                        ABI (garbage arguments, exact translations, traps)
#
# Output: ${TSVISOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tsvisor}/pvkernel-<hash>/
#   pvkernel-native.elf, pvkernel-pv.elf, pvcheck.elf, pvmock.elf (+ .dump disassemblies)
# pvmock.elf is a machine-mode stand-in for the VMM's pv side
# (guests/pvkernel/mock/), to run the pv build as firmware + kernel.
# <hash> covers the sources, this script and the compiler version; an existing
# complete output directory is reused. The pv build is checked to contain no
# privileged instruction. Progress goes to stderr; the output directory is
# printed as the last line of stdout.
#
# Run the native kernel with:
#   qemu-system-riscv64 -M virt -m 128M -nographic \
#     -bios /usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin -kernel DIR/pvkernel-native.elf
#   node dist/src/cli/main.js run --kernel DIR/pvkernel-native.elf
# and the pv kernel on the stand-in monitor (either machine):
#   qemu-system-riscv64 -M virt -m 128M -nographic -bios DIR/pvmock.elf -kernel DIR/pvkernel-pv.elf
#
# Environment: RISCV_PREFIX (default riscv64-unknown-elf-), TSVISOR_CACHE,
# TSVISOR_REBUILD=1 to force a rebuild.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib/toolchain.sh
source "$here/lib/toolchain.sh"

src="$here/pvkernel"
variants=(native pv)
# trap-<variant>.S is the one source that differs between the builds.
common_srcs=(start.S kernel.c arch.c console.c user.S)
# pvcheck: the pv build's trap entry, run_user and TSVI set-up, with its own kmain.
check_srcs=(start.S arch.c console.c trap-pv.S pvcheck.c)

# ---------------------------------------------------------------- hash
cc_version="$("$CC" --version | head -n1)"
hash="$(
    {
        printf 'cc:%s\n' "$cc_version"
        printf 'script:'
        sha256sum <"${BASH_SOURCE[0]}"
        (cd "$here" && find pvkernel -type f \( -name '*.c' -o -name '*.h' -o -name '*.S' -o -name '*.ld' \) -print |
            LC_ALL=C sort | while IFS= read -r f; do
                printf '%s:' "$f"
                sha256sum <"$f"
            done)
    } | sha256sum | cut -c1-16
)"

out="$cache/pvkernel-$hash"
reuse_cached "$out" pvkernel pvkernel-native.elf pvkernel-pv.elf pvmock.elf pvcheck.elf
begin_build "pvkernel-$hash"

# No F/D: the kernel never turns the FPU on (sstatus.FS stays Off).
cflags=(-march=rv64imac_zicsr_zifencei -mabi=lp64 -mcmodel=medany -mno-relax -fno-pic -fno-common
    -ffreestanding -fno-builtin -fno-tree-loop-distribute-patterns -nostdlib -nostartfiles
    -O2 -g -Wall -Wextra -Werror -I"$src")
ldflags=("${ld_common[@]}")

# Supervisor/machine CSR access, xRET, WFI and the fences of the privileged
# spec. rdtime/rdcycle/rdinstret disassemble under their own names and are
# allowed (unprivileged counters).
privileged='\s(csrr|csrw|csrs|csrc|csrrw|csrrs|csrrc|csrwi|csrsi|csrci|csrrwi|csrrsi|csrrci|sret|mret|wfi|sfence\.vma|sinval\.vma|hfence\.[gv]vma)\b'

log "building pvkernel with $cc_version"
for v in "${variants[@]}"; do
    defs=()
    [ "$v" = pv ] && defs=(-DPV)
    srcs=()
    for f in "${common_srcs[@]}" "trap-$v.S"; do srcs+=("$src/$f"); done
    log "  CC pvkernel-$v.elf"
    "$CC" "${cflags[@]}" "${defs[@]}" "${ldflags[@]}" -T "$src/link.ld" "${srcs[@]}" -lgcc -o "$tmp/pvkernel-$v.elf"
    "$OBJDUMP" -d "$tmp/pvkernel-$v.elf" >"$tmp/pvkernel-$v.dump"
done

log "  CC pvcheck.elf"
srcs=()
for f in "${check_srcs[@]}"; do srcs+=("$src/$f"); done
"$CC" "${cflags[@]}" -DPV "${ldflags[@]}" -T "$src/link.ld" "${srcs[@]}" -lgcc -o "$tmp/pvcheck.elf"
"$OBJDUMP" -d "$tmp/pvcheck.elf" >"$tmp/pvcheck.dump"

log "  CC pvmock.elf"
"$CC" "${cflags[@]}" "${ldflags[@]}" -T "$src/mock/link.ld" "$src/mock/pvmock.S" "$src/mock/pvmock.c" -lgcc -o "$tmp/pvmock.elf"
"$OBJDUMP" -d "$tmp/pvmock.elf" >"$tmp/pvmock.dump"

if found="$(grep -E "$privileged" "$tmp/pvkernel-pv.dump")"; then
    die "the pv build contains privileged instructions:
$found"
fi
grep -qE '\ssret\b' "$tmp/pvkernel-native.dump" || die "the native build has no sret: wrong trap entry linked?"

log "built pvkernel-native.elf, pvkernel-pv.elf, pvcheck.elf and pvmock.elf into $out"
finish_build "$out"
