// SPDX-License-Identifier: MIT
/* vmm/util.c: parse_size (units, overflow, junk) and read_file. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmm/util.h"

static void test_parse_size_units(void **state)
{
	static const struct {
		const char *s;
		uint64_t v;
	} good[] = {
		{ "0", 0 },
		{ "1", 1 },
		{ "4096", 4096 },
		{ "2K", 2048 },
		{ "2k", 2048 },
		{ "512M", 512ULL << 20 },
		{ "512m", 512ULL << 20 },
		{ "1G", 1ULL << 30 },
		{ "3g", 3ULL << 30 },
		{ "1T", 1ULL << 40 },
		{ "1KiB", 1024 },
		{ "1MB", 1ULL << 20 },
		{ "2GiB", 2ULL << 30 },
		{ "18446744073709551615", UINT64_MAX },
		{ "16777215T", 16777215ULL << 40 },
		{ "17179869183G", 17179869183ULL << 30 },
		/* decimal, as a user means it: a leading zero is no octal prefix */
		{ "010M", 10ULL << 20 },
		{ "0512M", 512ULL << 20 },
		{ "08M", 8ULL << 20 },
	};

	for (unsigned i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		uint64_t v = 0xdead;
		int ret = parse_size(good[i].s, &v);

		if (ret || v != good[i].v)
			print_error("parse_size(\"%s\") = %d, %llu\n", good[i].s, ret,
				    (unsigned long long)v);
		assert_int_equal(ret, 0);
		assert_int_equal(v, good[i].v);
	}
}

static void test_parse_size_junk(void **state)
{
	static const char *const bad[] = {
		"",
		"M",
		"-1",
		"-1G",
		" 1",
		"+1",
		"1 G",
		"1G ",
		"1GG",
		"1Gi",
		"1iB",
		"1.5G",
		"1e3",
		"abc",
		"1P",
		"1X",
		"1,5G",
		/* overflow: the number itself, and the number times the unit */
		"18446744073709551616",
		"99999999999999999999999",
		"16777216T",
		"17179869184G",
		"18014398509481984K",
	};

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t v = 0xdead;
		int ret = parse_size(bad[i], &v);

		if (ret != -EINVAL)
			print_error("parse_size(\"%s\") = %d, %llu\n", bad[i], ret,
				    (unsigned long long)v);
		assert_int_equal(ret, -EINVAL);
		assert_int_equal(v, 0xdead); /* untouched on error */
	}
	{
		uint64_t v = 0xdead;

		assert_int_equal(parse_size(NULL, &v), -EINVAL);
		assert_int_equal(v, 0xdead);
	}
}

static void test_read_file(void **state)
{
	char path[] = "/tmp/ptvm-util-test-XXXXXX";
	static uint8_t big[300000];
	uint8_t *buf = NULL;
	size_t len = 1;
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	/* empty: a valid (freeable) buffer of length 0 */
	assert_int_equal(read_file(path, &buf, &len), 0);
	assert_int_equal(len, 0);
	assert_non_null(buf);
	free(buf);
	/* contents larger than one read */
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7 + (i >> 9));
	assert_int_equal(write(fd, big, sizeof(big)), (ssize_t)sizeof(big));
	assert_int_equal(read_file(path, &buf, &len), 0);
	assert_int_equal(len, sizeof(big));
	assert_memory_equal(buf, big, sizeof(big));
	free(buf);
	close(fd);
	unlink(path);

	/* errors are -errno, and leave the outputs alone */
	buf = (uint8_t *)"untouched";
	assert_int_equal(read_file(path, &buf, &len), -ENOENT);
	assert_int_equal(read_file("/tmp", &buf, &len), -EINVAL);
	assert_int_equal(read_file("/dev/null", &buf, &len), -EINVAL);
	assert_int_equal(read_file("", &buf, &len), -ENOENT);
	assert_string_equal((char *)buf, "untouched");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_size_units),
		cmocka_unit_test(test_parse_size_junk),
		cmocka_unit_test(test_read_file),
	};

	return cmocka_run_group_tests_name("util_size", tests, NULL, NULL);
}
