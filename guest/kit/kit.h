/* SPDX-License-Identifier: MIT */
/*
 * The freestanding test-guest kit: what a guest/ program gets.
 *
 * A program defines `const char test_name[]` and `int test_main(void)`. The kit boots it from
 * the PVH 32-bit entry into long mode (0-4 GiB identity mapped with 2 MiB pages, user-
 * accessible so that CPL3 code can use the kit too), installs a GDT/TSS/IDT, parses the
 * hvm_start_info, sets up COM1 and the page allocator, then calls test_main(). A return of 0
 * prints "PASS <name>" and writes 0 to port 0xf4; test_fail() prints "FAIL <name>: <reason>"
 * and writes its non-zero code. Any CPU exception fails the test naming vector, RIP and error.
 *
 * Ring-0 code runs about 1000x slower than native on a nested, emulating /dev/kvm: keep
 * ring-0 work to thousands of instructions and run loops at CPL3 through user_call().
 */
#ifndef GUEST_KIT_H
#define GUEST_KIT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- what every program provides ---- */
extern const char test_name[];
int test_main(void);

/* ---- result ---- */
#define DEBUG_EXIT_PORT 0xf4
#define FAIL_GENERIC 1
#define FAIL_EXCEPTION 2
#define FAIL_BOOT 3

/* Prints "FAIL <name>: <reason>", reports @code (non-zero) on port 0xf4 and stops. */
__attribute__((noreturn, format(printf, 2, 3))) void test_fail(int code, const char *fmt, ...);
/* Prints "PASS <name>", reports 0 on port 0xf4 and stops. */
__attribute__((noreturn)) void test_pass(void);
/* Stops this CPU for good (hlt at ring 0, a pause loop at ring 3). */
__attribute__((noreturn)) void cpu_stop(void);

/* ---- port I/O and CPU helpers ---- */
static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}
static inline void outw(uint16_t port, uint16_t v)
{
	__asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port));
}
static inline void outl(uint16_t port, uint32_t v)
{
	__asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}
static inline uint8_t inb(uint16_t port)
{
	uint8_t v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline uint16_t inw(uint16_t port)
{
	uint16_t v;
	__asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline uint32_t inl(uint16_t port)
{
	uint32_t v;
	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline uint64_t rdmsr(uint32_t msr)
{
	uint32_t lo, hi;
	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return ((uint64_t)hi << 32) | lo;
}
static inline void wrmsr(uint32_t msr, uint64_t v)
{
	__asm__ volatile("wrmsr" : : "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
}
static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}
static inline void cpuid(uint32_t leaf, uint32_t sub, uint32_t r[4])
{
	__asm__ volatile("cpuid"
			 : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3])
			 : "a"(leaf), "c"(sub));
}
static inline unsigned int cpu_cpl(void)
{
	uint16_t cs;
	__asm__ volatile("mov %%cs, %0" : "=r"(cs));
	return cs & 3;
}
static inline uint32_t mmio_read32(uint64_t addr)
{
	return *(volatile uint32_t *)addr;
}
static inline void mmio_write32(uint64_t addr, uint32_t v)
{
	*(volatile uint32_t *)addr = v;
}
static inline void cpu_relax(void)
{
	__asm__ volatile("pause" ::: "memory");
}

/* ---- string helpers (the compiler may also call memset/memcpy/memcmp itself) ---- */
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strncmp(const char *a, const char *b, size_t n);

/* ---- serial (COM1, polled 16550) and formatted output ---- */
void serial_init(void);
void serial_putc(char c);
void serial_write(const char *s, size_t n);
/* %d %i %u %x %X %p %s %c %%, flags '0' '-', width, .precision (%s), length l/ll/z. */
__attribute__((format(printf, 1, 2))) int printf(const char *fmt, ...);
int vprintf(const char *fmt, va_list ap);
__attribute__((format(printf, 3, 4))) int snprintf(char *buf, size_t size, const char *fmt, ...);
int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);

/* ---- hvm_start_info (copied by the kit before anything can overwrite it) ---- */
#define HVM_START_MAGIC 0x336ec578u
#define E820_RAM 1
#define E820_RESERVED 2
#define E820_ACPI 3
#define E820_NVS 4

struct hvm_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;
	uint64_t rsdp_paddr;
	uint64_t memmap_paddr; /* version >= 1 */
	uint32_t memmap_entries;
	uint32_t reserved;
};
_Static_assert(sizeof(struct hvm_start_info) == 56, "hvm_start_info ABI");

struct hvm_memmap_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
	uint32_t reserved;
};
_Static_assert(sizeof(struct hvm_memmap_entry) == 24, "hvm_memmap_table_entry ABI");

struct hvm_modlist_entry {
	uint64_t paddr;
	uint64_t size;
	uint64_t cmdline_paddr;
	uint64_t reserved;
};

#define BOOTINFO_MAX_MEMMAP 64
#define BOOTINFO_MAX_MODULES 8
#define BOOTINFO_CMDLINE_MAX 1024

struct bootinfo {
	uint64_t start_info_paddr;
	struct hvm_start_info si;
	char cmdline[BOOTINFO_CMDLINE_MAX];
	unsigned int nr_memmap;
	struct hvm_memmap_entry memmap[BOOTINFO_MAX_MEMMAP];
	unsigned int nr_modules;
	struct hvm_modlist_entry modules[BOOTINFO_MAX_MODULES];
};
extern struct bootinfo bootinfo;

/* Parses the start_info at @paddr into `bootinfo`; 0 or a negative code with a message. */
int bootinfo_parse(uint64_t paddr);
/* Finds "key=value" on the command line; true and *val set when present and numeric. */
bool cmdline_get_uint(const char *key, uint64_t *val);

/* ---- page allocator: 4 KiB pages of free RAM in [1 MiB, 4 GiB), not the image/modules ---- */
#define PAGE_SIZE 4096ul
int page_alloc_init(void);
/* Returns a page-aligned identity-mapped address, or NULL when memory ran out. */
void *page_alloc(void);
void page_free(void *page);
uint64_t page_free_count(void);

/* ---- CPU tables and rings ---- */
#define SEL_KCODE 0x08
#define SEL_KDATA 0x10
#define SEL_UDATA 0x1b
#define SEL_UCODE 0x23
#define SEL_KCODE32 0x28
#define SEL_TSS 0x30

void cpu_tables_init(void);    /* GDT/TSS/IDT, boot CPU */
void cpu_tables_load_ap(void); /* IDT on an AP (the GDT came with the trampoline) */
typedef uint64_t (*user_fn)(uint64_t arg);
/*
 * Runs fn(arg) at CPL3 on the kit's user stack and returns its result at CPL0. Entry is an
 * iretq, the way back a deliberate ud2 the #UD handler recognises. Interrupts stay off.
 * Port I/O works at CPL3: IOPL=3 allows it natively; where the CPU still raises #GP (this
 * machine's nested KVM runs ring 3 without the guest's IOPL), the #GP handler performs the
 * in/out and resumes, at the price of a ring-0 round trip per access.
 */
uint64_t user_call(user_fn fn, uint64_t arg);

/* ---- PCI configuration space ---- */
uint32_t pci_cfg1_read32(unsigned int bus, unsigned int dev, unsigned int fn, unsigned int off);
void pci_cfg1_write32(unsigned int bus, unsigned int dev, unsigned int fn, unsigned int off,
		      uint32_t v);
/* ECAM base: from the ACPI MCFG (segment 0) when present, else 0xE0000000. */
uint64_t pci_ecam_base(void);
uint32_t pci_ecam_read32(unsigned int bus, unsigned int dev, unsigned int fn, unsigned int off);
void pci_ecam_write32(unsigned int bus, unsigned int dev, unsigned int fn, unsigned int off,
		      uint32_t v);

/* ---- ACPI ---- */
struct acpi_rsdp {
	char signature[8];
	uint8_t checksum;
	char oem_id[6];
	uint8_t revision;
	uint32_t rsdt_address;
	uint32_t length; /* revision >= 2 from here on */
	uint64_t xsdt_address;
	uint8_t extended_checksum;
	uint8_t reserved[3];
} __attribute__((packed));

struct acpi_header {
	char signature[4];
	uint32_t length;
	uint8_t revision;
	uint8_t checksum;
	char oem_id[6];
	char oem_table_id[8];
	uint32_t oem_revision;
	uint32_t creator_id;
	uint32_t creator_revision;
} __attribute__((packed));

uint8_t acpi_checksum(const void *p, size_t len);
/* true when @p holds an RSDP with valid checksum(s) */
bool acpi_rsdp_valid(const struct acpi_rsdp *p);
/* Scans [lo, hi) on 16-byte boundaries for a valid RSDP; 0 when none. Bulk: call at CPL3. */
uint64_t acpi_rsdp_scan(uint64_t lo, uint64_t hi);
/* The RSDP the start_info names (validated), else the legacy scan; NULL when none. */
const struct acpi_rsdp *acpi_rsdp(void);
/* The @index-th table with @sig listed by the XSDT (or RSDT); NULL when none. */
const struct acpi_header *acpi_table_find(const char *sig, unsigned int index);

/* ---- LAPIC and AP start-up ---- */
#define LAPIC_BASE 0xfee00000ul
#define SMP_MAX_CPUS 64
uint32_t lapic_read(unsigned int reg);
void lapic_write(unsigned int reg, uint32_t v);
unsigned int lapic_id(void);
/* APIC IDs of the enabled (or online-capable) processors the MADT lists; count returned. */
int madt_lapic_ids(unsigned int *ids, int max);
/*
 * INIT-SIPI-SIPI to @apic_id through a real-mode trampoline below 1 MiB; the AP enters long
 * mode and calls @fn(apic_id) on its own stack, then stops. Returns 0 once sent.
 */
int smp_start_ap(unsigned int apic_id, void (*fn)(unsigned int apic_id));
/* Busy-waits about @us microseconds (TSC based, assumes >= 1 GHz; generous is fine). */
void delay_us(uint64_t us);

/* ---- kit internals, called from entry.S ---- */
struct exception_frame {
	uint64_t r11, r10, r9, r8, rdi, rsi, rdx, rcx, rax;
	uint64_t vector, error;
	uint64_t rip, cs, rflags, rsp, ss;
};
void kit_main(uint32_t start_info_paddr);
void kit_ap_main(void);
void kit_exception(struct exception_frame *f);
extern char __image_start[], __image_end[], __bss_start[], __bss_end[];

#endif
