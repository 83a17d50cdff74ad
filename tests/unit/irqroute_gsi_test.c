// SPDX-License-Identifier: MIT
/*
 * vmm/irqroute.c against a fake KVM: MSI routes come and go (a guest toggling MSI-X on a
 * passthrough device) without running out of GSIs, the table KVM is given is always one KVM
 * accepts (GSIs below KVM_MAX_IRQ_ROUTES, at most that many entries, one entry per MSI GSI),
 * and a refused table leaves nothing behind.
 *
 * The fake is __ptvm_ioctl itself, defined here so the linker never pulls vmm/ioctl.o: it
 * checks KVM_SET_GSI_ROUTING the way virt/kvm/irqchip.c does and keeps the last table.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "test_helpers.h"
#include "vmm/arch.h"
#include "vmm/ioctl.h"
#include "vmm/vm.h"

#define KVM_MAX_ROUTES 4096 /* KVM_MAX_IRQ_ROUTES on x86 and arm64 */

/* the architecture's irqchip routes (x86: IOAPIC 0-23, PIC 0-15 but the cascade = 39; arm64:
 * 96 SPIs) and the first GSI above them */
static unsigned irqchip_routes, first_msi_gsi;

static struct {
	unsigned nr;
	struct kvm_irq_routing_entry e[KVM_MAX_ROUTES];
	unsigned sets;
	int fail_next;	 /* -errno for the next KVM_SET_GSI_ROUTING */
	int msi_devid;	 /* KVM_CHECK_EXTENSION(KVM_CAP_MSI_DEVID) on the VM: 1 with an ITS */
	unsigned checks; /* KVM_CHECK_EXTENSION calls */
} kvm;

int __ptvm_ioctl(int fd, unsigned long cmd, const char *name, unsigned long arg, int quiet)
{
	const struct kvm_irq_routing *r = (const void *)arg;

	if (cmd == KVM_CHECK_EXTENSION)
		kvm.checks++;
	if (cmd == KVM_CHECK_EXTENSION && arg == KVM_CAP_MSI_DEVID)
		return kvm.msi_devid;
	if (cmd != KVM_SET_GSI_ROUTING)
		return 0; /* irqfds and ioeventfds are not what this test is about */
	if (kvm.fail_next) {
		int ret = kvm.fail_next;

		kvm.fail_next = 0;
		return ret;
	}
	if (r->nr > KVM_MAX_ROUTES || r->flags)
		return -EINVAL;
	/* a non-irqchip route must be the only one on its GSI */
	{
		static uint8_t seen[KVM_MAX_ROUTES]; /* bit 0: an irqchip route, bit 1: other */

		memset(seen, 0, sizeof(seen));
		for (unsigned i = 0; i < r->nr; i++) {
			const struct kvm_irq_routing_entry *e = &r->entries[i];
			uint8_t kind = e->type == KVM_IRQ_ROUTING_IRQCHIP ? 1 : 2;

			if (e->gsi >= KVM_MAX_ROUTES)
				return -EINVAL;
			if (seen[e->gsi] & 2 || (seen[e->gsi] && kind == 2))
				return -EINVAL;
			seen[e->gsi] |= kind;
		}
	}
	kvm.nr = r->nr;
	memcpy(kvm.e, r->entries, r->nr * sizeof(r->entries[0]));
	kvm.sets++;
	return 0;
}

static const struct kvm_irq_routing_entry *kvm_route(unsigned gsi)
{
	for (unsigned i = 0; i < kvm.nr; i++)
		if (kvm.e[i].gsi == gsi && kvm.e[i].type == KVM_IRQ_ROUTING_MSI)
			return &kvm.e[i];
	return NULL;
}

static unsigned kvm_msi_routes(void)
{
	unsigned n = 0;

	for (unsigned i = 0; i < kvm.nr; i++)
		n += kvm.e[i].type == KVM_IRQ_ROUTING_MSI;
	return n;
}

static struct vm vm;

static int setup(void **state)
{
	static struct kvm_irq_routing_entry e[KVM_MAX_ROUTES];

	memset(&kvm, 0, sizeof(kvm));
	memset(&vm, 0, sizeof(vm));
	irqchip_routes = arch_irq_routes_default(e, KVM_MAX_ROUTES, &first_msi_gsi);
	vm.vm_fd = -1;
	pthread_mutex_init(&vm.irq_lock, NULL);
	return 0;
}

static int teardown(void **state)
{
	vm_irq_routing_free(&vm);
	pthread_mutex_destroy(&vm.irq_lock);
	return 0;
}

/* A guest enabling and disabling MSI on a device 10,000 times: the GSI comes back. */
static void test_gsi_reused(void **state)
{
	unsigned first = 0, gsi;

	for (unsigned i = 0; i < 10000; i++) {
		assert_int_equal(vm_msi_route_add(&vm, 0xfee00000, 0x40 + (i & 0xf), 0, &gsi), 0);
		if (!i)
			first = gsi;
		assert_int_equal(gsi, first);
		assert_non_null(kvm_route(gsi));
		assert_int_equal(kvm_route(gsi)->u.msi.data, 0x40 + (i & 0xf));
		vm_msi_route_del(&vm, gsi);
		assert_null(kvm_route(gsi));
	}
	/* the irqchip pins are still all there */
	assert_int_equal(kvm.nr, irqchip_routes);
	assert_true(first >= first_msi_gsi);
}

/* Up to what KVM allows, every GSI distinct; a freed one in the middle is handed out again. */
static void test_gsi_table_full_and_reuse(void **state)
{
	static unsigned gsis[KVM_MAX_ROUTES];
	unsigned n = 0, gsi;
	int ret;

	test_log_forget();
	while ((ret = vm_msi_route_add(&vm, 0xfee00000, n, 0, &gsi)) == 0) {
		assert_true(n < KVM_MAX_ROUTES);
		gsis[n++] = gsi;
	}
	assert_int_equal(ret, -ENOSPC);
	assert_log_contains("GSI routing table full");
	assert_int_equal(n, KVM_MAX_ROUTES - irqchip_routes);
	assert_int_equal(kvm_msi_routes(), n);
	for (unsigned i = 0; i < n; i++)
		assert_true(gsis[i] >= first_msi_gsi && gsis[i] < KVM_MAX_ROUTES);
	vm_msi_route_del(&vm, gsis[1000]);
	vm_msi_route_del(&vm, gsis[7]);
	assert_int_equal(vm_msi_route_add(&vm, 0xfee01000, 1, 0, &gsi), 0);
	assert_int_equal(gsi, gsis[7]);
	assert_int_equal(vm_msi_route_add(&vm, 0xfee01000, 2, 0, &gsi), 0);
	assert_int_equal(gsi, gsis[1000]);
	assert_int_equal(kvm_route(gsi)->u.msi.address_lo, 0xfee01000);
	assert_int_equal(kvm_msi_routes(), n);
	for (unsigned i = 0; i < n; i++)
		vm_msi_route_del(&vm, gsis[i]);
	assert_int_equal(kvm.nr, irqchip_routes);
	{
		unsigned in_use, peak;

		vm_irq_route_stats(&vm, &in_use, &peak);
		assert_int_equal(in_use, 0);
		assert_int_equal(peak, n);
	}
}

static void test_update_and_unknown(void **state)
{
	unsigned gsi;

	assert_int_equal(vm_msi_route_add(&vm, 0xfee00000, 0x30, 0, &gsi), 0);
	assert_int_equal(vm_msi_route_update(&vm, gsi, 0xfee02000, 0x31), 0);
	assert_int_equal(kvm_route(gsi)->u.msi.address_lo, 0xfee02000);
	assert_int_equal(kvm_route(gsi)->u.msi.data, 0x31);
	assert_int_equal(vm_msi_route_update(&vm, gsi + 1, 0xfee02000, 0x31), -ENOENT);
	/* deleting what is not there (twice, or an irqchip pin) changes nothing */
	vm_msi_route_del(&vm, gsi);
	kvm.sets = 0;
	vm_msi_route_del(&vm, gsi);
	vm_msi_route_del(&vm, 4);
	assert_int_equal(kvm.sets, 0);
	assert_int_equal(kvm.nr, irqchip_routes);
}

/* KVM refusing the new table: the GSI is not taken, the next add gets it. */
static void test_refused_commit_rolls_back(void **state)
{
	unsigned gsi, gsi2;

	assert_int_equal(vm_msi_route_add(&vm, 0xfee00000, 1, 0, &gsi), 0);
	vm_msi_route_del(&vm, gsi);
	kvm.fail_next = -ENOMEM;
	assert_int_equal(vm_msi_route_add(&vm, 0xfee00000, 2, 0, &gsi2), -ENOMEM);
	assert_int_equal(vm_msi_route_add(&vm, 0xfee00000, 3, 0, &gsi2), 0);
	assert_int_equal(gsi2, gsi);
	assert_int_equal(kvm_msi_routes(), 1);
}

/*
 * A VM whose KVM wants device IDs (arm64 with an ITS: KVM_CAP_MSI_DEVID) gets each MSI route with
 * KVM_MSI_VALID_DEVID and the device's requester ID, which an update keeps; one that does not
 * (x86) gets neither.
 */
static void test_devid_where_kvm_wants_it(void **state)
{
	unsigned gsi, gsi2;

	kvm.msi_devid = 1;
	assert_int_equal(vm_msi_route_add(&vm, 0x08090040, 3, 0x18, &gsi), 0);
	assert_int_equal(kvm_route(gsi)->flags, KVM_MSI_VALID_DEVID);
	assert_int_equal(kvm_route(gsi)->u.msi.devid, 0x18);
	assert_int_equal(vm_msi_route_add(&vm, 0x08090040, 0, 0x20, &gsi2), 0);
	assert_int_equal(kvm_route(gsi2)->u.msi.devid, 0x20);
	assert_int_equal(vm_msi_route_update(&vm, gsi, 0x08090040, 7), 0);
	assert_int_equal(kvm_route(gsi)->u.msi.data, 7);
	assert_int_equal(kvm_route(gsi)->flags, KVM_MSI_VALID_DEVID);
	assert_int_equal(kvm_route(gsi)->u.msi.devid, 0x18);
	vm_irq_routing_free(&vm);

	kvm.msi_devid = 0;
	assert_int_equal(vm_msi_route_add(&vm, 0xfee00000, 3, 0x18, &gsi), 0);
	assert_int_equal(kvm_route(gsi)->flags, 0);
	assert_int_equal(kvm_route(gsi)->u.msi.devid, 0);
}

/*
 * The table and KVM's answer on device IDs come at set-up (vm_irq_routing_init, once): a route
 * the guest makes later, on a vCPU thread under its seccomp list, asks KVM nothing but
 * KVM_SET_GSI_ROUTING (its first route used to ask KVM_CHECK_EXTENSION, which that list
 * refuses: status 68).
 */
static void test_init_asks_kvm_at_set_up(void **state)
{
	unsigned gsi;

	kvm.msi_devid = 1;
	assert_int_equal(vm_irq_routing_init(&vm), 0);
	assert_int_equal(kvm.checks, 1);
	assert_int_equal(vm_msi_route_add(&vm, 0x08090040, 3, 0x18, &gsi), 0);
	assert_int_equal(vm_msi_route_update(&vm, gsi, 0x08090040, 4), 0);
	assert_int_equal(kvm_route(gsi)->flags, KVM_MSI_VALID_DEVID);
	assert_int_equal(vm_irq_routing_init(&vm), 0);
	assert_int_equal(kvm.checks, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_gsi_reused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gsi_table_full_and_reuse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_update_and_unknown, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused_commit_rolls_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_devid_where_kvm_wants_it, setup, teardown),
		cmocka_unit_test_setup_teardown(test_init_asks_kvm_at_set_up, setup, teardown),
	};

	return cmocka_run_group_tests(tests, test_log_setup, test_log_teardown);
}
