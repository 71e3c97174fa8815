# storvsc: init (version 6.2, subchannels), INQUIRY identity, the serial in
# VPD 0x80, PQ=3 for a missing LUN and for the other (empty) targets,
# REPORT LUNS listing exactly the configured LUNs, READ CAPACITY(16) equal
# to the image sizes, the write-protect bit of a read-only LUN.
. ./lib.sh
truncate -s 16M "$T/a.img"
truncate -s 3M "$T/b.img"
cat >"$T/c.json" <<JSON
{"devices":[{"type":"storvsp","subchannels":2,"disks":[
  {"path":"$T/a.img","serial":"SER-A","lun":0},
  {"path":"$T/b.img","lun":1,"readonly":true}]}]}
JSON
start_daemon --config "$T/c.json"
guest storvsc --subchannels 2 \
	inquiry 0 vendor=Msft "product=Virtual Disk" byte0=0 \
	inquiry-vpd 0 0x00 \
	inquiry-vpd 0 0x80 serial=SER-A \
	inquiry-vpd 0 0x83 \
	inquiry 1 vendor=Msft byte0=0 \
	inquiry 2 byte0=0x7f \
	inquiry 200 byte0=0x7f \
	inquiry-vpd 2 0x80 expect-sense 5/24/00 \
	tur 2 expect-srb 20 \
	inquiry 0:1:0 byte0=0x7f \
	inquiry 3:0:0 byte0=0x7f \
	tur 1:1:0 expect-srb 20 \
	report-luns luns=0,1 \
	capacity 0 bytes="$(stat -c %s "$T/a.img")" block_size=512 \
	capacity 1 bytes="$(stat -c %s "$T/b.img")" \
	mode-sense 0 wp=0 \
	mode-sense 1 wp=1 \
	tur 0 tur 1 >"$T/out" || { cat "$T/out"; fail "storvsc script failed"; }
expect_line "$T/out" '"step":"init"' '"ok":true' '"version":"6.2"' '"subchannels":2' '"channels":3'
expect_line "$T/out" '"step":"inquiry-vpd"' '"serial":"SER-A"'
expect_line "$T/out" '"step":"report-luns"' '"luns":[0,1]'
expect_event "$T/out" '"event":"storvsc_done","ok":true'
grep -q '"event":"error"' "$T/out" && fail "error events"
daemon_alive
# The controller answered every command and refused none.
st=$(ctl status)
[ "$(jq '.result.devices.storvsp.malformed' <<<"$st")" = 0 ] || fail "malformed packets counted: $st"
stop_daemon
