/* SPDX-License-Identifier: MIT */
/* Levelled logging to stderr: pr_err/pr_warn/pr_info/pr_debug. */
#ifndef PTVM_LOG_H
#define PTVM_LOG_H

#include <stdbool.h>
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

#define pr_err(...) log_printf(LOG_ERR, __VA_ARGS__)
#define pr_warn(...) log_printf(LOG_WARN, __VA_ARGS__)
#define pr_info(...) log_printf(LOG_INFO, __VA_ARGS__)
#define pr_debug(...)                                                                              \
	do {                                                                                       \
		if (log_enabled(LOG_DEBUG))                                                        \
			log_printf(LOG_DEBUG, __VA_ARGS__);                                        \
	} while (0)

#endif
