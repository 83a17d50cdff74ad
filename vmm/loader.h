/* SPDX-License-Identifier: MIT */
/*
 * What the boot code of every architecture shares: files read into guest RAM through the
 * memory map (never past the file's end, never outside RAM), top-down placement below a limit,
 * and naming a kernel file's architecture and format, so that a kernel built for the other
 * architecture is refused with one line that says what it is.
 */
#ifndef PTVM_LOADER_H
#define PTVM_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "memmap.h"
#include "util.h"

struct loader_file {
	const char *what; /* "kernel", "initrd": the first word of every message */
	const char *path;
	int fd;
	uint64_t size;
};

/* Opens a regular file for loading; -errno after one pr_err ("initrd PATH: ..."). */
int loader_file_open(struct loader_file *f, const char *what, const char *path) __must_check;
void loader_file_close(struct loader_file *f);
/* Reads [off, off+len) of the file into dst; -ENOEXEC when the file is shorter (pr_err). */
int loader_file_read(struct loader_file *f, uint64_t off, void *dst, uint64_t len) __must_check;
/* Reads the whole file into guest RAM at gpa; -ENOMEM (pr_err) when that is not all RAM. */
int loader_file_to_guest(struct loader_file *f, struct memmap *mm, uint64_t gpa) __must_check;

/*
 * The highest `align`-aligned address at which `size` bytes end at or below `limit` and start at
 * or above `floor`; false when there is none.
 */
bool loader_place_top_down(uint64_t size, uint64_t floor, uint64_t limit, uint64_t align,
			   uint64_t *gpa);

/*
 * Names the kernel format whose first `len` bytes are `head` (at least the first 4 KiB when the
 * file has them): "an x86_64 ELF kernel (vmlinux)", "an x86 bzImage", "an arm64 Image",
 * "an arm64 ELF kernel (vmlinux)", "a gzip-compressed file", ...; NULL when it is none ptvm
 * knows. *arch gets "x86_64", "arm64" or NULL (not a kernel of either).
 */
const char *loader_kernel_kind(const uint8_t *head, size_t len, const char **arch);

/* The bytes loader_kernel_kind wants to see. */
#define LOADER_KERNEL_HEAD_SIZE 4096

#endif
