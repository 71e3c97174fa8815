#!/bin/bash
# Compile qemu/vmbus.asl into OUTDIR/vmbus.aml (for QEMU's -acpitable file=).
# Usage: qemu/build-ssdt.sh OUTDIR
set -euo pipefail

die() { echo "build-ssdt.sh: $*" >&2; exit 1; }

[ $# -eq 1 ] || die "usage: $0 OUTDIR"
here=$(cd "$(dirname "$0")" && pwd)
out=$1
mkdir -p "$out" || die "cannot create $out"
out=$(cd "$out" && pwd)

if ! command -v iasl >/dev/null 2>&1; then
    sudo=; [ "$(id -u)" -eq 0 ] || sudo=sudo
    echo "build-ssdt.sh: installing acpica-tools for iasl" >&2
    $sudo apt-get install -y acpica-tools >&2 || die "cannot install acpica-tools (iasl)"
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp "$here/vmbus.asl" "$tmp/"
(cd "$tmp" && iasl -p "$tmp/vmbus" vmbus.asl >"$tmp/iasl.log" 2>&1) || {
    cat "$tmp/iasl.log" >&2; die "iasl failed on vmbus.asl"; }
[ -s "$tmp/vmbus.aml" ] || { cat "$tmp/iasl.log" >&2; die "iasl produced no vmbus.aml"; }
mv "$tmp/vmbus.aml" "$out/vmbus.aml"
echo "$out/vmbus.aml"
