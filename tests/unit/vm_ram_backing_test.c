// SPDX-License-Identifier: MIT
/*
 * vmm/vm.c's guest RAM backing, chosen for fast pinning: the choice against every THP setting
 * the kernel can report (a fake /sys/kernel/mm/transparent_hugepage), and the RAM it makes:
 * 2 MiB aligned, MADV_HUGEPAGE where THP was chosen, anonymous memory the balloon can discard
 * or a memfd it can punch holes in, one region per bank pointing at it.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_helpers.h"
#include "vmm/arch.h"
#include "vmm/vm.h"

static char dir[] = "/tmp/ptvm-thp-XXXXXX";

static void thp_write(const char *file, const char *line)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "%s\n", line);
	fclose(f);
}

static void thp(const char *anon, const char *shmem)
{
	thp_write("enabled", anon);
	thp_write("shmem_enabled", shmem);
}

#define ANON_MADVISE "always [madvise] never"
#define ANON_ALWAYS "[always] madvise never"
#define ANON_NEVER "always madvise [never]"
#define SHMEM_NEVER "always within_size advise [never] deny force"
#define SHMEM_ADVISE "always within_size [advise] never deny force"
#define SHMEM_WITHIN "always [within_size] advise never deny force"
#define SHMEM_DENY "always within_size advise never [deny] force"

static void test_choice(void **state)
{
	struct vm_ram_backing b;

	/* Debian's defaults: no shmem THP, anonymous THP on madvise */
	thp(ANON_MADVISE, SHMEM_NEVER);
	vm_ram_backing_choose(512 << 20, false, false, &b);
	assert_int_equal(b.kind, VM_RAM_ANON); /* anonymous THP, as QEMU's RAM */
	assert_true(b.thp);
	assert_non_null(strstr(b.why, "not pinned"));
	vm_ram_backing_choose(512 << 20, false, true, &b);
	assert_int_equal(b.kind, VM_RAM_ANON); /* pinned: anonymous THP */
	assert_true(b.thp);
	assert_non_null(strstr(b.why, "pinned for DMA"));
	thp(ANON_ALWAYS, SHMEM_DENY);
	vm_ram_backing_choose(512 << 20, false, true, &b);
	assert_int_equal(b.kind, VM_RAM_ANON);
	/* no THP at all: 4 KiB memfd either way */
	thp(ANON_NEVER, SHMEM_NEVER);
	vm_ram_backing_choose(512 << 20, false, true, &b);
	assert_int_equal(b.kind, VM_RAM_MEMFD);
	assert_false(b.thp);
	vm_ram_backing_choose(512 << 20, false, false, &b);
	assert_int_equal(b.kind, VM_RAM_MEMFD);
	assert_false(b.thp);
	/* shmem THP allowed: the memfd gets it, with or without DMA */
	thp(ANON_NEVER, SHMEM_ADVISE);
	vm_ram_backing_choose(512 << 20, false, false, &b);
	assert_int_equal(b.kind, VM_RAM_MEMFD);
	assert_true(b.thp);
	thp(ANON_MADVISE, SHMEM_WITHIN);
	vm_ram_backing_choose(512 << 20, false, true, &b);
	assert_int_equal(b.kind, VM_RAM_MEMFD);
	assert_true(b.thp);
	/* hugepages=on: hugetlb when 2 MiB aligned, THP otherwise */
	vm_ram_backing_choose(512 << 20, true, true, &b);
	assert_int_equal(b.kind, VM_RAM_HUGETLB);
	thp(ANON_MADVISE, SHMEM_NEVER);
	vm_ram_backing_choose((512 << 20) + 4096, true, false, &b);
	assert_int_equal(b.kind, VM_RAM_ANON);
	assert_true(b.thp);
	/* no sysfs at all (a kernel without THP): 4 KiB memfd, said so */
	vm_thp_sysfs = "/nonexistent";
	vm_ram_backing_choose(512 << 20, false, true, &b);
	assert_int_equal(b.kind, VM_RAM_MEMFD);
	assert_non_null(strstr(b.why, "unknown"));
	vm_thp_sysfs = dir;
}

/* The mapping's VmFlags line in /proc/self/smaps ("hg": MADV_HUGEPAGE). */
static bool mapping_has_flag(void *addr, const char *flag)
{
	char line[512], want[32];
	bool in = false, found = false;
	FILE *f = fopen("/proc/self/smaps", "r");

	assert_non_null(f);
	snprintf(want, sizeof(want), "%lx-", (unsigned long)addr);
	while (fgets(line, sizeof(line), f)) {
		if (strchr(line, '-') && strchr(line, '-') < strchr(line, ' ') && line[0] != ' ' &&
		    strncmp(line, "VmFlags", 7))
			in = !strncmp(line, want, strlen(want));
		if (in && !strncmp(line, "VmFlags:", 8)) {
			char needle[8];

			snprintf(needle, sizeof(needle), " %s", flag);
			found = strstr(line, needle) != NULL;
			break;
		}
	}
	fclose(f);
	return found;
}

static struct vm *vm_up(void)
{
	struct vm *vm = calloc(1, sizeof(*vm));

	assert_non_null(vm);
	vm->ram_fd = -1;
	assert_int_equal(memmap_create(&vm->mm), 0);
	return vm;
}

static void vm_down(struct vm *vm)
{
	memmap_destroy(vm->mm);
	munmap(vm->ram, vm->ram_size);
	if (vm->ram_fd >= 0)
		close(vm->ram_fd);
	free(vm);
}

/* where the architecture puts the first bank of `size` bytes of RAM (x86: 0, arm64: 1 GiB) */
static uint64_t ram_gpa(uint64_t size)
{
	struct arch_ram_layout l;

	assert_int_equal(arch_ram_layout(size, &l), 0);
	return l.banks[0].gpa;
}

static void test_pinned_ram_is_anonymous_thp(void **state)
{
	struct vm *vm = vm_up();
	struct memmap_region r;

	thp(ANON_MADVISE, SHMEM_NEVER);
	assert_int_equal(vm_memory_create(vm, 64 << 20, false, true), 0);
	assert_int_equal(vm->ram_fd, -1);
	assert_true(IS_ALIGNED((uintptr_t)vm->ram, SZ_2M));
	/* qemu-user's madvise() is a no-op: no VmFlags to read there */
	if (!test_emulator_lacks("madvise(MADV_HUGEPAGE)"))
		assert_true(mapping_has_flag(vm->ram, "hg"));
	assert_true(memmap_find(vm->mm, ram_gpa(64 << 20), &r));
	assert_ptr_equal(r.hva, vm->ram);
	assert_int_equal(r.fd, -1);
	assert_true(r.hugepages);
	/* it is memory: written and read back */
	memset(vm->ram, 0x5a, 64 << 20);
	assert_int_equal(((uint8_t *)vm->ram)[(64 << 20) - 1], 0x5a);
	assert_log_contains("anonymous memory with transparent huge pages (pinned for DMA");
	vm_down(vm);
}

static void test_unpinned_ram(void **state)
{
	struct vm *vm = vm_up();
	struct memmap_region r;
	struct stat st;

	/* Debian's defaults: anonymous THP, as for pinned RAM */
	thp(ANON_MADVISE, SHMEM_NEVER);
	assert_int_equal(vm_memory_create(vm, 64 << 20, false, false), 0);
	assert_int_equal(vm->ram_fd, -1);
	assert_true(IS_ALIGNED((uintptr_t)vm->ram, SZ_2M));
	if (!test_emulator_lacks("madvise(MADV_HUGEPAGE)"))
		assert_true(mapping_has_flag(vm->ram, "hg"));
	assert_true(memmap_find(vm->mm, ram_gpa(64 << 20), &r));
	assert_int_equal(r.fd, -1);
	assert_true(r.hugepages);
	assert_log_contains("anonymous memory with transparent huge pages (not pinned");
	/* what the balloon discards (MADV_DONTNEED: private anonymous memory) reads back as 0 */
	memset(vm->ram, 0x5a, 2 << 20);
	assert_int_equal(madvise(vm->ram, 4096, MADV_DONTNEED), 0);
	assert_int_equal(((uint8_t *)vm->ram)[0], 0);
	assert_int_equal(((uint8_t *)vm->ram)[4096], 0x5a);
	vm_down(vm);

	/* no THP anywhere: a 4 KiB memfd, whose holes the balloon punches */
	vm = vm_up();
	thp(ANON_NEVER, SHMEM_NEVER);
	assert_int_equal(vm_memory_create(vm, 64 << 20, false, false), 0);
	assert_true(vm->ram_fd >= 0);
	assert_int_equal(fstat(vm->ram_fd, &st), 0);
	assert_int_equal(st.st_size, 64 << 20);
	assert_true(IS_ALIGNED((uintptr_t)vm->ram, SZ_2M));
	assert_false(mapping_has_flag(vm->ram, "hg"));
	assert_true(memmap_find(vm->mm, ram_gpa(64 << 20), &r));
	assert_int_equal(r.fd, vm->ram_fd);
	assert_false(r.hugepages);
	/* shared with the memfd: what the balloon punches out reads back as zero */
	memset(vm->ram, 0x5a, 2 << 20);
	assert_int_equal(fallocate(vm->ram_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4096),
			 0);
	assert_int_equal(((uint8_t *)vm->ram)[0], 0);
	assert_int_equal(((uint8_t *)vm->ram)[4096], 0x5a);
	vm_down(vm);

	/* shmem THP allowed: the memfd is advised */
	vm = vm_up();
	thp(ANON_NEVER, SHMEM_ADVISE);
	assert_int_equal(vm_memory_create(vm, 64 << 20, false, true), 0);
	assert_true(vm->ram_fd >= 0);
	if (!test_emulator_lacks("madvise(MADV_HUGEPAGE)"))
		assert_true(mapping_has_flag(vm->ram, "hg"));
	vm_down(vm);
}

static int group_setup(void **state)
{
	assert_non_null(mkdtemp(dir));
	vm_thp_sysfs = dir;
	return test_log_capture_start() ? -1 : 0;
}

static int group_teardown(void **state)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/enabled", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/shmem_enabled", dir);
	unlink(path);
	rmdir(dir);
	test_log_capture_stop();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_choice),
		cmocka_unit_test(test_pinned_ram_is_anonymous_thp),
		cmocka_unit_test(test_unpinned_ram),
	};

	log_level = LOG_INFO;
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
