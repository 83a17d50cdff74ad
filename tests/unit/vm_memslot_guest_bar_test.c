// SPDX-License-Identifier: MIT
/*
 * vmm/vm.c's KVM memslot listener against a guest that places a passthrough BAR (DEVICE_RAM)
 * where KVM refuses a memslot, over and over (guest/pt_attack's BAR attack against an NVMe
 * logged two error lines per move): the refusal is returned each time, told rate-limited,
 * and the slot is free again. RAM that KVM refuses is still an error line each time.
 * Needs /dev/kvm (skipped without it).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmm/log.h"
#include "vmm/memmap.h"
#include "vmm/vm.h"

#include "test_helpers.h"

static struct vm *test_vm(void)
{
	struct vm *vm = NULL;

	if (access("/dev/kvm", R_OK | W_OK)) {
		print_message("skipped: no usable /dev/kvm\n");
		skip();
	}
	if (test_emulator_lacks("the KVM ioctls")) {
		print_message("skipped: %s\n", test_emulator_lacks("the KVM ioctls"));
		skip();
	}
	assert_int_equal(vm_create(&vm), 0);
	return vm;
}

/* gpa: beyond any guest's physical address width; KVM answers EINVAL */
static int add_region(struct vm *vm, enum memmap_kind kind, void *hva, uint64_t gpa)
{
	struct memmap_region r = {
		.gpa = gpa, .size = 0x2000, .kind = kind, .hva = hva, .fd = -1, .kvm_slot = -1
	};

	snprintf(r.name, sizeof(r.name), "vfio 00:03.0 bar0.0");
	return memmap_add_region(vm->mm, &r);
}

static void test_guest_bar_refused_rate_limited(void **state)
{
	struct vm *vm = test_vm();
	void *hva = mmap(NULL, 0x2000, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	(void)state;
	assert_true(hva != MAP_FAILED);
	assert_int_equal(test_log_capture_start(), 0);
	for (unsigned i = 0; i < 200; i++)
		assert_int_equal(add_region(vm, MEMMAP_DEVICE_RAM, hva, 0xffffffffc0000000ULL),
				 -EINVAL);
	assert_log_contains("kvm: memslot 0 for vfio 00:03.0 bar0.0 [0xffffffffc0000000, "
			    "+0x2000) refused: KVM_SET_USER_MEMORY_REGION: Invalid argument");
	assert_log_bounded(1);
	/* the slot went back each time: a BAR placed where KVM takes it still gets one */
	assert_int_equal(add_region(vm, MEMMAP_DEVICE_RAM, hva, 0xc0000000ULL), 0);
	test_log_capture_stop();
	vm_destroy(vm);
	munmap(hva, 0x2000);
}

static void test_ram_refused_is_an_error_each_time(void **state)
{
	struct vm *vm = test_vm();
	void *hva = mmap(NULL, 0x2000, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	(void)state;
	assert_true(hva != MAP_FAILED);
	assert_int_equal(test_log_capture_start(), 0);
	for (unsigned i = 0; i < 20; i++)
		assert_int_equal(add_region(vm, MEMMAP_RAM, hva, 0xffffffffc0000000ULL), -EINVAL);
	/* ptvm's own set-up: the ioctl's line and the memslot's, every time */
	assert_int_equal(test_log_lines(), 40);
	test_log_capture_stop();
	vm_destroy(vm);
	munmap(hva, 0x2000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_guest_bar_refused_rate_limited),
		cmocka_unit_test(test_ram_refused_is_an_error_each_time),
	};

	return cmocka_run_group_tests_name("vm_memslot_guest_bar", tests, NULL, NULL);
}
