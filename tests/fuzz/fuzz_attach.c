/* SPDX-License-Identifier: MIT */
/*
 * Fuzzes the plugin-protocol server (src/attach/) with the bytes and file
 * descriptors a frontend sends: frames built from templates (a valid
 * ATTACH with its memfds, MSR_READ/MSR_WRITE, HYPERCALL, RESET, DETACH,
 * each with fuzzer-chosen fields) and raw bytes (any header: unknown
 * types, flags, sizes past the limit, a second ATTACH, truncated frames,
 * bytes split at any point), fds of every kind on any chunk (memfds too
 * small or too many, an eventfd, a pipe), EOF in the middle of a message,
 * a second frontend that gets -EBUSY, and the eventfds the daemon hands
 * back kicked as a frontend's fast path would.  Behind the server is a
 * real hv partition, as in the daemon (src/host/host.c), so MSRs and
 * hypercalls run through to hv/.
 *
 * The server end of a socketpair is handed to attach_conn_new() exactly
 * as the listener does after accept(), which keeps the filesystem out of
 * the loop.  Everything runs on one thread with the event loop pumped by
 * hand, so a run is deterministic.
 *
 * Checked: every reply is well formed (ATTACH_F_REPLY, the request's type
 * and seq, a size its type allows, fds only where the protocol puts
 * them); after the client hangs up the connection is gone and the
 * partition unbound; and no file descriptor outlives a run (counted in
 * /proc/self/fd), which is the resource a hostile frontend would exhaust.
 *
 * Input: chunks [ctl u8][len u16][len bytes]
 *   ctl bits 1:0  fds sent with the chunk: none, one RAM memfd, one of
 *                 the odd kinds (bits 7:6 pick), two RAM memfds
 *   bit 2  the chunk is a template frame (bytes[0] % 6 picks the type,
 *          the rest fill its fields), else raw bytes
 *   bit 3  the client reads the replies now (and kicks signal eventfds)
 *   bit 4  the client shuts its write side afterwards (EOF)
 *   bit 5  a second frontend connects now and sends this chunk instead
 */
#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include "attach/attach_internal.h"
#include "core/log.h"
#include "hv/hv.h"
#include "tests/fuzz/fuzz_util.h"

#define FZ_RAM_SIZE (256u << 10)
#define FZ_MSG_CONN 1u
#define FZ_EVT_CONN 0x11u

static struct {
	struct event_base *base;
	struct attach_server *srv;
	struct hv_partition *hv;
	char dir[64], path[96];
	uint32_t signals;
} fz;

/* ---- the backend: a bare partition, wired as host.c wires it ------------ */

static void fz_raise(void *opaque, uint32_t vp, uint8_t vector)
{
	(void)opaque;
	attach_raise_irq(fz.srv, vp, vector);
}

static int be_attach(void *o, struct gmem *mem, uint32_t n_vcpus, uint64_t tsc_hz,
		     struct attach_cpuid *cpuid, uint32_t max)
{
	struct hv_config cfg = { .n_vcpus = n_vcpus, .tsc_hz = tsc_hz };
	int rc;

	(void)o;
	if (hv_partition_bound(fz.hv))
		return -EBUSY;
	rc = hv_partition_bind(fz.hv, mem, &cfg);
	return rc ? rc : (int)hv_cpuid_fill(fz.hv, cpuid, max);
}

static int be_msr_read(void *o, uint32_t vcpu, uint32_t msr, uint64_t *value)
{
	(void)o;
	return hv_msr_read(fz.hv, vcpu, msr, value);
}

static int be_msr_write(void *o, uint32_t vcpu, uint32_t msr, uint64_t value, uint32_t *action,
			uint64_t *arg)
{
	(void)o;
	return hv_msr_write(fz.hv, vcpu, msr, value, action, arg);
}

static uint64_t be_hypercall(void *o, uint32_t vcpu, uint64_t control, uint64_t input,
			     uint64_t output, uint32_t *signal_conn_id)
{
	(void)o;
	return hv_hypercall(fz.hv, vcpu, control, input, output, signal_conn_id);
}

static void be_signal(void *o, uint32_t conn_id)
{
	(void)o;
	hv_signal_event_port(fz.hv, conn_id);
}

static void be_reset(void *o)
{
	(void)o;
	hv_partition_reset(fz.hv);
}

static void be_detach(void *o)
{
	(void)o;
	hv_partition_reset(fz.hv);
	hv_partition_unbind(fz.hv);
}

static const struct attach_backend_ops be_ops = {
	.attach = be_attach, .msr_read = be_msr_read, .msr_write = be_msr_write,
	.hypercall = be_hypercall, .signal = be_signal, .reset = be_reset, .detach = be_detach,
};

/* Ports for a guest to reach: a post answers, an event raises an SINT. */
static uint16_t fz_port_msg(void *opaque, uint32_t vp, uint32_t conn_id, const void *payload,
			    uint32_t size)
{
	(void)opaque;
	(void)conn_id;
	synic_post_message(fz.hv, vp, VMBUS_MESSAGE_SINT, HVMSG_VMBUS, payload, size);
	return HV_STATUS_SUCCESS;
}

static void fz_port_evt(void *opaque, uint32_t conn_id)
{
	(void)opaque;
	fz.signals++;
	synic_signal_event(fz.hv, 0, VMBUS_MESSAGE_SINT, conn_id);
}

/* ---- the client ----------------------------------------------------------- */

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static void pump(int rounds)
{
	for (int i = 0; i < rounds; i++)
		event_base_loop(fz.base, EVLOOP_NONBLOCK);
}

static int make_fd(int kind, uint64_t size)
{
	int fd, p[2];

	switch (kind) {
	case 0: /* RAM */
		fd = memfd_create("fuzz-ram", MFD_CLOEXEC | MFD_ALLOW_SEALING);
		if (fd >= 0 && ftruncate(fd, (off_t)size) < 0) {
			close(fd);
			fd = -1;
		}
		return fd;
	case 1: /* a memfd shorter than any region worth mapping */
		return make_fd(0, 4096);
	case 2:
		return eventfd(0, EFD_CLOEXEC);
	default:
		if (pipe2(p, O_CLOEXEC) < 0)
			return -1;
		close(p[1]);
		return p[0];
	}
}

/* One sendmsg of `len` bytes with `n` fds on it; the fds are ours to close
 * afterwards (the kernel passed duplicates, or nothing on failure). */
static void send_chunk(int sock, const void *buf, size_t len, const int *fds, int n)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 2)];
		struct cmsghdr align;
	} ctrl;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (n > 0 && len > 0) {
		struct cmsghdr *cm;

		memset(&ctrl, 0, sizeof(ctrl));
		msg.msg_control = ctrl.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)n);
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)n);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)n);
	}
	if (len > 0)
		(void)sendmsg(sock, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* Builds a well-formed frame of the type bytes[0] picks, its fields from
 * the other bytes.  Returns its length. */
static size_t template_frame(const uint8_t *b, size_t n, uint8_t *out, bool *wants_ram)
{
	struct fz_in in = { b, n, 0 };
	uint32_t type = fz_u8(&in) % 6 + 1;
	struct attach_hdr hdr = { .type = type, .seq = fz_u32(&in) };
	size_t size = 0;

	*wants_ram = false;
	switch (type) {
	case ATTACH_MSG_ATTACH: {
		uint8_t v = fz_u8(&in);
		struct attach_req req = {
			.version = (v & 0x80) ? fz_u32(&in) : ATTACH_PROTOCOL_VERSION,
			.n_vcpus = (v & 0x40) ? fz_u32(&in) : 1 + (v & 3),
			.n_regions = 1,
		};
		struct attach_region r = { 0, FZ_RAM_SIZE, 0 };

		if (v & 0x20) {
			r.gpa = fz_u64(&in);
			r.size = fz_u64(&in);
			r.fd_offset = fz_u64(&in);
		}
		memcpy(out + 16, &req, sizeof(req));
		memcpy(out + 16 + sizeof(req), &r, sizeof(r));
		size = sizeof(req) + sizeof(r);
		*wants_ram = true;
		break;
	}
	case ATTACH_MSG_MSR_READ:
	case ATTACH_MSG_MSR_WRITE: {
		struct attach_msr_req req = { .vcpu = fz_u8(&in) % 5,
					      .msr = HV_MSR_RANGE_FIRST + fz_u16(&in) % 0x200,
					      .value = fz_u64(&in) };

		memcpy(out + 16, &req, sizeof(req));
		size = sizeof(req);
		break;
	}
	case ATTACH_MSG_HYPERCALL: {
		struct attach_hypercall_req req = { .vcpu = fz_u8(&in) % 5 };
		uint8_t k = fz_u8(&in);

		/* A fast HvSignalEvent on our event port (what earns a signal
		 * eventfd), a HvPostMessage from the input page, or raw. */
		req.control = k == 0 ? HVCALL_SIGNAL_EVENT | HV_HC_FAST :
			      k == 1 ? HVCALL_POST_MESSAGE : fz_u64(&in);
		req.input = k == 0 ? FZ_EVT_CONN : k == 1 ? 0x3000 : fz_u64(&in);
		req.output = fz_u64(&in);
		memcpy(out + 16, &req, sizeof(req));
		size = sizeof(req);
		break;
	}
	default: /* RESET, DETACH: empty */
		break;
	}
	hdr.size = (uint32_t)size;
	memcpy(out, &hdr, sizeof(hdr));
	return sizeof(hdr) + size;
}

/* Reads whatever replies are there; checks their framing; kicks every
 * signal eventfd handed over, as a frontend's fast path does. */
static void read_replies(int sock)
{
	static uint8_t buf[64 * 1024];
	size_t have = 0;

	for (;;) {
		union {
			char buf[CMSG_SPACE(sizeof(int) * (1 + ATTACH_MAX_VCPUS))];
			struct cmsghdr align;
		} ctrl;
		struct iovec iov = { .iov_base = buf + have, .iov_len = sizeof(buf) - have };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctrl.buf,
				      .msg_controllen = sizeof(ctrl.buf) };
		ssize_t n = recvmsg(sock, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

		if (n <= 0)
			break;
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
			int k = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));

			for (int i = 0; i < k; i++) {
				int fd;
				uint64_t one = 1;

				memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(fd));
				/* Eventfds take the kick; the irq memfd ignores it. */
				(void)write(fd, &one, sizeof(one));
				close(fd);
			}
		}
		/* Complete replies leave the buffer below: it never fills. */
		have += (size_t)n;
		while (have >= sizeof(struct attach_hdr)) {
			struct attach_hdr h;

			memcpy(&h, buf, sizeof(h));
			CHECK(h.flags == ATTACH_F_REPLY && h.type >= ATTACH_MSG_ATTACH &&
			      h.type <= ATTACH_MSG_CLOCK && h.size <= ATTACH_MAX_PAYLOAD);
			if (have < sizeof(h) + h.size)
				break;
			memmove(buf, buf + sizeof(h) + h.size, have - sizeof(h) - h.size);
			have -= sizeof(h) + h.size;
		}
	}
	pump(2);
}

static struct attach_conn *connect_frontend(int *client, bool reject)
{
	struct attach_conn *c;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return NULL;
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	/* What attach_server_on_accept() does with an accepted socket. */
	c = attach_conn_new(fz.srv, sv[1], reject);
	if (!c) {
		close(sv[0]);
		close(sv[1]);
		return NULL;
	}
	if (reject) {
		TAILQ_INSERT_TAIL(&fz.srv->rejects, c, link);
		fz.srv->n_rejects++;
	} else {
		fz.srv->frontend = c;
	}
	*client = sv[0];
	return c;
}

static void fz_init(void)
{
	struct hv_irq_sink sink = { .raise = fz_raise };

	log_set_level(LOG_ERROR);
	snprintf(fz.dir, sizeof(fz.dir), "/tmp/vmbusd-fuzz-attach-XXXXXX");
	if (!mkdtemp(fz.dir))
		abort();
	snprintf(fz.path, sizeof(fz.path), "%s/s", fz.dir);
	fz.base = event_base_new();
	fz.hv = hv_partition_new(&sink);
	fz.srv = fz.base && fz.hv ? attach_server_new(fz.base, fz.path, &be_ops, NULL) : NULL;
	if (!fz.srv || hv_register_message_port(fz.hv, FZ_MSG_CONN, fz_port_msg, NULL) < 0 ||
	    hv_register_event_port(fz.hv, FZ_EVT_CONN, fz_port_evt, NULL) < 0)
		abort();
	/* The listener is not needed past creation; its socket file is. */
	unlink(fz.path);
	rmdir(fz.dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = { data, size, 0 };
	static uint8_t frame[16 + ATTACH_MAX_PAYLOAD + 64];
	int client = -1, second = -1, base_fds;

	if (!fz.srv)
		fz_init();
	/* Counted per run: libFuzzer's symbolizer opens pipes between runs. */
	base_fds = count_fds();
	if (!connect_frontend(&client, false))
		return 0;
	while (fz_more(&in)) {
		uint8_t ctl = fz_u8(&in);
		uint16_t len = fz_u16(&in);
		const uint8_t *bytes = in.p + (in.pos < in.len ? in.pos : in.len);
		size_t have = in.pos < in.len ? in.len - in.pos : 0, n;
		int fds[2], n_fds = 0, sock = client;
		bool wants_ram = false;

		if (len > have)
			len = (uint16_t)have;
		in.pos += len;
		if (ctl & 4) {
			n = template_frame(bytes, len, frame, &wants_ram);
		} else {
			n = len < sizeof(frame) ? len : sizeof(frame);
			memcpy(frame, bytes, n);
		}
		if ((ctl & 3) == 1 || (ctl & 3) == 3 || ((ctl & 3) == 0 && wants_ram))
			fds[n_fds++] = make_fd(0, FZ_RAM_SIZE);
		if ((ctl & 3) == 2)
			fds[n_fds++] = make_fd(1 + (ctl >> 6) % 3, 0);
		if ((ctl & 3) == 3)
			fds[n_fds++] = make_fd(0, FZ_RAM_SIZE);
		/* As the listener would: a second frontend only while the
		 * first is still there (else it would simply be the next). */
		if ((ctl & 0x20) && second < 0 && fz.srv->frontend &&
		    fz.srv->n_rejects < ATTACH_MAX_REJECTS && connect_frontend(&second, true))
			sock = second;
		send_chunk(sock, frame, n, fds, n_fds);
		for (int i = 0; i < n_fds; i++)
			if (fds[i] >= 0)
				close(fds[i]);
		pump(2);
		if (ctl & 8) {
			read_replies(client);
			if (second >= 0)
				read_replies(second);
		}
		if (ctl & 0x10)
			shutdown(sock, SHUT_WR);
		pump(1);
	}
	read_replies(client);
	/* The frontend hangs up: everything it had must go. */
	close(client);
	if (second >= 0)
		close(second);
	for (int i = 0; i < 64 && (fz.srv->frontend || fz.srv->n_rejects); i++)
		pump(1);
	CHECK(!fz.srv->frontend && fz.srv->n_rejects == 0);
	CHECK(!hv_partition_bound(fz.hv));
	CHECK(count_fds() == base_fds);
	return 0;
}
