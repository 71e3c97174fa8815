/* SPDX-License-Identifier: MIT */
/*
 * The raw modes of vmbus-guest (see guest_raw.h): the shared set-up
 * (connect, offers, channel, extra GPADL), the value substitution, and the
 * three actions.  The set-up goes through the same library calls the
 * drivers use, so everything before the raw bytes is exactly what Linux
 * would have done and the host's state is the one the bytes aim at.
 */
#include "guest/guest_raw.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/guid.h"
#include "core/log.h"
#include "core/util.h"

enum { RAW_OK = 0, RAW_USAGE = 1, RAW_FAIL = 2 };

/* FILEs of raw-ring may hold many packets' worth of bytes. */
#define RAW_RING_FILE_MAX (1u << 20)

/* What the set-up produced, for the action and the substitutions. */
struct raw_ctx {
	struct guest *g;
	struct guest_raw_args *a;
	struct guest_channel *ch;
	uint32_t extra_gpadl;
	uint64_t extra_gpa;
};

struct raw_file {
	uint8_t *bytes;
	size_t len;
};

static const char *const hv_status_names[] = {
	[HV_STATUS_SUCCESS] = "SUCCESS",
	[HV_STATUS_INVALID_HYPERCALL_CODE] = "INVALID_HYPERCALL_CODE",
	[HV_STATUS_INVALID_HYPERCALL_INPUT] = "INVALID_HYPERCALL_INPUT",
	[HV_STATUS_INVALID_ALIGNMENT] = "INVALID_ALIGNMENT",
	[HV_STATUS_INVALID_PARAMETER] = "INVALID_PARAMETER",
	[HV_STATUS_ACCESS_DENIED] = "ACCESS_DENIED",
	[HV_STATUS_OPERATION_DENIED] = "OPERATION_DENIED",
	[HV_STATUS_INSUFFICIENT_MEMORY] = "INSUFFICIENT_MEMORY",
	[HV_STATUS_INVALID_PORT_ID] = "INVALID_PORT_ID",
	[HV_STATUS_INVALID_CONNECTION_ID] = "INVALID_CONNECTION_ID",
	[HV_STATUS_INSUFFICIENT_BUFFERS] = "INSUFFICIENT_BUFFERS",
};

static const char *hv_status_name(uint64_t status)
{
	if (status < ARRAY_SIZE(hv_status_names) && hv_status_names[status])
		return hv_status_names[status];
	return "?";
}

/* Reads at most `cap` bytes; -EFBIG when the file holds more. */
static int raw_read_file(const char *path, size_t cap, struct raw_file *f)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	uint8_t extra;
	ssize_t n = 0;
	int ret = 0;

	f->len = 0;
	f->bytes = malloc(cap ? cap : 1);
	if (fd < 0 || !f->bytes) {
		ret = fd < 0 ? -errno : -ENOMEM;
		goto out;
	}
	while (f->len < cap && (n = read(fd, f->bytes + f->len, cap - f->len)) > 0)
		f->len += (size_t)n;
	if (n < 0)
		ret = -errno;
	else if (f->len == cap && read(fd, &extra, 1) > 0)
		ret = -EFBIG;
out:
	if (fd >= 0)
		close(fd);
	if (ret) {
		free(f->bytes);
		f->bytes = NULL;
		log_error("%s: %s (at most %zu bytes)", path, strerror(-ret), cap);
	}
	return ret;
}

static void raw_free_files(struct raw_file *files, int n)
{
	for (int i = 0; i < n; i++)
		free(files[i].bytes);
	free(files);
}

static int raw_read_files(int n, char **paths, size_t cap, struct raw_file **out)
{
	struct raw_file *files = calloc((size_t)(n ? n : 1), sizeof(*files));

	if (!files)
		return -ENOMEM;
	for (int i = 0; i < n; i++) {
		if (raw_read_file(paths[i], cap, &files[i])) {
			raw_free_files(files, i);
			return -EINVAL;
		}
	}
	*out = files;
	return 0;
}

/* ---- host answers ----------------------------------------------------------- */

static bool never(struct guest *g, void *arg)
{
	return false;
}

/* Inbound packets of the opened channel, as "packet" events: the tool has
 * no driver on the channel, so it shows what the device said instead. */
static void raw_print_packets(struct guest *g, struct guest_channel *ch)
{
	struct guest_ring_pkt pkt;
	int ret;

	while ((ret = guest_channel_recv(g, ch, &pkt)) == 0 || ret == -EMSGSIZE) {
		char *hex;

		if (ret)
			continue;
		hex = guest_hex(pkt.payload, pkt.payload_len);
		guest_emit(g, json_pack("{s:s, s:i, s:i, s:i, s:I, s:i, s:i, s:s}", "event", "packet",
					"relid", (json_int_t)ch->relid, "type", (json_int_t)pkt.type,
					"flags", (json_int_t)pkt.flags, "trans_id", (json_int_t)pkt.trans_id,
					"len", (json_int_t)pkt.len, "offset", (json_int_t)pkt.offset,
					"hex", hex ? hex : ""));
		free(hex);
	}
}

/* Serves the host for wait_ms: its messages and packets become events. */
static void raw_serve(struct raw_ctx *x)
{
	guest_wait(x->g, never, NULL, x->a->wait_ms);
	if (x->ch && x->ch->open && x->g->chan[x->ch->relid] == x->ch)
		raw_print_packets(x->g, x->ch);
}

/* Whether the daemon still answers (an MSR read is a full round trip). */
static bool raw_report_alive(struct guest *g)
{
	uint64_t v;
	int ret = g->att.dead ? -ECONNRESET : guest_attach_msr_read(&g->att, 0, HV_MSR_VP_INDEX, &v);
	bool alive = ret == 0 || ret == -EPERM;

	guest_emit(g, json_pack("{s:s, s:b}", "event", "alive", "ok", alive));
	return alive;
}

/* ---- set-up ------------------------------------------------------------------ */

/* A channel by class GUID or by the device name the tool prints. */
static struct guest_channel *raw_find_channel(struct guest *g, const char *spec)
{
	char class_str[GUID_STR_LEN];
	struct guid gid;

	if (!guid_parse(spec, &gid)) {
		guid_format(&gid, class_str);
		return guest_channel_find(g, class_str, 0);
	}
	for (uint32_t relid = 1; relid <= VMBUS_MAX_RELID; relid++) {
		struct guest_channel *ch = g->chan[relid];

		if (ch && !ch->rescinded && ch->offer.sub_channel_index == 0 &&
		    !strcmp(ch->device, spec))
			return ch;
	}
	return NULL;
}

static int raw_setup(struct raw_ctx *x)
{
	struct guest_raw_args *a = x->a;
	struct guest *g = x->g;
	int ret = 0;

	/* A guest that is already up (the scenario agent) keeps its
	 * connection and its offers. */
	if ((a->negotiate || a->offers || a->channel) && !g->connected)
		ret = guest_vmbus_connect(g);
	if (!ret && (a->offers || a->channel) && !g->all_offers)
		ret = guest_vmbus_request_offers(g);
	if (ret || !a->channel)
		return ret;
	x->ch = raw_find_channel(g, a->channel);
	if (!x->ch) {
		guest_error(g, "raw", "no channel \"%s\" offered", a->channel);
		return -ENODEV;
	}
	guest_emit(g, json_pack("{s:s, s:i, s:s, s:i}", "event", "channel", "relid",
				(json_int_t)x->ch->relid, "device", x->ch->device, "conn_id",
				(json_int_t)x->ch->conn_id));
	if (a->open && !x->ch->open) {
		ret = guest_channel_open(g, x->ch, (a->ring_kib ? a->ring_kib : 16) * 1024u, 16384, 0);
		if (ret)
			return ret;
		x->ch->on_event = raw_print_packets;
	}
	if (a->gpadl_pages) {
		x->extra_gpa = guest_mem_alloc(&g->mem, a->gpadl_pages);
		if (!x->extra_gpa)
			return -ENOMEM;
		ret = guest_channel_gpadl_create(g, x->ch, x->extra_gpa, a->gpadl_pages,
						 &x->extra_gpadl);
		if (ret)
			return ret;
		guest_emit(g, json_pack("{s:s, s:i, s:i, s:I, s:i}", "event", "gpadl", "relid",
					(json_int_t)x->ch->relid, "gpadl", (json_int_t)x->extra_gpadl,
					"gpa", (json_int_t)x->extra_gpa, "pages",
					(json_int_t)a->gpadl_pages));
	}
	return 0;
}

static uint32_t raw_value(const struct raw_ctx *x, const struct guest_raw_patch *p)
{
	const struct guest_channel *ch = x->ch;

	switch (p->what) {
	case GUEST_RAW_RELID: return ch ? ch->relid : 0;
	case GUEST_RAW_GPADL: return x->extra_gpadl ? x->extra_gpadl : (ch ? ch->ring_gpadl : 0);
	case GUEST_RAW_RING_GPADL: return ch ? ch->ring_gpadl : 0;
	case GUEST_RAW_CONN_ID: return ch ? ch->conn_id : 0;
	case GUEST_RAW_GPA: return (uint32_t)x->extra_gpa;
	case GUEST_RAW_VP: return x->g->cpu[0].vp_index;
	case GUEST_RAW_NUMBER: break;
	}
	return p->number;
}

/* Before attaching: every patch lands inside its bytes and names
 * something the set-up will create (a typo is not a hostile input). */
static int raw_check_patches(const struct guest_raw_args *a, const struct raw_file *files, int n)
{
	for (uint32_t i = 0; i < a->n_patch; i++) {
		const struct guest_raw_patch *p = &a->patch[i];
		bool named;

		switch (p->what) {
		case GUEST_RAW_RELID:
		case GUEST_RAW_CONN_ID: named = a->channel != NULL; break;
		case GUEST_RAW_GPADL: named = a->gpadl_pages || a->open; break;
		case GUEST_RAW_RING_GPADL: named = a->open; break;
		case GUEST_RAW_GPA: named = a->gpadl_pages != 0; break;
		default: named = true; break;
		}
		if (!named) {
			log_error("--patch-u32 %u: names what the set-up does not create", p->offset);
			return -EINVAL;
		}
		for (int f = 0; f < n; f++) {
			if ((p->file && p->file != (uint32_t)f + 1) ||
			    (size_t)p->offset + 4 <= files[f].len)
				continue;
			log_error("--patch-u32 %u: beyond the %zu bytes of FILE %d", p->offset,
				  files[f].len, f + 1);
			return -EINVAL;
		}
		if (p->file > (uint32_t)n) {
			log_error("--patch-u32: there is no FILE %u", p->file);
			return -EINVAL;
		}
	}
	return 0;
}

/* Applies the patches for 1-based file `index` to buf[0, len). */
static void raw_patch(struct raw_ctx *x, uint32_t index, uint8_t *buf, size_t len)
{
	for (uint32_t i = 0; i < x->a->n_patch; i++) {
		const struct guest_raw_patch *p = &x->a->patch[i];
		uint32_t v = raw_value(x, p);

		/* Checked by raw_check_patches; kept as a guard. */
		if ((p->file && p->file != index) || (size_t)p->offset + 4 > len)
			continue;
		memcpy(buf + p->offset, &v, 4); /* x86: little-endian, like the wire */
	}
}

/* ---- raw-msg ------------------------------------------------------------------- */

static int raw_msg(struct raw_ctx *x, struct raw_file *files, int n)
{
	struct guest_raw_args *a = x->a;
	struct guest *g = x->g;

	for (int i = 0; i < n; i++) {
		uint8_t payload[HV_MESSAGE_PAYLOAD_MAX] = { 0 };
		uint32_t conn_id, psize;
		uint64_t status;
		int ret;

		memcpy(payload, files[i].bytes, files[i].len);
		raw_patch(x, (uint32_t)i + 1, payload, files[i].len);
		conn_id = a->conn_id >= 0 ? (uint32_t)a->conn_id
					  : (g->connected ? g->msg_conn_id : VMBUS_MESSAGE_CONNECTION_ID);
		psize = a->payload_size >= 0 ? (uint32_t)a->payload_size : (uint32_t)files[i].len;
		ret = guest_vmbus_post_raw(g, conn_id, a->message_type, psize, payload,
					   (uint32_t)files[i].len, &status);
		if (ret) {
			guest_error(g, "raw-msg", "hypercall failed: %s", strerror(-ret));
			return ret;
		}
		guest_emit(g, json_pack("{s:s, s:i, s:I, s:s, s:i, s:i, s:i}", "event", "post", "file",
					(json_int_t)i + 1, "status", (json_int_t)status, "status_name",
					hv_status_name(status), "conn_id", (json_int_t)conn_id,
					"payload_size", (json_int_t)psize, "bytes", (json_int_t)files[i].len));
		raw_serve(x);
	}
	return 0;
}

/* ---- raw-hcall ----------------------------------------------------------------- */

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* "5c 00 0a..." (spaces allowed between bytes) into f. */
static int raw_parse_hex(const char *s, struct raw_file *f)
{
	f->bytes = malloc(strlen(s) / 2 + 1);
	f->len = 0;
	if (!f->bytes)
		return -ENOMEM;
	while (*s) {
		int hi, lo;

		if (*s == ' ' || *s == ':') {
			s++;
			continue;
		}
		hi = hex_digit(s[0]);
		lo = hi < 0 ? -1 : hex_digit(s[1]);
		if (lo < 0) {
			free(f->bytes);
			f->bytes = NULL;
			log_error("--input-hex: not pairs of hex digits");
			return -EINVAL;
		}
		f->bytes[f->len++] = (uint8_t)(hi << 4 | lo);
		s += 2;
	}
	return 0;
}

static int raw_hcall(struct raw_ctx *x, uint64_t control, struct raw_file *in)
{
	struct guest_raw_args *a = x->a;
	struct guest *g = x->g;
	uint64_t rdx = 0, r8 = a->output_gpa, result = 0, pages = 0, gpa = 0;
	char buf[4][24];
	int ret;

	if (a->fast) {
		rdx = a->fast_in[0];
		r8 = a->fast_in[1];
	} else if (a->input_gpa >= 0) {
		rdx = (uint64_t)a->input_gpa;
	} else if (in->bytes) {
		/* Fresh zeroed pages, the bytes at --input-offset: a block that
		 * straddles a page or sits misaligned is the user's choice. */
		pages = MAX((a->input_offset + in->len + HV_PAGE_SIZE - 1) / HV_PAGE_SIZE, (size_t)1);
		gpa = guest_mem_alloc(&g->mem, pages);
		if (!gpa)
			return -ENOMEM;
		raw_patch(x, 1, in->bytes, in->len);
		memcpy(guest_mem_ptr(&g->mem, gpa, pages * HV_PAGE_SIZE) + a->input_offset,
		       in->bytes, in->len);
		rdx = gpa + a->input_offset;
	}
	ret = guest_attach_hypercall(&g->att, a->vcpu, control, rdx, r8, &result);
	if (ret) {
		guest_error(g, "raw-hcall", "hypercall failed: %s", strerror(-ret));
		return ret;
	}
	snprintf(buf[0], sizeof(buf[0]), "0x%llx", (unsigned long long)control);
	snprintf(buf[1], sizeof(buf[1]), "0x%llx", (unsigned long long)rdx);
	snprintf(buf[2], sizeof(buf[2]), "0x%llx", (unsigned long long)r8);
	snprintf(buf[3], sizeof(buf[3]), "0x%llx", (unsigned long long)result);
	/* RAX: status in bits 15:0, reps completed in 43:32 (TLFS 3.8). */
	guest_emit(g, json_pack("{s:s, s:s, s:s, s:s, s:b, s:s, s:i, s:s, s:i}", "event", "hcall",
				"control", buf[0], "rdx", buf[1], "r8", buf[2], "fast",
				(int)((control & HV_HC_FAST) != 0), "result", buf[3], "status",
				(json_int_t)(result & 0xFFFF), "status_name",
				hv_status_name(result & 0xFFFF), "reps",
				(json_int_t)((result >> 32) & 0xFFF)));
	raw_serve(x);
	return 0;
}

/* ---- raw-ring ------------------------------------------------------------------ */

/* FILE as one packet: descriptor, bytes, zero padding to 8, trailer.  The
 * descriptor claims what the user asked for; the bytes are laid out as
 * if offset8 were 2 so that a lying offset8/len8 is exactly the lie. */
static int raw_frame(struct raw_ctx *x, const struct raw_file *f, uint8_t **out, uint32_t *len)
{
	struct guest_raw_args *a = x->a;
	struct vmpacket_descriptor desc;
	uint32_t packed = (uint32_t)((16u + f->len + 7u) & ~(size_t)7u);
	uint64_t trailer;
	uint8_t *p;

	if (f->len > RAW_RING_FILE_MAX)
		return -EMSGSIZE;
	p = calloc(1, packed + VMBUS_PKT_TRAILER_SIZE);
	if (!p)
		return -ENOMEM;
	desc.type = a->pkt_type;
	desc.offset8 = (uint16_t)(a->offset8 >= 0 ? a->offset8 : 2);
	/* A real len8 above 0xffff cannot be said: the default truncates,
	 * which is one more way to lie. */
	desc.len8 = (uint16_t)(a->len8 >= 0 ? (uint32_t)a->len8 : packed / 8u);
	desc.flags = a->pkt_flags;
	desc.trans_id = a->trans_id;
	memcpy(p, &desc, sizeof(desc));
	memcpy(p + sizeof(desc), f->bytes, f->len);
	/* Linux puts the packet's start index in the trailer's upper half. */
	trailer = (uint64_t)x->ch->out.priv_index << 32;
	memcpy(p + packed, &trailer, sizeof(trailer));
	*out = p;
	*len = packed + VMBUS_PKT_TRAILER_SIZE;
	return 0;
}

static void raw_report_rings(struct raw_ctx *x)
{
	struct guest_channel *ch = x->ch;

	if (x->g->chan[ch->relid] != ch || !ch->ring_gpa)
		return;
	guest_emit(x->g, json_pack("{s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i}", "event", "ring",
				    "g2h_read_index", (json_int_t)ch->out.hdr->read_index,
				    "g2h_write_index", (json_int_t)ch->out.hdr->write_index,
				    "g2h_interrupt_mask", (json_int_t)ch->out.hdr->interrupt_mask,
				    "g2h_pending_send_sz", (json_int_t)ch->out.hdr->pending_send_sz,
				    "h2g_read_index", (json_int_t)ch->in.hdr->read_index,
				    "h2g_write_index", (json_int_t)ch->in.hdr->write_index,
				    "h2g_interrupt_mask", (json_int_t)ch->in.hdr->interrupt_mask,
				    "h2g_pending_send_sz", (json_int_t)ch->in.hdr->pending_send_sz));
}

static int raw_ring(struct raw_ctx *x, struct raw_file *files, int n)
{
	struct guest_raw_args *a = x->a;
	struct guest_channel *ch = x->ch;
	struct guest *g = x->g;

	for (int i = 0; i < n; i++) {
		uint8_t *bytes = files[i].bytes, *framed = NULL;
		uint32_t len = (uint32_t)files[i].len;
		bool sig = false;
		int ret;

		raw_patch(x, (uint32_t)i + 1, bytes, files[i].len);
		if (a->frame) {
			ret = raw_frame(x, &files[i], &framed, &len);
			if (ret)
				return ret;
			bytes = framed;
		}
		ret = guest_ring_send_raw(&ch->out, bytes, len, &sig);
		free(framed);
		if (ret) {
			guest_error(g, "raw-ring", "%u bytes do not fit the %u-byte ring now: %s", len,
				    ch->out.size, strerror(-ret));
			return ret;
		}
		guest_emit(g, json_pack("{s:s, s:i, s:i, s:b, s:i, s:b}", "event", "raw_written", "file",
					(json_int_t)i + 1, "bytes", (json_int_t)len, "framed", a->frame,
					"write_index", (json_int_t)ch->out.priv_index, "signal_needed", sig));
	}
	for (uint32_t i = 0; i < a->n_set; i++) {
		const struct guest_raw_set *s = &a->set[i];
		struct guest_ring *r = s->h2g ? &ch->in : &ch->out;
		_Atomic uint32_t *w = (_Atomic uint32_t *)(void *)((uint8_t *)r->hdr + s->field);
		/* Release: whatever was written into the ring before is
		 * visible to the host before the lie about it. */
		uint32_t old = atomic_exchange_explicit(w, s->value, memory_order_acq_rel);

		guest_emit(g, json_pack("{s:s, s:s, s:s, s:i, s:i}", "event", "ring_set", "ring",
					s->h2g ? "h2g" : "g2h", "field", s->name, "old", (json_int_t)old,
					"value", (json_int_t)s->value));
	}
	if (!a->no_signal) {
		/* Always kick, whatever the signalling rules say: the point is
		 * to make the host look at what was just written. */
		int ret = guest_channel_signal(g, ch);

		guest_emit(g, json_pack("{s:s, s:i, s:b}", "event", "signalled", "relid",
					(json_int_t)ch->relid, "ok", ret == 0));
	}
	raw_serve(x);
	raw_report_rings(x);
	return 0;
}

/* ---- entry ---------------------------------------------------------------------- */

static int raw_check_usage(const char *cmd, const struct guest_raw_args *a, int n_files,
			   uint64_t *control)
{
	char *end;
	int inputs = !!a->input_file + !!a->input_hex + (a->input_gpa >= 0) + a->fast;

	if (a->no_negotiate && (a->negotiate || a->offers || a->channel)) {
		log_error("--no-negotiate excludes --negotiate, --offers, --channel and --open");
		return -EINVAL;
	}
	if (a->gpadl_pages && !a->channel) {
		log_error("--gpadl needs a channel (--channel or --open)");
		return -EINVAL;
	}
	if (!strcmp(cmd, "raw-msg")) {
		if (n_files == 0 && !a->channel && !a->offers) {
			log_error("raw-msg needs a FILE (or only a set-up: --offers, --channel, --open)");
			return -EINVAL;
		}
		return 0;
	}
	if (!strcmp(cmd, "raw-hcall")) {
		if (!a->control || n_files || inputs > 1) {
			log_error("raw-hcall needs --control HEX and at most one of --input, "
				  "--input-hex, --input-gpa, --fast; no FILE");
			return -EINVAL;
		}
		errno = 0;
		*control = strtoull(a->control, &end, 16);
		if (errno || !*a->control || *end) {
			log_error("--control wants a hex control word");
			return -EINVAL;
		}
		return 0;
	}
	if (!a->channel || !a->open) {
		log_error("raw-ring needs --open CLASS|NAME (or --class)");
		return -EINVAL;
	}
	if (n_files == 0 && a->n_set == 0) {
		log_error("raw-ring needs a FILE or a --set");
		return -EINVAL;
	}
	return 0;
}

/* The action on a guest that is already attached: the set-up, the bytes,
 * the host's answers for wait_ms.  0 when the action reached the daemon. */
static int raw_run(struct guest *g, const char *cmd, struct guest_raw_args *a,
		   struct raw_file *files, int n_files, struct raw_file *input, uint64_t control)
{
	struct raw_ctx x = { .g = g, .a = a };
	bool raw_messages = g->opts.raw_messages;
	int ret;

	/* raw-msg negotiates unless told not to: most channel messages
	 * mean something only on a connection. */
	if (!strcmp(cmd, "raw-msg") && !a->no_negotiate)
		a->negotiate = true;
	/* Every host message becomes an event: the answers are the output. */
	g->opts.raw_messages = true;
	ret = raw_setup(&x);
	if (!ret && !strcmp(cmd, "raw-msg"))
		ret = raw_msg(&x, files, n_files);
	else if (!ret && !strcmp(cmd, "raw-hcall"))
		ret = raw_hcall(&x, control, input);
	else if (!ret)
		ret = raw_ring(&x, files, n_files);
	g->opts.raw_messages = raw_messages;
	return ret;
}

/* Checks the usage and the patches; reads nothing. */
static int raw_prepare(const char *cmd, struct guest_raw_args *a, struct raw_file *files,
		       int n_files, struct raw_file *input, uint64_t *control)
{
	if (a->n_patch && !strcmp(cmd, "raw-hcall") && !input->bytes) {
		log_error("--patch-u32 in raw-hcall needs --input or --input-hex");
		return -EINVAL;
	}
	return !strcmp(cmd, "raw-hcall") ? raw_check_patches(a, input, 1)
					 : raw_check_patches(a, files, n_files);
}

int guest_raw_main(const char *cmd, struct guest_raw_args *a, const struct guest_opts *opts,
		   int n_files, char **paths)
{
	struct raw_file *files = NULL, input = { 0 };
	uint64_t control = 0;
	struct guest *g;
	bool alive;
	int ret;

	if (raw_check_usage(cmd, a, n_files, &control))
		return RAW_USAGE;
	if (raw_read_files(n_files, paths, !strcmp(cmd, "raw-ring") ? RAW_RING_FILE_MAX
								   : HV_MESSAGE_PAYLOAD_MAX, &files))
		return RAW_USAGE;
	if ((a->input_file && raw_read_file(a->input_file, HV_PAGE_SIZE, &input)) ||
	    (a->input_hex && raw_parse_hex(a->input_hex, &input)) ||
	    raw_prepare(cmd, a, files, n_files, &input, &control)) {
		raw_free_files(files, n_files);
		free(input.bytes);
		return RAW_USAGE;
	}
	/* struct guest is large (the message queue, 2048 channel slots). */
	g = calloc(1, sizeof(*g));
	if (!g || guest_open(g, opts)) {
		free(g);
		raw_free_files(files, n_files);
		free(input.bytes);
		return RAW_FAIL;
	}
	ret = raw_run(g, cmd, a, files, n_files, &input, control);
	alive = raw_report_alive(g);
	guest_close(g, true);
	free(g);
	raw_free_files(files, n_files);
	free(input.bytes);
	return alive && !ret ? RAW_OK : RAW_FAIL;
}

int guest_raw_run_words(struct guest *g, int argc, char **argv)
{
	enum { MAX_OPTS = 64 };
	struct option opts[MAX_OPTS];
	struct guest_raw_args a;
	struct raw_file *files = NULL, input = { 0 };
	uint64_t control = 0;
	int n_files = 0, opt, ret = -EINVAL;
	size_t n = 0;

	if (argc < 1 || (strcmp(argv[0], "raw-msg") && strcmp(argv[0], "raw-hcall") &&
			 strcmp(argv[0], "raw-ring"))) {
		log_error("hostile: raw-msg, raw-hcall or raw-ring expected");
		return -EINVAL;
	}
	while (guest_raw_options[n].name && n + 1 < MAX_OPTS) {
		opts[n] = guest_raw_options[n];
		n++;
	}
	memset(&opts[n], 0, sizeof(opts[n]));
	guest_raw_args_init(&a);
	a.wait_ms = 100;
	files = calloc((size_t)argc, sizeof(*files));
	if (!files)
		return -ENOMEM;
	optind = 0; /* GNU: a full re-initialisation for this new argv */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		if (opt == '?' || (opt < GUEST_RAW_OPT_BASE && opt != 1) ||
		    guest_raw_option(&a, opt, optarg)) {
			log_error("hostile: bad option %s", argv[optind - 1]);
			goto out;
		}
	}
	/* Positional words: the bytes, as hex (a FILE of the tool). */
	for (int i = optind; i < argc; i++) {
		size_t cap = !strcmp(argv[0], "raw-ring") ? RAW_RING_FILE_MAX : HV_MESSAGE_PAYLOAD_MAX;

		if (raw_parse_hex(argv[i], &files[n_files++]))
			goto out;
		if (files[n_files - 1].len > cap) {
			log_error("hostile: %zu bytes, at most %zu", files[n_files - 1].len, cap);
			goto out;
		}
	}
	if (raw_check_usage(argv[0], &a, n_files, &control) ||
	    (a.input_hex && raw_parse_hex(a.input_hex, &input)) ||
	    raw_prepare(argv[0], &a, files, n_files, &input, &control))
		goto out;
	ret = raw_run(g, argv[0], &a, files, n_files, &input, control);
	if (!ret && !raw_report_alive(g))
		ret = -ECONNRESET;
out:
	raw_free_files(files, n_files);
	free(input.bytes);
	return ret;
}
