/* SPDX-License-Identifier: MIT */
/* Synthetic guest lifecycle, the wait loop and JSON event output. */
#include "guest/guest.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"

volatile int guest_interrupted;

void guest_emit(struct guest *g, json_t *ev)
{
	const char *name;

	if (!ev)
		return;
	name = json_string_value(json_object_get(ev, "event"));
	if (!g->opts.quiet) {
		char *line = json_dumps(ev, JSON_COMPACT);

		if (line) {
			/* One write per line: the integration tests read
			 * stdout line by line while the tool still runs. */
			fprintf(stdout, "%s\n", line);
			fflush(stdout);
			free(line);
		}
	}
	if (g->on_event)
		g->on_event(g, name ? name : "", ev, g->on_event_opaque);
	json_decref(ev);
}

void guest_error(struct guest *g, const char *what, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	g->n_errors++;
	log_warn("%s: %s", what, msg);
	guest_emit(g, json_pack("{s:s, s:s, s:s}", "event", "error", "what", what, "message", msg));
}

const char *guest_version_str(uint32_t version, char buf[16])
{
	snprintf(buf, 16, "%u.%u", version >> 16, version & 0xFFFFu);
	return buf;
}

char *guest_hex(const void *data, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	const uint8_t *p = data;
	char *s;

	len = MIN(len, (size_t)4096);
	s = malloc(len * 2 + 1);
	if (!s)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		s[2 * i] = digits[p[i] >> 4];
		s[2 * i + 1] = digits[p[i] & 15];
	}
	s[len * 2] = 0;
	return s;
}

static int guest_boot_cpus(struct guest *g)
{
	int ret;

	/* hyperv_init at boot: every CPU's hv_cpu_init, the guest id and the
	 * hypercall page (on the BSP, inside guest_cpu_boot(0)). */
	for (uint32_t i = 0; i < g->att.n_vcpus; i++) {
		ret = guest_cpu_boot(g, i);
		if (ret)
			return ret;
	}
	/* modprobe hv_vmbus: hv_synic_enable_regs on every online CPU. */
	for (uint32_t i = 0; i < g->att.n_vcpus; i++) {
		ret = guest_cpu_synic_init(g, i);
		if (ret)
			return ret;
	}
	return 0;
}

int guest_open(struct guest *g, const struct guest_opts *opts)
{
	int ret;

	memset(g, 0, sizeof(*g));
	g->opts = *opts;
	if (!g->opts.n_vcpus)
		g->opts.n_vcpus = 2;
	if (!g->opts.mem_bytes)
		g->opts.mem_bytes = 64ull << 20;
	if (g->opts.timeout_ms <= 0)
		g->opts.timeout_ms = 10000;
	g->next_gpadl = g->opts.first_gpadl ? g->opts.first_gpadl : GUEST_FIRST_GPADL;

	ret = guest_attach_open(&g->att, g->opts.socket, g->opts.n_vcpus, g->opts.ram_gpa,
				g->opts.mem_bytes, g->opts.timeout_ms);
	if (ret) {
		guest_error(g, "attach", "cannot attach to %s: %s", g->opts.socket, strerror(-ret));
		return ret;
	}
	ret = guest_mem_init(&g->mem, &g->att);
	if (ret)
		goto fail;
	ret = guest_cpu_check_cpuid(g);
	if (ret)
		goto fail;
	ret = guest_boot_cpus(g);
	if (ret)
		goto fail;
	return 0;

fail:
	guest_mem_fini(&g->mem);
	guest_attach_close(&g->att);
	return ret;
}

void guest_close(struct guest *g, bool detach)
{
	for (uint32_t relid = 1; relid <= VMBUS_MAX_RELID; relid++) {
		struct guest_channel *ch = g->chan[relid];

		if (ch && ch->open && !g->att.dead)
			guest_channel_close(g, ch);
	}
	if (g->connected && !g->unloaded && !g->att.dead)
		guest_vmbus_unload(g);
	if (detach && !g->att.dead) {
		int ret = guest_attach_detach(&g->att);

		if (ret < 0)
			guest_error(g, "detach", "DETACH failed: %s", strerror(-ret));
		else
			guest_emit(g, json_pack("{s:s}", "event", "detached"));
	}
	guest_vmbus_forget(g);
	guest_mem_fini(&g->mem);
	guest_attach_close(&g->att);
}

int guest_reboot(struct guest *g)
{
	int ret;

	ret = guest_attach_reset(&g->att);
	if (ret) {
		guest_error(g, "reset", "RESET failed: %s", strerror(ret < 0 ? -ret : EPROTO));
		return ret < 0 ? ret : -EPROTO;
	}
	guest_vmbus_forget(g);
	guest_mem_reset(&g->mem);
	memset(g->cpu, 0, sizeof(g->cpu));
	g->msgq_head = g->msgq_count = 0;
	g->hypercall_gpa = 0;
	return guest_boot_cpus(g);
}

int guest_wait(struct guest *g, bool (*done)(struct guest *g, void *arg), void *arg, int timeout_ms)
{
	uint64_t deadline = now_ns() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms) * 1000000ull;

	for (;;) {
		uint64_t now;
		int ret;

		guest_vmbus_process(g);
		if (done && done(g, arg))
			return 0;
		if (g->att.dead)
			return -ECONNRESET;
		if (g->stop || guest_interrupted)
			return -EINTR;
		now = now_ns();
		if (now >= deadline)
			return -ETIMEDOUT;
		ret = guest_cpu_poll(g, (int)MIN((deadline - now + 999999) / 1000000, (uint64_t)1000));
		if (ret < 0 && ret != -EINTR)
			return ret;
	}
}
