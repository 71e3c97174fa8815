/* SPDX-License-Identifier: MIT */
/*
 * Command-line options of the raw modes (guest_raw.h).  They are parsed
 * by the tool's one getopt loop, so they may appear anywhere on the line
 * like every other vmbus-guest option; values are checked here, before
 * anything attaches, so a typo is a usage error and not a hostile input.
 */
#include "guest/guest_raw.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"

enum {
	R_NO_NEG = GUEST_RAW_OPT_BASE, R_NEGOTIATE, R_OFFERS, R_CHANNEL, R_OPEN, R_CLASS, R_GPADL,
	R_PATCH, R_CONN_ID, R_MSG_TYPE, R_PSIZE, R_CONTROL, R_INPUT, R_INPUT_HEX, R_INPUT_GPA,
	R_INPUT_OFF, R_FAST, R_OUTPUT_GPA, R_VCPU, R_FRAME, R_TYPE, R_FLAGS, R_OFFSET8, R_LEN8,
	R_TRANS_ID, R_NO_SIGNAL, R_SET,
};

const struct option guest_raw_options[] = {
	{ "no-negotiate", no_argument, NULL, R_NO_NEG },
	{ "negotiate", no_argument, NULL, R_NEGOTIATE },
	{ "offers", no_argument, NULL, R_OFFERS },
	{ "channel", required_argument, NULL, R_CHANNEL },
	{ "open", required_argument, NULL, R_OPEN },
	{ "class", required_argument, NULL, R_CLASS },
	{ "gpadl", required_argument, NULL, R_GPADL },
	{ "patch-u32", required_argument, NULL, R_PATCH },
	{ "conn-id", required_argument, NULL, R_CONN_ID },
	{ "message-type", required_argument, NULL, R_MSG_TYPE },
	{ "payload-size", required_argument, NULL, R_PSIZE },
	{ "control", required_argument, NULL, R_CONTROL },
	{ "input", required_argument, NULL, R_INPUT },
	{ "input-hex", required_argument, NULL, R_INPUT_HEX },
	{ "input-gpa", required_argument, NULL, R_INPUT_GPA },
	{ "input-offset", required_argument, NULL, R_INPUT_OFF },
	{ "fast", required_argument, NULL, R_FAST },
	{ "output-gpa", required_argument, NULL, R_OUTPUT_GPA },
	{ "vcpu", required_argument, NULL, R_VCPU },
	{ "frame", no_argument, NULL, R_FRAME },
	{ "type", required_argument, NULL, R_TYPE },
	{ "flags", required_argument, NULL, R_FLAGS },
	{ "offset8", required_argument, NULL, R_OFFSET8 },
	{ "len8", required_argument, NULL, R_LEN8 },
	{ "trans-id", required_argument, NULL, R_TRANS_ID },
	{ "no-signal", no_argument, NULL, R_NO_SIGNAL },
	{ "set", required_argument, NULL, R_SET },
	{ NULL, 0, NULL, 0 },
};

const char guest_raw_usage[] =
	"raw modes: aim raw bytes at the host (one JSON event per line; host messages\n"
	"are printed as \"message\" events, with \"status\" where the reply has one)\n"
	"\n"
	"set-up, any mode (in this order):\n"
	"  --no-negotiate         raw-msg: post without INITIATE_CONTACT first\n"
	"  --negotiate            raw-hcall: negotiate a VMBus version first\n"
	"  --offers               negotiate, REQUESTOFFERS, wait for ALLOFFERS_DELIVERED\n"
	"  --channel CLASS|NAME   --offers, then select that channel (not opened)\n"
	"  --open CLASS|NAME      --channel, then open it like a driver: ring GPADL,\n"
	"                         ring headers, OPENCHANNEL (--class is the same)\n"
	"  --ring-kib K           each ring's size for --open (default 16)\n"
	"  --gpadl PAGES          create an extra GPADL of PAGES zeroed pages on the channel\n"
	"  --patch-u32 [N:]OFF=V  write V (little-endian u32) at byte OFF of FILE N (all\n"
	"                         FILEs without N; the hypercall input for raw-hcall); V is\n"
	"                         a number or relid, gpadl (extra, else ring), ring_gpadl,\n"
	"                         conn_id, gpa (extra GPADL's first page), vp\n"
	"  --wait-ms N            serve the host this long after each action (default 500)\n"
	"\n"
	"raw-msg [FILE...] [--conn-id N] [--message-type N] [--payload-size N]\n"
	"    one HvPostMessage per FILE (at most 240 bytes each), in order; payload_size\n"
	"    is the FILE's length unless --payload-size claims another\n"
	"    e.g. raw-msg --channel heartbeat --gpadl 4 --patch-u32 8=relid\n"
	"         --patch-u32 16=gpadl open.bin\n"
	"raw-hcall --control HEX [--input FILE | --input-hex HEX | --input-gpa GPA |\n"
	"          --fast Q0[,Q1]] [--input-offset N] [--output-gpa GPA] [--vcpu N]\n"
	"    one hypercall; the control word is sent verbatim (set bit 16 yourself for a\n"
	"    fast call).  --input/--input-hex: the bytes in fresh guest pages at\n"
	"    --input-offset, their GPA in RDX; --input-gpa: RDX verbatim (may lie outside\n"
	"    RAM); --fast: RDX = Q0, R8 = Q1.  Prints the HV status.\n"
	"    e.g. raw-hcall --control 0x1005d --fast 0x99\n"
	"raw-ring --open CLASS|NAME [FILE...] [--frame [--type N] [--flags N]\n"
	"         [--offset8 N] [--len8 N] [--trans-id N]] [--set [g2h.|h2g.]FIELD=N]...\n"
	"         [--no-signal]\n"
	"    each FILE into the guest->host ring: verbatim, or with --frame as one packet\n"
	"    (16-byte descriptor, FILE, zero padding to 8, trailer); the descriptor says\n"
	"    type 6, offset8 2, the real len8, flags 0, trans_id 1 unless told otherwise.\n"
	"    Then each --set overwrites a header word of the guest->host (g2h, default)\n"
	"    or host->guest (h2g) ring: write_index, read_index, interrupt_mask,\n"
	"    pending_send_sz, feature_bits.  Then HvSignalEvent, unless --no-signal.\n"
	"    e.g. raw-ring --open heartbeat --set h2g.read_index=12\n";

static const struct {
	const char *name;
	size_t offset;
} ring_fields[] = {
	{ "write_index", offsetof(struct vmbus_ring_header, write_index) },
	{ "read_index", offsetof(struct vmbus_ring_header, read_index) },
	{ "interrupt_mask", offsetof(struct vmbus_ring_header, interrupt_mask) },
	{ "pending_send_sz", offsetof(struct vmbus_ring_header, pending_send_sz) },
	{ "feature_bits", offsetof(struct vmbus_ring_header, feature_bits) },
};

static const struct {
	const char *name;
	enum guest_raw_value what;
} value_names[] = {
	{ "relid", GUEST_RAW_RELID },       { "gpadl", GUEST_RAW_GPADL },
	{ "ring_gpadl", GUEST_RAW_RING_GPADL }, { "conn_id", GUEST_RAW_CONN_ID },
	{ "gpa", GUEST_RAW_GPA },           { "vp", GUEST_RAW_VP },
};

void guest_raw_args_init(struct guest_raw_args *a)
{
	memset(a, 0, sizeof(*a));
	a->wait_ms = 500;
	a->conn_id = -1;
	a->payload_size = -1;
	a->message_type = HVMSG_VMBUS;
	a->input_gpa = -1;
	a->pkt_type = VM_PKT_DATA_INBAND;
	a->offset8 = -1;
	a->len8 = -1;
	a->trans_id = 1;
}

/* A whole-string number in any base strtoull knows, at most `max`. */
static int parse_num(const char *s, uint64_t max, uint64_t *out)
{
	char *end;

	if (!*s || *s == '-')
		return -EINVAL;
	errno = 0;
	*out = strtoull(s, &end, 0);
	if (errno || *end || *out > max)
		return -EINVAL;
	return 0;
}

static int parse_patch(struct guest_raw_args *a, const char *arg)
{
	struct guest_raw_patch *p;
	char buf[128], *eq, *off = buf, *colon;
	uint64_t v;

	if (a->n_patch >= GUEST_RAW_MAX_PATCHES || strlen(arg) >= sizeof(buf))
		return -EINVAL;
	p = &a->patch[a->n_patch];
	memset(p, 0, sizeof(*p));
	strcpy(buf, arg);
	eq = strchr(buf, '=');
	if (!eq)
		return -EINVAL;
	*eq++ = 0;
	colon = strchr(buf, ':');
	if (colon) {
		*colon = 0;
		if (parse_num(buf, 4096, &v) || v == 0)
			return -EINVAL;
		p->file = (uint32_t)v;
		off = colon + 1;
	}
	/* The last word of a 4 KiB page at most: inputs never exceed it. */
	if (parse_num(off, HV_PAGE_SIZE - 4, &v))
		return -EINVAL;
	p->offset = (uint32_t)v;
	p->what = GUEST_RAW_NUMBER;
	for (size_t i = 0; i < ARRAY_SIZE(value_names); i++)
		if (!strcmp(eq, value_names[i].name))
			p->what = value_names[i].what;
	if (p->what == GUEST_RAW_NUMBER) {
		if (parse_num(eq, UINT32_MAX, &v))
			return -EINVAL;
		p->number = (uint32_t)v;
	}
	a->n_patch++;
	return 0;
}

static int parse_set(struct guest_raw_args *a, const char *arg)
{
	struct guest_raw_set *s;
	const char *field = arg, *eq = strchr(arg, '=');
	uint64_t v;

	if (a->n_set >= GUEST_RAW_MAX_SETS || !eq)
		return -EINVAL;
	s = &a->set[a->n_set];
	s->h2g = false;
	if (!strncmp(arg, "g2h.", 4)) {
		field = arg + 4;
	} else if (!strncmp(arg, "h2g.", 4)) {
		field = arg + 4;
		s->h2g = true;
	}
	s->name = NULL;
	for (size_t i = 0; i < ARRAY_SIZE(ring_fields); i++)
		if (strlen(ring_fields[i].name) == (size_t)(eq - field) &&
		    !strncmp(field, ring_fields[i].name, (size_t)(eq - field))) {
			s->name = ring_fields[i].name;
			s->field = (uint32_t)ring_fields[i].offset;
		}
	if (!s->name || parse_num(eq + 1, UINT32_MAX, &v))
		return -EINVAL;
	s->value = (uint32_t)v;
	a->n_set++;
	return 0;
}

static int parse_fast(struct guest_raw_args *a, const char *arg)
{
	char buf[64], *comma;

	if (strlen(arg) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, arg);
	comma = strchr(buf, ',');
	a->fast_in[1] = 0;
	if (comma) {
		*comma = 0;
		if (parse_num(comma + 1, UINT64_MAX, &a->fast_in[1]))
			return -EINVAL;
	}
	a->fast = true;
	return parse_num(buf, UINT64_MAX, &a->fast_in[0]);
}

int guest_raw_option(struct guest_raw_args *a, int code, const char *arg)
{
	uint64_t v = 0;
	int ret = 0;

	switch (code) {
	case R_NO_NEG: a->no_negotiate = true; break;
	case R_NEGOTIATE: a->negotiate = true; break;
	case R_OFFERS: a->offers = true; break;
	case R_CHANNEL: a->channel = arg; break;
	case R_OPEN:
	case R_CLASS: a->channel = arg; a->open = true; break;
	case R_GPADL:
		/* range_buflen is a u16: 8 + 8 * PAGES must fit. */
		ret = parse_num(arg, 8190, &v);
		a->gpadl_pages = (uint32_t)v;
		ret = ret ? ret : (v ? 0 : -EINVAL);
		break;
	case R_PATCH: ret = parse_patch(a, arg); break;
	case R_CONN_ID: ret = parse_num(arg, UINT32_MAX, &v); a->conn_id = (int64_t)v; break;
	case R_MSG_TYPE: ret = parse_num(arg, UINT32_MAX, &v); a->message_type = (uint32_t)v; break;
	case R_PSIZE: ret = parse_num(arg, UINT32_MAX, &v); a->payload_size = (int64_t)v; break;
	case R_CONTROL: a->control = arg; break;
	case R_INPUT: a->input_file = arg; break;
	case R_INPUT_HEX: a->input_hex = arg; break;
	case R_INPUT_GPA: ret = parse_num(arg, INT64_MAX, &v); a->input_gpa = (int64_t)v; break;
	case R_INPUT_OFF:
		ret = parse_num(arg, HV_PAGE_SIZE - 1, &v);
		a->input_offset = (uint32_t)v;
		break;
	case R_FAST: ret = parse_fast(a, arg); break;
	case R_OUTPUT_GPA: ret = parse_num(arg, UINT64_MAX, &a->output_gpa); break;
	case R_VCPU: ret = parse_num(arg, ATTACH_MAX_VCPUS - 1, &v); a->vcpu = (uint32_t)v; break;
	case R_FRAME: a->frame = true; break;
	case R_TYPE: ret = parse_num(arg, UINT16_MAX, &v); a->pkt_type = (uint16_t)v; break;
	case R_FLAGS: ret = parse_num(arg, UINT16_MAX, &v); a->pkt_flags = (uint16_t)v; break;
	case R_OFFSET8: ret = parse_num(arg, UINT16_MAX, &v); a->offset8 = (int32_t)v; break;
	case R_LEN8: ret = parse_num(arg, UINT16_MAX, &v); a->len8 = (int32_t)v; break;
	case R_TRANS_ID: ret = parse_num(arg, UINT64_MAX, &a->trans_id); break;
	case R_NO_SIGNAL: a->no_signal = true; break;
	case R_SET: ret = parse_set(a, arg); break;
	default: ret = -EINVAL; break;
	}
	if (ret)
		log_error("bad value for an option of the raw modes: \"%s\" (--help-raw)",
			  arg ? arg : "");
	return ret;
}
