/* SPDX-License-Identifier: MIT */
#include "scenario/vm.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"

#define VM_LINE_MAX 65536
#define VM_ARGV_MAX 64

static void vm_store_line(struct vm *vm, const char *line)
{
	if (vm->n_lines == vm->cap_lines) {
		size_t cap = vm->cap_lines ? vm->cap_lines * 2 : 256;
		char **l = realloc(vm->lines, cap * sizeof(*l));

		if (!l)
			return;
		vm->lines = l;
		vm->cap_lines = cap;
	}
	vm->lines[vm->n_lines++] = strdup(line);
}

static void vm_store_marker(struct vm *vm, const char *text)
{
	struct vm_marker *m;
	size_t n = strcspn(text, " ");

	if (vm->n_markers == vm->cap_markers) {
		size_t cap = vm->cap_markers ? vm->cap_markers * 2 : 64;
		struct vm_marker *a = realloc(vm->markers, cap * sizeof(*a));

		if (!a)
			return;
		vm->markers = a;
		vm->cap_markers = cap;
	}
	m = &vm->markers[vm->n_markers++];
	m->t_ns = now_ns();
	m->event = strndup(text, n);
	m->args = strdup(text[n] ? text + n + 1 : "");
}

static void vm_on_console(struct bufferevent *bev, void *arg)
{
	struct vm *vm = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	char *line;
	size_t len;

	while ((line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF))) {
		const char *marker = strstr(line, "@@VMBUSD ");

		if (vm->console_log)
			fprintf(vm->console_log, "%s\n", line);
		if (vm->cfg.echo_console)
			fprintf(stderr, "  | %s\n", line);
		vm_store_line(vm, line);
		/* A marker may follow kernel output that lacked a newline. */
		if (marker)
			vm_store_marker(vm, marker + strlen("@@VMBUSD "));
		free(line);
	}
	if (evbuffer_get_length(in) > VM_LINE_MAX)
		evbuffer_drain(in, evbuffer_get_length(in));
	if (vm->console_log)
		fflush(vm->console_log);
	if (vm->on_activity)
		vm->on_activity(vm->opaque);
}

static void vm_on_console_event(struct bufferevent *bev, short what, void *arg)
{
	struct vm *vm = arg;

	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		bufferevent_disable(bev, EV_READ);
	if (vm->on_activity)
		vm->on_activity(vm->opaque);
}

static void vm_on_sigchld(evutil_socket_t sig, short what, void *arg)
{
	struct vm *vm = arg;
	int status;

	if (vm->exited || vm->pid <= 0)
		return;
	if (waitpid(vm->pid, &status, WNOHANG) == vm->pid) {
		vm->exited = true;
		vm->exit_status = status;
		if (vm->on_activity)
			vm->on_activity(vm->opaque);
	}
}

static int vm_build_argv(const struct vm_config *c, char **argv, char *buf, size_t buflen)
{
	int n = 0;
	char *p = buf, *end = buf + buflen;

#define ARG(...)                                                             \
	do {                                                                 \
		int w_ = snprintf(p, (size_t)(end - p), __VA_ARGS__);        \
		if (w_ < 0 || w_ >= end - p || n >= VM_ARGV_MAX - 1)         \
			return -E2BIG;                                       \
		argv[n++] = p;                                               \
		p += w_ + 1;                                                 \
	} while (0)

	ARG("%s", c->qemu);
	ARG("-accel"); ARG("tcg");
	/* "hypervisor" sets CPUID.1:ECX[31], which Linux checks first (facts §1.1). */
	ARG("-cpu"); ARG("max,+hypervisor");
	ARG("-smp"); ARG("%u", c->vcpus);
	ARG("-m"); ARG("%u", c->memory_mib);
	/* Guest RAM in a shared memfd: the plugin hands its fd to the daemon. */
	ARG("-object"); ARG("memory-backend-memfd,id=mem0,size=%uM,share=on", c->memory_mib);
	ARG("-machine"); ARG("pc,memory-backend=mem0");
	ARG("-acpitable"); ARG("file=%s", c->ssdt);
	ARG("-chardev"); ARG("socket,id=vmbus0,path=%s", c->socket);
	ARG("-device"); ARG("vmbus-user,chardev=vmbus0");
	ARG("-nodefaults"); ARG("-nic"); ARG("none");
	ARG("-display"); ARG("none");
	ARG("-serial"); ARG("stdio");
	ARG("-L"); ARG("/usr/share/qemu");
	ARG("-L"); ARG("/usr/share/seabios");
	ARG("-kernel"); ARG("%s", c->kernel);
	ARG("-initrd"); ARG("%s", c->initrd);
	ARG("-append"); ARG("console=ttyS0 panic=-1 %s", c->cmdline_extra ? c->cmdline_extra : "");
	if (c->no_reboot)
		ARG("-no-reboot");
	for (const char *const *a = c->extra_args; a && *a; a++)
		ARG("%s", *a);
#undef ARG
	argv[n] = NULL;
	return n;
}

/* Forks and execs QEMU with the console on two pipes. */
static int vm_spawn(struct vm *vm, struct event_base *base)
{
	static char argbuf[8192];
	char *argv[VM_ARGV_MAX];
	int in[2], out[2], logfd;
	pid_t pid;

	if (vm->cfg.argv) {
		size_t n = 0;

		while (vm->cfg.argv[n] && n < VM_ARGV_MAX - 1) {
			argv[n] = (char *)vm->cfg.argv[n];
			n++;
		}
		argv[n] = NULL;
	} else if (vm_build_argv(&vm->cfg, argv, argbuf, sizeof(argbuf)) < 0) {
		return -E2BIG;
	}
	if (pipe2(in, O_CLOEXEC))
		return -errno;
	if (pipe2(out, O_CLOEXEC)) {
		close(in[0]);
		close(in[1]);
		return -errno;
	}
	logfd = open(vm->cfg.qemu_log ? vm->cfg.qemu_log : "/dev/null",
		     O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	vm->start_ns = now_ns();
	vm->exited = false;
	/* A boot boundary for vm_find_marker_this_boot(). */
	vm_store_marker(vm, "qemu-start");
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		if (logfd >= 0)
			dup2(logfd, 2);
		execv(argv[0], argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	if (logfd >= 0)
		close(logfd);
	vm->pid = pid;
	vm->console_in = in[1];
	evutil_make_socket_nonblocking(out[0]);
	vm->console = bufferevent_socket_new(base, out[0], BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(vm->console, vm_on_console, NULL, vm_on_console_event, vm);
	bufferevent_enable(vm->console, EV_READ);
	return 0;
}

int vm_start(struct vm *vm, struct event_base *base, const struct vm_config *cfg)
{
	memset(vm, 0, sizeof(*vm));
	vm->cfg = *cfg;
	if (cfg->qemu_log)
		truncate(cfg->qemu_log, 0);
	if (cfg->console_log)
		vm->console_log = fopen(cfg->console_log, "w");
	vm->reaper = evsignal_new(base, SIGCHLD, vm_on_sigchld, vm);
	evsignal_add(vm->reaper, NULL);
	return vm_spawn(vm, base);
}

/* The process half of teardown: console and pipes, not the history. */
static void vm_release_process(struct vm *vm)
{
	vm_kill(vm);
	if (vm->console)
		bufferevent_free(vm->console);
	if (vm->console_in > 0)
		close(vm->console_in);
	vm->console = NULL;
	vm->console_in = -1;
	vm->pid = 0;
}

int vm_restart(struct vm *vm, struct event_base *base)
{
	vm_release_process(vm);
	if (vm->console_log)
		fprintf(vm->console_log, "---- QEMU restarted ----\n");
	return vm_spawn(vm, base);
}

int vm_send_command(struct vm *vm, unsigned int id, const char *command)
{
	char line[4096];
	int n = snprintf(line, sizeof(line), "@@CMD %u %s\n", id, command);

	if (n < 0 || (size_t)n >= sizeof(line) || strchr(command, '\n'))
		return -EINVAL;
	return write(vm->console_in, line, (size_t)n) == n ? 0 : -EIO;
}

void vm_kill(struct vm *vm)
{
	if (vm->pid > 0 && !vm->exited) {
		kill(vm->pid, SIGKILL);
		if (waitpid(vm->pid, &vm->exit_status, 0) == vm->pid)
			vm->exited = true;
	}
}

void vm_free(struct vm *vm)
{
	vm_release_process(vm);
	if (vm->reaper)
		event_free(vm->reaper);
	if (vm->console_log)
		fclose(vm->console_log);
	for (size_t i = 0; i < vm->n_lines; i++)
		free(vm->lines[i]);
	for (size_t i = 0; i < vm->n_markers; i++) {
		free(vm->markers[i].event);
		free(vm->markers[i].args);
	}
	free(vm->lines);
	free(vm->markers);
	memset(vm, 0, sizeof(*vm));
}

/* The latest matching marker; with this_boot, none from before the latest
 * "init" or QEMU start (the boundary itself can match). */
static bool vm_marker_matches(const struct vm_marker *m, const char *event,
			      const char *args_prefix)
{
	return strcmp(m->event, event) == 0 &&
	       (!args_prefix || strncmp(m->args, args_prefix, strlen(args_prefix)) == 0);
}

static const struct vm_marker *vm_find(const struct vm *vm, const char *event,
				       const char *args_prefix, bool this_boot)
{
	for (size_t i = vm->n_markers; i-- > 0;) {
		const struct vm_marker *m = &vm->markers[i];

		if (vm_marker_matches(m, event, args_prefix))
			return m;
		if (this_boot && (strcmp(m->event, "init") == 0 || strcmp(m->event, "qemu-start") == 0))
			return NULL;
	}
	return NULL;
}

const struct vm_marker *vm_find_marker(const struct vm *vm, const char *event,
				       const char *args_prefix)
{
	return vm_find(vm, event, args_prefix, false);
}

const struct vm_marker *vm_find_marker_this_boot(const struct vm *vm, const char *event,
						 const char *args_prefix)
{
	return vm_find(vm, event, args_prefix, true);
}

size_t vm_count_markers(const struct vm *vm, const char *event, const char *args_prefix)
{
	size_t n = 0;

	for (size_t i = 0; i < vm->n_markers; i++)
		n += vm_marker_matches(&vm->markers[i], event, args_prefix);
	return n;
}

const char *vm_find_line(const struct vm *vm, const char *needle)
{
	for (size_t i = 0; i < vm->n_lines; i++)
		if (strstr(vm->lines[i], needle))
			return vm->lines[i];
	return NULL;
}
