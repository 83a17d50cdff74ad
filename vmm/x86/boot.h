/* SPDX-License-Identifier: MIT */
/*
 * x86 direct kernel boot, no firmware: loads a PVH ELF, a 64-bit vmlinux ELF or a bzImage
 * into guest RAM together with the initrd, the command line, boot_params or hvm_start_info
 * (with the e820 map), a GDT and identity page tables, and describes the BSP state the
 * kernel expects at its entry point.
 */
#ifndef PTVM_BOOT_X86_H
#define PTVM_BOOT_X86_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>

#include "vmm/memmap.h"

enum boot_protocol {
	BOOT_PROTOCOL_AUTO,    /* PVH when the ELF has the PVH note, else the 64-bit entry */
	BOOT_PROTOCOL_PVH,     /* 32-bit PVH entry with hvm_start_info in EBX */
	BOOT_PROTOCOL_LINUX64, /* Linux 64-bit boot protocol: boot_params in RSI */
};

struct boot_x86_config {
	const char *kernel_path;
	const char *initrd_path; /* may be NULL */
	const char *cmdline;	 /* may be NULL */
	enum boot_protocol protocol;
	uint64_t low_ram_end;	/* RAM [0, low_ram_end): at most PCI_HOLE_START */
	uint64_t high_ram_size; /* RAM [RAM_ABOVE_4G_START, +high_ram_size), may be 0 */
	uint64_t rsdp_gpa;	/* ACPI RSDP, placed by the caller (ACPI_TABLES_GPA) */
};

struct boot_x86_entry {
	const char *format;	   /* "pvh", "vmlinux", "bzImage" for logs */
	bool long_mode;		   /* 64-bit entry (vmlinux/bzImage) vs 32-bit PVH entry */
	struct kvm_regs regs;	   /* full BSP register file to set */
	struct kvm_segment cs, ds; /* ds used for ds/es/fs/gs/ss */
	uint64_t cr0, cr3, cr4, efer;
	uint64_t gdt_base;
	uint16_t gdt_limit;
	uint64_t kernel_end; /* first byte after the loaded kernel image, for checks/logs */
};

/* GDT selectors the boot code installs at BOOT_GDT_GPA (Linux's __BOOT_CS/__BOOT_DS). */
#define BOOT_GDT_CODE32 0x08
#define BOOT_GDT_CODE64 0x10
#define BOOT_GDT_DATA 0x18

/*
 * Loads the kernel (+ initrd, command line, boot_params or hvm_start_info, e820, GDT, page
 * tables) into guest RAM through mm and fills *out with the entry state. Returns 0, or
 * -errno after one pr_err naming the culprit: -ENOENT and friends for unreadable files,
 * -ENOEXEC for a file that is no bootable kernel (or is malformed or truncated), -ENOMEM
 * when kernel or initrd do not fit in guest RAM, -E2BIG for a command line that is too
 * long, -EINVAL for an inconsistent configuration.
 */
int boot_x86_load(struct memmap *mm, const struct boot_x86_config *cfg,
		  struct boot_x86_entry *out) __must_check;

/*
 * Copies the entry state into sregs fetched with KVM_GET_SREGS: cs, ds/es/fs/gs/ss, cr0,
 * cr3, cr4, efer, gdt, and an empty IDT at BOOT_IDT_GPA (an early fault becomes a triple
 * fault that ptvm reports, rather than a jump through whatever the reset IDT points at).
 */
void boot_x86_entry_apply_sregs(const struct boot_x86_entry *e, struct kvm_sregs *sregs);

#endif
