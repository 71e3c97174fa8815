/* SPDX-License-Identifier: MIT */
/*
 * `vmbusd bench ring`: the ring path between two processes over real shared
 * memory.  A child process runs the daemon with the bench device
 * (devices/bench.c); this process is the synthetic guest (src/guest) and
 * drives it.  The reference is the barest two-process ring moving the same
 * packets (bench_bare.c), measured in the same run, row by row and round by
 * round interleaved with vmbusd's, so machine noise hits both alike; each
 * figure is the median of the rounds.  The ratio is vmbusd / bare.
 * `--json FILE` writes the rows for tools (`vmbusd bench compare`).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/bench_internal.h"
#include "cli/cli.h"
#include "core/log.h"
#include "core/util.h"
#include "guest/guest_bench.h"
#include "host/host.h"
#include "trace/trace.h"

#define BENCH_BYTES_PER_ROW (256ull << 20)
#define BENCH_MAX_ROUNDS 15
/* Guest->host packets per send burst (guest_ring.h): a driver with a
 * queue of packets, as DPDK's netvsc PMD's tx burst of 32. */
#define BENCH_BURST 32

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

/* One round of a row: vmbusd's figures and the bare ring's. */
struct bench_sample {
	double gbps, mpps, sig, sig_g2h, sig_h2g;
	double bare_gbps, bare_mpps;
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* poll_us < 0: the bench device's default. */
static pid_t bench_start_daemon(const char *sock, const struct trace_opts *topts, long poll_us)
{
	pid_t pid = fork();

	if (pid == 0) {
		struct event_base *base = event_base_new();
		json_t *root = poll_us < 0 ? json_pack("{s:[{s:s}]}", "devices", "type", "bench")
					   : json_pack("{s:[{s:s,s:I}]}", "devices", "type", "bench",
						       "poll_us", (json_int_t)poll_us);
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

/* One round of row r: vmbusd, then the bare ring (0 or -errno). */
static int bench_round(const char *sock, const struct bench_row *r, uint64_t count,
		       uint32_t burst, struct bench_sample *out)
{
	struct guest_bench_params p = {
		.opts = { .socket = sock, .n_vcpus = 2, .quiet = true, .timeout_ms = 60000 },
		.size = r->size, .count = count, .h2g = r->h2g, .ring_bytes = r->ring_bytes,
		.burst = burst,
	};
	struct guest_bench_result res = { 0 };
	uint64_t bare_ns = 0;
	int rc;

	if (!r->ring_bytes)
		p.ring_bytes = r->size > 8192 ? 1024 * 1024 : 256 * 1024; /* several 64 KiB packets */
	rc = guest_bench_run(&p, &res);
	/* The host's own count must agree with the guest's. */
	if (!rc && (r->h2g ? res.report.tx_packets : res.report.rx_packets) != p.count)
		rc = -EPROTO;
	if (!rc && (res.packets != p.count || res.elapsed_ns == 0))
		rc = -EIO;
	if (rc)
		return rc;
	/* The bare ring gets vmbusd's data area: same packets, same room. */
	rc = bench_bare_run(r->size, count, p.ring_bytes - 4096, &bare_ns);
	if (rc)
		return rc;
	out->gbps = (double)res.bytes / (double)res.elapsed_ns;
	out->mpps = (double)res.packets / ((double)res.elapsed_ns / 1e3);
	/* Every signal of the run, either way, each counted by the side that
	 * raised it: the guest's HvSignalEvent calls (the host's count of
	 * wake-ups can merge several) and the host's interrupts.  Flow
	 * control (a blocked writer's pending_send_sz wake-up) included. */
	out->sig_g2h = (double)res.guest_signals / (double)res.packets;
	out->sig_h2g = (double)res.report.tx_signals / (double)res.packets;
	out->sig = out->sig_g2h + out->sig_h2g;
	out->bare_gbps = (double)r->size * (double)count / (double)bare_ns;
	out->bare_mpps = (double)count / ((double)bare_ns / 1e3);
	return 0;
}

static void bench_usage(FILE *f)
{
	fputs("usage: vmbusd bench ring [SCALE] [--rounds N] [--json FILE] [--poll-us US] [--burst N]\n"
	      "                         [--only TEXT] [--trace FILE [--trace-snap N]]\n"
	      "         SCALE multiplies the bytes per row (default 1); N rounds per row,\n"
	      "         interleaved with the bare reference, medians reported (default 3);\n"
	      "         --poll-us: the bench device's polling window (default 50; 0 = sleep\n"
	      "         on every empty ring);\n"
	      "         --burst: guest->host packets per send burst, write index stored\n"
	      "         once per 8 KiB of them (default 32; 1 = every packet, as Linux);\n"
	      "         --only TEXT: the rows whose \"direction size\" contains TEXT\n"
	      "         (\"g2h 64\", \"wrap\");\n"
	      "         --trace: the daemon captures as `serve --trace` does (its cost)\n"
	      "       vmbusd bench compare OLD.json NEW.json\n", f);
}

/* A whole decimal number in [min, max], or a message and -1. */
static int bench_opt_range(const char *name, const char *arg, long min, long max, long *out)
{
	char *end;

	*out = strtol(arg, &end, 10);
	if (*arg == '\0' || *end || *out < min || *out > max) {
		fprintf(stderr, "vmbusd bench: %s must be %ld..%ld\n", name, min, max);
		return -1;
	}
	return 0;
}

int cli_bench(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "rounds", required_argument, NULL, 'r' },
		{ "json", required_argument, NULL, 'j' },
		{ "poll-us", required_argument, NULL, 'p' },
		{ "burst", required_argument, NULL, 'b' },
		{ "only", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		CLI_TRACE_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	struct trace_opts topts = { 0 };
	char dir[] = "/tmp/vmbusd-bench.XXXXXX", sock[128];
	const char *json_path = NULL, *only = NULL;
	double scale = 1.0;
	unsigned rounds = 3;
	long poll_us = -1, burst = BENCH_BURST;
	json_t *out_rows;
	pid_t daemon_pid;
	int failed = 0, c;

	if (argc >= 2 && !strcmp(argv[1], "compare")) {
		if (argc != 4) {
			bench_usage(stderr);
			return 2;
		}
		return bench_compare(argv[2], argv[3]);
	}
	if (argc < 2 || strcmp(argv[1], "ring") != 0) {
		bench_usage(argc >= 2 && !strcmp(argv[1], "--help") ? stdout : stderr);
		return argc >= 2 && !strcmp(argv[1], "--help") ? 0 : 2;
	}
	optind = 2;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'r': rounds = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'j': json_path = optarg; break;
		case 'p':
			if (bench_opt_range("--poll-us", optarg, 0, 10000, &poll_us))
				return 2;
			break;
		case 'b':
			if (bench_opt_range("--burst", optarg, 1, 4096, &burst))
				return 2;
			break;
		case 'o': only = optarg; break;
		case 'h': bench_usage(stdout); return 0;
		case CLI_OPT_TRACE: case CLI_OPT_TRACE_MAX_MB: case CLI_OPT_TRACE_SNAP:
			if (cli_trace_option("bench", c, optarg, &topts))
				return 2;
			break;
		default: bench_usage(stderr); return 2;
		}
	}
	if (optind < argc)
		scale = strtod(argv[optind], NULL);
	if (scale <= 0 || scale > 100 || rounds < 1 || rounds > BENCH_MAX_ROUNDS) {
		fputs("vmbusd bench: SCALE must be in (0, 100], --rounds in 1..15\n", stderr);
		return 2;
	}
	if (!mkdtemp(dir)) {
		perror("vmbusd bench: mkdtemp");
		return 1;
	}
	snprintf(sock, sizeof(sock), "%s/bench.sock", dir);
	signal(SIGPIPE, SIG_IGN);
	daemon_pid = bench_start_daemon(sock, &topts, poll_us);
	for (int i = 0; i < 200 && access(sock, F_OK) != 0; i++)
		usleep(10000);

	printf("ring benchmark: daemon (pid %d) and synthetic guest in separate processes, guest\n"
	       "RAM in a shared memfd.  \"bare\" = the barest two-process ring moving the same\n"
	       "packets (shared memfd, copy in, copy out, busy polling, no checks, no signals),\n"
	       "measured in the same run, interleaved round by round; medians of %u rounds;\n"
	       "ratio = vmbusd / bare.  sig/pkt = every signal of the run per packet, both\n"
	       "ways, counted where raised: the guest's HvSignalEvent calls (new data, or a\n"
	       "blocked host writer's pending_send_sz) plus the host's interrupts.%s%s\n\n",
	       (int)daemon_pid, rounds,
	       topts.path ? "\nThe daemon captures every event into " : "",
	       topts.path ? topts.path : "");
	printf("%-9s %6s %9s %8s %9s %8s %9s %9s %7s\n", "direction", "size", "packets", "GB/s",
	       "Mpkt/s", "sig/pkt", "bare GB/s", "bare Mp/s", "ratio");
	out_rows = json_array();
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		const struct bench_row *r = &rows[i];
		uint64_t count = MAX((uint64_t)(scale * (double)BENCH_BYTES_PER_ROW / r->size), 1000u);
		double gbps[BENCH_MAX_ROUNDS], mpps[BENCH_MAX_ROUNDS], sig[BENCH_MAX_ROUNDS];
		double sig_g2h[BENCH_MAX_ROUNDS], sig_h2g[BENCH_MAX_ROUNDS];
		double bgbps[BENCH_MAX_ROUNDS], bmpps[BENCH_MAX_ROUNDS];
		double g, m, sg, sgg, sgh, bg, bm;
		char name[32];
		int rc = 0;

		snprintf(name, sizeof(name), "%s %u", r->label, r->size);
		if (only && !strstr(name, only))
			continue;

		for (unsigned k = 0; k < rounds && !rc; k++) {
			struct bench_sample smp = { 0 };

			rc = bench_round(sock, r, count, (uint32_t)burst, &smp);
			gbps[k] = smp.gbps;
			mpps[k] = smp.mpps;
			sig[k] = smp.sig;
			sig_g2h[k] = smp.sig_g2h;
			sig_h2g[k] = smp.sig_h2g;
			bgbps[k] = smp.bare_gbps;
			bmpps[k] = smp.bare_mpps;
		}
		if (rc) {
			printf("%-9s %6u  FAILED (%s)\n", r->label, r->size, strerror(-rc));
			failed++;
			continue;
		}
		g = median(gbps, rounds);
		m = median(mpps, rounds);
		sg = median(sig, rounds);
		sgg = median(sig_g2h, rounds);
		sgh = median(sig_h2g, rounds);
		bg = median(bgbps, rounds);
		bm = median(bmpps, rounds);
		printf("%-9s %6u %9llu %8.3f %9.3f %8.5f %9.3f %9.3f %7.3f\n", r->label, r->size,
		       (unsigned long long)count, g, m, sg, bg, bm, g / bg);
		fflush(stdout);
		json_array_append_new(out_rows,
			json_pack("{s:s,s:i,s:I,s:i,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f}", "direction",
				  r->label, "size", (int)r->size, "packets", (json_int_t)count,
				  "rounds", (int)rounds, "gbps", g, "mpps", m,
				  "signals_per_packet", sg, "guest_signals_per_packet", sgg,
				  "host_interrupts_per_packet", sgh, "bare_gbps", bg, "bare_mpps", bm,
				  "ratio", g / bg));
	}
	kill(daemon_pid, SIGTERM);
	waitpid(daemon_pid, NULL, 0);
	unlink(sock);
	rmdir(dir);
	if (json_path) {
		json_t *doc = json_pack("{s:s,s:f,s:o}", "bench", "ring", "scale", scale, "rows",
					out_rows);

		if (json_dump_file(doc, json_path, JSON_INDENT(1)) < 0) {
			fprintf(stderr, "vmbusd bench: cannot write %s\n", json_path);
			failed++;
		}
		json_decref(doc);
	} else {
		json_decref(out_rows);
	}
	return failed ? 1 : 0;
}
