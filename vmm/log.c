// SPDX-License-Identifier: MIT
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

enum log_level log_level = LOG_WARN;
static FILE *log_stream;
static atomic_uint log_errors;

static const char *const level_names[] = {
	[LOG_ERR] = "error",
	[LOG_WARN] = "warn",
	[LOG_INFO] = "info",
	[LOG_DEBUG] = "debug",
};

int log_level_parse(const char *s, enum log_level *out)
{
	for (unsigned i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (!strcmp(s, level_names[i])) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

void log_set_stream(FILE *f)
{
	log_stream = f;
}

static void log_vprintf(enum log_level lvl, const char *fmt, va_list ap)
{
	FILE *f = log_stream ? log_stream : stderr;
	char buf[1024];
	int n;

	/* Format into one buffer and write it with one call so that lines from vCPU and I/O
	 * threads never interleave mid-line. */
	n = snprintf(buf, sizeof(buf), "ptvm: %s: ", level_names[lvl]);
	n += vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
	if (n > (int)sizeof(buf) - 3)
		n = (int)sizeof(buf) - 3;
	buf[n++] = '\n';
	buf[n] = '\0';
	fputs(buf, f);
	fflush(f);
}

unsigned log_error_count(void)
{
	return atomic_load(&log_errors);
}

void log_printf(enum log_level lvl, const char *fmt, ...)
{
	va_list ap;

	if (lvl == LOG_ERR)
		atomic_fetch_add(&log_errors, 1);
	if (!log_enabled(lvl))
		return;
	va_start(ap, fmt);
	log_vprintf(lvl, fmt, ap);
	va_end(ap);
}

static uint64_t log_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

bool log_ratelimit_allow(struct log_ratelimit *rl)
{
	uint64_t now = log_now_ns();
	uint64_t start = atomic_load(&rl->interval_start_ns);

	if (!start || now - start >= (uint64_t)LOG_RATELIMIT_INTERVAL_S * 1000000000ULL) {
		/* one thread opens the new interval; the others see it and count in it */
		if (atomic_compare_exchange_strong(&rl->interval_start_ns, &start, now)) {
			unsigned lost = atomic_exchange(&rl->suppressed, 0);

			atomic_store(&rl->printed, 0);
			if (lost)
				log_printf(LOG_WARN,
					   "%u similar messages suppressed in the last %d s", lost,
					   LOG_RATELIMIT_INTERVAL_S);
		}
	}
	if (atomic_fetch_add(&rl->printed, 1) < LOG_RATELIMIT_BURST)
		return true;
	atomic_fetch_add(&rl->suppressed, 1);
	return false;
}

void log_printf_ratelimited(struct log_ratelimit *rl, enum log_level lvl, const char *fmt, ...)
{
	va_list ap;

	if (!log_enabled(lvl) || !log_ratelimit_allow(rl))
		return;
	va_start(ap, fmt);
	log_vprintf(lvl, fmt, ap);
	va_end(ap);
}
