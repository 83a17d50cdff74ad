// SPDX-License-Identifier: MIT
/*
 * devices/msix.c (and devices/msi.c under it) against a fake KVM: the table sized per
 * device, the PBA bitmap, masking per vector and per function, exactly one delivery of an
 * interrupt that waited while masked (emulated devices through msix_notify, passthrough ones
 * through VFIO writing the eventfd), routes created on first unmask and all gone on disable
 * (a guest toggling MSI-X 10,000 times holds no GSI), an owner that refuses the enable,
 * hostile table and PBA accesses.
 *
 * The fake KVM behaves as virt/kvm/eventfd.c does: binding an irqfd to an eventfd that has a
 * count injects without consuming it; a write to a bound eventfd injects and consumes.
 * kvm_run() plays the wakeups.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "devices/msix.h"
#include "devices/pci.h"
#include "test_helpers.h"
#include "vmm/machine.h"
#include "vmm/util.h"

/* ---- the fake KVM ---- */

#define MAX_GSI 4096

static struct {
	bool live[MAX_GSI];
	uint64_t addr[MAX_GSI];
	uint32_t data[MAX_GSI];
	int bound_fd[MAX_GSI]; /* -1 none */
	unsigned injected[MAX_GSI];
	unsigned nr_live, adds, dels;
	int fail_route; /* -errno for the next route add */
} kvm;

static void kvm_reset(void)
{
	memset(&kvm, 0, sizeof(kvm));
	for (unsigned i = 0; i < MAX_GSI; i++)
		kvm.bound_fd[i] = -1;
}

static bool fd_readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

/* Every bound irqfd whose eventfd was written: consumed and injected. */
static void kvm_run(void)
{
	for (unsigned g = 0; g < MAX_GSI; g++) {
		uint64_t n;

		if (kvm.bound_fd[g] >= 0 && read(kvm.bound_fd[g], &n, 8) == 8 && n)
			kvm.injected[g]++;
	}
}

int vm_msi_route_add(struct vm *vm, uint64_t addr, uint32_t data, uint32_t devid, unsigned *gsi)
{
	if (kvm.fail_route) {
		int ret = kvm.fail_route;

		kvm.fail_route = 0;
		return ret;
	}
	for (unsigned g = 24; g < MAX_GSI; g++) {
		if (!kvm.live[g]) {
			kvm.live[g] = true;
			kvm.addr[g] = addr;
			kvm.data[g] = data;
			kvm.nr_live++;
			kvm.adds++;
			*gsi = g;
			return 0;
		}
	}
	return -ENOSPC;
}

int vm_msi_route_update(struct vm *vm, unsigned gsi, uint64_t addr, uint32_t data)
{
	assert_true(gsi < MAX_GSI && kvm.live[gsi]);
	kvm.addr[gsi] = addr;
	kvm.data[gsi] = data;
	return 0;
}

void vm_msi_route_del(struct vm *vm, unsigned gsi)
{
	assert_true(gsi < MAX_GSI && kvm.live[gsi]);
	assert_int_equal(kvm.bound_fd[gsi], -1); /* KVM would inject into a deleted route */
	kvm.live[gsi] = false;
	kvm.nr_live--;
	kvm.dels++;
}

int vm_irqfd_assign(struct vm *vm, int fd, unsigned gsi, int resample_fd)
{
	assert_true(gsi < MAX_GSI && kvm.live[gsi]);
	assert_int_equal(kvm.bound_fd[gsi], -1);
	kvm.bound_fd[gsi] = fd;
	if (fd_readable(fd))
		kvm.injected[gsi]++; /* KVM's irqfd_assign: inject, leave the count */
	return 0;
}

void vm_irqfd_deassign(struct vm *vm, int fd, unsigned gsi)
{
	assert_int_equal(kvm.bound_fd[gsi], fd);
	kvm.bound_fd[gsi] = -1;
}

int vm_register_pio(struct vm *vm, struct bus_dev *dev)
{
	return 0;
}

void vm_unregister_pio(struct vm *vm, struct bus_dev *dev)
{
}

int vm_register_mmio(struct vm *vm, struct bus_dev *dev)
{
	return 0;
}

void vm_unregister_mmio(struct vm *vm, struct bus_dev *dev)
{
}

/* ---- a PCI function with MSI-X in BAR2 ---- */

#define TABLE_OFF 0x0000
#define PBA_OFF 0x8000

static struct test_dev {
	struct pci_device pci;
	struct msix msix;
	int refuse_enable;
	unsigned enables, disables;
} d;

static struct pci_bus *bus;

static void dev_config_write(struct pci_device *pdev, unsigned offset, const void *data,
			     unsigned len)
{
	msix_config_write(&d.msix, offset, len);
}

static const struct pci_device_ops dev_ops = { .config_write = dev_config_write };

static int dev_enable(struct msix *m, bool on)
{
	if (on && d.refuse_enable)
		return d.refuse_enable;
	if (on) {
		for (unsigned v = 0; v < m->nr_vectors; v++)
			assert_true(msix_vector_fd(m, v) >= 0);
		d.enables++;
	} else {
		d.disables++;
	}
	return 0;
}

static const struct msix_ops owner_ops = { .enable = dev_enable };

static const struct pci_bus_windows windows = {
	.mmio32_start = 0xc0000000,
	.mmio32_size = 0x10000000,
	.io_start = 0x1000,
	.io_size = 0x1000,
};

static void dev_up(unsigned nr, const struct msix_ops *ops)
{
	kvm_reset();
	memset(&d, 0, sizeof(d));
	assert_int_equal(pci_bus_create(NULL, &windows, &bus), 0);
	pci_device_init(&d.pci, "msix-test", 0x1af4, 0x1041, 0xff0000, &dev_ops);
	assert_int_equal(pci_device_set_bar(&d.pci, 2, PCI_BAR_MEM32, 0x10000, false), 0);
	assert_int_equal(msix_init(&d.msix, &(struct msix_config){ .vm = NULL,
								   .dev = &d.pci,
								   .name = "msix-test",
								   .nr_vectors = nr,
								   .bar = 2,
								   .table_off = TABLE_OFF,
								   .pba_off = PBA_OFF,
								   .ops = ops }),
			 0);
	assert_int_equal(pci_bus_add_device(bus, &d.pci, 3), 0);
}

static int setup(void **state)
{
	dev_up(8, NULL);
	return 0;
}

static int setup_owner(void **state)
{
	dev_up(8, &owner_ops);
	return 0;
}

static int teardown(void **state)
{
	pci_bus_remove_device(bus, &d.pci);
	msix_exit(&d.msix);
	/* nothing left in KVM */
	assert_int_equal(kvm.nr_live, 0);
	pci_bus_destroy(bus);
	return 0;
}

static uint32_t cfg_read(unsigned off, unsigned len)
{
	uint32_t v = 0;

	pci_bus_config_read(bus, 0, PCI_DEVFN(3, 0), off, &v, len);
	return v;
}

static void cfg_write(unsigned off, uint32_t v, unsigned len)
{
	pci_bus_config_write(bus, 0, PCI_DEVFN(3, 0), off, &v, len);
}

static void msix_ctrl(uint16_t bits)
{
	cfg_write(d.msix.cap + PCI_MSIX_FLAGS, bits, 2);
}

static uint32_t bar_read(uint64_t off, unsigned len)
{
	uint64_t v = 0;

	assert_true(msix_bar_read(&d.msix, 2, off, &v, len));
	return (uint32_t)v;
}

static void bar_write(uint64_t off, uint32_t v, unsigned len)
{
	assert_true(msix_bar_write(&d.msix, 2, off, &v, len));
}

static void entry_write(unsigned v, uint64_t addr, uint32_t data, uint32_t ctrl)
{
	bar_write(TABLE_OFF + v * 16 + 0, (uint32_t)addr, 4);
	bar_write(TABLE_OFF + v * 16 + 4, (uint32_t)(addr >> 32), 4);
	bar_write(TABLE_OFF + v * 16 + 8, data, 4);
	bar_write(TABLE_OFF + v * 16 + 12, ctrl, 4);
}

static unsigned gsi_of(unsigned v)
{
	unsigned gsi;

	assert_true(msix_vector_gsi(&d.msix, v, &gsi));
	return gsi;
}

/* ---- tests ---- */

static void test_capability_and_sizes(void **state)
{
	unsigned cap = d.msix.cap;

	assert_int_equal(cfg_read(cap, 1), PCI_CAP_ID_MSIX);
	assert_int_equal(cfg_read(cap + PCI_MSIX_FLAGS, 2), 7);
	assert_int_equal(cfg_read(cap + PCI_MSIX_TABLE, 4), TABLE_OFF | 2);
	assert_int_equal(cfg_read(cap + PCI_MSIX_PBA, 4), PBA_OFF | 2);
	/* only enable and function mask are writable */
	cfg_write(cap + PCI_MSIX_TABLE, 0x1234, 4);
	cfg_write(cap + PCI_MSIX_FLAGS, 0x3fff, 2);
	assert_int_equal(cfg_read(cap + PCI_MSIX_TABLE, 4), TABLE_OFF | 2);
	assert_int_equal(cfg_read(cap + PCI_MSIX_FLAGS, 2), 7);
	assert_int_equal(msix_table_size(&d.msix), 8 * 16);
	assert_int_equal(msix_pba_size(&d.msix), 8);
	/* every vector starts masked */
	for (unsigned v = 0; v < 8; v++)
		assert_int_equal(bar_read(TABLE_OFF + v * 16 + 12, 4), 1);
	/* past the table and the PBA: the device's own, not MSI-X's */
	assert_false(msix_bar_read(&d.msix, 2, TABLE_OFF + 8 * 16, &(uint32_t){ 0 }, 4));
	assert_false(msix_bar_read(&d.msix, 2, PBA_OFF + 8, &(uint32_t){ 0 }, 4));
	assert_false(msix_bar_read(&d.msix, 0, TABLE_OFF, &(uint32_t){ 0 }, 4));
}

/* The table is sized per device: 2048 vectors (the most PCI allows), and 1. */
static void test_sized_per_device(void **state)
{
	msix_exit(&d.msix);
	assert_int_equal(msix_init(&d.msix, &(struct msix_config){ .dev = &d.pci,
								   .name = "big",
								   .cap = d.msix.cap,
								   .nr_vectors = 2048,
								   .bar = 2,
								   .table_off = 0,
								   .pba_off = PBA_OFF }),
			 0);
	assert_int_equal(cfg_read(d.msix.cap + PCI_MSIX_FLAGS, 2), 2047);
	assert_int_equal(msix_pba_size(&d.msix), 256);
	msix_ctrl(PCI_MSIX_FLAGS_ENABLE);
	entry_write(2047, 0xfee00000, 0x99, 0);
	assert_int_equal(kvm.data[gsi_of(2047)], 0x99);
	msix_ctrl(PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
	msix_notify(&d.msix, 2047);
	assert_int_equal(bar_read(PBA_OFF + 0xf8, 4), 0);
	assert_int_equal(bar_read(PBA_OFF + 0xfc, 4), 1U << 31);
	msix_exit(&d.msix);
	assert_int_equal(kvm.nr_live, 0);
	/* and 0 or 2049 vectors are refused */
	assert_int_equal(
	    msix_init(&d.msix, &(struct msix_config){ .dev = &d.pci, .nr_vectors = 0 }), -EINVAL);
	assert_int_equal(
	    msix_init(&d.msix, &(struct msix_config){ .dev = &d.pci, .nr_vectors = 2049 }),
	    -EINVAL);
	assert_int_equal(msix_init(&d.msix, &(struct msix_config){ .dev = &d.pci,
								   .name = "one",
								   .cap = 0x40,
								   .nr_vectors = 1,
								   .bar = 2,
								   .pba_off = PBA_OFF }),
			 0);
	assert_int_equal(msix_pba_size(&d.msix), 8);
	msix_notify(&d.msix, 1); /* out of range: ignored */
	msix_notify(&d.msix, 5000);
}

/* An emulated device raises a masked vector: pending in the PBA, delivered once on unmask. */
static void test_notify_masked_then_unmask_delivers_once(void **state)
{
	unsigned g;

	msix_ctrl(PCI_MSIX_FLAGS_ENABLE);
	entry_write(3, 0xfee01000, 0x41, 1);
	assert_int_equal(kvm.adds, 0); /* masked: no route yet */
	msix_notify(&d.msix, 3);
	assert_int_equal(bar_read(PBA_OFF, 4), 1U << 3);
	bar_write(TABLE_OFF + 3 * 16 + 12, 0, 4);
	g = gsi_of(3);
	assert_int_equal(kvm.addr[g], 0xfee01000);
	kvm_run();
	assert_int_equal(kvm.injected[g], 1);
	assert_int_equal(bar_read(PBA_OFF, 4), 0);
	/* mask and unmask again with nothing new: no second interrupt */
	bar_write(TABLE_OFF + 3 * 16 + 12, 1, 4);
	bar_write(TABLE_OFF + 3 * 16 + 12, 0, 4);
	kvm_run();
	assert_int_equal(kvm.injected[g], 1);
	/* unmasked: straight through */
	msix_notify(&d.msix, 3);
	kvm_run();
	assert_int_equal(kvm.injected[g], 2);
	/* a new message while unmasked moves the route */
	bar_write(TABLE_OFF + 3 * 16 + 8, 0x42, 4);
	assert_int_equal(kvm.data[g], 0x42);
}

/* The function mask holds every vector; clearing it delivers what waited. */
static void test_function_mask(void **state)
{
	unsigned g0, g5;

	msix_ctrl(PCI_MSIX_FLAGS_ENABLE);
	entry_write(0, 0xfee00000, 0x30, 0);
	entry_write(5, 0xfee00000, 0x35, 0);
	g0 = gsi_of(0);
	g5 = gsi_of(5);
	msix_ctrl(PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
	assert_int_equal(kvm.bound_fd[g0], -1);
	msix_notify(&d.msix, 5);
	kvm_run();
	assert_int_equal(kvm.injected[g5], 0);
	assert_int_equal(bar_read(PBA_OFF, 8), 1U << 5);
	msix_ctrl(PCI_MSIX_FLAGS_ENABLE);
	kvm_run();
	assert_int_equal(kvm.injected[g5], 1);
	assert_int_equal(kvm.injected[g0], 0);
}

/* A passthrough device: the kernel writes the eventfd itself; while masked it shows in the
 * PBA and is delivered once on unmask. */
static void test_vfio_style_pending(void **state)
{
	int fd;
	unsigned g;

	msix_ctrl(PCI_MSIX_FLAGS_ENABLE);
	assert_int_equal(d.enables, 1);
	entry_write(1, 0xfee00000, 0x51, 0);
	g = gsi_of(1);
	fd = msix_vector_fd(&d.msix, 1);
	bar_write(TABLE_OFF + 16 + 12, 1, 4);
	assert_int_equal(write(fd, &(uint64_t){ 1 }, 8), 8);
	assert_int_equal(bar_read(PBA_OFF, 4), 1U << 1);
	bar_write(TABLE_OFF + 16 + 12, 0, 4);
	kvm_run();
	assert_int_equal(kvm.injected[g], 1);
	assert_int_equal(bar_read(PBA_OFF, 4), 0);
	/* raised again while masked, then MSI-X goes off: dropped, not carried over */
	bar_write(TABLE_OFF + 16 + 12, 1, 4);
	assert_int_equal(write(fd, &(uint64_t){ 1 }, 8), 8);
	msix_ctrl(0);
	assert_int_equal(d.disables, 1);
	assert_int_equal(msix_vector_fd(&d.msix, 1), -1);
	/* the next enable hands out the same eventfd (no eventfd()/close() per toggle), empty */
	msix_ctrl(PCI_MSIX_FLAGS_ENABLE);
	assert_int_equal(msix_vector_fd(&d.msix, 1), fd);
	assert_int_equal(bar_read(PBA_OFF, 4), 0);
	memset(kvm.injected, 0, sizeof(kvm.injected));
	bar_write(TABLE_OFF + 16 + 12, 0, 4);
	g = gsi_of(1);
	kvm_run();
	assert_int_equal(kvm.injected[g], 0);
	msix_ctrl(0);
}

/* A guest toggling MSI-X 10,000 times with vectors unmasked: no route outlives a disable. */
static void test_enable_disable_storm_no_leak(void **state)
{
	for (unsigned i = 0; i < 10000; i++) {
		msix_ctrl(PCI_MSIX_FLAGS_ENABLE);
		if (i == 0)
			for (unsigned v = 0; v < 8; v++)
				entry_write(v, 0xfee00000, 0x30 + v, 0);
		assert_int_equal(kvm.nr_live, 8);
		msix_ctrl(0);
		assert_int_equal(kvm.nr_live, 0);
	}
	assert_int_equal(kvm.adds, 80000);
	assert_int_equal(kvm.dels, 80000);
	/* the table survived (the guest's programming stays across enables) */
	assert_int_equal(bar_read(TABLE_OFF + 7 * 16 + 8, 4), 0x37);
}

static void test_owner_refuses_enable(void **state)
{
	d.refuse_enable = -EINVAL;
	msix_ctrl(PCI_MSIX_FLAGS_ENABLE);
	assert_false(msix_enabled(&d.msix));
	entry_write(0, 0xfee00000, 0x30, 0);
	assert_int_equal(kvm.nr_live, 0);
	msix_notify(&d.msix, 0); /* off: nothing happens */
	assert_int_equal(bar_read(PBA_OFF, 4), 0);
	/* the next write of the control word tries again */
	d.refuse_enable = 0;
	msix_ctrl(PCI_MSIX_FLAGS_ENABLE);
	assert_true(msix_enabled(&d.msix));
	assert_int_equal(kvm.nr_live, 1);
}

/* KVM refusing a route: the vector stays pending and goes once a later write succeeds. */
static void test_route_refused(void **state)
{
	unsigned g;

	msix_ctrl(PCI_MSIX_FLAGS_ENABLE);
	msix_notify(&d.msix, 2);
	kvm.fail_route = -ENOSPC;
	entry_write(2, 0xfee00000, 0x32, 0);
	assert_false(msix_vector_gsi(&d.msix, 2, &g));
	assert_int_equal(bar_read(PBA_OFF, 4), 1U << 2);
	msix_notify(&d.msix, 2); /* still undeliverable: stays pending, no crash */
	bar_write(TABLE_OFF + 2 * 16 + 12, 0, 4);
	g = gsi_of(2);
	kvm_run();
	assert_int_equal(kvm.injected[g], 1);
}

static void test_hostile_accesses(void **state)
{
	msix_ctrl(PCI_MSIX_FLAGS_ENABLE);
	/* odd sizes and misaligned: ignored, read as ones */
	bar_write(TABLE_OFF + 12, 0, 1);
	bar_write(TABLE_OFF + 13, 0, 2);
	bar_write(TABLE_OFF + 2, 0, 4);
	bar_write(TABLE_OFF + 4, 0, 8);
	assert_int_equal(bar_read(TABLE_OFF + 12, 4), 1);
	assert_int_equal(bar_read(TABLE_OFF + 1, 4), 0xffffffff);
	assert_int_equal(bar_read(TABLE_OFF + 12, 2), 0xffff);
	/* an 8-byte access straddling the table's end */
	assert_int_equal(bar_read(TABLE_OFF + 8 * 16 - 4, 8), 0xffffffff);
	/* reserved control bits and address bits do not stick */
	bar_write(TABLE_OFF + 12, 0xfffffffe | 1, 4);
	assert_int_equal(bar_read(TABLE_OFF + 12, 4), 1);
	bar_write(TABLE_OFF, 0xfee00003, 4);
	assert_int_equal(bar_read(TABLE_OFF, 4), 0xfee00000);
	/* 8-byte table writes work (address low + high at once) */
	{
		uint64_t v = 0x00000001fee02000ULL;

		assert_true(msix_bar_write(&d.msix, 2, TABLE_OFF + 16, &v, 8));
		assert_int_equal(bar_read(TABLE_OFF + 20, 4), 1);
	}
	/* the PBA is read-only */
	bar_write(PBA_OFF, 0xffffffff, 4);
	assert_int_equal(bar_read(PBA_OFF, 4), 0);
	assert_int_equal(bar_read(PBA_OFF + 1, 4), 0);
	assert_int_equal(kvm.nr_live, 0);
}

/* A function reset: MSI-X off, every vector masked, the routes gone. */
static void test_reset(void **state)
{
	msix_ctrl(PCI_MSIX_FLAGS_ENABLE);
	entry_write(4, 0xfee00000, 0x34, 0);
	assert_int_equal(kvm.nr_live, 1);
	msix_reset(&d.msix);
	assert_int_equal(kvm.nr_live, 0);
	assert_false(msix_enabled(&d.msix));
	assert_int_equal(cfg_read(d.msix.cap + PCI_MSIX_FLAGS, 2), 7);
	assert_int_equal(bar_read(TABLE_OFF + 4 * 16 + 12, 4), 1);
	assert_int_equal(bar_read(TABLE_OFF + 4 * 16 + 8, 4), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_capability_and_sizes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sized_per_device, setup, teardown),
		cmocka_unit_test_setup_teardown(test_notify_masked_then_unmask_delivers_once, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_function_mask, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vfio_style_pending, setup_owner, teardown),
		cmocka_unit_test_setup_teardown(test_enable_disable_storm_no_leak, setup, teardown),
		cmocka_unit_test_setup_teardown(test_owner_refuses_enable, setup_owner, teardown),
		cmocka_unit_test_setup_teardown(test_route_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_accesses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset, setup, teardown),
	};

	return cmocka_run_group_tests(tests, test_log_setup, test_log_teardown);
}
