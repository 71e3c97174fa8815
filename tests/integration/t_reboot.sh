# Guest reboots: UNLOAD, then RESET, then a new contact — five times.
. ./lib.sh
start_daemon
guest reboot-cycle 5 >"$T/r.out" || { cat "$T/r.out"; fail "reboot cycle"; }
[ "$(grep -c '"event":"cycle".*"ok":true' "$T/r.out")" = 5 ] || fail "not every cycle ok"
ctl wait vmbus.unloads '>=' 5 -t 2
stop_daemon
