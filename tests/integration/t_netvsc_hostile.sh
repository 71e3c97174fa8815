# netvsc, hostile: packets written raw into a synthetic NIC's ring after a
# valid NVSP INIT: CVE-2021-28476's shape (NVSP 107, channel type 1, send
# section 0xFFFFFFFF, the RNDIS message in GPA-direct pages, here outside
# guest RAM), a send-section index past any send buffer, a completion for a
# receive slot never handed out, a truncated NDIS_CONFIG.  Each is refused
# and counted; the daemon keeps serving and the NIC comes up afterwards.
. ./lib.sh
cat >"$T/c.json" <<JSON
{"devices":[{"type":"netvsp","name":"n0","backend":{"kind":"null"}}]}
JSON
start_daemon --config "$T/c.json"
nic=f8615163-df3e-46c5-913f-f2d2f965ed0e
# Little-endian u32s in one process (perl-base is essential in Debian).
le32() { perl -e 'print pack("V*", @ARGV)' "$@"; }
{
	# INIT 6.1: inband (6), offset8 2, len8 7, completion requested, trans_id 1
	le32 131078 65543 1 0   1 393217 393217 0 0 0 0 0 0 0   0 0
	# CVE shape: GPA-direct (9), offset8 5, len8 10; 1 range of 28 bytes at a
	# page far outside RAM; NVSP 107, channel 1, section 0xFFFFFFFF
	le32 327689 65546 2 0   0 1 28 0 2147483647 0   107 1 4294967295 0 0 0 0 0 0 0   0 0
	# NVSP 107 inband with send-section 0x7FFFFFFF (there is no send buffer)
	le32 131078 65543 3 0   107 1 2147483647 64 0 0 0 0 0 0   0 0
	# A completion (11) of a transfer-page packet never sent
	le32 131083 3 57005 0   108 1   0 0
	# NDIS_CONFIG cut to 8 bytes
	le32 131078 65539 5 0   125 1   0 0
} >"$T/hostile"
guest raw-ring --class "$nic" --ring-kib 64 "$T/hostile" >"$T/out" 2>&1 || true
daemon_alive
st=$(ctl status)
m=$(jq '.result.devices.n0.malformed' <<<"$st")
[ "$m" -ge 3 ] || fail "hostile packets not counted as malformed ($m): $st"
# Still serving: the synthetic hv_netvsc brings the NIC up.
guest netvsc --frames 0 >"$T/up" || { cat "$T/up"; fail "NIC does not come up after hostile input"; }
expect_event "$T/up" '"event":"netvsc_up","ok":true'
daemon_alive
stop_daemon
