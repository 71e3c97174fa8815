/* SPDX-License-Identifier: MIT */
/*
 * netvsp: configuration, control verbs, stats and the lifecycle of one
 * synthetic NIC (the channels, buffers and the notify loop are netvsp.c's).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/guid.h"
#include "core/log.h"
#include "core/stats.h"
#include "core/util.h"
#include "devices/net/net.h"
#include "devices/netvsp/netvsp_internal.h"
#include "devices/registry.h"

/* ---- control and stats ---------------------------------------------------------------- */

static int netvsp_control(void *opaque, const char *verb, const json_t *args,
			  device_control_done done, void *cookie, struct json_err *err)
{
	static const char *const keys[] = { "up", NULL };
	static const char *const none[] = { NULL };
	struct netvsp_dev *d = opaque;
	bool up = true;
	int rc;

	if (strcmp(verb, "network_change") == 0) {
		if (args && !json_is_object(args))
			return json_fail(err, "args", NULL, "must be an empty object");
		if (args && (rc = json_check_keys(args, "args", none, err)))
			return rc;
		rc = netvsp_link_network_change(d);
		if (rc == -ENETDOWN)
			return json_fail(err, "args", NULL, "the link is down (a network change needs carrier)");
		if (rc == -ENOTCONN)
			return json_fail(err, "args", NULL, "no RNDIS session: the guest has not initialized the NIC");
		done(cookie, 0, json_pack("{s:b}", "sent", 1));
		return 0;
	}
	if (strcmp(verb, "link") != 0)
		return -ENOTSUP;
	if (!args || !json_is_object(args))
		return json_fail(err, "args", NULL, "must be an object {\"up\": true|false}");
	if ((rc = json_check_keys(args, "args", keys, err)) ||
	    (rc = json_get_bool(args, "args", "up", true, &up, err)))
		return rc;
	/* Told at once, or within NETVSP_LINK_INTERVAL_NS (netvsp_link.c). */
	netvsp_link_set(d, up);
	done(cookie, 0, json_pack("{s:b}", "up", up));
	return 0;
}

STATS_DEFINE(netvsp_queue_stats, struct netvsp_queue_stats, NETVSP_QUEUE_STATS)
STATS_DEFINE_STATIC(netvsp_dev_stats, struct netvsp_dev, NETVSP_DEV_STATS)

static json_t *netvsp_backend_json(const struct net_backend *be)
{
	json_t *o = json_pack("{s:s}", "kind", net_backend_kind(be));

	return o ? net_backend_stats_json(net_backend_stats(be), o) : NULL;
}

json_t *netvsp_stats(void *opaque)
{
	struct netvsp_dev *d = opaque;
	struct netvsp_queue_stats t = d->retired;  /* NIC totals include gone subchannels */
	json_t *queues = json_array(), *o;
	char mac[18];

	for (unsigned int i = 0; i <= d->n_sub; i++) {
		const struct netvsp_queue *q = d->q[i];
		json_t *qo;

		if (!q)
			continue;
		netvsp_stats_add(&t, &q->st);
		qo = json_pack("{s:i,s:b}", "index", (int)q->index, "open", q->open);
		if (qo && netvsp_queue_stats_json(&q->st, qo))
			json_array_append_new(queues, qo);
		else
			json_decref(qo);
	}
	snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", d->mac[0], d->mac[1], d->mac[2],
		 d->mac[3], d->mac[4], d->mac[5]);
	o = json_pack("{s:s,s:i,s:b,s:b,s:i,s:s,s:i,s:i,s:i,s:i,s:i}",
		      "mac", mac, "mtu", (int)d->mtu, "link", d->rndis.link_up,
		      "link_guest", d->link_told,
		      "nvsp_version", (int)d->nvsp.version,
		      "rndis", d->rndis.state == RNDIS_INITIALIZED ? "initialized" : "uninitialized",
		      "packet_filter", (int)d->rndis.filter, "queues", (int)(1 + d->n_sub),
		      "recv_slots", (int)d->rb_slots, "recv_slots_free", (int)d->rb_nfree,
		      "recv_section_size", (int)d->nvsp.recv_section_size);
	if (!o || !netvsp_queue_stats_json(&t, o) || !netvsp_dev_stats_json(d, o)) {
		json_decref(o);
		json_decref(queues);
		return NULL;
	}
	json_object_set_new(o, "queue", queues);
	json_object_set_new(o, "backend", d->be ? netvsp_backend_json(d->be) : json_null());
	return o;
}

/* ---- lifecycle ------------------------------------------------------------------------- */

static void netvsp_destroy(void *opaque)
{
	struct netvsp_dev *d = opaque;

	if (d->q[0]) {
		struct netvsp_queue *q = d->q[0];

		vmbus_rescind(q->ch);           /* closes the primary and its subchannels */
		netvsp_rescind_subchannels(d);  /* when the primary was never opened */
		free(q->scratch);
		free(q);
		d->q[0] = NULL;
	}
	net_backend_close(d->be);
	netvsp_link_free(d);
	netvsp_ctrl_drop_all(d);
	netvsp_rb_drop(d);
	free(d->msgbuf);
	free(d->rx_seg_hdrs);
	free(d->rx_parts);
	free(d);
}

static int netvsp_parse_mac(const char *s, uint8_t mac[6])
{
	unsigned int b[6];
	char tail;

	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
		   &tail) != 6 || strlen(s) != 17)
		return -EINVAL;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)b[i];
	return 0;
}

static int netvsp_create(struct vmbus_server *srv, const json_t *config, const char *path,
			 void **out, struct json_err *err)
{
	static const char *const keys[] = { "instance", "mac", "mtu", "queues", "backend",
					    "capture", "rsc", NULL };
	static unsigned int next_nic;
	uint64_t mtu = 1500, queues = 1;
	const char *mac = NULL, *capture = NULL;
	const json_t *backend;
	/* Off by default: measured slower than MSS segments many to a packet
	 * (README, Benchmarks): Linux copies each coalesced frame into one
	 * 64 KiB linear skb. */
	bool rsc = false;
	struct netvsp_dev *d;
	char text[GUID_STR_LEN];
	unsigned int nic = next_nic++;
	int rc;

	if ((rc = json_check_keys(config, path, keys, err)) ||
	    (rc = json_get_string(config, path, "mac", false, &mac, err)) ||
	    (rc = json_get_u64(config, path, "mtu", false, NETVSP_MIN_MTU, NETVSP_MAX_MTU, &mtu,
			       err)) ||
	    (rc = json_get_u64(config, path, "queues", false, 1, NETVSP_MAX_QUEUES, &queues, err)) ||
	    (rc = json_get_string(config, path, "capture", false, &capture, err)) ||
	    (rc = json_get_bool(config, path, "rsc", false, &rsc, err)))
		return rc;
	d = calloc(1, sizeof(*d));
	if (!d || !(d->msgbuf = malloc(NETVSP_MAX_RNDIS_MSG)) ||
	    !(d->rx_seg_hdrs = malloc((size_t)NETVSP_MAX_RANGES * NETVSP_RX_SEG_HDR)) ||
	    !(d->rx_parts = calloc(NETVSP_MAX_RANGES, sizeof(*d->rx_parts)))) {
		if (d) {
			free(d->msgbuf);
			free(d->rx_seg_hdrs);
		}
		free(d);
		return json_fail(err, path, NULL, "out of memory");
	}
	d->srv = srv;
	snprintf(d->path, sizeof(d->path), "%s", path);
	/* Hyper-V's OUI 00:15:5d; a default per NIC in configuration order. */
	d->mac[0] = 0x00;
	d->mac[1] = 0x15;
	d->mac[2] = 0x5d;
	d->mac[5] = (uint8_t)nic;
	if (mac && netvsp_parse_mac(mac, d->mac)) {
		rc = json_fail(err, path, "mac", "not a MAC address like 00:15:5d:12:34:56");
		goto fail;
	}
	if (d->mac[0] & 1) {
		rc = json_fail(err, path, "mac", "a multicast address cannot be a NIC's");
		goto fail;
	}
	d->mtu = (uint32_t)mtu;
	d->queues = (uint16_t)queues;
	nvsp_proto_init(&d->nvsp, d->mtu, (uint16_t)(queues - 1));
	rndis_init(&d->rndis, d->mac, d->mtu, d->queues);
	d->rndis.rsc_offer = rsc;
	d->link_told = true;
	d->link_interval_ns = NETVSP_LINK_INTERVAL_NS;
	backend = json_object_get(config, "backend");
	if (!backend) {
		rc = json_fail(err, path, "backend", "required: {\"kind\": \"tap\"|\"dgram\"|\"null\", ...}");
		goto fail;
	}
	d->be = net_backend_open(backend, path, capture, vmbus_server_base(srv), netvsp_backend_rx, d,
				 err);
	if (!d->be) {
		rc = -EINVAL;
		goto fail;
	}
	guid_parse(NETVSC_CLASS_GUID_STR, &d->offer.if_type);
	snprintf(text, sizeof(text), "5b5d1a3c-7c55-4d0a-9f3e-00155d00%04x", nic & 0xFFFF);
	guid_parse(text, &d->offer.if_instance);
	d->offer.max_pkt_size = NETVSC_MAX_PKT_SIZE;
	if ((rc = json_get_guid(config, path, "instance", false, &d->offer.if_instance, err)))
		goto fail;
	d->q[0] = calloc(1, sizeof(*d->q[0]));
	if (!d->q[0]) {
		rc = json_fail(err, path, NULL, "out of memory");
		goto fail;
	}
	d->q[0]->d = d;
	d->q[0]->ch = vmbus_offer(srv, &d->offer, &netvsp_channel_ops, d->q[0]);
	if (!d->q[0]->ch) {
		int e = errno;

		free(d->q[0]);
		d->q[0] = NULL;
		rc = json_fail(err, path, "instance", "%s", vmbus_offer_strerror(e));
		goto fail;
	}
	*out = d;
	return 0;
fail:
	netvsp_destroy(d);
	return rc;
}

const struct vmbus_device_ops netvsp_ops = {
	.name = "netvsp",
	.class_guid = NETVSC_CLASS_GUID_STR,
	.guest_driver = "hv_netvsc",
	.monitored = true,       /* Hyper-V gives network channels a monitor id */
	.description = "synthetic NIC (Linux hv_netvsc) over TAP, dgram or null",
	.create = netvsp_create,
	.destroy = netvsp_destroy,
	.control = netvsp_control,
	.stats = netvsp_stats,
};
