/* SPDX-License-Identifier: MIT */
/* Levelled logging to stderr: pr_err/pr_warn/pr_info/pr_debug. */
#ifndef PTVM_LOG_H
#define PTVM_LOG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum log_level {
	LOG_ERR,
	LOG_WARN,
	LOG_INFO,
	LOG_DEBUG,
};

extern enum log_level log_level;

/* Parses "error|warn|info|debug"; returns -EINVAL for anything else. */
int log_level_parse(const char *s, enum log_level *out);
/* Redirect log output (tests); NULL restores stderr. */
void log_set_stream(FILE *f);
static inline bool log_enabled(enum log_level lvl)
{
	return lvl <= log_level;
}

void log_printf(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* How many error-level messages were logged so far (printed or not): a caller that sees a
 * failure without a new error knows it must say something itself. */
unsigned log_error_count(void);

#define pr_err(...) log_printf(LOG_ERR, __VA_ARGS__)
#define pr_warn(...) log_printf(LOG_WARN, __VA_ARGS__)
#define pr_info(...) log_printf(LOG_INFO, __VA_ARGS__)
#define pr_debug(...)                                                                              \
	do {                                                                                       \
		if (log_enabled(LOG_DEBUG))                                                        \
			log_printf(LOG_DEBUG, __VA_ARGS__);                                        \
	} while (0)

/*
 * Rate limiting for messages a guest can trigger: a guest that repeats the same abuse must not
 * flood the host's log. At most LOG_RATELIMIT_BURST messages per LOG_RATELIMIT_INTERVAL_S
 * seconds per limiter; when a new interval starts, one line says how many were suppressed.
 * The pr_*_ratelimited macros keep one limiter per call site; a device that wants its own
 * budget embeds a struct log_ratelimit and calls log_printf_ratelimited. Thread-safe.
 */
#define LOG_RATELIMIT_INTERVAL_S 5
#define LOG_RATELIMIT_BURST 10

struct log_ratelimit {
	_Atomic uint64_t interval_start_ns;
	_Atomic unsigned printed;
	_Atomic unsigned suppressed;
};

/* True when a message may be printed now; false counts it as suppressed. */
bool log_ratelimit_allow(struct log_ratelimit *rl);
void log_printf_ratelimited(struct log_ratelimit *rl, enum log_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define pr_ratelimited_(lvl, ...)                                                                  \
	do {                                                                                       \
		static struct log_ratelimit rl_;                                                   \
		if (log_enabled(lvl))                                                              \
			log_printf_ratelimited(&rl_, lvl, __VA_ARGS__);                            \
	} while (0)
#define pr_err_ratelimited(...) pr_ratelimited_(LOG_ERR, __VA_ARGS__)
#define pr_warn_ratelimited(...) pr_ratelimited_(LOG_WARN, __VA_ARGS__)
#define pr_info_ratelimited(...) pr_ratelimited_(LOG_INFO, __VA_ARGS__)

#endif
