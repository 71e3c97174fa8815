/* SPDX-License-Identifier: MIT */
/*
 * `vmbusd faults`: the catalogue of host->guest fault classes, one line
 * each (name, layer, target, description), or as JSON with --json.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "host/host.h"

int cli_faults(int argc, char **argv)
{
	bool as_json = false;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			as_json = true;
		} else {
			fputs("usage: vmbusd faults [--json]\n"
			      "  the host->guest fault classes (docs/faults.md); arm them with\n"
			      "  `vmbusd ctl fault arm CLASS ...` or a scenario \"fault\" step\n",
			      strcmp(argv[i], "--help") && strcmp(argv[i], "-h") ? stderr : stdout);
			return strcmp(argv[i], "--help") && strcmp(argv[i], "-h") ? 2 : 0;
		}
	}
	if (as_json) {
		json_t *a = host_fault_catalogue_json();
		char *t = json_dumps(a, JSON_INDENT(2));

		puts(t);
		free(t);
		json_decref(a);
		return 0;
	}
	for (int c = 0; c < FAULT_CLASS_COUNT; c++) {
		const struct fault_class_info *f = &fault_classes[c];

		printf("%-31s %-8s %-9s %s\n", f->name, f->layer,
		       f->targets == FAULT_TGT_MSG ? "messages" :
		       f->targets == FAULT_TGT_CHAN ? "channel" : "both", f->desc);
	}
	return 0;
}
