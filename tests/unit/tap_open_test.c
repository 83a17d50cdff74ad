// SPDX-License-Identifier: MIT
/*
 * tap_open against the kernel's real tun driver, inside a network namespace of the test's
 * own (unshare(CLONE_NEWNET)) so that nothing shows on the host. Needs /dev/net/tun and
 * CAP_NET_ADMIN (root): without them every test skips, saying which is missing.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "devices/tap.h"
#include "vmm/log.h"

#include "test_helpers.h"

static char skip_reason[160];

static void require_tun(void)
{
	if (skip_reason[0]) {
		print_message("skipped: %s\n", skip_reason);
		skip();
	}
}

static short if_flags(const char *name)
{
	struct ifreq ifr = { 0 };
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(s >= 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	assert_int_equal(ioctl(s, SIOCGIFFLAGS, &ifr), 0);
	close(s);
	return ifr.ifr_flags;
}

/*
 * A persistent tap (or tun) made the way `ip tuntap add [user UID]` does (owner -1: none);
 * the fd is closed again.
 */
static void make_persistent_owned(const char *name, short kind, int persist, int owner)
{
	struct ifreq ifr = { 0 };
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);

	assert_true(fd >= 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ifr.ifr_flags = kind | IFF_NO_PI;
	assert_int_equal(ioctl(fd, TUNSETIFF, &ifr), 0);
	if (owner >= 0)
		assert_int_equal(ioctl(fd, TUNSETOWNER, owner), 0);
	assert_int_equal(ioctl(fd, TUNSETPERSIST, persist), 0);
	close(fd);
}

static void make_persistent(const char *name, short kind, int persist)
{
	make_persistent_owned(name, kind, persist, -1);
}

static void test_create_brings_up_and_goes_away(void **state)
{
	struct ifreq ifr = { 0 };
	struct tap tap;
	int hdr = 0;

	require_tun();
	assert_int_equal(if_nametoindex("ptvmt0"), 0);
	assert_int_equal(tap_open("ptvmt0", &tap), 0);
	assert_true(tap.created);
	assert_string_equal(tap.name, "ptvmt0");
	assert_true(if_nametoindex("ptvmt0") != 0);
	assert_true(if_flags("ptvmt0") & IFF_UP);
	assert_true(fcntl(tap.fd, F_GETFL) & O_NONBLOCK);
	assert_true(fcntl(tap.fd, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(ioctl(tap.fd, TUNGETVNETHDRSZ, &hdr), 0);
	assert_int_equal(hdr, TAP_VNET_HDR_SIZE);
	assert_int_equal(ioctl(tap.fd, TUNGETIFF, &ifr), 0);
	assert_int_equal(ifr.ifr_flags & (IFF_TAP | IFF_TUN | IFF_NO_PI | IFF_VNET_HDR),
			 IFF_TAP | IFF_NO_PI | IFF_VNET_HDR);
	tap_close(&tap);
	assert_int_equal(tap.fd, -1);
	/* not persistent: the kernel removed it with ptvm's fd */
	assert_int_equal(if_nametoindex("ptvmt0"), 0);
	tap_close(&tap); /* twice is harmless */
}

static void test_existing_tap_attached_and_left_alone(void **state)
{
	struct tap tap;

	require_tun();
	make_persistent("ptvmp0", IFF_TAP, 1);
	assert_false(if_flags("ptvmp0") & IFF_UP);
	assert_int_equal(tap_open("ptvmp0", &tap), 0);
	assert_false(tap.created);
	/* the user's interface: its state is theirs */
	assert_false(if_flags("ptvmp0") & IFF_UP);
	tap_close(&tap);
	assert_true(if_nametoindex("ptvmp0") != 0);
	make_persistent("ptvmp0", IFF_TAP, 0);
	assert_int_equal(if_nametoindex("ptvmp0"), 0);
}

static void test_name_pattern_expanded(void **state)
{
	struct tap tap;

	require_tun();
	assert_int_equal(tap_open("ptvmx%d", &tap), 0);
	assert_string_equal(tap.name, "ptvmx0");
	assert_true(if_nametoindex("ptvmx0") != 0);
	tap_close(&tap);
}

static void test_probe_offloads_of_a_real_tap(void **state)
{
	struct tap tap;
	unsigned o;

	require_tun();
	assert_int_equal(tap_open("ptvmo0", &tap), 0);
	o = tap_probe_offloads(tap.fd);
	/* every kernel since 2.6.27 takes these three */
	assert_int_equal(o & (TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6),
			 TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6);
	/* and refuses TSO without checksum offload, which the probe relies on */
	assert_int_equal(tap_set_offload(tap.fd, TUN_F_TSO4), -EINVAL);
	assert_int_equal(tap_set_offload(tap.fd, TUN_F_CSUM | TUN_F_TSO4), 0);
	tap_close(&tap);
}

static void test_errors_name_the_tap(void **state)
{
	struct tap tap, other;

	require_tun();
	test_log_forget();

	assert_int_equal(tap_open("lo", &tap), -EINVAL);
	assert_log_one_line("tap lo", "not a single-queue tap");

	make_persistent("ptvmtun0", IFF_TUN, 1);
	assert_int_equal(tap_open("ptvmtun0", &tap), -EINVAL);
	assert_log_one_line("tap ptvmtun0", "not a single-queue tap");
	make_persistent("ptvmtun0", IFF_TUN, 0);

	assert_int_equal(tap_open("ptvmb0", &other), 0);
	assert_int_equal(tap_open("ptvmb0", &tap), -EBUSY);
	assert_log_one_line("tap ptvmb0", "already attached");
	tap_close(&other);

	assert_int_equal(tap_open("abcdefghijklmnop", &tap), -EINVAL);
	assert_log_one_line("abcdefghijklmnop", "not a valid interface name");
	assert_int_equal(tap_open("", &tap), -EINVAL);
	assert_log_one_line("not a valid interface name", NULL);
	assert_int_equal(tap.fd, -1);
}

/* In a child without CAP_NET_ADMIN: the message says what permission is missing. */
static int open_without_net_admin(const char *name)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];
	struct tap tap;
	int status, ret;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		if (syscall(SYS_capget, &h, d))
			_exit(100);
		d[0].effective &= ~(1u << CAP_NET_ADMIN);
		if (syscall(SYS_capset, &h, d))
			_exit(100);
		ret = tap_open(name, &tap);
		fflush(test_log);
		_exit(-ret);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return -WEXITSTATUS(status);
}

static void test_permission_errors_say_what_to_do(void **state)
{
	require_tun();
	test_log_forget();

	assert_int_equal(open_without_net_admin("ptvmnew0"), -EPERM);
	assert_log_one_line("tap ptvmnew0", "creating it needs CAP_NET_ADMIN");
	assert_int_equal(if_nametoindex("ptvmnew0"), 0);

	/* a tap without owner is open to whoever may open /dev/net/tun; one of another user's
	 * is not */
	make_persistent_owned("ptvmroot0", IFF_TAP, 1, 12345);
	assert_int_equal(open_without_net_admin("ptvmroot0"), -EPERM);
	assert_log_one_line("tap ptvmroot0", "not permitted to attach");
	make_persistent("ptvmroot0", IFF_TAP, 0);
}

static int group_setup(void **state)
{
	int fd;

	assert_int_equal(test_log_capture_start(), 0);
	/* a namespace of our own: interfaces made here never appear on the host */
	if (unshare(CLONE_NEWNET) < 0) {
		snprintf(skip_reason, sizeof(skip_reason),
			 "unshare(CLONE_NEWNET) failed (%s): needs CAP_SYS_ADMIN", strerror(errno));
		return 0;
	}
	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		snprintf(skip_reason, sizeof(skip_reason), "cannot open /dev/net/tun: %s",
			 strerror(errno));
		return 0;
	}
	close(fd);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_brings_up_and_goes_away),
		cmocka_unit_test(test_existing_tap_attached_and_left_alone),
		cmocka_unit_test(test_name_pattern_expanded),
		cmocka_unit_test(test_probe_offloads_of_a_real_tap),
		cmocka_unit_test(test_errors_name_the_tap),
		cmocka_unit_test(test_permission_errors_say_what_to_do),
	};

	return cmocka_run_group_tests(tests, group_setup, NULL);
}
