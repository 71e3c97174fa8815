/* SPDX-License-Identifier: MIT */
/*
 * `vmbusd bench ring`: the ring path between two processes over real shared
 * memory.  A child process runs the daemon with the bench device
 * (devices/bench.c); this process is the synthetic guest (src/guest) and
 * drives it.  Every row is compared with a plain memcpy of the same bytes in
 * the same packet sizes, measured in the same run, so the ratio is
 * meaningful on any machine.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/log.h"
#include "core/util.h"
#include "guest/guest_bench.h"
#include "host/host.h"
#include "trace/trace.h"

#define BENCH_BYTES_PER_ROW (256ull << 20)

struct bench_row {
	const char *label;
	uint32_t size;
	bool h2g;
	uint32_t ring_bytes;  /* 0 = the guest's default */
};

static const struct bench_row rows[] = {
	{ "g2h", 64, false, 0 },     { "g2h", 256, false, 0 },  { "g2h", 1500, false, 0 },
	{ "g2h", 8192, false, 0 },   { "g2h", 65536, false, 0 },
	{ "h2g", 64, true, 0 },      { "h2g", 256, true, 0 },   { "h2g", 1500, true, 0 },
	{ "h2g", 8192, true, 0 },    { "h2g", 65536, true, 0 },
	/* 64 KiB packets in a ring of 3 x 64 KiB: with descriptor and trailer
	 * every packet lands 24 bytes later, so most of them wrap the end. */
	{ "g2h wrap", 65536, false, 4096 + 3 * 65536 },
	{ "h2g wrap", 65536, true, 4096 + 3 * 65536 },
};

/* The reference: memcpy of the same bytes in the same chunk size, from a
 * source buffer into a ring-sized destination, wrapping like a ring. */
static double memcpy_gbps(uint32_t size, uint64_t count)
{
	size_t ring = 256 * 1024;
	uint8_t *src = malloc(size), *dst = malloc(ring + size);
	uint64_t t0, t1;
	size_t off = 0;

	memset(src, 0x5A, size);
	memset(dst, 0, ring + size);
	t0 = now_ns();
	for (uint64_t i = 0; i < count; i++) {
		memcpy(dst + off, src, size);
		off += ALIGN_UP(size, 8u);
		if (off >= ring)
			off -= ring;
	}
	t1 = now_ns();
	/* Keep the copies observable so the compiler cannot drop them. */
	__asm__ volatile("" : : "r"(dst) : "memory");
	free(src);
	free(dst);
	return (double)size * (double)count / (double)(t1 - t0);
}

static pid_t bench_start_daemon(const char *sock, const struct trace_opts *topts)
{
	pid_t pid = fork();

	if (pid == 0) {
		struct event_base *base = event_base_new();
		json_t *root = json_pack("{s:[{s:s}]}", "devices", "type", "bench");
		struct host_config cfg;
		struct json_err err;
		struct host h;

		log_set_level(LOG_ERROR);
		if (cli_trace_start("bench", topts))
			_exit(1);
		if (host_config_from_json(root, &cfg, &err) ||
		    host_init(&h, base, &cfg, sock, NULL, &err)) {
			fprintf(stderr, "bench: daemon: %s\n", err.msg);
			_exit(1);
		}
		event_base_dispatch(base);
		host_fini(&h);
		if (topts->path) {
			struct trace_writer_stats st;

			trace_writer_stop(&st);
			fprintf(stderr, "bench: trace %s: %llu records, %llu bytes, %llu lost\n",
				topts->path, (unsigned long long)st.records,
				(unsigned long long)st.bytes, (unsigned long long)st.errors);
		}
		_exit(0);
	}
	return pid;
}

int cli_bench(int argc, char **argv)
{
	char dir[] = "/tmp/vmbusd-bench.XXXXXX", sock[128];
	double scale = 1.0;
	pid_t daemon_pid;
	int failed = 0;

	struct trace_opts topts = { 0 };
	int arg = 2;

	if (argc < 2 || strcmp(argv[1], "ring") != 0) {
		fputs("usage: vmbusd bench ring [--trace FILE [--trace-snap N]] [SCALE]\n"
		      "  SCALE multiplies the bytes per row (default 1); --trace captures the\n"
		      "  daemon's side as `vmbusd serve --trace` would, to measure its cost\n",
		      argc >= 2 && !strcmp(argv[1], "--help") ? stdout : stderr);
		return argc >= 2 && !strcmp(argv[1], "--help") ? 0 : 2;
	}
	for (; arg + 1 < argc && !strncmp(argv[arg], "--trace", 7); arg += 2) {
		int opt = !strcmp(argv[arg], "--trace") ? CLI_OPT_TRACE :
			  !strcmp(argv[arg], "--trace-snap") ? CLI_OPT_TRACE_SNAP :
			  !strcmp(argv[arg], "--trace-max-mb") ? CLI_OPT_TRACE_MAX_MB : 0;

		if (cli_trace_option("bench", opt, argv[arg + 1], &topts))
			return 2;
	}
	if (arg < argc)
		scale = strtod(argv[arg], NULL);
	if (scale <= 0 || scale > 100) {
		fputs("vmbusd bench: SCALE must be in (0, 100]\n", stderr);
		return 2;
	}
	if (!mkdtemp(dir)) {
		perror("vmbusd bench: mkdtemp");
		return 1;
	}
	snprintf(sock, sizeof(sock), "%s/bench.sock", dir);
	signal(SIGPIPE, SIG_IGN);
	daemon_pid = bench_start_daemon(sock, &topts);
	for (int i = 0; i < 200 && access(sock, F_OK) != 0; i++)
		usleep(10000);

	printf("ring benchmark: daemon (pid %d) and synthetic guest in separate processes,\n"
	       "guest RAM in a shared memfd; \"vs memcpy\" = ring GB/s / memcpy GB/s of the same\n"
	       "packet sizes measured in this run; sig/pkt = guest->host signals (g2h) or\n"
	       "host->guest interrupts (h2g) per packet.%s%s\n\n", (int)daemon_pid,
	       topts.path ? "\nThe daemon captures every event into " : "",
	       topts.path ? topts.path : "");
	printf("%-9s %6s %9s %8s %9s %8s %9s %9s\n", "direction", "size", "packets", "GB/s",
	       "Mpkt/s", "sig/pkt", "memcpy", "vs memcpy");
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		const struct bench_row *r = &rows[i];
		uint64_t count = (uint64_t)(scale * (double)BENCH_BYTES_PER_ROW / r->size);
		struct guest_bench_params p = {
			.opts = { .socket = sock, .n_vcpus = 2, .quiet = true, .timeout_ms = 60000 },
			.size = r->size, .count = MAX(count, 1000u), .h2g = r->h2g,
			.ring_bytes = r->ring_bytes,
		};
		struct guest_bench_result res = { 0 };
		double gbps, ref, sig;
		int rc;

		if (!r->ring_bytes && r->size > 8192)
			p.ring_bytes = 1024 * 1024; /* room for several 64 KiB packets */
		rc = guest_bench_run(&p, &res);
		/* The host's own count must agree with the guest's. */
		if (!rc && (r->h2g ? res.report.tx_packets : res.report.rx_packets) != p.count)
			rc = -EPROTO;
		if (rc || res.packets != p.count || res.elapsed_ns == 0) {
			printf("%-9s %6u  FAILED (%s, %llu of %llu packets)\n", r->label, r->size,
			       rc ? strerror(-rc) : "short", (unsigned long long)res.packets,
			       (unsigned long long)p.count);
			failed++;
			continue;
		}
		gbps = (double)res.bytes / (double)res.elapsed_ns;
		ref = memcpy_gbps(r->size, p.count);
		sig = (double)(r->h2g ? res.report.tx_signals : res.report.rx_signals) /
		      (double)res.packets;
		printf("%-9s %6u %9llu %8.3f %9.3f %8.4f %9.2f %9.3f\n", r->label, r->size,
		       (unsigned long long)res.packets, gbps,
		       (double)res.packets / ((double)res.elapsed_ns / 1e3), sig, ref, gbps / ref);
		fflush(stdout);
	}
	kill(daemon_pid, SIGTERM);
	waitpid(daemon_pid, NULL, 0);
	unlink(sock);
	rmdir(dir);
	return failed ? 1 : 0;
}
