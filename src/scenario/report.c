/* SPDX-License-Identifier: MIT */
/*
 * Reports over a set of scenario runs, for people and for CI: a summary
 * table on the terminal, JUnit XML (one <testsuite> per scenario, one
 * <testcase> per step, <failure> with what the step found, <skipped> for the
 * steps a failure kept from running, a scenario that could not run at all as
 * one failing "load" case) and TAP version 13 (one test point per step).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "scenario/scenario.h"

static const char *scenario_verdict(const struct scenario_result *r)
{
	return r->status == 0 ? "passed" : r->status == 1 ? "FAILED" : "NOT RUN";
}

void scenario_report_summary(FILE *f, const struct scenario_result *r, size_t n)
{
	size_t ok = 0;

	fprintf(f, "\n%-40s %7s %9s  %s\n", "scenario", "steps", "seconds", "result");
	for (size_t i = 0; i < n; i++) {
		size_t passed = 0;

		for (size_t k = 0; k < r[i].n_steps; k++)
			passed += r[i].steps[k].passed;
		fprintf(f, "%-40.40s %3zu/%-3zu %9.1f  %s", r[i].name, passed, r[i].n_steps,
			r[i].seconds, scenario_verdict(&r[i]));
		for (size_t k = 0; k < r[i].n_steps; k++)
			if (r[i].steps[k].ran && !r[i].steps[k].passed) {
				fprintf(f, " (step %zu: %s)", k + 1, r[i].steps[k].title);
				break;
			}
		if (r[i].status == 2 && r[i].error)
			fprintf(f, " (%s)", r[i].error);
		fputc('\n', f);
		ok += r[i].status == 0;
	}
	fprintf(f, "%zu of %zu scenarios passed\n", ok, n);
}

/* Text inside XML attributes and elements: the five entities, and control
 * characters (a console line may carry any) as spaces. */
static void xml_put(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&apos;", f); break;
		default:
			fputc((unsigned char)*s < 0x20 && *s != '\n' && *s != '\t' ? ' ' : *s, f);
		}
	}
}

int scenario_report_junit(const char *path, const struct scenario_result *r, size_t n)
{
	FILE *f = fopen(path, "w");
	size_t tests = 0, failures = 0;

	if (!f)
		return -errno;
	for (size_t i = 0; i < n; i++) {
		tests += r[i].status == 2 ? 1 : r[i].n_steps;
		for (size_t k = 0; k < r[i].n_steps; k++)
			failures += r[i].steps[k].ran && !r[i].steps[k].passed;
		failures += r[i].status == 2;
	}
	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		   "<testsuites name=\"vmbusd\" tests=\"%zu\" failures=\"%zu\">\n", tests, failures);
	for (size_t i = 0; i < n; i++) {
		const struct scenario_result *s = &r[i];
		size_t fails = s->status == 2, skipped = 0;

		for (size_t k = 0; k < s->n_steps; k++) {
			fails += s->steps[k].ran && !s->steps[k].passed;
			skipped += !s->steps[k].ran;
		}
		fputs("  <testsuite name=\"", f);
		xml_put(f, s->name);
		fprintf(f, "\" tests=\"%zu\" failures=\"%zu\" skipped=\"%zu\" time=\"%.3f\">\n",
			s->status == 2 ? 1 : s->n_steps, fails, s->status == 2 ? 0 : skipped,
			s->seconds);
		if (s->status == 2) {
			fputs("    <testcase name=\"load\" classname=\"", f);
			xml_put(f, s->path);
			fputs("\"><failure message=\"", f);
			xml_put(f, s->error);
			fputs("\"/></testcase>\n", f);
		}
		for (size_t k = 0; s->status != 2 && k < s->n_steps; k++) {
			const struct scenario_step_result *st = &s->steps[k];

			fprintf(f, "    <testcase name=\"%02zu ", k + 1);
			xml_put(f, st->title);
			fputs("\" classname=\"", f);
			xml_put(f, s->path);
			fprintf(f, "\" time=\"%.3f\">", st->seconds);
			if (!st->ran) {
				fputs("<skipped/>", f);
			} else if (!st->passed) {
				fputs("<failure message=\"", f);
				xml_put(f, st->detail);
				fputs("\" type=\"", f);
				xml_put(f, st->kind);
				fputs("\"/>", f);
			} else if (st->detail && *st->detail) {
				fputs("<system-out>", f);
				xml_put(f, st->detail);
				fputs("</system-out>", f);
			}
			fputs("</testcase>\n", f);
		}
		fputs("  </testsuite>\n", f);
	}
	fputs("</testsuites>\n", f);
	return fclose(f) ? -errno : 0;
}

/* A TAP description may not hold '#' (it starts a directive) or a newline. */
static void tap_put(FILE *f, const char *s)
{
	for (; s && *s; s++)
		fputc(*s == '#' || *s == '\n' || *s == '\r' ? ' ' : *s, f);
}

int scenario_report_tap(const char *path, const struct scenario_result *r, size_t n)
{
	FILE *f = fopen(path, "w");
	size_t total = 0, no = 0;

	if (!f)
		return -errno;
	for (size_t i = 0; i < n; i++)
		total += r[i].status == 2 ? 1 : r[i].n_steps;
	fprintf(f, "TAP version 13\n1..%zu\n", total);
	for (size_t i = 0; i < n; i++) {
		const struct scenario_result *s = &r[i];

		if (s->status == 2) {
			fprintf(f, "not ok %zu - ", ++no);
			tap_put(f, s->name);
			fputs(": load\n  ---\n  message: '", f);
			tap_put(f, s->error);
			fputs("'\n  ...\n", f);
			continue;
		}
		for (size_t k = 0; k < s->n_steps; k++) {
			const struct scenario_step_result *st = &s->steps[k];

			fprintf(f, "%s %zu - ", st->ran && !st->passed ? "not ok" : "ok", ++no);
			tap_put(f, s->name);
			fputs(": ", f);
			tap_put(f, st->title);
			if (!st->ran)
				fputs(" # SKIP an earlier step failed", f);
			fputc('\n', f);
			if (st->ran && !st->passed) {
				fputs("  ---\n  message: '", f);
				for (const char *c = st->detail; c && *c; c++)
					fputs(*c == '\'' ? "''" : (char[]){ *c == '\n' ? ' ' : *c, 0 }, f);
				fputs("'\n  ...\n", f);
			}
		}
	}
	return fclose(f) ? -errno : 0;
}
