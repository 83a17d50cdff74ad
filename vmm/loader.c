// SPDX-License-Identifier: MIT
#include "loader.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

int loader_file_open(struct loader_file *f, const char *what, const char *path)
{
	struct stat st;
	int ret;

	*f = (struct loader_file){ .what = what, .path = path, .fd = -1 };
	f->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (f->fd < 0) {
		ret = -errno;
		pr_err("%s %s: %s", what, path, strerror(-ret));
		return ret;
	}
	if (fstat(f->fd, &st) < 0) {
		ret = -errno;
		pr_err("%s %s: %s", what, path, strerror(-ret));
		goto out_close;
	}
	if (!S_ISREG(st.st_mode)) {
		pr_err("%s %s: not a regular file", what, path);
		ret = -EINVAL;
		goto out_close;
	}
	f->size = (uint64_t)st.st_size;
	return 0;

out_close:
	loader_file_close(f);
	return ret;
}

void loader_file_close(struct loader_file *f)
{
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
}

int loader_file_read(struct loader_file *f, uint64_t off, void *dst, uint64_t len)
{
	uint64_t got = 0;

	if (off > f->size || len > f->size - off) {
		pr_err("%s %s: truncated (needs bytes up to 0x%llx, file has 0x%llx)", f->what,
		       f->path, (unsigned long long)(off + len), (unsigned long long)f->size);
		return -ENOEXEC;
	}
	while (got < len) {
		ssize_t n = pread(f->fd, (uint8_t *)dst + got, len - got, (off_t)(off + got));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int ret = n < 0 ? -errno : -EIO;

			pr_err("%s %s: read at 0x%llx: %s", f->what, f->path,
			       (unsigned long long)(off + got),
			       n < 0 ? strerror(-ret) : "file shrank while reading");
			return ret;
		}
		got += (uint64_t)n;
	}
	return 0;
}

int loader_file_to_guest(struct loader_file *f, struct memmap *mm, uint64_t gpa)
{
	void *dst = memmap_gpa_to_hva(mm, gpa, f->size);

	if (!dst) {
		pr_err("%s %s: [0x%llx, +0x%llx) is not guest RAM", f->what, f->path,
		       (unsigned long long)gpa, (unsigned long long)f->size);
		return -ENOMEM;
	}
	return loader_file_read(f, 0, dst, f->size);
}

bool loader_place_top_down(uint64_t size, uint64_t floor, uint64_t limit, uint64_t align,
			   uint64_t *gpa)
{
	uint64_t at;

	if (size > limit)
		return false;
	at = ALIGN_DOWN(limit - size, align);
	if (at < floor)
		return false;
	*gpa = at;
	return true;
}

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* arm64 Image: "ARM\x64" at 0x38 (Documentation/arm64/booting.rst) */
#define ARM64_IMAGE_MAGIC_OFFSET 0x38
#define ARM64_IMAGE_MAGIC 0x644d5241U
/* x86 bzImage: "HdrS" at 0x202 (Documentation/x86/boot.rst) */
#define BZIMAGE_MAGIC_OFFSET 0x202
#define BZIMAGE_MAGIC 0x53726448U
/* EFI zboot (a compressed arm64 Image in a PE wrapper): "zimg" at 4 */
#define ZBOOT_MAGIC_OFFSET 4
#define ZBOOT_MAGIC 0x676d697aU

const char *loader_kernel_kind(const uint8_t *head, size_t len, const char **arch)
{
	*arch = NULL;
	if (len >= EI_NIDENT + 4 && !memcmp(head, ELFMAG, SELFMAG)) {
		switch (le16(head + EI_NIDENT + 2)) { /* e_machine, little endian */
		case EM_X86_64:
			*arch = "x86_64";
			return "an x86_64 ELF kernel (vmlinux)";
		case EM_386:
			*arch = "x86_64";
			return "a 32-bit x86 ELF kernel";
		case EM_AARCH64:
			*arch = "arm64";
			return "an arm64 ELF kernel (vmlinux)";
		default:
			return "an ELF file for another machine";
		}
	}
	if (len >= BZIMAGE_MAGIC_OFFSET + 4 && le32(head + BZIMAGE_MAGIC_OFFSET) == BZIMAGE_MAGIC) {
		*arch = "x86_64";
		return "an x86 bzImage";
	}
	if (len >= ARM64_IMAGE_MAGIC_OFFSET + 4 &&
	    le32(head + ARM64_IMAGE_MAGIC_OFFSET) == ARM64_IMAGE_MAGIC) {
		*arch = "arm64";
		return "an arm64 Image";
	}
	if (len >= ZBOOT_MAGIC_OFFSET + 4 && le32(head + ZBOOT_MAGIC_OFFSET) == ZBOOT_MAGIC) {
		*arch = "arm64";
		return "a compressed arm64 EFI zboot image";
	}
	if (len >= 2 && head[0] == 0x1f && head[1] == 0x8b)
		return "a gzip-compressed file";
	return NULL;
}
