/* SPDX-License-Identifier: MIT */
/*
 * Scaffolding shared by the unit tests. Each tests/unit/NAME_test.c is its own binary, so
 * everything here is static: a test that includes this header gets its own copy and the
 * Makefile needs no shared test object.
 *
 * Log capture: pr_err and friends written to a temporary file so a test can check what was
 * said (one line, naming the culprit) and keep it out of the test output.
 */
#ifndef PTVM_TESTS_UNIT_TEST_HELPERS_H
#define PTVM_TESTS_UNIT_TEST_HELPERS_H

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmm/log.h"

/* ---- log capture ---- */

/* Where the log goes between test_log_capture_start() and test_log_capture_stop(). */
static FILE *test_log __attribute__((unused));

/* Sends the log to a fresh temporary file; returns 0 or -errno. */
static inline int test_log_capture_start(void)
{
	test_log = tmpfile();
	if (!test_log)
		return -errno;
	log_set_stream(test_log);
	return 0;
}

/* Sends the log back to stderr and drops what was captured. */
static inline void test_log_capture_stop(void)
{
	log_set_stream(NULL);
	if (test_log)
		fclose(test_log);
	test_log = NULL;
}

/* cmocka setup/teardown (group or per test) around test_log_capture_start/stop. */
static inline int test_log_setup(void **state)
{
	assert_int_equal(test_log_capture_start(), 0);
	return 0;
}

static inline int test_log_teardown(void **state)
{
	test_log_capture_stop();
	return 0;
}

/*
 * Copies what was logged since the capture started or was last forgotten into @out (NUL
 * terminated, cut at @n - 1 bytes) and returns @out; the log keeps it.
 */
static inline const char *test_log_peek(char *out, size_t n)
{
	size_t r;

	fflush(test_log);
	rewind(test_log);
	r = fread(out, 1, n - 1, test_log);
	out[r] = '\0';
	return out;
}

/* Forgets what was logged so far: the next peek sees only what comes after. */
static inline void test_log_forget(void)
{
	fflush(test_log);
	assert_int_equal(ftruncate(fileno(test_log), 0), 0);
	rewind(test_log);
}

/* test_log_peek, then test_log_forget: what was logged since the last take. */
static inline const char *test_log_take(char *out, size_t n)
{
	test_log_peek(out, n);
	test_log_forget();
	return out;
}

/* Everything logged since the last forget, in a buffer of its own (up to 16 KiB). */
static inline const char *test_log_text(void)
{
	static char buf[16384];

	return test_log_peek(buf, sizeof(buf));
}

/* Whether what was logged since the last take contains @what; forgets it either way. */
static inline bool test_log_said(const char *what)
{
	char buf[1024];

	return strstr(test_log_take(buf, sizeof(buf)), what) != NULL;
}

/* What was logged since the last forget contains @needle (the log is shown if not). */
static inline void assert_log_contains(const char *needle)
{
	const char *text = test_log_text();

	if (!strstr(text, needle))
		fail_msg("log lacks \"%s\"; it has:\n%s", needle, text);
}

/*
 * Exactly one line, ended by its newline, was logged since the last take, and it contains
 * @a and, unless NULL, @b. Forgets it.
 */
static inline void assert_log_one_line(const char *a, const char *b)
{
	char buf[1024];
	const char *log = test_log_take(buf, sizeof(buf));
	const char *nl = strchr(log, '\n');

	if (!strstr(log, a) || (b && !strstr(log, b)))
		fail_msg("log '%s' does not name '%s'%s%s", log, a, b ? " and " : "", b ? b : "");
	assert_non_null(nl);
	assert_int_equal(nl[1], '\0');
}

#endif /* PTVM_TESTS_UNIT_TEST_HELPERS_H */
