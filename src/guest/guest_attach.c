/* SPDX-License-Identifier: MIT */
#include "guest/guest_attach.h"

#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "vmbusd/proto/hv.h"

#define ATTACH_MAX_FDS (2u + ATTACH_MAX_VCPUS)

static int attach_fail(struct guest_attach *a, int err, const char *why)
{
	if (!a->dead) {
		a->dead = true;
		a->dead_reason = why;
		log_error("daemon connection: %s (%s)", why, strerror(-err));
	}
	return err;
}

static void close_fds(int *fds, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

/* Waits for `events` on the socket within the connection timeout. */
static int attach_poll(struct guest_attach *a, short events)
{
	struct pollfd p = { .fd = a->sock, .events = events };
	uint64_t deadline = now_ns() + (uint64_t)a->timeout_ms * 1000000ull;

	for (;;) {
		uint64_t now = now_ns();
		int ms = now >= deadline ? 0 : (int)((deadline - now + 999999) / 1000000);
		int n = poll(&p, 1, ms);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ETIMEDOUT;
		if ((p.revents & POLLNVAL))
			return -EBADF;
		return 0; /* readable/writable, or HUP/ERR which the I/O reports */
	}
}

static int attach_send(struct guest_attach *a, uint32_t type, const void *payload, uint32_t size,
		       const int *fds, unsigned int n_fds, uint32_t *seq_out)
{
	struct attach_hdr hdr = { .type = type, .flags = 0, .size = size, .seq = ++a->seq };
	char cbuf[CMSG_SPACE(sizeof(int) * ATTACH_MAX_FDS)];
	struct iovec iov[2] = {
		{ .iov_base = &hdr, .iov_len = sizeof(hdr) },
		{ .iov_base = (void *)payload, .iov_len = size },
	};
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = size ? 2 : 1 };
	size_t total = sizeof(hdr) + size, sent = 0;
	bool first = true;

	if (a->dead)
		return -ECONNRESET;
	*seq_out = hdr.seq;
	if (n_fds) {
		struct cmsghdr *c;

		memset(cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * n_fds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * n_fds);
	}
	while (sent < total) {
		ssize_t n;
		int ret = attach_poll(a, POLLOUT);

		if (ret)
			return attach_fail(a, ret, "cannot send to the daemon");
		n = sendmsg(a->sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return attach_fail(a, -errno, "the daemon closed the connection");
		sent += (size_t)n;
		if (first) { /* fds travel with the first byte only */
			mh.msg_control = NULL;
			mh.msg_controllen = 0;
			first = false;
		}
		/* Advance the iovecs past what was sent. */
		while (n > 0 && mh.msg_iovlen > 0) {
			if ((size_t)n >= mh.msg_iov->iov_len) {
				n -= (ssize_t)mh.msg_iov->iov_len;
				mh.msg_iov++;
				mh.msg_iovlen--;
			} else {
				mh.msg_iov->iov_base = (uint8_t *)mh.msg_iov->iov_base + n;
				mh.msg_iov->iov_len -= (size_t)n;
				n = 0;
			}
		}
	}
	a->n_requests++;
	return 0;
}

/* Reads exactly len bytes, collecting any SCM_RIGHTS fds. */
static int attach_read_full(struct guest_attach *a, void *buf, size_t len,
			    int *fds, unsigned int *n_fds, unsigned int max_fds)
{
	size_t got = 0;

	while (got < len) {
		char cbuf[CMSG_SPACE(sizeof(int) * ATTACH_MAX_FDS)];
		struct iovec iov = { .iov_base = (uint8_t *)buf + got, .iov_len = len - got };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
				     .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
		ssize_t n;
		int ret = attach_poll(a, POLLIN);

		if (ret)
			return ret;
		n = recvmsg(a->sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ECONNRESET;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			unsigned int cnt;
			int *p;

			if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
				continue;
			cnt = (unsigned int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			p = (int *)(void *)CMSG_DATA(c);
			for (unsigned int i = 0; i < cnt; i++) {
				if (*n_fds < max_fds)
					fds[(*n_fds)++] = p[i];
				else
					close(p[i]);
			}
		}
		if (mh.msg_flags & MSG_CTRUNC)
			return -EPROTO;
		got += (size_t)n;
	}
	return 0;
}

/* Receives the reply to request `seq` of `type`; payload into buf (up to
 * cap bytes; the true size in *size). */
static int attach_recv(struct guest_attach *a, uint32_t type, uint32_t seq, void *buf,
		       uint32_t cap, uint32_t *size, int *fds, unsigned int *n_fds,
		       unsigned int max_fds)
{
	struct attach_hdr hdr;
	int ret;

	*n_fds = 0;
	ret = attach_read_full(a, &hdr, sizeof(hdr), fds, n_fds, max_fds);
	if (ret == 0 && (hdr.type != type || !(hdr.flags & ATTACH_F_REPLY) || hdr.seq != seq ||
			 hdr.size > ATTACH_MAX_PAYLOAD || hdr.size > cap))
		ret = -EPROTO;
	if (ret == 0)
		ret = attach_read_full(a, buf, hdr.size, fds, n_fds, max_fds);
	if (ret) {
		close_fds(fds, *n_fds);
		*n_fds = 0;
		return attach_fail(a, ret, ret == -ETIMEDOUT ? "the daemon did not answer in time"
					   : ret == -EPROTO ? "malformed reply from the daemon"
					   : "the daemon closed the connection");
	}
	*size = hdr.size;
	return 0;
}

/* A request whose reply must be exactly reply_size bytes and carry no fds
 * (except where the caller takes them). */
static int attach_call(struct guest_attach *a, uint32_t type, const void *req, uint32_t req_size,
		       void *reply, uint32_t reply_size, int *fds, unsigned int *n_fds,
		       unsigned int max_fds)
{
	uint32_t seq, size;
	unsigned int nf = 0;
	int tmp[ATTACH_MAX_FDS];
	int ret;

	ret = attach_send(a, type, req, req_size, NULL, 0, &seq);
	if (ret)
		return ret;
	ret = attach_recv(a, type, seq, reply, reply_size, &size, fds ? fds : tmp, &nf,
			  fds ? max_fds : ATTACH_MAX_FDS);
	if (ret)
		return ret;
	if (!fds)
		close_fds(tmp, nf);
	else
		*n_fds = nf;
	if (size != reply_size) {
		if (fds)
			close_fds(fds, nf);
		return attach_fail(a, -EPROTO, "reply of the wrong size from the daemon");
	}
	return 0;
}

int guest_attach_open(struct guest_attach *a, const char *path, uint32_t n_vcpus,
		      uint64_t ram_gpa, uint64_t mem_bytes, int timeout_ms)
{
	struct {
		struct attach_req req;
		struct attach_region region;
	} __attribute__((packed)) req;
	union {
		struct attach_reply hdr;
		uint8_t raw[ATTACH_MAX_PAYLOAD];
	} reply;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fds[ATTACH_MAX_FDS];
	unsigned int n_fds = 0;
	uint32_t seq, size;
	void *irq;
	int ret;

	memset(a, 0, sizeof(*a));
	a->sock = -1;
	a->mem_fd = -1;
	a->timeout_ms = timeout_ms;
	for (unsigned int i = 0; i < ATTACH_MAX_VCPUS; i++)
		a->irq_fd[i] = -1;
	a->idle_fd = -1;
	if (n_vcpus < 1 || n_vcpus > ATTACH_MAX_VCPUS || mem_bytes == 0 ||
	    ((ram_gpa | mem_bytes) & (HV_PAGE_SIZE - 1)) || strlen(path) >= sizeof(sa.sun_path))
		return -EINVAL;
	a->n_vcpus = n_vcpus;

	/* Sealed against shrinking and growing, as QEMU's memory-backend-memfd
	 * is: the daemon refuses RAM it could lose pages of (SIGBUS). */
	a->mem_fd = memfd_create("vmbus-guest-ram", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (a->mem_fd < 0 || ftruncate(a->mem_fd, (off_t)mem_bytes) < 0 ||
	    fcntl(a->mem_fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0) {
		ret = -errno;
		log_error("guest RAM: %s", strerror(errno));
		goto fail;
	}
	a->ram = mmap(NULL, mem_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, a->mem_fd, 0);
	if (a->ram == MAP_FAILED) {
		a->ram = NULL;
		ret = -errno;
		log_error("guest RAM mmap: %s", strerror(errno));
		goto fail;
	}
	a->ram_gpa = ram_gpa;
	a->ram_size = mem_bytes;

	a->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (a->sock < 0) {
		ret = -errno;
		goto fail;
	}
	strcpy(sa.sun_path, path);
	if (connect(a->sock, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		ret = -errno;
		log_error("cannot connect to %s: %s", path, strerror(errno));
		goto fail;
	}

	memset(&req, 0, sizeof(req));
	req.req.version = ATTACH_PROTOCOL_VERSION;
	req.req.n_vcpus = n_vcpus;
	req.req.n_regions = 1;
	req.req.tsc_hz = GUEST_ATTACH_TSC_HZ;
	req.region.gpa = ram_gpa;
	req.region.size = mem_bytes;
	req.region.fd_offset = 0;
	ret = attach_send(a, ATTACH_MSG_ATTACH, &req, sizeof(req), &a->mem_fd, 1, &seq);
	if (ret)
		goto fail;
	ret = attach_recv(a, ATTACH_MSG_ATTACH, seq, &reply, sizeof(reply), &size, fds, &n_fds,
			  ATTACH_MAX_FDS);
	if (ret)
		goto fail;
	if (size < sizeof(reply.hdr)) {
		close_fds(fds, n_fds);
		ret = attach_fail(a, -EPROTO, "short ATTACH reply");
		goto fail;
	}
	if (reply.hdr.status != 0) {
		close_fds(fds, n_fds);
		ret = reply.hdr.status < 0 ? reply.hdr.status : -EPROTO;
		log_error("the daemon refused the attach: %s", strerror(-ret));
		goto fail;
	}
	a->daemon_version = reply.hdr.version;
	if (reply.hdr.n_cpuid > ATTACH_MAX_CPUID ||
	    size != sizeof(reply.hdr) + reply.hdr.n_cpuid * sizeof(struct attach_cpuid) ||
	    n_fds != 2 + n_vcpus || reply.hdr.irq_area_size < n_vcpus * sizeof(struct attach_irq_slot)) {
		close_fds(fds, n_fds);
		ret = attach_fail(a, -EPROTO, "ATTACH reply does not match the request");
		goto fail;
	}
	a->n_cpuid = reply.hdr.n_cpuid;
	memcpy(a->cpuid, reply.hdr.cpuid, a->n_cpuid * sizeof(struct attach_cpuid));
	a->irq_area_size = ALIGN_UP((uint64_t)reply.hdr.irq_area_size, (uint64_t)HV_PAGE_SIZE);
	irq = mmap(NULL, a->irq_area_size, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], 0);
	close(fds[0]);
	if (irq == MAP_FAILED) {
		ret = -errno;
		close_fds(fds + 1, n_fds - 1);
		log_error("cannot map the irq area: %s", strerror(errno));
		goto fail;
	}
	a->irq_area = irq;
	for (uint32_t i = 0; i < n_vcpus; i++)
		a->irq_fd[i] = fds[1 + i];
	a->idle_fd = fds[1 + n_vcpus];
	/* Our "TSC" runs from the start, as a VM's does once it runs. */
	ret = guest_attach_clock(a);
	if (ret)
		goto fail;
	return 0;

fail:
	guest_attach_close(a);
	return ret;
}

static void attach_drop_sigfds(struct guest_attach *a)
{
	for (uint32_t i = 0; i < a->n_sigfd; i++)
		close(a->sigfd[i].fd);
	a->n_sigfd = 0;
}

void guest_attach_close(struct guest_attach *a)
{
	attach_drop_sigfds(a);
	for (unsigned int i = 0; i < ATTACH_MAX_VCPUS; i++)
		if (a->irq_fd[i] >= 0) {
			close(a->irq_fd[i]);
			a->irq_fd[i] = -1;
		}
	if (a->idle_fd >= 0)
		close(a->idle_fd);
	a->idle_fd = -1;
	if (a->irq_area)
		munmap(a->irq_area, a->irq_area_size);
	a->irq_area = NULL;
	if (a->ram)
		munmap(a->ram, a->ram_size);
	a->ram = NULL;
	if (a->mem_fd >= 0)
		close(a->mem_fd);
	a->mem_fd = -1;
	if (a->sock >= 0)
		close(a->sock);
	a->sock = -1;
	a->dead = true;
}

/* A 64-bit field of an irq slot, for the atomics. */
#define SLOT_WORD(slot, field) \
	((_Atomic const uint64_t *)(const void *)((slot) + offsetof(struct attach_irq_slot, field)))

void guest_attach_idle(struct guest_attach *a, uint32_t vcpu)
{
	const uint8_t *slot;
	uint64_t gpa, mask, word;
	const uint8_t *p;
	uint64_t one = 1;

	if (a->dead || !a->irq_area || vcpu >= a->n_vcpus || a->idle_fd < 0)
		return;
	slot = (const uint8_t *)(const void *)a->irq_area + vcpu * sizeof(struct attach_irq_slot);
	/* acquire pairs with the daemon's release store of the address. */
	gpa = atomic_load_explicit(SLOT_WORD(slot, idle_gpa), memory_order_acquire);
	mask = atomic_load_explicit(SLOT_WORD(slot, idle_mask), memory_order_relaxed);
	/* Four 8-aligned words inside one page of our RAM, or no check. */
	if (!gpa || (gpa & 7) || gpa < a->ram_gpa || gpa - a->ram_gpa > a->ram_size - 32 ||
	    (gpa & (HV_PAGE_SIZE - 1)) > HV_PAGE_SIZE - 32)
		return;
	p = a->ram + (gpa - a->ram_gpa);
	for (unsigned int w = 0; w < 4; w++) {
		word = atomic_load_explicit((_Atomic const uint64_t *)(const void *)(p + w * 8),
					    memory_order_relaxed);
		if (word & mask) {
			/* EAGAIN: the counter is saturated, kicks are pending. */
			if (write(a->idle_fd, &one, sizeof(one)) == sizeof(one))
				a->n_idle_kicks++;
			return;
		}
	}
}

void guest_attach_cpuid(const struct guest_attach *a, uint32_t fn,
			uint32_t *eax, uint32_t *ebx, uint32_t *ecx, uint32_t *edx)
{
	*eax = *ebx = *ecx = *edx = 0;
	for (uint32_t i = 0; i < a->n_cpuid; i++) {
		if (a->cpuid[i].function == fn) {
			*eax = a->cpuid[i].eax;
			*ebx = a->cpuid[i].ebx;
			*ecx = a->cpuid[i].ecx;
			*edx = a->cpuid[i].edx;
			return;
		}
	}
}

int guest_attach_msr_read(struct guest_attach *a, uint32_t vcpu, uint32_t msr, uint64_t *value)
{
	struct attach_msr_req req = { .vcpu = vcpu, .msr = msr, .value = 0 };
	struct attach_msr_reply rep;
	int ret;

	ret = attach_call(a, ATTACH_MSG_MSR_READ, &req, sizeof(req), &rep, sizeof(rep), NULL, NULL, 0);
	if (ret)
		return ret;
	if (rep.result == ATTACH_MSR_GP)
		return -EPERM;
	if (rep.result != ATTACH_MSR_OK)
		return attach_fail(a, -EPROTO, "unknown MSR result from the daemon");
	*value = rep.value;
	return 0;
}

int guest_attach_msr_write(struct guest_attach *a, uint32_t vcpu, uint32_t msr, uint64_t value)
{
	struct attach_msr_req req = { .vcpu = vcpu, .msr = msr, .value = value };
	struct attach_msr_reply rep;
	int ret;

	ret = attach_call(a, ATTACH_MSG_MSR_WRITE, &req, sizeof(req), &rep, sizeof(rep), NULL, NULL, 0);
	if (ret)
		return ret;
	if (rep.result == ATTACH_MSR_GP)
		return -EPERM;
	if (rep.result != ATTACH_MSR_OK)
		return attach_fail(a, -EPROTO, "unknown MSR result from the daemon");
	if (rep.action == ATTACH_ACTION_HYPERCALL_PAGE) {
		/* QEMU would write its stub into this page; we issue hypercalls
		 * through the socket instead, so only remember where it is. */
		a->hypercall_page_gpa = rep.value;
		a->hypercall_page_seen = true;
	} else if (rep.action != ATTACH_ACTION_NONE) {
		log_warn("MSR %#x write: unknown action %u from the daemon", msr, rep.action);
	}
	return 0;
}

static void attach_cache_sigfd(struct guest_attach *a, uint32_t conn_id, int fd)
{
	for (uint32_t i = 0; i < a->n_sigfd; i++) {
		if (a->sigfd[i].conn_id == conn_id) {
			close(a->sigfd[i].fd);
			a->sigfd[i].fd = fd;
			return;
		}
	}
	if (a->n_sigfd >= GUEST_ATTACH_MAX_SIGFDS) {
		close(fd);
		return;
	}
	a->sigfd[a->n_sigfd].conn_id = conn_id;
	a->sigfd[a->n_sigfd].fd = fd;
	a->n_sigfd++;
}

int guest_attach_hypercall(struct guest_attach *a, uint32_t vcpu, uint64_t control,
			   uint64_t input, uint64_t output, uint64_t *result)
{
	struct attach_hypercall_req req = { .vcpu = vcpu, .control = control,
					    .input = input, .output = output };
	struct attach_hypercall_reply rep;
	int fds[ATTACH_MAX_FDS];
	unsigned int n_fds = 0;
	int ret;

	ret = attach_call(a, ATTACH_MSG_HYPERCALL, &req, sizeof(req), &rep, sizeof(rep), fds, &n_fds,
			  ATTACH_MAX_FDS);
	if (ret)
		return ret;
	if (rep.flags & ATTACH_HC_SIGNAL_FD) {
		if (n_fds != 1) {
			close_fds(fds, n_fds);
			return attach_fail(a, -EPROTO, "HC_SIGNAL_FD without exactly one fd");
		}
		attach_cache_sigfd(a, rep.conn_id, fds[0]);
	} else {
		close_fds(fds, n_fds);
	}
	*result = rep.result;
	return 0;
}

int guest_attach_signal_event(struct guest_attach *a, uint32_t vcpu, uint32_t conn_id,
			      uint64_t *result)
{
	for (uint32_t i = 0; i < a->n_sigfd; i++) {
		if (a->sigfd[i].conn_id == conn_id) {
			uint64_t one = 1;

			/* An eventfd write only fails when the counter would
			 * overflow, which a reader that drains cannot let
			 * happen; EAGAIN still means "already signalled". */
			if (write(a->sigfd[i].fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
				break;
			a->n_signal_fd++;
			*result = HV_STATUS_SUCCESS;
			return 0;
		}
	}
	a->n_signal_hc++;
	return guest_attach_hypercall(a, vcpu, HVCALL_SIGNAL_EVENT | HV_HC_FAST,
				      conn_id, 0, result);
}

static int attach_status_call(struct guest_attach *a, uint32_t type)
{
	struct attach_status_reply rep;
	int ret;

	ret = attach_call(a, type, NULL, 0, &rep, sizeof(rep), NULL, NULL, 0);
	if (ret)
		return ret;
	return rep.status;
}

uint64_t guest_attach_tsc(const struct guest_attach *a)
{
	(void)a;
	return now_ns(); /* GUEST_ATTACH_TSC_HZ: one tick per ns */
}

int guest_attach_clock(struct guest_attach *a)
{
	struct attach_clock_req req;
	struct attach_status_reply rep;
	int ret;

	req.guest_tsc = guest_attach_tsc(a);
	req.host_ns = now_ns();
	ret = attach_call(a, ATTACH_MSG_CLOCK, &req, sizeof(req), &rep, sizeof(rep), NULL, NULL, 0);
	if (ret)
		return ret;
	return rep.status;
}

int guest_attach_reset(struct guest_attach *a)
{
	int ret;

	attach_drop_sigfds(a);
	a->hypercall_page_seen = false;
	ret = attach_status_call(a, ATTACH_MSG_RESET);
	/* As QEMU does: the daemon's time base restarted. */
	return ret ? ret : guest_attach_clock(a);
}

int guest_attach_detach(struct guest_attach *a)
{
	int ret = attach_status_call(a, ATTACH_MSG_DETACH);

	if (ret >= 0) {
		/* The daemon closes after replying; nothing more may be sent. */
		a->dead = true;
		a->dead_reason = "detached";
	}
	return ret;
}

void *guest_attach_gpa(const struct guest_attach *a, uint64_t gpa, uint64_t len)
{
	if (!a->ram || gpa < a->ram_gpa || gpa - a->ram_gpa > a->ram_size ||
	    len > a->ram_size - (gpa - a->ram_gpa))
		return NULL;
	return a->ram + (gpa - a->ram_gpa);
}

bool guest_attach_check_alive(struct guest_attach *a)
{
	struct pollfd p = { .fd = a->sock, .events = POLLIN | POLLRDHUP };

	if (a->dead)
		return false;
	/* The daemon never sends unsolicited bytes: anything readable on the
	 * socket outside a request is EOF or a protocol violation. */
	if (poll(&p, 1, 0) > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR | POLLRDHUP))) {
		attach_fail(a, -ECONNRESET, "the daemon closed the connection");
		return false;
	}
	return true;
}
