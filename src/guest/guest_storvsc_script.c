/* SPDX-License-Identifier: MIT */
/*
 * guest_storvsc_script: the storvsc script.  What steps share (failure,
 * key=value expectations, argument parsing, one command with its result
 * recorded), the step table and usage text, the parser, and
 * guest_storvsc_run: initialisation, then the steps in order, one JSON
 * event each.
 */
#include "guest/guest_storvsc_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "core/util.h"

/* ---- what steps share ------------------------------------------------------------ */

void step_fail(struct step *st, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	if (st->failed)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	st->failed = true;
	json_object_set_new(st->out, "error", json_string(msg));
}

const char *step_kv(const struct step *st, const char *key)
{
	size_t n = strlen(key);

	for (int i = 0; i < st->nkv; i++)
		if (!strncmp(st->kv[i], key, n) && st->kv[i][n] == '=')
			return st->kv[i] + n + 1;
	return NULL;
}

/* Decimal, or hex with 0x. */
int sc_parse_u64(const char *s, uint64_t *out)
{
	char *end;

	if (!s || !*s || *s == '-')
		return -EINVAL;
	errno = 0;
	*out = strncasecmp(s, "0x", 2) ? strtoull(s, &end, 10) : strtoull(s + 2, &end, 16);
	return errno || *end || (!strncasecmp(s, "0x", 2) && !s[2]) ? -EINVAL : 0;
}

/* LUN, or PATH:TARGET:LUN for the other (empty) targets of the scan. */
int sc_parse_lun(struct step *st, const char *s, uint8_t *lun)
{
	unsigned int p = 0, t = 0, l;
	char extra;
	uint64_t v;

	if (strchr(s, ':')) {
		if (sscanf(s, "%u:%u:%u%c", &p, &t, &l, &extra) != 3 || p > 255 || t > 255 || l > 255)
			goto bad;
		v = l;
	} else if (sc_parse_u64(s, &v) || v > 255) {
		goto bad;
	}
	st->sc->cur_path = (uint8_t)p;
	st->sc->cur_target = (uint8_t)t;
	*lun = (uint8_t)v;
	return 0;
bad:
	step_fail(st, "bad LUN \"%s\" (LUN or PATH:TARGET:LUN)", s);
	return -EINVAL;
}

/* Records a command's result: JSON, expect-* state, the status check. */
void step_result(struct sc *sc, struct step *st, const struct sc_result *r)
{
	sc_result_json(st->out, r);
	sc->last = *r;
	sc->have_last = true;
	if (!st->expect_next && !sc_result_good(r)) {
		if (r->key >= 0)
			step_fail(st, "command failed: srb_status 0x%02x scsi_status 0x%02x sense %x/%02x/%02x",
				  r->srb_status, r->scsi_status, r->key, r->asc & 0xFF, r->ascq & 0xFF);
		else
			step_fail(st, "command failed: srb_status 0x%02x scsi_status 0x%02x status 0x%x",
				  r->srb_status, r->scsi_status, r->status);
	}
}

void step_expect_str(struct step *st, const char *key, const char *got)
{
	const char *want = step_kv(st, key);

	if (want && strcmp(want, got))
		step_fail(st, "%s is \"%s\", expected \"%s\"", key, got, want);
}

void step_expect_num(struct step *st, const char *key, uint64_t got)
{
	const char *want = step_kv(st, key);
	uint64_t w;

	if (!want)
		return;
	if (sc_parse_u64(want, &w))
		step_fail(st, "%s=%s: not a number", key, want);
	else if (w != got)
		step_fail(st, "%s is %llu, expected %llu", key, (unsigned long long)got,
			  (unsigned long long)w);
}

int sc_cmd(struct sc *sc, struct step *st, uint8_t lun, const uint8_t *cdb, uint8_t cdb_len,
	   uint8_t dir, uint32_t len, const void *out, void *in, struct sc_result *r)
{
	int ret = sc_exec(sc, lun, cdb, cdb_len, dir, len, out, in, r, !st->no_ua_retry);

	if (ret)
		step_fail(st, "no answer: %s", strerror(-ret));
	else
		step_result(sc, st, r);
	return ret;
}

/* ---- the step table and the parser ---------------------------------------------- */

static const struct step_def step_defs[] = {
	{ "inquiry", 1, "vendor,product,revision,byte0", step_inquiry },
	{ "inquiry-vpd", 2, "serial", step_inquiry_vpd },
	{ "report-luns", 0, "luns", step_report_luns },
	{ "capacity", 1, "bytes,blocks,block_size", step_capacity },
	{ "mode-sense", 1, "wp", step_mode_sense },
	{ "tur", 1, "", step_tur },
	{ "sync", 1, "", step_sync },
	{ "unmap", 3, "", step_unmap },
	{ "write", 4, "", step_write },
	{ "read-verify", 4, "", step_read_verify },
	{ "parallel", 2, "lba", step_parallel },
	{ "raw-cdb", 2, "", step_raw_cdb },
	{ "reset", 0, "", step_reset },
	{ "rebind", 0, "", step_rebind },
	{ "wait-enumerate", 0, "", step_wait_enumerate },
	{ "sleep", 1, "", step_sleep },
	{ "hostile", 2, "", step_hostile },
	{ "expect-sense", 1, "", step_expect_sense },
	{ "expect-srb", 1, "", step_expect_srb },
	{ "read-async", 3, "", step_read_async },
	{ "close", 0, "", step_close },
	{ "partition-reset", 0, "", step_partition_reset },
	{ "detach", 0, "", step_detach },
	{ "untouched", 1, "", step_untouched },
	{ "hold", 1, "pages", step_hold },
};

const char guest_storvsc_usage[] =
	"storvsc script (numbers decimal or 0x hex; CDB and sense in hex):\n"
	"  inquiry LUN [vendor=S product=S revision=S byte0=N]   LUN: N or PATH:TARGET:N\n"
	"  inquiry-vpd LUN PAGE [serial=S]      e.g. inquiry-vpd 0 0x80\n"
	"  report-luns [luns=0,1]               exact, sorted; \"luns=\" for none\n"
	"  capacity LUN [bytes=N blocks=N block_size=N]   READ CAPACITY(16)\n"
	"  mode-sense LUN [wp=0|1]              MODE SENSE(6), page 3F\n"
	"  tur LUN | sync LUN | unmap LUN LBA COUNT\n"
	"  write LUN LBA COUNT PATTERN          PATTERN: a byte (0xab) or \"lba\"\n"
	"  read-verify LUN LBA COUNT PATTERN    (\"lba\": each 16 bytes \"LBA=%011u\\n\")\n"
	"  parallel LUN N [lba=START]           N 4 KiB writes, then N reads, verified\n"
	"  raw-cdb LUN HEX [LEN [in|out]]\n"
	"  reset                                RESET_BUS (trans_id ...FFFC)\n"
	"  rebind                               close all channels, probe and init again\n"
	"  wait-enumerate                       an unsolicited ENUMERATE_BUS/REMOVE_DEVICE\n"
	"  sleep MS                             (SIGTERM/SIGINT end it early)\n"
	"  hostile KIND LUN                     pfn-edge pfn-huge overlength over-max\n"
	"                                       range-short rangecount-0 rangecount-2 no-dir\n"
	"                                       bad-dir inband-data cdb-len-0 cdb-len-17\n"
	"                                       short-N bad-op\n"
	"  expect-sense KEY[/ASC[/ASCQ]]        checks the previous command (e.g. 5/21/00)\n"
	"  expect-srb CODE                      its srb_status code (e.g. 20)\n"
	"  read-async LUN LBA COUNT             a READ(10) not waited for (buffer 0x5A first)\n"
	"  close | partition-reset | detach     let go: CLOSECHANNEL + ring teardown on every\n"
	"                                       channel, the frontend's RESET, or its DETACH\n"
	"  untouched MS                         read-async buffers must not change in MS ms\n"
	"  hold N [pages=P]                     N maximal READs, never waited for, each listing\n"
	"                                       P copies of one page, until every ring is full\n"
	"A failed command fails its step unless an expect-* step follows.\n";

static const struct step_def *step_find(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(step_defs); i++)
		if (!strcmp(step_defs[i].name, name))
			return &step_defs[i];
	return NULL;
}

static bool key_allowed(const struct step_def *d, const char *kv)
{
	const char *eq = strchr(kv, '=');
	size_t n = (size_t)(eq - kv);

	for (const char *k = d->keys; *k;) {
		size_t kl = strcspn(k, ",");

		if (kl == n && !strncmp(k, kv, n))
			return true;
		k += kl + (k[kl] == ',');
	}
	return false;
}

static bool is_number(const char *s)
{
	uint64_t v;

	return sc_parse_u64(s, &v) == 0;
}

/* Splits argv into steps; NULL (logged) on a syntax error. */
static struct step *parse_script(int argc, char **argv, int *nsteps)
{
	struct step *steps = calloc((size_t)argc + 1, sizeof(*steps));
	int n = 0;

	if (!steps)
		return NULL;
	for (int i = 0; i < argc;) {
		const struct step_def *d = step_find(argv[i]);
		struct step *st = &steps[n];

		if (!d) {
			log_error("storvsc: unknown step \"%s\"", argv[i]);
			goto fail;
		}
		st->def = d;
		i++;
		if (i + d->nargs > argc) {
			log_error("storvsc: %s takes %d arguments", d->name, d->nargs);
			goto fail;
		}
		for (int k = 0; k < d->nargs; k++)
			st->args[st->nargs++] = argv[i++];
		if (d->fn == step_raw_cdb && i < argc && is_number(argv[i])) {
			st->args[st->nargs++] = argv[i++];
			if (i < argc && (!strcmp(argv[i], "in") || !strcmp(argv[i], "out")))
				st->args[st->nargs++] = argv[i++];
		}
		while (i < argc && strchr(argv[i], '=')) {
			if (!key_allowed(d, argv[i]) || st->nkv == SC_MAX_STEP_KV) {
				log_error("storvsc: %s does not take \"%s\"", d->name, argv[i]);
				goto fail;
			}
			st->kv[st->nkv++] = argv[i++];
		}
		n++;
	}
	for (int k = 0; k + 1 < n; k++) {
		step_fn next = steps[k + 1].def->fn;

		steps[k].expect_next = next == step_expect_sense || next == step_expect_srb;
		steps[k].no_ua_retry = next == step_expect_sense && steps[k + 1].args[0][0] == '6';
	}
	*nsteps = n;
	return steps;
fail:
	free(steps);
	return NULL;
}

int guest_storvsc_check_script(int argc, char **argv)
{
	int n;
	struct step *steps = parse_script(argc, argv, &n);

	free(steps);
	return steps ? 0 : -EINVAL;
}

/* ---- running ---------------------------------------------------------------------- */

static void sc_emit_step(struct sc *sc, const char *name, json_t *out, bool ok)
{
	json_t *ev = json_pack("{s:s, s:s, s:b}", "event", "storvsc", "step", name, "ok", ok);

	json_object_update(ev, out);
	json_decref(out);
	guest_emit(sc->g, ev);
}

int guest_storvsc_run(struct guest *g, const struct guest_storvsc_params *p, int argc, char **argv)
{
	struct sc *sc;
	struct step *steps;
	json_t *out;
	int nsteps, ret, result = 0;

	steps = parse_script(argc, argv, &nsteps);
	if (!steps)
		return -EINVAL;
	sc = calloc(1, sizeof(*sc));
	if (!sc) {
		free(steps);
		return -ENOMEM;
	}
	sc->g = g;
	sc->params = p;
	sc->qd = p->queue_depth ? MIN(p->queue_depth, SC_MAX_QD) : SC_DEFAULT_QD;
	sc->slots = calloc(sc->qd, sizeof(*sc->slots));
	if (!sc->slots) {
		free(sc);
		free(steps);
		return -ENOMEM;
	}

	out = json_object();
	ret = sc_init(sc, p, out);
	json_object_set_new(out, "queue_depth", json_integer(sc->qd));
	if (!ret && sc->host_errors)
		json_object_set_new(out, "error", json_string("host protocol error"));
	sc_emit_step(sc, "init", out, !ret && !sc->host_errors);
	if (ret || sc->host_errors)
		result = ret < 0 ? ret : GUEST_STORVSC_VERIFY_FAILED;

	for (int i = 0; i < nsteps && result == 0; i++) {
		struct step *st = &steps[i];
		uint64_t errors = sc->host_errors;

		st->out = json_object();
		if (st->nargs) {
			json_t *args = json_array();

			for (int k = 0; k < st->nargs; k++)
				json_array_append_new(args, json_string(st->args[k]));
			json_object_set_new(st->out, "args", args);
		}
		st->sc = sc;
		sc->cur_path = sc->cur_target = 0;
		ret = st->def->fn(sc, st);
		if (!ret && sc->host_errors != errors)
			step_fail(st, "host protocol error (see the error events)");
		if (g->att.dead && !ret && !sc->detached)
			ret = -ECONNRESET;
		if (ret && !st->failed)
			step_fail(st, "%s", strerror(-ret));
		sc_emit_step(sc, st->def->name, st->out, !st->failed);
		st->out = NULL;
		if (ret)
			result = ret;
		else if (st->failed)
			result = GUEST_STORVSC_VERIFY_FAILED;
	}

	if (!g->att.dead)
		sc_close_all(sc);
	guest_emit(g, json_pack("{s:s, s:b, s:i, s:I, s:I, s:I, s:I}", "event", "storvsc_done", "ok",
				result == 0, "steps", (json_int_t)nsteps, "host_errors",
				(json_int_t)sc->host_errors, "enumerates", (json_int_t)sc->enumerates,
				"late_completions", (json_int_t)sc->late, "out_of_order",
				(json_int_t)sc->out_of_order));
	/* Abandoned requests keep their pages: the host might still use them. */
	free(sc->slots);
	free(sc);
	free(steps);
	return result;
}
