/* SPDX-License-Identifier: MIT */
/*
 * The fault catalogue and the arms (see fault_class.h).  Everything runs on
 * the event-loop thread; nothing here is atomic.
 */
#include "core/fault_class.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/util.h"

#define FAULT_INFO_(e, n, l, t, d) [FAULT_##e] = { n, l, t, d },
const struct fault_class_info fault_classes[FAULT_CLASS_COUNT] = { FAULT_CLASSES(FAULT_INFO_) };
#undef FAULT_INFO_

uint64_t fault_class_mask;

struct fault_arm {
	struct fault_spec spec;
	bool armed;
	uint64_t seen;   /* candidates since this arm */
	uint32_t fired;  /* firings of this arm */
};

static struct fault_arm arms[FAULT_CLASS_COUNT];
static uint64_t fired_total[FAULT_CLASS_COUNT];
static int held_refs;

int fault_class_find(const char *name)
{
	for (int i = 0; i < FAULT_CLASS_COUNT; i++)
		if (name && strcmp(fault_classes[i].name, name) == 0)
			return i;
	return -ENOENT;
}

static void fault_mask_update(enum fault_class c)
{
	if (arms[c].armed)
		fault_class_mask |= FAULT_BIT(c);
	else
		fault_class_mask &= ~FAULT_BIT(c);
}

int fault_class_arm(const struct fault_spec *s, char *err, size_t errlen)
{
	const struct fault_class_info *info;
	unsigned int tgt;

	if ((unsigned int)s->cls >= FAULT_CLASS_COUNT) {
		snprintf(err, errlen, "unknown fault class");
		return -EINVAL;
	}
	info = &fault_classes[s->cls];
	tgt = s->device[0] ? FAULT_TGT_CHAN : FAULT_TGT_MSG;
	if (!(info->targets & tgt)) {
		snprintf(err, errlen, "%s targets %s", info->name,
			 info->targets & FAULT_TGT_CHAN ? "a channel: give a device"
							: "the message connection: give no device");
		return -EINVAL;
	}
	if (s->ms && s->cls != FAULT_TIMING_DELAY) {
		snprintf(err, errlen, "\"ms\" is for timing.delay only");
		return -EINVAL;
	}
	if (s->cls == FAULT_TIMING_DELAY && (s->ms == 0 || s->ms > 600000)) {
		snprintf(err, errlen, "timing.delay needs \"ms\" in 1..600000");
		return -EINVAL;
	}
	if (memchr(s->device, '\0', sizeof(s->device)) == NULL) {
		snprintf(err, errlen, "device name too long");
		return -EINVAL;
	}
	arms[s->cls].spec = *s;
	if (arms[s->cls].spec.every == 0)
		arms[s->cls].spec.every = 1;
	if (arms[s->cls].spec.from == 0)
		arms[s->cls].spec.from = 1;
	arms[s->cls].armed = true;
	arms[s->cls].seen = 0;
	arms[s->cls].fired = 0;
	fault_mask_update(s->cls);
	return 0;
}

int fault_class_disarm(enum fault_class c)
{
	if ((unsigned int)c >= FAULT_CLASS_COUNT || !arms[c].armed)
		return -ENOENT;
	arms[c].armed = false;
	fault_mask_update(c);
	return 0;
}

void fault_class_disarm_all(void)
{
	for (int c = 0; c < FAULT_CLASS_COUNT; c++) {
		arms[c].armed = false;
		fault_mask_update(c);
	}
}

void fault_class_reset(void)
{
	memset(arms, 0, sizeof(arms));
	memset(fired_total, 0, sizeof(fired_total));
	fault_class_mask &= FAULT_BIT(FAULT_HELD_BIT);
}

bool fault_take_slow(enum fault_class c, const char *device, uint32_t channel)
{
	struct fault_arm *a = &arms[c];
	uint64_t n;

	if (!a->armed)
		return false;
	if (!device)
		device = "";
	if (strcmp(a->spec.device, device) != 0 ||
	    (device[0] && a->spec.channel != FAULT_ANY_CHANNEL && a->spec.channel != channel))
		return false;
	n = ++a->seen;
	if (n < a->spec.from || (n - a->spec.from) % a->spec.every != 0)
		return false;
	a->fired++;
	fired_total[c]++;
	if (a->spec.count && a->fired >= a->spec.count) {
		/* Spent: off the hot paths again. */
		a->armed = false;
		fault_mask_update(c);
	}
	return true;
}

uint32_t fault_class_ms(enum fault_class c)
{
	return (unsigned int)c < FAULT_CLASS_COUNT ? arms[c].spec.ms : 0;
}

uint64_t fault_class_fired(enum fault_class c)
{
	return (unsigned int)c < FAULT_CLASS_COUNT ? fired_total[c] : 0;
}

void fault_held_ref(int delta)
{
	held_refs += delta;
	if (held_refs < 0)
		held_refs = 0;
	if (held_refs)
		fault_class_mask |= FAULT_BIT(FAULT_HELD_BIT);
	else
		fault_class_mask &= ~FAULT_BIT(FAULT_HELD_BIT);
}

json_t *fault_spec_json(const struct fault_spec *s)
{
	json_t *o = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I}", "class", fault_classes[s->cls].name,
			      "device", s->device, "count", (json_int_t)s->count, "every",
			      (json_int_t)(s->every ? s->every : 1), "from",
			      (json_int_t)(s->from ? s->from : 1), "ms", (json_int_t)s->ms);

	if (o && s->device[0] && s->channel != FAULT_ANY_CHANNEL)
		json_object_set_new(o, "channel", json_integer(s->channel));
	return o;
}

json_t *fault_class_status_json(void)
{
	json_t *armed = json_array(), *fired = json_object();

	for (int c = 0; c < FAULT_CLASS_COUNT; c++) {
		if (arms[c].armed) {
			json_t *o = fault_spec_json(&arms[c].spec);

			json_object_set_new(o, "seen", json_integer((json_int_t)arms[c].seen));
			json_object_set_new(o, "fired", json_integer(arms[c].fired));
			json_array_append_new(armed, o);
		}
		if (fired_total[c]) {
			/* Nested by prefix ("msg.oversize" -> fired.msg.oversize) so
			 * that dotted status paths (ctl wait, scenario status
			 * steps) reach it. */
			const char *name = fault_classes[c].name, *dot = strchr(name, '.');
			char group[16];
			json_t *g;

			snprintf(group, sizeof(group), "%.*s", (int)(dot - name), name);
			g = json_object_get(fired, group);
			if (!g) {
				g = json_object();
				json_object_set_new(fired, group, g);
			}
			json_object_set_new(g, dot + 1, json_integer((json_int_t)fired_total[c]));
		}
	}
	return json_pack("{s:o, s:o, s:b}", "armed", armed, "fired", fired, "holding",
			 held_refs != 0);
}
