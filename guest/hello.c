/* SPDX-License-Identifier: MIT */
/*
 * hello: the kit works. Prints what the start_info gave, takes pages from the allocator and
 * runs a loop at CPL3 that also does port I/O (IOPL=3), then comes back to ring 0.
 */
#include "kit.h"

const char test_name[] = "hello";

#define USER_LOOPS 10000000ull

static uint64_t user_work(uint64_t arg)
{
	volatile uint64_t sum = 0;

	if (cpu_cpl() != 3)
		return ~0ull;
	/* bulk work belongs here: ring 3 runs at native speed on an emulating KVM */
	for (uint64_t i = 0; i < arg; i++)
		sum += i;
	printf("hello from ring 3 (%llu iterations)\n", (unsigned long long)arg);
	return sum;
}

int test_main(void)
{
	uint64_t *a, *b, got, want = USER_LOOPS * (USER_LOOPS - 1) / 2;

	printf("hello from the ptvm test kit: start_info v%u at 0x%llx, %u memmap entries, "
	       "%llu free pages, cmdline \"%s\"\n",
	       bootinfo.si.version, (unsigned long long)bootinfo.start_info_paddr,
	       bootinfo.nr_memmap, (unsigned long long)page_free_count(), bootinfo.cmdline);

	a = page_alloc();
	b = page_alloc();
	if (!a || !b || a == b || ((uint64_t)a | (uint64_t)b) & (PAGE_SIZE - 1))
		test_fail(10, "page_alloc returned %p and %p", (void *)a, (void *)b);
	if ((uint64_t)a < (uint64_t)__image_end &&
	    (uint64_t)a + PAGE_SIZE > (uint64_t)__image_start)
		test_fail(11, "page_alloc handed out %p inside the program", (void *)a);
	a[0] = 0x1234;
	b[0] = 0x5678;
	page_free(a);
	if (page_alloc() != a)
		test_fail(12, "a freed page was not reused");

	got = user_call(user_work, USER_LOOPS);
	if (cpu_cpl() != 0)
		test_fail(13, "still at CPL%u after user_call", cpu_cpl());
	if (got != want)
		test_fail(14, "ring-3 loop returned %llu, want %llu", (unsigned long long)got,
			  (unsigned long long)want);
	return 0;
}
