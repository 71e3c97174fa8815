/* SPDX-License-Identifier: MIT */
/*
 * Host side of the VMBus ring buffers (facts §6).
 *
 * Layout.  A channel's ring GPADL holds two rings: pages [0, downstream)
 * are guest->host ("in"), the rest host->guest ("out").  Each ring is a
 * 4 KiB header (struct vmbus_ring_header) and a data area.  We map each
 * ring contiguously from the guest's memfd pages and map its data area a
 * second time right behind the first, so a packet that wraps past the end
 * is one linear copy.  A packet is a 16-byte descriptor, payload padded to
 * 8 bytes, then an 8-byte trailer (old write index << 32, ignored by
 * readers); it uses len8 * 8 + 8 bytes of the ring.  read == write means
 * empty, so a writer never fills a ring completely: it needs free > need.
 *
 * Who writes what.  In each header the writer owns write_index and
 * pending_send_sz, the reader owns read_index and interrupt_mask.  The
 * guest can write anything anywhere at any time, so the host never trusts
 * an index it reads: it keeps its own read index of "in" and its own write
 * index of "out" privately, and checks every guest index it loads
 * (< data size, 8-aligned).  A bad index or descriptor marks the channel
 * broken: counted, logged once, vmbus_chan_recv/send return -EPIPE until
 * the guest closes the channel.  Packets are copied out of the ring before
 * they are parsed, so the guest cannot change them under the parser.
 *
 * Signalling contract (Linux 6.1 drivers/hv/ring_buffer.c).
 *   guest -> host data: the guest signals (HvSignalEvent on the channel's
 *     connection id) after a write only if "in".interrupt_mask is 0 and the
 *     ring was empty before its write (old write index == our read_index).
 *     So the host must drain "in" until it is empty: a non-empty ring never
 *     produces another signal.  We set interrupt_mask only while polling
 *     (below), and clear it with a re-check before we sleep.
 *   host -> guest data: after writing we publish write_index, issue a full
 *     fence, and interrupt target_vp (SIEF bit relid + SINT2) if the
 *     guest's "out".interrupt_mask is 0 and the ring was empty before our
 *     write (its read_index == our old write index), or always for
 *     signal_every_packet channels (util ICs read one packet per interrupt).
 *   host blocked (out full): we set "out".pending_send_sz to the bytes we
 *     need, fence, re-check; the guest's reader signals us when its read
 *     makes the free space cross that value.  The send returns -EAGAIN and
 *     the device retries from ops->notify.
 *   guest blocked (in full): if the guest set "in".pending_send_sz (Linux
 *     6.1 never does, but the feature bit says it may), we signal it when a
 *     read makes the free space cross that value.
 *
 * Memory ordering.  The guest is another CPU; its side uses full barriers
 * (virt_mb) around these points.  Ours, as C11 atomics on the header words:
 *   A. load-acquire of the peer's index (in.write_index, out.read_index):
 *      the packet bytes (in) or the freed bytes (out) are read/written only
 *      after the index that covers them was seen.
 *   B. store-release of our index (in.read_index, out.write_index): every
 *      read of the consumed packet, or write of the new packet, happens
 *      before the guest can see the index move.
 *   C. seq_cst fence between "publish our index" and "look at the peer's
 *      flags" (interrupt_mask, pending_send_sz, the peer's index again),
 *      and between "set pending_send_sz" and the re-check of read_index.
 *      Each is one side of a store->fence->load pair whose other side is the
 *      guest's virt_mb(); with both fences at least one side sees the
 *      other's store, so no wake-up is lost.  (A release/acquire pair does
 *      not order a store before a later load; x86 needs the mfence here.)
 *
 * Batches.  Every ops->notify runs as one batch (vmbus_chan_run_notify),
 * which is what Linux's own reader does (hv_pkt_iter_next advances a
 * private index; hv_pkt_iter_close publishes it once, then checks
 * pending_send_sz).  Inside a batch:
 *   - we load the guest's write_index only when our read index has caught
 *     up with the last value we loaded and checked (in->peer): the header's
 *     indices share one cache line that the guest writes for every packet,
 *     so each load is a cache miss;
 *   - read_index is stored when the ring is found empty (before the
 *     fence and re-check of rule C, so the guest's hv_signal_on_write sees
 *     it caught up), when RING_PUBLISH_BYTES are waiting to be freed, and
 *     at the end of the batch, followed by one pending_send_sz check for
 *     all the bytes read since the last one;
 *   - a host->guest send stores write_index only when RING_PUBLISH_BYTES
 *     are unpublished (a guest that polls keeps reading), when the ring is
 *     full (before pending_send_sz: the guest can only make room by reading
 *     what is there) and at the end of the batch; the fence and interrupt
 *     decision happen once, at the end: interrupt if the guest's
 *     interrupt_mask is 0 and its read_index is not at our write index.  That covers every point of the batch
 *     where the per-packet rule would have fired: a guest that went idle
 *     after reading up to any packet of the batch still has unread data
 *     (read != write), and one that has read everything needs nothing.
 *     signal_every_packet channels keep the per-packet decision.
 * Outside a batch (a send from a timer or a storage completion) each call
 * publishes and decides at once, as above.
 *
 * Polling.  A channel offered with poll_us > 0 (a stream device) keeps the
 * event loop on its rings for up to poll_us after a batch that moved
 * packets: it sets "in".interrupt_mask (Linux's hv_signal_on_write then
 * skips the HvSignalEvent), clears a pending_send_sz it had set, and spins
 * on the guest's indices; new packets or freed space run ops->notify
 * again.  The window runs from the last batch that moved a packet.  When
 * it passes with nothing new the poll unmasks, restores pending_send_sz,
 * fences and re-checks (rule C) before going to sleep, so no wake-up is
 * lost.  A batch that moves nothing after the window ends the poll the
 * same way, and so does one whose device stopped (it neither read "in"
 * empty nor waits for room in "out": run again, it would only spin);
 * otherwise, inside the window, it polls on (the kick's first batch often
 * comes before the guest's next packet).  After RING_POLL_TURNS batches
 * the loop gets its turn back (vmbus_chan_notify_later) with signals still
 * masked.  A send that finds "out" full inside a polling channel's batch
 * does not set pending_send_sz: the poll watches the guest's read_index
 * itself, and the request goes to the guest only when we stop polling
 * (ring_ask_pending_room, or the poll's way to sleep); set at once, every
 * read the guest makes while we spin would signal us.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "core/fault.h"
#include "core/fault_class.h"
#include "core/log.h"
#include "core/trace.h"
#include "core/util.h"
#include "vmbus/vmbus_internal.h"

#define RING_KICK_US 1000
/* Inside a batch, read_index is stored at least every this many bytes:
 * rarely enough that small packets share one store (one cache-line
 * transfer of the header, which the guest writes for every packet), often
 * enough that a writer facing a full ring is not kept waiting behind large
 * copies (a 256 KiB ring of 8 KiB packets stalled when we stored it every
 * quarter ring). */
#define RING_PUBLISH_BYTES 8192u
#define RING_POLL_TURNS 16   /* batches per poll before the loop's other sources run */

/* Header words, addressed without taking the address of a packed member. */
#define RING_WORD(ring, field) \
	((uint32_t *)((uint8_t *)(ring)->hdr + offsetof(struct vmbus_ring_header, field)))

static uint32_t ring_load_acquire(uint32_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static uint32_t ring_load_relaxed(uint32_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static void ring_store_release(uint32_t *p, uint32_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static void ring_store_relaxed(uint32_t *p, uint32_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELAXED);
}

static void ring_fence(void)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

static void ring_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#else
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
#endif
}

static bool ring_index_ok(const struct vmbus_ring *ring, uint32_t idx)
{
	return idx < ring->size && (idx & 7) == 0;
}

/* idx + n inside the data area, for idx < size and n <= size (a data area
 * is at most 1 GiB, so the sum fits).  No division: a `%` by the runtime
 * size was the largest single cost of a 64-byte packet. */
static uint32_t ring_advance(const struct vmbus_ring *ring, uint32_t idx, uint32_t n)
{
	idx += n;
	return idx >= ring->size ? idx - ring->size : idx;
}

/* Bytes a writer may still use; it needs strictly more than a packet. */
static uint32_t ring_space(const struct vmbus_ring *ring, uint32_t r, uint32_t w)
{
	return w >= r ? ring->size - (w - r) : r - w;
}

/* ---- mapping ------------------------------------------------------------ */

/* Maps n guest pages at `at`, one mmap per run of pages that are also
 * contiguous in the same memfd.  MAP_POPULATE maps them all now, in one
 * call, rather than one page fault at a time as the ring is first used
 * (gmem.c, "Populating ahead of use": a fault costs ~10 us on a nested
 * host); Linux zeroes its ring pages, so they are all there already. */
static int ring_map_pages(uint8_t *at, const struct gmem *mem, const uint64_t *pfns, uint32_t n)
{
	uint32_t i = 0;

	while (i < n) {
		uint64_t off0, off;
		uint32_t run = 1;
		int fd0, fd;

		if (pfns[i] > (UINT64_MAX >> GMEM_PAGE_SHIFT) ||
		    gmem_page_fd(mem, pfns[i] << GMEM_PAGE_SHIFT, &fd0, &off0) < 0)
			return -EFAULT;
		while (i + run < n && pfns[i + run] <= (UINT64_MAX >> GMEM_PAGE_SHIFT) &&
		       gmem_page_fd(mem, pfns[i + run] << GMEM_PAGE_SHIFT, &fd, &off) == 0 &&
		       fd == fd0 && off == off0 + (uint64_t)run * GMEM_PAGE_SIZE)
			run++;
		if (mmap(at + (size_t)i * GMEM_PAGE_SIZE, (size_t)run * GMEM_PAGE_SIZE,
			 PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED | MAP_POPULATE, fd0,
			 (off_t)off0) == MAP_FAILED)
			return -errno;
		i += run;
	}
	return 0;
}

int vmbus_ring_map(struct vmbus_ring *ring, const struct gmem *mem, const uint64_t *pfns,
		   uint32_t n_pages)
{
	size_t data, total;
	uint8_t *area;
	int ret;

	memset(ring, 0, sizeof(*ring));
	if (n_pages < 2 || n_pages - 1 > VMBUS_GPADL_MAX_PAGES)
		return -EINVAL;
	data = (size_t)(n_pages - 1) * GMEM_PAGE_SIZE;
	total = GMEM_PAGE_SIZE + 2 * data;
	/* Reserve the address range first so the pieces land back to back. */
	area = mmap(NULL, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (area == MAP_FAILED)
		return -errno;
	ret = ring_map_pages(area, mem, pfns, n_pages);
	if (ret == 0)
		ret = ring_map_pages(area + GMEM_PAGE_SIZE + data, mem, pfns + 1, n_pages - 1);
	if (ret < 0) {
		munmap(area, total);
		return ret;
	}
	ring->map = area;
	ring->map_len = total;
	ring->hdr = (struct vmbus_ring_header *)area;
	ring->data = area + GMEM_PAGE_SIZE;
	ring->size = (uint32_t)data;
	return 0;
}

void vmbus_ring_unmap(struct vmbus_ring *ring)
{
	if (ring->map)
		munmap(ring->map, ring->map_len);
	memset(ring, 0, sizeof(*ring));
}

int vmbus_ring_start(struct vmbus_channel *ch)
{
	struct vmbus_ring *in = &ch->in, *out = &ch->out;
	uint32_t in_r = ring_load_acquire(RING_WORD(in, read_index));
	uint32_t in_w = ring_load_acquire(RING_WORD(in, write_index));
	uint32_t out_r = ring_load_acquire(RING_WORD(out, read_index));
	uint32_t out_w = ring_load_acquire(RING_WORD(out, write_index));

	/* Linux zeroes both headers before OPENCHANNEL; take what is there. */
	if (!ring_index_ok(in, in_r) || !ring_index_ok(in, in_w) ||
	    !ring_index_ok(out, out_r) || !ring_index_ok(out, out_w))
		return -EINVAL;
	in->idx = in_r;
	in->peer = in_r;
	in->published = in_r;
	in->consumed = 0;
	out->idx = out_w;
	out->published = out_w;
	out->batch_sent = false;
	ch->out_need = 0;
	ch->batching = false;
	ch->polling = false;
	/* We want every guest->host signal, and are not blocked. */
	ring_store_relaxed(RING_WORD(in, interrupt_mask), 0);
	ring_store_relaxed(RING_WORD(out, pending_send_sz), 0);
	/* Feature bits are the guest's statement; read, never required. */
	log_debug("vmbus: relid %u open: rings %u/%u bytes, features %#x/%#x", ch->relid,
		  in->size, out->size, ring_load_relaxed(RING_WORD(in, feature_bits)),
		  ring_load_relaxed(RING_WORD(out, feature_bits)));
	return 0;
}

static int ring_broken(struct vmbus_channel *ch, const char *what, uint32_t a, uint32_t b)
{
	ch->broken = true;
	ch->srv->stats.ring_errors++;
	ch->stats.ring_broken++;
	log_guest("vmbus: relid %u: corrupt ring (%s: %u, %u); channel silenced until closed",
		  ch->relid, what, a, b);
	return -EPIPE;
}

/* ---- guest -> host -------------------------------------------------------- */

/* Stores our read index of "in" if the guest has not seen it yet. */
static void ring_publish_read(struct vmbus_ring *in)
{
	if (in->published != in->idx) {
		/* B: the copies out are complete before the guest reuses the bytes. */
		ring_store_release(RING_WORD(in, read_index), in->idx);
		in->published = in->idx;
	}
}

/* After reads freed in->consumed bytes (published): wake a guest writer
 * that set pending_send_sz and now has room (hv_pkt_iter_close's rule). */
static void ring_check_pending(struct vmbus_channel *ch)
{
	struct vmbus_ring *in = &ch->in;
	uint32_t pending, w, after, before, consumed = in->consumed;

	in->consumed = 0;
	/* C: our read_index store before the load of pending_send_sz; pairs
	 * with the guest's store of pending_send_sz, virt_mb, re-check. */
	ring_fence();
	pending = ring_load_relaxed(RING_WORD(in, pending_send_sz));
	if (!pending)
		return;
	w = ring_load_relaxed(RING_WORD(in, write_index));
	if (!ring_index_ok(in, w))
		return; /* the next recv reports it */
	after = ring_space(in, in->idx, w);
	before = after > consumed ? after - consumed : 0;
	if (before <= pending && after > pending)
		vmbus_chan_signal_guest(ch);
}

int vmbus_chan_recv(struct vmbus_channel *ch, struct vmbus_pkt *pkt)
{
	struct vmbus_ring *in = &ch->in;
	struct vmpacket_descriptor desc;
	uint32_t r, w, avail, len, used;

	if (!ch->open || ch->closing || ch->broken)
		return -EPIPE;
	if (fault_hit("vmbus.recv"))
		return -EPIPE;
	r = in->idx;
	w = in->peer;
	if (w == r) {
		/* A: packet bytes are read only after the index covering them. */
		w = ring_load_acquire(RING_WORD(in, write_index));
		if (!ring_index_ok(in, w))
			return ring_broken(ch, "guest write index", w, in->size);
		if (w == r) {
			/* C: our read_index store, then this load.  Pairs with
			 * the guest's write_index store, virt_mb, read_index
			 * load: either it saw the ring empty and signals, or
			 * we see its packet now. */
			ring_publish_read(in);
			ring_fence();
			w = ring_load_acquire(RING_WORD(in, write_index));
			if (!ring_index_ok(in, w))
				return ring_broken(ch, "guest write index", w, in->size);
			if (w == r) {
				in->drained = true;
				return 0;
			}
		}
		in->peer = w;
	}
	avail = w > r ? w - r : in->size - (r - w);
	if (avail < sizeof(desc) + VMBUS_PKT_TRAILER_SIZE)
		return ring_broken(ch, "partial packet", avail, r);
	memcpy(&desc, in->data + r, sizeof(desc));
	len = (uint32_t)desc.len8 * 8;
	if (desc.offset8 < 2 || desc.offset8 > desc.len8 ||
	    (uint64_t)len + VMBUS_PKT_TRAILER_SIZE > avail)
		return ring_broken(ch, "descriptor offset8/len8", desc.offset8, desc.len8);
	if (len > ch->rx_cap) {
		uint32_t cap = ch->rx_cap ? ch->rx_cap : 256;
		uint8_t *buf;

		while (cap < len)
			cap *= 2;
		buf = realloc(ch->rx_buf, cap);
		if (!buf)
			return -ENOMEM;
		ch->rx_buf = buf;
		ch->rx_cap = cap;
	}
	/* One linear copy even across the end: the data area is mapped twice.
	 * The descriptor we validated replaces whatever the copy holds now. */
	memcpy(ch->rx_buf, in->data + r, len);
	memcpy(ch->rx_buf, &desc, sizeof(desc));
	used = len + VMBUS_PKT_TRAILER_SIZE;
	r = ring_advance(in, r, used); /* used <= avail <= size */
	in->idx = r;
	in->consumed += used;
	if (!ch->batching) {
		ring_publish_read(in);
		ring_check_pending(ch);
	} else if (in->size - ring_space(in, in->published, r) >= RING_PUBLISH_BYTES) {
		ring_publish_read(in); /* let a writer waiting for space go on */
	}

	pkt->type = desc.type;
	pkt->flags = desc.flags;
	pkt->trans_id = desc.trans_id;
	pkt->raw = ch->rx_buf;
	pkt->raw_len = len;
	pkt->data = ch->rx_buf + (uint32_t)desc.offset8 * 8;
	pkt->data_len = len - (uint32_t)desc.offset8 * 8;
	ch->stats.packets_in++;
	ch->stats.bytes_in += len;
	trace_emit(VMBUS_TRACE_PKT_IN, ch->relid, ch->target_vp, 0, desc.trans_id, ch->rx_buf, len);
	return 1;
}

/* ---- host -> guest -------------------------------------------------------- */

/* Asks the guest to signal once `need` bytes of "out" are free, then
 * re-loads its read_index (unchecked: the caller checks). */
static uint32_t ring_ask_room(struct vmbus_ring *out, uint32_t need)
{
	ring_store_relaxed(RING_WORD(out, pending_send_sz), need);
	/* C: pending_send_sz store before the re-check of read_index; pairs
	 * with the guest's read_index store, virt_mb, load of pending_send_sz
	 * (hv_pkt_iter_close). */
	ring_fence();
	return ring_load_acquire(RING_WORD(out, read_index));
}

/* Stores our write index of "out" if the guest has not seen it yet. */
static void ring_publish_write(struct vmbus_ring *out)
{
	if (out->published != out->idx) {
		/* B: the packet bytes are visible before the index that covers them. */
		ring_store_release(RING_WORD(out, write_index), out->idx);
		out->published = out->idx;
	}
}

static void ring_kick_later(struct vmbus_channel *ch)
{
	struct timeval tv = { 0, RING_KICK_US };

	if (ch->kick_ev && !evtimer_pending(ch->kick_ev, NULL))
		evtimer_add(ch->kick_ev, &tv);
}

/* Packet bytes for `payload` bytes after the descriptor; 0 if too big. */
static uint32_t ring_pkt_len(const struct vmbus_channel *ch, size_t payload)
{
	uint64_t len;

	if (payload > UINT32_MAX)
		return 0;
	len = ALIGN_UP((uint64_t)sizeof(struct vmpacket_descriptor) + payload, 8);
	if (len > ch->max_pkt || len > 0xFFFFu * 8)
		return 0;
	return (uint32_t)len;
}

bool vmbus_chan_can_send(const struct vmbus_channel *ch, size_t payload)
{
	const struct vmbus_ring *out = &ch->out;
	uint32_t len = ring_pkt_len(ch, payload), r;

	if (!ch->open || ch->closing || ch->broken || !len)
		return false;
	r = ring_load_acquire(RING_WORD(out, read_index));
	if (!ring_index_ok(out, r))
		return false;
	return ring_space(out, r, out->idx) > len + VMBUS_PKT_TRAILER_SIZE;
}

int vmbus_chan_send(struct vmbus_channel *ch, uint16_t type, uint16_t flags, uint64_t trans_id,
		    uint32_t hdr_len, const struct iovec *iov, int iovcnt)
{
	uint32_t len;
	size_t payload = 0;

	if (!ch->open || ch->closing || ch->broken)
		return -EPIPE;
	if (iovcnt < 0 || (iovcnt > 0 && !iov))
		return -EINVAL;
	for (int i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len > SIZE_MAX - payload)
			return -EMSGSIZE;
		payload += iov[i].iov_len;
	}
	if (hdr_len % 8 || hdr_len > payload)
		return -EINVAL;
	len = ring_pkt_len(ch, payload);
	if (!len)
		return -EMSGSIZE;
	if (len + VMBUS_PKT_TRAILER_SIZE >= ch->out.size)
		return -EMSGSIZE; /* could never fit this ring */
	if (fault_hit("vmbus.send")) {
		/* As if full, and retried from notify a little later. */
		ch->stats.send_full++;
		ring_kick_later(ch);
		return -EAGAIN;
	}
	/* The one branch fault injection costs when nothing is armed. */
	if (__builtin_expect((fault_class_mask & VMBUS_FAULT_SEND_MASK) != 0, 0))
		return vmbus_fault_send(ch, type, flags, trans_id, hdr_len, iov, iovcnt, payload);
	return vmbus_ring_write(ch, type, flags, trans_id, hdr_len, iov, iovcnt, payload, NULL);
}

int vmbus_ring_write(struct vmbus_channel *ch, uint16_t type, uint16_t flags, uint64_t trans_id,
		     uint32_t hdr_len, const struct iovec *iov, int iovcnt, size_t payload,
		     const struct vmbus_ring_mangle *m)
{
	struct vmbus_ring *out = &ch->out;
	struct vmpacket_descriptor desc;
	uint32_t len = ring_pkt_len(ch, payload), need, r, w, old_w, mask;
	uint64_t trailer, word0;
	uint8_t *dst;

	if (!ch->open || ch->closing || ch->broken)
		return -EPIPE;
	need = len + VMBUS_PKT_TRAILER_SIZE;
	old_w = w = out->idx;
	/* A: the bytes we overwrite were freed by the guest's read. */
	r = ring_load_acquire(RING_WORD(out, read_index));
	if (!ring_index_ok(out, r))
		return ring_broken(ch, "guest read index", r, out->size);
	if (ring_space(out, r, w) <= need) {
		/* What we wrote is all the guest can read to make room. */
		ring_publish_write(out);
		if (ch->batching && ch->params.poll_us) {
			/* A polling channel watches for the room itself and asks
			 * the guest (pending_send_sz) only before it sleeps:
			 * asked now, the guest's next read would signal us for
			 * room the poll is about to see (ring_poll). */
			ch->out_need = need;
			ch->stats.send_full++;
			return -EAGAIN;
		}
		r = ring_ask_room(out, need);
		if (!ring_index_ok(out, r))
			return ring_broken(ch, "guest read index", r, out->size);
		if (ring_space(out, r, w) <= need) {
			ch->stats.send_full++;
			return -EAGAIN;
		}
	}
	if (ring_load_relaxed(RING_WORD(out, pending_send_sz)))
		ring_store_relaxed(RING_WORD(out, pending_send_sz), 0);

	desc.type = type;
	desc.offset8 = (uint16_t)((sizeof(desc) + hdr_len) / 8);
	desc.len8 = (uint16_t)(len / 8);
	if (m && m->len8 >= 0)
		desc.len8 = (uint16_t)m->len8;
	if (m && m->offset8 >= 0)
		desc.offset8 = (uint16_t)m->offset8;
	desc.flags = flags;
	desc.trans_id = trans_id;
	/* Linear even across the end of the data area (double mapping); the
	 * descriptor as two 8-byte words. */
	dst = out->data + w;
	word0 = vmpacket_desc_word0(desc.type, desc.offset8, desc.len8, desc.flags);
	memcpy(dst, &word0, 8);
	memcpy(dst + 8, &trans_id, 8);
	dst += sizeof(desc);
	for (int i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len)
			memcpy(dst, iov[i].iov_base, iov[i].iov_len);
		dst += iov[i].iov_len;
	}
	memset(dst, 0, len - sizeof(desc) - payload);
	dst += len - sizeof(desc) - payload;
	trailer = (uint64_t)old_w << 32;
	memcpy(dst, &trailer, sizeof(trailer));
	trace_emit(VMBUS_TRACE_PKT_OUT, ch->relid, ch->target_vp, 0, trans_id, out->data + w, len);

	w = ring_advance(out, w, need); /* need < size */
	out->idx = w;
	if (m && m->bad_write_index) {
		/* ring.write_index_beyond publishes a lie; our private idx
		 * stays right, so the next packet's publish stores the truth
		 * again (not this batch's end: the lie is to be seen). */
		ring_store_release(RING_WORD(out, write_index), out->size + 8);
		out->published = w;
	} else if (!ch->batching || ch->params.signal_every_packet ||
		   out->size - ring_space(out, out->published, w) >=
			   MIN(RING_PUBLISH_BYTES, out->size / 2)) {
		ring_publish_write(out);
	}
	if (m && m->bad_pending_send_sz)
		ring_store_relaxed(RING_WORD(out, pending_send_sz), out->size * 2);
	ch->stats.packets_out++;
	ch->stats.bytes_out += len;
	if (ch->batching && !ch->params.signal_every_packet) {
		/* decided at the end of the batch (timing.withhold_interrupt:
		 * this packet asks for none) */
		if (!(m && m->no_signal))
			out->batch_sent = true;
		return 0;
	}
	/* C: write_index store before the loads of interrupt_mask/read_index;
	 * pairs with the guest's hv_end_read (mask = 0, virt_mb, re-check). */
	ring_fence();
	mask = ring_load_relaxed(RING_WORD(out, interrupt_mask));
	r = ring_load_relaxed(RING_WORD(out, read_index));
	if (mask == 0 && (r == old_w || ch->params.signal_every_packet) && !(m && m->no_signal))
		vmbus_chan_signal_guest(ch);
	return 0;
}

/* ---- batches and polling ---------------------------------------------------- */

/* The end of a batch: publish what was read and check pending_send_sz,
 * then decide the one interrupt for what was sent (header "Batches"). */
static void ring_batch_end(struct vmbus_channel *ch)
{
	struct vmbus_ring *in = &ch->in, *out = &ch->out;
	uint32_t mask, r;

	if (in->consumed) {
		ring_publish_read(in);
		ring_check_pending(ch);
	}
	ring_publish_write(out);
	if (!out->batch_sent)
		return;
	out->batch_sent = false;
	/* C: as in vmbus_chan_send, once for the batch. */
	ring_fence();
	mask = ring_load_relaxed(RING_WORD(out, interrupt_mask));
	r = ring_load_relaxed(RING_WORD(out, read_index));
	if (mask == 0 && r != out->idx)
		vmbus_chan_signal_guest(ch);
}

/* New guest packets, or the space our blocked send waits for (out_need). */
static bool ring_has_work(struct vmbus_channel *ch, uint32_t out_need)
{
	uint32_t w = ring_load_relaxed(RING_WORD(&ch->in, write_index)), r;

	if (w != ch->in.idx)
		return true; /* a bad index too: the next recv reports it */
	if (!out_need)
		return false;
	r = ring_load_relaxed(RING_WORD(&ch->out, read_index));
	return !ring_index_ok(&ch->out, r) || ring_space(&ch->out, r, ch->out.idx) > out_need;
}

/* Spins until work or the deadline with guest signals masked; true when
 * there is work.  On the way out unmasks, restores pending_send_sz and
 * re-checks (rule C: either the guest sees us unmasked, or we see its
 * write), so returning false is safe to sleep on. */
static bool ring_poll(struct vmbus_channel *ch, uint64_t deadline)
{
	uint32_t asked = ring_load_relaxed(RING_WORD(&ch->out, pending_send_sz));
	uint32_t out_need = MAX(ch->out_need, asked);
	unsigned spins = 0;
	bool work;

	ch->out_need = 0;
	if (!ch->polling) {
		ring_store_relaxed(RING_WORD(&ch->in, interrupt_mask), 1);
		ch->polling = true;
	}
	if (asked)
		ring_store_relaxed(RING_WORD(&ch->out, pending_send_sz), 0);
	for (;;) {
		if (ring_has_work(ch, out_need))
			break;
		if (now_ns() >= deadline) {
			ring_store_relaxed(RING_WORD(&ch->in, interrupt_mask), 0);
			ch->polling = false;
			break;
		}
		for (int i = 0; i < 32; i++)
			ring_relax();
		/* A peer on this same CPU (more runnable threads than cores)
		 * gets to run: a spin that never yields only burns its slice. */
		if (++spins % 8 == 0)
			sched_yield();
	}
	/* Work found: the device's retry sends, or finds the ring full and
	 * sets pending_send_sz again itself.  Restoring it here would only
	 * let the guest's next read signal us for room we already have. */
	if (ch->polling)
		return true;
	if (out_need)
		ring_store_relaxed(RING_WORD(&ch->out, pending_send_sz), out_need);
	ring_fence();
	work = ring_has_work(ch, out_need);
	return work;
}

/* Leaving a polling channel's batches without a poll: a send that found
 * the ring full (vmbus_ring_write kept its need in ch->out_need) now asks
 * the guest for a signal, then re-checks (rule C); true when the room is
 * there already (or the index is bad: the retry reports it), so the caller
 * runs another batch instead of sleeping. */
static bool ring_ask_pending_room(struct vmbus_channel *ch)
{
	uint32_t need = ch->out_need, r;

	if (!need)
		return false;
	ch->out_need = 0;
	r = ring_ask_room(&ch->out, need);
	return !ring_index_ok(&ch->out, r) || ring_space(&ch->out, r, ch->out.idx) > need;
}

/* A batch moved nothing: stop polling.  Unmask, then rule C's re-check: a
 * guest that wrote while we were masked did not signal, so if the device
 * had read the ring empty (it wants more) and a packet is there now, the
 * caller must run another batch.  A device that stopped reading with
 * packets left re-arms itself, as it does without polling. */
static bool ring_unpoll(struct vmbus_channel *ch)
{
	if (!ch->polling)
		return false;
	ring_store_relaxed(RING_WORD(&ch->in, interrupt_mask), 0);
	ch->polling = false;
	ring_fence();
	return ch->in.drained &&
	       ring_load_relaxed(RING_WORD(&ch->in, write_index)) != ch->in.idx;
}

void vmbus_chan_run_notify(struct vmbus_channel *ch)
{
	uint64_t deadline = 0, now;

	for (unsigned turn = 0;; turn++) {
		uint64_t moved;

		if (!ch->open || ch->closing || ch->broken || !ch->ops->notify)
			return;
		moved = ch->stats.packets_in + ch->stats.packets_out;
		ch->in.drained = false;
		ch->batching = true;
		ch->ops->notify(ch);
		ch->batching = false;
		if (!ch->open || ch->closing || ch->broken)
			return;
		ring_batch_end(ch);
		if (!ch->params.poll_us)
			return;
		now = now_ns();
		if (ch->stats.packets_in + ch->stats.packets_out != moved) {
			ch->poll_moved_ns = now;
		} else if (!ch->polling || !(ch->in.drained || ch->out_need) ||
			   now - ch->poll_moved_ns >= (uint64_t)ch->params.poll_us * 1000u) {
			/* Nothing moved, and nothing since the window began, or
			 * the device stopped: it neither read "in" empty nor
			 * waits for room in "out". */
			bool again = ring_unpoll(ch);

			if (ring_ask_pending_room(ch) || again)
				continue;
			return;
		}
		if (turn + 1 >= RING_POLL_TURNS) {
			/* Signals stay masked and room is not asked for: the kick
			 * runs us again, and its batch polls on. */
			vmbus_chan_notify_later(ch);
			return;
		}
		deadline = ch->poll_moved_ns + (uint64_t)ch->params.poll_us * 1000u;
		if (!ring_poll(ch, deadline))
			return;
	}
}
