// SPDX-License-Identifier: MIT
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum log_level log_level = LOG_WARN;
static FILE *log_stream;

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

void log_printf(enum log_level lvl, const char *fmt, ...)
{
	FILE *f = log_stream ? log_stream : stderr;
	char buf[1024];
	va_list ap;
	int n;

	if (!log_enabled(lvl))
		return;
	/* Format into one buffer and write it with one call so that lines from vCPU and I/O
	 * threads never interleave mid-line. */
	n = snprintf(buf, sizeof(buf), "ptvm: %s: ", level_names[lvl]);
	va_start(ap, fmt);
	n += vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(buf) - 3)
		n = (int)sizeof(buf) - 3;
	buf[n++] = '\n';
	buf[n] = '\0';
	fputs(buf, f);
	fflush(f);
}
