/* SPDX-License-Identifier: MIT */
/*
 * net tap: a Linux TAP device (Documentation/networking/tuntap.rst), one
 * frame per read/write, no packet-information header.
 *
 * vnet headers (IFF_VNET_HDR, "vnet_hdr": true, the default): every frame
 * is preceded by a struct virtio_net_hdr, as QEMU's TAP backend does.
 * Outgoing, it lets a frame carry a checksum the kernel completes and a
 * whole LSO frame the kernel segments, or hands to a local socket as it
 * is (net_backend_send_offload): the per-segment work leaves userspace.
 * Incoming, TUNSETOFFLOAD lets the kernel hand us partial checksums and
 * TCP frames of up to 64 KiB (the device completes or segments them):
 * the header's offloads go to the rx callback.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "devices/net/net_internal.h"

static int net_tap_open(struct net_backend *be, const json_t *cfg, const char *path,
			struct json_err *err)
{
	static const char *const keys[] = { "kind", "ifname", "vnet_hdr", NULL };
	const char *ifname = NULL;
	bool vnet = true;
	int hdr_len = (int)sizeof(struct virtio_net_hdr);
	struct ifreq ifr;
	int rc, fd;

	if ((rc = json_check_keys(cfg, path, keys, err)) ||
	    (rc = json_get_string(cfg, path, "ifname", true, &ifname, err)) ||
	    (rc = json_get_bool(cfg, path, "vnet_hdr", false, &vnet, err)))
		return rc;
	if (!ifname[0] || strlen(ifname) >= IFNAMSIZ || strchr(ifname, '/') || strchr(ifname, ' '))
		return json_fail(err, path, "ifname", "not an interface name (1..%d characters)",
				 IFNAMSIZ - 1);
	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return json_fail(err, path, "ifname", "/dev/net/tun: %s", strerror(errno));
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | (vnet ? IFF_VNET_HDR : 0);
	memcpy(ifr.ifr_name, ifname, strlen(ifname));
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		rc = errno;
		close(fd);
		return json_fail(err, path, "ifname", "%s: TUNSETIFF: %s%s", ifname, strerror(rc),
				 rc == EPERM ? " (needs CAP_NET_ADMIN, or a TAP owned by this user)" :
				 rc == EBUSY ? " (in use by another process)" : "");
	}
	/* The kernel may then hand us partial checksums and TSO frames of up
	 * to 64 KiB (the device segments or coalesces them: less work on
	 * both sides than the kernel segmenting for us). */
	if (vnet && (ioctl(fd, TUNSETVNETHDRSZ, &hdr_len) < 0 ||
		     ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN) < 0)) {
		rc = errno;
		close(fd);
		return json_fail(err, path, "vnet_hdr", "%s: vnet header setup: %s", ifname, strerror(rc));
	}
	be->fd = fd;
	be->vnet_hdr_len = vnet ? (size_t)hdr_len : 0;
	return 0;
}

static int net_tap_send(struct net_backend *be, const struct iovec *iov, int iovcnt)
{
	ssize_t n = writev(be->fd, iov, iovcnt);

	return n < 0 ? -errno : 0;
}

static ssize_t net_tap_recv(struct net_backend *be, uint8_t *buf, size_t cap)
{
	struct virtio_net_hdr h;
	struct iovec iov[2] = { { &h, be->vnet_hdr_len }, { buf, cap } };
	struct net_offload *o = &be->rx_off;
	ssize_t n = be->vnet_hdr_len ? readv(be->fd, iov, 2) : read(be->fd, buf, cap);

	be->rx_has_off = false;
	if (n < 0)
		return -errno;
	if (!be->vnet_hdr_len)
		return n;
	if ((size_t)n <= be->vnet_hdr_len)
		return 0;  /* nothing after the header: skipped */
	n -= (ssize_t)be->vnet_hdr_len;
	memset(o, 0, sizeof(*o));
	if (h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
		o->csum = true;
		o->csum_start = h.csum_start;
		o->csum_offset = h.csum_offset;
	}
	switch (h.gso_type & ~VIRTIO_NET_HDR_GSO_ECN) {
	case VIRTIO_NET_HDR_GSO_NONE:
		break;
	case VIRTIO_NET_HDR_GSO_TCPV4:
	case VIRTIO_NET_HDR_GSO_TCPV6:
		o->gso = (h.gso_type & ~VIRTIO_NET_HDR_GSO_ECN) == VIRTIO_NET_HDR_GSO_TCPV4 ?
			 NET_GSO_TCPV4 : NET_GSO_TCPV6;
		o->gso_ecn = (h.gso_type & VIRTIO_NET_HDR_GSO_ECN) != 0;
		o->gso_size = h.gso_size;
		o->hdr_len = h.hdr_len;
		break;
	default:
		return 0;  /* not asked for (no UFO/USO): skipped */
	}
	be->rx_has_off = o->csum || o->gso != NET_GSO_NONE;
	return n;
}

const struct net_backend_ops net_tap_ops = {
	.name = "tap",
	.open = net_tap_open,
	.send = net_tap_send,
	.recv = net_tap_recv,
};
