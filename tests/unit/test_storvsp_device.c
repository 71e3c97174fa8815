/* SPDX-License-Identifier: MIT */
/*
 * storvsp: the device end to end over a real channel
 * (tests/unit/vmbus_harness.h plays the guest's ring side; a raw image in
 * /tmp is the disk).  The pure protocol is test_storvsp_proto's.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "core/fault.h"
#include "core/util.h"
#include "devices/registry.h"
#include "devices/storvsp/storvsp_internal.h"
#include "storvsp_fixture.h"
#include "vmbus_harness.h"

/* ---- the device over a real channel ------------------------------------------ */

#define DISK_SECTORS 2048u
static char disk_path[64];
static struct event_base *base;
static struct th T;
static void *dev;

static int ctl_status = -1;
static json_t *ctl_result;

static void ctl_done(void *cookie, int status, json_t *result)
{
	ctl_status = status;
	json_decref(ctl_result);
	ctl_result = result;
}

static void device_setup(const char *config_text, struct json_err *err, int *rc)
{
	struct vmbus_server_config vcfg = { 0 };
	json_error_t jerr;
	json_t *cfg;

	ck_assert_int_eq(th_init(&T, 2, 0), 0);
	/* The harness's server has no event base; the block backend needs one. */
	vmbus_server_free(T.srv);
	base = event_base_new();
	T.srv = vmbus_server_new(T.hv, base, &vcfg);
	ck_assert_ptr_nonnull(T.srv);
	cfg = json_loads(config_text, 0, &jerr);
	ck_assert_ptr_nonnull(cfg);
	*rc = storvsp_ops.create(T.srv, cfg, "devices[0]", &dev, err);
	json_decref(cfg);
}

static void device_teardown(void)
{
	if (dev)
		storvsp_ops.destroy(dev);
	dev = NULL;
	th_fini(&T);
	event_base_free(base);
}

static void make_disk(void)
{
	uint8_t sector[512];
	int fd;

	snprintf(disk_path, sizeof(disk_path), "/tmp/test_storvsp_%d.img", (int)getpid());
	fd = open(disk_path, O_CREAT | O_TRUNC | O_RDWR, 0600);
	ck_assert_int_ge(fd, 0);
	for (uint32_t i = 0; i < DISK_SECTORS; i++) {
		memset(sector, (int)(i & 0xFF), sizeof(sector));
		ck_assert_int_eq(write(fd, sector, sizeof(sector)), (int)sizeof(sector));
	}
	close(fd);
}

/* Writes one guest packet, signals, and lets the device run. */
static void guest_send(struct tg_chan *c, uint16_t type, uint64_t tid, const void *raw_hdr,
		       uint32_t hdr_len, const struct vstor_packet *p)
{
	uint8_t buf[1024];
	uint32_t total = (hdr_len + sizeof(*p) + 7) & ~7u;
	struct vmpacket_descriptor d = {
		.type = type, .offset8 = (uint16_t)(hdr_len / 8), .len8 = (uint16_t)(total / 8),
		.flags = 1, .trans_id = tid,
	};
	uint64_t trailer = 0;

	memset(buf, 0, sizeof(buf));
	if (hdr_len > 16)
		memcpy(buf, raw_hdr, hdr_len);
	memcpy(buf, &d, 16);
	memcpy(buf + hdr_len, p, sizeof(*p));
	memcpy(buf + total, &trailer, 8);
	ck_assert_int_ge(tg_write_raw(&T, c, buf, total + 8), 0);
	th_signal(&T, 0, c->conn_id);
}

/* Runs the loop until a completion arrives (or gives up). */
static int guest_recv(struct tg_chan *c, struct vstor_packet *p, struct vmpacket_descriptor *d)
{
	uint8_t buf[256];
	int len = 0;

	for (int i = 0; i < 2000 && (len = tg_read(&T, c, buf, sizeof(buf), d)) == 0; i++) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		usleep(500);
	}
	if (len > 0)
		memcpy(p, buf + d->offset8 * 8, sizeof(*p));
	return len;
}

static void guest_init_op(struct tg_chan *c, uint32_t op, uint16_t arg, struct vstor_packet *out)
{
	struct vstor_packet p = pkt_op(op);
	struct vmpacket_descriptor d;

	p.version.major_minor = arg; /* also sub_channel_count: same offset */
	guest_send(c, VM_PKT_DATA_INBAND, STORVSC_RQST_INIT, NULL, 16, &p);
	ck_assert_int_eq(guest_recv(c, out, &d), 80);
	ck_assert_uint_eq(d.type, VM_PKT_COMP);
	ck_assert_uint_eq(d.trans_id, STORVSC_RQST_INIT);
	ck_assert_uint_eq(d.offset8, 2);
	ck_assert_uint_eq(out->operation, VSTOR_OP_COMPLETE_IO);
}

static void guest_open_primary(struct tg_chan *c, int *n_offers)
{
	struct vmbus_msg_offer_channel offers[4];

	ck_assert_int_eq(th_connect(&T, VMBUS_VERSION_WIN10_V5_2), 1);
	*n_offers = th_request_offers(&T, offers, 4);
	ck_assert_int_eq(*n_offers, 1);
	ck_assert_uint_eq(offers[0].sub_channel_index, 0);
	ck_assert_int_eq(tg_open(&T, c, offers[0].child_relid, 0x100, 32, 32, 0, 0), 0);
}

static uint8_t srb_target; /* target_id of the next guest_srb() */

/* An EXECUTE_SRB over `len` bytes of guest RAM at gpa (GPA-direct), or
 * inband when len == 0. */
static void guest_srb(struct tg_chan *c, uint64_t tid, const uint8_t *cdb, uint8_t cdb_len,
		      uint8_t data_in, uint64_t gpa, uint32_t len, uint8_t lun)
{
	struct vstor_packet p = pkt_op(VSTOR_OP_EXECUTE_SRB);
	uint8_t hdr[16 + 16 + 8 * 8];
	uint32_t pages = (uint32_t)((len + 4095) / 4096);

	p.vm_srb.length = sizeof(struct vmscsi_request);
	p.vm_srb.lun = lun;
	p.vm_srb.target_id = srb_target;
	p.vm_srb.cdb_length = cdb_len;
	p.vm_srb.sense_info_length = VSTOR_SENSE_SIZE;
	p.vm_srb.data_in = data_in;
	p.vm_srb.data_transfer_length = len;
	memcpy(p.vm_srb.cdb, cdb, cdb_len);
	if (len == 0) {
		guest_send(c, VM_PKT_DATA_INBAND, tid, NULL, 16, &p);
		return;
	}
	memset(hdr, 0, sizeof(hdr));
	{
		uint32_t rc = 1, off = 0;

		memcpy(hdr + 20, &rc, 4);
		memcpy(hdr + 24, &len, 4);
		memcpy(hdr + 28, &off, 4);
		for (uint32_t i = 0; i < pages; i++) {
			uint64_t pfn = (gpa >> 12) + i;

			memcpy(hdr + 32 + 8 * i, &pfn, 8);
		}
	}
	guest_send(c, VM_PKT_DATA_USING_GPA_DIRECT, tid, hdr, 32 + 8 * pages, &p);
}

static void guest_init_controller(struct tg_chan *c)
{
	struct vstor_packet r;

	guest_init_op(c, VSTOR_OP_BEGIN_INITIALIZATION, 0, &r);
	guest_init_op(c, VSTOR_OP_QUERY_PROTOCOL_VERSION, VMSTOR_PROTO_VERSION_WIN10, &r);
	ck_assert_uint_eq(r.status, 0);
	guest_init_op(c, VSTOR_OP_QUERY_PROPERTIES, 0, &r);
	guest_init_op(c, VSTOR_OP_END_INITIALIZATION, 0, &r);
	ck_assert_uint_eq(r.status, 0);
}

/* Runs the loop for about ms milliseconds. */
static void run_loop_ms(int ms)
{
	uint64_t end = now_ns() + (uint64_t)ms * 1000000ull;

	while (now_ns() < end) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		usleep(1000);
	}
}

/* The guest's pages after a close are the guest's: six slow READs (the
 * "blk.delay" fault point: 2 s each, four workers) are in flight when the
 * guest closes the channel, or when the whole VMBus is reset (a guest
 * reboot, a frontend detaching).  When the close returns each page holds
 * either what it held before (the request had not started: cancelled) or
 * the disk data (its read was running: waited for), and it never changes
 * again, although every completion arrives seconds later. */
static void close_with_slow_reads(bool reset)
{
	static const uint8_t sector_of_page[6] = { 0, 8, 16, 24, 32, 40 };
	struct json_err err = { "" };
	struct tg_chan c;
	uint8_t snap[6][4096];
	char cfg[256];
	uint64_t buf;
	uint8_t *mem;
	int rc, n, untouched = 0;

	make_disk();
	snprintf(cfg, sizeof(cfg), "{\"disks\": [{\"path\": \"%s\", \"format\": \"raw\"}]}",
		 disk_path);
	device_setup(cfg, &err, &rc);
	ck_assert_msg(rc == 0, "%s", err.msg);
	guest_open_primary(&c, &n);
	guest_init_controller(&c);
	buf = th_alloc(&T, 6);
	mem = th_ptr(&T, buf, 6 * 4096);
	memset(mem, 0x5A, 6 * 4096);
	ck_assert_int_eq(fault_arm("blk.delay", 0, 0), 0);
	for (int k = 0; k < 6; k++) {
		uint8_t read10[10] = { 0x28, 0, 0, 0, 0, sector_of_page[k], 0, 0, 8, 0 };

		guest_srb(&c, 100 + (uint64_t)k, read10, 10, VSTOR_DATA_IN, buf + 4096u * k, 4096, 0);
	}
	fault_disarm_all();
	run_loop_ms(300);   /* the workers take the first four */
	if (reset) {
		vmbus_server_reset(T.srv);
	} else {
		struct vmbus_msg_relid close = { .header.msgtype = CHANNELMSG_CLOSECHANNEL,
						 .child_relid = c.relid };

		th_post(&T, 0, VMBUS_MESSAGE_CONNECTION_ID, &close, sizeof(close));
	}
	memcpy(snap, mem, sizeof(snap));
	for (int k = 0; k < 6; k++) {
		uint8_t want[4096];

		if (mem[4096 * k] == 0x5A && mem[4096 * k + 4095] == 0x5A) {
			untouched++;
			continue;
		}
		for (int s = 0; s < 8; s++)
			memset(want + 512 * s, (sector_of_page[k] + s) & 0xFF, 512);
		ck_assert_msg(!memcmp(mem + 4096 * k, want, 4096), "page %d is neither old nor disk data",
			      k);
	}
	ck_assert_int_ge(untouched, 2);   /* 4 and 5 waited behind four 2 s reads */
	run_loop_ms(2500);                 /* every completion arrives (and is dropped) */
	ck_assert_msg(!memcmp(snap, mem, sizeof(snap)), "guest memory changed after the %s",
		      reset ? "reset" : "close");
	device_teardown();
	unlink(disk_path);
}

START_TEST(test_device_close_cancels_io)
{
	close_with_slow_reads(false);
}
END_TEST

START_TEST(test_device_reset_cancels_io)
{
	close_with_slow_reads(true);
}
END_TEST

START_TEST(test_device_config_errors)
{
	struct json_err err = { "" };
	int rc;

	device_setup("{\"disks\": [{\"path\": \"/nonexistent/x.img\", \"format\": \"raw\"}]}", &err,
		     &rc);
	ck_assert_int_ne(rc, 0);
	ck_assert_msg(strstr(err.msg, "devices[0].disks[0].path: /nonexistent/x.img") != NULL,
		      "%s", err.msg);
	device_teardown();
	device_setup("{\"subchannels\": 65}", &err, &rc);
	ck_assert_int_ne(rc, 0);
	ck_assert_msg(strstr(err.msg, "devices[0].subchannels") != NULL, "%s", err.msg);
	device_teardown();
	device_setup("{\"max_transfer_bytes\": 5000}", &err, &rc);
	ck_assert_msg(strstr(err.msg, "devices[0].max_transfer_bytes") != NULL, "%s", err.msg);
	device_teardown();
	device_setup("{\"disk\": []}", &err, &rc);
	ck_assert_msg(strstr(err.msg, "devices[0].disk: unknown key") != NULL, "%s", err.msg);
	device_teardown();
	device_setup("{\"class\": \"sata\"}", &err, &rc);
	ck_assert_msg(strstr(err.msg, "devices[0].class") != NULL, "%s", err.msg);
	device_teardown();
	device_setup("{\"class\": \"ide\", \"subchannels\": 2}", &err, &rc);
	ck_assert_msg(strstr(err.msg, "devices[0].subchannels") != NULL, "%s", err.msg);
	device_teardown();
	/* Linux adds an IDE disk at target = instance bytes 4-5: must be 0. */
	device_setup("{\"class\": \"ide\", \"instance\": \"11111111-2222-3333-4444-555555555555\"}",
		     &err, &rc);
	ck_assert_msg(strstr(err.msg, "devices[0].instance") != NULL, "%s", err.msg);
	device_teardown();
	device_setup("{\"class\": \"ide\"}", &err, &rc);
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(storvsp_ops.control(dev, "add-disk", NULL, ctl_done, NULL, &err), -EINVAL);
	device_teardown();
	make_disk();
	{
		char cfg[256];

		snprintf(cfg, sizeof(cfg),
			 "{\"disks\": [{\"path\": \"%s\", \"format\": \"raw\", \"lun\": 1},"
			 " {\"path\": \"%s\", \"format\": \"raw\", \"lun\": 1}]}", disk_path, disk_path);
		device_setup(cfg, &err, &rc);
		ck_assert_int_ne(rc, 0);
		ck_assert_msg(strstr(err.msg, "devices[0].disks[1].lun") != NULL, "%s", err.msg);
		device_teardown();
	}
	unlink(disk_path);
}
END_TEST

START_TEST(test_device_end_to_end)
{
	static const uint8_t inquiry[6] = { 0x12, 0, 0, 0, 36, 0 };
	static const uint8_t tur[6] = { 0 };
	struct json_err err = { "" };
	struct tg_chan c;
	struct vstor_packet r;
	struct vmpacket_descriptor d;
	char cfg[256];
	uint64_t buf;
	uint8_t *mem;
	int rc, n;

	make_disk();
	snprintf(cfg, sizeof(cfg),
		 "{\"subchannels\": 2, \"disks\": [{\"path\": \"%s\", \"format\": \"raw\", \"lun\": 0}]}",
		 disk_path);
	device_setup(cfg, &err, &rc);
	ck_assert_msg(rc == 0, "%s", err.msg);
	guest_open_primary(&c, &n);

	/* The Linux 6.1 init sequence, packet for packet. */
	guest_init_op(&c, VSTOR_OP_BEGIN_INITIALIZATION, 0, &r);
	ck_assert_uint_eq(r.status, 0);
	guest_init_op(&c, VSTOR_OP_QUERY_PROTOCOL_VERSION, VMSTOR_PROTO_VERSION_WIN10, &r);
	ck_assert_uint_eq(r.status, 0);
	guest_init_op(&c, VSTOR_OP_QUERY_PROPERTIES, 0, &r);
	ck_assert_uint_eq(r.status, 0);
	ck_assert_uint_eq(r.properties.max_transfer_bytes, 0x100000);
	ck_assert_uint_eq(r.properties.flags, 1);
	ck_assert_uint_eq(r.properties.max_channel_cnt, 2);
	guest_init_op(&c, VSTOR_OP_END_INITIALIZATION, 0, &r);
	ck_assert_uint_eq(r.status, 0);
	guest_init_op(&c, VSTOR_OP_CREATE_SUB_CHANNELS, 2, &r);
	ck_assert_uint_eq(r.status, 0);
	/* Two OFFERCHANNELs with the same GUIDs, indices 1 and 2. */
	{
		struct vmbus_msg_offer_channel o;
		uint32_t type;
		int subs = 0;

		while ((type = th_recv(&T, 0, &o, NULL)) != 0) {
			if (type != CHANNELMSG_OFFERCHANNEL)
				continue;
			subs++;
			ck_assert_uint_eq(o.sub_channel_index, (uint16_t)subs);
		}
		ck_assert_int_eq(subs, 2);
	}

	/* INQUIRY on LUN 0 into guest RAM. */
	buf = th_alloc(&T, 4);
	mem = th_ptr(&T, buf, 4 * 4096);
	guest_srb(&c, 7, inquiry, 6, VSTOR_DATA_IN, buf, 36, 0);
	ck_assert_int_eq(guest_recv(&c, &r, &d), 80);
	ck_assert_uint_eq(d.type, VM_PKT_COMP);
	ck_assert_uint_eq(d.trans_id, 7);
	ck_assert_uint_eq(r.vm_srb.srb_status, SRB_STATUS_SUCCESS);
	ck_assert_uint_eq(r.vm_srb.data_transfer_length, 36);
	ck_assert_uint_eq(mem[0] & 0x1F, 0);        /* direct-access block device */
	/* INQUIRY on a LUN that is not there: PQ=3 PDT=0x1F. */
	memset(mem, 0, 64);
	guest_srb(&c, 8, inquiry, 6, VSTOR_DATA_IN, buf, 36, 5);
	ck_assert_int_eq(guest_recv(&c, &r, &d), 80);
	ck_assert_uint_eq(r.vm_srb.srb_status, SRB_STATUS_SUCCESS);
	ck_assert_uint_eq(mem[0], 0x7F);
	/* ... and on LUN 0 of another target (Linux scans targets 0-1). */
	memset(mem, 0, 64);
	srb_target = 1;
	guest_srb(&c, 80, inquiry, 6, VSTOR_DATA_IN, buf, 36, 0);
	ck_assert_int_eq(guest_recv(&c, &r, &d), 80);
	ck_assert_uint_eq(r.vm_srb.srb_status, SRB_STATUS_SUCCESS);
	ck_assert_uint_eq(r.vm_srb.target_id, 1);
	ck_assert_uint_eq(mem[0], 0x7F);
	srb_target = 0;
	/* LUN 255 (the largest the guest can address). */
	guest_srb(&c, 81, tur, 6, VSTOR_DATA_UNKNOWN, 0, 0, 255);
	ck_assert_int_eq(guest_recv(&c, &r, &d), 80);
	ck_assert_uint_eq(r.vm_srb.srb_status, SRB_STATUS_INVALID_LUN);
	/* TEST UNIT READY to a missing LUN: INVALID_LUN. */
	guest_srb(&c, 9, tur, 6, VSTOR_DATA_UNKNOWN, 0, 0, 5);
	ck_assert_int_eq(guest_recv(&c, &r, &d), 80);
	ck_assert_uint_eq(r.vm_srb.srb_status, SRB_STATUS_INVALID_LUN);
	/* READ(10) of sectors 1..8 straight into guest RAM. */
	{
		static const uint8_t read10[10] = { 0x28, 0, 0, 0, 0, 1, 0, 0, 8, 0 };
		static const uint8_t write10[10] = { 0x2A, 0, 0, 0, 0, 3, 0, 0, 1, 0 };

		memset(mem, 0xEE, 4 * 4096);
		guest_srb(&c, 10, read10, 10, VSTOR_DATA_IN, buf, 4096, 0);
		ck_assert_int_eq(guest_recv(&c, &r, &d), 80);
		ck_assert_uint_eq(d.trans_id, 10);
		ck_assert_uint_eq(r.vm_srb.srb_status, SRB_STATUS_SUCCESS);
		ck_assert_uint_eq(r.vm_srb.data_transfer_length, 4096);
		for (int s = 0; s < 8; s++)
			ck_assert_uint_eq(mem[s * 512 + 100], (uint8_t)(s + 1));
		/* WRITE(10) of sector 3, then read it back. */
		memset(mem, 0xA5, 512);
		guest_srb(&c, 11, write10, 10, VSTOR_DATA_OUT, buf, 512, 0);
		ck_assert_int_eq(guest_recv(&c, &r, &d), 80);
		ck_assert_uint_eq(r.vm_srb.srb_status, SRB_STATUS_SUCCESS);
		ck_assert_uint_eq(r.vm_srb.data_transfer_length, 512);
		memset(mem, 0, 4096);
		guest_srb(&c, 12, read10, 10, VSTOR_DATA_IN, buf, 4096, 0);
		ck_assert_int_eq(guest_recv(&c, &r, &d), 80);
		ck_assert_uint_eq(mem[2 * 512], 0xA5);
		ck_assert_uint_eq(mem[1 * 512], 2);
	}
	/* A malformed SRB is answered and the device keeps serving. */
	{
		static const uint8_t bad[6] = { 0x12, 0, 0, 0, 36, 0 };

		guest_srb(&c, 13, bad, 0, VSTOR_DATA_IN, buf, 36, 0);
		ck_assert_int_eq(guest_recv(&c, &r, &d), 80);
		ck_assert_uint_eq(d.trans_id, 13);
		ck_assert_uint_eq(r.vm_srb.srb_status, SRB_STATUS_INVALID_REQUEST);
		guest_srb(&c, 14, tur, 6, VSTOR_DATA_UNKNOWN, 0, 0, 0);
		ck_assert_int_eq(guest_recv(&c, &r, &d), 80);
		ck_assert_uint_eq(d.trans_id, 14);
	}
	/* Hot-add: the guest gets an unsolicited ENUMERATE_BUS (trans_id 0). */
	{
		json_t *args = json_pack("{s:s,s:s,s:i}", "path", disk_path, "format", "raw", "lun", 4);

		ck_assert_int_eq(storvsp_ops.control(dev, "add-disk", args, ctl_done, NULL, &err), 0);
		json_decref(args);
		ck_assert_int_eq(ctl_status, 0);
		ck_assert_int_eq(json_integer_value(json_object_get(ctl_result, "lun")), 4);
	}
	ck_assert_int_eq(guest_recv(&c, &r, &d), 80);
	ck_assert_uint_eq(d.type, VM_PKT_DATA_INBAND);
	ck_assert_uint_eq(d.trans_id, 0);
	ck_assert_uint_eq(r.operation, VSTOR_OP_ENUMERATE_BUS);
	device_teardown();
	unlink(disk_path);
}
END_TEST

/* Creates the device with one disk at LUN 0, opens the primary with
 * `in_pages` host->guest ring pages and runs Linux's init up to END. */
static void device_ready(struct tg_chan *c, unsigned int subchannels, uint32_t in_pages)
{
	struct json_err err = { "" };
	struct vstor_packet r;
	struct vmbus_msg_offer_channel offers[2];
	char cfg[256];
	int rc;

	make_disk();
	snprintf(cfg, sizeof(cfg),
		 "{\"subchannels\": %u, \"disks\": [{\"path\": \"%s\", \"format\": \"raw\"}]}",
		 subchannels, disk_path);
	device_setup(cfg, &err, &rc);
	ck_assert_msg(rc == 0, "%s", err.msg);
	ck_assert_int_eq(th_connect(&T, VMBUS_VERSION_WIN10_V5_2), 1);
	ck_assert_int_eq(th_request_offers(&T, offers, 2), 1);
	ck_assert_int_eq(tg_open(&T, c, offers[0].child_relid, 0x100, 8, in_pages, 0, 0), 0);
	guest_init_op(c, VSTOR_OP_BEGIN_INITIALIZATION, 0, &r);
	guest_init_op(c, VSTOR_OP_QUERY_PROTOCOL_VERSION, VMSTOR_PROTO_VERSION_WIN10, &r);
	ck_assert_uint_eq(r.status, 0);
	guest_init_op(c, VSTOR_OP_QUERY_PROPERTIES, 0, &r);
	guest_init_op(c, VSTOR_OP_END_INITIALIZATION, 0, &r);
	ck_assert_uint_eq(r.status, 0);
}

static json_t *device_chan_stats(unsigned int index)
{
	json_t *st = storvsp_ops.stats(dev);
	json_t *ch = json_incref(json_array_get(json_object_get(st, "channels"), index));

	json_decref(st);
	return ch;
}

START_TEST(test_device_subchannel_io_and_close)
{
	static const uint8_t read10[10] = { 0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0 };
	struct tg_chan c, sc;
	struct vstor_packet r;
	struct vmpacket_descriptor d;
	struct vmbus_msg_offer_channel o;
	uint32_t type, sub_relid = 0;
	struct vmbus_msg_relid close = { .header.msgtype = CHANNELMSG_CLOSECHANNEL };
	uint64_t buf;
	int rescinds = 0;
	json_t *st;

	device_ready(&c, 1, 8);
	guest_init_op(&c, VSTOR_OP_CREATE_SUB_CHANNELS, 1, &r);
	ck_assert_uint_eq(r.status, 0);
	while ((type = th_recv(&T, 0, &o, NULL)) != 0)
		if (type == CHANNELMSG_OFFERCHANNEL)
			sub_relid = o.child_relid;
	ck_assert_uint_ne(sub_relid, 0);
	ck_assert_int_eq(tg_open(&T, &sc, sub_relid, 0x200, 8, 8, 1, 0), 0);
	/* I/O on the subchannel completes on the subchannel. */
	buf = th_alloc(&T, 1);
	guest_srb(&sc, 42, read10, 10, VSTOR_DATA_IN, buf, 512, 0);
	ck_assert_int_eq(guest_recv(&sc, &r, &d), 80);
	ck_assert_uint_eq(d.trans_id, 42);
	ck_assert_uint_eq(r.vm_srb.srb_status, SRB_STATUS_SUCCESS);
	ck_assert_int_eq(tg_read(&T, &c, NULL, 0, NULL), 0);
	st = device_chan_stats(1);
	ck_assert_int_eq(json_integer_value(json_object_get(st, "requests")), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(st, "bytes_read")), 512);
	json_decref(st);
	/* A READ in flight when the guest closes both channels (subchannel
	 * first, as Linux): its completion goes nowhere, the subchannel is
	 * rescinded, and nothing is touched after it is freed. */
	guest_srb(&sc, 43, read10, 10, VSTOR_DATA_IN, buf, 512, 0);
	close.child_relid = sub_relid;
	th_post(&T, 0, VMBUS_MESSAGE_CONNECTION_ID, &close, sizeof(close));
	close.child_relid = c.relid;
	th_post(&T, 0, VMBUS_MESSAGE_CONNECTION_ID, &close, sizeof(close));
	while ((type = th_recv(&T, 0, &o, NULL)) != 0)
		if (type == CHANNELMSG_RESCIND_CHANNELOFFER)
			rescinds++;
	ck_assert_int_eq(rescinds, 1);
	for (int i = 0; i < 50; i++) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		usleep(1000);
	}
	st = storvsp_ops.stats(dev);
	ck_assert_int_eq(json_integer_value(json_object_get(st, "in_flight")), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(st, "subchannels")), 0);
	ck_assert_str_eq(json_string_value(json_object_get(st, "state")), "wait_begin");
	json_decref(st);
	device_teardown();
	unlink(disk_path);
}
END_TEST

START_TEST(test_device_ring_full)
{
	static const uint8_t tur[6] = { 0 };
	struct tg_chan c;
	struct vstor_packet r;
	struct vmpacket_descriptor d;
	uint8_t seen[64];
	json_t *st;
	int got = 0;

	/* One data page host->guest: 46 completions of 88 bytes fit. */
	device_ready(&c, 0, 2);
	memset(seen, 0, sizeof(seen));
	for (int i = 0; i < 64; i++) {
		struct vstor_packet p = pkt_op(VSTOR_OP_EXECUTE_SRB);

		p.vm_srb.length = 52;
		p.vm_srb.cdb_length = 6;
		p.vm_srb.data_in = VSTOR_DATA_UNKNOWN;
		memcpy(p.vm_srb.cdb, tur, 6);
		/* Written without signalling; one signal at the end. */
		{
			uint8_t raw[96];
			struct vmpacket_descriptor h = { .type = VM_PKT_DATA_INBAND, .offset8 = 2,
							 .len8 = 10, .flags = 1,
							 .trans_id = 1000 + (uint64_t)i };

			memset(raw, 0, sizeof(raw));
			memcpy(raw, &h, 16);
			memcpy(raw + 16, &p, 64);
			ck_assert_int_ge(tg_write_raw(&T, &c, raw, 88), 0);
		}
	}
	th_signal(&T, 0, c.conn_id);
	/* The guest reads everything; its reads signal the host through
	 * pending_send_sz, which sends what waited and reads on. */
	while (got < 64 && guest_recv(&c, &r, &d) == 80) {
		ck_assert_uint_ge(d.trans_id, 1000);
		ck_assert_uint_lt(d.trans_id, 1064);
		ck_assert_uint_eq(seen[d.trans_id - 1000], 0);
		seen[d.trans_id - 1000] = 1;
		ck_assert_uint_eq(r.vm_srb.srb_status, SRB_STATUS_SUCCESS);
		got++;
	}
	ck_assert_int_eq(got, 64);
	st = device_chan_stats(0);
	ck_assert_int_gt(json_integer_value(json_object_get(st, "queued")), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(st, "dropped")), 0);
	json_decref(st);
	device_teardown();
	unlink(disk_path);
}
END_TEST

START_TEST(test_device_hot_remove)
{
	static const uint8_t tur[6] = { 0 };
	struct json_err err = { "" };
	struct tg_chan c;
	struct vstor_packet r;
	struct vmpacket_descriptor d;
	json_t *args;

	device_ready(&c, 0, 8);
	args = json_pack("{s:i}", "lun", 0);
	ctl_status = -1;
	ck_assert_int_eq(storvsp_ops.control(dev, "remove-disk", args, ctl_done, NULL, &err), 0);
	ck_assert_int_eq(ctl_status, 0);
	ck_assert_int_eq(guest_recv(&c, &r, &d), 80);
	ck_assert_uint_eq(d.type, VM_PKT_DATA_INBAND);
	ck_assert_uint_eq(d.trans_id, 0);
	ck_assert_uint_eq(r.operation, VSTOR_OP_ENUMERATE_BUS);
	/* Linux's rescan TURs the old LUN: gone. */
	guest_srb(&c, 5, tur, 6, VSTOR_DATA_UNKNOWN, 0, 0, 0);
	ck_assert_int_eq(guest_recv(&c, &r, &d), 80);
	ck_assert_uint_eq(r.vm_srb.srb_status, SRB_STATUS_INVALID_LUN);
	/* Removing it again, or a bad verb, is refused up front. */
	ck_assert_int_eq(storvsp_ops.control(dev, "remove-disk", args, ctl_done, NULL, &err), -EINVAL);
	ck_assert_msg(strstr(err.msg, "args.lun") != NULL, "%s", err.msg);
	ck_assert_int_eq(storvsp_ops.control(dev, "frobnicate", args, ctl_done, NULL, &err),
			 -ENOTSUP);
	json_decref(args);
	device_teardown();
	unlink(disk_path);
}
END_TEST

static Suite *storvsp_device_suite(void)
{
	Suite *s = suite_create("storvsp_device");
	TCase *dc = tcase_create("device");

	tcase_set_timeout(dc, 20);
	tcase_add_test(dc, test_device_config_errors);
	tcase_add_test(dc, test_device_end_to_end);
	tcase_add_test(dc, test_device_subchannel_io_and_close);
	tcase_add_test(dc, test_device_ring_full);
	tcase_add_test(dc, test_device_hot_remove);
	tcase_add_test(dc, test_device_close_cancels_io);
	tcase_add_test(dc, test_device_reset_cancels_io);
	suite_add_tcase(s, dc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(storvsp_device_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
