/* SPDX-License-Identifier: MIT */
/*
 * storvsp disks: the LUNs of the controller's one target (path 0, target
 * 0), opened from the "disks" config array or hot-plugged with the
 * add-disk / remove-disk control verbs, and the device's stats.
 *
 * A disk is a blk backend (devices/blk/) under a SCSI LUN (devices/scsi/).
 * Hot plug attaches or detaches the LUN (the target queues REPORTED LUNS
 * DATA HAS CHANGED on the others) and sends the unsolicited ENUMERATE_BUS
 * that makes storvsc rescan (facts §8.5); storvsc then TURs its known
 * devices (a removed one answers INVALID_LUN and is dropped) and scans the
 * host.  A removed disk leaves the target at once but closes its image only
 * when its last command is done; remove-disk completes then.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "core/log.h"
#include "core/util.h"
#include "devices/blk/blk.h"
#include "devices/scsi/scsi.h"
#include "devices/storvsp/storvsp_internal.h"

/* ---- disks --------------------------------------------------------------------- */

static void storvsp_disk_free(struct storvsp_disk *disk)
{
	/* scsi.h: destroy an idle LUN before closing its backend; a LUN with
	 * commands in flight needs blk_close() first, which completes them
	 * (done() runs inside it). */
	disk->closing = true;
	if (disk->inflight == 0 && disk->slun) {
		scsi_lun_destroy(disk->slun);
		disk->slun = NULL;
	}
	blk_close(disk->blk);
	if (disk->slun)
		scsi_lun_destroy(disk->slun);
	if (disk->close_ev)
		event_free(disk->close_ev);
	free(disk->image);
	free(disk);
}

static void storvsp_disk_finish_remove(struct storvsp_disk *disk)
{
	struct storvsp_dev *d = disk->dev;
	device_control_done done = disk->done;
	void *cookie = disk->cookie;
	json_t *res = json_pack("{s:i}", "lun", (int)disk->lun);

	for (struct storvsp_disk **pp = &d->removing; *pp; pp = &(*pp)->next) {
		if (*pp == disk) {
			*pp = disk->next;
			break;
		}
	}
	storvsp_disk_free(disk);
	if (done)
		done(cookie, 0, res);
	else
		json_decref(res);
}

static void storvsp_disk_close_cb(evutil_socket_t fd, short what, void *arg)
{
	struct storvsp_disk *disk = arg;

	if (disk->inflight == 0)
		storvsp_disk_finish_remove(disk);
}

/* A removed disk's last command finished: close it from the loop, not from
 * inside its backend's done(). */
void storvsp_disk_idle(struct storvsp_disk *disk)
{
	if (disk->close_ev)
		event_active(disk->close_ev, EV_TIMEOUT, 0);
	else
		storvsp_disk_finish_remove(disk);
}

int storvsp_disk_add(struct storvsp_dev *d, const json_t *obj, const char *path,
		     unsigned int default_lun, bool hotplug, unsigned int *lun_out,
		     struct json_err *err)
{
	static const char *const keys[] = { BLK_CONFIG_KEYS, SCSI_LUN_CONFIG_KEYS, "lun",
					    "controller", NULL };
	struct blk_config bc;
	struct scsi_lun_config lc;
	struct storvsp_disk *disk;
	uint64_t lun = default_lun, controller = d->controller;
	int rc;

	memset(&bc, 0, sizeof(bc));
	memset(&lc, 0, sizeof(lc));
	if ((rc = json_check_keys(obj, path, keys, err)) ||
	    (rc = blk_config_from_json(obj, path, &bc, err)) ||
	    (rc = scsi_lun_config_from_json(obj, path, &lc, err)) ||
	    (rc = json_get_u64(obj, path, "lun", false, 0, STORVSP_MAX_LUN, &lun, err)) ||
	    (rc = json_get_u64(obj, path, "controller", false, 0, 0xFFFF, &controller, err)))
		return rc;
	/* One storvsp device is one controller: a disk names the controller
	 * it is listed under (a check, so a moved disk cannot go unnoticed). */
	if (controller != d->controller)
		return json_fail(err, path, "controller",
				 "%u, but it is listed under controller %u (a controller is a "
				 "storvsp device; list the disk under the one with \"controller\": %u)",
				 (unsigned)controller, d->controller, (unsigned)controller);
	if (d->disks[lun])
		return json_fail(err, path, "lun", "LUN %u is already in use", (unsigned)lun);
	disk = calloc(1, sizeof(*disk));
	if (!disk || !(disk->image = strdup(bc.path))) {
		free(disk);
		return json_fail(err, path, NULL, "out of memory");
	}
	disk->dev = d;
	disk->lun = (unsigned int)lun;
	rc = blk_open(d->base, &bc, &disk->blk, err);
	if (rc) {
		/* blk names the file and the reason; add the key. */
		char why[sizeof(err->msg)];

		snprintf(why, sizeof(why), "%s", err->msg);
		free(disk->image);
		free(disk);
		return json_fail(err, path, strstr(why, "format") ? "format" : "path", "%s", why);
	}
	rc = scsi_lun_create(disk->blk, &lc, &disk->slun, err);
	if (!rc && d->base && !(disk->close_ev = event_new(d->base, -1, 0, storvsp_disk_close_cb,
							    disk)))
		rc = json_fail(err, path, NULL, "out of memory");
	if (!rc && (rc = scsi_target_attach(d->target, disk->lun, disk->slun, hotplug)) < 0)
		json_fail(err, path, "lun", "cannot attach LUN %u: %s", disk->lun, strerror(-rc));
	if (rc) {
		storvsp_disk_free(disk);
		return rc;
	}
	disk->attached = true;
	d->disks[lun] = disk;
	*lun_out = disk->lun;
	return 0;
}

void storvsp_disks_close_all(struct storvsp_dev *d)
{
	for (unsigned int i = 0; i <= STORVSP_MAX_LUN; i++) {
		struct storvsp_disk *disk = d->disks[i];

		if (!disk)
			continue;
		d->disks[i] = NULL;
		if (disk->attached)
			scsi_target_detach(d->target, disk->lun, false);
		storvsp_disk_free(disk);
	}
	while (d->removing) {
		struct storvsp_disk *disk = d->removing;

		d->removing = disk->next;
		if (disk->done)
			disk->done(disk->cookie, -ECANCELED, NULL);
		storvsp_disk_free(disk);
	}
}

/* ---- control and stats -------------------------------------------------------- */

int storvsp_control(void *opaque, const char *verb, const json_t *args, device_control_done done,
		    void *cookie, struct json_err *err)
{
	struct storvsp_dev *d = opaque;
	uint64_t lun = 0;
	int rc;

	if (strcmp(verb, "add-disk") == 0) {
		unsigned int n, free_lun = 0;

		if (d->ide)   /* storvsc_probe adds an IDE disk once; nothing rescans */
			return json_fail(err, NULL, verb, "not possible on an IDE controller");
		/* Without "lun": the lowest free one. */
		while (free_lun <= STORVSP_MAX_LUN && d->disks[free_lun])
			free_lun++;
		if (free_lun > STORVSP_MAX_LUN && !json_object_get(args, "lun"))
			return json_fail(err, "args", "lun", "no free LUN");
		if ((rc = storvsp_disk_add(d, args, "args", MIN(free_lun, STORVSP_MAX_LUN), true, &n,
					   err)))
			return rc;
		log_info("storvsp %s: disk hot-added at LUN %u", d->path, n);
		storvsp_notify_rescan(d);
		done(cookie, 0, json_pack("{s:i}", "lun", (int)n));
		return 0;
	}
	if (strcmp(verb, "remove-disk") == 0) {
		static const char *const keys[] = { "lun", NULL };
		struct storvsp_disk *disk;

		if ((rc = json_check_keys(args, "args", keys, err)) ||
		    (rc = json_get_u64(args, "args", "lun", true, 0, STORVSP_MAX_LUN, &lun, err)))
			return rc;
		disk = d->disks[lun];
		if (!disk)
			return json_fail(err, "args", "lun", "no disk at LUN %u", (unsigned)lun);
		d->disks[lun] = NULL;
		scsi_target_detach(d->target, disk->lun, true);
		disk->attached = false;
		disk->done = done;
		disk->cookie = cookie;
		disk->next = d->removing;
		d->removing = disk;
		log_info("storvsp %s: disk hot-removed from LUN %u", d->path, disk->lun);
		storvsp_notify_rescan(d);
		/* The image closes when its last command is done. */
		if (disk->inflight == 0)
			storvsp_disk_finish_remove(disk);
		return 0;
	}
	return -ENOTSUP;
}

STATS_DEFINE(storvsp_chan_stats, struct storvsp_chan_stats, STORVSP_CHAN_STATS)
STATS_DEFINE_STATIC(storvsp_dev_stats, struct storvsp_dev, STORVSP_DEV_STATS)

static json_t *storvsp_chan_json(const struct storvsp_chan *c)
{
	json_t *o = json_pack("{s:i,s:i,s:b,s:i}", "index", c->index, "relid",
			      c->ch ? (int)vmbus_chan_relid(c->ch) : 0, "open", c->open,
			      "in_flight", (int)c->inflight);

	return o ? storvsp_chan_stats_json(&c->st, o) : NULL;
}

/* The device: its state, the sum of every channel's counters (so
 * "requests" and "malformed" keep meaning the whole controller), then one
 * entry per channel and per disk. */
json_t *storvsp_stats(void *opaque)
{
	struct storvsp_dev *d = opaque;
	json_t *o, *chans = json_array(), *disks = json_array();
	struct storvsp_chan_stats total = { 0 };
	const struct stats_field *f;
	char version[8];
	size_t n;

	f = storvsp_chan_stats_fields(&n);
	for (unsigned int i = 0; i <= d->n_sub; i++) {
		const struct storvsp_chan *c = d->chans[i];

		if (!c)
			continue;
		stats_add(&total, &c->st, f, n);
		json_array_append_new(chans, storvsp_chan_json(c));
	}
	for (unsigned int i = 0; i <= STORVSP_MAX_LUN; i++) {
		const struct storvsp_disk *disk = d->disks[i];

		if (disk)
			json_array_append_new(disks, json_pack("{s:i,s:s,s:i,s:o}", "lun",
							       (int)disk->lun, "path", disk->image,
							       "in_flight", (int)disk->inflight,
							       "scsi", scsi_lun_stats(disk->slun)));
	}
	snprintf(version, sizeof(version), "%u.%u", d->proto.version >> 8, d->proto.version & 0xFF);
	o = json_pack("{s:i,s:s,s:s,s:s,s:i,s:i,s:i,s:i}",
		      "controller", (int)d->controller, "class", d->ide ? "ide" : "scsi",
		      "state", storvsp_state_name(d->proto.state), "version", version,
		      "subchannels", (int)d->n_sub, "max_subchannels", (int)d->proto.max_subchannels,
		      "max_transfer_bytes", (int)d->proto.max_transfer_bytes,
		      "in_flight", (int)d->inflight);
	if (!o || !storvsp_dev_stats_json(d, o) || !storvsp_chan_stats_json(&total, o)) {
		json_decref(o);
		json_decref(chans);
		json_decref(disks);
		return NULL;
	}
	json_object_set_new(o, "channels", chans);
	json_object_set_new(o, "disks", disks);
	return o;
}
