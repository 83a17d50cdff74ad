// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the x86 kernel loader (vmm/boot_x86.c): the input is the kernel file
 * (a vmlinux or PVH ELF of either class, or a bzImage; seeds derived from the Debian kernel's
 * own headers by tests/fuzz/mkseeds.py), loaded into guest RAM of a chosen size with a chosen
 * protocol, initrd and command line, as `ptvm run --kernel` would. Host input rather than
 * guest input, but a file a user may download: a bad one must get one clear error, never a
 * crash or a write outside guest RAM.
 *
 * Input: u8 protocol (0 auto, 1 PVH, 2 Linux 64-bit), u8 low RAM (2, 8, 64 or 128 MiB; bit 7:
 * also 64 MiB above 4 GiB), u8 initrd (none, 4 KiB, 1 MiB, empty, a missing file, a
 * directory), u8 command line (0, 16, 2047, 2048, 4095, 65535 or 65536 bytes), then the
 * kernel file. Checked after a successful load: the command line sits in guest RAM as given,
 * the entry state is a long-mode or 32-bit PVH one with the boot GDT, and the entry point
 * lies inside the loaded image.
 *
 * FUZZ_SOURCES: vmm/x86/boot.c
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tests/fuzz/lib/fuzz_lib.h"
#include "vmm/x86/boot.h"
#include "vmm/x86/layout.h"
#include "vmm/util.h"

#define RAM_MAX (128 * SZ_1M)
#define HIGH_RAM_SIZE (64 * SZ_1M)

static uint8_t *ram;
static struct memmap *mm;
static int kernel_fd = -1, initrd_fd[2] = { -1, -1 }, empty_fd = -1;
static char kernel_path[64], initrd_path[2][64], empty_path[64];
static char *cmdline;

static int fuzz_memfd(const char *name, size_t size, char path[64])
{
	int fd = memfd_create(name, MFD_CLOEXEC);
	uint8_t page[4096];

	if (fd < 0)
		fuzz_fail("memfd: %s", strerror(errno));
	for (size_t i = 0; i < sizeof(page); i++)
		page[i] = (uint8_t)(i * 31);
	for (size_t off = 0; off < size; off += sizeof(page))
		if (pwrite(fd, page, MIN(sizeof(page), size - off), (off_t)off) < 0)
			fuzz_fail("memfd write: %s", strerror(errno));
	snprintf(path, 64, "/proc/self/fd/%d", fd);
	return fd;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_lib_init(FUZZ_CHECK_FDS);
	/* touched only where the loader writes: the rest costs nothing */
	ram = mmap(NULL, RAM_MAX, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	cmdline = malloc(65537);
	if (ram == MAP_FAILED || !cmdline || memmap_create(&mm))
		fuzz_fail("setup");
	for (unsigned i = 0; i < 65536; i++)
		cmdline[i] = "console=ttyS0 "[i % 14];
	kernel_fd = fuzz_memfd("ptvm-fuzz-kernel", 0, kernel_path);
	initrd_fd[0] = fuzz_memfd("ptvm-fuzz-initrd", 4096, initrd_path[0]);
	initrd_fd[1] = fuzz_memfd("ptvm-fuzz-initrd", SZ_1M, initrd_path[1]);
	empty_fd = fuzz_memfd("ptvm-fuzz-empty", 0, empty_path);
	return 0;
}

static void ram_region(uint64_t gpa, uint64_t size, uint8_t *hva)
{
	struct memmap_region r = {
		.gpa = gpa,
		.size = size,
		.kind = MEMMAP_RAM,
		.hva = hva,
		.fd = -1,
		.kvm_slot = -1,
	};

	snprintf(r.name, sizeof(r.name), "ram@0x%llx", (unsigned long long)gpa);
	if (memmap_add_region(mm, &r))
		fuzz_fail("memmap_add_region");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint64_t low_sizes[] = { 2 * SZ_1M, 8 * SZ_1M, 64 * SZ_1M, RAM_MAX };
	static const unsigned cmdline_lens[] = { 0, 16, 2047, 2048, 4095, 65535, 65536, 100 };
	static const enum boot_protocol protocols[] = { BOOT_PROTOCOL_AUTO, BOOT_PROTOCOL_PVH,
							BOOT_PROTOCOL_LINUX64 };
	struct fuzz_in in = fuzz_in_make(data, size);
	uint8_t proto = fuzz_u8(&in), ramc = fuzz_u8(&in), initrd = fuzz_u8(&in),
		cmd = fuzz_u8(&in);
	unsigned cmd_len = cmdline_lens[cmd % ARRAY_SIZE(cmdline_lens)];
	const char *initrds[] = { NULL,	      initrd_path[0],	     initrd_path[1],
				  empty_path, "/nonexistent/initrd", "/proc/self" };
	struct boot_x86_config cfg = {
		.kernel_path = kernel_path,
		.initrd_path = initrds[initrd % ARRAY_SIZE(initrds)],
		.cmdline = cmd_len ? cmdline : NULL,
		.protocol = protocols[proto % ARRAY_SIZE(protocols)],
		.low_ram_end = low_sizes[ramc % ARRAY_SIZE(low_sizes)],
		.high_ram_size = ramc & 0x80 ? HIGH_RAM_SIZE : 0,
		.rsdp_gpa = ACPI_TABLES_GPA,
	};
	struct boot_x86_entry e;
	char saved = cmdline[cmd_len];
	int ret;

	fuzz_input_begin();
	if (ftruncate(kernel_fd, 0) ||
	    pwrite(kernel_fd, in.p, fuzz_in_left(&in), 0) != (ssize_t)fuzz_in_left(&in))
		fuzz_fail("kernel memfd: %s", strerror(errno));
	cmdline[cmd_len] = '\0';
	ram_region(0, cfg.low_ram_end, ram);
	if (cfg.high_ram_size)
		ram_region(RAM_ABOVE_4G_START, cfg.high_ram_size, ram + RAM_MAX - HIGH_RAM_SIZE);
	memset(&e, 0, sizeof(e));
	ret = boot_x86_load(mm, &cfg, &e);
	if (ret && ret != -ENOEXEC && ret != -ENOMEM && ret != -E2BIG && ret != -ENOENT &&
	    ret != -EINVAL && ret != -EFBIG && ret != -EISDIR)
		fuzz_fail("boot_x86_load returned %d (%s)", ret, strerror(-ret));
	if (!ret) {
		if (memcmp(ram + BOOT_CMDLINE_GPA, cmd_len ? cmdline : "", cmd_len + 1))
			fuzz_fail("the command line in guest RAM is not the one given");
		if (e.gdt_base != BOOT_GDT_GPA || (!e.long_mode && e.regs.rbx != BOOT_PARAMS_GPA) ||
		    (e.long_mode && e.regs.rsi != BOOT_PARAMS_GPA))
			fuzz_fail("%s entry state: gdt 0x%llx rbx 0x%llx rsi 0x%llx", e.format,
				  (unsigned long long)e.gdt_base, (unsigned long long)e.regs.rbx,
				  (unsigned long long)e.regs.rsi);
		if (e.regs.rip < KERNEL_LOAD_GPA || e.regs.rip >= e.kernel_end)
			fuzz_fail("%s entry 0x%llx outside the image [0x%llx, 0x%llx)", e.format,
				  (unsigned long long)e.regs.rip,
				  (unsigned long long)KERNEL_LOAD_GPA,
				  (unsigned long long)e.kernel_end);
	}
	cmdline[cmd_len] = saved;
	if (cfg.high_ram_size && memmap_del_region(mm, RAM_ABOVE_4G_START))
		fuzz_fail("memmap_del_region");
	if (memmap_del_region(mm, 0))
		fuzz_fail("memmap_del_region");
	fuzz_input_end();
	return 0;
}
