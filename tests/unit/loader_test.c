// SPDX-License-Identifier: MIT
/*
 * vmm/loader.c: kernel formats named by their first bytes (what an architecture's loader says
 * when it is given the other architecture's kernel), top-down placement at its edges, and file
 * reads that never pass the end of the file or leave guest RAM.
 */
#include "test_helpers.h"

#include <elf.h>
#include <fcntl.h>
#include <stdlib.h>

#include "vmm/loader.h"

static uint8_t head[LOADER_KERNEL_HEAD_SIZE];

static const char *kind_of(const char **arch)
{
	return loader_kernel_kind(head, sizeof(head), arch);
}

static void elf_head(uint16_t machine)
{
	Elf64_Ehdr *eh = (Elf64_Ehdr *)head;

	memset(head, 0, sizeof(head));
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_machine = machine;
}

static void test_kinds(void **state)
{
	const char *arch;

	elf_head(EM_X86_64);
	assert_string_equal(kind_of(&arch), "an x86_64 ELF kernel (vmlinux)");
	assert_string_equal(arch, "x86_64");
	elf_head(EM_AARCH64);
	assert_string_equal(kind_of(&arch), "an arm64 ELF kernel (vmlinux)");
	assert_string_equal(arch, "arm64");
	elf_head(EM_386);
	assert_string_equal(kind_of(&arch), "a 32-bit x86 ELF kernel");
	assert_string_equal(arch, "x86_64");
	elf_head(EM_RISCV);
	assert_string_equal(kind_of(&arch), "an ELF file for another machine");
	assert_null(arch);

	memset(head, 0, sizeof(head));
	memcpy(head + 0x202, "HdrS", 4);
	assert_string_equal(kind_of(&arch), "an x86 bzImage");
	assert_string_equal(arch, "x86_64");
	memset(head, 0, sizeof(head));
	memcpy(head + 0x38, "ARM\x64", 4);
	assert_string_equal(kind_of(&arch), "an arm64 Image");
	assert_string_equal(arch, "arm64");
	memset(head, 0, sizeof(head));
	memcpy(head + 4, "zimg", 4);
	assert_string_equal(kind_of(&arch), "a compressed arm64 EFI zboot image");
	memset(head, 0, sizeof(head));
	head[0] = 0x1f;
	head[1] = 0x8b;
	assert_string_equal(kind_of(&arch), "a gzip-compressed file");
	assert_null(arch);
	memset(head, 'x', sizeof(head));
	assert_null(kind_of(&arch));
	/* short buffers: only what they hold is looked at */
	memcpy(head + 0x38, "ARM\x64", 4);
	assert_null(loader_kernel_kind(head, 0x3b, &arch));
	assert_null(loader_kernel_kind(head, 0, &arch));
}

static void test_place_top_down(void **state)
{
	uint64_t gpa = 0;

	assert_true(loader_place_top_down(0x1800, 0x1000, 0x10000, 0x1000, &gpa));
	assert_int_equal(gpa, 0xe000);
	/* exactly fits between floor and limit */
	assert_true(loader_place_top_down(0x2000, 0xe000, 0x10000, 0x1000, &gpa));
	assert_int_equal(gpa, 0xe000);
	/* one byte too many */
	assert_false(loader_place_top_down(0x2001, 0xe000, 0x10000, 0x1000, &gpa));
	/* larger than the limit itself: no wrap-around */
	assert_false(loader_place_top_down(0x20000, 0, 0x10000, 0x1000, &gpa));
	assert_true(loader_place_top_down(0x10000, 0, 0x10000, 0x1000, &gpa));
	assert_int_equal(gpa, 0);
}

static void test_file_reads(void **state)
{
	char path[] = "/tmp/ptvm-loader-XXXXXX";
	uint8_t ram[0x2000], buf[16];
	struct memmap_region r = { .gpa = 0x10000,
				   .size = sizeof(ram),
				   .kind = MEMMAP_RAM,
				   .hva = ram,
				   .fd = -1,
				   .kvm_slot = -1,
				   .name = "ram" };
	struct memmap *mm;
	struct loader_file f;
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, "0123456789abcdef", 16), 16);
	close(fd);
	assert_int_equal(memmap_create(&mm), 0);
	assert_int_equal(memmap_add_region(mm, &r), 0);

	assert_int_equal(loader_file_open(&f, "initrd", path), 0);
	assert_int_equal(f.size, 16);
	assert_int_equal(loader_file_read(&f, 4, buf, 4), 0);
	assert_memory_equal(buf, "4567", 4);
	test_log_forget();
	assert_int_equal(loader_file_read(&f, 10, buf, 7), -ENOEXEC);
	assert_log_one_line(path, "truncated");
	assert_int_equal(loader_file_read(&f, UINT64_MAX, buf, 2), -ENOEXEC);
	assert_log_one_line(path, "truncated");
	assert_int_equal(loader_file_to_guest(&f, mm, 0x10000 + sizeof(ram) - 16), 0);
	assert_memory_equal(ram + sizeof(ram) - 16, "0123456789abcdef", 16);
	/* one byte past RAM's end */
	assert_int_equal(loader_file_to_guest(&f, mm, 0x10000 + sizeof(ram) - 15), -ENOMEM);
	assert_log_one_line(path, "is not guest RAM");
	loader_file_close(&f);
	loader_file_close(&f); /* twice is harmless */

	assert_int_equal(loader_file_open(&f, "initrd", "/tmp"), -EINVAL);
	assert_log_one_line("initrd /tmp", "not a regular file");
	unlink(path);
	assert_int_equal(loader_file_open(&f, "kernel", path), -ENOENT);
	assert_log_one_line(path, "No such file");
	memmap_destroy(mm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kinds),
		cmocka_unit_test(test_place_top_down),
		cmocka_unit_test(test_file_reads),
	};

	return cmocka_run_group_tests_name("loader", tests, test_log_setup, test_log_teardown);
}
