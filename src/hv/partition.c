/* SPDX-License-Identifier: MIT */
/*
 * The partition: lifecycle and the state every other hv/ file works on.
 *
 * A partition outlives frontends.  hv_partition_new() creates it with no
 * memory; hv_partition_bind() connects it to the RAM of the frontend that
 * just attached (and sizes the VP array); hv_partition_unbind() forgets that
 * RAM when the frontend goes away.  Ports registered by vmbus/ survive both,
 * because the channel server outlives frontends too.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "hv/hv_internal.h"

struct hv_partition *hv_partition_new(const struct hv_irq_sink *irq)
{
	struct hv_partition *hv = calloc(1, sizeof(*hv));

	if (!hv)
		return NULL;
	if (irq)
		hv->irq = *irq;
	hv->ref_time_base_ns = now_ns();
	hv->timer_armed_ns = UINT64_MAX;
	return hv;
}

void hv_partition_free(struct hv_partition *hv)
{
	if (!hv)
		return;
	hv_partition_unbind(hv);
	hv_partition_set_timer_sink(hv, NULL);
	hv_port_table_free(&hv->msg_ports);
	hv_port_table_free(&hv->evt_ports);
	free(hv);
}

int hv_partition_bind(struct hv_partition *hv, struct gmem *mem, const struct hv_config *cfg)
{
	if (!mem || !cfg || cfg->n_vcpus == 0 || cfg->n_vcpus > ATTACH_MAX_VCPUS)
		return -EINVAL;
	if (hv->mem)
		return -EBUSY;
	hv->vp = calloc(cfg->n_vcpus, sizeof(*hv->vp));
	if (!hv->vp)
		return -ENOMEM;
	for (uint32_t i = 0; i < cfg->n_vcpus; i++)
		for (uint32_t s = 0; s < HV_SINT_COUNT; s++)
			TAILQ_INIT(&hv->vp[i].queue[s].msgs);
	hv->cfg = *cfg;
	if (hv->cfg.apic_hz == 0)
		hv->cfg.apic_hz = HV_DEFAULT_APIC_HZ;
	hv->mem = mem;
	/* A new frontend is a power-on: nothing of the previous guest's
	 * partition state may leak into it. */
	hv_partition_reset(hv);
	return 0;
}

void hv_partition_unbind(struct hv_partition *hv)
{
	if (!hv->mem)
		return;
	for (uint32_t i = 0; i < hv->cfg.n_vcpus; i++)
		synic_vp_clear(&hv->vp[i]);
	free(hv->vp);
	hv->vp = NULL;
	hv->mem = NULL;
	hv->guest_os_id = 0;
	hv->hypercall = 0;
	hv->tsc_invariant_ctl = 0;
	hv->reference_tsc = 0;
	hv->clock_valid = false;
	hv_stimer_reset_done(hv); /* no VP, nothing due */
}

bool hv_partition_bound(const struct hv_partition *hv)
{
	return hv->mem != NULL;
}

void hv_partition_reset(struct hv_partition *hv)
{
	hv->guest_os_id = 0;
	hv->hypercall = 0;
	hv->tsc_invariant_ctl = 0;
	/* TIME_REF_COUNT counts from partition power-on (TLFS 12.4).  The
	 * TSC page goes off with its MSR; the CLOCK sample stays true (the
	 * guest TSC does not restart with the partition), so the page the
	 * rebooted guest enables maps its TSC onto the new time base. */
	hv->ref_time_base_ns = now_ns();
	hv->reference_tsc = 0;
	if (!hv->mem)
		return;
	for (uint32_t i = 0; i < hv->cfg.n_vcpus; i++) {
		struct hv_vp *vp = &hv->vp[i];

		synic_vp_clear(vp);
		vp->vp_assist = 0;
		vp->scontrol = 0;
		vp->siefp = 0;
		vp->simp = 0;
		for (uint32_t s = 0; s < HV_SINT_COUNT; s++)
			vp->sint[s] = HV_SINT_POWER_ON;
		hv_stimer_vp_reset(hv, vp);
	}
	hv_stimer_reset_done(hv);
}

struct gmem *hv_partition_gmem(struct hv_partition *hv)
{
	return hv->mem;
}

uint32_t hv_partition_vcpus(const struct hv_partition *hv)
{
	return hv->mem ? hv->cfg.n_vcpus : 0;
}

const struct hv_stats *hv_partition_stats(const struct hv_partition *hv)
{
	return &hv->stats;
}

STATS_DEFINE(hv_stats, struct hv_stats, HV_STATS)

json_t *hv_partition_status_json(const struct hv_partition *hv)
{
	json_t *o = json_pack("{s:b,s:i}", "bound", hv->mem != NULL, "vcpus",
			      (int)hv_partition_vcpus(hv));

	return o ? hv_stats_json(&hv->stats, o) : NULL;
}

