/* SPDX-License-Identifier: MIT */
/*
 * Plugin-protocol requests (include/vmbusd/proto/attach.h,
 * docs/plugin-protocol.md): a table of {type, payload size rule, handler},
 * checked on the header before any payload byte is read, then the
 * handlers, which turn requests into backend calls.
 *
 * Two kinds of refusal:
 *  - framing errors (unknown type, a size the type cannot have, flags, fds
 *    on a message that carries none, a request out of order): the peer is
 *    not speaking the protocol; it is dropped without a reply;
 *  - an ATTACH whose contents are refused (version, counts, regions): it
 *    gets a reply with -errno so that a real frontend can say why, and is
 *    then dropped, since it has nothing else to do.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "attach/attach_internal.h"
#include "core/log.h"
#include "core/util.h"

struct attach_msg_desc {
	uint32_t type;
	uint32_t size;      /* exact payload size, or minimum when `variable` */
	bool variable;      /* ATTACH: version first, the handler checks the rest */
	int (*handler)(struct attach_conn *c);
};

static int attach_handle_attach(struct attach_conn *c);
static int attach_handle_msr_read(struct attach_conn *c);
static int attach_handle_msr_write(struct attach_conn *c);
static int attach_handle_hypercall(struct attach_conn *c);
static int attach_handle_reset(struct attach_conn *c);
static int attach_handle_detach(struct attach_conn *c);
static int attach_handle_clock(struct attach_conn *c);

static const struct attach_msg_desc attach_msgs[] = {
	/* Any version's request starts with its version: read that much, so
	 * that a frontend of another version gets a reply that says why. */
	{ ATTACH_MSG_ATTACH, sizeof(uint32_t), true, attach_handle_attach },
	{ ATTACH_MSG_MSR_READ, sizeof(struct attach_msr_req), false, attach_handle_msr_read },
	{ ATTACH_MSG_MSR_WRITE, sizeof(struct attach_msr_req), false, attach_handle_msr_write },
	{ ATTACH_MSG_HYPERCALL, sizeof(struct attach_hypercall_req), false, attach_handle_hypercall },
	{ ATTACH_MSG_RESET, 0, false, attach_handle_reset },
	{ ATTACH_MSG_DETACH, 0, false, attach_handle_detach },
	{ ATTACH_MSG_CLOCK, sizeof(struct attach_clock_req), false, attach_handle_clock },
};

static const struct attach_msg_desc *attach_msg_find(uint32_t type)
{
	for (size_t i = 0; i < ARRAY_SIZE(attach_msgs); i++)
		if (attach_msgs[i].type == type)
			return &attach_msgs[i];
	return NULL;
}

int attach_request_check_header(const struct attach_conn *c, const struct attach_hdr *hdr)
{
	const struct attach_msg_desc *d = attach_msg_find(hdr->type);

	if (!d) {
		log_warn("attach: unknown message type %u", hdr->type);
		return -EPROTO;
	}
	if (hdr->flags != 0 || hdr->size > ATTACH_MAX_PAYLOAD) {
		log_warn("attach: message type %u with flags %#x, size %u", hdr->type,
			 hdr->flags, hdr->size);
		return -EPROTO;
	}
	if (d->variable) {
		if (hdr->size < d->size) {
			log_warn("attach: ATTACH payload of %u bytes", hdr->size);
			return -EPROTO;
		}
	} else if (hdr->size != d->size) {
		log_warn("attach: message type %u with %u payload bytes, want %u", hdr->type,
			 hdr->size, d->size);
		return -EPROTO;
	}
	/* Before a successful ATTACH only ATTACH makes sense, and after it
	 * ATTACH does not. */
	if ((hdr->type == ATTACH_MSG_ATTACH) == c->attached) {
		log_warn("attach: message type %u out of order", hdr->type);
		return -EPROTO;
	}
	return 0;
}

int attach_request_dispatch(struct attach_conn *c)
{
	const struct attach_msg_desc *d = attach_msg_find(c->hdr.type);

	if (!d)
		return -EPROTO; /* unreachable: the header was checked */
	if (c->n_fds != 0 && c->hdr.type != ATTACH_MSG_ATTACH) {
		log_warn("attach: %u file descriptors on message type %u", c->n_fds, c->hdr.type);
		return -EPROTO;
	}
	if (c->reject) {
		/* A second frontend: say why, then hang up (attach.h). */
		struct attach_reply rep = { .status = -EBUSY, .version = ATTACH_PROTOCOL_VERSION };

		if (c->hdr.type != ATTACH_MSG_ATTACH)
			return -EPROTO;
		c->srv->stats.busy_refused++;
		c->closing = true;
		return attach_conn_reply(c, &rep, sizeof(rep), NULL, 0);
	}
	return d->handler(c);
}

/* ---- ATTACH ----------------------------------------------------------- */

/*
 * Maps one region.  The fd must be a regular file (a memfd) at least as
 * large as the mapped range, and it must stay that large: touching a
 * MAP_SHARED page past the end of the file is a SIGBUS in this process, so
 * a frontend that could truncate its RAM could kill the daemon (at the next
 * SIMP write, ring read, disk transfer...).  Hence the memfd must carry
 * F_SEAL_SHRINK.  We add the seal ourselves when the memfd allows sealing
 * and refuse the region when it cannot be sealed.  QEMU's
 * memory-backend-memfd is sealed already (seal=on, its default).
 * Returns 0, or -errno with *why set for the log.
 */
static int attach_map_region(struct attach_conn *c, const struct attach_region *r, int fd,
			     const char **why)
{
	struct stat st;
	uint64_t end;
	int seals;

	if (fstat(fd, &st) < 0) {
		*why = "fstat failed";
		return -errno;
	}
	if (!S_ISREG(st.st_mode)) {
		*why = "not a regular file (a memfd)";
		return -EINVAL;
	}
	if (add_overflows_u64(r->fd_offset, r->size, &end) || end > (uint64_t)st.st_size) {
		*why = "the range lies beyond the end of the file";
		return -EINVAL;
	}
	seals = fcntl(fd, F_GET_SEALS);
	if (seals >= 0 && !(seals & F_SEAL_SHRINK) && fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) == 0)
		seals |= F_SEAL_SHRINK;
	if (seals < 0 || !(seals & F_SEAL_SHRINK)) {
		*why = "the file can shrink: pass a memfd sealed with F_SEAL_SHRINK "
		       "(QEMU: memory-backend-memfd with seal=on, the default)";
		return -EPERM;
	}
	*why = "cannot map it";
	return gmem_add(&c->mem, r->gpa, r->size, fd, r->fd_offset);
}

static int attach_reply_status(struct attach_conn *c, int32_t status)
{
	struct attach_reply rep = { .status = status, .version = ATTACH_PROTOCOL_VERSION };

	c->srv->stats.attach_refused++;
	c->closing = true;
	return attach_conn_reply(c, &rep, sizeof(rep), NULL, 0);
}

static int attach_handle_attach(struct attach_conn *c)
{
	struct attach_server *srv = c->srv;
	struct attach_req req;
	struct {
		struct attach_reply rep;
		struct attach_cpuid cpuid[ATTACH_MAX_CPUID];
	} __attribute__((packed)) out;
	int fds[ATTACH_SEND_MAX_FDS];
	uint32_t n_regions;
	int ret, n_cpuid;

	memcpy(&req.version, c->payload, sizeof(req.version));
	if (req.version != ATTACH_PROTOCOL_VERSION) {
		log_error("attach: the frontend speaks plugin protocol version %u, this daemon "
			  "speaks %u: rebuild QEMU's vmbus-user from this tree (make qemu)",
			  req.version, ATTACH_PROTOCOL_VERSION);
		return attach_reply_status(c, -EPROTO);
	}
	/* Now the layout of this version: the fixed part, then regions. */
	if (c->hdr.size < sizeof(req) ||
	    (c->hdr.size - sizeof(req)) % sizeof(struct attach_region) ||
	    (c->hdr.size - sizeof(req)) / sizeof(struct attach_region) > ATTACH_MAX_REGIONS) {
		log_warn("attach: ATTACH payload of %u bytes", c->hdr.size);
		return -EPROTO;
	}
	memcpy(&req, c->payload, sizeof(req));
	n_regions = (c->hdr.size - (uint32_t)sizeof(req)) / (uint32_t)sizeof(struct attach_region);
	if (req.flags != 0 || req.n_vcpus == 0 || req.n_vcpus > ATTACH_MAX_VCPUS ||
	    req.n_regions == 0 || req.n_regions != n_regions || c->n_fds != n_regions) {
		log_warn("attach: refused: flags %#x, %u vCPUs, %u regions in %u bytes, %u fds",
			 req.flags, req.n_vcpus, req.n_regions, c->hdr.size, c->n_fds);
		return attach_reply_status(c, -EINVAL);
	}
	for (uint32_t i = 0; i < n_regions; i++) {
		struct attach_region r;

		memcpy(&r, c->payload + sizeof(req) + i * sizeof(r), sizeof(r));
		const char *why = "";

		ret = attach_map_region(c, &r, c->fds[i], &why);
		if (ret < 0) {
			log_warn("attach: refused region %u (gpa %#llx size %#llx offset %#llx): %s (%s)",
				 i, (unsigned long long)r.gpa, (unsigned long long)r.size,
				 (unsigned long long)r.fd_offset, why, strerror(-ret));
			gmem_release(&c->mem);
			return attach_reply_status(c, ret == -EPERM ? -EPERM : -EINVAL);
		}
		c->fds[i] = -1; /* gmem owns it now */
	}
	ret = attach_irq_setup(c, req.n_vcpus);
	if (ret < 0) {
		log_error("attach: cannot create the irq area: %s", strerror(-ret));
		gmem_release(&c->mem);
		return attach_reply_status(c, ret);
	}

	memset(&out, 0, sizeof(out));
	n_cpuid = srv->ops->attach(srv->opaque, &c->mem, req.n_vcpus, req.tsc_hz, out.cpuid,
				   ATTACH_MAX_CPUID);
	if (n_cpuid < 0 || n_cpuid > (int)ATTACH_MAX_CPUID) {
		log_warn("attach: backend refused the frontend (%d)", n_cpuid);
		attach_irq_teardown(c);
		gmem_release(&c->mem);
		return attach_reply_status(c, n_cpuid < 0 ? n_cpuid : -EINVAL);
	}
	c->attached = true;
	srv->generation++;
	srv->stats.attaches++;

	out.rep.status = 0;
	out.rep.version = ATTACH_PROTOCOL_VERSION;
	out.rep.n_cpuid = (uint32_t)n_cpuid;
	out.rep.irq_area_size = (uint32_t)c->irq_area_size;
	fds[0] = c->irq_memfd;
	for (uint32_t i = 0; i < req.n_vcpus; i++)
		fds[1 + i] = c->irq_efd[i];
	fds[1 + req.n_vcpus] = c->idle_efd;
	log_debug("attach: frontend attached: %u vCPUs, %u RAM regions", req.n_vcpus, n_regions);
	return attach_conn_reply(c, &out,
				 (uint32_t)(sizeof(out.rep) + (size_t)n_cpuid * sizeof(struct attach_cpuid)),
				 fds, 2 + req.n_vcpus);
}

/* ---- MSR_READ / MSR_WRITE -------------------------------------------- */

static int attach_handle_msr_read(struct attach_conn *c)
{
	struct attach_server *srv = c->srv;
	struct attach_msr_req req;
	struct attach_msr_reply rep = { 0 };
	uint64_t value = 0;

	memcpy(&req, c->payload, sizeof(req));
	if (srv->ops->msr_read(srv->opaque, req.vcpu, req.msr, &value) < 0)
		rep.result = ATTACH_MSR_GP;
	else
		rep.value = value;
	return attach_conn_reply(c, &rep, sizeof(rep), NULL, 0);
}

static int attach_handle_msr_write(struct attach_conn *c)
{
	struct attach_server *srv = c->srv;
	struct attach_msr_req req;
	struct attach_msr_reply rep = { 0 };
	uint32_t action = ATTACH_ACTION_NONE;
	uint64_t arg = 0;

	memcpy(&req, c->payload, sizeof(req));
	if (srv->ops->msr_write(srv->opaque, req.vcpu, req.msr, req.value, &action, &arg) < 0) {
		rep.result = ATTACH_MSR_GP;
	} else {
		rep.action = action;
		rep.value = arg;
	}
	return attach_conn_reply(c, &rep, sizeof(rep), NULL, 0);
}

/* ---- HYPERCALL -------------------------------------------------------- */

static int attach_handle_hypercall(struct attach_conn *c)
{
	struct attach_server *srv = c->srv;
	struct attach_hypercall_req req;
	struct attach_hypercall_reply rep = { 0 };
	uint32_t conn_id = 0;
	int fd = -1;

	memcpy(&req, c->payload, sizeof(req));
	rep.result = srv->ops->hypercall(srv->opaque, req.vcpu, req.control, req.input,
					 req.output, &conn_id);
	if (conn_id != 0) {
		/* Hand over the fast path for this connection id; if no fd
		 * can be had, the frontend simply keeps using the socket. */
		fd = attach_signal_fd_get(c, conn_id);
		if (fd >= 0) {
			rep.flags = ATTACH_HC_SIGNAL_FD;
			rep.conn_id = conn_id;
		}
	}
	return attach_conn_reply(c, &rep, sizeof(rep), fd >= 0 ? &fd : NULL, fd >= 0 ? 1 : 0);
}

/* ---- CLOCK -------------------------------------------------------------- */

static int attach_handle_clock(struct attach_conn *c)
{
	struct attach_server *srv = c->srv;
	struct attach_status_reply rep = { 0 };
	struct attach_clock_req req;

	memcpy(&req, c->payload, sizeof(req));
	if (srv->ops->clock)
		srv->ops->clock(srv->opaque, req.guest_tsc, req.host_ns);
	return attach_conn_reply(c, &rep, sizeof(rep), NULL, 0);
}

/* ---- RESET / DETACH ------------------------------------------------------ */

static int attach_handle_reset(struct attach_conn *c)
{
	struct attach_server *srv = c->srv;
	struct attach_status_reply rep = { 0 };

	if (srv->ops->reset)
		srv->ops->reset(srv->opaque);
	/* Signal eventfds serve connection ids of the old guest; vectors
	 * still pending were meant for it too. */
	attach_signal_fds_drop(c);
	attach_irq_clear(c);
	return attach_conn_reply(c, &rep, sizeof(rep), NULL, 0);
}

/* The daemon lets go of the guest (every device stops touching its memory,
 * facts: see devices/blk/blk.h) BEFORE it answers: a frontend that frees
 * or reuses its RAM once it has the reply must find it untouched. */
static int attach_handle_detach(struct attach_conn *c)
{
	struct attach_server *srv = c->srv;
	struct attach_status_reply rep = { 0 };

	if (c->attached) {
		c->attached = false;
		if (srv->ops->detach)
			srv->ops->detach(srv->opaque);
	}
	c->closing = true;
	return attach_conn_reply(c, &rep, sizeof(rep), NULL, 0);
}
