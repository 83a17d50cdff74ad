// SPDX-License-Identifier: MIT
/*
 * boot_x86_load against handcrafted kernels built at run time in a temporary directory: ELF64
 * and ELF32 files with and without the PVH note, a fake bzImage with a valid setup header, and
 * malformed variants of each. Guest RAM is an anonymous mapping registered in a memmap (no KVM).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <asm/bootparam.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vmm/x86/boot.h"
#include "vmm/x86/layout.h"
#include "vmm/log.h"
#include "vmm/memmap.h"

#define KERNEL_PADDR 0x100000ULL /* where the test ELF loads */
#define KERNEL_FILESZ 0x1000ULL
#define KERNEL_MEMSZ 0x3000ULL
#define KERNEL_CODE_OFF 0x1000ULL /* file offset of the segment */
#define PVH_ENTRY (KERNEL_PADDR + 0x40)
#define LINUX_ENTRY (KERNEL_PADDR + 0x200)
#define NOTE_OFF 0x200ULL
#define RSDP_GPA ACPI_TABLES_GPA

#define BZ_SETUP_SECTS 4
#define BZ_SETUP_SIZE ((BZ_SETUP_SECTS + 1) * 512)
#define BZ_PM_SIZE 0x2000
#define BZ_INIT_SIZE 0x400000
#define BZ_PREF_ADDRESS 0x1000000

static char tmpdir[64];

/* ---- guest RAM ---- */

struct guest {
	struct memmap *mm;
	uint8_t *low, *high;
	uint64_t low_size, high_size;
};

static void *map_anon(uint64_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	assert_true(p != MAP_FAILED);
	return p;
}

static void guest_add(struct guest *g, uint64_t gpa, uint64_t size, void *hva, const char *name)
{
	struct memmap_region r = {
	    .gpa = gpa, .size = size, .kind = MEMMAP_RAM, .hva = hva, .fd = -1, .kvm_slot = -1};

	snprintf(r.name, sizeof(r.name), "%s", name);
	assert_int_equal(memmap_add_region(g->mm, &r), 0);
}

/* RAM laid out as ptvm does: low RAM up to 3 GiB, the rest above 4 GiB. */
static void guest_create(struct guest *g, uint64_t mem)
{
	memset(g, 0, sizeof(*g));
	assert_int_equal(memmap_create(&g->mm), 0);
	g->low_size = MIN(mem, PCI_HOLE_START);
	g->high_size = mem - g->low_size;
	g->low = map_anon(g->low_size);
	guest_add(g, 0, g->low_size, g->low, "low");
	if (g->high_size) {
		g->high = map_anon(g->high_size);
		guest_add(g, RAM_ABOVE_4G_START, g->high_size, g->high, "high");
	}
}

static void guest_destroy(struct guest *g)
{
	memmap_destroy(g->mm);
	munmap(g->low, g->low_size);
	if (g->high)
		munmap(g->high, g->high_size);
}

static void *gpa(struct guest *g, uint64_t addr, uint64_t len)
{
	void *p = memmap_gpa_to_hva(g->mm, addr, len);

	assert_non_null(p);
	return p;
}

static struct boot_x86_config config(struct guest *g, const char *kernel)
{
	return (struct boot_x86_config){
	    .kernel_path = kernel,
	    .protocol = BOOT_PROTOCOL_AUTO,
	    .low_ram_end = g->low_size,
	    .high_ram_size = g->high_size,
	    .rsdp_gpa = RSDP_GPA,
	};
}

/* ---- fixture files ---- */

static const char *fixture_path(const char *name)
{
	static char paths[8][128];
	static unsigned next;
	char *p = paths[next++ % ARRAY_SIZE(paths)];

	snprintf(p, sizeof(paths[0]), "%s/%s", tmpdir, name);
	return p;
}

static const char *fixture_write(const char *name, const void *buf, size_t len)
{
	const char *path = fixture_path(name);
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	return path;
}

/* A sparse file of the given size whose first bytes carry a recognisable pattern. */
static const char *fixture_initrd(const char *name, uint64_t size)
{
	const char *path = fixture_path(name);
	uint8_t head[64];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	for (unsigned i = 0; i < sizeof(head); i++)
		head[i] = (uint8_t)(0xa0 + i);
	assert_int_equal(pwrite(fd, head, MIN(size, sizeof(head)), 0), MIN(size, sizeof(head)));
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	close(fd);
	return path;
}

struct elf_spec {
	bool elf32;
	bool pvh;
	uint64_t paddr, filesz, memsz, entry;
	uint32_t pvh_entry;
};

static struct elf_spec elf_spec_default(bool pvh)
{
	return (struct elf_spec){.pvh = pvh,
				 .paddr = KERNEL_PADDR,
				 .filesz = KERNEL_FILESZ,
				 .memsz = KERNEL_MEMSZ,
				 .entry = LINUX_ENTRY,
				 .pvh_entry = PVH_ENTRY};
}

/* Writes the note "Xen" / XEN_ELFNOTE_PHYS32_ENTRY after an unrelated note; returns its size. */
static size_t elf_note_build(uint8_t *p, uint32_t entry)
{
	static const uint32_t other[] = {4, 4, 1, 0x00554e47 /* "GNU" */, 0x12345678};
	uint32_t xen[] = {4, 4, 18, 0x006e6558 /* "Xen" */, entry};

	memcpy(p, other, sizeof(other));
	memcpy(p + sizeof(other), xen, sizeof(xen));
	return sizeof(other) + sizeof(xen);
}

/* An ELF image: header, two program headers (LOAD, NOTE), the note, then the segment. */
static uint8_t *elf_build(const struct elf_spec *sp, size_t *len)
{
	size_t size = KERNEL_CODE_OFF + KERNEL_FILESZ;
	uint8_t *b = calloc(1, size);
	size_t note_len = sp->pvh ? elf_note_build(b + NOTE_OFF, sp->pvh_entry) : 0;
	unsigned phnum = sp->pvh ? 2 : 1;

	assert_non_null(b);
	for (uint64_t i = 0; i < KERNEL_FILESZ; i++)
		b[KERNEL_CODE_OFF + i] = (uint8_t)(i * 7 + 1);
	if (!sp->elf32) {
		Elf64_Ehdr eh = {.e_type = ET_EXEC,
				 .e_machine = EM_X86_64,
				 .e_version = EV_CURRENT,
				 .e_entry = sp->entry,
				 .e_phoff = sizeof(Elf64_Ehdr),
				 .e_ehsize = sizeof(Elf64_Ehdr),
				 .e_phentsize = sizeof(Elf64_Phdr),
				 .e_phnum = (uint16_t)phnum};
		Elf64_Phdr ph[2] = {
		    {.p_type = PT_LOAD,
		     .p_offset = KERNEL_CODE_OFF,
		     .p_vaddr = 0xffffffff80000000ULL + sp->paddr,
		     .p_paddr = sp->paddr,
		     .p_filesz = sp->filesz,
		     .p_memsz = sp->memsz,
		     .p_flags = PF_R | PF_X,
		     .p_align = 0x1000},
		    {.p_type = PT_NOTE, .p_offset = NOTE_OFF, .p_filesz = note_len, .p_align = 4},
		};

		memcpy(eh.e_ident, ELFMAG, SELFMAG);
		eh.e_ident[EI_CLASS] = ELFCLASS64;
		eh.e_ident[EI_DATA] = ELFDATA2LSB;
		eh.e_ident[EI_VERSION] = EV_CURRENT;
		memcpy(b, &eh, sizeof(eh));
		memcpy(b + sizeof(eh), ph, phnum * sizeof(ph[0]));
	} else {
		Elf32_Ehdr eh = {.e_type = ET_EXEC,
				 .e_machine = EM_386,
				 .e_version = EV_CURRENT,
				 .e_entry = (uint32_t)sp->entry,
				 .e_phoff = sizeof(Elf32_Ehdr),
				 .e_ehsize = sizeof(Elf32_Ehdr),
				 .e_phentsize = sizeof(Elf32_Phdr),
				 .e_phnum = (uint16_t)phnum};
		Elf32_Phdr ph[2] = {
		    {.p_type = PT_LOAD,
		     .p_offset = KERNEL_CODE_OFF,
		     .p_vaddr = (uint32_t)sp->paddr,
		     .p_paddr = (uint32_t)sp->paddr,
		     .p_filesz = (uint32_t)sp->filesz,
		     .p_memsz = (uint32_t)sp->memsz,
		     .p_flags = PF_R | PF_X,
		     .p_align = 0x1000},
		    {.p_type = PT_NOTE,
		     .p_offset = NOTE_OFF,
		     .p_filesz = (uint32_t)note_len,
		     .p_align = 4},
		};

		memcpy(eh.e_ident, ELFMAG, SELFMAG);
		eh.e_ident[EI_CLASS] = ELFCLASS32;
		eh.e_ident[EI_DATA] = ELFDATA2LSB;
		eh.e_ident[EI_VERSION] = EV_CURRENT;
		memcpy(b, &eh, sizeof(eh));
		memcpy(b + sizeof(eh), ph, phnum * sizeof(ph[0]));
	}
	*len = size;
	return b;
}

static const char *elf_write(const char *name, const struct elf_spec *sp)
{
	size_t len;
	uint8_t *b = elf_build(sp, &len);
	const char *path = fixture_write(name, b, len);

	free(b);
	return path;
}

static struct setup_header bz_header_default(void)
{
	struct setup_header h = {
	    .setup_sects = BZ_SETUP_SECTS,
	    .syssize = BZ_PM_SIZE / 16,
	    .vid_mode = 0xffff,
	    .boot_flag = 0xaa55,
	    .jump = 0x6aeb, /* jmp to 0x26c, the end of the 2.15 header */
	    .version = 0x020f,
	    .loadflags = LOADED_HIGH,
	    .code32_start = 0x100000,
	    .initrd_addr_max = 0x7fffffff,
	    .kernel_alignment = 0x200000,
	    .relocatable_kernel = 1,
	    .min_alignment = 21,
	    .xloadflags = XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G,
	    .cmdline_size = 2047,
	    .pref_address = BZ_PREF_ADDRESS,
	    .init_size = BZ_INIT_SIZE,
	};

	memcpy(&h.header, "HdrS", 4);
	return h;
}

static uint8_t *bz_build(const struct setup_header *h, size_t *len)
{
	size_t size = BZ_SETUP_SIZE + BZ_PM_SIZE;
	uint8_t *b = calloc(1, size);

	assert_non_null(b);
	memcpy(b + 0x1f1, h, sizeof(*h));
	for (size_t i = BZ_SETUP_SIZE; i < size; i++)
		b[i] = (uint8_t)(i * 13 + 5);
	*len = size;
	return b;
}

static const char *bz_write(const char *name, const struct setup_header *h)
{
	size_t len;
	uint8_t *b = bz_build(h, &len);
	const char *path = fixture_write(name, b, len);

	free(b);
	return path;
}

/* ---- log capture ---- */

static char *log_buf;
static size_t log_len;
static FILE *log_f;

static void log_capture_start(void)
{
	log_f = open_memstream(&log_buf, &log_len);
	assert_non_null(log_f);
	log_set_stream(log_f);
}

/* Ends the capture; the caller frees the returned text. */
static char *log_capture_end(void)
{
	log_set_stream(NULL);
	fclose(log_f);
	return log_buf;
}

/* Runs boot_x86_load expecting error `err` and a single error line containing each string. */
static void expect_load_error(struct guest *g, const struct boot_x86_config *cfg, int err, ...)
{
	struct boot_x86_entry e;
	const char *want;
	va_list ap;
	char *text;
	int ret;

	log_capture_start();
	ret = boot_x86_load(g->mm, cfg, &e);
	text = log_capture_end();
	if (ret != err)
		print_error("unexpected result %d (%s), log: %s\n", ret, strerror(-ret), text);
	assert_int_equal(ret, err);
	assert_non_null(strstr(text, "error: "));
	/* exactly one line */
	assert_true(strlen(text) > 0 && text[strlen(text) - 1] == '\n');
	assert_ptr_equal(strchr(text, '\n'), text + strlen(text) - 1);
	va_start(ap, err);
	while ((want = va_arg(ap, const char *))) {
		if (!strstr(text, want))
			print_error("log lacks \"%s\": %s", want, text);
		assert_non_null(strstr(text, want));
	}
	va_end(ap);
	free(text);
}

static void load_ok(struct guest *g, const struct boot_x86_config *cfg, struct boot_x86_entry *e)
{
	int ret;

	log_capture_start();
	ret = boot_x86_load(g->mm, cfg, e);
	{
		char *text = log_capture_end();

		if (ret)
			print_error("boot_x86_load: %d, log: %s", ret, text);
		free(text);
	}
	assert_int_equal(ret, 0);
}

/* ---- format detection and entry state ---- */

static void check_segment_loaded(struct guest *g)
{
	uint8_t *p = gpa(g, KERNEL_PADDR, KERNEL_MEMSZ);

	for (uint64_t i = 0; i < KERNEL_FILESZ; i++)
		assert_int_equal(p[i], (uint8_t)(i * 7 + 1));
	for (uint64_t i = KERNEL_FILESZ; i < KERNEL_MEMSZ; i++)
		assert_int_equal(p[i], 0);
}

static void check_pvh_entry(const struct boot_x86_entry *e)
{
	assert_string_equal(e->format, "pvh");
	assert_false(e->long_mode);
	assert_int_equal(e->regs.rip, PVH_ENTRY);
	assert_int_equal(e->regs.rbx, BOOT_PARAMS_GPA);
	assert_int_equal(e->regs.rflags, 2);
	assert_int_equal(e->cs.selector, 0x08);
	assert_int_equal(e->cs.l, 0);
	assert_int_equal(e->cs.db, 1);
	assert_int_equal(e->cs.base, 0);
	assert_int_equal(e->cs.limit, 0xffffffff);
	assert_int_equal(e->ds.selector, 0x18);
	assert_int_equal(e->cr0 & 0x80000001, 1); /* PE, no PG */
	assert_int_equal(e->efer, 0);
	assert_int_equal(e->cr4, 0);
}

static void test_detect_pvh_elf64(void **state)
{
	struct elf_spec sp = elf_spec_default(true);
	struct boot_x86_entry e;
	struct guest g;
	struct boot_x86_config cfg;

	guest_create(&g, 512 * SZ_1M);
	/* bss must be zeroed, not just left as the memory was */
	memset(gpa(&g, KERNEL_PADDR, KERNEL_MEMSZ), 0xcc, KERNEL_MEMSZ);
	cfg = config(&g, elf_write("pvh64.elf", &sp));
	load_ok(&g, &cfg, &e);
	check_pvh_entry(&e);
	check_segment_loaded(&g);
	assert_int_equal(e.kernel_end, KERNEL_PADDR + KERNEL_MEMSZ);
	guest_destroy(&g);
}

static void test_detect_pvh_elf32(void **state)
{
	struct elf_spec sp = elf_spec_default(true);
	struct boot_x86_entry e;
	struct guest g;
	struct boot_x86_config cfg;

	sp.elf32 = true;
	guest_create(&g, 512 * SZ_1M);
	cfg = config(&g, elf_write("pvh32.elf", &sp));
	load_ok(&g, &cfg, &e);
	check_pvh_entry(&e);
	check_segment_loaded(&g);
	guest_destroy(&g);
}

static void check_linux64_entry(const struct boot_x86_entry *e, uint64_t rip)
{
	assert_true(e->long_mode);
	assert_int_equal(e->regs.rip, rip);
	assert_int_equal(e->regs.rsi, BOOT_PARAMS_GPA);
	assert_int_equal(e->regs.rsp, BOOT_STACK_GPA);
	assert_int_equal(e->regs.rflags, 2);
	assert_int_equal(e->cs.selector, 0x10);
	assert_int_equal(e->cs.l, 1);
	assert_int_equal(e->cs.db, 0);
	assert_int_equal(e->cs.present, 1);
	assert_int_equal(e->ds.selector, 0x18);
	assert_int_equal(e->cr0 & 0x80000001, 0x80000001); /* PE, PG */
	assert_int_equal(e->cr3, BOOT_PML4_GPA);
	assert_int_equal(e->cr4 & 0x20, 0x20);	  /* PAE */
	assert_int_equal(e->efer & 0x500, 0x500); /* LME, LMA */
	assert_int_equal(e->gdt_base, BOOT_GDT_GPA);
	assert_int_equal(e->gdt_limit, 31);
}

static void test_detect_vmlinux(void **state)
{
	struct elf_spec sp = elf_spec_default(false);
	struct boot_x86_entry e;
	struct guest g;
	struct boot_x86_config cfg;

	guest_create(&g, 512 * SZ_1M);
	cfg = config(&g, elf_write("vmlinux", &sp));
	load_ok(&g, &cfg, &e);
	assert_string_equal(e.format, "vmlinux");
	check_linux64_entry(&e, LINUX_ENTRY);
	check_segment_loaded(&g);
	guest_destroy(&g);
}

static void test_detect_pvh_note_forced_linux64(void **state)
{
	struct elf_spec sp = elf_spec_default(true);
	struct boot_x86_entry e;
	struct guest g;
	struct boot_x86_config cfg;

	guest_create(&g, 512 * SZ_1M);
	cfg = config(&g, elf_write("pvh-as-linux64.elf", &sp));
	cfg.protocol = BOOT_PROTOCOL_LINUX64;
	load_ok(&g, &cfg, &e);
	assert_string_equal(e.format, "vmlinux");
	check_linux64_entry(&e, LINUX_ENTRY);
	/* and PVH when asked for explicitly */
	cfg.protocol = BOOT_PROTOCOL_PVH;
	load_ok(&g, &cfg, &e);
	check_pvh_entry(&e);
	guest_destroy(&g);
}

static void test_detect_bzimage(void **state)
{
	struct setup_header h = bz_header_default();
	struct boot_x86_entry e;
	struct guest g;
	struct boot_x86_config cfg;
	uint8_t *p;

	guest_create(&g, 512 * SZ_1M);
	cfg = config(&g, bz_write("bzImage", &h));
	load_ok(&g, &cfg, &e);
	assert_string_equal(e.format, "bzImage");
	check_linux64_entry(&e, KERNEL_LOAD_GPA + 0x200);
	/* the protected-mode part, and only it, is at 1 MiB */
	p = gpa(&g, KERNEL_LOAD_GPA, BZ_PM_SIZE);
	for (size_t i = 0; i < BZ_PM_SIZE; i++)
		assert_int_equal(p[i], (uint8_t)((BZ_SETUP_SIZE + i) * 13 + 5));
	assert_int_equal(e.kernel_end, KERNEL_LOAD_GPA + BZ_PM_SIZE);
	guest_destroy(&g);
}

static void test_detect_protocol_mismatch(void **state)
{
	struct elf_spec sp = elf_spec_default(false);
	struct setup_header h = bz_header_default();
	struct guest g;
	struct boot_x86_config cfg;

	guest_create(&g, 512 * SZ_1M);
	cfg = config(&g, elf_write("no-note.elf", &sp));
	cfg.protocol = BOOT_PROTOCOL_PVH;
	expect_load_error(&g, &cfg, -ENOEXEC, "--boot-protocol pvh", "no-note.elf",
			  "XEN_ELFNOTE_PHYS32_ENTRY", NULL);
	cfg = config(&g, bz_write("bz-pvh", &h));
	cfg.protocol = BOOT_PROTOCOL_PVH;
	expect_load_error(&g, &cfg, -ENOEXEC, "--boot-protocol pvh", "bz-pvh", "bzImage", NULL);
	sp.elf32 = true;
	cfg = config(&g, elf_write("elf32-no-note.elf", &sp));
	expect_load_error(&g, &cfg, -ENOEXEC, "elf32-no-note.elf", "32-bit", NULL);
	guest_destroy(&g);
}

static void test_detect_not_a_kernel(void **state)
{
	static const char text[] = "#!/bin/sh\necho this is not a kernel\n";
	uint8_t junk[4096];
	struct guest g;
	struct boot_x86_config cfg;

	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(i * 31 + 7);
	guest_create(&g, 512 * SZ_1M);
	cfg = config(&g, fixture_write("script", text, sizeof(text) - 1));
	expect_load_error(&g, &cfg, -ENOEXEC, "script", "not an ELF, bzImage or PVH kernel", NULL);
	cfg = config(&g, fixture_write("empty", "", 0));
	expect_load_error(&g, &cfg, -ENOEXEC, "empty", "not an ELF, bzImage or PVH kernel", NULL);
	cfg = config(&g, fixture_write("junk", junk, sizeof(junk)));
	expect_load_error(&g, &cfg, -ENOEXEC, "junk", "not an ELF, bzImage or PVH kernel", NULL);
	/* the other architecture's kernel is named as such (issue 11) */
	memset(junk, 0, sizeof(junk));
	memcpy(junk + 0x38, "ARM\x64", 4);
	cfg = config(&g, fixture_write("Image", junk, sizeof(junk)));
	expect_load_error(&g, &cfg, -ENOEXEC, "Image", "an arm64 Image; this ptvm (x86_64)", NULL);
	guest_destroy(&g);
}

/* ---- PVH start_info ---- */

struct e820 {
	uint64_t addr, size;
	uint32_t type;
};

static unsigned expected_e820(uint64_t low_end, uint64_t high_size, struct e820 *out)
{
	unsigned n = 0;

	out[n++] = (struct e820){0, EBDA_GPA, 1};
	out[n++] = (struct e820){EBDA_GPA, 0x100000 - EBDA_GPA, 2};
	out[n++] = (struct e820){0x100000, low_end - 0x100000, 1};
	out[n++] = (struct e820){PCI_ECAM_BASE, PCI_ECAM_SIZE, 2};
	if (high_size)
		out[n++] = (struct e820){RAM_ABOVE_4G_START, high_size, 1};
	return n;
}

/* The hvm_start_info ABI, written out by offsets as the guest sees it. */
static void check_pvh_start_info(struct guest *g, const char *cmdline, uint64_t initrd_size)
{
	uint8_t *si = gpa(g, BOOT_PARAMS_GPA, 56);
	uint32_t u32;
	uint64_t u64, memmap, nr;
	struct e820 want[8];
	unsigned n = expected_e820(g->low_size, g->high_size, want);

	memcpy(&u32, si + 0, 4);
	assert_int_equal(u32, 0x336ec578);
	memcpy(&u32, si + 4, 4);
	assert_int_equal(u32, 1);
	memcpy(&u64, si + 24, 8); /* cmdline_paddr */
	assert_string_equal((char *)gpa(g, u64, strlen(cmdline) + 1), cmdline);
	memcpy(&u64, si + 32, 8); /* rsdp_paddr */
	assert_int_equal(u64, RSDP_GPA);
	memcpy(&memmap, si + 40, 8);
	memcpy(&u32, si + 48, 4);
	nr = u32;
	assert_int_equal(nr, n);
	for (unsigned i = 0; i < n; i++) {
		uint8_t *ent = gpa(g, memmap + i * 24, 24);
		uint64_t addr, size;

		memcpy(&addr, ent, 8);
		memcpy(&size, ent + 8, 8);
		memcpy(&u32, ent + 16, 4);
		assert_int_equal(addr, want[i].addr);
		assert_int_equal(size, want[i].size);
		assert_int_equal(u32, want[i].type);
	}
	memcpy(&u32, si + 12, 4); /* nr_modules */
	if (!initrd_size) {
		assert_int_equal(u32, 0);
		return;
	}
	assert_int_equal(u32, 1);
	memcpy(&u64, si + 16, 8); /* modlist_paddr */
	{
		uint8_t *mod = gpa(g, u64, 32);
		uint64_t paddr, size;
		uint8_t *data;

		memcpy(&paddr, mod, 8);
		memcpy(&size, mod + 8, 8);
		assert_int_equal(size, initrd_size);
		assert_int_equal(paddr % 4096, 0);
		assert_true(paddr >= KERNEL_PADDR + KERNEL_MEMSZ);
		assert_true(paddr + size <= g->low_size);
		data = gpa(g, paddr, size);
		for (unsigned i = 0; i < 64 && i < size; i++)
			assert_int_equal(data[i], 0xa0 + i);
	}
}

static void test_pvh_start_info_512m(void **state)
{
	struct elf_spec sp = elf_spec_default(true);
	struct boot_x86_entry e;
	struct guest g;
	struct boot_x86_config cfg;

	guest_create(&g, 512 * SZ_1M);
	cfg = config(&g, elf_write("pvh.elf", &sp));
	cfg.cmdline = "console=ttyS0 ptvm.test=1";
	cfg.initrd_path = fixture_initrd("initrd-pvh", 123457);
	load_ok(&g, &cfg, &e);
	check_pvh_entry(&e);
	check_pvh_start_info(&g, cfg.cmdline, 123457);
	/* without initrd or cmdline: no module, empty command line */
	cfg.cmdline = NULL;
	cfg.initrd_path = NULL;
	load_ok(&g, &cfg, &e);
	check_pvh_start_info(&g, "", 0);
	guest_destroy(&g);
}

static void test_pvh_start_info_4g(void **state)
{
	struct elf_spec sp = elf_spec_default(true);
	struct boot_x86_entry e;
	struct guest g;
	struct boot_x86_config cfg;

	guest_create(&g, 4 * SZ_1G);
	assert_int_equal(g.low_size, 3 * SZ_1G);
	assert_int_equal(g.high_size, SZ_1G);
	cfg = config(&g, elf_write("pvh.elf", &sp));
	cfg.cmdline = "quiet";
	cfg.initrd_path = fixture_initrd("initrd-pvh4g", 3 * SZ_1M + 5);
	load_ok(&g, &cfg, &e);
	check_pvh_start_info(&g, "quiet", 3 * SZ_1M + 5);
	guest_destroy(&g);
}

/* ---- boot_params ---- */

static struct boot_params *boot_params(struct guest *g)
{
	return gpa(g, BOOT_PARAMS_GPA, sizeof(struct boot_params));
}

static void check_boot_params_common(struct guest *g, const char *cmdline, uint64_t initrd_size,
				     uint64_t initrd_limit, uint64_t kernel_floor)
{
	struct boot_params *bp = boot_params(g);
	struct e820 want[8];
	unsigned n = expected_e820(g->low_size, g->high_size, want);
	uint64_t rd = bp->hdr.ramdisk_image | (uint64_t)bp->ext_ramdisk_image << 32;

	assert_int_equal(bp->hdr.boot_flag, 0xaa55);
	assert_memory_equal(&bp->hdr.header, "HdrS", 4);
	assert_int_equal(bp->hdr.type_of_loader, 0xff);
	assert_true(bp->hdr.loadflags & CAN_USE_HEAP);
	assert_true(bp->hdr.loadflags & LOADED_HIGH);
	assert_true(bp->hdr.heap_end_ptr != 0);
	assert_int_equal(bp->hdr.cmd_line_ptr, BOOT_CMDLINE_GPA);
	assert_int_equal(bp->ext_cmd_line_ptr, 0);
	assert_string_equal((char *)gpa(g, BOOT_CMDLINE_GPA, strlen(cmdline) + 1), cmdline);
	assert_int_equal(bp->acpi_rsdp_addr, RSDP_GPA);
	assert_int_equal(bp->e820_entries, n);
	for (unsigned i = 0; i < n; i++) {
		assert_int_equal(bp->e820_table[i].addr, want[i].addr);
		assert_int_equal(bp->e820_table[i].size, want[i].size);
		assert_int_equal(bp->e820_table[i].type, want[i].type);
	}
	assert_int_equal(bp->hdr.ramdisk_size, initrd_size);
	assert_int_equal(bp->ext_ramdisk_size, 0);
	if (!initrd_size) {
		assert_int_equal(rd, 0);
		return;
	}
	/* initrd: page aligned, below every limit, above the kernel, as high as it goes */
	assert_int_equal(rd % 4096, 0);
	assert_true(rd >= kernel_floor);
	assert_true(rd + initrd_size <= initrd_limit);
	assert_true(rd + initrd_size + 4096 > initrd_limit);
	{
		uint8_t *data = gpa(g, rd, initrd_size);

		for (unsigned i = 0; i < 64 && i < initrd_size; i++)
			assert_int_equal(data[i], 0xa0 + i);
	}
}

static void test_boot_params_vmlinux(void **state)
{
	struct elf_spec sp = elf_spec_default(false);
	struct boot_x86_entry e;
	struct guest g;
	struct boot_x86_config cfg;
	struct boot_params *bp;

	guest_create(&g, 512 * SZ_1M);
	/* a stale zero page must not leak into the new one */
	memset(boot_params(&g), 0x5a, sizeof(struct boot_params));
	cfg = config(&g, elf_write("vmlinux", &sp));
	cfg.cmdline = "console=ttyS0 root=/dev/vda";
	cfg.initrd_path = fixture_initrd("initrd", 1000001);
	load_ok(&g, &cfg, &e);
	check_boot_params_common(&g, cfg.cmdline, 1000001, 512 * SZ_1M,
				 KERNEL_PADDR + KERNEL_MEMSZ);
	bp = boot_params(&g);
	assert_true(bp->hdr.version >= 0x020c);
	assert_int_equal(bp->hdr.initrd_addr_max, 0x7fffffff);
	assert_int_equal(bp->screen_info.orig_video_isVGA, 0);
	assert_int_equal(bp->sentinel, 0);
	assert_int_equal(bp->hdr.setup_data, 0);
	guest_destroy(&g);
}

static void test_boot_params_bzimage(void **state)
{
	struct setup_header h = bz_header_default();
	struct boot_x86_entry e;
	struct guest g;
	struct boot_x86_config cfg;
	struct boot_params *bp;

	h.vid_mode = 0xfffd; /* any value that shows the header was copied */
	h.cmdline_size = 255;
	guest_create(&g, 512 * SZ_1M);
	cfg = config(&g, bz_write("bzImage", &h));
	cfg.cmdline = "console=ttyS0";
	cfg.initrd_path = fixture_initrd("initrd-bz", 777777);
	load_ok(&g, &cfg, &e);
	check_boot_params_common(&g, cfg.cmdline, 777777, 512 * SZ_1M,
				 BZ_PREF_ADDRESS + BZ_INIT_SIZE);
	bp = boot_params(&g);
	assert_int_equal(bp->hdr.vid_mode, 0xfffd);
	assert_int_equal(bp->hdr.version, 0x020f);
	assert_int_equal(bp->hdr.setup_sects, BZ_SETUP_SECTS);
	assert_int_equal(bp->hdr.syssize, BZ_PM_SIZE / 16);
	assert_int_equal(bp->hdr.init_size, BZ_INIT_SIZE);
	assert_int_equal(bp->hdr.pref_address, BZ_PREF_ADDRESS);
	assert_int_equal(bp->hdr.cmdline_size, 255);
	assert_int_equal(bp->hdr.xloadflags, XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G);
	assert_int_equal(bp->hdr.code32_start, 0x100000);
	guest_destroy(&g);
}

/* ---- initrd placement ---- */

static void test_initrd_limits(void **state)
{
	struct elf_spec sp = elf_spec_default(false);
	struct setup_header h = bz_header_default();
	struct boot_x86_entry e;
	struct guest g;
	struct boot_x86_config cfg;

	/* 4 GiB: low RAM to 3 GiB, but a vmlinux initrd stays below 2 GiB */
	guest_create(&g, 4 * SZ_1G);
	cfg = config(&g, elf_write("vmlinux", &sp));
	cfg.initrd_path = fixture_initrd("initrd-4g", 5 * SZ_1M + 1);
	load_ok(&g, &cfg, &e);
	check_boot_params_common(&g, "", 5 * SZ_1M + 1, 0x80000000, KERNEL_PADDR + KERNEL_MEMSZ);
	/* a bzImage's initrd_addr_max is the highest byte the initrd may occupy */
	h.initrd_addr_max = 0x37ffffff;
	cfg = config(&g, bz_write("bz-low-initrd", &h));
	cfg.initrd_path = fixture_initrd("initrd-4g", 128 * 1024);
	load_ok(&g, &cfg, &e);
	check_boot_params_common(&g, "", 128 * 1024, 0x38000000, BZ_PREF_ADDRESS + BZ_INIT_SIZE);
	assert_int_equal(boot_params(&g)->hdr.ramdisk_image, 0x37fe0000);
	guest_destroy(&g);

	/* small memory: the initrd goes right under the end of RAM */
	guest_create(&g, 64 * SZ_1M);
	cfg = config(&g, elf_write("vmlinux", &sp));
	cfg.initrd_path = fixture_initrd("initrd-small", 4096 * 3);
	load_ok(&g, &cfg, &e);
	assert_int_equal(boot_params(&g)->hdr.ramdisk_image, 64 * SZ_1M - 4096 * 3);
	/* an empty initrd is no initrd */
	cfg.initrd_path = fixture_initrd("initrd-empty", 0);
	load_ok(&g, &cfg, &e);
	assert_int_equal(boot_params(&g)->hdr.ramdisk_image, 0);
	assert_int_equal(boot_params(&g)->hdr.ramdisk_size, 0);
	guest_destroy(&g);
}

static void test_initrd_missing(void **state)
{
	struct elf_spec sp = elf_spec_default(false);
	struct guest g;
	struct boot_x86_config cfg;

	guest_create(&g, 512 * SZ_1M);
	cfg = config(&g, elf_write("vmlinux", &sp));
	cfg.initrd_path = fixture_path("no-such-initrd");
	expect_load_error(&g, &cfg, -ENOENT, "initrd", "no-such-initrd",
			  "No such file or directory", NULL);
	cfg.initrd_path = tmpdir;
	expect_load_error(&g, &cfg, -EINVAL, "initrd", tmpdir, "not a regular file", NULL);
	guest_destroy(&g);
}

static void test_initrd_too_large(void **state)
{
	struct elf_spec sp = elf_spec_default(true);
	struct setup_header h = bz_header_default();
	struct guest g;
	struct boot_x86_config cfg;

	guest_create(&g, 512 * SZ_1M);
	cfg = config(&g, elf_write("pvh.elf", &sp));
	cfg.initrd_path = fixture_initrd("initrd-huge", 600 * SZ_1M);
	expect_load_error(&g, &cfg, -ENOMEM, "initrd", "initrd-huge", "629145600 bytes",
			  "does not fit", "--memory", NULL);
	/* fits in RAM, but not between the bzImage's working area and the end of RAM */
	cfg = config(&g, bz_write("bzImage", &h));
	cfg.initrd_path = fixture_initrd("initrd-big", 512 * SZ_1M - BZ_PREF_ADDRESS);
	expect_load_error(&g, &cfg, -ENOMEM, "initrd-big", "does not fit", "--memory", NULL);
	guest_destroy(&g);
}

/* ---- command line ---- */

static void test_cmdline_too_long(void **state)
{
	struct elf_spec sp = elf_spec_default(false);
	struct setup_header h = bz_header_default();
	struct boot_x86_entry e;
	struct guest g;
	struct boot_x86_config cfg;
	char *line = malloc(BOOT_CMDLINE_MAX + 1);

	assert_non_null(line);
	guest_create(&g, 512 * SZ_1M);
	/* vmlinux: x86's COMMAND_LINE_SIZE of 2048 with the NUL */
	memset(line, 'a', 2047);
	line[2047] = '\0';
	cfg = config(&g, elf_write("vmlinux", &sp));
	cfg.cmdline = line;
	load_ok(&g, &cfg, &e);
	assert_string_equal((char *)gpa(&g, BOOT_CMDLINE_GPA, 2048), line);
	line[2047] = 'b';
	line[2048] = '\0';
	expect_load_error(&g, &cfg, -E2BIG, "--cmdline", "2048 bytes", "at most 2047", NULL);
	/* bzImage: the header's cmdline_size */
	h.cmdline_size = 100;
	cfg.kernel_path = bz_write("bzImage", &h);
	line[101] = '\0';
	expect_load_error(&g, &cfg, -E2BIG, "--cmdline", "101 bytes", "at most 100", NULL);
	line[100] = '\0';
	load_ok(&g, &cfg, &e);
	/* PVH: ptvm's own limit */
	sp.pvh = true;
	cfg.kernel_path = elf_write("pvh.elf", &sp);
	memset(line, 'c', BOOT_CMDLINE_MAX);
	line[BOOT_CMDLINE_MAX] = '\0';
	expect_load_error(&g, &cfg, -E2BIG, "--cmdline", "ptvm accepts at most 65535", NULL);
	line[BOOT_CMDLINE_MAX - 1] = '\0';
	load_ok(&g, &cfg, &e);
	free(line);
	guest_destroy(&g);
}

/* ---- page tables and GDT ---- */

/* Walks the guest's 4-level tables as the MMU would (2 MiB leaves expected). */
static uint64_t walk(struct guest *g, uint64_t cr3, uint64_t va)
{
	uint64_t *pml4 = gpa(g, cr3, 4096), *pdpt, *pd, ent;

	ent = pml4[(va >> 39) & 511];
	assert_true(ent & 1);
	pdpt = gpa(g, ent & ~0xfffULL, 4096);
	ent = pdpt[(va >> 30) & 511];
	assert_true(ent & 1);
	assert_false(ent & 0x80);
	pd = gpa(g, ent & ~0xfffULL, 4096);
	ent = pd[(va >> 21) & 511];
	assert_true(ent & 1);
	assert_true(ent & 2);
	assert_true(ent & 0x80);
	return (ent & ~0x1fffffULL & 0x000fffffffffffffULL) | (va & 0x1fffff);
}

static void test_page_tables_identity(void **state)
{
	static const uint64_t probes[] = {0,	      0x7000,	  0x1fffff,   0x200000,
					  0x12345678, 0x7fffffff, 0xc0000000, 0xe0000123,
					  0xfee00000, 0xffffffff};
	struct elf_spec sp = elf_spec_default(false);
	struct boot_x86_entry e;
	struct guest g;
	struct boot_x86_config cfg;
	uint64_t *gdt, *pml4;

	guest_create(&g, 512 * SZ_1M);
	cfg = config(&g, elf_write("vmlinux", &sp));
	load_ok(&g, &cfg, &e);
	for (unsigned i = 0; i < ARRAY_SIZE(probes); i++)
		assert_int_equal(walk(&g, e.cr3, probes[i]), probes[i]);
	/* every one of the 2048 PD entries, and nothing mapped above 4 GiB */
	for (uint64_t va = 0; va < 4 * SZ_1G; va += SZ_2M)
		assert_int_equal(walk(&g, e.cr3, va + 0x1234), va + 0x1234);
	pml4 = gpa(&g, BOOT_PML4_GPA, 4096);
	assert_int_equal(((uint64_t *)gpa(&g, pml4[0] & ~0xfffULL, 4096))[4], 0);
	for (unsigned i = 1; i < 512; i++)
		assert_int_equal(pml4[i], 0);
	/* GDT: 0x08 32-bit code, 0x10 64-bit code, 0x18 data */
	gdt = gpa(&g, BOOT_GDT_GPA, 32);
	assert_int_equal(gdt[0], 0);
	assert_true(gdt[1] & (1ULL << 54));  /* D */
	assert_false(gdt[1] & (1ULL << 53)); /* L */
	assert_true(gdt[2] & (1ULL << 53));
	assert_false(gdt[2] & (1ULL << 54));
	assert_int_equal((gdt[1] >> 40) & 0x9a, 0x9a); /* present, code, readable */
	assert_int_equal((gdt[2] >> 40) & 0x9a, 0x9a);
	assert_int_equal((gdt[3] >> 40) & 0x9a, 0x92); /* present, data, writable */
	guest_destroy(&g);
}

static void test_apply_sregs(void **state)
{
	struct elf_spec sp = elf_spec_default(true);
	struct boot_x86_entry e;
	struct kvm_sregs sregs;
	struct guest g;
	struct boot_x86_config cfg;

	guest_create(&g, 512 * SZ_1M);
	cfg = config(&g, elf_write("pvh.elf", &sp));
	cfg.protocol = BOOT_PROTOCOL_LINUX64;
	load_ok(&g, &cfg, &e);
	memset(&sregs, 0x77, sizeof(sregs));
	boot_x86_entry_apply_sregs(&e, &sregs);
	assert_memory_equal(&sregs.cs, &e.cs, sizeof(e.cs));
	assert_memory_equal(&sregs.ds, &e.ds, sizeof(e.ds));
	assert_memory_equal(&sregs.es, &e.ds, sizeof(e.ds));
	assert_memory_equal(&sregs.fs, &e.ds, sizeof(e.ds));
	assert_memory_equal(&sregs.gs, &e.ds, sizeof(e.ds));
	assert_memory_equal(&sregs.ss, &e.ds, sizeof(e.ds));
	assert_int_equal(sregs.cr0, e.cr0);
	assert_int_equal(sregs.cr3, BOOT_PML4_GPA);
	assert_int_equal(sregs.cr4, e.cr4);
	assert_int_equal(sregs.efer, e.efer);
	assert_int_equal(sregs.gdt.base, BOOT_GDT_GPA);
	assert_int_equal(sregs.gdt.limit, 31);
	/* what KVM_GET_SREGS returned for the rest stays */
	assert_int_equal(sregs.apic_base, 0x7777777777777777ULL);
	guest_destroy(&g);
}

/* ---- malformed ELF files ---- */

static const char *elf_write_mangled(const char *name, const struct elf_spec *sp, size_t cut,
				     void (*mangle)(uint8_t *b))
{
	size_t len;
	uint8_t *b = elf_build(sp, &len);
	const char *path;

	if (mangle)
		mangle(b);
	path = fixture_write(name, b, MIN(cut, len));
	free(b);
	return path;
}

static void mangle_machine(uint8_t *b)
{
	((Elf64_Ehdr *)b)->e_machine = EM_AARCH64;
}

static void mangle_type(uint8_t *b)
{
	((Elf64_Ehdr *)b)->e_type = ET_DYN;
}

static void mangle_phnum(uint8_t *b)
{
	((Elf64_Ehdr *)b)->e_phnum = 200;
}

static void mangle_phoff(uint8_t *b)
{
	((Elf64_Ehdr *)b)->e_phoff = UINT64_MAX - 8;
}

static void mangle_seg_offset(uint8_t *b)
{
	((Elf64_Phdr *)(b + 64))->p_offset = UINT64_MAX - 0x100;
}

static void mangle_note(uint8_t *b)
{
	memset(b + NOTE_OFF, 0xff, 4); /* namesz 0xffffffff */
}

static void mangle_bigendian(uint8_t *b)
{
	b[EI_DATA] = ELFDATA2MSB;
}

static void test_malformed_elf_headers(void **state)
{
	struct elf_spec sp = elf_spec_default(true);
	struct guest g;
	struct boot_x86_config cfg;

	guest_create(&g, 512 * SZ_1M);
	cfg = config(&g, elf_write_mangled("cut-ident", &sp, 10, NULL));
	expect_load_error(&g, &cfg, -ENOEXEC, "cut-ident", "truncated ELF header", NULL);
	cfg = config(&g, elf_write_mangled("cut-ehdr", &sp, 40, NULL));
	expect_load_error(&g, &cfg, -ENOEXEC, "cut-ehdr", "truncated ELF header", "40 bytes", NULL);
	cfg = config(&g, elf_write_mangled("cut-phdrs", &sp, 64 + 56 + 20, NULL));
	expect_load_error(&g, &cfg, -ENOEXEC, "cut-phdrs", "truncated (program headers", "0xb0",
			  "0x8c", NULL);
	cfg = config(&g, elf_write_mangled("phnum", &sp, SIZE_MAX, mangle_phnum));
	expect_load_error(&g, &cfg, -ENOEXEC, "phnum", "truncated (program headers", NULL);
	cfg = config(&g, elf_write_mangled("phoff", &sp, SIZE_MAX, mangle_phoff));
	expect_load_error(&g, &cfg, -ENOEXEC, "phoff", "truncated (program headers", NULL);
	cfg = config(&g, elf_write_mangled("aarch64", &sp, SIZE_MAX, mangle_machine));
	expect_load_error(&g, &cfg, -ENOEXEC, "aarch64",
			  "an arm64 ELF kernel (vmlinux); this ptvm (x86_64)", NULL);
	cfg = config(&g, elf_write_mangled("dyn", &sp, SIZE_MAX, mangle_type));
	expect_load_error(&g, &cfg, -ENOEXEC, "dyn", "ET_EXEC", NULL);
	cfg = config(&g, elf_write_mangled("msb", &sp, SIZE_MAX, mangle_bigendian));
	expect_load_error(&g, &cfg, -ENOEXEC, "msb", "little-endian", NULL);
	cfg = config(&g, elf_write_mangled("note", &sp, SIZE_MAX, mangle_note));
	expect_load_error(&g, &cfg, -ENOEXEC, "note", "malformed ELF note", NULL);
	guest_destroy(&g);
}

static void test_malformed_elf_segments(void **state)
{
	struct elf_spec sp = elf_spec_default(false);
	struct guest g;
	struct boot_x86_config cfg;

	guest_create(&g, 512 * SZ_1M);
	/* segment beyond the end of the file */
	cfg = config(&g, elf_write_mangled("cut-segment", &sp, KERNEL_CODE_OFF + 0x800, NULL));
	expect_load_error(&g, &cfg, -ENOEXEC, "cut-segment",
			  "truncated (segment 0 needs bytes up to 0x2000, file has 0x1800)", NULL);
	cfg = config(&g, elf_write_mangled("seg-offset", &sp, SIZE_MAX, mangle_seg_offset));
	expect_load_error(&g, &cfg, -ENOEXEC, "seg-offset", "segment 0", "overflows", NULL);
	/* segment outside RAM: above the end of a 512 MiB guest, and in the PCI hole */
	sp = elf_spec_default(false);
	sp.paddr = 600 * SZ_1M;
	sp.entry = sp.paddr;
	cfg = config(&g, elf_write("high-seg", &sp));
	expect_load_error(&g, &cfg, -ENOMEM, "high-seg", "segment 0", "does not fit", "--memory",
			  NULL);
	sp.paddr = 0xfec00000;
	sp.entry = sp.paddr;
	cfg = config(&g, elf_write("hole-seg", &sp));
	expect_load_error(&g, &cfg, -ENOEXEC, "hole-seg", "outside guest RAM", NULL);
	/* address + size wraps around */
	sp.paddr = 0xfffffffffffff000ULL;
	sp.entry = sp.paddr;
	cfg = config(&g, elf_write("wrap-seg", &sp));
	expect_load_error(&g, &cfg, -ENOEXEC, "wrap-seg", "0xfffffffffffff000", "overflows", NULL);
	/* over the boot structures */
	sp.paddr = BOOT_PARAMS_GPA;
	sp.entry = sp.paddr;
	cfg = config(&g, elf_write("low-seg", &sp));
	expect_load_error(&g, &cfg, -ENOEXEC, "low-seg", "below 1 MiB", NULL);
	/* filesz > memsz */
	sp = elf_spec_default(false);
	sp.memsz = KERNEL_FILESZ / 2;
	cfg = config(&g, elf_write("filesz", &sp));
	expect_load_error(&g, &cfg, -ENOEXEC, "filesz", "filesz 0x1000 > memsz 0x800", NULL);
	/* entry point outside the image */
	sp = elf_spec_default(false);
	sp.entry = 0xffffffff81000000ULL;
	cfg = config(&g, elf_write("entry", &sp));
	expect_load_error(&g, &cfg, -ENOEXEC, "entry", "0xffffffff81000000", NULL);
	sp = elf_spec_default(true);
	sp.pvh_entry = 0x5000;
	cfg = config(&g, elf_write("pvh-entry", &sp));
	expect_load_error(&g, &cfg, -ENOEXEC, "pvh-entry", "entry point 0x5000", NULL);
	/* no loadable segment */
	sp = elf_spec_default(false);
	sp.memsz = sp.filesz = 0;
	cfg = config(&g, elf_write("empty-seg", &sp));
	expect_load_error(&g, &cfg, -ENOEXEC, "empty-seg", "no loadable segment", NULL);
	guest_destroy(&g);
}

/* ---- malformed bzImages ---- */

static void test_malformed_bzimage(void **state)
{
	struct setup_header h = bz_header_default();
	struct guest g;
	struct boot_x86_config cfg;
	size_t len;
	uint8_t *b;

	guest_create(&g, 512 * SZ_1M);
	h.version = 0x020a;
	cfg = config(&g, bz_write("bz-old", &h));
	expect_load_error(&g, &cfg, -ENOEXEC, "bz-old", "2.10 is too old", NULL);
	h = bz_header_default();
	h.xloadflags = 0;
	cfg = config(&g, bz_write("bz-32", &h));
	expect_load_error(&g, &cfg, -ENOEXEC, "bz-32", "XLF_KERNEL_64", NULL);
	h = bz_header_default();
	b = bz_build(&h, &len);
	/* setup header cut short */
	cfg = config(&g, fixture_write("bz-cut-hdr", b, 0x230));
	expect_load_error(&g, &cfg, -ENOEXEC, "bz-cut-hdr", "truncated", "0x26c", NULL);
	/* setup code cut short */
	cfg = config(&g, fixture_write("bz-cut-setup", b, BZ_SETUP_SIZE - 1));
	expect_load_error(&g, &cfg, -ENOEXEC, "bz-cut-setup", "truncated", NULL);
	/* protected-mode part shorter than syssize says */
	cfg = config(&g, fixture_write("bz-cut-pm", b, len - 16));
	expect_load_error(&g, &cfg, -ENOEXEC, "bz-cut-pm", "truncated", "0x2a00", NULL);
	free(b);
	/* syssize says the protected-mode part is too small to hold the 64-bit entry */
	h = bz_header_default();
	h.syssize = 0x200 / 16;
	cfg = config(&g, bz_write("bz-tiny", &h));
	expect_load_error(&g, &cfg, -ENOEXEC, "bz-tiny", "no room for the 64-bit entry", NULL);
	/* the decompressor's working area does not fit */
	h = bz_header_default();
	h.init_size = 600 * SZ_1M;
	cfg = config(&g, bz_write("bz-huge", &h));
	expect_load_error(&g, &cfg, -ENOMEM, "bz-huge", "--memory", NULL);
	guest_destroy(&g);
}

/* ---- configuration ---- */

static void test_kernel_path_missing(void **state)
{
	struct guest g;
	struct boot_x86_config cfg;

	guest_create(&g, 512 * SZ_1M);
	cfg = config(&g, fixture_path("no-such-kernel"));
	expect_load_error(&g, &cfg, -ENOENT, "no-such-kernel", "No such file or directory", NULL);
	cfg = config(&g, tmpdir);
	expect_load_error(&g, &cfg, -EINVAL, tmpdir, "not a regular file", NULL);
	cfg = config(&g, NULL);
	expect_load_error(&g, &cfg, -EINVAL, "--kernel", NULL);
	guest_destroy(&g);
}

static void test_memory_too_small(void **state)
{
	struct elf_spec sp = elf_spec_default(false);
	struct guest g;
	struct boot_x86_config cfg;

	guest_create(&g, SZ_1M);
	cfg = config(&g, elf_write("vmlinux", &sp));
	expect_load_error(&g, &cfg, -ENOMEM, "--memory", NULL);
	guest_destroy(&g);
}

/* ---- robustness: every truncation and random corruption is an error, never a crash ---- */

static void load_quietly(struct guest *g, const char *path)
{
	struct boot_x86_config cfg = config(g, path);
	struct boot_x86_entry e;
	FILE *devnull = fopen("/dev/null", "w");
	int ret;

	assert_non_null(devnull);
	cfg.cmdline = "console=ttyS0";
	log_set_stream(devnull);
	ret = boot_x86_load(g->mm, &cfg, &e);
	log_set_stream(NULL);
	fclose(devnull);
	assert_true(ret == 0 || ret == -ENOEXEC || ret == -ENOMEM || ret == -E2BIG);
}

static void fuzz_image(struct guest *g, const uint8_t *img, size_t len, unsigned seed)
{
	uint8_t *b = malloc(len);

	assert_non_null(b);
	for (size_t cut = 0; cut <= len; cut += cut < 0x300 ? 1 : 61)
		load_quietly(g, fixture_write("fuzz", img, cut));
	srand(seed);
	for (unsigned iter = 0; iter < 1500; iter++) {
		memcpy(b, img, len);
		/* corrupt a few bytes of the headers, where the parsing happens */
		for (unsigned n = 0; n < 1 + (unsigned)rand() % 4; n++) {
			size_t at = (size_t)rand() % 0x300;

			b[at] = (uint8_t)rand();
		}
		load_quietly(g, fixture_write("fuzz", b, len));
	}
	free(b);
}

static void test_fuzz_elf_and_bzimage(void **state)
{
	struct elf_spec sp = elf_spec_default(true);
	struct setup_header h = bz_header_default();
	struct guest g;
	size_t len;
	uint8_t *img;

	guest_create(&g, 64 * SZ_1M);
	img = elf_build(&sp, &len);
	fuzz_image(&g, img, len, 1);
	free(img);
	sp.elf32 = true;
	img = elf_build(&sp, &len);
	fuzz_image(&g, img, len, 2);
	free(img);
	img = bz_build(&h, &len);
	fuzz_image(&g, img, len, 3);
	free(img);
	guest_destroy(&g);
}

static int suite_setup(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/ptvm-boot-test-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int suite_teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_detect_pvh_elf64),
	    cmocka_unit_test(test_detect_pvh_elf32),
	    cmocka_unit_test(test_detect_vmlinux),
	    cmocka_unit_test(test_detect_pvh_note_forced_linux64),
	    cmocka_unit_test(test_detect_bzimage),
	    cmocka_unit_test(test_detect_protocol_mismatch),
	    cmocka_unit_test(test_detect_not_a_kernel),
	    cmocka_unit_test(test_pvh_start_info_512m),
	    cmocka_unit_test(test_pvh_start_info_4g),
	    cmocka_unit_test(test_boot_params_vmlinux),
	    cmocka_unit_test(test_boot_params_bzimage),
	    cmocka_unit_test(test_initrd_limits),
	    cmocka_unit_test(test_initrd_missing),
	    cmocka_unit_test(test_initrd_too_large),
	    cmocka_unit_test(test_cmdline_too_long),
	    cmocka_unit_test(test_page_tables_identity),
	    cmocka_unit_test(test_apply_sregs),
	    cmocka_unit_test(test_malformed_elf_headers),
	    cmocka_unit_test(test_malformed_elf_segments),
	    cmocka_unit_test(test_malformed_bzimage),
	    cmocka_unit_test(test_kernel_path_missing),
	    cmocka_unit_test(test_memory_too_small),
	    cmocka_unit_test(test_fuzz_elf_and_bzimage),
	};

	return cmocka_run_group_tests(tests, suite_setup, suite_teardown);
}
