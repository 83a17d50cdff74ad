// SPDX-License-Identifier: MIT
/* vmm/log.c: rate-limited messages (what a guest can trigger must not flood the host's log). */
#include "tests/unit/test_helpers.h"

#include <stdlib.h>

static unsigned count_lines(const char *s, const char *needle)
{
	unsigned n = 0;

	for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

static void test_ratelimit_burst_then_silence(void **state)
{
	struct log_ratelimit rl = { 0 };
	char buf[16384];

	for (int i = 0; i < 1000; i++)
		log_printf_ratelimited(&rl, LOG_WARN, "guest wrote %d to a bad place", i);
	test_log_peek(buf, sizeof(buf));
	assert_int_equal(count_lines(buf, "guest wrote"), LOG_RATELIMIT_BURST);
	assert_non_null(strstr(buf, "guest wrote 0 to"));
	assert_null(strstr(buf, "suppressed"));
	assert_int_equal(atomic_load(&rl.suppressed), 1000 - LOG_RATELIMIT_BURST);
}

static void test_ratelimit_next_interval_says_how_many(void **state)
{
	struct log_ratelimit rl = { 0 };
	char buf[16384];

	for (int i = 0; i < 25; i++)
		log_printf_ratelimited(&rl, LOG_WARN, "storm %d", i);
	/* the interval is over: move its start back instead of sleeping */
	atomic_fetch_sub(&rl.interval_start_ns,
			 (uint64_t)(LOG_RATELIMIT_INTERVAL_S + 1) * 1000000000ULL);
	log_printf_ratelimited(&rl, LOG_WARN, "storm again");
	test_log_peek(buf, sizeof(buf));
	assert_non_null(strstr(buf, "15 similar messages suppressed"));
	assert_non_null(strstr(buf, "storm again"));
	assert_int_equal(count_lines(buf, "storm "), LOG_RATELIMIT_BURST + 1);
}

static void test_ratelimit_macro_per_call_site(void **state)
{
	char buf[16384];

	for (int i = 0; i < 50; i++) {
		pr_warn_ratelimited("site A %d", i);
		pr_warn_ratelimited("site B %d", i);
	}
	test_log_peek(buf, sizeof(buf));
	assert_int_equal(count_lines(buf, "site A"), LOG_RATELIMIT_BURST);
	assert_int_equal(count_lines(buf, "site B"), LOG_RATELIMIT_BURST);
}

static void test_ratelimit_below_level_costs_nothing(void **state)
{
	struct log_ratelimit rl = { 0 };
	enum log_level saved = log_level;
	char buf[256];

	log_level = LOG_WARN;
	for (int i = 0; i < 50; i++)
		log_printf_ratelimited(&rl, LOG_DEBUG, "quiet %d", i);
	log_level = saved;
	assert_int_equal(atomic_load(&rl.suppressed), 0);
	assert_null(strstr(test_log_peek(buf, sizeof(buf)), "quiet"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ratelimit_burst_then_silence, test_log_setup,
						test_log_teardown),
		cmocka_unit_test_setup_teardown(test_ratelimit_next_interval_says_how_many,
						test_log_setup, test_log_teardown),
		cmocka_unit_test_setup_teardown(test_ratelimit_macro_per_call_site, test_log_setup,
						test_log_teardown),
		cmocka_unit_test_setup_teardown(test_ratelimit_below_level_costs_nothing,
						test_log_setup, test_log_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
