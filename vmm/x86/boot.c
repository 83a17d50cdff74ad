// SPDX-License-Identifier: MIT
/*
 * x86 direct kernel boot. The kernel file is read whole into host memory and every read of it
 * goes through kimage_at(), which checks the range: a malformed or truncated file ends in one
 * error line, never in a read past the buffer. Guest RAM is only reached through
 * memmap_gpa_to_hva()/memmap_write(), which refuse anything that is not RAM.
 *
 * Guest layout (vmm/x86/layout.h): GDT at BOOT_GDT_GPA, boot_params or hvm_start_info (with its
 * module list and memory map) at BOOT_PARAMS_GPA, identity page tables at BOOT_PML4_GPA..,
 * command line at BOOT_CMDLINE_GPA, kernel from 1 MiB, initrd at the top of what the kernel
 * accepts.
 */
#include "boot.h"

#include <asm/bootparam.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layout.h"
#include "vmm/loader.h"
#include "vmm/log.h"
#include "vmm/util.h"

_Static_assert(sizeof(struct boot_params) == 4096, "boot_params is the 4 KiB zero page");
_Static_assert(offsetof(struct boot_params, hdr) == 0x1f1, "setup header at 0x1f1");
_Static_assert(offsetof(struct boot_params, acpi_rsdp_addr) == 0x70, "acpi_rsdp_addr at 0x70");
_Static_assert(offsetof(struct boot_params, e820_table) == 0x2d0, "e820_table at 0x2d0");

/* xen/include/public/arch-x86/hvm/start_info.h, version 1 */
#define XEN_HVM_START_MAGIC_VALUE 0x336ec578
#define XEN_ELFNOTE_PHYS32_ENTRY 18

struct hvm_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;
	uint64_t rsdp_paddr;
	uint64_t memmap_paddr;
	uint32_t memmap_entries;
	uint32_t reserved;
};

struct hvm_modlist_entry {
	uint64_t paddr;
	uint64_t size;
	uint64_t cmdline_paddr;
	uint64_t reserved;
};

struct hvm_memmap_table_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
	uint32_t reserved;
};

_Static_assert(sizeof(struct hvm_start_info) == 56, "hvm_start_info ABI");
_Static_assert(sizeof(struct hvm_modlist_entry) == 32, "hvm_modlist_entry ABI");
_Static_assert(sizeof(struct hvm_memmap_table_entry) == 24, "hvm_memmap_table_entry ABI");

/* Where the parts of the PVH boot information go inside the zero-page slot. */
#define PVH_START_INFO_GPA BOOT_PARAMS_GPA
#define PVH_MODLIST_GPA (BOOT_PARAMS_GPA + 0x40)
#define PVH_MEMMAP_GPA (BOOT_PARAMS_GPA + 0x80)

/* e820 and hvm_memmap types (the two agree) */
#define E820_TYPE_RAM 1
#define E820_TYPE_RESERVED 2
#define BOOT_E820_MAX 8

/* bzImage setup header: file offsets and the versions we rely on */
#define BZ_HDR_OFFSET 0x1f1
#define BZ_JUMP_OFFSET 0x200
#define BZ_MAGIC_OFFSET 0x202
#define BZ_MAGIC "HdrS"
#define BZ_MIN_VERSION 0x020c /* 2.12: xloadflags with XLF_KERNEL_64 */
#define BZ_ENTRY64_OFFSET 0x200

/* What a kernel without a setup header (vmlinux) accepts: x86 COMMAND_LINE_SIZE is 2048 with
 * the NUL, and every x86_64 kernel's header.S declares initrd_addr_max 0x7fffffff. */
#define VMLINUX_CMDLINE_SIZE 2047
#define VMLINUX_INITRD_ADDR_MAX 0x7fffffffULL
#define VMLINUX_BOOT_PROTOCOL 0x020f
/* The real-mode setup code does not run under direct boot; the heap end only has to look
 * sane: the end of the 64 KiB setup segment, minus the 0x200 the protocol subtracts. */
#define BOOT_HEAP_END_PTR 0xfe00

#define X86_CR0_PE (1ULL << 0)
#define X86_CR0_ET (1ULL << 4)
#define X86_CR0_NE (1ULL << 5)
#define X86_CR0_PG (1ULL << 31)
#define X86_CR4_PAE (1ULL << 5)
#define X86_EFER_LME (1ULL << 8)
#define X86_EFER_LMA (1ULL << 10)

#define PTE_PRESENT (1ULL << 0)
#define PTE_RW (1ULL << 1)
#define PTE_PS (1ULL << 7)

/* The kernel file, read whole; every access goes through kimage_at(). */
struct kimage {
	const char *path;
	uint8_t *data;
	size_t size;
};

/* Host pointer to [off, off+len) of the file, or NULL when that is not wholly inside it. */
static const uint8_t *kimage_at(const struct kimage *k, uint64_t off, uint64_t len)
{
	if (off > k->size || len > k->size - off)
		return NULL;
	return k->data + off;
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_le64(const uint8_t *p)
{
	return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

/* The ELF header fields we use, of either class, widened. */
struct elf_hdr {
	unsigned machine, type;
	uint64_t entry, phoff;
	unsigned phnum, phentsize;
};

/* A program header of either ELF class, widened. */
struct elf_seg {
	uint32_t type;
	uint64_t offset, paddr, filesz, memsz, align;
};

struct elf_info {
	bool is64;
	uint64_t entry;
	uint64_t phoff;
	unsigned phnum;
	bool has_pvh;
	bool is_linux; /* a "Linux" ELF note: the kernel's COMMAND_LINE_SIZE applies */
	uint64_t pvh_entry;
};

/* Everything the format-specific parts hand to the common code. */
struct boot_state {
	struct memmap *mm;
	const struct boot_x86_config *cfg;
	struct kimage k;
	enum { FMT_PVH, FMT_VMLINUX, FMT_BZIMAGE } fmt;
	struct elf_info elf;
	struct setup_header hdr; /* bzImage: the file's setup header (zero-extended) */
	size_t hdr_len;		 /* bytes of it present in the file */
	uint64_t entry;
	uint64_t kernel_end;	  /* end of the loaded image */
	uint64_t kernel_need_end; /* end of what the kernel will use (bzImage init_size) */
	uint64_t cmdline_max;	  /* without the NUL */
	uint64_t initrd_limit;	  /* first byte the initrd must not reach */
	uint64_t initrd_gpa, initrd_size;
	size_t cmdline_len;
	struct boot_e820_entry e820[BOOT_E820_MAX];
	unsigned nr_e820;
};

static const char *boot_cmdline(const struct boot_state *s)
{
	return s->cfg->cmdline ? s->cfg->cmdline : "";
}

/* ---- ELF ---- */

static bool elf_is_elf(const struct kimage *k)
{
	const uint8_t *id = kimage_at(k, 0, SELFMAG);

	return id && !memcmp(id, ELFMAG, SELFMAG);
}

/* The two ELF classes differ only in field widths: read either into the widened structs. */
#define ELF_WIDEN_PHDR(type, src, out)                                                             \
	do {                                                                                       \
		type ph_;                                                                          \
		memcpy(&ph_, src, sizeof(ph_));                                                    \
		*(out) = (struct elf_seg){ph_.p_type,	ph_.p_offset, ph_.p_paddr,                 \
					  ph_.p_filesz, ph_.p_memsz,  ph_.p_align};                \
	} while (0)

#define ELF_WIDEN_EHDR(type, src, out)                                                             \
	do {                                                                                       \
		type eh_;                                                                          \
		memcpy(&eh_, src, sizeof(eh_));                                                    \
		*(out) = (struct elf_hdr){eh_.e_machine, eh_.e_type,  eh_.e_entry,                 \
					  eh_.e_phoff,	 eh_.e_phnum, eh_.e_phentsize};            \
	} while (0)

static void elf_seg_get(const struct boot_state *s, unsigned i, struct elf_seg *seg)
{
	const struct elf_info *ei = &s->elf;
	uint64_t phentsize = ei->is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
	/* elf_parse checked that the whole table lies in the file */
	const uint8_t *src = s->k.data + ei->phoff + i * phentsize;

	if (ei->is64)
		ELF_WIDEN_PHDR(Elf64_Phdr, src, seg);
	else
		ELF_WIDEN_PHDR(Elf32_Phdr, src, seg);
}

/* Scans one PT_NOTE segment for XEN_ELFNOTE_PHYS32_ENTRY and Linux's own notes. */
static int elf_scan_notes(struct boot_state *s, unsigned idx, const struct elf_seg *seg)
{
	uint64_t align = seg->align == 8 ? 8 : 4;
	const uint8_t *p = kimage_at(&s->k, seg->offset, seg->filesz);
	uint64_t pos = 0, len = seg->filesz;

	if (!p) {
		pr_err("kernel %s: truncated (note segment %u needs bytes up to 0x%llx, file has "
		       "0x%zx)",
		       s->k.path, idx, (unsigned long long)(seg->offset + seg->filesz), s->k.size);
		return -ENOEXEC;
	}
	while (len - pos >= 12) {
		uint32_t namesz = get_le32(p + pos), descsz = get_le32(p + pos + 4);
		uint32_t type = get_le32(p + pos + 8);
		uint64_t name_off = pos + 12, desc_off;

		if (ALIGN_UP((uint64_t)namesz, align) > len - name_off)
			goto malformed;
		desc_off = name_off + ALIGN_UP((uint64_t)namesz, align);
		if (descsz > len - desc_off)
			goto malformed;
		if (namesz == 6 && !memcmp(p + name_off, "Linux", 6))
			s->elf.is_linux = true;
		if (type == XEN_ELFNOTE_PHYS32_ENTRY && namesz == 4 &&
		    !memcmp(p + name_off, "Xen", 4)) {
			uint64_t entry;

			if (descsz == 4) {
				entry = get_le32(p + desc_off);
			} else if (descsz == 8) {
				entry = get_le64(p + desc_off);
			} else {
				pr_err("kernel %s: PVH entry note has %u bytes, expected 4 or 8",
				       s->k.path, descsz);
				return -ENOEXEC;
			}
			if (entry > UINT32_MAX) {
				pr_err("kernel %s: PVH entry 0x%llx is not a 32-bit address",
				       s->k.path, (unsigned long long)entry);
				return -ENOEXEC;
			}
			s->elf.has_pvh = true;
			s->elf.pvh_entry = entry;
		}
		pos = desc_off + MIN(ALIGN_UP((uint64_t)descsz, align), len - desc_off);
	}
	return 0;
malformed:
	pr_err("kernel %s: malformed ELF note at file offset 0x%llx", s->k.path,
	       (unsigned long long)(seg->offset + pos));
	return -ENOEXEC;
}

/* Checks the ELF header and program header table; finds the PVH note. */
static int elf_parse(struct boot_state *s)
{
	const struct kimage *k = &s->k;
	struct elf_info *ei = &s->elf;
	const uint8_t *id = k->data;
	uint64_t ehsize, phentsize, phtab_end;
	struct elf_hdr eh;
	int ret;

	if (k->size < EI_NIDENT) {
		pr_err("kernel %s: truncated ELF header (file has %zu bytes)", k->path, k->size);
		return -ENOEXEC;
	}
	if (id[EI_DATA] != ELFDATA2LSB ||
	    (id[EI_CLASS] != ELFCLASS64 && id[EI_CLASS] != ELFCLASS32)) {
		pr_err("kernel %s: ELF is not little-endian 32/64-bit (class %u, data %u)", k->path,
		       id[EI_CLASS], id[EI_DATA]);
		return -ENOEXEC;
	}
	ei->is64 = id[EI_CLASS] == ELFCLASS64;
	ehsize = ei->is64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr);
	if (k->size < ehsize) {
		pr_err("kernel %s: truncated ELF header (file has %zu bytes, needs %llu)", k->path,
		       k->size, (unsigned long long)ehsize);
		return -ENOEXEC;
	}
	if (ei->is64)
		ELF_WIDEN_EHDR(Elf64_Ehdr, k->data, &eh);
	else
		ELF_WIDEN_EHDR(Elf32_Ehdr, k->data, &eh);
	ei->entry = eh.entry;
	ei->phoff = eh.phoff;
	ei->phnum = eh.phnum;
	phentsize = eh.phentsize;
	if (eh.machine != (ei->is64 ? EM_X86_64 : EM_386)) {
		const char *arch, *kind = loader_kernel_kind(k->data, k->size, &arch);

		if (arch && strcmp(arch, "x86_64"))
			pr_err("kernel %s: %s; this ptvm (x86_64) boots x86 kernels (vmlinux, "
			       "PVH or bzImage)",
			       k->path, kind);
		else
			pr_err("kernel %s: ELF%d for machine %u, not %s", k->path,
			       ei->is64 ? 64 : 32, eh.machine, ei->is64 ? "x86_64" : "i386");
		return -ENOEXEC;
	}
	if (eh.type != ET_EXEC) {
		pr_err("kernel %s: ELF type %u is not an executable (ET_EXEC)", k->path, eh.type);
		return -ENOEXEC;
	}
	if (phentsize != (ei->is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr))) {
		pr_err("kernel %s: ELF program header size %llu is wrong", k->path,
		       (unsigned long long)phentsize);
		return -ENOEXEC;
	}
	if (ei->phnum == 0 || ei->phnum == PN_XNUM) {
		pr_err("kernel %s: ELF has %s program headers", k->path,
		       ei->phnum ? "too many" : "no");
		return -ENOEXEC;
	}
	/* phnum < 0xffff and phentsize <= 56: the product cannot overflow, the sum can */
	phtab_end = ei->phoff + ei->phnum * phentsize;
	if (phtab_end < ei->phoff || !kimage_at(k, ei->phoff, ei->phnum * phentsize)) {
		pr_err("kernel %s: truncated (program headers need bytes up to 0x%llx, file has "
		       "0x%zx)",
		       k->path, (unsigned long long)phtab_end, k->size);
		return -ENOEXEC;
	}
	for (unsigned i = 0; i < ei->phnum; i++) {
		struct elf_seg seg;

		elf_seg_get(s, i, &seg);
		if (seg.type == PT_NOTE) {
			ret = elf_scan_notes(s, i, &seg);
			if (ret)
				return ret;
		}
	}
	return 0;
}

/* Checks every PT_LOAD segment against the file and guest RAM, then copies them. */
static int elf_load(struct boot_state *s)
{
	const struct kimage *k = &s->k;
	uint64_t end = 0;
	bool entry_loaded = false;
	unsigned nr_load = 0;

	for (unsigned i = 0; i < s->elf.phnum; i++) {
		struct elf_seg seg;

		elf_seg_get(s, i, &seg);
		if (seg.type != PT_LOAD || !seg.memsz)
			continue;
		nr_load++;
		if (seg.filesz > seg.memsz) {
			pr_err("kernel %s: segment %u has filesz 0x%llx > memsz 0x%llx", k->path, i,
			       (unsigned long long)seg.filesz, (unsigned long long)seg.memsz);
			return -ENOEXEC;
		}
		if (!kimage_at(k, seg.offset, seg.filesz)) {
			if (seg.offset + seg.filesz < seg.offset)
				pr_err("kernel %s: segment %u file range 0x%llx + 0x%llx overflows",
				       k->path, i, (unsigned long long)seg.offset,
				       (unsigned long long)seg.filesz);
			else
				pr_err("kernel %s: truncated (segment %u needs bytes up to 0x%llx, "
				       "file has 0x%zx)",
				       k->path, i, (unsigned long long)(seg.offset + seg.filesz),
				       k->size);
			return -ENOEXEC;
		}
		if (seg.paddr + seg.memsz < seg.paddr) {
			pr_err("kernel %s: segment %u address 0x%llx + size 0x%llx overflows",
			       k->path, i, (unsigned long long)seg.paddr,
			       (unsigned long long)seg.memsz);
			return -ENOEXEC;
		}
		if (seg.paddr < HIGH_RAM_START) {
			pr_err("kernel %s: segment %u at 0x%llx overlaps the boot structures below "
			       "1 MiB",
			       k->path, i, (unsigned long long)seg.paddr);
			return -ENOEXEC;
		}
		if (!memmap_gpa_to_hva(s->mm, seg.paddr, seg.memsz)) {
			if (seg.paddr + seg.memsz <= PCI_HOLE_START) {
				pr_err("kernel %s: segment %u [0x%llx, 0x%llx) does not fit in "
				       "guest RAM (ends at 0x%llx): raise --memory",
				       k->path, i, (unsigned long long)seg.paddr,
				       (unsigned long long)(seg.paddr + seg.memsz),
				       (unsigned long long)s->cfg->low_ram_end);
				return -ENOMEM;
			}
			pr_err("kernel %s: segment %u [0x%llx, 0x%llx) lies outside guest RAM",
			       k->path, i, (unsigned long long)seg.paddr,
			       (unsigned long long)(seg.paddr + seg.memsz));
			return -ENOEXEC;
		}
		if (s->entry >= seg.paddr && s->entry < seg.paddr + seg.memsz)
			entry_loaded = true;
		end = MAX(end, seg.paddr + seg.memsz);
	}
	if (!nr_load) {
		pr_err("kernel %s: ELF has no loadable segment", k->path);
		return -ENOEXEC;
	}
	if (!entry_loaded) {
		pr_err("kernel %s: entry point 0x%llx is not inside a loaded segment", k->path,
		       (unsigned long long)s->entry);
		return -ENOEXEC;
	}
	for (unsigned i = 0; i < s->elf.phnum; i++) {
		struct elf_seg seg;
		uint8_t *dst;

		elf_seg_get(s, i, &seg);
		if (seg.type != PT_LOAD || !seg.memsz)
			continue;
		dst = memmap_gpa_to_hva(s->mm, seg.paddr, seg.memsz);
		memcpy(dst, kimage_at(k, seg.offset, seg.filesz), seg.filesz);
		memset(dst + seg.filesz, 0, seg.memsz - seg.filesz);
	}
	s->kernel_end = end;
	s->kernel_need_end = end;
	return 0;
}

/* ---- bzImage ---- */

static bool bzimage_is_bzimage(const struct kimage *k)
{
	const uint8_t *magic = kimage_at(k, BZ_MAGIC_OFFSET, 4);

	return magic && !memcmp(magic, BZ_MAGIC, 4);
}

static int bzimage_parse(struct boot_state *s)
{
	const struct kimage *k = &s->k;
	const uint8_t *jump = kimage_at(k, BZ_JUMP_OFFSET, 2);
	uint64_t hdr_end;

	/* The setup header runs from 0x1f1 to the target of the short jump at 0x200. */
	hdr_end = BZ_MAGIC_OFFSET + (uint64_t)jump[1];
	if (!kimage_at(k, 0, hdr_end)) {
		pr_err("kernel %s: truncated (setup header needs bytes up to 0x%llx, file has "
		       "0x%zx)",
		       k->path, (unsigned long long)hdr_end, k->size);
		return -ENOEXEC;
	}
	s->hdr_len = MIN(hdr_end - BZ_HDR_OFFSET, sizeof(s->hdr));
	memset(&s->hdr, 0, sizeof(s->hdr));
	memcpy(&s->hdr, k->data + BZ_HDR_OFFSET, s->hdr_len);
	if (s->hdr.version < BZ_MIN_VERSION) {
		pr_err("kernel %s: bzImage boot protocol %u.%02u is too old (the 64-bit entry "
		       "needs 2.12)",
		       k->path, s->hdr.version >> 8, s->hdr.version & 0xff);
		return -ENOEXEC;
	}
	if (!(s->hdr.xloadflags & XLF_KERNEL_64)) {
		pr_err("kernel %s: bzImage has no 64-bit entry point (XLF_KERNEL_64 not set)",
		       k->path);
		return -ENOEXEC;
	}
	return 0;
}

static int bzimage_load(struct boot_state *s)
{
	const struct setup_header *h = &s->hdr;
	const struct kimage *k = &s->k;
	uint64_t setup_size = ((uint64_t)(h->setup_sects ? h->setup_sects : 4) + 1) * 512;
	uint64_t pm_size, base;
	void *dst;

	if (k->size <= setup_size) {
		pr_err("kernel %s: truncated (bzImage setup code needs bytes up to 0x%llx, file "
		       "has 0x%zx)",
		       k->path, (unsigned long long)setup_size, k->size);
		return -ENOEXEC;
	}
	/* syssize counts 16-byte paragraphs; a signed kernel carries more after them */
	pm_size = h->syssize ? (uint64_t)h->syssize * 16 : k->size - setup_size;
	if (!kimage_at(k, setup_size, pm_size)) {
		pr_err("kernel %s: truncated (bzImage needs bytes up to 0x%llx, file has 0x%zx)",
		       k->path, (unsigned long long)(setup_size + pm_size), k->size);
		return -ENOEXEC;
	}
	if (pm_size <= BZ_ENTRY64_OFFSET) {
		pr_err("kernel %s: bzImage protected-mode part of %llu bytes has no room for the "
		       "64-bit entry at 0x%x",
		       k->path, (unsigned long long)pm_size, BZ_ENTRY64_OFFSET);
		return -ENOEXEC;
	}
	/*
	 * The decompressor works in [base, base + init_size), base being the load address
	 * aligned up to kernel_alignment but at least pref_address (LOAD_PHYSICAL_ADDR).
	 */
	base = KERNEL_LOAD_GPA;
	if (h->relocatable_kernel && h->kernel_alignment &&
	    !(h->kernel_alignment & (h->kernel_alignment - 1)))
		base = ALIGN_UP(base, (uint64_t)h->kernel_alignment);
	if (h->pref_address > base && h->pref_address < PCI_HOLE_START)
		base = h->pref_address;
	s->kernel_end = KERNEL_LOAD_GPA + pm_size;
	s->kernel_need_end = MAX(s->kernel_end, base + h->init_size);
	dst = memmap_gpa_to_hva(s->mm, KERNEL_LOAD_GPA, s->kernel_need_end - KERNEL_LOAD_GPA);
	if (!dst || s->kernel_need_end > s->cfg->low_ram_end) {
		pr_err("kernel %s: needs guest RAM up to 0x%llx, RAM ends at 0x%llx: raise "
		       "--memory",
		       k->path, (unsigned long long)s->kernel_need_end,
		       (unsigned long long)s->cfg->low_ram_end);
		return -ENOMEM;
	}
	memcpy(dst, k->data + setup_size, pm_size);
	s->entry = KERNEL_LOAD_GPA + BZ_ENTRY64_OFFSET;
	return 0;
}

/* ---- format and protocol ---- */

static int boot_detect(struct boot_state *s)
{
	const char *path = s->k.path;
	enum boot_protocol proto = s->cfg->protocol;
	int ret;

	if (elf_is_elf(&s->k)) {
		ret = elf_parse(s);
		if (ret)
			return ret;
		if (s->elf.has_pvh && proto != BOOT_PROTOCOL_LINUX64) {
			s->fmt = FMT_PVH;
			s->entry = s->elf.pvh_entry;
			return 0;
		}
		if (proto == BOOT_PROTOCOL_PVH) {
			pr_err("--boot-protocol pvh: kernel %s has no PVH entry note "
			       "(XEN_ELFNOTE_PHYS32_ENTRY)",
			       path);
			return -ENOEXEC;
		}
		if (!s->elf.is64) {
			pr_err("kernel %s: 32-bit ELF without a PVH entry note cannot be booted",
			       path);
			return -ENOEXEC;
		}
		s->fmt = FMT_VMLINUX;
		s->entry = s->elf.entry;
		return 0;
	}
	if (bzimage_is_bzimage(&s->k)) {
		if (proto == BOOT_PROTOCOL_PVH) {
			pr_err(
			    "--boot-protocol pvh: kernel %s is a bzImage, which has no PVH entry",
			    path);
			return -ENOEXEC;
		}
		s->fmt = FMT_BZIMAGE;
		return bzimage_parse(s);
	}
	{
		const char *arch, *kind = loader_kernel_kind(s->k.data, s->k.size, &arch);

		if (kind)
			pr_err("kernel %s: %s; this ptvm (x86_64) boots x86 kernels (vmlinux, PVH "
			       "or bzImage)",
			       path, kind);
		else
			pr_err("kernel %s: not an ELF, bzImage or PVH kernel", path);
	}
	return -ENOEXEC;
}

/* Command-line and initrd limits of the kernel at hand. */
static void boot_limits(struct boot_state *s)
{
	switch (s->fmt) {
	case FMT_BZIMAGE:
		s->cmdline_max = s->hdr.cmdline_size;
		s->initrd_limit = (uint64_t)s->hdr.initrd_addr_max + 1;
		break;
	case FMT_VMLINUX:
		s->cmdline_max = VMLINUX_CMDLINE_SIZE;
		s->initrd_limit = VMLINUX_INITRD_ADDR_MAX + 1;
		break;
	case FMT_PVH:
		/* The PVH ABI has no limits of its own, but a Linux kernel entered through it
		 * copies COMMAND_LINE_SIZE (2048) bytes without looking for the NUL: a longer
		 * line would hang it silently. Other PVH kernels get only ptvm's limit. */
		s->cmdline_max = s->elf.is_linux ? VMLINUX_CMDLINE_SIZE : UINT64_MAX;
		s->initrd_limit = s->cfg->low_ram_end;
		break;
	}
	s->initrd_limit = MIN(s->initrd_limit, s->cfg->low_ram_end);
}

static int boot_cmdline_check(struct boot_state *s)
{
	uint64_t max = MIN(s->cmdline_max, BOOT_CMDLINE_MAX - 1);

	s->cmdline_len = strlen(boot_cmdline(s));
	if (s->cmdline_len > max) {
		pr_err("--cmdline is %zu bytes; %s accepts at most %llu", s->cmdline_len,
		       max == s->cmdline_max ? "the kernel" : "ptvm", (unsigned long long)max);
		return -E2BIG;
	}
	return 0;
}

static int boot_cmdline_write(struct boot_state *s)
{
	return memmap_write(s->mm, BOOT_CMDLINE_GPA, boot_cmdline(s), s->cmdline_len + 1);
}

/* Reads the initrd straight into guest RAM at the highest page the kernel accepts. */
static int boot_initrd_load(struct boot_state *s)
{
	const char *path = s->cfg->initrd_path;
	uint64_t floor = ALIGN_UP(s->kernel_need_end, SZ_4K), size, gpa, got = 0;
	struct stat st;
	uint8_t *dst;
	int fd, ret;

	if (!path)
		return 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		pr_err("initrd %s: %s", path, strerror(-ret));
		return ret;
	}
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		pr_err("initrd %s: %s", path, strerror(-ret));
		goto out_close;
	}
	if (!S_ISREG(st.st_mode)) {
		pr_err("initrd %s: not a regular file", path);
		ret = -EINVAL;
		goto out_close;
	}
	size = (uint64_t)st.st_size;
	if (!size) {
		pr_warn("initrd %s is empty, booting without one", path);
		ret = 0;
		goto out_close;
	}
	gpa = size <= s->initrd_limit ? ALIGN_DOWN(s->initrd_limit - size, SZ_4K) : 0;
	if (size > s->initrd_limit || gpa < floor) {
		pr_err("initrd %s (%llu bytes) does not fit in guest RAM between the kernel end "
		       "0x%llx and 0x%llx: raise --memory",
		       path, (unsigned long long)size, (unsigned long long)floor,
		       (unsigned long long)s->initrd_limit);
		ret = -ENOMEM;
		goto out_close;
	}
	dst = memmap_gpa_to_hva(s->mm, gpa, size);
	if (!dst) {
		pr_err("initrd %s: [0x%llx, +0x%llx) is not guest RAM", path,
		       (unsigned long long)gpa, (unsigned long long)size);
		ret = -ENOMEM;
		goto out_close;
	}
	while (got < size) {
		ssize_t n = pread(fd, dst + got, size - got, (off_t)got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			pr_err("initrd %s: %s", path, strerror(-ret));
			goto out_close;
		}
		if (n == 0) {
			pr_err("initrd %s: truncated while reading (got %llu of %llu bytes)", path,
			       (unsigned long long)got, (unsigned long long)size);
			ret = -EIO;
			goto out_close;
		}
		got += (uint64_t)n;
	}
	s->initrd_gpa = gpa;
	s->initrd_size = size;
	ret = 0;
out_close:
	close(fd);
	return ret;
}

/* ---- machine description ---- */

static void boot_e820_add(struct boot_state *s, uint64_t addr, uint64_t size, uint32_t type)
{
	if (size && s->nr_e820 < BOOT_E820_MAX)
		s->e820[s->nr_e820++] = (struct boot_e820_entry){addr, size, type};
}

static void boot_e820_build(struct boot_state *s)
{
	const struct boot_x86_config *cfg = s->cfg;

	boot_e820_add(s, 0, EBDA_GPA, E820_TYPE_RAM);
	/* EBDA, VGA hole, and the ACPI tables at ACPI_TABLES_GPA */
	boot_e820_add(s, EBDA_GPA, HIGH_RAM_START - EBDA_GPA, E820_TYPE_RESERVED);
	boot_e820_add(s, HIGH_RAM_START, cfg->low_ram_end - HIGH_RAM_START, E820_TYPE_RAM);
	boot_e820_add(s, PCI_ECAM_BASE, PCI_ECAM_SIZE, E820_TYPE_RESERVED);
	boot_e820_add(s, RAM_ABOVE_4G_START, cfg->high_ram_size, E820_TYPE_RAM);
}

static int boot_params_write(struct boot_state *s)
{
	struct boot_params *bp = calloc(1, sizeof(*bp));
	struct setup_header *h;
	int ret;

	if (!bp)
		return -ENOMEM;
	h = &bp->hdr;
	if (s->fmt == FMT_BZIMAGE) {
		memcpy(h, &s->hdr, s->hdr_len);
	} else {
		/* vmlinux has no setup header: describe the kernel as its header.S would */
		h->boot_flag = 0xaa55;
		memcpy(&h->header, BZ_MAGIC, 4);
		h->version = VMLINUX_BOOT_PROTOCOL;
		h->kernel_alignment = 0x1000000;
		h->initrd_addr_max = (uint32_t)VMLINUX_INITRD_ADDR_MAX;
		h->cmdline_size = VMLINUX_CMDLINE_SIZE;
		h->xloadflags = XLF_KERNEL_64;
	}
	h->type_of_loader = 0xff; /* undefined boot loader */
	h->loadflags |= LOADED_HIGH | CAN_USE_HEAP;
	h->heap_end_ptr = BOOT_HEAP_END_PTR;
	h->cmd_line_ptr = (uint32_t)BOOT_CMDLINE_GPA;
	bp->ext_cmd_line_ptr = (uint32_t)(BOOT_CMDLINE_GPA >> 32);
	h->ramdisk_image = (uint32_t)s->initrd_gpa;
	h->ramdisk_size = (uint32_t)s->initrd_size;
	bp->ext_ramdisk_image = (uint32_t)(s->initrd_gpa >> 32);
	bp->ext_ramdisk_size = (uint32_t)(s->initrd_size >> 32);
	bp->acpi_rsdp_addr = s->cfg->rsdp_gpa;
	memcpy(bp->e820_table, s->e820, s->nr_e820 * sizeof(s->e820[0]));
	bp->e820_entries = (uint8_t)s->nr_e820;
	ret = memmap_write(s->mm, BOOT_PARAMS_GPA, bp, sizeof(*bp));
	free(bp);
	return ret;
}

static int boot_pvh_write(struct boot_state *s)
{
	struct hvm_start_info si = {
	    .magic = XEN_HVM_START_MAGIC_VALUE,
	    .version = 1,
	    .cmdline_paddr = BOOT_CMDLINE_GPA,
	    .rsdp_paddr = s->cfg->rsdp_gpa,
	    .memmap_paddr = PVH_MEMMAP_GPA,
	    .memmap_entries = s->nr_e820,
	};
	struct hvm_memmap_table_entry mem[BOOT_E820_MAX] = {0};
	struct hvm_modlist_entry mod = {.paddr = s->initrd_gpa, .size = s->initrd_size};
	int ret;

	_Static_assert(PVH_MODLIST_GPA >= PVH_START_INFO_GPA + sizeof(si), "layout");
	_Static_assert(PVH_MEMMAP_GPA >= PVH_MODLIST_GPA + sizeof(mod), "layout");
	_Static_assert(PVH_MEMMAP_GPA + sizeof(mem) <= BOOT_PARAMS_GPA + SZ_4K, "layout");
	for (unsigned i = 0; i < s->nr_e820; i++)
		mem[i] = (struct hvm_memmap_table_entry){s->e820[i].addr, s->e820[i].size,
							 s->e820[i].type, 0};
	if (s->initrd_size) {
		si.nr_modules = 1;
		si.modlist_paddr = PVH_MODLIST_GPA;
	}
	ret = memmap_write(s->mm, PVH_MODLIST_GPA, &mod, sizeof(mod));
	if (!ret)
		ret = memmap_write(s->mm, PVH_MEMMAP_GPA, mem, sizeof(mem));
	if (!ret)
		ret = memmap_write(s->mm, PVH_START_INFO_GPA, &si, sizeof(si));
	return ret;
}

/* null, 32-bit code (PVH), 64-bit code (__BOOT_CS), data (__BOOT_DS) */
static const uint64_t boot_gdt[] = {
    0, 0x00cf9b000000ffffULL, /* 0x08: base 0, limit 4 GiB, code, D=1 */
    0x00af9b000000ffffULL,    /* 0x10: base 0, limit 4 GiB, code, L=1 */
    0x00cf93000000ffffULL,    /* 0x18: base 0, limit 4 GiB, data, D=1 */
};

/* PML4[0] -> PDPT, PDPT[0..3] -> 4 PDs of 2 MiB pages: identity map of 0-4 GiB */
static int boot_page_tables_write(struct boot_state *s)
{
	uint64_t *pml4 = memmap_gpa_to_hva(s->mm, BOOT_PML4_GPA, SZ_4K);
	uint64_t *pdpt = memmap_gpa_to_hva(s->mm, BOOT_PDPT_GPA, SZ_4K);
	uint64_t *pd = memmap_gpa_to_hva(s->mm, BOOT_PD_GPA, 4 * SZ_4K);

	if (!pml4 || !pdpt || !pd)
		return -EFAULT;
	memset(pml4, 0, SZ_4K);
	memset(pdpt, 0, SZ_4K);
	pml4[0] = BOOT_PDPT_GPA | PTE_PRESENT | PTE_RW;
	for (unsigned i = 0; i < 4; i++)
		pdpt[i] = (BOOT_PD_GPA + i * SZ_4K) | PTE_PRESENT | PTE_RW;
	for (unsigned i = 0; i < 4 * 512; i++)
		pd[i] = (uint64_t)i * SZ_2M | PTE_PRESENT | PTE_RW | PTE_PS;
	return 0;
}

static struct kvm_segment boot_segment(uint16_t selector, uint8_t type, bool code64)
{
	return (struct kvm_segment){
	    .base = 0,
	    .limit = 0xffffffff,
	    .selector = selector,
	    .type = type,
	    .present = 1,
	    .s = 1,
	    .g = 1,
	    .db = !code64,
	    .l = code64,
	};
}

static void boot_entry_fill(struct boot_state *s, struct boot_x86_entry *e)
{
	static const char *const names[] = {
	    [FMT_PVH] = "pvh", [FMT_VMLINUX] = "vmlinux", [FMT_BZIMAGE] = "bzImage"};

	memset(e, 0, sizeof(*e));
	e->format = names[s->fmt];
	e->long_mode = s->fmt != FMT_PVH;
	e->regs.rflags = 2;
	e->regs.rip = s->entry;
	e->regs.rsp = BOOT_STACK_GPA;
	e->regs.rbp = BOOT_STACK_GPA;
	e->gdt_base = BOOT_GDT_GPA;
	e->gdt_limit = sizeof(boot_gdt) - 1;
	e->ds = boot_segment(BOOT_GDT_DATA, 0x3, false); /* read/write, accessed */
	e->kernel_end = s->kernel_end;
	if (e->long_mode) {
		e->regs.rsi = BOOT_PARAMS_GPA;
		e->cs = boot_segment(BOOT_GDT_CODE64, 0xb, true); /* execute/read, accessed */
		e->cr0 = X86_CR0_PE | X86_CR0_ET | X86_CR0_NE | X86_CR0_PG;
		e->cr3 = BOOT_PML4_GPA;
		e->cr4 = X86_CR4_PAE;
		e->efer = X86_EFER_LME | X86_EFER_LMA;
	} else {
		e->regs.rbx = PVH_START_INFO_GPA;
		e->cs = boot_segment(BOOT_GDT_CODE32, 0xb, false);
		e->cr0 = X86_CR0_PE | X86_CR0_ET;
	}
}

static int boot_config_check(struct memmap *mm, const struct boot_x86_config *cfg)
{
	if (!cfg->kernel_path) {
		pr_err("no kernel given (--kernel)");
		return -EINVAL;
	}
	if (cfg->low_ram_end > PCI_HOLE_START) {
		pr_err("boot: low RAM end 0x%llx is above the PCI hole at 0x%llx",
		       (unsigned long long)cfg->low_ram_end, PCI_HOLE_START);
		return -EINVAL;
	}
	/* the boot structures live below the EBDA; the kernel checks its own range later */
	if (cfg->low_ram_end <= KERNEL_LOAD_GPA || !memmap_gpa_to_hva(mm, 0, EBDA_GPA)) {
		pr_err("boot: guest RAM [0, 0x%llx) is too small or not mapped: raise --memory",
		       (unsigned long long)cfg->low_ram_end);
		return -ENOMEM;
	}
	return 0;
}

int boot_x86_load(struct memmap *mm, const struct boot_x86_config *cfg, struct boot_x86_entry *out)
{
	struct boot_state *s;
	int ret;

	ret = boot_config_check(mm, cfg);
	if (ret)
		return ret;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->mm = mm;
	s->cfg = cfg;
	s->k.path = cfg->kernel_path;
	ret = read_file(cfg->kernel_path, &s->k.data, &s->k.size);
	if (ret) {
		pr_err("kernel %s: %s", cfg->kernel_path,
		       ret == -EINVAL ? "not a regular file" : strerror(-ret));
		goto out_free_state;
	}
	ret = boot_detect(s);
	if (ret)
		goto out_free_kernel;
	boot_limits(s);
	ret = boot_cmdline_check(s);
	if (ret)
		goto out_free_kernel;
	ret = s->fmt == FMT_BZIMAGE ? bzimage_load(s) : elf_load(s);
	if (ret)
		goto out_free_kernel;
	ret = boot_initrd_load(s);
	if (ret)
		goto out_free_kernel;
	boot_e820_build(s);
	ret = boot_cmdline_write(s);
	if (!ret)
		ret = s->fmt == FMT_PVH ? boot_pvh_write(s) : boot_params_write(s);
	if (!ret)
		ret = memmap_write(mm, BOOT_GDT_GPA, boot_gdt, sizeof(boot_gdt));
	if (!ret)
		ret = boot_page_tables_write(s);
	if (ret) {
		pr_err("boot: writing the boot structures below 1 MiB failed: %s", strerror(-ret));
		goto out_free_kernel;
	}
	boot_entry_fill(s, out);
	pr_info("kernel %s: %s, entry 0x%llx, image ends at 0x%llx", cfg->kernel_path, out->format,
		(unsigned long long)s->entry, (unsigned long long)s->kernel_end);
	if (s->initrd_size)
		pr_info("initrd %s: [0x%llx, 0x%llx)", cfg->initrd_path,
			(unsigned long long)s->initrd_gpa,
			(unsigned long long)(s->initrd_gpa + s->initrd_size));
out_free_kernel:
	free(s->k.data);
out_free_state:
	free(s);
	return ret;
}

void boot_x86_entry_apply_sregs(const struct boot_x86_entry *e, struct kvm_sregs *sregs)
{
	sregs->cs = e->cs;
	sregs->ds = e->ds;
	sregs->es = e->ds;
	sregs->fs = e->ds;
	sregs->gs = e->ds;
	sregs->ss = e->ds;
	sregs->cr0 = e->cr0;
	sregs->cr3 = e->cr3;
	sregs->cr4 = e->cr4;
	sregs->efer = e->efer;
	sregs->gdt.base = e->gdt_base;
	sregs->gdt.limit = e->gdt_limit;
	sregs->idt.base = BOOT_IDT_GPA;
	sregs->idt.limit = 0;
}
