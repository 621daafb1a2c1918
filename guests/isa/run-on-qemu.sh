#!/usr/bin/env bash
# Run every bare-metal ISA test program (and optionally the benchmarks) on
# QEMU (qemu-system-riscv64, Debian package qemu-system-misc) and report
# pass/fail. Used to validate the test programs themselves.
#
# usage: guests/isa/run-on-qemu.sh [--bench] [--mutate [--mutate-stride N]] [--timeout S] [name...]
#   --bench    also run the benchmark programs (reports wall time)
#   --mutate   mutation check: for each ISA program, re-run it once per check
#              with bootargs tsv.mutate=K (check K expects a wrong value) and
#              verify that every such run fails (slow: one QEMU run per check)
#   --mutate-stride N   only mutate every Nth check
#   name...    only these programs
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
QEMU="${QEMU:-qemu-system-riscv64}"
command -v "$QEMU" >/dev/null 2>&1 || { echo "error: $QEMU not found (Debian package qemu-system-misc)" >&2; exit 1; }

bench=0 mutate=0 stride=1 timeout_s=60
names=()
while [ $# -gt 0 ]; do
    case "$1" in
    --bench) bench=1 ;;
    --mutate) mutate=1 ;;
    --mutate-stride) stride="$2"; shift ;;
    --timeout) timeout_s="$2"; shift ;;
    -h | --help) sed -n '2,13p' "$0"; exit 0 ;;
    *) names+=("$1") ;;
    esac
    shift
done

out="$(bash "$here/../build-tests.sh" | tail -n1)"
manifest="$out/manifest.json"

# "name elf" pairs of one manifest section, without needing jq
section() {
    sed -n "/\"$1\": \[/,/\]/p" "$manifest" |
        sed -n 's/.*"name": "\([^"]*\)", "elf": "\([^"]*\)".*/\1 \2/p'
}

wanted() {
    [ "${#names[@]}" -eq 0 ] && return 0
    local n
    for n in "${names[@]}"; do [ "$n" = "$1" ] && return 0; done
    return 1
}

run_qemu() { # elf [bootargs] -> output in $log, rc in $rc
    local args=()
    [ -n "${2:-}" ] && args=(-append "$2")
    rc=0
    log="$(timeout "$timeout_s" "$QEMU" -M virt -cpu rv64,h=true -smp 1 -m 128M -bios none -nographic \
        -monitor none -serial stdio -kernel "$1" "${args[@]}" </dev/null 2>&1)" || rc=$?
}

elapsed() { # start_ns -> seconds with 2 decimals
    local ms=$((($(date +%s%N) - $1) / 1000000))
    printf '%d.%02d' $((ms / 1000)) $((ms % 1000 / 10))
}

pass=0 fail=0
summary=()
while read -r name elf; do
    wanted "$name" || continue
    start=$(date +%s%N)
    run_qemu "$out/$elf"
    t="$(elapsed "$start")"
    if [ "$rc" = 0 ] && grep -q "^PASS $name" <<<"$log" && ! grep -q "^FAIL" <<<"$log"; then
        checks="$(sed -n "s/^PASS $name (\([0-9]*\) checks).*/\1/p" <<<"$log" | tr -d '\r')"
        summary+=("$(printf 'PASS  isa/%-8s %5s checks  %6ss' "$name" "$checks" "$t")")
        pass=$((pass + 1))
        if [ "$mutate" = 1 ]; then
            bad=0 runs=0
            for k in $(seq 1 "$stride" "$checks"); do
                run_qemu "$out/$elf" "tsv.mutate=$k"
                runs=$((runs + 1))
                # (the exit status alone is not enough: QEMU exits with N & 0xff)
                if ! grep -q "^FAIL $name (check #" <<<"$log"; then
                    echo "mutation $k of $name did NOT fail" >&2
                    bad=$((bad + 1))
                fi
            done
            summary+=("      mutation: $runs runs, $bad did not fail")
            [ "$bad" = 0 ] || fail=$((fail + 1))
        fi
    else
        summary+=("$(printf 'FAIL  isa/%-8s rc=%s  %6ss' "$name" "$rc" "$t")")
        fail=$((fail + 1))
        printf '%s\n' "---- isa/$name output:" "$log" >&2
    fi
done < <(section isa)

if [ "$bench" = 1 ]; then
    while read -r name elf; do
        wanted "$name" || continue
        start=$(date +%s%N)
        run_qemu "$out/$elf"
        t="$(elapsed "$start")"
        sum="$(grep -a 'checksum' <<<"$log" | head -n1 | tr -d '\r')"
        if [ "$rc" = 0 ] && grep -q "^PASS $name" <<<"$log" && ! grep -q "^FAIL" <<<"$log"; then
            summary+=("$(printf 'PASS  bench/%-6s %6ss  %s' "$name" "$t" "$sum")")
            pass=$((pass + 1))
        else
            summary+=("$(printf 'FAIL  bench/%-6s rc=%s %6ss  %s' "$name" "$rc" "$t" "$sum")")
            fail=$((fail + 1))
            printf '%s\n' "---- bench/$name output:" "$log" >&2
        fi
    done < <(section bench)
fi

echo "== $QEMU ($("$QEMU" --version | head -n1)) =="
printf '%s\n' "${summary[@]}"
echo "== $pass passed, $fail failed =="
[ "$fail" = 0 ]
