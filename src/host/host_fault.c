/* SPDX-License-Identifier: MIT */
/*
 * Arming host->guest fault classes by name on a running host: the one
 * parser of an arm request that the control socket (`vmbusd ctl fault`)
 * and the scenario `fault` step share (docs/faults.md).
 *
 *   {"class": "storvsc.srb_error", "device": "disk0", "channel": 0,
 *    "count": 1, "every": 1, "from": 1, "ms": 0}
 *
 * "device" names a configured device, "channel" one of its channels (0 =
 * the primary, N = subchannel N; without it: every channel of the
 * device); without "device" the target is the message connection.  "count"
 * defaults to 1 (once), 0 = until disarmed.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "host/host.h"

static int fault_u64(const json_t *o, const char *key, uint64_t max, uint64_t def, uint64_t *out,
		     char *err, size_t errlen)
{
	const json_t *v = json_object_get(o, key);

	if (!v) {
		*out = def;
		return 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    (uint64_t)json_integer_value(v) > max) {
		snprintf(err, errlen, "\"%s\" must be an integer in 0..%llu", key,
			 (unsigned long long)max);
		return -EINVAL;
	}
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

int host_fault_parse(struct host *d, const json_t *o, struct fault_spec *s, char *err,
		     size_t errlen)
{
	const char *cls = json_string_value(json_object_get(o, "class"));
	const json_t *dev = json_object_get(o, "device");
	uint64_t v;
	int c;

	memset(s, 0, sizeof(*s));
	if (!cls) {
		snprintf(err, errlen, "\"class\" is required (vmbusd faults lists them)");
		return -EINVAL;
	}
	c = fault_class_find(cls);
	if (c < 0) {
		snprintf(err, errlen, "no fault class \"%s\" (vmbusd faults lists them)", cls);
		return -ENOENT;
	}
	s->cls = (enum fault_class)c;
	if (dev && !json_is_null(dev)) {
		const char *name = json_string_value(dev);

		if (!name || strlen(name) >= sizeof(s->device)) {
			snprintf(err, errlen, "\"device\" must be a device name");
			return -EINVAL;
		}
		if (d && !host_find_device(d, name)) {
			snprintf(err, errlen, "%s: no such device \"%s\"", cls, name);
			return -ENODEV;
		}
		strcpy(s->device, name);
	}
	if (fault_u64(o, "channel", 0xFFFF, FAULT_ANY_CHANNEL, &v, err, errlen))
		return -EINVAL;
	s->channel = (uint32_t)v;
	if (json_object_get(o, "channel") && !s->device[0]) {
		snprintf(err, errlen, "\"channel\" needs \"device\"");
		return -EINVAL;
	}
	if (fault_u64(o, "count", UINT32_MAX, 1, &v, err, errlen))
		return -EINVAL;
	s->count = (uint32_t)v;
	if (fault_u64(o, "every", UINT32_MAX, 1, &v, err, errlen))
		return -EINVAL;
	s->every = (uint32_t)v;
	if (fault_u64(o, "from", UINT64_MAX >> 1, 1, &v, err, errlen))
		return -EINVAL;
	s->from = v;
	if (fault_u64(o, "ms", 600000, 0, &v, err, errlen))
		return -EINVAL;
	s->ms = (uint32_t)v;
	return 0;
}

int host_fault_arm(struct host *d, const json_t *o, char *err, size_t errlen)
{
	struct fault_spec s;
	int rc = host_fault_parse(d, o, &s, err, errlen);

	if (rc)
		return rc;
	rc = fault_class_arm(&s, err, errlen);
	if (rc == 0)
		log_info("fault: %s armed%s%s", fault_classes[s.cls].name, s.device[0] ? " on " : "",
			 s.device);
	return rc;
}

int host_fault_disarm(const char *cls, char *err, size_t errlen)
{
	int c;

	if (!cls || strcmp(cls, "all") == 0) {
		fault_class_disarm_all();
		return 0;
	}
	c = fault_class_find(cls);
	if (c < 0) {
		snprintf(err, errlen, "no fault class \"%s\"", cls);
		return -ENOENT;
	}
	fault_class_disarm((enum fault_class)c);
	return 0;
}

json_t *host_fault_catalogue_json(void)
{
	json_t *a = json_array();

	for (int c = 0; c < FAULT_CLASS_COUNT; c++)
		json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:s}", "class",
						   fault_classes[c].name, "layer",
						   fault_classes[c].layer, "target",
						   fault_classes[c].targets == FAULT_TGT_MSG ? "messages"
						   : fault_classes[c].targets == FAULT_TGT_CHAN ? "channel"
						   : "messages|channel",
						   "description", fault_classes[c].desc));
	return a;
}
