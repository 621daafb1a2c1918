#!/usr/bin/env bash
# Build tsvisor's own bare-metal ISA test and benchmark programs.
#
# Output: ${TSVISOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tsvisor}/baremetal-<hash>/
#   manifest.json, isa/<name>.elf, bench/<name>.elf (+ .dump disassemblies)
# <hash> covers the sources, this script and the compiler version; an existing
# complete output directory is reused. Progress goes to stderr; the output
# directory is printed as the last line of stdout.
#
# Environment: RISCV_PREFIX (default riscv64-unknown-elf-), TSVISOR_CACHE,
# TSVISOR_REBUILD=1 to force a rebuild.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib/toolchain.sh
source "$here/lib/toolchain.sh"

libdir="$here/lib"
isadir="$here/isa"
benchdir="$here/bench"
vmmdir="$here/vmm"

# Programs: every <dir>/<name>.c is a program; <dir>/<name>.S, if present, is
# linked into it as well. Listed in a natural order (simplest first), then
# any others alphabetically.
list_programs() { # dir preferred-order...
    local d="$1" f n
    shift
    for n in "$@"; do
        [ -f "$d/$n.c" ] && echo "$n"
    done
    for f in "$d"/*.c; do
        [ -e "$f" ] || continue
        n="$(basename "$f" .c)"
        case " $* " in *" $n "*) continue ;; esac
        echo "$n"
    done | LC_ALL=C sort
}
mapfile -t isa_progs < <(list_programs "$isadir" rv64i rv64m rv64a rv64fd rvc zicsr traps mmu pmp hyp)
mapfile -t bench_progs < <(list_programs "$benchdir" int mem branch fp)
# Guests of the VMM's tests: standalone S-mode assembly programs, <name>.S each.
mapfile -t vmm_progs < <(cd "$vmmdir" && for f in *.S; do [ -e "$f" ] && basename "$f" .S; done | LC_ALL=C sort)
[ "${#isa_progs[@]}" -gt 0 ] || die "no ISA test sources in $isadir"

# ---------------------------------------------------------------- hash
cc_version="$("$CC" --version | head -n1)"
hash="$(
    {
        printf 'cc:%s\n' "$cc_version"
        printf 'script:'
        sha256sum <"${BASH_SOURCE[0]}"
        (cd "$here" && find lib isa bench vmm -type f \( -name '*.c' -o -name '*.h' -o -name '*.S' -o -name '*.ld' \) -print |
            LC_ALL=C sort | while IFS= read -r f; do
                printf '%s:' "$f"
                sha256sum <"$f"
            done)
    } | sha256sum | cut -c1-16
)"

out="$cache/baremetal-$hash"
expected=(manifest.json)
for p in "${isa_progs[@]}"; do expected+=("isa/$p.elf"); done
for p in "${bench_progs[@]}"; do expected+=("bench/$p.elf"); done
for p in "${vmm_progs[@]}"; do expected+=("vmm/$p.elf"); done
reuse_cached "$out" "bare-metal programs" "${expected[@]}"
begin_build "baremetal-$hash"
mkdir -p "$tmp/isa" "$tmp/bench" "$tmp/vmm" "$tmp/obj"

common=(-march=rv64gc -mabi=lp64d -mcmodel=medany -mno-relax -fno-pic -fno-common
    -nostdlib -nostartfiles -g -Wall -Wextra -Werror=implicit-function-declaration -I"$libdir")
isa_cflags=("${common[@]}" -O2 -ffreestanding -fno-builtin)
bench_cflags=("${common[@]}" -O2 -ffp-contract=off -fno-math-errno -fno-tree-loop-distribute-patterns)
ldflags=("${ld_common[@]}" -T "$libdir/link.ld")

log "building bare-metal programs with $cc_version"
"$CC" "${isa_cflags[@]}" -c "$libdir/crt.S" -o "$tmp/obj/crt.o"
"$CC" "${isa_cflags[@]}" -fno-tree-loop-distribute-patterns -c "$libdir/runtime.c" -o "$tmp/obj/runtime.o"

build_prog() { # kind name cflags...
    local kind="$1" name="$2"
    shift 2
    local srcdir="$here/$kind"
    local srcs=("$srcdir/$name.c")
    [ -f "$srcdir/$name.S" ] && srcs+=("$srcdir/$name.S")
    log "  CC $kind/$name"
    "$CC" "$@" "${ldflags[@]}" "$tmp/obj/crt.o" "$tmp/obj/runtime.o" "${srcs[@]}" -lgcc \
        -o "$tmp/$kind/$name.elf"
    "$OBJDUMP" -d "$tmp/$kind/$name.elf" >"$tmp/$kind/$name.dump" 2>/dev/null || true
}

for p in "${isa_progs[@]}"; do build_prog isa "$p" "${isa_cflags[@]}"; done
for p in "${bench_progs[@]}"; do build_prog bench "$p" "${bench_cflags[@]}"; done
for p in "${vmm_progs[@]}"; do
    log "  AS vmm/$p"
    "$CC" "${common[@]}" "${ld_common[@]}" -T "$vmmdir/link.ld" "$vmmdir/$p.S" -o "$tmp/vmm/$p.elf"
    "$OBJDUMP" -d "$tmp/vmm/$p.elf" >"$tmp/vmm/$p.dump" 2>/dev/null || true
done

# ---------------------------------------------------------------- manifest
json_list() { # kind names...
    local kind="$1" sep="" p
    shift
    printf '['
    for p in "$@"; do
        printf '%s\n    {"name": "%s", "elf": "%s/%s.elf"}' "$sep" "$p" "$kind" "$p"
        sep=","
    done
    [ "$#" -gt 0 ] && printf '\n  '
    printf ']'
}
{
    printf '{\n  "isa": '
    json_list isa "${isa_progs[@]}"
    printf ',\n  "bench": '
    json_list bench "${bench_progs[@]}"
    printf ',\n  "vmm": '
    json_list vmm "${vmm_progs[@]}"
    printf '\n}\n'
} >"$tmp/manifest.json"
rm -rf "$tmp/obj"

log "built $((${#isa_progs[@]} + ${#bench_progs[@]} + ${#vmm_progs[@]})) programs into $out"
finish_build "$out"
