/* SPDX-License-Identifier: MIT */
/*
 * net: the backend front door (net.h): config parsing by kind, the read
 * loop with its one held frame, the pcap capture, and the `null` backend.
 * tap.c and dgram.c provide file descriptors and their framing.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/virtio_net.h>

#include "core/log.h"
#include "core/util.h"
#include "devices/net/net_internal.h"

/* ---- capture: a pcap file (libpcap), Ethernet link type ------------------- */

#ifdef HAVE_LIBPCAP
#include <pcap/pcap.h>

static int net_capture_open(struct net_backend *be, const char *file, char *why, size_t whylen)
{
	be->capture_pcap = pcap_open_dead(DLT_EN10MB, NET_MAX_FRAME);
	be->capture_buf = malloc(NET_MAX_FRAME);
	if (!be->capture_pcap || !be->capture_buf) {
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	be->capture = pcap_dump_open(be->capture_pcap, file);
	if (!be->capture) {
		snprintf(why, whylen, "%s", pcap_geterr(be->capture_pcap));
		return -EIO;
	}
	return 0;
}

static void net_capture(struct net_backend *be, const struct iovec *iov, int iovcnt)
{
	struct pcap_pkthdr h;
	struct timespec ts;
	size_t len = 0;

	if (!be->capture)
		return;
	for (int i = 0; i < iovcnt && len < NET_MAX_FRAME; i++) {
		size_t c = MIN(iov[i].iov_len, NET_MAX_FRAME - len);

		memcpy(be->capture_buf + len, iov[i].iov_base, c);
		len += c;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	h.ts.tv_sec = ts.tv_sec;
	h.ts.tv_usec = ts.tv_nsec / 1000;
	h.caplen = h.len = (bpf_u_int32)len;
	pcap_dump((u_char *)be->capture, &h, be->capture_buf);
	/* Flushed per frame: a capture is for reading while it runs. */
	pcap_dump_flush(be->capture);
	be->st.captured++;
}

static void net_capture_close(struct net_backend *be)
{
	if (be->capture)
		pcap_dump_close(be->capture);
	if (be->capture_pcap)
		pcap_close(be->capture_pcap);
	free(be->capture_buf);
}
#else
static int net_capture_open(struct net_backend *be, const char *file, char *why, size_t whylen)
{
	snprintf(why, whylen, "vmbusd was built without libpcap (install libpcap-dev, ./configure)");
	return -ENOTSUP;
}

static void net_capture(struct net_backend *be, const struct iovec *iov, int iovcnt)
{
}

static void net_capture_close(struct net_backend *be)
{
}
#endif

/* ---- receive loop ------------------------------------------------------------ */

static bool net_deliver(struct net_backend *be, size_t len)
{
	struct iovec iov = { be->rx_buf, len };

	if (!be->rx(be->opaque, be->rx_buf, len, be->rx_has_off ? &be->rx_off : NULL)) {
		be->held = true;
		be->held_len = len;
		be->st.rx_paused++;
		if (be->ev)
			event_del(be->ev);
		return false;
	}
	be->st.rx_frames++;
	be->st.rx_bytes += len;
	net_capture(be, &iov, 1);
	return true;
}

static void net_readable(evutil_socket_t fd, short what, void *opaque)
{
	struct net_backend *be = opaque;

	for (unsigned int i = 0; i < NET_RX_BUDGET && !be->held; i++) {
		ssize_t n = be->ops->recv(be, be->rx_buf, NET_MAX_FRAME);

		if (n == -EAGAIN || n == -EINTR)
			return;
		if (n < 0) {
			/* The device vanished (a TAP moved away and deleted): stop
			 * reading instead of spinning on the error. */
			be->st.rx_errors++;
			log_warn("net %s: read: %s; no more frames from this backend", be->ops->name,
				 strerror((int)-n));
			event_del(be->ev);
			return;
		}
		if (n == 0)
			continue;
		if (!net_deliver(be, (size_t)n))
			return;
	}
}

void net_backend_rx_resume(struct net_backend *be)
{
	if (!be->held)
		return;
	be->held = false;
	if (!net_deliver(be, be->held_len))
		return;
	if (be->ev) {
		event_add(be->ev, NULL);
		/* More may be waiting already; the fd is level-triggered. */
	}
}

/* ---- transmit ------------------------------------------------------------------ */

static void net_txq_free(struct net_backend *be)
{
	while (be->txq_head) {
		struct net_txq_frame *f = be->txq_head;

		be->txq_head = f->next;
		free(f);
	}
	be->txq_tail = NULL;
	be->txq_len = 0;
}

/* Sends what waits; true when the queue is empty. */
static bool net_txq_flush(struct net_backend *be)
{
	while (be->txq_head) {
		struct net_txq_frame *f = be->txq_head;
		struct iovec iov = { f->data, f->len };
		int rc = be->ops->send(be, &iov, 1);

		if (rc == -EAGAIN)
			return false;
		if (rc) {
			be->st.tx_errors++;
		} else {
			be->st.tx_frames++;
			be->st.tx_bytes += f->len - be->vnet_hdr_len;
		}
		be->txq_head = f->next;
		if (!be->txq_head)
			be->txq_tail = NULL;
		be->txq_len--;
		free(f);
	}
	return true;
}

static void net_writable(evutil_socket_t fd, short what, void *opaque)
{
	struct net_backend *be = opaque;

	if (net_txq_flush(be))
		event_del(be->wev);
}

static int net_txq_add(struct net_backend *be, const struct iovec *iov, int iovcnt, size_t len)
{
	struct net_txq_frame *f;
	size_t off = 0;

	if (be->txq_len >= NET_TXQ_MAX || !be->wev || !(f = malloc(sizeof(*f) + len))) {
		be->st.tx_dropped++;
		return -ENOBUFS;
	}
	for (int i = 0; i < iovcnt; i++) {
		memcpy(f->data + off, iov[i].iov_base, iov[i].iov_len);
		off += iov[i].iov_len;
	}
	f->len = len;
	f->next = NULL;
	if (be->txq_tail)
		be->txq_tail->next = f;
	else
		be->txq_head = f;
	be->txq_tail = f;
	be->txq_len++;
	be->st.tx_queued++;
	event_add(be->wev, NULL);
	return 0;
}

/* The virtio_net_hdr (virtio 1.x 5.1.6, legacy layout, native endian as a
 * TAP without TUNSETVNETLE expects) for `o`. */
static void net_vnet_hdr(struct virtio_net_hdr *h, const struct net_offload *o)
{
	memset(h, 0, sizeof(*h));
	if (!o)
		return;
	if (o->csum) {
		h->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
		h->csum_start = o->csum_start;
		h->csum_offset = o->csum_offset;
	}
	if (o->gso != NET_GSO_NONE) {
		h->gso_type = o->gso == NET_GSO_TCPV6 ? VIRTIO_NET_HDR_GSO_TCPV6 :
							VIRTIO_NET_HDR_GSO_TCPV4;
		if (o->gso_ecn)
			h->gso_type |= VIRTIO_NET_HDR_GSO_ECN;
		h->gso_size = o->gso_size;
		h->hdr_len = o->hdr_len;
	}
}

bool net_backend_offloads(const struct net_backend *be)
{
	return be->vnet_hdr_len != 0;
}

int net_backend_send_offload(struct net_backend *be, const struct iovec *iov, int iovcnt,
			     const struct net_offload *o)
{
	struct iovec v[NET_MAX_IOV + 1];
	struct virtio_net_hdr vh;
	size_t len = 0;
	int rc;

	if (iovcnt < 0 || iovcnt > NET_MAX_IOV)
		return -EINVAL;
	if (!be->vnet_hdr_len && o && (o->csum || o->gso != NET_GSO_NONE)) {
		be->st.tx_errors++;
		return -EOPNOTSUPP;
	}
	for (int i = 0; i < iovcnt; i++)
		len += iov[i].iov_len;
	net_capture(be, iov, iovcnt);
	if (be->vnet_hdr_len) {
		net_vnet_hdr(&vh, o);
		v[0] = (struct iovec){ &vh, be->vnet_hdr_len };
		memcpy(v + 1, iov, (size_t)iovcnt * sizeof(*iov));
		iov = v;
		iovcnt++;
		be->st.tx_offloaded += o && (o->csum || o->gso != NET_GSO_NONE);
	}
	/* Order: nothing overtakes a queued frame. */
	rc = be->txq_head ? -EAGAIN : be->ops->send(be, iov, iovcnt);
	if (rc == -EAGAIN)
		return net_txq_add(be, iov, iovcnt, len + be->vnet_hdr_len);
	if (rc) {
		static struct log_ratelimit rl;
		uint32_t sup;

		be->st.tx_errors++;
		if (log_ratelimit_ok(&rl, &sup))
			log_warn("net %s: frame of %zu bytes not sent: %s%s", be->ops->name, len,
				 strerror(-rc), sup ? " (earlier lines suppressed)" : "");
		return rc;
	}
	be->st.tx_frames++;
	be->st.tx_bytes += len;
	return 0;
}

int net_backend_send(struct net_backend *be, const struct iovec *iov, int iovcnt)
{
	return net_backend_send_offload(be, iov, iovcnt, NULL);
}

/* ---- null ---------------------------------------------------------------------- */

static int net_null_open(struct net_backend *be, const json_t *cfg, const char *path,
			 struct json_err *err)
{
	static const char *const keys[] = { "kind", NULL };

	be->fd = -1;
	return json_check_keys(cfg, path, keys, err);
}

static int net_null_send(struct net_backend *be, const struct iovec *iov, int iovcnt)
{
	return 0;
}

static ssize_t net_null_recv(struct net_backend *be, uint8_t *buf, size_t cap)
{
	return -EAGAIN;
}

static const struct net_backend_ops net_null_ops = {
	.name = "null",
	.open = net_null_open,
	.send = net_null_send,
	.recv = net_null_recv,
};

STATS_DEFINE(net_backend_stats, struct net_backend_stats, NET_BACKEND_STATS)

/* ---- front door ------------------------------------------------------------------- */

static const struct net_backend_ops *const net_kinds[] = {
	&net_tap_ops,
	&net_dgram_ops,
	&net_null_ops,
};

struct net_backend *net_backend_open(const json_t *cfg, const char *path, const char *capture,
				     struct event_base *base, net_rx_fn rx, void *opaque,
				     struct json_err *err)
{
	const struct net_backend_ops *ops = NULL;
	const char *kind = NULL;
	struct net_backend *be;
	char bpath[128];

	snprintf(bpath, sizeof(bpath), "%s.backend", path);
	if (!cfg || !json_is_object(cfg)) {
		json_fail(err, path, "backend", "must be an object with a \"kind\"");
		return NULL;
	}
	if (json_get_string(cfg, bpath, "kind", true, &kind, err))
		return NULL;
	for (size_t i = 0; i < ARRAY_SIZE(net_kinds); i++)
		if (strcmp(net_kinds[i]->name, kind) == 0)
			ops = net_kinds[i];
	if (!ops) {
		json_fail(err, bpath, "kind", "unknown backend \"%s\" (tap, dgram, null)", kind);
		return NULL;
	}
	be = calloc(1, sizeof(*be));
	if (!be || !(be->rx_buf = malloc(NET_MAX_FRAME))) {
		free(be);
		json_fail(err, path, "backend", "out of memory");
		return NULL;
	}
	be->ops = ops;
	be->fd = -1;
	be->rx = rx;
	be->opaque = opaque;
	if (ops->open(be, cfg, bpath, err))
		goto fail;
	if (capture) {
		char why[256];

		if (net_capture_open(be, capture, why, sizeof(why))) {
			json_fail(err, path, "capture", "%s: %s", capture, why);
			goto fail;
		}
	}
	if (be->fd >= 0) {
		be->ev = event_new(base, be->fd, EV_READ | EV_PERSIST, net_readable, be);
		be->wev = event_new(base, be->fd, EV_WRITE | EV_PERSIST, net_writable, be);
		if (!be->ev || !be->wev || event_add(be->ev, NULL)) {
			json_fail(err, path, "backend", "cannot watch the backend");
			goto fail;
		}
	}
	return be;
fail:
	net_backend_close(be);
	return NULL;
}

void net_backend_close(struct net_backend *be)
{
	if (!be)
		return;
	if (be->ev)
		event_free(be->ev);
	if (be->wev)
		event_free(be->wev);
	net_txq_free(be);
	if (be->ops && be->ops->close)
		be->ops->close(be);
	if (be->fd >= 0)
		close(be->fd);
	net_capture_close(be);
	free(be->rx_buf);
	free(be);
}

const char *net_backend_kind(const struct net_backend *be)
{
	return be->ops->name;
}

const struct net_backend_stats *net_backend_stats(const struct net_backend *be)
{
	return &be->st;
}
