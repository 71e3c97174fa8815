/* SPDX-License-Identifier: MIT */
/*
 * The plugin-protocol server against a raw client on a real Unix socket.
 * Server and client share this process (and thread): the client pumps the
 * event loop while it waits, so every test is deterministic, and every fd
 * the server leaks would show up in /proc/self/fd.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "attach/attach.h"
#include "core/log.h"
#include "core/util.h"
#include "vmbusd/proto/hv.h"

#define RAM_SIZE (1u << 20)
#define MSR_REFUSED 0x40000099u
#define HC_RAISE 0x99u   /* fake hypercall: raise vector R8 on vCPU RDX */
#define HC_PEEK 0x98u    /* fake hypercall: return the guest qword at RDX */
#define WAIT_MS 3000

/* ---- a recording backend ------------------------------------------------ */

static struct {
	uint32_t attach_calls, detach_calls, reset_calls, signal_calls;
	uint32_t last_signal, n_vcpus;
	int refuse_attach;
	struct gmem *mem;
} be;

static struct event_base *base;
static struct attach_server *srv;
static char sock_dir[64], sock_path[128];

static int be_attach(void *o, struct gmem *mem, uint32_t n_vcpus, struct attach_cpuid *cpuid,
		     uint32_t max)
{
	be.attach_calls++;
	if (be.refuse_attach)
		return be.refuse_attach;
	be.mem = mem;
	be.n_vcpus = n_vcpus;
	ck_assert_uint_ge(max, 2);
	cpuid[0] = (struct attach_cpuid){ HV_CPUID_VENDOR_AND_MAX, 0, 0x40000005,
					  HV_CPUID_SIGNATURE_EBX, HV_CPUID_SIGNATURE_ECX,
					  HV_CPUID_SIGNATURE_EDX };
	cpuid[1] = (struct attach_cpuid){ HV_CPUID_IMPLEMENT_LIMITS, 0, n_vcpus, n_vcpus, 0, 0 };
	return 2;
}

static int be_msr_read(void *o, uint32_t vcpu, uint32_t msr, uint64_t *value)
{
	if (msr == MSR_REFUSED)
		return -EPERM;
	*value = ((uint64_t)vcpu << 32) | msr;
	return 0;
}

static int be_msr_write(void *o, uint32_t vcpu, uint32_t msr, uint64_t value, uint32_t *action,
			uint64_t *arg)
{
	if (msr == MSR_REFUSED)
		return -EPERM;
	if (msr == HV_MSR_HYPERCALL && (value & 1)) {
		*action = ATTACH_ACTION_HYPERCALL_PAGE;
		*arg = value & HV_MSR_PAGE_MASK;
	}
	return 0;
}

static uint64_t be_hypercall(void *o, uint32_t vcpu, uint64_t control, uint64_t input,
			     uint64_t output, uint32_t *signal_conn_id)
{
	uint64_t *p;

	switch (control & HV_HC_CODE_MASK) {
	case HVCALL_SIGNAL_EVENT:
		if (control & HV_HC_FAST)
			*signal_conn_id = (uint32_t)input;
		return HV_STATUS_SUCCESS;
	case HC_RAISE:
		attach_raise_irq(srv, (uint32_t)input, (uint8_t)output);
		return HV_STATUS_SUCCESS;
	case HC_PEEK:
		p = gmem_translate(be.mem, input, 8);
		return p ? *p : ~0ull;
	default:
		return HV_STATUS_INVALID_HYPERCALL_CODE;
	}
}

static void be_signal(void *o, uint32_t conn_id)
{
	be.signal_calls++;
	be.last_signal = conn_id;
}

static void be_reset(void *o)
{
	be.reset_calls++;
}

static void be_detach(void *o)
{
	be.detach_calls++;
	be.mem = NULL;
}

static const struct attach_backend_ops be_ops = {
	.attach = be_attach, .msr_read = be_msr_read, .msr_write = be_msr_write,
	.hypercall = be_hypercall, .signal = be_signal, .reset = be_reset, .detach = be_detach,
};

/* ---- fixture and client helpers -------------------------------------------- */

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the DIR's own fd */
}

static void pump(void)
{
	event_base_loop(base, EVLOOP_NONBLOCK);
}

static void pump_ms(uint32_t ms)
{
	uint64_t end = now_ns() + (uint64_t)ms * 1000000u;

	while (now_ns() < end) {
		pump();
		usleep(1000);
	}
}

static void setup(void)
{
	memset(&be, 0, sizeof(be));
	snprintf(sock_dir, sizeof(sock_dir), "/tmp/vmbusd-attach-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(sock_dir));
	snprintf(sock_path, sizeof(sock_path), "%s/vmbusd.sock", sock_dir);
	base = event_base_new();
	ck_assert_ptr_nonnull(base);
	srv = attach_server_new(base, sock_path, &be_ops, NULL);
	ck_assert_ptr_nonnull(srv);
}

static void teardown(void)
{
	attach_server_free(srv);
	event_base_free(base);
	unlink(sock_path);
	rmdir(sock_dir);
}

static int cl_connect(void)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	memcpy(addr.sun_path, sock_path, strlen(sock_path) + 1);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	pump();
	return fd;
}

/* Sends raw bytes with fds on the first byte. */
static void cl_send_raw(int fd, const void *buf, size_t len, const int *fds, int n_fds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 64)];
		struct cmsghdr align;
	} ctrl;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (n_fds > 0) {
		struct cmsghdr *cm;

		memset(&ctrl, 0, sizeof(ctrl));
		msg.msg_control = ctrl.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)n_fds);
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)n_fds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)n_fds);
	}
	ck_assert_int_eq(sendmsg(fd, &msg, MSG_NOSIGNAL), (ssize_t)len);
}

static void cl_send(int fd, uint32_t type, uint32_t flags, uint32_t seq, const void *payload,
		    uint32_t size, const int *fds, int n_fds)
{
	static uint8_t buf[sizeof(struct attach_hdr) + 2 * ATTACH_MAX_PAYLOAD];
	struct attach_hdr hdr = { .type = type, .flags = flags, .size = size, .seq = seq };
	size_t len = sizeof(hdr);

	memcpy(buf, &hdr, sizeof(hdr));
	if (payload) {
		memcpy(buf + sizeof(hdr), payload, size);
		len += size;
	}
	cl_send_raw(fd, buf, len, fds, n_fds);
}

/* Reads exactly len bytes (collecting fds), pumping the server meanwhile.
 * 1 when read, 0 on EOF, -1 on timeout. */
static int cl_read(int fd, void *buf, size_t len, int *fds, int *n_fds)
{
	uint64_t end = now_ns() + (uint64_t)WAIT_MS * 1000000u;
	size_t got = 0;

	while (got < len) {
		union {
			char buf[CMSG_SPACE(sizeof(int) * 128)];
			struct cmsghdr align;
		} ctrl;
		struct iovec iov = { .iov_base = (uint8_t *)buf + got, .iov_len = len - got };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctrl.buf,
				      .msg_controllen = sizeof(ctrl.buf) };
		ssize_t n = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct pollfd pfd = { .fd = fd, .events = POLLIN };

			if (now_ns() > end)
				return -1;
			pump();
			poll(&pfd, 1, 1);
			continue;
		}
		if (n <= 0)
			return 0;
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
			int k = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));

			ck_assert_ptr_nonnull(n_fds);
			memcpy(fds + *n_fds, CMSG_DATA(cm), sizeof(int) * (size_t)k);
			*n_fds += k;
		}
		got += (size_t)n;
	}
	return 1;
}

/* Receives one reply; its payload must be exactly `size` bytes. */
static void cl_recv(int fd, uint32_t type, uint32_t seq, void *payload, uint32_t size,
		    int *fds, int *n_fds)
{
	struct attach_hdr hdr;
	int dummy_fds[128], dummy_n = 0;

	if (!fds) {
		fds = dummy_fds;
		n_fds = &dummy_n;
	}
	ck_assert_int_eq(cl_read(fd, &hdr, sizeof(hdr), fds, n_fds), 1);
	ck_assert_uint_eq(hdr.type, type);
	ck_assert_uint_eq(hdr.flags, ATTACH_F_REPLY);
	ck_assert_uint_eq(hdr.seq, seq);
	ck_assert_uint_le(hdr.size, size);
	if (hdr.size)
		ck_assert_int_eq(cl_read(fd, payload, hdr.size, fds, n_fds), 1);
	ck_assert_uint_eq(hdr.size, size);
	if (fds == dummy_fds)
		ck_assert_int_eq(dummy_n, 0);
}

/* The server hung up (after any reply already read). */
static void cl_expect_eof(int fd)
{
	uint8_t b;

	ck_assert_int_eq(cl_read(fd, &b, 1, NULL, NULL), 0);
	close(fd);
}

static int make_ram(size_t size)
{
	int fd = memfd_create("test-ram", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, (off_t)size), 0);
	return fd;
}

struct attach_msg {
	struct attach_req req;
	struct attach_region regions[ATTACH_MAX_REGIONS + 2];
} __attribute__((packed));

struct attach_ok {
	struct attach_reply rep;
	struct attach_cpuid cpuid[2];
} __attribute__((packed));

/* A full, valid ATTACH of `n_vcpus` with one RAM region; returns the reply
 * fds (irq memfd, then eventfds). */
static void cl_attach(int fd, uint32_t n_vcpus, int *fds, int *n_fds, struct attach_ok *ok)
{
	struct attach_msg m = { .req = { ATTACH_PROTOCOL_VERSION, n_vcpus, 1, 0 },
				.regions = { { 0, RAM_SIZE, 0 } } };
	int ram = make_ram(RAM_SIZE);

	cl_send(fd, ATTACH_MSG_ATTACH, 0, 1, &m, sizeof(m.req) + sizeof(m.regions[0]), &ram, 1);
	close(ram); /* the server holds its own reference now */
	*n_fds = 0;
	cl_recv(fd, ATTACH_MSG_ATTACH, 1, ok, sizeof(*ok), fds, n_fds);
	ck_assert_int_eq(ok->rep.status, 0);
	ck_assert_int_eq(*n_fds, 1 + (int)n_vcpus);
}

static void close_fds(int *fds, int n)
{
	for (int i = 0; i < n; i++)
		close(fds[i]);
}

static struct attach_msr_reply cl_msr(int fd, uint32_t type, uint32_t vcpu, uint32_t msr,
				      uint64_t value, uint32_t seq)
{
	struct attach_msr_req req = { vcpu, msr, value };
	struct attach_msr_reply rep;

	cl_send(fd, type, 0, seq, &req, sizeof(req), NULL, 0);
	cl_recv(fd, type, seq, &rep, sizeof(rep), NULL, NULL);
	return rep;
}

/* A fresh client attaches after whatever happened before. */
static void next_client_attaches(void)
{
	struct attach_ok ok;
	int fds[1 + ATTACH_MAX_VCPUS], n;
	int c = cl_connect();
	uint64_t gen = attach_server_generation(srv);

	cl_attach(c, 1, fds, &n, &ok);
	ck_assert(attach_server_attached(srv));
	ck_assert_uint_eq(attach_server_generation(srv), gen + 1);
	close_fds(fds, n);
	close(c);
	pump_ms(5);
	ck_assert(!attach_server_attached(srv));
}

/* ---- tests ------------------------------------------------------------------ */

START_TEST(attach_replies_cpuid_and_maps_ram)
{
	struct attach_ok ok;
	int fds[8], n, c = cl_connect();
	uint64_t magic = 0x1122334455667788ull, *ram;
	struct attach_msg m = { .req = { ATTACH_PROTOCOL_VERSION, 2, 2, 0 },
				.regions = { { 0, RAM_SIZE, 0 }, { 0x100000000ull, 0x2000, 0x3000 } } };
	int rams[2] = { make_ram(RAM_SIZE), make_ram(0x5000) };
	struct attach_hypercall_req hreq = { .vcpu = 0, .control = HC_PEEK };
	struct attach_hypercall_reply hrep;

	ck_assert(!attach_server_attached(srv));
	cl_send(c, ATTACH_MSG_ATTACH, 0, 42, &m, sizeof(m.req) + 2 * sizeof(m.regions[0]), rams, 2);
	n = 0;
	cl_recv(c, ATTACH_MSG_ATTACH, 42, &ok, sizeof(ok), fds, &n);
	ck_assert_int_eq(ok.rep.status, 0);
	ck_assert_uint_eq(ok.rep.version, ATTACH_PROTOCOL_VERSION);
	ck_assert_uint_eq(ok.rep.n_cpuid, 2);
	ck_assert_uint_eq(ok.rep.irq_area_size, 4096);
	ck_assert_uint_eq(ok.cpuid[0].function, HV_CPUID_VENDOR_AND_MAX);
	ck_assert_uint_eq(ok.cpuid[0].ebx, HV_CPUID_SIGNATURE_EBX);
	ck_assert_uint_eq(ok.cpuid[1].eax, 2);
	ck_assert_int_eq(n, 3);
	ck_assert(attach_server_attached(srv));
	ck_assert_uint_eq(attach_server_generation(srv), 1);
	ck_assert_uint_eq(be.attach_calls, 1);
	ck_assert_uint_eq(be.n_vcpus, 2);

	/* The server sees the frontend's RAM: both regions, fd_offset honoured. */
	ram = mmap(NULL, 0x5000, PROT_READ | PROT_WRITE, MAP_SHARED, rams[1], 0);
	ck_assert_ptr_ne(ram, MAP_FAILED);
	ram[0x3008 / 8] = magic;
	hreq.input = 0x100000008ull;
	cl_send(c, ATTACH_MSG_HYPERCALL, 0, 43, &hreq, sizeof(hreq), NULL, 0);
	cl_recv(c, ATTACH_MSG_HYPERCALL, 43, &hrep, sizeof(hrep), NULL, NULL);
	ck_assert_uint_eq(hrep.result, magic);
	ck_assert_uint_eq(hrep.flags, 0);
	munmap(ram, 0x5000);
	close_fds(rams, 2);
	close_fds(fds, n);
	close(c);
	pump_ms(5);
	ck_assert_uint_eq(be.detach_calls, 1);
}
END_TEST

START_TEST(irq_area_and_eventfds_work)
{
	struct attach_ok ok;
	int fds[8], n, c = cl_connect();
	struct attach_hypercall_req hreq = { .vcpu = 0, .control = HC_RAISE, .input = 1,
					     .output = HV_CALLBACK_VECTOR };
	struct attach_hypercall_reply hrep;
	struct attach_irq_slot *area;
	uint64_t v, pending;

	cl_attach(c, 2, fds, &n, &ok);
	area = mmap(NULL, ok.rep.irq_area_size, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], 0);
	ck_assert_ptr_ne(area, MAP_FAILED);
	/* Sealed: a frontend cannot pull the pages from under the daemon. */
	ck_assert_int_eq(ftruncate(fds[0], 0), -1);
	ck_assert_int_eq(errno, EPERM);

	cl_send(c, ATTACH_MSG_HYPERCALL, 0, 2, &hreq, sizeof(hreq), NULL, 0);
	cl_recv(c, ATTACH_MSG_HYPERCALL, 2, &hrep, sizeof(hrep), NULL, NULL);
	/* vCPU 1's doorbell rang, vCPU 0's did not. */
	ck_assert_int_eq(read(fds[2], &v, sizeof(v)), (ssize_t)sizeof(v));
	ck_assert_uint_eq(v, 1);
	ck_assert_int_eq(read(fds[1], &v, sizeof(v)), -1);
	ck_assert_int_eq(errno, EAGAIN);
	/* The bitmap is the source of truth: vector 0xF3 = word 3, bit 51. */
	pending = __atomic_exchange_n(&area[1].pending[3], 0, __ATOMIC_ACQUIRE);
	ck_assert_uint_eq(pending, 1ull << (HV_CALLBACK_VECTOR % 64));
	ck_assert_uint_eq(area[0].pending[3] | area[1].pending[0], 0);

	/* Coalesced kicks lose nothing: two vectors, one counter. */
	attach_raise_irq(srv, 0, 0x30);
	attach_raise_irq(srv, 0, 0x31);
	attach_raise_irq(srv, 7, 0x30); /* out of range: ignored */
	ck_assert_int_eq(read(fds[1], &v, sizeof(v)), (ssize_t)sizeof(v));
	ck_assert_uint_eq(v, 2);
	ck_assert_uint_eq(area[0].pending[0], 3ull << 48);

	/* A reset forgets pending vectors of the old guest. */
	cl_send(c, ATTACH_MSG_RESET, 0, 3, NULL, 0, NULL, 0);
	{
		struct attach_status_reply st;

		cl_recv(c, ATTACH_MSG_RESET, 3, &st, sizeof(st), NULL, NULL);
		ck_assert_int_eq(st.status, 0);
	}
	ck_assert_uint_eq(area[0].pending[0], 0);
	munmap(area, ok.rep.irq_area_size);
	close_fds(fds, n);
	close(c);
	pump_ms(5);
	/* Without a frontend, raising is a no-op. */
	attach_raise_irq(srv, 0, 0x30);
}
END_TEST

START_TEST(msr_requests)
{
	struct attach_ok ok;
	int fds[8], n, c = cl_connect();
	struct attach_msr_reply r;

	cl_attach(c, 2, fds, &n, &ok);
	r = cl_msr(c, ATTACH_MSG_MSR_READ, 1, HV_MSR_VP_INDEX, 0, 10);
	ck_assert_uint_eq(r.result, ATTACH_MSR_OK);
	ck_assert_uint_eq(r.value, (1ull << 32) | HV_MSR_VP_INDEX);
	r = cl_msr(c, ATTACH_MSG_MSR_READ, 0, MSR_REFUSED, 0, 11);
	ck_assert_uint_eq(r.result, ATTACH_MSR_GP);
	r = cl_msr(c, ATTACH_MSG_MSR_WRITE, 0, HV_MSR_HYPERCALL, 0x5001, 12);
	ck_assert_uint_eq(r.result, ATTACH_MSR_OK);
	ck_assert_uint_eq(r.action, ATTACH_ACTION_HYPERCALL_PAGE);
	ck_assert_uint_eq(r.value, 0x5000);
	r = cl_msr(c, ATTACH_MSG_MSR_WRITE, 0, MSR_REFUSED, 1, 13);
	ck_assert_uint_eq(r.result, ATTACH_MSR_GP);
	ck_assert_uint_eq(r.action, ATTACH_ACTION_NONE);
	close_fds(fds, n);
	close(c);
}
END_TEST

START_TEST(signal_eventfd_fast_path_and_reset)
{
	struct attach_ok ok;
	int fds[8], n, c = cl_connect(), sfd[4], ns = 0;
	struct attach_hypercall_req hreq = { .vcpu = 0, .control = HVCALL_SIGNAL_EVENT | HV_HC_FAST,
					     .input = 0x42 };
	struct attach_hypercall_reply hrep;
	struct attach_status_reply st;
	uint64_t one = 1;

	cl_attach(c, 1, fds, &n, &ok);
	cl_send(c, ATTACH_MSG_HYPERCALL, 0, 5, &hreq, sizeof(hreq), NULL, 0);
	cl_recv(c, ATTACH_MSG_HYPERCALL, 5, &hrep, sizeof(hrep), sfd, &ns);
	ck_assert_uint_eq(hrep.result, HV_STATUS_SUCCESS);
	ck_assert_uint_eq(hrep.flags, ATTACH_HC_SIGNAL_FD);
	ck_assert_uint_eq(hrep.conn_id, 0x42);
	ck_assert_int_eq(ns, 1);

	/* Kicks become backend->signal(conn_id); coalesced kicks may merge. */
	ck_assert_int_eq(write(sfd[0], &one, sizeof(one)), (ssize_t)sizeof(one));
	pump_ms(5);
	ck_assert_uint_eq(be.signal_calls, 1);
	ck_assert_uint_eq(be.last_signal, 0x42);

	/* A slow HvSignalEvent gets no fd. */
	hreq.control = HVCALL_SIGNAL_EVENT;
	cl_send(c, ATTACH_MSG_HYPERCALL, 0, 6, &hreq, sizeof(hreq), NULL, 0);
	cl_recv(c, ATTACH_MSG_HYPERCALL, 6, &hrep, sizeof(hrep), NULL, NULL);
	ck_assert_uint_eq(hrep.flags, 0);

	/* After RESET the old eventfd serves nothing. */
	cl_send(c, ATTACH_MSG_RESET, 0, 7, NULL, 0, NULL, 0);
	cl_recv(c, ATTACH_MSG_RESET, 7, &st, sizeof(st), NULL, NULL);
	ck_assert_int_eq(st.status, 0);
	ck_assert_uint_eq(be.reset_calls, 1);
	ck_assert_int_eq(write(sfd[0], &one, sizeof(one)), (ssize_t)sizeof(one));
	pump_ms(5);
	ck_assert_uint_eq(be.signal_calls, 1);

	/* ... and a new fast call hands out a new one. */
	hreq.control = HVCALL_SIGNAL_EVENT | HV_HC_FAST;
	cl_send(c, ATTACH_MSG_HYPERCALL, 0, 8, &hreq, sizeof(hreq), NULL, 0);
	cl_recv(c, ATTACH_MSG_HYPERCALL, 8, &hrep, sizeof(hrep), sfd, &ns);
	ck_assert_int_eq(ns, 2);
	ck_assert_int_eq(write(sfd[1], &one, sizeof(one)), (ssize_t)sizeof(one));
	pump_ms(5);
	ck_assert_uint_eq(be.signal_calls, 2);
	close_fds(sfd, ns);
	close_fds(fds, n);
	close(c);
}
END_TEST

START_TEST(detach_then_next_client)
{
	struct attach_ok ok;
	int fds[8], n, c = cl_connect();
	struct attach_status_reply st;

	cl_attach(c, 1, fds, &n, &ok);
	cl_send(c, ATTACH_MSG_DETACH, 0, 9, NULL, 0, NULL, 0);
	cl_recv(c, ATTACH_MSG_DETACH, 9, &st, sizeof(st), NULL, NULL);
	ck_assert_int_eq(st.status, 0);
	cl_expect_eof(c);
	ck_assert_uint_eq(be.detach_calls, 1);
	ck_assert(!attach_server_attached(srv));
	close_fds(fds, n);
	next_client_attaches();
	ck_assert_uint_eq(attach_server_generation(srv), 2);
}
END_TEST

START_TEST(second_client_gets_ebusy)
{
	struct attach_ok ok, busy;
	int fds[8], n, a = cl_connect(), b, ram = make_ram(RAM_SIZE);
	struct attach_msg m = { .req = { ATTACH_PROTOCOL_VERSION, 1, 1, 0 },
				.regions = { { 0, RAM_SIZE, 0 } } };
	int baseline;

	cl_attach(a, 1, fds, &n, &ok);
	baseline = count_fds();
	b = cl_connect();
	cl_send(b, ATTACH_MSG_ATTACH, 0, 77, &m, sizeof(m.req) + sizeof(m.regions[0]), &ram, 1);
	cl_recv(b, ATTACH_MSG_ATTACH, 77, &busy.rep, sizeof(busy.rep), NULL, NULL);
	ck_assert_int_eq(busy.rep.status, -EBUSY);
	cl_expect_eof(b);
	ck_assert_int_eq(count_fds(), baseline);
	ck_assert_uint_eq(be.attach_calls, 1);
	/* The first frontend is unaffected. */
	ck_assert_uint_eq(cl_msr(a, ATTACH_MSG_MSR_READ, 0, HV_MSR_VP_INDEX, 0, 2).result,
			  ATTACH_MSR_OK);
	ck_assert(attach_server_attached(srv));
	/* A silent second client is dropped after a second. */
	b = cl_connect();
	pump_ms(1300);
	cl_expect_eof(b);
	close(ram);
	close_fds(fds, n);
	close(a);
}
END_TEST

START_TEST(client_vanishing_mid_message)
{
	struct attach_ok ok;
	int fds[8], n, c = cl_connect();
	struct attach_hdr hdr = { ATTACH_MSG_MSR_WRITE, 0, sizeof(struct attach_msr_req), 3 };
	uint8_t buf[sizeof(hdr) + 4] = { 0 };

	cl_attach(c, 1, fds, &n, &ok);
	memcpy(buf, &hdr, sizeof(hdr));
	cl_send_raw(c, buf, sizeof(buf), NULL, 0);
	pump_ms(5);
	ck_assert(attach_server_attached(srv));
	close(c);
	close_fds(fds, n);
	pump_ms(5);
	ck_assert(!attach_server_attached(srv));
	ck_assert_uint_eq(be.detach_calls, 1);
	/* Half a header before ATTACH, then gone. */
	c = cl_connect();
	cl_send_raw(c, buf, 7, NULL, 0);
	pump_ms(2);
	close(c);
	pump_ms(5);
	next_client_attaches();
}
END_TEST

START_TEST(client_not_reading_replies_is_detached)
{
	struct attach_ok ok;
	int fds[8], n, c = cl_connect();
	struct attach_hdr hdr = { ATTACH_MSG_MSR_READ, 0, sizeof(struct attach_msr_req), 0 };
	uint8_t buf[sizeof(hdr) + sizeof(struct attach_msr_req)] = { 0 };
	int stalls = 0;

	cl_attach(c, 1, fds, &n, &ok);
	memcpy(buf, &hdr, sizeof(hdr));
	/* Send requests, never read a reply, until the server stops reading. */
	for (int i = 0; i < 1000000 && stalls < 50; i++) {
		if (send(c, buf, sizeof(buf), MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
			ck_assert_int_eq(errno, EAGAIN);
			stalls++;
			pump();
		} else {
			stalls = 0;
			if (i % 16 == 0)
				pump();
		}
	}
	ck_assert(attach_server_attached(srv));
	pump_ms(1500);
	ck_assert(!attach_server_attached(srv));
	ck_assert_uint_eq(be.detach_calls, 1);
	close_fds(fds, n);
	close(c);
}
END_TEST

/* ---- malformed input: each case is dropped, leaks nothing, and the next
 * client attaches. ---------------------------------------------------------- */

enum expect { EXPECT_EOF, EXPECT_STATUS };

struct bad_case {
	const char *name;
	bool attach_first;   /* send a valid ATTACH before the bad message */
	enum expect expect;
	int32_t status;      /* for EXPECT_STATUS */
	void (*send)(int c);
};

static void send_attach_msg(int c, const struct attach_msg *m, uint32_t n_regions_in_size,
			    const int *fds, int n_fds)
{
	cl_send(c, ATTACH_MSG_ATTACH, 0, 1, m,
		(uint32_t)(sizeof(m->req) + n_regions_in_size * sizeof(m->regions[0])), fds, n_fds);
}

static void bad_oversize(int c)
{
	struct attach_hdr hdr = { ATTACH_MSG_ATTACH, 0, ATTACH_MAX_PAYLOAD + 1, 1 };

	cl_send_raw(c, &hdr, sizeof(hdr), NULL, 0);
}

static void bad_huge_size(int c)
{
	struct attach_hdr hdr = { ATTACH_MSG_HYPERCALL, 0, 0xFFFFFFFFu, 1 };

	cl_send_raw(c, &hdr, sizeof(hdr), NULL, 0);
}

static void bad_short_payload(int c)
{
	struct attach_msr_req req = { 0 };

	cl_send(c, ATTACH_MSG_MSR_READ, 0, 2, &req, 8, NULL, 0);
}

static void bad_long_payload(int c)
{
	uint8_t req[40] = { 0 };

	cl_send(c, ATTACH_MSG_HYPERCALL, 0, 2, req, sizeof(req), NULL, 0);
}

static void bad_fds_none(int c)
{
	struct attach_msg m = { .req = { ATTACH_PROTOCOL_VERSION, 1, 1, 0 },
				.regions = { { 0, RAM_SIZE, 0 } } };

	send_attach_msg(c, &m, 1, NULL, 0);
}

static void bad_fds_two_for_one(int c)
{
	struct attach_msg m = { .req = { ATTACH_PROTOCOL_VERSION, 1, 1, 0 },
				.regions = { { 0, RAM_SIZE, 0 } } };
	int f[2] = { make_ram(RAM_SIZE), make_ram(RAM_SIZE) };

	send_attach_msg(c, &m, 1, f, 2);
	close_fds(f, 2);
}

static void bad_fds_flood(int c)
{
	struct attach_msg m = { .req = { ATTACH_PROTOCOL_VERSION, 1, 1, 0 },
				.regions = { { 0, RAM_SIZE, 0 } } };
	int f[40];

	for (int i = 0; i < 40; i++)
		f[i] = eventfd(0, EFD_CLOEXEC);
	send_attach_msg(c, &m, 1, f, 40);
	close_fds(f, 40);
}

static void bad_overlap(int c)
{
	struct attach_msg m = { .req = { ATTACH_PROTOCOL_VERSION, 1, 2, 0 },
				.regions = { { 0, RAM_SIZE, 0 }, { RAM_SIZE / 2, RAM_SIZE, 0 } } };
	int f[2] = { make_ram(RAM_SIZE), make_ram(RAM_SIZE) };

	send_attach_msg(c, &m, 2, f, 2);
	close_fds(f, 2);
}

static void bad_region_past_eof(int c)
{
	struct attach_msg m = { .req = { ATTACH_PROTOCOL_VERSION, 1, 1, 0 },
				.regions = { { 0, RAM_SIZE, 0 } } };
	int f = make_ram(4096);

	send_attach_msg(c, &m, 1, &f, 1);
	close(f);
}

static void bad_region_not_file(int c)
{
	struct attach_msg m = { .req = { ATTACH_PROTOCOL_VERSION, 1, 1, 0 },
				.regions = { { 0, 4096, 0 } } };
	int f = eventfd(0, EFD_CLOEXEC);

	send_attach_msg(c, &m, 1, &f, 1);
	close(f);
}

static void bad_region_unaligned(int c)
{
	struct attach_msg m = { .req = { ATTACH_PROTOCOL_VERSION, 1, 1, 0 },
				.regions = { { 0x800, 4096, 0 } } };
	int f = make_ram(RAM_SIZE);

	send_attach_msg(c, &m, 1, &f, 1);
	close(f);
}

static void bad_version(int c)
{
	struct attach_msg m = { .req = { ATTACH_PROTOCOL_VERSION + 1, 1, 1, 0 },
				.regions = { { 0, RAM_SIZE, 0 } } };
	int f = make_ram(RAM_SIZE);

	send_attach_msg(c, &m, 1, &f, 1);
	close(f);
}

static void bad_vcpus_zero(int c)
{
	struct attach_msg m = { .req = { ATTACH_PROTOCOL_VERSION, 0, 1, 0 },
				.regions = { { 0, RAM_SIZE, 0 } } };
	int f = make_ram(RAM_SIZE);

	send_attach_msg(c, &m, 1, &f, 1);
	close(f);
}

static void bad_vcpus_many(int c)
{
	struct attach_msg m = { .req = { ATTACH_PROTOCOL_VERSION, ATTACH_MAX_VCPUS + 1, 1, 0 },
				.regions = { { 0, RAM_SIZE, 0 } } };
	int f = make_ram(RAM_SIZE);

	send_attach_msg(c, &m, 1, &f, 1);
	close(f);
}

static void bad_region_count_mismatch(int c)
{
	struct attach_msg m = { .req = { ATTACH_PROTOCOL_VERSION, 1, 2, 0 },
				.regions = { { 0, RAM_SIZE, 0 } } };
	int f = make_ram(RAM_SIZE);

	send_attach_msg(c, &m, 1, &f, 1);
	close(f);
}

static void bad_zero_regions(int c)
{
	struct attach_msg m = { .req = { ATTACH_PROTOCOL_VERSION, 1, 0, 0 } };

	send_attach_msg(c, &m, 0, NULL, 0);
}

static void bad_attach_flags(int c)
{
	struct attach_msg m = { .req = { ATTACH_PROTOCOL_VERSION, 1, 1, 4 },
				.regions = { { 0, RAM_SIZE, 0 } } };
	int f = make_ram(RAM_SIZE);

	send_attach_msg(c, &m, 1, &f, 1);
	close(f);
}

static void bad_attach_ragged_size(int c)
{
	struct attach_msg m = { .req = { ATTACH_PROTOCOL_VERSION, 1, 1, 0 },
				.regions = { { 0, RAM_SIZE, 0 } } };

	cl_send(c, ATTACH_MSG_ATTACH, 0, 1, &m, sizeof(m.req) + 20, NULL, 0);
}

static void bad_too_many_regions(int c)
{
	struct attach_msg m = { .req = { ATTACH_PROTOCOL_VERSION, 1, ATTACH_MAX_REGIONS + 1, 0 } };

	send_attach_msg(c, &m, ATTACH_MAX_REGIONS + 1, NULL, 0);
}

static void bad_unknown_type(int c)
{
	cl_send(c, 99, 0, 1, NULL, 0, NULL, 0);
}

static void bad_type_zero(int c)
{
	cl_send(c, 0, 0, 1, NULL, 0, NULL, 0);
}

static void bad_header_flags(int c)
{
	cl_send(c, ATTACH_MSG_RESET, ATTACH_F_REPLY, 1, NULL, 0, NULL, 0);
}

static void bad_before_attach(int c)
{
	struct attach_msr_req req = { 0, HV_MSR_VP_INDEX, 0 };

	cl_send(c, ATTACH_MSG_MSR_READ, 0, 1, &req, sizeof(req), NULL, 0);
}

static void bad_attach_twice(int c)
{
	bad_fds_two_for_one(c);
}

static void bad_fd_on_msr(int c)
{
	struct attach_msr_req req = { 0, HV_MSR_VP_INDEX, 0 };
	int f = make_ram(4096);

	cl_send(c, ATTACH_MSG_MSR_READ, 0, 2, &req, sizeof(req), &f, 1);
	close(f);
}

static void bad_backend_refuses(int c)
{
	struct attach_msg m = { .req = { ATTACH_PROTOCOL_VERSION, 1, 1, 0 },
				.regions = { { 0, RAM_SIZE, 0 } } };
	int f = make_ram(RAM_SIZE);

	be.refuse_attach = -EPERM;
	send_attach_msg(c, &m, 1, &f, 1);
	close(f);
}

static const struct bad_case bad_cases[] = {
	{ "oversize", false, EXPECT_EOF, 0, bad_oversize },
	{ "huge size", true, EXPECT_EOF, 0, bad_huge_size },
	{ "short payload", true, EXPECT_EOF, 0, bad_short_payload },
	{ "long payload", true, EXPECT_EOF, 0, bad_long_payload },
	{ "no fds", false, EXPECT_STATUS, -EINVAL, bad_fds_none },
	{ "two fds for one region", false, EXPECT_STATUS, -EINVAL, bad_fds_two_for_one },
	{ "fd flood", false, EXPECT_EOF, 0, bad_fds_flood },
	{ "overlapping regions", false, EXPECT_STATUS, -EINVAL, bad_overlap },
	{ "region past memfd end", false, EXPECT_STATUS, -EINVAL, bad_region_past_eof },
	{ "region not a file", false, EXPECT_STATUS, -EINVAL, bad_region_not_file },
	{ "unaligned region", false, EXPECT_STATUS, -EINVAL, bad_region_unaligned },
	{ "version", false, EXPECT_STATUS, -EPROTO, bad_version },
	{ "zero vcpus", false, EXPECT_STATUS, -EINVAL, bad_vcpus_zero },
	{ "too many vcpus", false, EXPECT_STATUS, -EINVAL, bad_vcpus_many },
	{ "region count mismatch", false, EXPECT_STATUS, -EINVAL, bad_region_count_mismatch },
	{ "zero regions", false, EXPECT_STATUS, -EINVAL, bad_zero_regions },
	{ "attach flags", false, EXPECT_STATUS, -EINVAL, bad_attach_flags },
	{ "ragged attach size", false, EXPECT_EOF, 0, bad_attach_ragged_size },
	{ "too many regions", false, EXPECT_EOF, 0, bad_too_many_regions },
	{ "unknown type", false, EXPECT_EOF, 0, bad_unknown_type },
	{ "unknown type attached", true, EXPECT_EOF, 0, bad_unknown_type },
	{ "type zero", false, EXPECT_EOF, 0, bad_type_zero },
	{ "header flags", true, EXPECT_EOF, 0, bad_header_flags },
	{ "request before attach", false, EXPECT_EOF, 0, bad_before_attach },
	{ "attach twice", true, EXPECT_EOF, 0, bad_attach_twice },
	{ "fd on an MSR request", true, EXPECT_EOF, 0, bad_fd_on_msr },
	{ "backend refuses", false, EXPECT_STATUS, -EPERM, bad_backend_refuses },
};

START_TEST(malformed_is_dropped)
{
	const struct bad_case *bc = &bad_cases[_i];
	int baseline = count_fds();
	int fds[8], n = 0, c = cl_connect();
	struct attach_ok ok;

	if (bc->attach_first)
		cl_attach(c, 1, fds, &n, &ok);
	bc->send(c);
	if (bc->expect == EXPECT_STATUS) {
		struct attach_reply rep;

		cl_recv(c, ATTACH_MSG_ATTACH, 1, &rep, sizeof(rep), NULL, NULL);
		ck_assert_msg(rep.status == bc->status, "%s: status %d", bc->name, rep.status);
	}
	cl_expect_eof(c);
	close_fds(fds, n);
	pump_ms(2);
	ck_assert(!attach_server_attached(srv));
	ck_assert_uint_eq(be.detach_calls, bc->attach_first ? 1 : 0);
	ck_assert_msg(count_fds() == baseline, "%s: fd leak (%d -> %d)", bc->name, baseline,
		      count_fds());
	be.refuse_attach = 0;
	next_client_attaches();
	ck_assert_msg(count_fds() == baseline, "%s: fd leak after next client", bc->name);
}
END_TEST

START_TEST(stale_socket_replaced_and_non_socket_refused)
{
	struct attach_server *again;
	char file[160];
	FILE *f;

	/* A second server on the same path replaces the socket file. */
	again = attach_server_new(base, sock_path, &be_ops, NULL);
	ck_assert_ptr_nonnull(again);
	attach_server_free(again);
	/* A regular file at the path is not ours to delete. */
	snprintf(file, sizeof(file), "%s/regular", sock_dir);
	f = fopen(file, "w");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	ck_assert_ptr_null(attach_server_new(base, file, &be_ops, NULL));
	ck_assert_int_eq(access(file, F_OK), 0);
	unlink(file);
}
END_TEST

static Suite *attach_suite(void)
{
	Suite *s = suite_create("attach");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, attach_replies_cpuid_and_maps_ram);
	tcase_add_test(tc, irq_area_and_eventfds_work);
	tcase_add_test(tc, msr_requests);
	tcase_add_test(tc, signal_eventfd_fast_path_and_reset);
	tcase_add_test(tc, detach_then_next_client);
	tcase_add_test(tc, second_client_gets_ebusy);
	tcase_add_test(tc, client_vanishing_mid_message);
	tcase_add_test(tc, client_not_reading_replies_is_detached);
	tcase_add_loop_test(tc, malformed_is_dropped, 0, (int)ARRAY_SIZE(bad_cases));
	tcase_add_test(tc, stale_socket_replaced_and_non_socket_refused);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(attach_suite());
	int failed;

	log_set_level(LOG_ERROR); /* the malformed cases log by design */
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
