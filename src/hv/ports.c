/* SPDX-License-Identifier: MIT */
/*
 * Message ports (HvPostMessage targets) and event ports (HvSignalEvent
 * targets), keyed by connection id.  Only bits 23:0 of a connection id are
 * the id (TLFS HV_CONNECTION_ID; facts §2.3), so ids are registered and
 * looked up in that range.  Id 0 is refused: the plugin protocol uses 0 to
 * mean "no connection" (attach_backend_ops.hypercall).
 *
 * The tables are sorted arrays: lookups happen on every hypercall, while
 * registrations happen when channels are offered.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hv/hv_internal.h"

/* Index of the first port with conn_id >= id. */
static uint32_t hv_port_lower_bound(const struct hv_port_table *t, uint32_t id)
{
	uint32_t lo = 0, hi = t->count;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (t->ports[mid].conn_id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct hv_port *hv_port_find(const struct hv_port_table *t, uint32_t conn_id)
{
	uint32_t i;

	if (conn_id == 0 || conn_id > HV_CONNECTION_ID_MASK)
		return NULL;
	i = hv_port_lower_bound(t, conn_id);
	if (i < t->count && t->ports[i].conn_id == conn_id)
		return &t->ports[i];
	return NULL;
}

static int hv_port_add(struct hv_port_table *t, const struct hv_port *port)
{
	uint32_t i;

	if (port->conn_id == 0 || port->conn_id > HV_CONNECTION_ID_MASK)
		return -EINVAL;
	i = hv_port_lower_bound(t, port->conn_id);
	if (i < t->count && t->ports[i].conn_id == port->conn_id)
		return -EEXIST;
	if (t->count == t->cap) {
		uint32_t cap = t->cap ? t->cap * 2 : 16;
		struct hv_port *p = realloc(t->ports, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		t->ports = p;
		t->cap = cap;
	}
	memmove(&t->ports[i + 1], &t->ports[i], (t->count - i) * sizeof(*t->ports));
	t->ports[i] = *port;
	t->count++;
	return 0;
}

static void hv_port_remove(struct hv_port_table *t, uint32_t conn_id)
{
	struct hv_port *p = hv_port_find(t, conn_id);
	uint32_t i;

	if (!p)
		return;
	i = (uint32_t)(p - t->ports);
	memmove(&t->ports[i], &t->ports[i + 1], (t->count - i - 1) * sizeof(*t->ports));
	t->count--;
}

void hv_port_table_free(struct hv_port_table *t)
{
	free(t->ports);
	memset(t, 0, sizeof(*t));
}

int hv_register_message_port(struct hv_partition *hv, uint32_t conn_id,
			     hv_message_handler fn, void *opaque)
{
	struct hv_port port = { .conn_id = conn_id, .fn.msg = fn, .opaque = opaque };

	if (!fn)
		return -EINVAL;
	return hv_port_add(&hv->msg_ports, &port);
}

void hv_unregister_message_port(struct hv_partition *hv, uint32_t conn_id)
{
	hv_port_remove(&hv->msg_ports, conn_id);
}

int hv_register_event_port(struct hv_partition *hv, uint32_t conn_id,
			   hv_event_handler fn, void *opaque)
{
	struct hv_port port = { .conn_id = conn_id, .fn.evt = fn, .opaque = opaque };

	if (!fn)
		return -EINVAL;
	return hv_port_add(&hv->evt_ports, &port);
}

void hv_unregister_event_port(struct hv_partition *hv, uint32_t conn_id)
{
	hv_port_remove(&hv->evt_ports, conn_id);
}
