/* SPDX-License-Identifier: MIT */
/*
 * arm64 direct kernel boot, no firmware (Linux Documentation/arm64/booting.rst): the kernel's
 * `Image` at a 2 MiB-aligned RAM base + text_offset, the initrd, and the place of the device
 * tree, whose address the boot vCPU gets in x0. The device tree itself is vmm/arm64/fdt.c's.
 */
#ifndef PTVM_ARM64_BOOT_H
#define PTVM_ARM64_BOOT_H

#include <stdint.h>

#include "vmm/memmap.h"
#include "vmm/util.h"

/* arm64 COMMAND_LINE_SIZE, with the NUL */
#define ARM64_CMDLINE_SIZE 2048

struct arm64_boot_config {
	const char *kernel_path;
	const char *initrd_path; /* may be NULL */
	const char *cmdline;	 /* may be NULL */
	uint64_t ram_gpa, ram_size;
};

struct arm64_boot_info {
	uint64_t kernel_gpa; /* where the Image starts: its entry point */
	uint64_t kernel_end; /* kernel_gpa + image_size: the kernel's whole footprint */
	uint64_t text_offset, image_size, flags;
	uint64_t initrd_gpa, initrd_size; /* size 0: none */
	uint64_t fdt_gpa;		  /* FDT_MAX_SIZE bytes reserved for the device tree */
};

/*
 * Loads the Image and the initrd into guest RAM through mm and says where the device tree goes.
 * Returns 0, or -errno after one pr_err naming the culprit: -ENOENT and friends for unreadable
 * files, -ENOEXEC for a file that is no arm64 Image (an x86 kernel is named as such), -ENOMEM
 * when it does not fit in guest RAM, -E2BIG for a command line the kernel cannot take.
 */
int arm64_boot_load(struct memmap *mm, const struct arm64_boot_config *cfg,
		    struct arm64_boot_info *out) __must_check;

#endif
