// SPDX-License-Identifier: MIT
/*
 * arm64 direct kernel boot. The Image header (64 bytes, little endian):
 *
 *   0x00 code0, code1      0x08 text_offset     0x10 image_size    0x18 flags
 *   0x20 res2  0x28 res3   0x30 res4            0x38 magic "ARM\x64"  0x3c PE header offset
 *
 * The kernel is read straight into guest RAM at RAM_GPA (2 MiB aligned) + text_offset; it needs
 * image_size bytes from there (its BSS and early page tables included). The device tree takes the
 * last 2 MiB-aligned 2 MiB of RAM (8-byte aligned, at most 2 MiB, never sharing a 2 MiB block
 * with anything the kernel maps differently), and the initrd goes just below it.
 */
#include "boot.h"

#include <errno.h>
#include <string.h>

#include "layout.h"
#include "vmm/loader.h"
#include "vmm/log.h"

#define IMAGE_HEADER_SIZE 64
#define IMAGE_MAGIC 0x644d5241U /* "ARM\x64" */
#define IMAGE_FLAG_BE (1ULL << 0)
/* kernels before 3.17 had image_size 0 and this text_offset */
#define IMAGE_LEGACY_TEXT_OFFSET 0x80000ULL

static uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Refuses anything that is not a little-endian arm64 Image, naming what it is instead. */
static int image_check(struct loader_file *f, const uint8_t *head, size_t len)
{
	const char *arch, *kind = loader_kernel_kind(head, len, &arch);

	if (kind && !strcmp(kind, "an arm64 Image"))
		return 0;
	if (kind)
		pr_err("kernel %s: %s; this ptvm (arm64) boots an uncompressed arm64 Image",
		       f->path, kind);
	else
		pr_err("kernel %s: not an arm64 Image (no \"ARM\\x64\" magic at offset 0x38)",
		       f->path);
	return -ENOEXEC;
}

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

/*
 * An Image with the EFI stub is also a PE/COFF file (its header at the offset in 0x3c): the
 * section table says where the file's code and data end, so a truncated copy is refused here
 * instead of booting into the zeros past its end. Images without the stub are not checked.
 */
static int image_check_pe_size(struct loader_file *f, const uint8_t *head, size_t len)
{
	uint32_t pe = le32(head + 0x3c);
	uint64_t end = 0;
	unsigned nsec, sec;

	if (!pe || pe > len - 24 || memcmp(head + pe, "PE\0\0", 4))
		return 0;
	nsec = le16(head + pe + 6);
	sec = pe + 24 + le16(head + pe + 20);
	if (sec + 40ULL * nsec > len)
		return 0; /* a section table beyond the first page: not looked at */
	for (unsigned i = 0; i < nsec; i++, sec += 40)
		end = MAX(end, (uint64_t)le32(head + sec + 20) + le32(head + sec + 16));
	if (end > f->size) {
		pr_err("kernel %s: truncated (its PE sections end at 0x%llx, the file has 0x%llx "
		       "bytes)",
		       f->path, (unsigned long long)end, (unsigned long long)f->size);
		return -ENOEXEC;
	}
	return 0;
}

static int image_parse(struct loader_file *f, const struct arm64_boot_config *cfg,
		       struct arm64_boot_info *bi)
{
	uint8_t head[LOADER_KERNEL_HEAD_SIZE];
	size_t len = (size_t)MIN(f->size, sizeof(head));
	int ret;

	ret = loader_file_read(f, 0, head, len);
	if (ret)
		return ret;
	ret = image_check(f, head, len);
	if (ret)
		return ret;
	if (len < IMAGE_HEADER_SIZE) {
		pr_err("kernel %s: truncated (the Image header has 64 bytes, the file %zu)",
		       f->path, len);
		return -ENOEXEC;
	}
	bi->text_offset = le64(head + 0x08);
	bi->image_size = le64(head + 0x10);
	bi->flags = le64(head + 0x18);
	if (le32(head + 0x38) != IMAGE_MAGIC)
		return -ENOEXEC; /* image_check saw it; kept for the reader */
	ret = image_check_pe_size(f, head, len);
	if (ret)
		return ret;
	if (!bi->image_size) {
		/* before 3.17: no size, text_offset fixed; keep the file's bytes free */
		bi->text_offset = IMAGE_LEGACY_TEXT_OFFSET;
		bi->image_size = f->size;
	}
	if (bi->flags & IMAGE_FLAG_BE) {
		pr_err("kernel %s: a big-endian arm64 Image; ptvm runs little-endian guests",
		       f->path);
		return -ENOEXEC;
	}
	if (bi->text_offset >= SZ_2M || bi->text_offset % 4096) {
		pr_err("kernel %s: Image text_offset 0x%llx is not a page offset inside 2 MiB",
		       f->path, (unsigned long long)bi->text_offset);
		return -ENOEXEC;
	}
	if (bi->image_size < f->size) {
		pr_err("kernel %s: Image image_size 0x%llx is smaller than the file (0x%llx "
		       "bytes)",
		       f->path, (unsigned long long)bi->image_size, (unsigned long long)f->size);
		return -ENOEXEC;
	}
	bi->kernel_gpa = ALIGN_UP(cfg->ram_gpa, SZ_2M) + bi->text_offset;
	if (bi->image_size > UINT64_MAX - bi->kernel_gpa) {
		pr_err("kernel %s: Image image_size 0x%llx overflows", f->path,
		       (unsigned long long)bi->image_size);
		return -ENOEXEC;
	}
	bi->kernel_end = bi->kernel_gpa + bi->image_size;
	return 0;
}

static int initrd_load(struct memmap *mm, const struct arm64_boot_config *cfg,
		       struct arm64_boot_info *bi)
{
	struct loader_file f;
	int ret;

	if (!cfg->initrd_path)
		return 0;
	ret = loader_file_open(&f, "initrd", cfg->initrd_path);
	if (ret)
		return ret;
	if (!f.size) {
		pr_warn("initrd %s is empty, booting without one", f.path);
		goto out_close;
	}
	if (!loader_place_top_down(f.size, ALIGN_UP(bi->kernel_end, SZ_4K), bi->fdt_gpa, SZ_4K,
				   &bi->initrd_gpa)) {
		pr_err("initrd %s (%llu bytes) does not fit in guest RAM between the kernel end "
		       "0x%llx and the device tree at 0x%llx: raise --memory",
		       f.path, (unsigned long long)f.size, (unsigned long long)bi->kernel_end,
		       (unsigned long long)bi->fdt_gpa);
		ret = -ENOMEM;
		goto out_close;
	}
	ret = loader_file_to_guest(&f, mm, bi->initrd_gpa);
	if (!ret)
		bi->initrd_size = f.size;
out_close:
	loader_file_close(&f);
	return ret;
}

int arm64_boot_load(struct memmap *mm, const struct arm64_boot_config *cfg,
		    struct arm64_boot_info *out)
{
	uint64_t ram_end = cfg->ram_gpa + cfg->ram_size;
	struct arm64_boot_info bi = { 0 };
	struct loader_file f;
	size_t cmdline_len = cfg->cmdline ? strlen(cfg->cmdline) : 0;
	int ret;

	if (!cfg->kernel_path) {
		pr_err("no kernel given (--kernel)");
		return -EINVAL;
	}
	if (cmdline_len >= ARM64_CMDLINE_SIZE) {
		pr_err("--cmdline is %zu bytes; the arm64 kernel accepts at most %d", cmdline_len,
		       ARM64_CMDLINE_SIZE - 1);
		return -E2BIG;
	}
	if (ALIGN_DOWN(ram_end, SZ_2M) < cfg->ram_gpa + FDT_MAX_SIZE) {
		pr_err("boot: guest RAM [0x%llx, 0x%llx) has no room for the device tree: raise "
		       "--memory",
		       (unsigned long long)cfg->ram_gpa, (unsigned long long)ram_end);
		return -ENOMEM;
	}
	bi.fdt_gpa = ALIGN_DOWN(ram_end, SZ_2M) - FDT_MAX_SIZE;

	ret = loader_file_open(&f, "kernel", cfg->kernel_path);
	if (ret)
		return ret;
	ret = image_parse(&f, cfg, &bi);
	if (ret)
		goto out_close;
	if (bi.kernel_end > bi.fdt_gpa) {
		pr_err("kernel %s: needs guest RAM up to 0x%llx (image_size 0x%llx), the device "
		       "tree sits at 0x%llx: raise --memory",
		       f.path, (unsigned long long)bi.kernel_end, (unsigned long long)bi.image_size,
		       (unsigned long long)bi.fdt_gpa);
		ret = -ENOMEM;
		goto out_close;
	}
	ret = loader_file_to_guest(&f, mm, bi.kernel_gpa);
	if (ret)
		goto out_close;
	ret = initrd_load(mm, cfg, &bi);
	if (ret)
		goto out_close;
	pr_info("kernel %s: arm64 Image at 0x%llx (text_offset 0x%llx, image_size 0x%llx)", f.path,
		(unsigned long long)bi.kernel_gpa, (unsigned long long)bi.text_offset,
		(unsigned long long)bi.image_size);
	if (bi.initrd_size)
		pr_info("initrd %s: [0x%llx, 0x%llx)", cfg->initrd_path,
			(unsigned long long)bi.initrd_gpa,
			(unsigned long long)(bi.initrd_gpa + bi.initrd_size));
	*out = bi;
out_close:
	loader_file_close(&f);
	return ret;
}
