// SPDX-License-Identifier: MIT
/*
 * vmm/cli.c: `ptvm run` option parsing. Every option and its defaults, the --memory forms,
 * and each bad input: an error return with exactly one logged line that names the option
 * (or the stray word) at fault.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmm/cli.h"
#include "vmm/device_table.h"
#include "vmm/log.h"
#if defined(__x86_64__)
#include "vmm/x86/boot.h"
#else
/* arm64 has one boot protocol, "auto" (its value 0); x86's names are refused */
#define BOOT_PROTOCOL_AUTO 0
#endif

#include "test_helpers.h"
#include "vmm/util.h"

#define MAX_ARGS 32

static struct vm_config cfg;
static char logbuf[4096];
static char words[1024]; /* the words of the last parse, for failure messages */

/* Parses "run" followed by the NULL-terminated words; the log lands in logbuf. */
static int parse_argv(const char *first, va_list ap)
{
	char *argv[MAX_ARGS + 1];
	int argc = 0, ret;

	assert_int_equal(test_log_capture_start(), 0);
	argv[argc++] = (char *)"run";
	snprintf(words, sizeof(words), "run");
	for (const char *a = first; a; a = va_arg(ap, const char *)) {
		size_t len = strlen(words);

		assert_true(argc < MAX_ARGS);
		argv[argc++] = (char *)a;
		snprintf(words + len, sizeof(words) - len, " '%s'", a);
	}
	argv[argc] = NULL;
	ret = cli_parse_run(argc, argv, &cfg);
	test_log_peek(logbuf, sizeof(logbuf));
	test_log_capture_stop();
	return ret;
}

static int parse(const char *first, ...)
{
	va_list ap;
	int ret;

	va_start(ap, first);
	ret = parse_argv(first, ap);
	va_end(ap);
	return ret;
}

static unsigned log_lines(void)
{
	unsigned n = 0;

	for (const char *p = logbuf; *p; p++)
		n += *p == '\n';
	return n;
}

/* The words after "run" must be refused with one error line that contains `culprit`. */
static void expect_refused(const char *culprit, const char *first, ...)
{
	va_list ap;
	int ret;

	va_start(ap, first);
	ret = parse_argv(first, ap);
	va_end(ap);
	if (ret != -EINVAL || log_lines() != 1 || !strstr(logbuf, "error") ||
	    !strstr(logbuf, culprit))
		print_error("%s: expected one error naming '%s', got %d and log:\n%s", words,
			    culprit, ret, logbuf);
	assert_int_equal(ret, -EINVAL);
	assert_int_equal(log_lines(), 1);
	assert_non_null(strstr(logbuf, "error"));
	assert_non_null(strstr(logbuf, culprit));
}

static void expect_ok(int ret)
{
	if (ret)
		print_error("%s: log:\n%s", words, logbuf);
	assert_int_equal(ret, 0);
	assert_string_equal(logbuf, "");
}

static void test_defaults(void **state)
{
	expect_ok(parse("--kernel", "vmlinux", NULL));
	assert_string_equal(cfg.kernel, "vmlinux");
	assert_null(cfg.initrd);
	assert_null(cfg.cmdline);
	assert_int_equal(cfg.mem_size, 512ULL << 20);
	assert_int_equal(cfg.mem_size, CLI_DEFAULT_MEMORY);
	assert_false(cfg.hugepages);
	assert_int_equal(cfg.nr_cpus, 1);
	assert_int_equal(cfg.serial, SERIAL_STDIO);
	assert_null(cfg.serial_path);
	assert_false(cfg.debug_exit);
	assert_int_equal(cfg.boot_protocol, BOOT_PROTOCOL_AUTO);
	assert_int_equal(cfg.log_level, LOG_WARN);
}

static void test_every_option(void **state)
{
	expect_ok(parse("--kernel", "/k/bzImage", "--initrd", "/k/initrd.img", "--cmdline",
			"console=ttyS0 quiet", "--memory", "1G", "--cpus", "4", "--serial",
			"file=/tmp/com1.log", "--log-level", "debug", "--debug-exit",
#if defined(__x86_64__)
			"--boot-protocol", "linux64",
#endif
			NULL));
	assert_string_equal(cfg.kernel, "/k/bzImage");
	assert_string_equal(cfg.initrd, "/k/initrd.img");
	assert_string_equal(cfg.cmdline, "console=ttyS0 quiet");
	assert_int_equal(cfg.mem_size, SZ_1G);
	assert_false(cfg.hugepages);
	assert_int_equal(cfg.nr_cpus, 4);
	assert_int_equal(cfg.serial, SERIAL_FILE);
	assert_string_equal(cfg.serial_path, "/tmp/com1.log");
	assert_int_equal(cfg.log_level, LOG_DEBUG);
	assert_true(cfg.debug_exit);
#if defined(__x86_64__)
	assert_int_equal(cfg.boot_protocol, BOOT_PROTOCOL_LINUX64);
#endif

	/* the --opt=value spelling, and the last of a repeated option wins */
	expect_ok(parse("--kernel=a", "--cpus=2", "--memory=256M", "--cmdline=", "--kernel=b",
			"--log-level=error",
#if defined(__x86_64__)
			"--boot-protocol=pvh",
#else
			"--boot-protocol=auto",
#endif
			"--serial=off", NULL));
	assert_string_equal(cfg.kernel, "b");
	assert_int_equal(cfg.nr_cpus, 2);
	assert_int_equal(cfg.mem_size, 256 * SZ_1M);
	assert_string_equal(cfg.cmdline, "");
	assert_int_equal(cfg.log_level, LOG_ERR);
#if defined(__x86_64__)
	assert_int_equal(cfg.boot_protocol, BOOT_PROTOCOL_PVH);
#endif
	assert_int_equal(cfg.serial, SERIAL_OFF);

	/* every parse starts from the defaults again */
	expect_ok(parse("--kernel", "k", NULL));
	assert_int_equal(cfg.nr_cpus, 1);
	assert_null(cfg.cmdline);
	assert_false(cfg.debug_exit);
	assert_int_equal(cfg.serial, SERIAL_STDIO);
}

static void test_help(void **state)
{
	int saved = dup(STDOUT_FILENO), null = open("/dev/null", O_WRONLY | O_CLOEXEC);
	int r1, r2;

	/* the usage text goes to stdout: keep it out of the test output */
	assert_true(saved >= 0 && null >= 0);
	fflush(stdout);
	dup2(null, STDOUT_FILENO);
	/* help wins even without --kernel; the caller exits 0 */
	r1 = parse("--help", NULL);
	r2 = parse("--kernel", "k", "-h", NULL);
	fflush(stdout);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	close(null);
	assert_int_equal(r1, 1);
	assert_int_equal(r2, 1);
	assert_string_equal(logbuf, "");
}

static void test_memory_forms(void **state)
{
	static const struct {
		const char *arg;
		uint64_t size;
		bool huge;
		int prefault; /* -1: auto */
	} good[] = {
		{ "512M", 512 * SZ_1M, false, -1 },
		{ "1G", SZ_1G, false, -1 },
		{ "1g", SZ_1G, false, -1 },
		{ "2048M", 2 * SZ_1G, false, -1 },
		{ "4G", 4 * SZ_1G, false, -1 },
		{ "2M", 2 * SZ_1M, false, -1 }, /* the minimum */
		{ "1GiB", SZ_1G, false, -1 },
		{ "3145728K", 3 * SZ_1G, false, -1 },
		{ "1073741824", SZ_1G, false, -1 },
		{ "size=1G", SZ_1G, false, -1 },
		{ "size=1G,hugepages=on", SZ_1G, true, -1 },
		{ "hugepages=on,size=2G", 2 * SZ_1G, true, -1 },
		{ "size=1G,hugepages=off", SZ_1G, false, -1 },
		{ "512M,hugepages=on", 512 * SZ_1M, true, -1 },
		{ "size=1G,prefault-threads=4", SZ_1G, false, 4 },
		{ "size=1G,prefault-threads=0", SZ_1G, false, 0 },
		{ "prefault-threads=8,2G,hugepages=on", 2 * SZ_1G, true, 8 },
		{ "1G,prefault-threads=3,prefault-threads=auto", SZ_1G, false, -1 },
	};

	for (unsigned i = 0; i < ARRAY_SIZE(good); i++) {
		expect_ok(parse("--kernel", "k", "--memory", good[i].arg, NULL));
		assert_int_equal(cfg.mem_size, good[i].size);
		assert_int_equal(cfg.hugepages, good[i].huge);
		assert_int_equal(cfg.prefault_threads, good[i].prefault);
	}
	/* the helper on its own */
	{
		uint64_t size = 0;
		bool huge = true;
		int prefault = 5;

		assert_int_equal(cli_parse_memory("size=64M", &size, &huge, &prefault), 0);
		assert_int_equal(size, 64 * SZ_1M);
		assert_false(huge);
		assert_int_equal(prefault, -1);
	}
}

static void test_memory_refused(void **state)
{
	static const char *const bad[] = {
		"0",
		"0M",
		"size=0",
		"lots",
		"1X",
		"",
		"-1G",
		"1.5G",
		"G",
		"size=",
		"size=abc",
		"hugepages=on",
		"size=1G,hugepages=maybe",
		"size=1G,color=red",
		"size=1G,prefault-threads=9",
		"size=1G,prefault-threads=-1",
		"size=1G,prefault-threads=",
		"size=1G,prefault-threads=two",
		"size=1G,prefault-threads=2x",
		"size=1G,prefault-threads= -18446744073709551614",
		"size=1G,prefault-threads=+2",
		"1G,,junk",
		"1M",
		"1048575",
		"4096",
		"99999999999999999999",
		"128T",
		"16384P",
		/* KVM takes memory in whole pages: not a multiple of 4 KiB is refused here, by
		 * name, not later by KVM_SET_USER_MEMORY_REGION */
		"3000001",
		"2097153",
	};

	for (unsigned i = 0; i < ARRAY_SIZE(bad); i++)
		expect_refused("--memory", "--kernel", "k", "--memory", bad[i], NULL);
}

static void test_cpus(void **state)
{
	static const char *const bad[] = {
		"0", "junk", "-1", "", "2x", "4097", "100000", "0x2", "99999999999999999999", "-0",
		/* strtoul skips blanks and takes a sign: a minus behind a blank wrapped to 1 */
		"+2", " 2", " -18446744073709551615", "\t3"
	};

	expect_ok(parse("--kernel", "k", "--cpus", "1", NULL));
	assert_int_equal(cfg.nr_cpus, 1);
	expect_ok(parse("--kernel", "k", "--cpus", "2", NULL));
	assert_int_equal(cfg.nr_cpus, 2);
	expect_ok(parse("--kernel", "k", "--cpus", "4096", NULL));
	assert_int_equal(cfg.nr_cpus, 4096);
	for (unsigned i = 0; i < ARRAY_SIZE(bad); i++)
		expect_refused("--cpus", "--kernel", "k", "--cpus", bad[i], NULL);
}

static void test_serial(void **state)
{
	static const char *const bad[] = { "file=", "file", "tcp:1234", "", "STDIO", "pty" };

	expect_ok(parse("--kernel", "k", "--serial", "stdio", NULL));
	assert_int_equal(cfg.serial, SERIAL_STDIO);
	expect_ok(parse("--kernel", "k", "--serial", "off", NULL));
	assert_int_equal(cfg.serial, SERIAL_OFF);
	expect_ok(parse("--kernel", "k", "--serial", "file=/var/log/com1", NULL));
	assert_int_equal(cfg.serial, SERIAL_FILE);
	assert_string_equal(cfg.serial_path, "/var/log/com1");
	/* a path with '=' and ',' in it is taken whole */
	expect_ok(parse("--kernel", "k", "--serial", "file=/tmp/a=b,c", NULL));
	assert_string_equal(cfg.serial_path, "/tmp/a=b,c");
	for (unsigned i = 0; i < ARRAY_SIZE(bad); i++)
		expect_refused("--serial", "--kernel", "k", "--serial", bad[i], NULL);
}

static void test_boot_protocol_and_log_level(void **state)
{
	static const struct {
		const char *arg;
		unsigned p;
	} protos[] = {
		{ "auto", BOOT_PROTOCOL_AUTO },
#if defined(__x86_64__)
		{ "pvh", BOOT_PROTOCOL_PVH },
		{ "linux64", BOOT_PROTOCOL_LINUX64 },
#endif
	};
	static const struct {
		const char *arg;
		enum log_level l;
	} levels[] = { { "error", LOG_ERR },
		       { "warn", LOG_WARN },
		       { "info", LOG_INFO },
		       { "debug", LOG_DEBUG } };

	for (unsigned i = 0; i < ARRAY_SIZE(protos); i++) {
		expect_ok(parse("--kernel", "k", "--boot-protocol", protos[i].arg, NULL));
		assert_int_equal(cfg.boot_protocol, protos[i].p);
	}
	for (unsigned i = 0; i < ARRAY_SIZE(levels); i++) {
		expect_ok(parse("--kernel", "k", "--log-level", levels[i].arg, NULL));
		assert_int_equal(cfg.log_level, levels[i].l);
	}
	/* parsing does not change the process's level; main applies cfg.log_level */
	assert_int_equal(log_level, LOG_WARN);
	expect_refused("--boot-protocol", "--kernel", "k", "--boot-protocol", "linux32", NULL);
#if !defined(__x86_64__)
	expect_refused("--boot-protocol", "--kernel", "k", "--boot-protocol", "pvh", NULL);
	expect_refused("--boot-protocol", "--kernel", "k", "--boot-protocol", "linux64", NULL);
#endif
	expect_refused("--boot-protocol", "--kernel", "k", "--boot-protocol", "", NULL);
	expect_refused("--log-level", "--kernel", "k", "--log-level", "verbose", NULL);
	expect_refused("--log-level", "--kernel", "k", "--log-level", "3", NULL);
}

static void test_unknown_missing_stray(void **state)
{
	/* unknown options */
	expect_refused("--frobnicate", "--kernel", "k", "--frobnicate", NULL);
	expect_refused("--frobnicate=1", "--frobnicate=1", "--kernel", "k", NULL);
	expect_refused("-x", "--kernel", "k", "-x", NULL);
	expect_refused("--debug-exit=1", "--kernel", "k", "--debug-exit=1", NULL);
	/* a value missing at the end */
	expect_refused("--kernel", "--kernel", NULL);
	expect_refused("--memory", "--kernel", "k", "--memory", NULL);
	expect_refused("--cpus", "--kernel", "k", "--cpus", NULL);
	expect_refused("--cmdline", "--kernel", "k", "--cmdline", NULL);
	expect_refused("--serial", "--kernel", "k", "--serial", NULL);
	expect_refused("--initrd", "--kernel", "k", "--initrd", NULL);
	/* stray words, before and after the options */
	expect_refused("extra", "--kernel", "k", "extra", NULL);
	expect_refused("extra", "extra", "--kernel", "k", NULL);
	expect_refused("vmlinux", "--kernel", "k", "--cpus", "2", "vmlinux", NULL);
	/* the first error stops the parse: one line, naming the first culprit */
	expect_refused("--cpus", "--kernel", "k", "--cpus", "0", "--memory", "0", NULL);
}

/* --seccomp, --jail, --user: parsed here, checked by vmm/sandbox.c and vmm/jail.c */
static void test_sandbox_options(void **state)
{
	static const struct {
		const char *arg;
		enum sandbox_seccomp mode;
	} modes[] = {
		{ "on", SANDBOX_SECCOMP_ON },
		{ "log", SANDBOX_SECCOMP_LOG },
		{ "off", SANDBOX_SECCOMP_OFF },
	};

	expect_ok(parse("--kernel", "k", NULL));
	/* on by default; off in a sanitizer build, whose runtime needs more than any list */
	assert_int_equal(cfg.seccomp, SANDBOX_SECCOMP_DEFAULT);
	assert_null(cfg.jail);
	assert_null(cfg.user);
	for (unsigned i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		expect_ok(parse("--kernel", "k", "--seccomp", modes[i].arg, NULL));
		assert_int_equal(cfg.seccomp, modes[i].mode);
	}
	expect_ok(parse("--kernel", "k", "--jail", "/srv/jail", "--user", "ptvm:kvm", NULL));
	assert_string_equal(cfg.jail, "/srv/jail");
	assert_string_equal(cfg.user, "ptvm:kvm");
	expect_refused("--seccomp", "--kernel", "k", "--seccomp", "strict", NULL);
	expect_refused("--seccomp", "--kernel", "k", "--seccomp", "", NULL);
	expect_refused("--seccomp", "--kernel", "k", "--seccomp", NULL);
	expect_refused("--jail", "--kernel", "k", "--jail", NULL);
	expect_refused("--user", "--kernel", "k", "--user", NULL);
}

static void test_no_kernel(void **state)
{
	expect_refused("--kernel", NULL, NULL);
	expect_refused("--kernel", "--memory", "1G", "--cpus", "2", NULL);
	expect_refused("--kernel", "--initrd", "i", NULL);
}

/* Devices come from the table: in command-line order, each value checked by its parser. */
static void test_devices_in_order(void **state)
{
	expect_ok(parse("--kernel", "k", "--net", "tap=t0", "--disk", "path=a.img", "--rng",
			"--disk", "path=b.img,readonly=on", "--balloon", "target=256M", "--console",
			"virtio", "--device", "vfio=0000:01:00.0", NULL));
	assert_int_equal(cfg.nr_devices, 7);
	assert_ptr_equal(cfg.devices[0].type, device_type_find("net"));
	assert_string_equal(cfg.devices[0].arg, "tap=t0");
	assert_ptr_equal(cfg.devices[1].type, device_type_find("disk"));
	assert_ptr_equal(cfg.devices[2].type, device_type_find("rng"));
	assert_string_equal(cfg.devices[2].arg, ""); /* an optional value left out */
	assert_string_equal(cfg.devices[3].arg, "path=b.img,readonly=on");
	assert_ptr_equal(cfg.devices[5].type, device_type_find("console"));
	assert_ptr_equal(cfg.devices[6].type, device_type_find("device"));
	assert_int_equal(cli_count_devices(&cfg, device_type_find("disk")), 2);
	assert_int_equal(cli_count_devices(&cfg, device_type_find("balloon")), 1);
	/* the optional value as the next word */
	expect_ok(parse("--kernel", "k", "--rng", "src=/dev/random", NULL));
	assert_string_equal(cfg.devices[0].arg, "src=/dev/random");
}

static void test_devices_refused(void **state)
{
	expect_refused("--console", "--kernel", "k", "--console", "serial", NULL);
	expect_refused("--console", "--kernel", "k", "--console", "virtio", "--console", "virtio",
		       NULL);
	expect_refused("--rng", "--kernel", "k", "--rng", "--rng", NULL);
	expect_refused("--device", "--kernel", "k", "--device", "pci=0000:01:00.0", NULL);
	expect_refused("--disk", "--kernel", "k", "--disk", "readonly=on", NULL);
	expect_refused("--net", "--kernel", "k", "--net", "mac=zz", NULL);
	expect_refused("--disk", "--kernel", "k", "--disk", "path=1", "--disk", "path=2", "--disk",
		       "path=3", "--disk", "path=4", "--disk", "path=5", "--disk", "path=6",
		       "--disk", "path=7", "--disk", "path=8", "--disk", "path=9", NULL);
	expect_refused("--frobnicate", "--kernel", "k", "--frobnicate", NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_every_option),
		cmocka_unit_test(test_help),
		cmocka_unit_test(test_memory_forms),
		cmocka_unit_test(test_memory_refused),
		cmocka_unit_test(test_cpus),
		cmocka_unit_test(test_serial),
		cmocka_unit_test(test_boot_protocol_and_log_level),
		cmocka_unit_test(test_unknown_missing_stray),
		cmocka_unit_test(test_sandbox_options),
		cmocka_unit_test(test_no_kernel),
		cmocka_unit_test(test_devices_in_order),
		cmocka_unit_test(test_devices_refused),
	};

	return cmocka_run_group_tests_name("cli_parse", tests, NULL, NULL);
}
