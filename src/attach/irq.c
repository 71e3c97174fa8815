/* SPDX-License-Identifier: MIT */
/*
 * Asynchronous traffic between daemon and frontend, vhost-user style:
 *
 *  - interrupts: a shared memfd of struct attach_irq_slot[n_vcpus] (the
 *    pending vectors, the source of truth) plus one eventfd per vCPU (the
 *    doorbell).  The daemon sets the bit, then rings; the frontend drains
 *    the doorbell, then exchanges the words with 0, so a coalesced or
 *    early doorbell loses nothing (attach.h, struct attach_irq_slot);
 *  - HvSignalEvent: one eventfd per connection id, handed to the frontend
 *    in a HYPERCALL reply; a kick from the frontend becomes
 *    backend->signal(conn_id) on the loop;
 *  - the idle watch: words of guest memory named in every vCPU's slot,
 *    which the frontend checks when a vCPU halts, and one doorbell eventfd
 *    it writes when they are set; a kick becomes backend->idle() on the
 *    loop (attach.h, struct attach_irq_slot).
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "attach/attach_internal.h"
#include "core/log.h"
#include "core/util.h"

static void attach_idle_on_kick(evutil_socket_t fd, short what, void *arg)
{
	struct attach_conn *c = arg;
	struct attach_server *srv = c->srv;
	uint64_t n;

	if (read(fd, &n, sizeof(n)) < 0)
		return; /* EAGAIN: drained meanwhile */
	srv->stats.idle_kicks++;
	if (c->attached && srv->ops->idle)
		srv->ops->idle(srv->opaque);
}

int attach_irq_setup(struct attach_conn *c, uint32_t n_vcpus)
{
	size_t size = ALIGN_UP((size_t)n_vcpus * sizeof(struct attach_irq_slot),
			       (size_t)GMEM_PAGE_SIZE);
	void *area;
	int fd, ret;

	fd = memfd_create("vmbusd-irq", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	/* The frontend gets this fd: sealed, it cannot shrink the file under
	 * our mapping (a SIGBUS here) or reseal it. */
	if (ftruncate(fd, (off_t)size) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	area = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (area == MAP_FAILED) {
		ret = -errno;
		close(fd);
		return ret;
	}
	c->irq_memfd = fd;
	c->irq_area = area;
	c->irq_area_size = size;
	c->n_vcpus = n_vcpus;
	for (uint32_t i = 0; i < n_vcpus; i++) {
		c->irq_efd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (c->irq_efd[i] < 0) {
			ret = -errno;
			attach_irq_teardown(c);
			return ret;
		}
	}
	c->idle_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->idle_efd < 0) {
		ret = -errno;
		attach_irq_teardown(c);
		return ret;
	}
	c->idle_ev = event_new(c->srv->base, c->idle_efd, EV_READ | EV_PERSIST,
			       attach_idle_on_kick, c);
	if (!c->idle_ev || event_add(c->idle_ev, NULL) < 0) {
		attach_irq_teardown(c);
		return -ENOMEM;
	}
	return 0;
}

void attach_irq_teardown(struct attach_conn *c)
{
	if (c->idle_ev)
		event_free(c->idle_ev);
	c->idle_ev = NULL;
	if (c->idle_efd >= 0)
		close(c->idle_efd);
	c->idle_efd = -1;
	for (uint32_t i = 0; i < ATTACH_MAX_VCPUS; i++) {
		if (c->irq_efd[i] >= 0)
			close(c->irq_efd[i]);
		c->irq_efd[i] = -1;
	}
	if (c->irq_area)
		munmap(c->irq_area, c->irq_area_size);
	if (c->irq_memfd >= 0)
		close(c->irq_memfd);
	c->irq_area = NULL;
	c->irq_area_size = 0;
	c->irq_memfd = -1;
	c->n_vcpus = 0;
}

/* The index of a slot field in 64-bit words. */
#define IRQ_WORD(field) ((uint32_t)(offsetof(struct attach_irq_slot, field) / sizeof(uint64_t)))

static uint64_t *attach_irq_word(struct attach_conn *c, uint32_t vcpu, uint32_t word)
{
	/* Computed rather than &slot->pending[w]: the struct is packed, but
	 * the area is page-aligned and slots are 64 bytes, so the words are
	 * naturally aligned for the atomics. */
	return (uint64_t *)(void *)((uint8_t *)c->irq_area +
				    (size_t)vcpu * sizeof(struct attach_irq_slot)) + word;
}

void attach_irq_clear(struct attach_conn *c)
{
	for (uint32_t v = 0; v < c->n_vcpus; v++)
		for (uint32_t w = 0; w < 4; w++)
			__atomic_store_n(attach_irq_word(c, v, w), 0, __ATOMIC_RELAXED);
}

void attach_set_idle_watch(struct attach_server *srv, uint64_t gpa, uint64_t mask)
{
	struct attach_conn *c = srv ? srv->frontend : NULL;

	if (!c || !c->irq_area)
		return;
	/* Mask first, then the address with release: a frontend that loads
	 * the address with acquire sees the mask that goes with it. */
	for (uint32_t v = 0; v < c->n_vcpus; v++) {
		__atomic_store_n(attach_irq_word(c, v, IRQ_WORD(idle_mask)), mask, __ATOMIC_RELAXED);
		__atomic_store_n(attach_irq_word(c, v, IRQ_WORD(idle_gpa)), gpa, __ATOMIC_RELEASE);
	}
}

void attach_raise_irq(struct attach_server *srv, uint32_t vcpu, uint8_t vector)
{
	struct attach_conn *c = srv ? srv->frontend : NULL;
	uint64_t one = 1;
	ssize_t n;

	if (!c || !c->irq_area || vcpu >= c->n_vcpus)
		return;
	/* Release: everything written to guest memory before this (a message
	 * slot, an event flag) is visible to a frontend whose acquire
	 * exchange sees the bit, and so to the vCPU it then interrupts. */
	__atomic_fetch_or(attach_irq_word(c, vcpu, vector / 64u), 1ull << (vector % 64u),
			  __ATOMIC_RELEASE);
	/* The doorbell.  EAGAIN means the counter is saturated, i.e. the
	 * frontend has kicks pending anyway; nothing is lost. */
	do {
		n = write(c->irq_efd[vcpu], &one, sizeof(one));
	} while (n < 0 && errno == EINTR);
}

/* ---- signal eventfds --------------------------------------------------- */

static void attach_signal_on_kick(evutil_socket_t fd, short what, void *arg)
{
	struct attach_signal_fd *s = arg;
	struct attach_server *srv = s->conn->srv;
	uint64_t count;

	/* Kicks coalesce in the counter; one signal covers them all, as the
	 * event port drains its ring on each signal. */
	if (read(fd, &count, sizeof(count)) != (ssize_t)sizeof(count))
		return;
	if (srv->ops->signal)
		srv->ops->signal(srv->opaque, s->conn_id);
}

int attach_signal_fd_get(struct attach_conn *c, uint32_t conn_id)
{
	struct attach_signal_fd *s;

	for (uint32_t i = 0; i < c->n_sig; i++)
		if (c->sig[i]->conn_id == conn_id)
			return c->sig[i]->fd;
	if (c->n_sig >= ATTACH_MAX_SIGNAL_FDS)
		return -ENOSPC;
	if (c->n_sig == c->cap_sig) {
		uint32_t cap = c->cap_sig ? c->cap_sig * 2 : 16;
		struct attach_signal_fd **p = realloc(c->sig, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		c->sig = p;
		c->cap_sig = cap;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->conn_id = conn_id;
	s->conn = c;
	s->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->fd < 0) {
		int ret = -errno;

		free(s);
		return ret;
	}
	s->ev = event_new(c->srv->base, s->fd, EV_READ | EV_PERSIST, attach_signal_on_kick, s);
	if (!s->ev || event_add(s->ev, NULL) < 0) {
		if (s->ev)
			event_free(s->ev);
		close(s->fd);
		free(s);
		return -ENOMEM;
	}
	c->sig[c->n_sig++] = s;
	c->srv->stats.signal_fds++;
	return s->fd;
}

void attach_signal_fds_drop(struct attach_conn *c)
{
	for (uint32_t i = 0; i < c->n_sig; i++) {
		event_free(c->sig[i]->ev);
		close(c->sig[i]->fd);
		free(c->sig[i]);
	}
	free(c->sig);
	c->sig = NULL;
	c->n_sig = 0;
	c->cap_sig = 0;
}
