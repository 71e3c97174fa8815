# `ctl status` shows every layer (attach, hv, vmbus with one entry per
# channel, devices), and each kind of hostile input moves the counter that
# names it.  Counters are compared between snapshots, so a guest's own
# traffic (Linux-style probing, retries) cannot make the test pass or fail.
. ./lib.sh
start_daemon

# snap NAME: saves the status as $T/NAME.json.
snap() { ctl status >"$T/$1.json"; }
# One python3 for many checks: on a loaded machine each process costs.
cat >"$T/check.py" <<'PY'
import json, sys
def get(root, path):
    v = root
    for k in path.split("."):
        try:
            v = v[int(k)] if isinstance(v, list) else v[k]
        except (KeyError, IndexError, ValueError, TypeError):
            return None
    return v
def load(name):
    return json.load(open(name))["result"]
# has A.json PATH...             every PATH is in A
# eq A.json PATH=VALUE...        PATH is VALUE (compared as JSON text)
# moved A.json B.json PATH:N...  PATH grew by at least N from A to B
mode, bad = sys.argv[1], []
if mode == "moved":
    a, b = load(sys.argv[2]), load(sys.argv[3])
    for arg in sys.argv[4:]:
        path, n = arg.rsplit(":", 1)
        x, y = get(a, path), get(b, path)
        if not isinstance(x, int) or not isinstance(y, int) or y < x + int(n):
            bad.append("%s: %s -> %s, wanted +%s" % (path, x, y, n))
else:
    a = load(sys.argv[2])
    for arg in sys.argv[3:]:
        path, _, want = arg.partition("=")
        v = get(a, path)
        text = v if isinstance(v, str) else json.dumps(v)
        if v is None or (mode == "eq" and text != want):
            bad.append("%s is %s%s" % (path, text, ", wanted " + want if mode == "eq" else ""))
for line in bad:
    print(line)
sys.exit(1 if bad else 0)
PY
check() { python3 "$T/check.py" "$@" || fail "status check '$1' failed (above)"; }
post() { # NAME FILE [raw-msg options]
	local name=$1 file=$2; shift 2
	guest raw-msg "$file" "$@" >"$T/$name.out" 2>&1 || true
	daemon_alive
	grep -q '"event":"post"' "$T/$name.out" || { cat "$T/$name.out"; fail "$name: no post event"; }
}

# Every section is there before any guest came, and every channel with
# the name of its device.
snap s0
check has "$T/s0.json" attached generation hv.hypercalls hv.msr_gp hv.synic_not_ready \
	vmbus.state vmbus.malformed vmbus.tl_connects_refused vmbus.opens_refused \
	vmbus.channels.3.relid devices.heartbeat.beats devices.kvp.malformed.total \
	attach.protocol_errors attach.attach_refused
check eq "$T/s0.json" vmbus.channels.0.device=heartbeat vmbus.channels.3.device=kvp

# A clean session: the channels report their state and traffic.
guest run --until-heartbeats 1 >"$T/run.out" || fail "clean run failed"
snap s1
check eq "$T/s1.json" vmbus.channels.0.subchannel=0 vmbus.channels.0.open=false \
	vmbus.channels.0.broken=false vmbus.channels.0.target_vp=0
check moved "$T/s0.json" "$T/s1.json" vmbus.channels.0.packets_in:1 \
	vmbus.channels.0.signals_out:1 vmbus.channels.3.packets_in:1 hv.hypercalls:1 \
	attach.attaches:1

# VMBus refusals.
le32 21 0 0 0 0 0 0 0 0 0 >"$T/tl_connect"        # TL_CONNECT_REQUEST, 40 bytes
post tl_connect "$T/tl_connect"
le32 99 0 >"$T/unknown_type"
post unknown_type "$T/unknown_type"
le32 3 0 >"$T/offers_early"                        # REQUESTOFFERS before contact
post offers_early "$T/offers_early" --no-negotiate
# A GPADL_HEADER whose header is sound but whose page is outside guest RAM:
# refused when its ranges are parsed, and counted as malformed like a bad
# header.  Layout: relid @8, handle @12, range_buflen 16 | rangecount 1 << 16
# @16, byte_count @20, byte_offset @24, PFN @28.
le32 8 0 0 0x5151 65552 4096 0 0x0FFFFFFF 0 >"$T/gpadl_outside"
guest raw-msg --channel heartbeat --patch-u32 8=relid --wait-ms 300 "$T/gpadl_outside" \
	>"$T/gpadl_outside.out" 2>&1 || { cat "$T/gpadl_outside.out"; fail "raw-msg --channel failed"; }
daemon_alive
expect_line "$T/gpadl_outside.out" '"name":"GPADL_CREATED"' '"status":3221225473'
# Hypercall refusals, by cause; each also moves hc_refused.
post oversize "$T/offers_early" --payload-size 241
post bad_type "$T/offers_early" --message-type 0
post bad_conn "$T/offers_early" --conn-id 77
guest raw-hcall --wait-ms 0 --control 7777 >"$T/hc_code.out" 2>&1 || fail "raw-hcall failed"
guest raw-hcall --wait-ms 0 --control 1005d --fast 0x99 >"$T/hc_sig.out" 2>&1 ||
	fail "raw-hcall failed"
daemon_alive
# A corrupt ring: counted for the server and for the channel.
le32 393222 2 0 0 >"$T/huge_len"                   # offset8 6, len8 0xffff
guest raw-ring --class 57164f39-9115-4e78-ab55-382f3bd5422d "$T/huge_len" >/dev/null 2>&1 || true
daemon_alive
# The plugin protocol: a peer sending a header of no known type is dropped.
python3 - "$SOCK" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.sendall(b"\xff" * 16)
s.settimeout(5)
try:
    s.recv(1)   # returns when the daemon hangs up
except OSError:
    pass
PY
daemon_alive
snap s2
check moved "$T/s1.json" "$T/s2.json" vmbus.tl_connects_refused:1 vmbus.malformed:2 \
	vmbus.gpadls_refused:1 vmbus.wrong_state:1 hv.hc_bad_input:2 hv.hc_unknown_conn:2 \
	hv.hc_unknown_code:1 hv.hc_refused:5 \
	vmbus.ring_errors:1 vmbus.channels.0.ring_broken:1 attach.protocol_errors:1

# Still serving, and the device counters move too.  A guest that leaves
# right after its last echo may close its channels before the daemon reads
# that echo (a closed ring is never read again), so the guest waits for
# two beats: the host sends the second only once it has counted the first.
beats=$(jq .result.devices.heartbeat.beats "$T/s2.json")
guest run --until-heartbeats 2 >"$T/after.out" || fail "daemon no longer serves"
ctl wait devices.heartbeat.beats '>=' $((beats + 1)) -t 10 >/dev/null || fail "heartbeats not counted"
stop_daemon

# A multi-channel device: subchannels offered at run time report under the
# device's name in vmbus.channels, and the device lists each channel.
truncate -s 1M "$T/a.img"
echo "{\"devices\":[{\"type\":\"storvsp\",\"name\":\"scsi0\",\"subchannels\":2,
	\"disks\":[{\"path\":\"$T/a.img\"}]}]}" >"$T/c.json"
start_daemon --config "$T/c.json"
"${GUEST[@]}" storvsc --subchannels 2 sleep 20000 >"$T/sc.out" &
G=$!
for _ in $(seq 200); do
	grep -q '"step":"init"' "$T/sc.out" && break
	kill -0 $G 2>/dev/null || { cat "$T/sc.out"; fail "storvsc guest exited early"; }
	sleep 0.05
done
expect_line "$T/sc.out" '"step":"init"' '"ok":true' '"channels":3'
snap s3
check eq "$T/s3.json" vmbus.channels.0.device=scsi0 vmbus.channels.1.device=scsi0 \
	vmbus.channels.2.device=scsi0 vmbus.channels.2.subchannel=2 vmbus.channels.2.open=true \
	devices.scsi0.channels.2.index=2 devices.scsi0.channels.2.open=true
check has "$T/s3.json" devices.scsi0.channels.0.malformed devices.scsi0.malformed \
	devices.scsi0.enumerates devices.scsi0.disks.0.scsi.commands \
	devices.scsi0.disks.0.scsi.blk.refused
kill $G
wait $G 2>/dev/null || true
stop_daemon
