/* SPDX-License-Identifier: MIT */
/*
 * The host's data items for KVP's auto-external pool (3).  Hyper-V writes a
 * fixed set of "intrinsic" items about itself into every guest's pool 3 once
 * the guest's KVP daemon is ready (hv_kvp_daemon keeps them in
 * /var/lib/hyperv/.kvp_pool_3); guest agents read the host's name, the VM's
 * name and id from there.  vmbusd does the same with values taken from the
 * machine it runs on, which the configuration may override or remove:
 *
 *   "host_data": false                      no items
 *   "host_data": {"VirtualMachineName": "web1", "HostingSystemEditionId": null}
 *                                           the defaults, one changed, one removed,
 *                                           and any other key added as given
 *
 * No default needs the network: the names come from gethostname(), never DNS.
 * Windows-only facts have neutral defaults (HostingSystemEditionId "0": a
 * Linux host has no Windows SKU).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "core/guid.h"
#include "devices/ic/ic_internal.h"

/* PROCESSOR_ARCHITECTURE_* as Windows numbers them (what Hyper-V reports). */
static const char *kvp_host_arch(const char *machine)
{
	if (!strcmp(machine, "x86_64"))
		return "9";       /* AMD64 */
	if (!strcmp(machine, "aarch64"))
		return "12";      /* ARM64 */
	if (machine[0] == 'i' && strstr(machine, "86"))
		return "0";       /* INTEL */
	return "65535";           /* UNKNOWN */
}

/* 1 when this host is itself a virtual machine (the CPUID hypervisor bit
 * Linux shows as the "hypervisor" flag), as Hyper-V's nesting level. */
static const char *kvp_host_nested_level(void)
{
	char line[4096];
	FILE *f = fopen("/proc/cpuinfo", "r");
	bool nested = false;

	if (!f)
		return "0";
	while (!nested && fgets(line, sizeof(line), f))
		nested = !strncmp(line, "flags", 5) && strstr(line, " hypervisor");
	fclose(f);
	return nested ? "1" : "0";
}

static void kvp_host_defaults(json_t *o)
{
	char host[256] = "localhost", major[16] = "0", minor[16] = "0", id[GUID_STR_LEN];
	struct utsname u;
	struct guid g;
	char *dot;

	if (gethostname(host, sizeof(host) - 1) < 0 || !host[0])
		strcpy(host, "localhost");
	host[sizeof(host) - 1] = '\0';
	json_object_set_new(o, "HostName", json_string(host));
	json_object_set_new(o, "PhysicalHostNameFullyQualified", json_string(host));
	if ((dot = strchr(host, '.')) != NULL)
		*dot = '\0';
	json_object_set_new(o, "PhysicalHostName", json_string(host));
	json_object_set_new(o, "VirtualMachineName", json_string("vmbusd"));
	/* Hyper-V's VM id: the VM's GUID, upper case.  One per daemon run. */
	guid_generate(&g);
	guid_format(&g, id);
	for (char *p = id; *p; p++)
		*p = (char)(*p >= 'a' && *p <= 'f' ? *p - 'a' + 'A' : *p);
	json_object_set_new(o, "VirtualMachineId", json_string(id));
	json_object_set_new(o, "VirtualMachineDynamicMemoryBalancingEnabled", json_string("0"));
	json_object_set_new(o, "HostingSystemEditionId", json_string("0"));
	json_object_set_new(o, "HostingSystemNestedLevel", json_string(kvp_host_nested_level()));
	if (uname(&u) == 0) {
		sscanf(u.release, "%15[0-9].%15[0-9]", major, minor);
		json_object_set_new(o, "HostingSystemProcessorArchitecture",
				    json_string(kvp_host_arch(u.machine)));
	}
	json_object_set_new(o, "HostingSystemOsMajor", json_string(major));
	json_object_set_new(o, "HostingSystemOsMinor", json_string(minor));
	json_object_set_new(o, "HostingSystemSpMajor", json_string("0"));
	json_object_set_new(o, "HostingSystemSpMinor", json_string("0"));
	json_object_set_new(o, "HostingSystemProcessorIdleStateMax", json_string("0"));
	json_object_set_new(o, "HostingSystemProcessorThrottleMax", json_string("100"));
	json_object_set_new(o, "HostingSystemProcessorThrottleMin", json_string("100"));
}

int kvp_host_data(const json_t *config, const char *path, json_t **out, struct json_err *err)
{
	const json_t *cfg = json_object_get(config, "host_data");
	char sub[256];
	const char *key;
	json_t *o, *v;

	*out = NULL;
	if (json_is_false(cfg))
		return 0;
	if (cfg && !json_is_object(cfg) && !json_is_true(cfg))
		return json_fail(err, path, "host_data", "must be false or an object of strings");
	o = json_object();
	if (!o)
		return json_fail(err, path, "host_data", "out of memory");
	kvp_host_defaults(o);
	snprintf(sub, sizeof(sub), "%s%shost_data", path ? path : "", path && *path ? "." : "");
	json_object_foreach((json_t *)(json_is_object(cfg) ? cfg : NULL), key, v) {
		int rc = kvp_check_pair(sub, key, v, true, err);

		if (rc) {
			json_decref(o);
			return rc;
		}
		if (json_is_null(v))
			json_object_del(o, key);
		else
			json_object_set(o, key, v);
	}
	*out = o;
	return 0;
}
