# The benchmark device moves exactly what it is asked to, both directions,
# including packets that wrap the ring end.
. ./lib.sh
echo '{"devices":[{"type":"bench"}]}' >"$T/c.json"
start_daemon --config "$T/c.json"
guest bench --size 1500 --count 20000 --direction g2h >"$T/b.out" || fail "g2h"
# VMBus pads every payload to 8 bytes: 1500 -> 1504 on the wire.
expect_event "$T/b.out" '"rx_packets":20000,"rx_bytes":30080000'
guest bench --size 65536 --count 200 --direction h2g --ring-kib 196 >"$T/b2.out" || fail "h2g wrap"
expect_event "$T/b2.out" '"packets":200,"bytes":13107200'
expect_event "$T/b2.out" '"tx_packets":200'
stop_daemon
# Without polling the host sleeps on every empty ring and the guest signals
# it again: the same packets arrive, with more signals.
echo '{"devices":[{"type":"bench","poll_us":0}]}' >"$T/c0.json"
start_daemon --config "$T/c0.json"
guest bench --size 64 --count 20000 --direction g2h >"$T/b3.out" || fail "g2h without polling"
expect_event "$T/b3.out" '"rx_packets":20000,"rx_bytes":1280000'
stop_daemon
