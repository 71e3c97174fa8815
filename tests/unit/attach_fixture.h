/* SPDX-License-Identifier: MIT */
/*
 * Shared fixture of test_attach and test_attach_hostile: a recording
 * attach backend, the plugin-protocol server on a Unix socket in a fresh
 * /tmp directory, and a raw client in the same process and thread (it
 * pumps the event loop while it waits).  Header-only so each test stays
 * one standalone program.
 */
#ifndef VMBUSD_TESTS_ATTACH_FIXTURE_H
#define VMBUSD_TESTS_ATTACH_FIXTURE_H

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "attach/attach.h"
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
	uint32_t last_signal, n_vcpus, clock_calls, idle_calls;
	uint64_t tsc_hz, clock_tsc, clock_ns;
	int refuse_attach;
	struct gmem *mem;
} be;

static struct event_base *base;
static struct attach_server *srv;
static char sock_dir[64], sock_path[128];

static int be_attach(void *o, struct gmem *mem, uint32_t n_vcpus, uint64_t tsc_hz,
		     struct attach_cpuid *cpuid, uint32_t max)
{
	be.attach_calls++;
	if (be.refuse_attach)
		return be.refuse_attach;
	be.mem = mem;
	be.n_vcpus = n_vcpus;
	be.tsc_hz = tsc_hz;
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

static void be_clock(void *o, uint64_t guest_tsc, uint64_t host_ns)
{
	be.clock_calls++;
	be.clock_tsc = guest_tsc;
	be.clock_ns = host_ns;
}

static void be_idle(void *o)
{
	be.idle_calls++;
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
	.hypercall = be_hypercall, .signal = be_signal, .clock = be_clock, .reset = be_reset,
	.detach = be_detach, .idle = be_idle,
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
 * fds (irq memfd, the vCPUs' eventfds, the idle doorbell). */
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
	ck_assert_int_eq(*n_fds, 2 + (int)n_vcpus);
}

static void close_fds(int *fds, int n)
{
	for (int i = 0; i < n; i++)
		close(fds[i]);
}

/* A fresh client attaches after whatever happened before. */
static void next_client_attaches(void)
{
	struct attach_ok ok;
	int fds[2 + ATTACH_MAX_VCPUS], n;
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

#endif
