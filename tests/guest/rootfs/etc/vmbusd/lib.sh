# Shared helpers for the vmbusd test guest scripts (sourced, busybox ash).
export PATH=/sbin:/usr/sbin:/bin:/usr/bin
RUN=/run/vmbusd

# Print one progress marker on the console, starting at column 0.
# Markers go to /dev/console explicitly so that callers whose stdout is
# redirected (or absent, as for kernel usermode helpers) still reach the host.
m() {
	echo "@@VMBUSD $*" >/dev/console
}

uptime_s() {
	local u
	read -r u _ </proc/uptime
	echo "$u"
}

# Uptime in centiseconds (/proc/uptime always has two decimals).
now_cs() {
	local u
	read -r u _ </proc/uptime
	echo "${u%.*}${u#*.}" | sed 's/^0*\([0-9]\)/\1/'
}

# param NAME DEFAULT: value of vmbusd.NAME=... on the kernel command line
# (last occurrence wins), or DEFAULT.  A bare "vmbusd.NAME" yields 1.
param() {
	local w v="$2"
	for w in $(cat /proc/cmdline); do
		case "$w" in
		vmbusd.$1=*) v="${w#*=}" ;;
		vmbusd.$1) v=1 ;;
		esac
	done
	echo "$v"
}
