/* SPDX-License-Identifier: MIT */
/*
 * Logging with levels and a per-cause rate limit.  Anything a guest can
 * trigger must go through log_guest() (or a log_ratelimit it owns) so that
 * a hostile guest cannot flood the host's log.
 */
#ifndef VMBUSD_CORE_LOG_H
#define VMBUSD_CORE_LOG_H

#include <stdbool.h>
#include <stdint.h>

enum log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Prefix every line (e.g. "vmbusd" or "vmbus-guest"). */
void log_set_ident(const char *ident);
void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Allows LOG_RATELIMIT_BURST lines per LOG_RATELIMIT_WINDOW_NS per cause;
 * the first line after a quiet window reports how many were suppressed. */
#define LOG_RATELIMIT_BURST 5u
#define LOG_RATELIMIT_WINDOW_NS 5000000000ull
struct log_ratelimit {
	uint64_t window_start_ns;
	uint32_t in_window;
	uint32_t suppressed;
};
/* true when a line may be printed now; *suppressed_out gets the count of
 * lines dropped since the last printed one. */
bool log_ratelimit_ok(struct log_ratelimit *rl, uint32_t *suppressed_out);

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) do { if (log_get_level() >= LOG_DEBUG) log_msg(LOG_DEBUG, __VA_ARGS__); } while (0)

/* A guest-caused warning under the limiter `rl` (one per cause: e.g. a
 * protocol table's row, so a flood of one refusal does not hide another's
 * first line). */
#define log_guest_rl(rl, fmt, ...)                                           \
	do {                                                                 \
		uint32_t log_sup_;                                           \
		if (log_ratelimit_ok((rl), &log_sup_))                       \
			log_msg(LOG_WARN, "guest: " fmt "%s", ##__VA_ARGS__, \
				log_sup_ ? " (earlier lines suppressed)" : ""); \
	} while (0)

/* A guest-caused warning, rate-limited per call site (one cause each). */
#define log_guest(fmt, ...)                                                  \
	do {                                                                 \
		static struct log_ratelimit log_rl_;                         \
		log_guest_rl(&log_rl_, fmt, ##__VA_ARGS__);                  \
	} while (0)

#endif
