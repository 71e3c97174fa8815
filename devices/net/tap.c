/* SPDX-License-Identifier: MIT */
/*
 * net tap: a Linux TAP device (Documentation/networking/tuntap.rst), one
 * frame per read/write, no packet-information header.  vnet headers are
 * not used: netvsp advertises no checksum or segmentation offload, so the
 * guest hands over complete frames and the host hands it complete frames.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "devices/net/net_internal.h"

static int net_tap_open(struct net_backend *be, const json_t *cfg, const char *path,
			struct json_err *err)
{
	static const char *const keys[] = { "kind", "ifname", NULL };
	const char *ifname = NULL;
	struct ifreq ifr;
	int rc, fd;

	if ((rc = json_check_keys(cfg, path, keys, err)) ||
	    (rc = json_get_string(cfg, path, "ifname", true, &ifname, err)))
		return rc;
	if (!ifname[0] || strlen(ifname) >= IFNAMSIZ || strchr(ifname, '/') || strchr(ifname, ' '))
		return json_fail(err, path, "ifname", "not an interface name (1..%d characters)",
				 IFNAMSIZ - 1);
	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return json_fail(err, path, "ifname", "/dev/net/tun: %s", strerror(errno));
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	memcpy(ifr.ifr_name, ifname, strlen(ifname));
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		rc = errno;
		close(fd);
		return json_fail(err, path, "ifname", "%s: TUNSETIFF: %s%s", ifname, strerror(rc),
				 rc == EPERM ? " (needs CAP_NET_ADMIN, or a TAP owned by this user)" :
				 rc == EBUSY ? " (in use by another process)" : "");
	}
	be->fd = fd;
	return 0;
}

static int net_tap_send(struct net_backend *be, const struct iovec *iov, int iovcnt)
{
	ssize_t n = writev(be->fd, iov, iovcnt);

	return n < 0 ? -errno : 0;
}

static ssize_t net_tap_recv(struct net_backend *be, uint8_t *buf, size_t cap)
{
	ssize_t n = read(be->fd, buf, cap);

	return n < 0 ? -errno : n;
}

const struct net_backend_ops net_tap_ops = {
	.name = "tap",
	.open = net_tap_open,
	.send = net_tap_send,
	.recv = net_tap_recv,
};
