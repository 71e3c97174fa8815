#!/bin/bash
# Build the vmbusd test guest: a Debian 12 cloud kernel plus a busybox
# initramfs with the Hyper-V drivers, hyperv-daemons, e2fsprogs, fio and
# DPDK's dpdk-testpmd with the netvsc PMD.
#
#   build-guest.sh [--force] [OUTDIR]   build (no-op if OUTDIR is complete)
#   build-guest.sh --print-dir [OUTDIR] the same, for scripts: only the
#                                       directory goes to stdout (build
#                                       progress goes to stderr in any case)
#
# Default OUTDIR: ${VMBUSD_CACHE:-$HOME/.cache/vmbusd}/guest-<hash>, <hash>
# covering this script and everything under rootfs/.  The last line printed
# is always OUTDIR, which then holds vmlinuz, initrd.img, kernel-version and
# manifest.txt.
#
# Environment:
#   VMBUSD_CACHE         cache root (default ~/.cache/vmbusd); downloaded
#                        .debs are kept in $VMBUSD_CACHE/debs
#   VMBUSD_KERNEL_PKG    kernel package to use instead of the one
#                        linux-image-cloud-amd64 depends on
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${VMBUSD_CACHE:-$HOME/.cache/vmbusd}
DEBS=$CACHE/debs

# Modules copied into the image, with their modules.dep closure.  The guest
# init loads hv_vmbus hv_utils sd_mod hv_storvsc hv_netvsc (+ deps) and
# dummy; the rest can be loaded by tests with modprobe (uio_hv_generic: a
# user-space driver takes a channel, DPDK style; tests/guest/scenarios/monitor.json).
MODULES="hv_vmbus hv_utils hv_storvsc sd_mod sg hv_netvsc dummy hv_balloon uio_hv_generic
         hv_sock hyperv-keyboard virtio_pci virtio_blk virtio_net virtio_scsi"

log() { echo "build-guest: $*" >&2; }
die() { log "error: $*"; exit 1; }

force=0 print_dir=0 outdir=""
while [ $# -gt 0 ]; do
	case "$1" in
	--force) force=1 ;;
	--print-dir) print_dir=1 ;;
	-h|--help) sed -n '2,20p' "$0"; exit 0 ;;
	-*) die "unknown option $1" ;;
	*) outdir=$1 ;;
	esac
	shift
done

hash=$(cd "$HERE" && { echo build-guest.sh; cat build-guest.sh;
	find rootfs tools \( -type f -o -type l \) | LC_ALL=C sort | while read -r f; do
		echo "$f $(stat -c %a "$f")"
		if [ -L "$f" ]; then readlink "$f"; else cat "$f"; fi
	done; } | sha256sum | cut -c1-16)
[ -n "$outdir" ] || outdir=$CACHE/guest-$hash
case "$outdir" in /*) ;; *) outdir=$PWD/$outdir ;; esac

if [ $force = 0 ] && [ -f "$outdir/.complete" ] &&
   [ "$(cat "$outdir/.complete")" = "$hash" ]; then
	log "up to date"
	echo "$outdir"
	exit 0
fi

SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo

# --- host tools ------------------------------------------------------------
need_pkgs=""
command -v cpio >/dev/null || need_pkgs="$need_pkgs cpio"
command -v depmod >/dev/null || [ -x /sbin/depmod ] || need_pkgs="$need_pkgs kmod"
command -v gzip >/dev/null || need_pkgs="$need_pkgs gzip"
command -v ldd >/dev/null || need_pkgs="$need_pkgs libc-bin"
[ -x /sbin/mke2fs ] || need_pkgs="$need_pkgs e2fsprogs"
if [ -n "$need_pkgs" ]; then
	log "installing$need_pkgs"
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $need_pkgs >&2
fi
export PATH=$PATH:/sbin:/usr/sbin

# --- packages ----------------------------------------------------------------
candidate() { apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ { print $2 }'; }
if [ -z "$(candidate linux-image-cloud-amd64)" ] || [ "$(candidate linux-image-cloud-amd64)" = "(none)" ]; then
	log "apt-get update"
	$SUDO apt-get update >&2
fi
kpkg=${VMBUSD_KERNEL_PKG:-$(apt-cache depends linux-image-cloud-amd64 |
	awk '/Depends: linux-image-[0-9].*-cloud-amd64/ { print $2; exit }')}
[ -n "$kpkg" ] || die "cannot resolve linux-image-cloud-amd64"
log "kernel package: $kpkg $(candidate "$kpkg")"

mkdir -p "$DEBS"
fetch_deb() {   # fetch_deb PKG -> path of the candidate's .deb in $DEBS
	local pkg=$1 ver f
	ver=$(candidate "$pkg")
	[ -n "$ver" ] && [ "$ver" != "(none)" ] || die "no candidate for $pkg"
	# apt-get download writes an epoch "1:" as "1%3a"
	f=$(ls "$DEBS/${pkg}_${ver/:/%3a}_"*.deb 2>/dev/null | head -n 1 || true)
	if [ -z "$f" ]; then
		log "downloading $pkg $ver"
		(cd "$DEBS" && apt-get download -o APT::Sandbox::User=root "$pkg=$ver" >&2)
		f=$(ls "$DEBS/${pkg}_${ver/:/%3a}_"*.deb | head -n 1)
	fi
	echo "$f"
}
kdeb=$(fetch_deb "$kpkg")
hdeb=$(fetch_deb hyperv-daemons)
bdeb=$(fetch_deb busybox-static)

work=$(mktemp -d "${TMPDIR:-/tmp}/vmbusd-guest.XXXXXX")
trap 'rm -rf "$work"' EXIT
kx=$work/kernel root=$work/root
mkdir -p "$kx" "$root" "$work/hv" "$work/bb"
dpkg-deb -x "$kdeb" "$kx"
dpkg-deb -x "$hdeb" "$work/hv"
dpkg-deb -x "$bdeb" "$work/bb"

kv=$(ls "$kx/lib/modules")
[ "$(echo "$kv" | wc -l)" = 1 ] || die "unexpected module dirs: $kv"
log "kernel version: $kv"

# --- kernel modules ------------------------------------------------------------
# Packages ship no modules.dep (depmod runs at install): generate it.
depmod -b "$kx" "$kv"
kmods=$kx/lib/modules/$kv
dst=$root/lib/modules/$kv
mkdir -p "$dst"
for mod in $MODULES; do
	# "insmod /path/x.ko [opts]" lines, dependencies first
	lines=$(modprobe -d "$kx" -S "$kv" --show-depends "$mod" 2>/dev/null) ||
		die "module $mod not found in $kpkg"
	for p in $(echo "$lines" | awk '$1 == "insmod" { print $2 }'); do
		rel=${p#"$kmods"/}
		out=$dst/${rel%.xz}; out=${out%.zst}; out=${out%.gz}
		[ -e "$out" ] && continue
		mkdir -p "$(dirname "$out")"
		case "$p" in
		*.ko) cp "$p" "$out" ;;
		*.ko.xz) xz -dc "$p" >"$out" ;;   # busybox insmod can't decompress
		*.ko.zst) zstd -qdc "$p" >"$out" ;;
		*.ko.gz) gzip -dc "$p" >"$out" ;;
		*) die "unknown module file $p" ;;
		esac
	done
done
cp "$kmods/modules.builtin" "$kmods/modules.builtin.modinfo" "$kmods/modules.order" "$dst/" 2>/dev/null || true
depmod -b "$root" "$kv"
# keep only what busybox modprobe/modinfo use
(cd "$dst" && rm -f modules.*.bin modules.builtin.modinfo modules.devname modules.softdep modules.symbols)

# --- busybox ---------------------------------------------------------------------
bb=$work/bb/bin/busybox
[ -x "$bb" ] || bb=$work/bb/usr/bin/busybox
[ -x "$bb" ] || die "no busybox in $bdeb"
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,run,tmp,root,mnt,var/lib/hyperv,var/log,lib64,lib/x86_64-linux-gnu}
cp "$bb" "$root/bin/busybox"
for a in $("$bb" --list-full); do
	[ -e "$root/$a" ] || [ -L "$root/$a" ] || ln -s /bin/busybox "$root/$a"
done
ln -sfn bin/busybox "$root/init"
ln -sfn /bin/busybox "$root/sbin/init"

# --- binaries with their libraries ---------------------------------------------
copy_lib_deps() {   # copy_lib_deps BINARY: its shared libraries and loader
	local l
	for l in $(ldd "$1" 2>/dev/null | awk '/=> \// { print $3 } /^\t\/[^ ]* \(/ { print $1 }'); do
		[ -e "$root$l" ] && continue
		mkdir -p "$root$(dirname "$l")"
		cp -L "$l" "$root$l"
	done
}
for f in "$work"/hv/usr/sbin/*; do
	install -m 0755 "$f" "$root/usr/sbin/"
	copy_lib_deps "$f"
done
mkdir -p "$root/usr/libexec/hypervkvpd"
cp -a "$work"/hv/usr/libexec/hypervkvpd/. "$root/usr/libexec/hypervkvpd/"

# e2fsprogs from the host (same Debian release, same libc as hyperv-daemons)
for f in mke2fs e2fsck tune2fs dumpe2fs; do
	src=$(command -v $f || true)
	[ -n "$src" ] || { log "warning: $f not found"; continue; }
	rm -f "$root/sbin/$f"
	install -m 0755 "$src" "$root/sbin/$f"
	copy_lib_deps "$src"
done
for t in ext2 ext3 ext4; do
	ln -sfn mke2fs "$root/sbin/mkfs.$t"
	ln -sfn e2fsck "$root/sbin/fsck.$t"
done
[ -f /etc/mke2fs.conf ] && cp /etc/mke2fs.conf "$root/etc/"

# --- DPDK: dpdk-testpmd and the netvsc PMD ------------------------------------
# Debian 12's DPDK 22.11: dpdk-testpmd is in dpdk-dev (not dpdk).  Its
# shared-library closure is resolved by ldd against the extracted packages
# (falling back to the host's libraries), fetching the package of each
# missing library, until nothing is missing.  Only three plugins go into
# EAL's plugin directory (EAL dlopens everything there): the vmbus bus, the
# netvsc PMD and the ring mempool; the other PMDs testpmd links stay as
# plain libraries and find no device.  EAL also dlopens libgcc_s.
DPDK_ROOT=$work/dpdk
DPDK_LIB=/usr/lib/x86_64-linux-gnu
DPDK_PMDS="librte_bus_vmbus.so.23 librte_net_netvsc.so.23 librte_mempool_ring.so.23"
dpdk_pkg_of() {   # dpdk_pkg_of SONAME -> the Debian package that ships it
	local b
	case "$1" in
	librte_*.so.23) b=${1#librte_}; b=${b%.so.23}; b=${b//_/-}
		case "$b" in *[0-9]) echo "librte-$b-23" ;; *) echo "librte-${b}23" ;; esac ;;
	libibverbs.so.1) echo libibverbs1 ;;
	libmlx5.so.1) echo ibverbs-providers ;;
	libnl-3.so.200) echo libnl-3-200 ;;
	libnl-route-3.so.200) echo libnl-route-3-200 ;;
	libfdt.so.1) echo libfdt1 ;;
	libnuma.so.1) echo libnuma1 ;;
	libpcap.so.0.8) echo libpcap0.8 ;;
	libjansson.so.4) echo libjansson4 ;;
	libelf.so.1) echo libelf1 ;;
	libbsd.so.0) echo libbsd0 ;;
	libmd.so.0) echo libmd0 ;;
	*) die "DPDK needs $1: no package known for it (add it to dpdk_pkg_of)" ;;
	esac
}
dpdk_ldd() { LD_LIBRARY_PATH=$DPDK_ROOT$DPDK_LIB ldd "$DPDK_ROOT/usr/bin/dpdk-testpmd" \
	$(for p in $DPDK_PMDS; do echo "$DPDK_ROOT$DPDK_LIB/$p"; done) 2>/dev/null; }
mkdir -p "$DPDK_ROOT"
dpdk_debs="dpdk-dev librte-bus-vmbus23 librte-net-netvsc23 librte-mempool-ring23"
for round in 1 2 3 4 5 6 7 8; do
	for p in $dpdk_debs; do dpkg-deb -x "$(fetch_deb "$p")" "$DPDK_ROOT"; done
	missing=$(dpdk_ldd | awk '/not found/ { print $1 }' | LC_ALL=C sort -u)
	[ -n "$missing" ] || break
	[ $round -lt 8 ] || die "DPDK libraries still missing: $missing"
	dpdk_debs=$(for l in $missing; do dpdk_pkg_of "$l"; done | LC_ALL=C sort -u)
done
install -m 0755 "$DPDK_ROOT/usr/bin/dpdk-testpmd" "$root/usr/bin/"
for l in $(for p in $DPDK_PMDS; do echo "$DPDK_ROOT$DPDK_LIB/$p"; done) \
	 $(dpdk_ldd | awk '/=> \// { print $3 } /^\t\/[^ ]* \(/ { print $1 }' | LC_ALL=C sort -u); do
	t=${l#"$DPDK_ROOT"}
	[ -e "$root$t" ] && continue
	mkdir -p "$root$(dirname "$t")"
	cp -L "$l" "$root$t"
done
mkdir -p "$root$DPDK_LIB/dpdk/pmds-23.0"
# EAL takes only names ending in .so or .so.<ABI version> from there
for p in $DPDK_PMDS; do ln -sfn "../../$p" "$root$DPDK_LIB/dpdk/pmds-23.0/$p.0"; done
cp -L /lib/x86_64-linux-gnu/libgcc_s.so.1 "$root/lib/x86_64-linux-gnu/" ||
	die "libgcc_s.so.1 not found on the host (EAL dlopens it)"
dpdk_version=$(dpkg-deb -f "$(fetch_deb dpdk-dev)" Version)

# --- fio ---------------------------------------------------------------------------
# Debian's fio binary links Ceph's librados/librbd, GlusterFS, PMDK, RDMA
# and libnbd (tens of MB of libraries in an image every test boots), so the
# image gets fio built here from Debian's own source package, static, with
# only the engines that need no library beyond libaio: psync, libaio,
# io_uring and the rest of fio's built-ins.  About 30 s; the binary is
# kept in $CACHE/fio-<version>-<hash of these flags>.
FIO_FLAGS="--build-static --disable-native --disable-numa --disable-rdma --disable-rados
	--disable-rbd --disable-http --disable-gfapi --disable-libnfs --disable-pmem --disable-xnvme
	--disable-libzbc --disable-tcmalloc --disable-dfs --disable-lex"
"$HERE/../../scripts/deb-src" fio || die "cannot make apt see the fio source package"
fio_version=$(apt-cache showsrc fio | awk '/^Version:/ { print $2 }' | sort -V | tail -n 1)
fio_cache=$CACHE/fio-$fio_version-$(echo "$FIO_FLAGS" | sha256sum | cut -c1-8)
if [ ! -x "$fio_cache/fio" ]; then
	[ -f /usr/lib/x86_64-linux-gnu/libaio.a ] && [ -f /usr/include/zlib.h ] ||
		$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
			libaio-dev zlib1g-dev >&2
	log "building fio $fio_version (static)"
	mkdir -p "$work/fio"
	(cd "$work/fio" && apt-get source --download-only -o APT::Sandbox::User=root "fio=$fio_version" >&2 &&
	 tar xzf fio_*.orig.tar.gz && cd fio-*/ &&
	 ./configure $FIO_FLAGS >&2 && make -j"$(nproc)" fio >&2) || die "cannot build fio"
	f=$(ls "$work"/fio/fio-*/fio)
	grep -q '^#define CONFIG_LIBAIO$' "$(dirname "$f")/config-host.h" || die "fio was built without libaio"
	mkdir -p "$fio_cache"
	strip -o "$fio_cache/fio.tmp" "$f" && mv "$fio_cache/fio.tmp" "$fio_cache/fio"
fi
install -m 0755 "$fio_cache/fio" "$root/usr/bin/fio"

# --- our files -------------------------------------------------------------------
cp -a "$HERE/rootfs/." "$root/"
# Our guest tools (tools/*.c), static so they need nothing from the image.
for src in "$HERE"/tools/*.c; do
	gcc -static -O2 -o "$root/usr/bin/$(basename "$src" .c)" "$src" ||
		{ log "cannot compile $src (gcc and libc6-dev are needed)"; exit 1; }
done
# LD_PRELOAD shims (tools/preload/*.c), shared objects in /usr/lib/vmbusd.
mkdir -p "$root/usr/lib/vmbusd"
for src in "$HERE"/tools/preload/*.c; do
	gcc -shared -fPIC -O2 -o "$root/usr/lib/vmbusd/$(basename "$src" .c).so" "$src" ||
		{ log "cannot compile $src"; exit 1; }
done
for a in poweroff reboot halt; do
	rm -f "$root/sbin/$a"
	ln -s /usr/libexec/vmbusd/power "$root/sbin/$a"
done
{
	echo "kernel-package: $kpkg $(candidate "$kpkg")"
	echo "kernel-version: $kv"
	echo "hyperv-daemons: $(candidate hyperv-daemons)"
	echo "busybox-static: $(candidate busybox-static)"
	echo "dpdk: $dpdk_version (dpdk-testpmd, PMDs: $DPDK_PMDS)"
	echo "fio: $fio_version (built static: libaio, io_uring, psync and fio's other built-in engines)"
	echo "e2fsprogs: $(dpkg-query -W -f '${Version}' e2fsprogs 2>/dev/null || echo none)"
	echo "hash: $hash"
	echo "modules:"
	(cd "$dst" && find . -name '*.ko' | sed 's,^\./,  ,' | LC_ALL=C sort)
} >"$root/etc/vmbusd/manifest.txt"

# --- initramfs -------------------------------------------------------------------
# Files via cpio (owner root), then a hand-made newc archive with the device
# nodes the kernel needs before devtmpfs is mounted (no mknod/root needed).
{
	(cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet)
	newc_entry() {
		# c_ino c_mode c_uid c_gid c_nlink c_mtime c_filesize c_devmajor
		# c_devminor c_rdevmajor c_rdevminor c_namesize c_check
		local name=$1 mode=$2 maj=$3 min=$4 ino=$5
		local namesize=$((${#name} + 1))
		printf '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%s\0' \
			"$ino" "$mode" 0 0 1 0 0 0 0 "$maj" "$min" "$namesize" 0 "$name"
		head -c $(((4 - (110 + namesize) % 4) % 4)) /dev/zero
	}
	newc_entry dev/console $((8#020600)) 5 1 900001
	newc_entry dev/null $((8#020666)) 1 3 900002
	newc_entry TRAILER!!! 0 0 0 0
} | gzip -9n >"$work/initrd.img"

mkdir -p "$outdir"
rm -f "$outdir/.complete"
cp "$kx/boot/vmlinuz-$kv" "$outdir/vmlinuz"
mv "$work/initrd.img" "$outdir/initrd.img"
echo "$kv" >"$outdir/kernel-version"
cp "$root/etc/vmbusd/manifest.txt" "$outdir/manifest.txt"
echo "$hash" >"$outdir/.complete"
log "vmlinuz $(stat -c %s "$outdir/vmlinuz") bytes, initrd.img $(stat -c %s "$outdir/initrd.img") bytes"
echo "$outdir"
