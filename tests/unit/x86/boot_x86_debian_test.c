// SPDX-License-Identifier: MIT
/*
 * boot_x86_load with the real Debian cloud kernel, as bzImage and as the vmlinux extracted from
 * it, where tests/testhost/fetch-kernel.sh has put them (build/testhost/kernel/, or the folder
 * in $PTVM_TEST_KERNEL_DIR). Each test skips, saying which file is missing, when they are not
 * there. Nothing here runs the kernel: it checks what the loader puts in guest RAM.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <asm/bootparam.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tests/unit/test_helpers.h"
#include "vmm/x86/boot.h"
#include "vmm/x86/layout.h"
#include "vmm/log.h"
#include "vmm/memmap.h"
#include "vmm/util.h"

#define GUEST_MEM (512 * SZ_1M)
#define INITRD_SIZE (3 * SZ_1M + 123)

struct fixture {
	struct memmap *mm;
	uint8_t *ram;
	char kernel[512];
	char initrd[64];
	uint8_t *file; /* the kernel file, for comparisons */
	size_t file_len;
};

static const char *kernel_dir(void)
{
	const char *d = getenv("PTVM_TEST_KERNEL_DIR");

	return d && *d ? d : "build/testhost/kernel";
}

/* Maps 512 MiB of RAM at 0 and reads the named kernel; skips the test if it is absent. */
static struct fixture *fixture_create(const char *name)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct memmap_region r = { .gpa = 0, .size = GUEST_MEM, .kind = MEMMAP_RAM, .fd = -1 };
	uint8_t head[64];
	FILE *fp;
	int fd;

	assert_non_null(f);
	snprintf(f->kernel, sizeof(f->kernel), "%s/%s", kernel_dir(), name);
	if (access(f->kernel, R_OK)) {
		printf("SKIP: %s: %s (run tests/testhost/fetch-kernel.sh to fetch the Debian "
		       "kernel)\n",
		       f->kernel, strerror(errno));
		free(f);
		skip();
	}
	assert_int_equal(read_file(f->kernel, &f->file, &f->file_len), 0);
	assert_int_equal(memmap_create(&f->mm), 0);
	f->ram = mmap(NULL, GUEST_MEM, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	assert_true(f->ram != MAP_FAILED);
	r.hva = f->ram;
	assert_int_equal(memmap_add_region(f->mm, &r), 0);
	/* an initrd with a recognisable head */
	snprintf(f->initrd, sizeof(f->initrd), "/tmp/ptvm-debian-initrd-XXXXXX");
	fd = mkstemp(f->initrd);
	assert_true(fd >= 0);
	for (unsigned i = 0; i < sizeof(head); i++)
		head[i] = (uint8_t)(0x30 + i);
	fp = fdopen(fd, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(head, 1, sizeof(head), fp), sizeof(head));
	assert_int_equal(ftruncate(fd, INITRD_SIZE), 0);
	fclose(fp);
	return f;
}

static void fixture_destroy(struct fixture *f)
{
	unlink(f->initrd);
	memmap_destroy(f->mm);
	munmap(f->ram, GUEST_MEM);
	free(f->file);
	free(f);
}

static void fixture_load(struct fixture *f, enum boot_protocol proto, struct boot_x86_entry *e)
{
	struct boot_x86_config cfg = {
		.kernel_path = f->kernel,
		.initrd_path = f->initrd,
		.cmdline = "console=ttyS0 panic=-1",
		.protocol = proto,
		.low_ram_end = GUEST_MEM,
		.rsdp_gpa = ACPI_TABLES_GPA,
	};

	assert_int_equal(boot_x86_load(f->mm, &cfg, e), 0);
}

static void check_initrd(struct fixture *f, uint64_t gpa, uint64_t size, uint64_t above)
{
	assert_int_equal(size, INITRD_SIZE);
	assert_int_equal(gpa % 4096, 0);
	assert_true(gpa >= above);
	assert_true(gpa + size <= GUEST_MEM);
	for (unsigned i = 0; i < 64; i++)
		assert_int_equal(f->ram[gpa + i], 0x30 + i);
}

static void test_debian_bzimage(void **state)
{
	struct fixture *f = fixture_create("bzImage");
	struct boot_params *bp = (struct boot_params *)(f->ram + BOOT_PARAMS_GPA);
	struct boot_x86_entry e;
	struct setup_header fh;
	uint64_t setup, pm;
	size_t hdr_len;

	fixture_load(f, BOOT_PROTOCOL_AUTO, &e);
	assert_string_equal(e.format, "bzImage");
	assert_true(e.long_mode);
	assert_int_equal(e.regs.rip, 0x100200);
	assert_int_equal(e.regs.rsi, BOOT_PARAMS_GPA);
	/* the setup header as in the file (it ends at the jump target 0x202 + file[0x201]) but
	 * for the fields a boot loader writes */
	hdr_len = MIN((size_t)0x202 + f->file[0x201] - 0x1f1, sizeof(fh));
	memset(&fh, 0, sizeof(fh));
	memcpy(&fh, f->file + 0x1f1, hdr_len);
	fh.type_of_loader = 0xff;
	fh.loadflags |= CAN_USE_HEAP;
	fh.heap_end_ptr = bp->hdr.heap_end_ptr;
	fh.cmd_line_ptr = BOOT_CMDLINE_GPA;
	fh.ramdisk_image = bp->hdr.ramdisk_image;
	fh.ramdisk_size = bp->hdr.ramdisk_size;
	assert_memory_equal(&bp->hdr, &fh, sizeof(fh));
	setup = ((uint64_t)(f->file[0x1f1] ? f->file[0x1f1] : 4) + 1) * 512;
	pm = (uint64_t)bp->hdr.syssize * 16;
	assert_true(setup + pm <= f->file_len);
	assert_memory_equal(f->ram + KERNEL_LOAD_GPA, f->file + setup, pm);
	assert_int_equal(bp->hdr.type_of_loader, 0xff);
	assert_int_equal(bp->hdr.cmd_line_ptr, BOOT_CMDLINE_GPA);
	assert_string_equal((char *)f->ram + BOOT_CMDLINE_GPA, "console=ttyS0 panic=-1");
	assert_int_equal(bp->acpi_rsdp_addr, ACPI_TABLES_GPA);
	/* above the decompressor's working area: pref_address + init_size */
	check_initrd(f, bp->hdr.ramdisk_image, bp->hdr.ramdisk_size,
		     bp->hdr.pref_address + bp->hdr.init_size);
	printf("bzImage: protocol %u.%02u, init_size 0x%x, initrd at 0x%x\n", bp->hdr.version >> 8,
	       bp->hdr.version & 0xff, bp->hdr.init_size, bp->hdr.ramdisk_image);
	fixture_destroy(f);
}

static void test_debian_vmlinux_linux64(void **state)
{
	struct fixture *f = fixture_create("vmlinux");
	struct boot_params *bp = (struct boot_params *)(f->ram + BOOT_PARAMS_GPA);
	struct boot_x86_entry e;

	fixture_load(f, BOOT_PROTOCOL_LINUX64, &e);
	assert_string_equal(e.format, "vmlinux");
	assert_true(e.long_mode);
	assert_int_equal(e.regs.rsi, BOOT_PARAMS_GPA);
	/* phys_startup_64: the ELF entry is a physical address */
	assert_int_equal(e.regs.rip, 0x1000000);
	/* the first bytes of startup_64 are the file's first LOAD segment (at offset 0x200000) */
	assert_memory_equal(f->ram + 0x1000000, f->file + 0x200000, 4096);
	check_initrd(f, bp->hdr.ramdisk_image, bp->hdr.ramdisk_size, e.kernel_end);
	assert_int_equal(bp->e820_entries, 4);
	printf("vmlinux: image ends at 0x%llx, initrd at 0x%x\n", (unsigned long long)e.kernel_end,
	       bp->hdr.ramdisk_image);
	fixture_destroy(f);
}

static void test_debian_vmlinux_pvh(void **state)
{
	struct fixture *f = fixture_create("vmlinux");
	struct boot_x86_entry e;
	uint32_t magic, nr_modules;
	uint64_t mod[2];

	/* the Debian kernel carries the PVH note, so the default is PVH */
	fixture_load(f, BOOT_PROTOCOL_AUTO, &e);
	assert_string_equal(e.format, "pvh");
	assert_false(e.long_mode);
	assert_true(e.regs.rip >= 0x1000000 && e.regs.rip < e.kernel_end);
	assert_int_equal(e.regs.rbx, BOOT_PARAMS_GPA);
	memcpy(&magic, f->ram + BOOT_PARAMS_GPA, 4);
	assert_int_equal(magic, 0x336ec578);
	memcpy(&nr_modules, f->ram + BOOT_PARAMS_GPA + 12, 4);
	assert_int_equal(nr_modules, 1);
	memcpy(&mod[0], f->ram + BOOT_PARAMS_GPA + 16, 8);
	memcpy(mod, f->ram + mod[0], sizeof(mod));
	check_initrd(f, mod[0], mod[1], e.kernel_end);
	printf("pvh: entry 0x%llx\n", (unsigned long long)e.regs.rip);
	fixture_destroy(f);
}

/*
 * Linux copies COMMAND_LINE_SIZE (2048) bytes of the command line without looking for its NUL:
 * a longer line would hang the guest silently. Refused up front for every way of entering the
 * Debian kernel, PVH included (the PVH ABI has no limit of its own); 2047 bytes still boot.
 */
static void test_debian_cmdline_limit(void **state)
{
	static const enum boot_protocol protos[] = { BOOT_PROTOCOL_AUTO, BOOT_PROTOCOL_LINUX64 };
	static const char *const files[] = { "vmlinux", "bzImage" };
	char line[2049];

	for (unsigned k = 0; k < ARRAY_SIZE(files); k++) {
		for (unsigned i = 0; i < ARRAY_SIZE(protos); i++) {
			struct fixture *f;
			struct boot_x86_config cfg;
			struct boot_x86_entry e;
			char log[1024];

			if (!strcmp(files[k], "bzImage") && protos[i] != BOOT_PROTOCOL_AUTO)
				continue;
			f = fixture_create(files[k]);
			cfg = (struct boot_x86_config){
				.kernel_path = f->kernel,
				.cmdline = line,
				.protocol = protos[i],
				.low_ram_end = GUEST_MEM,
				.rsdp_gpa = ACPI_TABLES_GPA,
			};
			memset(line, 'x', 2048);
			line[2048] = '\0';
			assert_int_equal(test_log_capture_start(), 0);
			assert_int_equal(boot_x86_load(f->mm, &cfg, &e), -E2BIG);
			test_log_peek(log, sizeof(log));
			test_log_capture_stop();
			assert_non_null(strstr(log, "--cmdline is 2048 bytes"));
			assert_non_null(strstr(log, "the kernel accepts at most"));
			line[2047] = '\0';
			assert_int_equal(boot_x86_load(f->mm, &cfg, &e), 0);
			fixture_destroy(f);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_debian_bzimage),
		cmocka_unit_test(test_debian_vmlinux_linux64),
		cmocka_unit_test(test_debian_vmlinux_pvh),
		cmocka_unit_test(test_debian_cmdline_limit),
	};

	log_level = LOG_ERR;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
