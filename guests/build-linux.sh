#!/usr/bin/env bash
# guests/build-linux.sh - build the default tsvisor Linux guest from Debian
# packages only (see DESIGN.md, "Guests"):
#   - kernel:    Debian's linux-source-6.1, cross-compiled with
#                gcc-riscv64-linux-gnu from tinyconfig + guests/linux/tsvisor.config
#   - userland:  busybox from Debian's source package, static, plus the
#                project's guests/linux/init, packed as a gzip'd newc initramfs
#   - data disk: a 64 MiB ext4 image holding hello.txt (no mounts, no root)
#
# Output (cached outside the repo, reused when nothing that goes into it changed):
#   ${TSVISOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tsvisor}/linux-<hash>/
#     Image  initramfs.cpio.gz  disk.ext4  config  build.log
# The output directory is the LAST line printed on stdout; progress goes to
# stderr. Installing missing packages needs root (or sudo), as on CI.
#
# Environment: TSVISOR_CACHE (cache root), JOBS (make -j, default: nproc).
#
# Boot it on the reference machine with:
#   qemu-system-riscv64 -M virt -m 256M -smp 2 -nographic -bios default \
#     -kernel DIR/Image -initrd DIR/initramfs.cpio.gz -append "console=ttyS0 earlycon" \
#     -drive file=DIR/disk.ext4,format=raw,if=none,id=d0 -device virtio-blk-device,drive=d0
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SELF="$HERE/$(basename "${BASH_SOURCE[0]}")"
FRAGMENT="$HERE/linux/tsvisor.config"
INIT="$HERE/linux/init"
CACHE_ROOT=${TSVISOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tsvisor}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
CROSS=riscv64-linux-gnu-
KSRC_TARBALL=/usr/src/linux-source-6.1.tar.xz
RERUN="rerun guests/build-linux.sh"
OUTPUTS=(Image initramfs.cpio.gz disk.ext4 config build.log)

# Debian packages the build needs (host compiler for kconfig/fixdep/busybox
# host tools, the cross compiler + riscv64 libc for the static busybox).
PACKAGES=(
	linux-source-6.1 gcc-riscv64-linux-gnu libc6-dev-riscv64-cross
	gcc libc6-dev make bc bison flex perl python3 cpio gzip xz-utils
	e2fsprogs dpkg-dev util-linux coreutils
)
# Busybox applets to switch off if they ever fail to build with this
# toolchain (none needed for busybox 1.35 on bookworm); e.g. "TC".
BUSYBOX_DISABLE=()

log() { printf '%s\n' "$*" >&2; }
die() { printf 'build-linux: error: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------------------
# Packages and the cache key
# ---------------------------------------------------------------------------
missing_packages() {
	local p
	for p in "${PACKAGES[@]}"; do
		if [[ $(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true) != installed ]]; then
			printf '%s\n' "$p"
		fi
	done
}

have_busybox_source() {
	apt-cache showsrc busybox 2>/dev/null | grep -q '^Package: busybox$'
}

# The newest busybox source version apt knows about (what `apt-get source` picks).
busybox_source_version() {
	local v best=""
	for v in $(apt-cache showsrc busybox 2>/dev/null | awk '$1 == "Version:" { print $2 }'); do
		if [[ -z $best ]] || dpkg --compare-versions "$v" gt "$best"; then best=$v; fi
	done
	printf '%s' "$best"
}

# Prints the cache key, or nothing when an input is not available yet.
cache_key() {
	local kver ccver bbver
	kver=$(dpkg-query -W -f='${Version}' linux-source-6.1 2>/dev/null) || return 0
	ccver=$(dpkg-query -W -f='${Version}' gcc-riscv64-linux-gnu 2>/dev/null) || return 0
	bbver=$(busybox_source_version)
	[[ -n $kver && -n $ccver && -n $bbver ]] || return 0
	{
		printf 'linux-source-6.1 %s\ngcc-riscv64-linux-gnu %s\nbusybox %s\n' "$kver" "$ccver" "$bbver"
		cat "$SELF" "$FRAGMENT" "$INIT"
	} | sha256sum | cut -c1-16
}

is_complete() {
	local dir=$1 f
	[[ -f $dir/.complete ]] || return 1
	for f in "${OUTPUTS[@]}"; do [[ -s $dir/$f ]] || return 1; done
}

as_root() {
	if [[ $EUID -eq 0 ]]; then "$@"
	elif command -v sudo >/dev/null; then sudo "$@"
	else return 1
	fi
}

DEB_SRC_FILE=/etc/apt/sources.list.d/tsvisor-deb-src.sources

ensure_packages() {
	local missing
	mapfile -t missing < <(missing_packages)
	local need_src=0
	have_busybox_source || need_src=1
	if [[ ${#missing[@]} -eq 0 && $need_src -eq 0 ]]; then
		log "      all packages present"
		return 0
	fi
	if [[ $EUID -ne 0 ]] && ! command -v sudo >/dev/null; then
		die "missing packages (${missing[*]:-none}) or busybox deb-src; as root run: apt-get update && apt-get install -y ${missing[*]:-dpkg-dev} (and add a deb-src entry, see $DEB_SRC_FILE in this script), then $RERUN"
	fi
	if [[ $need_src -eq 1 && ! -e $DEB_SRC_FILE ]]; then
		log "      adding $DEB_SRC_FILE (deb-src for bookworm main, for busybox)"
		as_root tee "$DEB_SRC_FILE" >/dev/null <<-'EOF'
		# Added by tsvisor guests/build-linux.sh: Debian source packages
		# (busybox is built from source for the riscv64 Linux guest).
		Types: deb-src
		URIs: http://deb.debian.org/debian
		Suites: bookworm bookworm-updates
		Components: main
		Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
		EOF
	fi
	log "      apt-get update"
	as_root apt-get update -q >&2 || die "apt-get update failed; check network/apt sources, then $RERUN"
	if [[ ${#missing[@]} -gt 0 ]]; then
		log "      apt-get install -y ${missing[*]}"
		as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >&2 \
			|| die "apt-get install of ${missing[*]} failed; retry with: apt-get install -y ${missing[*]}; then $RERUN"
	fi
	mapfile -t missing < <(missing_packages)
	[[ ${#missing[@]} -eq 0 ]] || die "packages still missing after install: ${missing[*]}; $RERUN"
	have_busybox_source || die "apt has no busybox source package (deb-src for bookworm main missing? see $DEB_SRC_FILE); $RERUN"
}

# ---------------------------------------------------------------------------
# Build helpers
# ---------------------------------------------------------------------------
LOGFILE=""
WORK=""

# run "<what failed>" cmd args... : output goes to the build log; on failure
# say what failed and where to look.
run() {
	local what=$1; shift
	printf '+ %s\n' "$*" >>"$LOGFILE"
	if ! "$@" >>"$LOGFILE" 2>&1; then
		log "---- last lines of $LOGFILE ----"
		tail -n 25 "$LOGFILE" >&2 || true
		log "----"
		die "$what failed; see $LOGFILE (work dir $WORK kept); $RERUN"
	fi
}

stage_start() { STAGE_T0=$(date +%s); log "$*"; printf '\n==== %s (%s)\n' "$*" "$(date -u +%FT%TZ)" >>"$LOGFILE"; }
stage_end() {
	local dt=$(( $(date +%s) - STAGE_T0 ))
	log "      done in ${dt}s"
	printf '==== done in %ss\n' "$dt" >>"$LOGFILE"
}

# Every "CONFIG_X=v" and "# CONFIG_X is not set" line of the fragment must
# hold in the final .config (catches renamed symbols / unmet dependencies).
check_kernel_config() {
	local cfg=$1 line sym bad=0
	while IFS= read -r line; do
		if [[ $line =~ ^CONFIG_[A-Za-z0-9_]+= ]]; then
			grep -qxF -- "$line" "$cfg" || { log "      kernel config: wanted '$line', got '$(grep -E "^(# )?${line%%=*}[= ]" "$cfg" || echo unset)'"; bad=1; }
		elif [[ $line =~ ^#\ (CONFIG_[A-Za-z0-9_]+)\ is\ not\ set ]]; then
			sym=${BASH_REMATCH[1]}
			if grep -qE "^${sym}=" "$cfg"; then log "      kernel config: wanted $sym unset, got '$(grep -E "^${sym}=" "$cfg")'"; bad=1; fi
		fi
	done <"$FRAGMENT"
	return $bad
}

# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------
[[ -f $FRAGMENT && -f $INIT ]] || die "missing $FRAGMENT or $INIT (run from a tsvisor checkout)"
T_ALL=$(date +%s)

# Fast path: everything already cached (no apt, no root needed).
if command -v dpkg-query >/dev/null; then
	KEY=$(cache_key)
	if [[ -n $KEY ]] && is_complete "$CACHE_ROOT/linux-$KEY"; then
		log "build-linux: up to date (cached)"
		printf '%s\n' "$CACHE_ROOT/linux-$KEY"
		exit 0
	fi
fi

log "[1/5] installing packages (${PACKAGES[*]})…"
ensure_packages
KEY=$(cache_key)
[[ -n $KEY ]] || die "could not determine package versions for the cache key (dpkg-query/apt-cache showsrc busybox); $RERUN"
OUT="$CACHE_ROOT/linux-$KEY"
mkdir -p "$CACHE_ROOT"

# One build per key at a time.
exec 9>"$CACHE_ROOT/linux-$KEY.lock"
if ! flock -n 9; then
	log "      another build of linux-$KEY is running; waiting…"
	flock 9
fi
if is_complete "$OUT"; then
	log "build-linux: up to date (built by a concurrent run)"
	printf '%s\n' "$OUT"
	exit 0
fi

WORK="$CACHE_ROOT/linux-$KEY.work"
rm -rf "$WORK" "$OUT"
mkdir -p "$WORK/out"
STAGING="$WORK/out"
LOGFILE="$STAGING/build.log"
{
	echo "tsvisor Linux guest build, key $KEY, $(date -u +%FT%TZ)"
	dpkg-query -W linux-source-6.1 gcc-riscv64-linux-gnu libc6-dev-riscv64-cross
	echo "busybox source $(busybox_source_version)"
	echo "jobs: $JOBS"
} >"$LOGFILE"

export ARCH=riscv CROSS_COMPILE=$CROSS
export KBUILD_BUILD_USER=tsvisor KBUILD_BUILD_HOST=tsvisor
export KBUILD_BUILD_TIMESTAMP="$(dpkg-query -W -f='${Version}' linux-source-6.1) tsvisor"
export LC_ALL=C

# --- [2/5] Linux -------------------------------------------------------------
# About 6 CPU-minutes of compilation for this config.
est_min=$(( (6 + JOBS - 1) / JOBS + 1 ))
stage_start "[2/5] building Linux 6.1 (about $est_min minutes with -j$JOBS)…"
run "unpacking $KSRC_TARBALL (package linux-source-6.1)" tar -C "$WORK" -xf "$KSRC_TARBALL"
KSRC="$WORK/linux-source-6.1"
[[ -d $KSRC ]] || die "$KSRC_TARBALL did not contain linux-source-6.1/; reinstall linux-source-6.1 and $RERUN"
run "kernel tinyconfig" make -C "$KSRC" tinyconfig
run "merging guests/linux/tsvisor.config" "$KSRC/scripts/kconfig/merge_config.sh" -m -O "$KSRC" "$KSRC/.config" "$FRAGMENT"
run "kernel olddefconfig" make -C "$KSRC" olddefconfig
check_kernel_config "$KSRC/.config" \
	|| die "the final kernel .config lost options of guests/linux/tsvisor.config (see above; log $LOGFILE); fix the fragment and $RERUN"
run "Linux kernel build (make Image)" make -C "$KSRC" -j"$JOBS" Image
cp "$KSRC/arch/riscv/boot/Image" "$STAGING/Image"
cp "$KSRC/.config" "$STAGING/config"
stage_end

# --- [3/5] busybox -------------------------------------------------------------
stage_start "[3/5] building busybox (Debian source, static riscv64, about 1 minute)…"
BBVER=$(busybox_source_version)
mkdir -p "$WORK/busybox-src"
apt_src_opts=(-q)
# As root, apt would try to fetch as the _apt user, which cannot write here.
[[ $EUID -eq 0 ]] && apt_src_opts+=(-o APT::Sandbox::User=root)
( cd "$WORK/busybox-src" && run "apt-get source busybox=$BBVER (package dpkg-dev, deb-src)" apt-get source "${apt_src_opts[@]}" "busybox=$BBVER" )
BBSRC=$(find "$WORK/busybox-src" -mindepth 1 -maxdepth 1 -type d -name 'busybox-*' | head -n1)
[[ -n $BBSRC ]] || die "apt-get source busybox did not unpack a busybox-* directory; see $LOGFILE; $RERUN"
run "busybox defconfig" make -C "$BBSRC" CROSS_COMPILE="$CROSS" defconfig
sed -i -e 's/^# CONFIG_STATIC is not set$/CONFIG_STATIC=y/' "$BBSRC/.config"
for applet in "${BUSYBOX_DISABLE[@]}"; do
	sed -i -e "s/^CONFIG_${applet}=y$/# CONFIG_${applet} is not set/" "$BBSRC/.config"
done
run "busybox oldconfig" bash -c "yes '' | make -C '$BBSRC' CROSS_COMPILE='$CROSS' oldconfig"
grep -qx 'CONFIG_STATIC=y' "$BBSRC/.config" || die "busybox .config lost CONFIG_STATIC=y; see $LOGFILE; $RERUN"
run "busybox build" make -C "$BBSRC" CROSS_COMPILE="$CROSS" -j"$JOBS" busybox
run "busybox applet list (busybox.links)" make -C "$BBSRC" CROSS_COMPILE="$CROSS" busybox.links
if "${CROSS}readelf" -l "$BBSRC/busybox" | grep -q 'Requesting program interpreter'; then
	die "busybox is not static; see $LOGFILE; $RERUN"
fi
cp "$BBSRC/.config" "$WORK/busybox.config"
stage_end

# --- [4/5] initramfs ---------------------------------------------------------
stage_start "[4/5] packing the initramfs…"
# The kernel's own cpio writer: makes /dev/console etc. without root.
run "compiling usr/gen_init_cpio" gcc -O2 -o "$WORK/gen_init_cpio" "$KSRC/usr/gen_init_cpio.c"
LIST="$WORK/initramfs.list"
{
	echo "# tsvisor initramfs"
	for d in /bin /sbin /usr /usr/bin /usr/sbin /dev /proc /sys /mnt /etc /root /var /run; do
		echo "dir $d 0755 0 0"
	done
	echo "dir /tmp 1777 0 0"
	echo "nod /dev/console 0600 0 0 c 5 1"
	echo "nod /dev/null 0666 0 0 c 1 3"
	echo "file /bin/busybox $BBSRC/busybox 0755 0 0"
	echo "file /init $INIT 0755 0 0"
	declare -A seen_dirs=([/bin]=1 [/sbin]=1 [/usr/bin]=1 [/usr/sbin]=1 [/]=1)
	while IFS= read -r link; do
		[[ -n $link && $link == /* && $link != /bin/busybox ]] || continue
		d=$(dirname "$link")
		if [[ -z ${seen_dirs[$d]:-} ]]; then echo "dir $d 0755 0 0"; seen_dirs[$d]=1; fi
		echo "slink $link /bin/busybox 0777 0 0"
	done <"$BBSRC/busybox.links"
} >"$LIST"
napplets=$(grep -c '^slink' "$LIST")
cp "$LIST" "$WORK/initramfs.list.saved"
run "gen_init_cpio" bash -c "'$WORK/gen_init_cpio' -t 0 '$LIST' > '$WORK/initramfs.cpio'"
run "gzip of the initramfs" bash -c "gzip -9 -n < '$WORK/initramfs.cpio' > '$STAGING/initramfs.cpio.gz'"
log "      busybox + $napplets applet links + /init"
stage_end

# --- [5/5] data disk -------------------------------------------------------------
stage_start "[5/5] making the ext4 data disk (64 MiB)…"
mkdir -p "$WORK/disk-root"
printf 'hello from the tsvisor data disk\n' >"$WORK/disk-root/hello.txt"
run "mkfs.ext4 (package e2fsprogs)" mkfs.ext4 -F -q -L tsvisor-data -E root_owner=0:0 \
	-d "$WORK/disk-root" "$STAGING/disk.ext4" 64M
stage_end

# --- finish ----------------------------------------------------------------------
{
	echo
	echo "==== outputs"
	ls -l "$STAGING"
	echo "total build time: $(( $(date +%s) - T_ALL ))s"
} >>"$LOGFILE"
touch "$STAGING/.complete"
mv "$STAGING" "$OUT"
rm -rf "$WORK"
log "build-linux: done in $(( $(date +%s) - T_ALL ))s: Image $(du -h "$OUT/Image" | cut -f1), initramfs $(du -h "$OUT/initramfs.cpio.gz" | cut -f1)"
printf '%s\n' "$OUT"
