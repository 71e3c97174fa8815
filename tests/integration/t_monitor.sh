# Monitored notification (MNF): storage and network are offered with a
# monitor id by default, the ICs not; the host fills the connection id and
# latency of each id in the guest's monitor page; the synthetic guest
# signals the storage channels by the monitor page only (no HvSignalEvent)
# and the I/O completes; the same with HvSignalEvent on the monitored
# channels (Linux's low_latency path); monitor pages at GPA 0 are refused
# and the offers go out unmonitored; "monitor" per device and
# vmbus.monitor_latency_us override the defaults; the scan stops with the
# guest; a guest that waits with its bit set rings the idle doorbell and is
# scanned at once.
. ./lib.sh
truncate -s 4M "$T/a.img"
status_check() {
	"$VMBUSD" ctl -c "$CTL" status >"$T/st.json"
	python3 - "$T/st.json" "$@" <<'PY' || fail "status check failed (above)"
import json, sys
st = json.load(open(sys.argv[1]))
st = st.get("result", st)
vm = st["vmbus"]
chans = {}
for c in vm["channels"]:
    chans.setdefault(c["device"], []).append(c)
env = {"vm": vm, "mon": vm["monitor"], "ch": chans,
       "sum": lambda dev, key: sum(c[key] for c in chans[dev])}
for expr in sys.argv[2:]:
    if not eval(expr, env):
        print("FAILED:", expr, json.dumps(vm["monitor"]), json.dumps(
            [{k: c[k] for k in ("device", "relid", "monitor_id", "monitored", "signals_in",
                                "monitor_signals_in")} for c in vm["channels"]]))
        sys.exit(1)
PY
}

cat >"$T/c.json" <<JSON
{"devices":[
  {"type":"heartbeat"},
  {"type":"storvsp","name":"disk","subchannels":1,"disks":[{"path":"$T/a.img","lun":0}]},
  {"type":"netvsp","name":"nic","mac":"00:15:5d:00:00:20","backend":{"kind":"null"}}]}
JSON
start_daemon --config "$T/c.json"
guest negotiate >"$T/o.out"
# Defaults as Hyper-V: storage and network monitored, the IC not; the page
# holds each id's connection id and the default latency (100 us = 1000).
expect_line "$T/o.out" '"event":"offer"' '"device":"heartbeat"' '"monitor_allocated":false'
expect_line "$T/o.out" '"event":"offer"' '"device":"scsi"' '"monitor_allocated":true' \
	'"monitor_latency":1000'
expect_line "$T/o.out" '"event":"offer"' '"device":"network"' '"monitor_allocated":true'
python3 - "$T/o.out" <<'PY' || fail "monitor page entries do not match the offers"
import json, sys
ids = set()
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e.get("event") != "offer" or not e["monitor_allocated"]:
        continue
    assert e["monitor_conn_id"] == e["conn_id"], e
    assert e["monitorid"] not in ids, e
    ids.add(e["monitorid"])
assert len(ids) == 2, ids
PY

# Storage I/O with the monitor page as the only guest->host signal.
guest storvsc --subchannels 1 write 0 0 64 0xa5 read-verify 0 0 64 0xa5 write 0 100 8 lba \
	read-verify 0 100 8 lba sync 0 >"$T/s1.out" || { cat "$T/s1.out"; fail "storvsc over MNF failed"; }
expect_event "$T/s1.out" '"event":"storvsc_done","ok":true'
# The subchannel the guest asked for took its primary's monitor choice.
expect_line "$T/s1.out" '"event":"offer"' '"subchannel":1' '"monitor_allocated":true'
# The synthetic guest checks the idle watch whenever it waits, as QEMU does
# when a vCPU halts: its requests are found by doorbell scans, not ticks.
status_check 'all(c["monitor_id"] >= 0 for c in ch["disk"])' \
	'sum("disk", "monitor_signals_in") >= 4' 'sum("disk", "signals_in") == 0' \
	'vm["monitor_idle_scans"] >= 4' \
	'vm["monitor_signals"] >= 4' 'vm["monitor_stray"] == 0' 'vm["monitor_scans"] > 0' \
	'vm["monitor_pages_refused"] == 0' 'ch["heartbeat"][0]["monitor_id"] == -1' \
	'mon["period_us"] == 0' 'not mon["pages"]'
daemon_alive

# HvSignalEvent on a monitored channel still works (Linux low_latency).
guest --monitor-hypercall storvsc write 0 200 8 0x3c read-verify 0 200 8 0x3c >"$T/s2.out" ||
	{ cat "$T/s2.out"; fail "storvsc by hypercall on a monitored channel failed"; }
expect_event "$T/s2.out" '"event":"storvsc_done","ok":true'
status_check 'sum("disk", "signals_in") >= 2'

# Monitor pages at GPA 0: refused, counted, offers unmonitored, I/O by hypercall.
guest --no-monitor-pages storvsc write 0 300 8 0x77 read-verify 0 300 8 0x77 >"$T/s3.out" ||
	{ cat "$T/s3.out"; fail "storvsc without monitor pages failed"; }
expect_event "$T/s3.out" '"event":"storvsc_done","ok":true'
guest --no-monitor-pages negotiate >"$T/o3.out"
grep -q '"monitor_allocated":true' "$T/o3.out" && fail "monitored offer without usable monitor pages"
status_check 'vm["monitor_pages_refused"] >= 2'
stop_daemon

# "monitor" per device and the latency override.
cat >"$T/c2.json" <<JSON
{"vmbus":{"monitor_latency_us":500,"monitor_idle_us":3000},
 "devices":[
  {"type":"heartbeat","monitor":true},
  {"type":"storvsp","name":"disk","monitor":false,"disks":[{"path":"$T/a.img","lun":0}]}]}
JSON
start_daemon --config "$T/c2.json"
guest negotiate >"$T/o4.out"
expect_line "$T/o4.out" '"event":"offer"' '"device":"heartbeat"' '"monitor_allocated":true' \
	'"monitor_latency":5000'
expect_line "$T/o4.out" '"event":"offer"' '"device":"scsi"' '"monitor_allocated":false'
# The heartbeat IC served over the monitor page (the guest answers the
# host's heartbeats, each answer a monitor-page signal).
guest run --until-heartbeats 3 >"$T/hb.out" || { cat "$T/hb.out"; fail "heartbeat over MNF failed"; }
status_check 'ch["heartbeat"][0]["monitor_signals_in"] >= 1' 'ch["heartbeat"][0]["signals_in"] == 0' \
	'mon["latency_us"] == 500' 'mon["idle_us"] == 3000'
stop_daemon

# Bad values are configuration errors.
echo '{"vmbus":{"monitor_latency_us":1}}' >"$T/bad.json"
"$VMBUSD" serve --socket "$T/x.sock" --config "$T/bad.json" >"$T/bad.out" 2>&1 && fail "latency 1 accepted"
grep -q 'vmbus.monitor_latency_us' "$T/bad.out" || { cat "$T/bad.out"; fail "no error naming the key"; }
echo '{"devices":[{"type":"heartbeat","monitor":"yes"}]}' >"$T/bad2.json"
"$VMBUSD" serve --socket "$T/x.sock" --config "$T/bad2.json" >"$T/bad2.out" 2>&1 && fail "monitor \"yes\" accepted"
grep -q 'devices\[0\].monitor' "$T/bad2.out" || { cat "$T/bad2.out"; fail "no error naming the key"; }
true
