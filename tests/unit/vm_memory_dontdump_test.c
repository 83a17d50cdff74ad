// SPDX-License-Identifier: MIT
/*
 * vmm/vm.c: guest RAM is left out of core dumps (MADV_DONTDUMP). The kernel shows the advice
 * as "dd" in the mapping's VmFlags in /proc/self/smaps; no /dev/kvm is needed to create the
 * RAM itself.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/unit/test_helpers.h"
#include "vmm/memmap.h"
#include "vmm/vm.h"

/* The VmFlags line of the mapping that starts at addr, or "" when there is none. */
static void smaps_vmflags(const void *addr, char *flags, size_t len)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	bool mine = false;

	flags[0] = '\0';
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		unsigned long start, end;

		if (sscanf(line, "%lx-%lx ", &start, &end) == 2) {
			mine = start == (unsigned long)(uintptr_t)addr;
			continue;
		}
		if (mine && !strncmp(line, "VmFlags:", 8)) {
			snprintf(flags, len, "%s", line + 8);
			break;
		}
	}
	fclose(f);
}

static bool vmflags_has(const char *flags, const char *flag)
{
	char copy[512], *save = NULL;

	snprintf(copy, sizeof(copy), "%s", flags);
	for (char *t = strtok_r(copy, " \n", &save); t; t = strtok_r(NULL, " \n", &save))
		if (!strcmp(t, flag))
			return true;
	return false;
}

/* dma: the backing chosen for a passthrough device (anonymous THP where the host allows it) */
static void check_ram_not_dumped(bool dma)
{
	struct vm vm = { .ram_fd = -1 };
	char flags[512];

	assert_int_equal(memmap_create(&vm.mm), 0);
	assert_int_equal(vm_memory_create(&vm, 8ULL << 20, false, dma), 0);
	assert_non_null(vm.ram);

	smaps_vmflags(vm.ram, flags, sizeof(flags));
	assert_true(flags[0] != '\0'); /* the mapping is there */
	if (vm.ram_fd >= 0)
		assert_true(vmflags_has(flags, "sh"));
	if (test_emulator_lacks("madvise(MADV_DONTDUMP)")) {
		print_message("skipped: %s\n", test_emulator_lacks("madvise(MADV_DONTDUMP)"));
		memmap_destroy(vm.mm);
		munmap(vm.ram, vm.ram_size);
		if (vm.ram_fd >= 0)
			close(vm.ram_fd);
		skip();
	}
	assert_true(vmflags_has(flags, "dd"));

	memmap_destroy(vm.mm);
	munmap(vm.ram, vm.ram_size);
	if (vm.ram_fd >= 0)
		close(vm.ram_fd);
}

static void test_guest_ram_not_dumped(void **state)
{
	(void)state;
	check_ram_not_dumped(false);
}

static void test_guest_ram_for_dma_not_dumped(void **state)
{
	(void)state;
	check_ram_not_dumped(true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_guest_ram_not_dumped),
		cmocka_unit_test(test_guest_ram_for_dma_not_dumped),
	};

	return cmocka_run_group_tests_name("vm_memory_dontdump", tests, NULL, NULL);
}
