#!/usr/bin/env bash
# Fails when an #include points up a layer (shared/docs/ARCHITECTURE.md,
# "Layers and the direction of dependencies").  Bottom to top:
#
#   include/vmbusd/proto   wire formats only: includes nothing of ours
#   src/core
#   src/attach
#   src/hv
#   src/vmbus
#   devices/               (with devices/blk and devices/scsi)
#   src/host
#   src/scenario, src/trace   (same level: neither includes the other)
#   src/cli
#
# A layer includes only layers below it and itself.  src/guest, the synthetic
# guest, is written independently of the host, so it may include only
# src/core and include/vmbusd/proto; of the host only src/cli, which builds
# the programs (`vmbusd bench ring` plays both sides), may include it.
# tests/ and qemu/ may include anything and are not scanned.
#
# Each include is resolved the way the compiler does ("..." first beside the
# file, then -I. -Isrc -Iinclude, the Makefile's order), so a relative
# "../x.h" is judged by where it lands, not by how it is spelled.  Includes
# that resolve to no file of ours (system headers) are ignored, and so is the
# generated config.h.
#
# Usage: tests/check-layers.sh [DIR...]   (default: include src devices)
# Prints FILE:LINE for every offending include and exits 1 if there is any.
set -u
cd "$(dirname "$0")/.." || exit 2

dirs=("$@")
[ ${#dirs[@]} -gt 0 ] || dirs=(include src devices)

# One awk over every include line (a fork per include takes tens of seconds
# on a loaded machine): the repository's files are read first, so resolving
# an include is a lookup.
{
	find include src devices -type f -name '*.[ch]' | sed 's/^/F /'
	grep -rnE --include='*.c' --include='*.h' '^[[:space:]]*#[[:space:]]*include' "${dirs[@]}" |
		sed 's/^/I /'
} | awk '
function layer(p) {
	if (p ~ /^include\/vmbusd\/proto\//) { rank = 0; return "proto" }
	if (p ~ /^src\/core\//)     { rank = 1; return "core" }
	if (p ~ /^src\/attach\//)   { rank = 2; return "attach" }
	if (p ~ /^src\/hv\//)       { rank = 3; return "hv" }
	if (p ~ /^src\/vmbus\//)    { rank = 4; return "vmbus" }
	if (p ~ /^devices\//)       { rank = 5; return "devices" }
	if (p ~ /^src\/host\//)     { rank = 6; return "host" }
	if (p ~ /^src\/scenario\//) { rank = 7; return "scenario" }
	if (p ~ /^src\/trace\//)    { rank = 7; return "trace" }
	if (p ~ /^src\/cli\//)      { rank = 8; return "cli" }
	if (p ~ /^src\/guest\//)    { rank = -2; return "guest" }
	rank = -1; return "other"
}
function allowed(from, frank, to, trank) {
	if (to == "other" || from == to) return 1
	# The synthetic guest is written independently of the host: it sees only
	# core and the wire formats, and of the host only cli (the programs,
	# e.g. `vmbusd bench ring` playing both sides) may use it.
	if (from == "guest") return to == "core" || to == "proto"
	if (to == "guest") return from == "cli"
	if (from == "proto") return 0   # wire formats include nothing of ours
	return trank < frank
}
function norm(p,    n, i, k, part, out) {
	n = split(p, part, "/"); k = 0
	for (i = 1; i <= n; i++) {
		if (part[i] == "." || part[i] == "") continue
		if (part[i] == ".." && k > 0 && out[k] != "..") { k--; continue }
		out[++k] = part[i]
	}
	p = ""
	for (i = 1; i <= k; i++) p = p (i > 1 ? "/" : "") out[i]
	return p
}
function resolve(file, inc,    dir, c) {
	dir = file; sub(/\/[^\/]*$/, "", dir)
	if ((c = norm(dir "/" inc)) in have) return c
	if ((c = norm(inc)) in have) return c
	if ((c = norm("src/" inc)) in have) return c
	if ((c = norm("include/" inc)) in have) return c
	return ""
}
$1 == "F" { have[$2] = 1; next }
$1 == "I" {
	sub(/^I /, "")
	if (!match($0, /^[^:]+:[0-9]+:/)) next
	loc = substr($0, 1, RLENGTH - 1); text = substr($0, RLENGTH + 1)
	file = loc; sub(/:[0-9]+$/, "", file)
	if (!match(text, /#[ \t]*include[ \t]*[<"][^>"]+[>"]/)) next
	inc = substr(text, RSTART, RLENGTH); sub(/^#[ \t]*include[ \t]*[<"]/, "", inc); sub(/[>"]$/, "", inc)
	if (inc == "config.h" || (target = resolve(file, inc)) == "") next
	from = layer(file); frank = rank
	to = layer(target); trank = rank
	if (from == "other" || allowed(from, frank, to, trank)) next
	printf "%s: includes %s (%s) from %s: points up a layer\n", loc, inc, to, from
	bad++
}
END {
	if (bad) {
		printf "check-layers: %d include(s) point up a layer (see tests/check-layers.sh)\n", bad
		exit 1
	}
	print "check-layers: every include points down or stays within its layer"
}'
