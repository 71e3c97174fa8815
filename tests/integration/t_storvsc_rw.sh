# storvsc data path: patterns written at several LBAs (the first and last
# block included, one write larger than max_transfer_bytes) read back
# verified, and the image file holds exactly those bytes; an LBA past the
# end is CHECK CONDITION ILLEGAL REQUEST / LBA OUT OF RANGE (5/21/00), a
# write to a read-only LUN DATA PROTECT / WRITE PROTECTED (7/27/00).
. ./lib.sh
truncate -s 8M "$T/a.img"          # 16384 blocks of 512
truncate -s 1M "$T/b.img"
cat >"$T/c.json" <<JSON
{"devices":[{"type":"storvsp","subchannels":2,"disks":[
  {"path":"$T/a.img","lun":0},
  {"path":"$T/b.img","lun":1,"readonly":true}]}]}
JSON
start_daemon --config "$T/c.json"
guest storvsc --subchannels 2 \
	capacity 0 blocks=16384 block_size=512 \
	write 0 0 8 0xa5 \
	write 0 1000 3 lba \
	write 0 4000 2400 0x5a \
	write 0 16383 1 lba \
	read-verify 0 0 8 0xa5 \
	read-verify 0 1000 3 lba \
	read-verify 0 4000 2400 0x5a \
	read-verify 0 16383 1 lba \
	read-verify 0 8 992 0 \
	write 0 16384 1 0x11 expect-sense 5/21/00 \
	write 0 16383 2 0x11 expect-sense 5/21/00 \
	read-verify 0 16384 1 0 expect-sense 5/21/00 \
	raw-cdb 0 88000000000000004000000000010000 512 in expect-sense 5/21/00 \
	read-verify 0 16383 1 lba \
	write 1 0 1 0x11 expect-sense 7/27/00 \
	read-verify 1 0 8 0 \
	sync 0 >"$T/out" || { cat "$T/out"; fail "storvsc script failed"; }
expect_event "$T/out" '"event":"storvsc_done","ok":true'
# 2400 blocks = 1200 KiB: more than one 1 MiB request (the default
# max_transfer_bytes).
expect_line "$T/out" '"step":"write"' '"args":["0","4000","2400","0x5a"]' '"requests":2'
stop_daemon

# The expected image, built independently of the guest's pattern code.
truncate -s 8M "$T/exp.img"
bytes 0xa5 4096 | put "$T/exp.img" 0
lba_blocks 1000 3 | put "$T/exp.img" 1000
bytes 0x5a $((2400 * 512)) | put "$T/exp.img" 4000
lba_blocks 16383 1 | put "$T/exp.img" 16383
cmp "$T/a.img" "$T/exp.img" || fail "image differs from what was written"
[ "$(stat -c %s "$T/a.img")" = 8388608 ] || fail "image size changed"
cmp -n 1048576 "$T/b.img" /dev/zero || fail "read-only image was modified"
