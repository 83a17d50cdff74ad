// SPDX-License-Identifier: MIT
/*
 * arm64_boot_load against handcrafted Image files written at run time (a valid one, malformed
 * ones, and x86 kernels, which must be named as such in one line), and against the real Debian
 * arm64 kernel when tests/testhost/fetch-kernel.sh has fetched it. Guest RAM is an anonymous
 * mapping registered in a memmap (no KVM).
 */
#include "tests/unit/test_helpers.h"

#include <elf.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "vmm/arm64/boot.h"
#include "vmm/arm64/layout.h"
#include "vmm/memmap.h"

/* where make ARCH=arm64 puts the Debian arm64 kernel (tests/testhost, ARCH=arm64) */
#define DEBIAN_IMAGE "build/arm64/testhost/kernel/Image"
#define MIB (1ULL << 20)

static char tmpdir[64];

struct guest {
	struct memmap *mm;
	uint8_t *ram;
	uint64_t size;
};

static void guest_create(struct guest *g, uint64_t size)
{
	struct memmap_region r = {
		.gpa = RAM_GPA, .size = size, .kind = MEMMAP_RAM, .fd = -1, .kvm_slot = -1
	};

	g->size = size;
	g->ram = mmap(NULL, size, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	assert_true(g->ram != MAP_FAILED);
	r.hva = g->ram;
	snprintf(r.name, sizeof(r.name), "ram");
	assert_int_equal(memmap_create(&g->mm), 0);
	assert_int_equal(memmap_add_region(g->mm, &r), 0);
}

static void guest_destroy(struct guest *g)
{
	memmap_destroy(g->mm);
	munmap(g->ram, g->size);
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static const char *write_file(const char *name, const void *data, size_t len)
{
	static char path[8][128];
	static unsigned next;
	char *p = path[next++ % 8];
	int fd;

	snprintf(p, sizeof(path[0]), "%s/%s", tmpdir, name);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
	return p;
}

/* An Image of `len` bytes: header fields as given, the body a recognisable pattern. */
/* An Image of len bytes (the buffer holds at least the 64-byte header: a truncated file is
 * written with fewer) */
static uint8_t *make_image(size_t len, uint64_t text_offset, uint64_t image_size, uint64_t flags)
{
	uint8_t *img = malloc(MAX(len, (size_t)64));

	assert_non_null(img);
	for (size_t i = 0; i < len; i++)
		img[i] = (uint8_t)(i * 7 + 3);
	memset(img, 0, 64);
	put64(img + 0x08, text_offset);
	put64(img + 0x10, image_size);
	put64(img + 0x18, flags);
	memcpy(img + 0x38, "ARM\x64", 4);
	return img;
}

static const char *image_file(const char *name, size_t len, uint64_t text_offset,
			      uint64_t image_size, uint64_t flags)
{
	uint8_t *img = make_image(len, text_offset, image_size, flags);
	const char *p = write_file(name, img, len);

	free(img);
	return p;
}

static int load(struct guest *g, const char *kernel, const char *initrd, const char *cmdline,
		struct arm64_boot_info *bi)
{
	struct arm64_boot_config cfg = { .kernel_path = kernel,
					 .initrd_path = initrd,
					 .cmdline = cmdline,
					 .ram_gpa = RAM_GPA,
					 .ram_size = g->size };

	memset(bi, 0, sizeof(*bi));
	return arm64_boot_load(g->mm, &cfg, bi);
}

static void test_image_and_initrd_placed(void **state)
{
	struct guest g;
	struct arm64_boot_info bi;
	size_t klen = 0x12345;
	uint8_t *img = make_image(klen, 0x80000, 0x400000, 0xa);
	const char *kernel = write_file("Image", img, klen);
	uint8_t initrd[10000];
	const char *ipath;

	for (size_t i = 0; i < sizeof(initrd); i++)
		initrd[i] = (uint8_t)(i ^ 0x5a);
	ipath = write_file("initrd", initrd, sizeof(initrd));
	guest_create(&g, 64 * MIB + 0x1000); /* not a 2 MiB multiple: the FDT still aligns */
	assert_int_equal(load(&g, kernel, ipath, "console=ttyS0", &bi), 0);
	assert_int_equal(bi.kernel_gpa, RAM_GPA + 0x80000);
	assert_int_equal(bi.kernel_end, RAM_GPA + 0x80000 + 0x400000);
	assert_int_equal(bi.text_offset, 0x80000);
	assert_int_equal(bi.flags, 0xa);
	assert_memory_equal(g.ram + 0x80000, img, klen);
	/* the device tree: the last whole 2 MiB of RAM */
	assert_int_equal(bi.fdt_gpa, RAM_GPA + 62 * MIB);
	/* the initrd: page aligned, right below the device tree */
	assert_int_equal(bi.initrd_size, sizeof(initrd));
	assert_int_equal(bi.initrd_gpa, ALIGN_DOWN(bi.fdt_gpa - sizeof(initrd), 4096));
	assert_memory_equal(g.ram + (bi.initrd_gpa - RAM_GPA), initrd, sizeof(initrd));
	free(img);
	guest_destroy(&g);
}

static void test_legacy_image_without_size(void **state)
{
	struct guest g;
	struct arm64_boot_info bi;
	const char *kernel = image_file("old", 0x3000, 0x1234, 0, 0);

	guest_create(&g, 16 * MIB);
	assert_int_equal(load(&g, kernel, NULL, NULL, &bi), 0);
	/* before 3.17 text_offset was 0x80000 whatever the field said */
	assert_int_equal(bi.kernel_gpa, RAM_GPA + 0x80000);
	assert_int_equal(bi.image_size, 0x3000);
	assert_int_equal(bi.initrd_size, 0);
	guest_destroy(&g);
}

/* x86 kernels (ELF vmlinux, bzImage) and other files: one line naming the file and what it is */
static void test_x86_kernels_named(void **state)
{
	struct guest g;
	struct arm64_boot_info bi;
	uint8_t buf[0x400] = { 0 };
	Elf64_Ehdr *eh = (Elf64_Ehdr *)buf;
	const char *p;

	guest_create(&g, 16 * MIB);
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_machine = EM_X86_64;
	p = write_file("vmlinux-x86", buf, sizeof(buf));
	test_log_forget();
	assert_int_equal(load(&g, p, NULL, NULL, &bi), -ENOEXEC);
	assert_log_one_line(p, "an x86_64 ELF kernel (vmlinux); this ptvm (arm64)");

	memset(buf, 0, sizeof(buf));
	memcpy(buf + 0x202, "HdrS", 4);
	p = write_file("bzImage", buf, sizeof(buf));
	assert_int_equal(load(&g, p, NULL, NULL, &bi), -ENOEXEC);
	assert_log_one_line(p, "an x86 bzImage; this ptvm (arm64)");

	memset(buf, 0, sizeof(buf));
	buf[0] = 0x1f;
	buf[1] = 0x8b;
	p = write_file("Image.gz", buf, sizeof(buf));
	assert_int_equal(load(&g, p, NULL, NULL, &bi), -ENOEXEC);
	assert_log_one_line(p, "gzip-compressed");

	p = write_file("text", "just some text\n", 15);
	assert_int_equal(load(&g, p, NULL, NULL, &bi), -ENOEXEC);
	assert_log_one_line(p, "not an arm64 Image");
	guest_destroy(&g);
}

static void test_malformed_images(void **state)
{
	struct guest g;
	struct arm64_boot_info bi;
	const char *p;

	guest_create(&g, 16 * MIB);
	test_log_forget();
	p = image_file("short", 0x3c, 0, 0x1000, 0); /* the magic, but no whole header */
	assert_int_equal(load(&g, p, NULL, NULL, &bi), -ENOEXEC);
	assert_log_one_line(p, "truncated");

	p = image_file("be", 0x1000, 0, 0x2000, 1);
	assert_int_equal(load(&g, p, NULL, NULL, &bi), -ENOEXEC);
	assert_log_one_line(p, "big-endian");

	p = image_file("offset", 0x1000, 0x200000, 0x2000, 0);
	assert_int_equal(load(&g, p, NULL, NULL, &bi), -ENOEXEC);
	assert_log_one_line(p, "text_offset 0x200000");

	p = image_file("smallsize", 0x3000, 0, 0x2000, 0);
	assert_int_equal(load(&g, p, NULL, NULL, &bi), -ENOEXEC);
	assert_log_one_line(p, "image_size 0x2000 is smaller");

	p = image_file("huge", 0x1000, 0, UINT64_MAX - 0x1000, 0);
	assert_int_equal(load(&g, p, NULL, NULL, &bi), -ENOEXEC);
	assert_log_one_line(p, "overflows");

	/* the EFI stub's PE header: its sections end past a truncated file's end */
	{
		uint8_t *img = make_image(0x3000, 0, 0x10000, 0);

		memset(img + 0x40, 0, 0x200);
		img[0x3c] = 0x40;
		memcpy(img + 0x40, "PE\0\0", 4);
		img[0x40 + 6] = 1;     /* one section */
		img[0x40 + 20] = 0xa0; /* optional header size */
		/* section at 0x40 + 24 + 0xa0: raw size 0x2000 at file offset 0x1800 */
		put64(img + 0x40 + 24 + 0xa0 + 16, 0x1800ULL << 32 | 0x2000);
		p = write_file("pe-cut", img, 0x3000);
		assert_int_equal(load(&g, p, NULL, NULL, &bi), -ENOEXEC);
		assert_log_one_line(p, "truncated (its PE sections end at 0x3800");
		/* whole: raw data up to 0x3000 */
		put64(img + 0x40 + 24 + 0xa0 + 16, 0x1000ULL << 32 | 0x2000);
		p = write_file("pe-whole", img, 0x3000);
		assert_int_equal(load(&g, p, NULL, NULL, &bi), 0);
		free(img);
	}
	guest_destroy(&g);
}

static void test_does_not_fit(void **state)
{
	struct guest g;
	struct arm64_boot_info bi;
	const char *kernel = image_file("big", 0x1000, 0, 15 * MIB, 0);
	uint8_t *initrd = calloc(1, 3 * MIB);
	const char *ipath;

	ipath = write_file("initrd-big", initrd, 3 * MIB);
	free(initrd);
	guest_create(&g, 16 * MIB);
	test_log_forget();
	/* image_size reaches into the device tree's 2 MiB */
	assert_int_equal(load(&g, kernel, NULL, NULL, &bi), -ENOMEM);
	assert_log_one_line(kernel, "raise --memory");
	/* the kernel fits, the initrd does not */
	kernel = image_file("mid", 0x1000, 0, 12 * MIB, 0);
	assert_int_equal(load(&g, kernel, ipath, NULL, &bi), -ENOMEM);
	assert_log_one_line(ipath, "raise --memory");
	guest_destroy(&g);
	/* RAM too small for the device tree itself */
	guest_create(&g, 3 * MIB);
	assert_int_equal(load(&g, kernel, NULL, NULL, &bi), -ENOMEM);
	assert_log_one_line("guest RAM", "raise --memory");
	guest_destroy(&g);
}

static void test_bad_files_and_cmdline(void **state)
{
	struct guest g;
	struct arm64_boot_info bi;
	const char *kernel = image_file("ok", 0x1000, 0, 0x2000, 0);
	char *cmdline = malloc(ARM64_CMDLINE_SIZE + 1);
	char missing[128];

	guest_create(&g, 16 * MIB);
	test_log_forget();
	snprintf(missing, sizeof(missing), "%s/nope", tmpdir);
	assert_int_equal(load(&g, missing, NULL, NULL, &bi), -ENOENT);
	assert_log_one_line(missing, "No such file");
	assert_int_equal(load(&g, tmpdir, NULL, NULL, &bi), -EINVAL);
	assert_log_one_line(tmpdir, "not a regular file");
	assert_int_equal(load(&g, kernel, missing, NULL, &bi), -ENOENT);
	assert_log_one_line("initrd", missing);
	memset(cmdline, 'x', ARM64_CMDLINE_SIZE);
	cmdline[ARM64_CMDLINE_SIZE] = '\0';
	assert_int_equal(load(&g, kernel, NULL, cmdline, &bi), -E2BIG);
	assert_log_one_line("--cmdline", "at most 2047");
	cmdline[ARM64_CMDLINE_SIZE - 1] = '\0';
	assert_int_equal(load(&g, kernel, NULL, cmdline, &bi), 0);
	free(cmdline);
	guest_destroy(&g);
}

static void test_debian_image(void **state)
{
	struct guest g;
	struct arm64_boot_info bi;
	struct stat st;

	if (stat(DEBIAN_IMAGE, &st) != 0)
		skip(); /* the Debian arm64 kernel is not fetched (make ARCH=arm64 testhost-kernel)
			 */
	guest_create(&g, 256 * MIB);
	assert_int_equal(load(&g, DEBIAN_IMAGE, NULL, NULL, &bi), 0);
	/* Debian's 6.1 arm64 kernels: text_offset 0, 4 KiB pages, placement anywhere */
	assert_int_equal(bi.text_offset, 0);
	assert_int_equal(bi.kernel_gpa, RAM_GPA);
	assert_true(bi.image_size > (uint64_t)st.st_size);
	assert_int_equal(bi.flags & 1, 0);
	assert_memory_equal(g.ram + 0x38, "ARM\x64", 4);
	guest_destroy(&g);
}

static int setup(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/ptvm-arm64-boot-XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	return test_log_setup(state);
}

static int teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	assert_int_equal(system(cmd), 0);
	return test_log_teardown(state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_image_and_initrd_placed),
		cmocka_unit_test(test_legacy_image_without_size),
		cmocka_unit_test(test_x86_kernels_named),
		cmocka_unit_test(test_malformed_images),
		cmocka_unit_test(test_does_not_fit),
		cmocka_unit_test(test_bad_files_and_cmdline),
		cmocka_unit_test(test_debian_image),
	};

	return cmocka_run_group_tests_name("arm64_boot_load", tests, setup, teardown);
}
