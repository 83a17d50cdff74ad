// SPDX-License-Identifier: MIT
/*
 * virtio-net without a datapath: the --net option, MAC parsing and generation, and which
 * features and tap offloads follow from a (fake) TUNSETOFFLOAD probe and the driver's acks.
 */
#include <errno.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "devices/virtio_net.h"
#include "vmm/log.h"

#include "test_helpers.h"

#define BIT(n) (1ULL << (n))

static void test_parse_tap_and_mac(void **state)
{
	struct virtio_net_options o;

	assert_int_equal(virtio_net_parse("tap=tap0", &o), 0);
	assert_string_equal(o.tap, "tap0");
	assert_false(o.mac_set);

	assert_int_equal(virtio_net_parse("tap=ptvm-tap15,mac=02:AB:cd:00:11:ff", &o), 0);
	assert_string_equal(o.tap, "ptvm-tap15");
	assert_true(o.mac_set);
	assert_memory_equal(o.mac, ((uint8_t[]){ 0x02, 0xab, 0xcd, 0x00, 0x11, 0xff }), 6);

	/* order does not matter, '-' separators too */
	assert_int_equal(virtio_net_parse("mac=52-54-00-01-02-03,tap=t", &o), 0);
	assert_string_equal(o.tap, "t");
	assert_memory_equal(o.mac, ((uint8_t[]){ 0x52, 0x54, 0x00, 0x01, 0x02, 0x03 }), 6);
}

static void test_parse_rejects_bad_specs(void **state)
{
	static const struct {
		const char *spec, *culprit;
	} bad[] = {
		{ "", "--net" },
		{ "mac=52:54:00:01:02:03", "missing tap" },
		{ "tap=", "tap=" },
		{ "tap=abcdefghijklmnop", "abcdefghijklmnop" }, /* 16 chars: IFNAMSIZ - 1 is 15 */
		{ "tap=a/b", "a/b" },
		{ "tap=t0,tap=t1", "given twice" },
		{ "tap=t0,mac=01:00:5e:00:00:01", "01:00:5e:00:00:01" }, /* multicast */
		{ "tap=t0,mac=00:00:00:00:00:00", "00:00:00:00:00:00" },
		{ "tap=t0,mac=52:54:00:01:02", "52:54:00:01:02" },
		{ "tap=t0,mac=52:54:00:01:02:03:04", "52:54:00:01:02:03:04" },
		{ "tap=t0,mac=52:54:0g:01:02:03", "52:54:0g:01:02:03" },
		{ "tap=t0,mac=52:54-00:01:02:03", "52:54-00:01:02:03" },
		{ "tap=t0,mac= 2:54:00:01:02:03", " 2:54:00:01:02:03" },
		{ "tap=t0,queues=2", "queues" },
		{ "tap0", "tap0" },
	};
	struct virtio_net_options o;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(virtio_net_parse(bad[i].spec, &o), -EINVAL);
		assert_log_one_line(bad[i].culprit, NULL);
	}
}

static void test_generated_mac_is_local_unicast_and_random(void **state)
{
	uint8_t a[6], b[6];
	int differ = 0;

	for (int i = 0; i < 8; i++) {
		virtio_net_generate_mac(a);
		virtio_net_generate_mac(b);
		assert_int_equal(a[0], 0x52);
		assert_int_equal(a[1], 0x54);
		assert_int_equal(a[2], 0x00);
		assert_int_equal(a[0] & 1, 0); /* unicast */
		assert_int_equal(a[0] & 2, 2); /* locally administered */
		differ += memcmp(a, b, 6) != 0;
	}
	/* 24 random bits: eight equal pairs in a row would mean no randomness at all */
	assert_true(differ > 0);
}

static void test_features_follow_tap_probe(void **state)
{
	const uint64_t always =
	    BIT(VIRTIO_NET_F_MAC) | BIT(VIRTIO_NET_F_STATUS) | BIT(VIRTIO_NET_F_MRG_RXBUF);
	const uint64_t csum = BIT(VIRTIO_NET_F_CSUM) | BIT(VIRTIO_NET_F_GUEST_CSUM);
	const uint64_t tso4 = BIT(VIRTIO_NET_F_HOST_TSO4) | BIT(VIRTIO_NET_F_GUEST_TSO4);
	const uint64_t tso6 = BIT(VIRTIO_NET_F_HOST_TSO6) | BIT(VIRTIO_NET_F_GUEST_TSO6);
	uint64_t f;

	assert_int_equal(virtio_net_features(0), always);
	assert_int_equal(virtio_net_features(TUN_F_CSUM), always | csum);
	assert_int_equal(virtio_net_features(TUN_F_CSUM | TUN_F_TSO4), always | csum | tso4);
	assert_int_equal(virtio_net_features(TUN_F_CSUM | TUN_F_TSO6), always | csum | tso6);
	f = virtio_net_features(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_UFO);
	assert_int_equal(f, always | csum | tso4 | tso6);
	/* TSO without checksum offload cannot be: the tap refuses it, so never offered */
	assert_int_equal(virtio_net_features(TUN_F_TSO4 | TUN_F_TSO6), always);
	/* never a control queue, multiqueue or UFO */
	f = virtio_net_features(~0u);
	assert_int_equal(f & (BIT(VIRTIO_NET_F_CTRL_VQ) | BIT(VIRTIO_NET_F_MQ) |
			      BIT(VIRTIO_NET_F_GUEST_UFO) | BIT(VIRTIO_NET_F_HOST_UFO)),
			 0);
}

static void test_tap_offloads_follow_guest_acks(void **state)
{
	/* host-side (HOST_*, CSUM) acks say what the guest sends: nothing to set on the tap */
	assert_int_equal(virtio_net_tap_offloads(BIT(VIRTIO_NET_F_CSUM) |
						 BIT(VIRTIO_NET_F_HOST_TSO4) |
						 BIT(VIRTIO_NET_F_HOST_TSO6)),
			 0);
	assert_int_equal(virtio_net_tap_offloads(BIT(VIRTIO_NET_F_GUEST_CSUM)), TUN_F_CSUM);
	assert_int_equal(
	    virtio_net_tap_offloads(BIT(VIRTIO_NET_F_GUEST_CSUM) | BIT(VIRTIO_NET_F_GUEST_TSO4)),
	    TUN_F_CSUM | TUN_F_TSO4);
	assert_int_equal(virtio_net_tap_offloads(BIT(VIRTIO_NET_F_GUEST_CSUM) |
						 BIT(VIRTIO_NET_F_GUEST_TSO4) |
						 BIT(VIRTIO_NET_F_GUEST_TSO6)),
			 TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6);
	/* a driver acking TSO without GUEST_CSUM (against the spec) gets no offloads at all */
	assert_int_equal(
	    virtio_net_tap_offloads(BIT(VIRTIO_NET_F_GUEST_TSO4) | BIT(VIRTIO_NET_F_GUEST_TSO6)),
	    0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_tap_and_mac),
		cmocka_unit_test(test_parse_rejects_bad_specs),
		cmocka_unit_test(test_generated_mac_is_local_unicast_and_random),
		cmocka_unit_test(test_features_follow_tap_probe),
		cmocka_unit_test(test_tap_offloads_follow_guest_acks),
	};

	return cmocka_run_group_tests(tests, test_log_setup, test_log_teardown);
}
