#!/bin/sh
# vmbusd test guest: boot-time setup, run by busybox init as ::sysinit.
# Marker protocol and kernel parameters: tests/guest/README.md.

mount -t proc proc /proc 2>/dev/null
. /etc/vmbusd/lib.sh
stty -echo 2>/dev/null   # stdin is the console
m init "$(uptime_s)"

mount -t sysfs sysfs /sys 2>/dev/null
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm /run /tmp /var/lib/hyperv /var/log /var/run
mount -t devpts devpts /dev/pts 2>/dev/null
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run
mkdir -p $RUN
# DPDK (dpdk-testpmd): EAL refuses a world-writable / (the initramfs root
# is 0777) and takes its memory from hugetlbfs; pages are reserved with
# the kernel parameter hugepages=N by the scenarios that run it.
chmod 0755 /
mkdir -p /dev/hugepages
mount -t hugetlbfs nodev /dev/hugepages 2>/dev/null
# Kernel messages on the console would interleave with markers mid-line:
# keep only emergencies unless asked otherwise (dmesg is always available).
dmesg -n "$(param loglevel 1)" 2>/dev/null

if [ "$(param poweroff 0)" = init ]; then
	/sbin/poweroff
	exit 0
fi

KV=$(uname -r)
MODDIR=/lib/modules/$KV
CMDLINE=$(cat /proc/cmdline)
MODTIMEOUT=$(param modtimeout 30)
FAILED=" "

hostname -F /etc/hostname 2>/dev/null || hostname vmbusd-guest
syslogd -C256 2>/dev/null   # read with logread (the hyperv daemons log there)
ip link set lo up 2>/dev/null

# modpaths NAME: module files (relative to MODDIR) to insert for NAME, deps
# first (modules.dep lists a module's full dependency closure, last = first
# to load).  Empty if NAME is not in the image.
modpaths() {
	awk -F': *' -v want="$1" '
		function norm(s) { sub(/.*\//, "", s); sub(/\.ko.*$/, "", s); gsub(/-/, "_", s); return s }
		BEGIN { gsub(/-/, "_", want) }
		norm($1) == want { n = split($2, d, " "); for (i = n; i >= 1; i--) print d[i]; print $1; exit }
	' "$MODDIR/modules.dep"
}

modname() {
	local s=${1##*/}
	s=${s%%.ko*}
	echo "$s" | tr - _
}

# Module parameters given on the kernel command line as <module>.<param>=<v>
# (the kernel does not apply them to modules loaded later; modprobe would).
# Default: scsi_mod.scan=sync, so that LUNs are scanned when insmod
# hv_storvsc returns.
modparams() {
	local w mod out=""
	for w in $CMDLINE; do
		case "$w" in
		*.*=*)
			mod=$(echo "${w%%.*}" | tr - _)
			[ "$mod" = "$1" ] && out="$out ${w#*.}"
			;;
		esac
	done
	case "$1 $out " in
	"scsi_mod "*) case "$out " in *" scan="*) ;; *) out="$out scan=sync" ;; esac ;;
	esac
	echo "$out"
}

# insmod_one PATH: insert one module file with a time bound (hv_vmbus
# blocks forever in INITIATE_CONTACT if the host never answers; driver
# probes can block too).  Prints the module marker.
insmod_one() {
	local path=$1 name rc err deadline pid
	name=$(modname "$path")
	err=$RUN/insmod.$name.err
	deadline=$(($(now_cs) + MODTIMEOUT * 100))
	insmod "$MODDIR/$path" $(modparams "$name") >"$err" 2>&1 &
	pid=$!
	while kill -0 "$pid" 2>/dev/null; do
		if [ "$(now_cs)" -ge "$deadline" ]; then
			m module "$name" timeout "$MODTIMEOUT"
			FAILED="$FAILED$name "
			return 1
		fi
		sleep 0.02
	done
	wait "$pid"
	rc=$?
	if [ "$rc" = 0 ]; then
		m module "$name" ok
		return 0
	fi
	# busybox insmod exits with the errno: "can't insert 'x.ko': No such device"
	m module "$name" fail "$rc" "$(sed -n 's/.*: //p' "$err" | tail -n 1)"
	FAILED="$FAILED$name "
	return 1
}

# load_module NAME: NAME and its dependencies, in modules.dep order, each
# once.  A module whose dependency failed is reported as skipped.
load_module() {
	local p paths name want
	want=$(echo "$1" | tr - _)
	paths=$(modpaths "$1")
	if [ -z "$paths" ]; then
		if grep -q "/$1\.ko\$" "$MODDIR/modules.builtin" 2>/dev/null ||
		   grep -q "/$want\.ko\$" "$MODDIR/modules.builtin" 2>/dev/null; then
			m module "$want" builtin
			return 0
		fi
		m module "$want" fail 2 not in image
		FAILED="$FAILED$want "
		return 1
	fi
	for p in $paths; do
		name=$(modname "$p")
		case "$FAILED" in *" $name "*)
			if [ "$name" != "$want" ]; then
				m module "$want" skip "$name"
				FAILED="$FAILED$want "
			fi
			return 1 ;;
		esac
		[ -e "/sys/module/$name/initstate" ] && continue   # loaded
		insmod_one "$p" || return 1
	done
}

MODULES=$(param modules "hv_vmbus,hv_utils,sd_mod,hv_storvsc,hv_netvsc")
[ "$MODULES" = none ] && MODULES=""
for mod in $(echo "$MODULES" | tr , ' '); do
	load_module "$mod"
done

# The VMBus protocol version the guest negotiated.
if [ -d /sys/module/hv_vmbus ]; then
	v=$(dmesg | sed -n 's/.*Vmbus version:\([0-9.]*\).*/\1/p' | tail -n 1)
	m vmbus-version "${v:-unknown}"
else
	m vmbus-version none
fi

# Wait for VMBus devices to be bound to drivers.
#  vmbusd.expect=N  : done as soon as N devices are bound (0: don't wait);
#  otherwise done when >=1 device exists, all are bound and nothing changed
#  for ~0.2 s, or nothing changed for ~3 s (some device has no driver);
#  in any case give up after vmbusd.wait seconds.
WAIT=$(param wait 20)

# wait_bound DIR EXPECT: polls the devices under DIR (a bus's devices/)
# until EXPECT of them have a driver (EXPECT given), or every one has and
# that held for ~0.2 s, or nothing changed for ~3 s (some device has no
# driver), at most WAIT seconds; leaves the counts in total and bound.
wait_bound() {
	local dir=$1 expect=$2 deadline=$(($(now_cs) + WAIT * 100)) stable=0 last="" d
	while :; do
		total=0 bound=0
		for d in "$dir"/*; do
			[ -e "$d" ] || continue
			total=$((total + 1))
			[ -e "$d/driver" ] && bound=$((bound + 1))
		done
		if [ "$last" = "$total/$bound" ]; then
			stable=$((stable + 1))
		else
			stable=0 last="$total/$bound"
		fi
		if [ -n "$expect" ]; then
			[ "$bound" -ge "$expect" ] && return
		elif [ "$total" -gt 0 ]; then
			[ "$bound" = "$total" ] && [ "$stable" -ge 4 ] && return
			[ "$stable" -ge 60 ] && return
		fi
		[ "$(now_cs)" -ge "$deadline" ] && return
		sleep 0.05
	done
}
case "$FAILED" in
*" hv_vmbus "*) ;;   # failed or timed out: nothing will be offered
*) [ -d /sys/bus/vmbus/devices ] && VMBUS=1 ;;
esac
if [ -n "${VMBUS:-}" ]; then
	wait_bound /sys/bus/vmbus/devices "$(param expect "")"
	total=0 bound=0
	for d in /sys/bus/vmbus/devices/*; do
		[ -e "$d" ] || continue
		total=$((total + 1))
		cls=$(cat "$d/class_id" 2>/dev/null)
		if [ -e "$d/driver" ]; then
			bound=$((bound + 1))
			drv=$(readlink "$d/driver")
			m bound "${d##*/}" "$cls" "${drv##*/}"
		else
			m unbound "${d##*/}" "$cls"
		fi
	done
	m devices "$bound/$total"
fi

# virtio devices (the benchmarks' virtio-blk/virtio-net baseline, booted with
# vmbusd.modules=virtio_pci,virtio_blk,virtio_net): the same wait, over
# /sys/bus/virtio, ending in "virtio-devices <n-bound>/<n-total>" — the
# baseline's counterpart of "devices".  vmbusd.virtio_expect=N: done as soon
# as N are bound (what vmbusd.expect is for VMBus).
if [ -d /sys/module/virtio_pci ] && [ -d /sys/bus/virtio/devices ]; then
	wait_bound /sys/bus/virtio/devices "$(param virtio_expect "")"
	m virtio-devices "$bound/$total"
fi
# The boot benchmarks stop here: every device of either kind is bound.
if [ "$(param poweroff 0)" = bound ]; then
	/sbin/poweroff
	exit 0
fi

# sd attaches disks asynchronously: wait (bounded) for every SCSI disk to
# have its block device, then list disks and hv_netvsc interfaces.
if [ -d /sys/module/sd_mod ]; then
	deadline=$(($(now_cs) + WAIT * 100))
	while :; do
		pending=0
		for s in /sys/bus/scsi/devices/*:*:*:*; do
			[ "$(cat "$s/type" 2>/dev/null)" = 0 ] || continue
			[ -n "$(ls "$s/block" 2>/dev/null)" ] || pending=1
		done
		[ "$pending" = 0 ] || [ "$(now_cs)" -ge "$deadline" ] && break
		sleep 0.05
	done
	for s in /sys/bus/scsi/devices/*:*:*:*; do
		[ "$(cat "$s/type" 2>/dev/null)" = 0 ] || continue
		b=$(ls "$s/block" 2>/dev/null | head -n 1)
		if [ -n "$b" ]; then
			m disk "$b" "${s##*/}" "$(cat "/sys/block/$b/size")"
		else
			m disk none "${s##*/}" 0
		fi
	done
fi
for n in /sys/class/net/*; do
	drv=$(readlink "$n/device/driver" 2>/dev/null) || continue
	[ "${drv##*/}" = hv_netvsc ] && m netdev "${n##*/}" "$(cat "$n/address")"
done

# A fixed IPv4 address for KVP to report (documentation range, guest-only).
IP=$(param ip 192.0.2.10/24)
if [ "$IP" != none ] && [ -n "$(modpaths dummy)" ]; then
	if load_module dummy; then
		ip link set dummy0 address 02:00:c0:00:02:0a 2>/dev/null
		ip addr add "$IP" dev dummy0 2>/dev/null
		ip link set dummy0 up 2>/dev/null
	fi
fi

# hyperv-daemons, for the util devices whose nodes exist.
if [ "$(param daemons 1)" != 0 ]; then
	for d in kvp vss fcopy; do
		[ -c /dev/vmbus/hv_$d ] || continue
		bin=/usr/sbin/hv_${d}_daemon
		"$bin" -n </dev/null >/dev/null 2>&1 &
		pid=$!
		sleep 0.1
		if kill -0 "$pid" 2>/dev/null; then
			echo "$pid" >$RUN/hv_${d}_daemon.pid
			m daemon "hv_${d}_daemon" started
		else
			wait "$pid"
			m daemon "hv_${d}_daemon" fail $?
		fi
	done
fi
exit 0
