/* SPDX-License-Identifier: MIT */
/*
 * GPADLs: guest page lists that back rings and device buffers (facts §5.3).
 *
 * GPADL_HEADER carries the start of a "range buffer" of range_buflen bytes
 * (rangecount ranges, each {byte_count, byte_offset, pfn[]}); GPADL_BODY
 * messages append raw 8-byte words to it until range_buflen bytes arrived.
 * Linux leaves the body's msgnumber 0, so bodies are assembled by handle in
 * arrival order.  When complete the ranges are parsed and every PFN is
 * checked against guest RAM; GPADL_CREATED carries a non-zero status on any
 * failure (Linux then fails with -EDQUOT).  A header that is refused at once
 * (unknown relid, duplicate handle, limits) is answered at once; Linux adds
 * its waiter before it posts, so an early answer is safe, and the bodies
 * that follow are counted as malformed and dropped.
 *
 * The guest controls all of it: sizes, counts and pages are bounded
 * (vmbus_internal.h) and a ring GPADL in use by an open channel is not
 * freed until the channel closes; its TORNDOWN is sent then.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "vmbus/vmbus_internal.h"

static uint32_t gpadl_hash(uint32_t handle)
{
	return (handle ^ (handle >> 8)) % VMBUS_GPADL_HASH;
}

struct vmbus_gpadl *vmbus_gpadl_find(struct vmbus_server *srv, uint32_t handle)
{
	for (struct vmbus_gpadl *g = srv->gpadls[gpadl_hash(handle)]; g; g = g->hnext)
		if (g->handle == handle)
			return g;
	return NULL;
}

static void gpadl_free(struct vmbus_server *srv, struct vmbus_gpadl *g)
{
	struct vmbus_gpadl **pp = &srv->gpadls[gpadl_hash(g->handle)];

	while (*pp && *pp != g)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = g->hnext;
	srv->n_gpadls--;
	srv->gpadl_pages -= g->n_pages;
	if (g->ch)
		g->ch->n_gpadls--;
	free(g->words);
	free(g->ranges);
	free(g);
}

static void gpadl_send_created(struct vmbus_server *srv, uint32_t relid, uint32_t handle,
			       uint32_t status)
{
	struct vmbus_msg_gpadl_created msg = {
		.header.msgtype = CHANNELMSG_GPADL_CREATED,
		.child_relid = relid,
		.gpadl = handle,
		.creation_status = status,
	};

	if (status)
		srv->stats.gpadls_refused++;
	else
		srv->stats.gpadls_created++;
	vmbus_post(srv, &msg, sizeof(msg));
}

static void gpadl_send_torndown(struct vmbus_server *srv, uint32_t handle)
{
	struct vmbus_msg_gpadl_torndown msg = {
		.header.msgtype = CHANNELMSG_GPADL_TORNDOWN,
		.gpadl = handle,
	};

	vmbus_post(srv, &msg, sizeof(msg));
}

/* Parses the assembled range buffer and checks every page.  0 or -errno. */
static int gpadl_parse(struct vmbus_server *srv, struct vmbus_gpadl *g)
{
	const struct gmem *mem = hv_partition_gmem(srv->hv);
	uint32_t n_words = g->buflen / 8, pos = 0, pages = 0;

	g->ranges = calloc(g->rangecount, sizeof(*g->ranges));
	if (!g->ranges)
		return -ENOMEM;
	if (!mem)
		return -EFAULT;
	g->size = 0;
	for (uint32_t i = 0; i < g->rangecount; i++) {
		struct vmbus_gpadl_range *r = &g->ranges[i];
		struct vmbus_gpa_range hdr;
		uint64_t n;

		if (pos >= n_words)
			return -EINVAL;
		memcpy(&hdr, &g->words[pos++], sizeof(hdr));
		if (hdr.byte_offset >= GMEM_PAGE_SIZE || hdr.byte_count == 0)
			return -EINVAL;
		n = ((uint64_t)hdr.byte_offset + hdr.byte_count + GMEM_PAGE_SIZE - 1) / GMEM_PAGE_SIZE;
		if (n > n_words - pos)
			return -EINVAL;
		r->byte_count = hdr.byte_count;
		r->byte_offset = hdr.byte_offset;
		r->first_pfn = pos;
		r->n_pfns = (uint32_t)n;
		for (uint32_t k = 0; k < r->n_pfns; k++) {
			uint64_t pfn = g->words[pos + k];

			if (pfn > (UINT64_MAX >> GMEM_PAGE_SHIFT) ||
			    !gmem_translate(mem, pfn << GMEM_PAGE_SHIFT, GMEM_PAGE_SIZE))
				return -EFAULT;
		}
		pos += r->n_pfns;
		pages += r->n_pfns;
		g->size += r->byte_count;
	}
	/* Every word must belong to a range. */
	if (pos != n_words || pages > VMBUS_GPADL_MAX_PAGES)
		return -EINVAL;
	return 0;
}

static void gpadl_complete(struct vmbus_server *srv, struct vmbus_gpadl *g)
{
	int ret = gpadl_parse(srv, g);

	if (ret < 0) {
		/* The header was fine but the ranges are not: as malformed as a
		 * bad header (only -ENOMEM is ours). */
		if (ret != -ENOMEM)
			srv->stats.malformed++;
		log_guest("vmbus: GPADL %#x on relid %u refused: %s", g->handle, g->relid,
			  ret == -EFAULT ? "page outside guest RAM" : "malformed ranges");
		gpadl_send_created(srv, g->relid, g->handle, VMBUS_STATUS_UNSUCCESSFUL);
		gpadl_free(srv, g);
		return;
	}
	g->complete = true;
	gpadl_send_created(srv, g->relid, g->handle, 0);
}

void vmbus_handle_gpadl_header(struct vmbus_server *srv, uint32_t vp, const void *msg,
			       uint32_t size)
{
	const struct vmbus_msg_gpadl_header *m = msg;
	struct vmbus_channel *ch = vmbus_chan_lookup(srv, m->child_relid);
	uint32_t chunk = size - (uint32_t)sizeof(*m);
	uint32_t buflen = m->range_buflen, pages;
	const char *why = NULL;
	struct vmbus_gpadl *g;

	if (!ch || ch->rescinded)
		why = "unknown relid";
	else if (vmbus_gpadl_find(srv, m->gpadl))
		why = "duplicate handle";
	else if (m->rangecount == 0 || buflen % 8 || buflen < 8u * m->rangecount)
		why = "bad range count or length";
	else if (chunk % 8 || chunk > buflen)
		why = "more PFNs than range_buflen";
	else if ((pages = buflen / 8 - m->rangecount) > VMBUS_GPADL_MAX_PAGES ||
		 srv->gpadl_pages + pages > VMBUS_GPADL_TOTAL_PAGES)
		why = "too many pages";
	else if (ch->n_gpadls >= VMBUS_GPADL_MAX_PER_CHAN || srv->n_gpadls >= VMBUS_GPADL_MAX_TOTAL)
		why = "too many GPADLs";
	if (why) {
		srv->stats.malformed++;
		log_guest("vmbus: GPADL_HEADER %#x relid %u: %s", m->gpadl, m->child_relid, why);
		gpadl_send_created(srv, m->child_relid, m->gpadl, VMBUS_STATUS_UNSUCCESSFUL);
		return;
	}
	g = calloc(1, sizeof(*g));
	if (!g || !(g->words = calloc(buflen / 8, 8))) {
		free(g);
		gpadl_send_created(srv, m->child_relid, m->gpadl, VMBUS_STATUS_UNSUCCESSFUL);
		return;
	}
	g->ch = ch;
	g->handle = m->gpadl;
	g->relid = m->child_relid;
	g->rangecount = m->rangecount;
	g->buflen = buflen;
	g->n_pages = pages; /* reserved now; exact once parsed */
	memcpy(g->words, (const uint8_t *)msg + sizeof(*m), chunk);
	g->filled = chunk;
	g->hnext = srv->gpadls[gpadl_hash(g->handle)];
	srv->gpadls[gpadl_hash(g->handle)] = g;
	srv->n_gpadls++;
	srv->gpadl_pages += pages;
	ch->n_gpadls++;
	if (g->filled == g->buflen)
		gpadl_complete(srv, g);
}

void vmbus_handle_gpadl_body(struct vmbus_server *srv, uint32_t vp, const void *msg,
			     uint32_t size)
{
	const struct vmbus_msg_gpadl_body *m = msg;
	uint32_t chunk = size - (uint32_t)sizeof(*m);
	struct vmbus_gpadl *g = vmbus_gpadl_find(srv, m->gpadl);

	if (!g || g->complete) {
		srv->stats.malformed++;
		log_guest("vmbus: GPADL_BODY for %s handle %#x", g ? "complete" : "unknown",
			  m->gpadl);
		return;
	}
	if (chunk == 0 || chunk % 8 || chunk > g->buflen - g->filled) {
		srv->stats.malformed++;
		log_guest("vmbus: GPADL_BODY %#x: %u bytes with %u expected", m->gpadl, chunk,
			  g->buflen - g->filled);
		gpadl_send_created(srv, g->relid, g->handle, VMBUS_STATUS_UNSUCCESSFUL);
		gpadl_free(srv, g);
		return;
	}
	memcpy((uint8_t *)g->words + g->filled, (const uint8_t *)msg + sizeof(*m), chunk);
	g->filled += chunk;
	if (g->filled == g->buflen)
		gpadl_complete(srv, g);
}

void vmbus_handle_gpadl_teardown(struct vmbus_server *srv, uint32_t vp, const void *msg,
				 uint32_t size)
{
	const struct vmbus_msg_gpadl_teardown *m = msg;
	struct vmbus_gpadl *g = vmbus_gpadl_find(srv, m->gpadl);

	if (!g) {
		/* Answer anyway: Linux waits for TORNDOWN without a timeout. */
		srv->stats.malformed++;
		log_guest("vmbus: GPADL_TEARDOWN of unknown handle %#x", m->gpadl);
		gpadl_send_torndown(srv, m->gpadl);
		return;
	}
	if (g->relid != m->child_relid) {
		srv->stats.malformed++;
		log_guest("vmbus: GPADL_TEARDOWN %#x names relid %u, it belongs to %u", m->gpadl,
			  m->child_relid, g->relid);
		return;
	}
	if (g->in_use) {
		/* The open ring still maps it: tear down when the channel closes. */
		srv->stats.wrong_state++;
		log_guest("vmbus: GPADL_TEARDOWN %#x while relid %u's ring uses it", m->gpadl,
			  g->relid);
		g->teardown_pending = true;
		return;
	}
	gpadl_free(srv, g);
	gpadl_send_torndown(srv, m->gpadl);
}

void vmbus_gpadl_release(struct vmbus_server *srv, struct vmbus_gpadl *g)
{
	uint32_t handle = g->handle;

	g->in_use = false;
	if (g->teardown_pending) {
		gpadl_free(srv, g);
		gpadl_send_torndown(srv, handle);
	}
}

void vmbus_gpadl_drop(struct vmbus_server *srv, struct vmbus_channel *ch)
{
	for (uint32_t b = 0; b < VMBUS_GPADL_HASH; b++) {
		struct vmbus_gpadl *g = srv->gpadls[b], *next;

		for (; g; g = next) {
			next = g->hnext;
			if (!ch || g->ch == ch)
				gpadl_free(srv, g);
		}
	}
}

const uint64_t *vmbus_gpadl_pages(const struct vmbus_gpadl *g, uint32_t *n_pages)
{
	const struct vmbus_gpadl_range *r = &g->ranges[0];

	if (!g->complete || g->rangecount != 1 || r->byte_offset != 0 ||
	    r->byte_count != (uint64_t)r->n_pfns * GMEM_PAGE_SIZE)
		return NULL;
	*n_pages = r->n_pfns;
	return &g->words[r->first_pfn];
}

static const struct vmbus_gpadl *gpadl_of(const struct vmbus_channel *ch, uint32_t handle)
{
	const struct vmbus_gpadl *g = vmbus_gpadl_find(ch->srv, handle);

	return g && g->complete && g->ch == ch ? g : NULL;
}

uint64_t vmbus_chan_gpadl_size(const struct vmbus_channel *ch, uint32_t gpadl)
{
	const struct vmbus_gpadl *g = gpadl_of(ch, gpadl);

	return g ? g->size : 0;
}

int vmbus_chan_gpadl_iov(const struct vmbus_channel *ch, uint32_t gpadl, uint64_t offset,
			 uint64_t len, struct iovec *iov, int max_iov)
{
	const struct vmbus_gpadl *g = gpadl_of(ch, gpadl);
	const struct gmem *mem = hv_partition_gmem(ch->srv->hv);
	uint64_t end, pos = 0;
	int n = 0;

	if (!g)
		return -ENOENT;
	if (add_overflows_u64(offset, len, &end) || end > g->size)
		return -EINVAL;
	if (!mem)
		return -EFAULT;
	for (uint32_t i = 0; i < g->rangecount && len > 0; i++) {
		const struct vmbus_gpadl_range *r = &g->ranges[i];
		uint64_t start, chunk, abs, in_page;
		uint32_t first, npf;
		int ret;

		if (offset >= pos + r->byte_count) {
			pos += r->byte_count;
			continue;
		}
		start = offset - pos;
		chunk = MIN(len, r->byte_count - start);
		abs = r->byte_offset + start;
		first = (uint32_t)(abs / GMEM_PAGE_SIZE);
		in_page = abs % GMEM_PAGE_SIZE;
		npf = (uint32_t)((in_page + chunk + GMEM_PAGE_SIZE - 1) / GMEM_PAGE_SIZE);
		if (n >= max_iov)
			return -E2BIG;
		ret = gmem_pfns_iov(mem, &g->words[r->first_pfn + first], npf, (uint32_t)in_page,
				    chunk, iov + n, max_iov - n);
		if (ret < 0)
			return ret;
		/* Join with the previous range when the memory continues. */
		if (n > 0 && ret > 0 &&
		    (uint8_t *)iov[n - 1].iov_base + iov[n - 1].iov_len == iov[n].iov_base) {
			iov[n - 1].iov_len += iov[n].iov_len;
			memmove(&iov[n], &iov[n + 1], (size_t)(ret - 1) * sizeof(*iov));
			ret--;
		}
		n += ret;
		offset += chunk;
		len -= chunk;
		pos += r->byte_count;
	}
	return n;
}
