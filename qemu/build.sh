#!/bin/bash
# Build Debian 12's QEMU 7.2 with the vmbus-user patches (qemu/patches/*.patch).
#
#   qemu/build.sh               build if needed, say where the binary is
#   qemu/build.sh --print-path  build if needed, print only the binary's path
#
# The build lives outside the repository, in
#   ${VMBUSD_CACHE:-$HOME/.cache/vmbusd}/qemu-<hash>
# where <hash> covers this script, the patches and include/vmbusd/proto/attach.h,
# so it is rebuilt only when one of them changes and is a no-op otherwise.
# The Debian source package is downloaded once into .../qemu-dl.
#
# Needs: Debian 12 with the bookworm archive reachable; root or sudo for
# apt-get (a deb-src entry and the build dependencies are added if missing).
set -euo pipefail

prog=qemu/build.sh
die() { echo "$prog: error: $*" >&2; exit 1; }
say() { echo "$prog: $*" >&2; }

print_path=0
case "${1:-}" in
"") ;;
--print-path) print_path=1 ;;
-h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
*) die "unknown argument '$1' (try --help)" ;;
esac
[ $# -le 1 ] || die "too many arguments (try --help)"

# Everything below talks on stderr; stdout carries only the path.
exec 3>&1 1>&2

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
attach_h=$repo/include/vmbusd/proto/attach.h
[ -f "$attach_h" ] || die "missing $attach_h"
shopt -s nullglob
patches=("$here"/patches/*.patch)
shopt -u nullglob
[ ${#patches[@]} -gt 0 ] || die "no patches in $here/patches"

cache_root=${VMBUSD_CACHE:-${HOME:?HOME is not set; set VMBUSD_CACHE}/.cache/vmbusd}
hash=$({
    cat "${BASH_SOURCE[0]}" "$attach_h"
    for p in "${patches[@]}"; do basename "$p"; cat "$p"; done
} | sha256sum | cut -c1-16)
dir=$cache_root/qemu-$hash
bin=$dir/build/qemu-system-x86_64

finish() {
    [ -x "$bin" ] || die "build finished but $bin is missing"
    if [ $print_path = 1 ]; then
        echo "$bin" >&3
    else
        say "qemu-system-x86_64: $bin"
    fi
    exit 0
}

[ -f "$dir/.done" ] && finish

mkdir -p "$cache_root" || die "cannot create $cache_root"
exec 9>"$cache_root/qemu-build.lock"
if ! flock -n 9; then
    say "waiting for another build to release $cache_root/qemu-build.lock"
    flock 9
fi
[ -f "$dir/.done" ] && finish        # another run built it meanwhile

# Builds of other hashes that never finished are dead weight (we hold the lock).
for old in "$cache_root"/qemu-*; do
    case "$old" in "$dir"|"$cache_root/qemu-dl"|"$cache_root/qemu-build.lock") continue ;; esac
    if [ -d "$old" ] && [ ! -f "$old/.done" ]; then
        say "removing unfinished build $old"
        rm -rf "$old"
    fi
done

sudo=
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || die "not root and no sudo: cannot run apt-get"
    sudo=sudo
fi

# ---- build dependencies ---------------------------------------------------
deps=(gcc libc6-dev make pkg-config python3 meson ninja-build libglib2.0-dev
      libpixman-1-dev libfdt-dev flex bison dpkg-dev patch xz-utils)
missing=()
for d in "${deps[@]}"; do
    dpkg-query -W -f='${Status}\n' "$d" 2>/dev/null | grep -q '^install ok installed$' ||
        missing+=("$d")
done
if [ ${#missing[@]} -gt 0 ]; then
    say "installing build dependencies: ${missing[*]}"
    if ! $sudo apt-get install -y --no-install-recommends "${missing[@]}"; then
        say "apt-get install failed; refreshing the package lists and retrying"
        $sudo apt-get update || die "apt-get update failed"
        $sudo apt-get install -y --no-install-recommends "${missing[@]}" ||
            die "cannot install: ${missing[*]}"
    fi
fi

# ---- Debian source package ------------------------------------------------
"$repo/scripts/deb-src" qemu || die "cannot make apt see the qemu source package"

dl=$cache_root/qemu-dl
mkdir -p "$dl"
newest_dsc() { find "$dl" -maxdepth 1 -name 'qemu_*.dsc' | sort -V | tail -n1; }
dsc=$(newest_dsc)
if [ -z "$dsc" ]; then
    say "downloading Debian's qemu source package into $dl"
    (cd "$dl" && apt-get source --download-only qemu) ||
        die "apt-get source --download-only qemu failed"
    dsc=$(newest_dsc)
    [ -n "$dsc" ] || die "apt-get source left no qemu_*.dsc in $dl"
fi
case "$(basename "$dsc")" in
qemu_7.2+dfsg-*) ;;
*) die "expected Debian's QEMU 7.2 source, got $(basename "$dsc")" ;;
esac

# ---- unpack, patch --------------------------------------------------------
if [ ! -f "$dir/.patched" ]; then
    rm -rf "$dir"
    mkdir -p "$dir"
    say "unpacking $(basename "$dsc") into $dir/src"
    dpkg-source --no-check -x "$dsc" "$dir/src" >/dev/null ||
        die "dpkg-source -x $dsc failed"
    mkdir -p "$dir/src/include/hw/hyperv"
    cp "$attach_h" "$dir/src/include/hw/hyperv/vmbusd-attach.h"
    for p in "${patches[@]}"; do
        say "applying $(basename "$p")"
        patch -d "$dir/src" -p1 --batch --forward --fuzz=0 -s -i "$p" ||
            die "$(basename "$p") does not apply to $(basename "$dsc")"
    done
    touch "$dir/.patched"
fi

# ---- configure, build -----------------------------------------------------
# Debian's skip-meson-pc-bios.diff (applied by dpkg-source) already keeps
# meson out of pc-bios/, whose edk2-*.fd.bz2 the dfsg tarball lacks; firmware
# comes from Debian at run time (-L /usr/share/qemu -L /usr/share/seabios).
if [ ! -f "$dir/.configured" ]; then
    rm -rf "$dir/build"
    mkdir -p "$dir/build"
    say "configuring (x86_64-softmmu, TCG + KVM)"
    (cd "$dir/build" && ../src/configure \
        --target-list=x86_64-softmmu \
        --without-default-features \
        --enable-tcg --enable-kvm \
        --disable-user --disable-docs --disable-tools \
        --disable-install-blobs --disable-werror \
        --meson=meson) || die "configure failed (see the output above)"
    touch "$dir/.configured"
fi

say "building with ninja ($(nproc) jobs)"
start=$(date +%s)
ninja -C "$dir/build" qemu-system-x86_64 || die "ninja failed (see the output above)"
say "build took $(( $(date +%s) - start )) s"
"$bin" --version >/dev/null || die "$bin does not run"
"$bin" -device help 2>/dev/null | grep -c '"vmbus-user"' >/dev/null ||
    die "$bin has no vmbus-user device: the patches did not take"
touch "$dir/.done"
finish
