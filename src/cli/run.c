/* SPDX-License-Identifier: MIT */
/*
 * `vmbusd run SCENARIO.json|DIR...`: for each scenario, the host in-process,
 * a real Linux guest in the patched QEMU, the scenario's steps in order;
 * then a summary table and, on request, JUnit and TAP reports.  The QEMU binary, the guest
 * image and the SSDT come from options, from the environment
 * (VMBUSD_QEMU, VMBUSD_GUEST_DIR, VMBUSD_SSDT), or else from the project's
 * own build scripts (which build them on first use).
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/log.h"
#include "scenario/scenario.h"
#include "trace/trace.h"

/* Runs a shell command and returns its last output line (malloc'd) or NULL. */
static char *run_capture(const char *cmd)
{
	char line[4096], *last = NULL;
	FILE *p;

	fprintf(stderr, "vmbusd run: %s\n", cmd);
	p = popen(cmd, "r");
	if (!p)
		return NULL;
	while (fgets(line, sizeof(line), p)) {
		line[strcspn(line, "\n")] = '\0';
		if (line[0]) {
			free(last);
			last = strdup(line);
		}
	}
	if (pclose(p) != 0) {
		free(last);
		return NULL;
	}
	return last;
}

/* An explicit option, else the environment, else the project's script
 * (relative to the source tree) run with `args`. */
static char *resolve(const char *given, const char *env, const char *script, const char *args)
{
	char cmd[1024];
	const char *e = getenv(env);

	if (given)
		return strdup(given);
	if (e && *e)
		return strdup(e);
	snprintf(cmd, sizeof(cmd), "%s/%s %s", VMBUSD_SRCDIR, script, args);
	return run_capture(cmd);
}

/* vmbus-guest for synthetic-guest scenarios: --guest-tool, $VMBUS_GUEST,
 * the one beside this vmbusd (the build directory, or the install's bin/),
 * else the PATH's. */
static char *resolve_guest_tool(const char *given)
{
	const char *e = getenv("VMBUS_GUEST");
	char self[1024], *slash;
	ssize_t n;

	if (given)
		return strdup(given);
	if (e && *e)
		return strdup(e);
	n = readlink("/proc/self/exe", self, sizeof(self) - 32);
	if (n > 0) {
		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash) {
			strcpy(slash + 1, "vmbus-guest");
			if (access(self, X_OK) == 0)
				return strdup(self);
		}
	}
	return strdup("vmbus-guest");
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The scenario files named on the command line: files as given, each
 * directory's *.json in name order.  NULL with a message on an error. */
static char **collect_files(char **args, int n_args, size_t *n_out)
{
	char **files = NULL;
	size_t n = 0, cap = 0;

	for (int i = 0; i < n_args; i++) {
		struct stat st;
		char **found = NULL;
		size_t n_found = 0;

		if (stat(args[i], &st) < 0) {
			fprintf(stderr, "vmbusd run: %s: %s\n", args[i], strerror(errno));
			goto fail;
		}
		if (S_ISDIR(st.st_mode)) {
			DIR *d = opendir(args[i]);
			struct dirent *e;

			while (d && (e = readdir(d)) != NULL) {
				size_t len = strlen(e->d_name);
				char **grown;

				if (len < 6 || strcmp(e->d_name + len - 5, ".json") || e->d_name[0] == '.')
					continue;
				grown = realloc(found, (n_found + 1) * sizeof(*found));
				if (!grown || asprintf(&grown[n_found], "%.*s/%s",
						       (int)strcspn(args[i], "") -
							       (args[i][strlen(args[i]) - 1] == '/'),
						       args[i], e->d_name) < 0) {
					found = grown ? grown : found;
					if (d)
						closedir(d);
					goto fail_found;
				}
				found = grown;
				n_found++;
			}
			if (d)
				closedir(d);
			qsort(found, n_found, sizeof(*found), cmp_str);
		} else {
			found = malloc(sizeof(*found));
			if (!found || !(found[0] = strdup(args[i])))
				goto fail_found;
			n_found = 1;
		}
		if (n + n_found > cap) {
			char **grown = realloc(files, (n + n_found + 8) * sizeof(*files));

			if (!grown)
				goto fail_found;
			files = grown;
			cap = n + n_found + 8;
		}
		memcpy(files + n, found, n_found * sizeof(*found));
		n += n_found;
		free(found);
		continue;
fail_found:
		while (n_found)
			free(found[--n_found]);
		free(found);
		fprintf(stderr, "vmbusd run: out of memory\n");
		goto fail;
	}
	*n_out = n;
	return files ? files : calloc(1, sizeof(*files));
fail:
	while (n)
		free(files[--n]);
	free(files);
	return NULL;
}

/* "K/N": 1 <= K <= N. */
static int parse_shard(const char *s, unsigned *k, unsigned *n)
{
	char extra;

	return sscanf(s, "%u/%u%c", k, n, &extra) == 2 && *n >= 1 && *k >= 1 && *k <= *n ? 0
												  : -EINVAL;
}

/* A scenario's "replay": trace/ builds the devices (scenario/ cannot
 * include trace/); warnings go to stderr, the reason of a refusal to err. */
static json_t *run_replay_config(const char *file, unsigned session, const char *edit, char *err,
				 size_t errlen)
{
	char *msg = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&msg, &len);
	json_t *cfg = trace_replay_config(file, session, edit, m ? m : stderr);

	if (m)
		fclose(m);
	if (!cfg)
		snprintf(err, errlen, "replay: %.*s", (int)strcspn(msg ? msg : "", "\n"),
			 msg && *msg ? msg : "cannot load the capture");
	else if (msg && *msg)
		fputs(msg, stderr);
	free(msg);
	return cfg;
}

static void run_usage(FILE *f)
{
	fputs("usage: vmbusd run SCENARIO.json|DIR... [--check] [--keep-going] [--junit FILE] [--tap FILE]\n"
	      "                  [--shard K/N] [--qemu PATH] [--guest-dir DIR] [--ssdt FILE]\n"
	      "                  [--workdir DIR] [--guest-tool PATH] [--echo-console] [--log-level LEVEL]\n"
	      "                  [--trace FILE [--trace-max-mb N] [--trace-snap N]]\n"
	      CLI_TRACE_USAGE
	      "                     (several scenarios: one capture, one session per scenario)\n", f);
}

int cli_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "qemu", required_argument, NULL, 'q' },
		{ "guest-dir", required_argument, NULL, 'g' },
		{ "ssdt", required_argument, NULL, 's' },
		{ "guest-tool", required_argument, NULL, 'G' },
		{ "workdir", required_argument, NULL, 'w' },
		{ "echo-console", no_argument, NULL, 'e' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "keep-going", no_argument, NULL, 'k' },
		{ "junit", required_argument, NULL, 'J' },
		{ "tap", required_argument, NULL, 'T' },
		{ "shard", required_argument, NULL, 'S' },
		{ "check", no_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		CLI_TRACE_LONGOPTS,
		{ 0 },
	};
	const char *qemu_opt = NULL, *guest_opt = NULL, *ssdt_opt = NULL, *workdir = NULL;
	const char *tool_opt = NULL;
	char *tool = NULL;
	bool need_qemu = false;
	const char *junit = NULL, *tap = NULL;
	char kernel[1024], initrd[1024], tmpl[] = "/tmp/vmbusd-run.XXXXXX";
	char *qemu = NULL, *guest = NULL, *ssdt = NULL, **files = NULL;
	struct scenario_paths paths = { .replay_config = run_replay_config };
	struct trace_opts topts = { 0 };
	struct scenario_result *results = NULL;
	unsigned shard_k = 1, shard_n = 1;
	bool check_only = false;
	size_t n_files = 0, n_run = 0;
	int opt, rc = 2;

	log_set_level(LOG_WARN);
	while ((opt = getopt_long(argc, argv, "q:g:s:w:el:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'q': qemu_opt = optarg; break;
		case 'g': guest_opt = optarg; break;
		case 's': ssdt_opt = optarg; break;
		case 'G': tool_opt = optarg; break;
		case 'w': workdir = optarg; break;
		case 'e': paths.echo_console = true; break;
		case 'k': paths.keep_going = true; break;
		case 'C': check_only = true; break;
		case 'J': junit = optarg; break;
		case 'T': tap = optarg; break;
		case 'S':
			if (parse_shard(optarg, &shard_k, &shard_n)) {
				fprintf(stderr, "vmbusd run: --shard %s: expected K/N with 1 <= K <= N\n",
					optarg);
				return 2;
			}
			break;
		case 'l':
			if (cli_set_log_level("run", optarg))
				return 2;
			break;
		case CLI_OPT_TRACE: case CLI_OPT_TRACE_MAX_MB: case CLI_OPT_TRACE_SNAP:
			if (cli_trace_option("run", opt, optarg, &topts))
				return 2;
			break;
		default:
			run_usage(opt == 'h' ? stdout : stderr);
			return opt == 'h' ? 0 : 2;
		}
	}
	if (optind >= argc) {
		fputs("vmbusd run: no scenario given (see --help)\n", stderr);
		return 2;
	}
	files = collect_files(argv + optind, argc - optind, &n_files);
	if (!files)
		return 2;
	if (check_only) {
		rc = 0;
		for (size_t i = 0; i < n_files; i++) {
			char err[512];

			if (scenario_check_file(files[i], err, sizeof(err))) {
				printf("%s: %s\n", files[i], err);
				rc = 2;
			}
		}
		printf("checked %zu scenario file(s): %s\n", n_files, rc ? "errors above" : "ok");
		goto out;
	}
	results = calloc(n_files ? n_files : 1, sizeof(*results));
	if (!workdir && !(workdir = mkdtemp(tmpl))) {
		fprintf(stderr, "vmbusd run: cannot create a work directory: %s\n", strerror(errno));
		goto out;
	}
	/* QEMU, the guest image and the SSDT only when a scenario of this
	 * shard boots a real guest: the synthetic guest needs none of them
	 * (and finding them may mean building them). */
	for (size_t i = 0; i < n_files; i++)
		if (i % shard_n == shard_k - 1 && !scenario_file_is_synthetic(files[i]))
			need_qemu = true;
	if (need_qemu) {
		qemu = resolve(qemu_opt, "VMBUSD_QEMU", "qemu/build.sh", "--print-path");
		guest = resolve(guest_opt, "VMBUSD_GUEST_DIR", "tests/guest/build-guest.sh",
				"--print-dir");
		ssdt = resolve(ssdt_opt, "VMBUSD_SSDT", "qemu/build-ssdt.sh", workdir);
	}
	tool = resolve_guest_tool(tool_opt);
	if ((need_qemu && (!qemu || !guest || !ssdt)) || !results || !tool) {
		fprintf(stderr, "vmbusd run: cannot find the %s (see the messages above)\n",
			!results || !tool ? "memory" : !qemu ? "patched QEMU" : !guest ? "guest image"
											 : "SSDT");
		goto out;
	}
	snprintf(kernel, sizeof(kernel), "%s/vmlinuz", guest ? guest : "");
	snprintf(initrd, sizeof(initrd), "%s/initrd.img", guest ? guest : "");
	paths.guest_tool = tool;
	paths.qemu = qemu;
	paths.kernel = kernel;
	paths.initrd = initrd;
	paths.ssdt = ssdt;
	if (cli_trace_start("run", &topts))
		goto out;
	/* One scenario runs in the work directory itself (as before); several
	 * each in a subdirectory named after its position and file. */
	for (size_t i = 0; i < n_files; i++) {
		char dir[1200];
		const char *base = strrchr(files[i], '/') ? strrchr(files[i], '/') + 1 : files[i];

		if (i % shard_n != shard_k - 1)
			continue;   /* another shard's */
		if (n_files == 1) {
			snprintf(dir, sizeof(dir), "%s", workdir);
		} else {
			snprintf(dir, sizeof(dir), "%s/%02zu-%.*s", workdir, i + 1,
				 (int)(strlen(base) - 5), base);
			if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
				fprintf(stderr, "vmbusd run: %s: %s\n", dir, strerror(errno));
				goto out;
			}
		}
		paths.workdir = dir;
		scenario_run_file(files[i], &paths, &results[n_run++]);
		if (i + 1 < n_files)
			putchar('\n');
	}
	trace_writer_stop(NULL);
	if (n_run > 1 || shard_n > 1)
		scenario_report_summary(stdout, results, n_run);
	rc = 0;
	for (size_t i = 0; i < n_run; i++)
		rc = results[i].status > rc ? results[i].status : rc;
	if (junit && scenario_report_junit(junit, results, n_run) < 0) {
		fprintf(stderr, "vmbusd run: cannot write %s: %s\n", junit, strerror(errno));
		rc = 2;
	}
	if (tap && scenario_report_tap(tap, results, n_run) < 0) {
		fprintf(stderr, "vmbusd run: cannot write %s: %s\n", tap, strerror(errno));
		rc = 2;
	}
out:
	trace_writer_stop(NULL);
	for (size_t i = 0; i < n_run; i++)
		scenario_result_free(&results[i]);
	free(results);
	for (size_t i = 0; i < n_files; i++)
		free(files[i]);
	free(files);
	free(qemu);
	free(tool);
	free(guest);
	free(ssdt);
	return rc;
}
