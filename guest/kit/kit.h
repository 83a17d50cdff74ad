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
static inline uint16_t mmio_read16(uint64_t addr)
{
	return *(volatile uint16_t *)addr;
}
static inline void mmio_write16(uint64_t addr, uint16_t v)
{
	*(volatile uint16_t *)addr = v;
}
static inline uint8_t mmio_read8(uint64_t addr)
{
	return *(volatile uint8_t *)addr;
}
static inline void mmio_write8(uint64_t addr, uint8_t v)
{
	*(volatile uint8_t *)addr = v;
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
/* Copies the value of "key=value" (up to the next space) into @buf; false if absent/too long. */
bool cmdline_get_str(const char *key, char *buf, size_t size);

/* ---- page allocator: 4 KiB pages of free RAM in [1 MiB, 4 GiB), not the image/modules ---- */
#define PAGE_SIZE 4096ul
int page_alloc_init(void);
/* Returns a page-aligned identity-mapped address, or NULL when memory ran out. */
void *page_alloc(void);
void page_free(void *page);
uint64_t page_free_count(void);
/* A zeroed page (page_alloc + memset); NULL when memory ran out. */
void *page_zalloc(void);

/*
 * Makes [pa, pa + len) reachable at the same virtual address, uncached and user-accessible:
 * below 4 GiB the boot map already does it; above, 2 MiB pages are added (page tables from
 * the allocator). For BARs that sit in a 64-bit window above RAM. Works at CPL0 and CPL3
 * (only not-present entries become present: nothing to flush). 0 or -1 (out of pages).
 */
int mmio_map(uint64_t pa, uint64_t len);

/* ---- CPU tables and rings ---- */
#define SEL_KCODE 0x08
#define SEL_KDATA 0x10
#define SEL_UDATA 0x1b
#define SEL_UCODE 0x23
#define SEL_KCODE32 0x28
#define SEL_TSS 0x30

void cpu_tables_init(void); /* GDT/TSS/IDT, boot CPU */

/*
 * External interrupts: vectors KIT_IRQ_VECTOR_BASE.. (32 of them) each count their arrivals
 * and EOI the LAPIC. Everything in the kit runs with IF=0; irq_wait() opens the window.
 */
#define KIT_IRQ_VECTOR_BASE 32
#define KIT_IRQ_COUNT 32
#define KIT_SPURIOUS_VECTOR 63 /* the LAPIC's spurious vector (counted like the others) */
extern uint32_t kit_irq_counts[KIT_IRQ_COUNT];
/* The vector for a level-triggered IOAPIC line: its handler masks the line's redirection
 * entry (IOREGSEL value in kit_level_ioregsel: 0x10 + 2 * GSI) before the EOI. */
#define KIT_LEVEL_VECTOR 62
extern uint32_t kit_level_ioregsel;
/* Arrivals on @vector so far (0 for vectors outside the counted range). */
uint32_t irq_count(unsigned int vector);
/*
 * CPL0 only: interrupts on until irq_count(@vector) differs from @seen or about @us passed;
 * true when it changed.
 */
bool irq_wait(unsigned int vector, uint32_t seen, uint64_t us);
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
/* Software-enables the local APIC (SVR), spurious vector KIT_SPURIOUS_VECTOR. */
void lapic_enable(void);
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

/* ---- modern virtio-pci driver (virtio 1.x, split rings, polled from CPL3) ---- */
/*
 * Everything here is plain memory and MMIO (ECAM for config space, BARs, rings in allocator
 * pages, all user-accessible), so it runs at CPL0 and CPL3 alike: set up anywhere, and keep
 * the submit/poll loops in a user_call (ring 0 costs about 1 us per instruction here).
 * Exceptions: virtio_msix_route() and irq_wait() need CPL0.
 */
#define VIRTIO_PCI_VENDOR 0x1af4
#define VIRTIO_PCI_DEVICE_BASE 0x1040
#define VIRTIO_ID_NET 1
#define VIRTIO_ID_BLOCK 2
#define VIRTIO_ID_CONSOLE 3
#define VIRTIO_ID_RNG 4
#define VIRTIO_ID_BALLOON 5

#define VIRTIO_STATUS_ACKNOWLEDGE 1
#define VIRTIO_STATUS_DRIVER 2
#define VIRTIO_STATUS_DRIVER_OK 4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED 0x80

#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_EVENT_IDX 29
#define VIRTIO_F_VERSION_1 32
#define VIRTIO_BIT(b) (1ull << (b))

#define VIRTQ_DESC_F_NEXT 1
#define VIRTQ_DESC_F_WRITE 2
#define VIRTQ_DESC_F_INDIRECT 4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY 1
#define VIRTIO_MSI_NO_VECTOR 0xffff

struct virtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};
_Static_assert(sizeof(struct virtq_desc) == 16, "virtq_desc ABI");

struct virtq_used_elem {
	uint32_t id;
	uint32_t len;
};

/* The common configuration structure (virtio 1.x, 4.1.4.3). */
struct virtio_pci_common_cfg {
	uint32_t device_feature_select;
	uint32_t device_feature;
	uint32_t driver_feature_select;
	uint32_t driver_feature;
	uint16_t msix_config;
	uint16_t num_queues;
	uint8_t device_status;
	uint8_t config_generation;
	uint16_t queue_select;
	uint16_t queue_size;
	uint16_t queue_msix_vector;
	uint16_t queue_enable;
	uint16_t queue_notify_off;
	uint64_t queue_desc;
	uint64_t queue_driver;
	uint64_t queue_device;
};
_Static_assert(sizeof(struct virtio_pci_common_cfg) == 56, "virtio_pci_common_cfg ABI");

#define VIRTQ_MAX_SIZE 256 /* the driver uses at most this many entries per queue */

struct virtq {
	struct virtio_dev *vd;
	unsigned int index;
	uint16_t size;
	uint16_t free_head, num_free;
	uint16_t avail_idx;	/* next avail ring slot (the driver's shadow of avail->idx) */
	uint16_t last_used;	/* next used ring slot to look at */
	uint16_t last_kick_idx; /* avail idx at the last kick decision (EVENT_IDX) */
	bool event_idx;
	volatile struct virtq_desc *desc;
	volatile uint16_t *avail; /* flags, idx, ring[size], used_event */
	volatile uint16_t *used;  /* flags, idx, then elems; avail_event after them */
	uint64_t notify;	  /* MMIO address of this queue's notify register */
	/* the driver's own bookkeeping, never in memory the device can write */
	uint16_t free_next[VIRTQ_MAX_SIZE]; /* free descriptor list */
	uint16_t chain_len[VIRTQ_MAX_SIZE]; /* per head in flight: descriptors used, 0 if idle */
	/* one indirect table (a page: 256 descriptors) per head descriptor, made on first use */
	struct virtq_desc *indirect[VIRTQ_MAX_SIZE];
	uint64_t kicks, kicks_suppressed; /* notifications written / skipped (EVENT_IDX) */
};

#define VIRTIO_MAX_QUEUES 4

struct virtio_dev {
	unsigned int bus, dev, fn;
	uint16_t virtio_id;
	uint64_t bar[6]; /* guest-physical BAR addresses (0: none) */
	uint64_t common; /* MMIO addresses of the structures the capabilities name */
	uint64_t isr;
	uint64_t devcfg;
	uint32_t devcfg_len;
	uint64_t notify_base;
	uint32_t notify_mult;
	unsigned int msix_cap; /* config offset of the MSI-X capability, 0 when none */
	uint64_t msix_table;
	unsigned int msix_size;
	uint64_t offered;  /* device features */
	uint64_t features; /* negotiated */
	unsigned int num_queues;
	struct virtq vq[VIRTIO_MAX_QUEUES];
};

/* A buffer of a chain: guest-physical address (= virtual here), length, device-writable. */
struct virtio_buf {
	uint64_t addr;
	uint32_t len;
	bool write;
};

/* PCI config space through ECAM (MMIO: fine at CPL3). */
uint32_t pci_cfg_read32(unsigned int bus, unsigned int dev, unsigned int fn, unsigned int off);
void pci_cfg_write32(unsigned int bus, unsigned int dev, unsigned int fn, unsigned int off,
		     uint32_t v);
uint16_t pci_cfg_read16(unsigned int bus, unsigned int dev, unsigned int fn, unsigned int off);
void pci_cfg_write16(unsigned int bus, unsigned int dev, unsigned int fn, unsigned int off,
		     uint16_t v);
uint8_t pci_cfg_read8(unsigned int bus, unsigned int dev, unsigned int fn, unsigned int off);

/*
 * Finds the @nth (0-based) virtio function of type @virtio_id on bus 0, turns on memory
 * decoding and bus mastering, sizes nothing (the VMM or firmware placed the BARs), maps the
 * BARs and walks the vendor capabilities for the common/ISR/device/notify structures and the
 * MSI-X capability. 0, or -1 with the reason printed.
 */
int virtio_find(uint16_t virtio_id, unsigned int nth, struct virtio_dev *vd);
/*
 * Reset, ACKNOWLEDGE|DRIVER, offers VERSION_1 plus whatever of @want the device offers,
 * FEATURES_OK (checked to stick). vd->offered and vd->features say what happened. 0 or -1.
 */
int virtio_init(struct virtio_dev *vd, uint64_t want);
/*
 * Sets queue @q up with min(device maximum, @max_size) entries in fresh pages (zeroed again
 * when the queue was set up before), MSI-X vector @msix_vector (VIRTIO_MSI_NO_VECTOR: none),
 * and enables it. 0 or -1.
 */
int virtio_queue_setup(struct virtio_dev *vd, unsigned int q, unsigned int max_size,
		       uint16_t msix_vector);
/* DRIVER_OK; 0, or -1 when the device then reports NEEDS_RESET or FAILED. */
int virtio_driver_ok(struct virtio_dev *vd);
void virtio_reset(struct virtio_dev *vd);
uint8_t virtio_status(struct virtio_dev *vd);
/* Device configuration (consistent snapshot through config_generation); off+len <= devcfg_len */
void virtio_config_read(struct virtio_dev *vd, unsigned int off, void *buf, unsigned int len);

/*
 * Adds a chain of @n buffers (readable ones must come first) to @vq, through one indirect
 * table when @indirect (needs VIRTIO_F_INDIRECT_DESC), and publishes it (no notify).
 * Returns the head descriptor id, or -1 when the ring has no room.
 */
int virtq_add(struct virtq *vq, const struct virtio_buf *bufs, unsigned int n, bool indirect);
/* Notifies the device unless EVENT_IDX / NO_NOTIFY say it does not need it. */
void virtq_kick(struct virtq *vq);
/*
 * Takes the next used element: true with *id and *len set (and the chain's descriptors
 * freed), false when none is there yet.
 */
bool virtq_get(struct virtq *vq, uint32_t *id, uint32_t *len);
/* virtq_get until an element arrives or about @us microseconds pass (TSC based). */
bool virtq_wait(struct virtq *vq, uint32_t *id, uint32_t *len, uint64_t us);
/*
 * Interrupts after used buffers: @on asks for one at the next used element, off suppresses
 * them (used_event far ahead with EVENT_IDX, else VIRTQ_AVAIL_F_NO_INTERRUPT). A device may
 * still send some when suppressed (the spec allows it; QEMU sends the first after a reset).
 */
void virtq_interrupts(struct virtq *vq, bool on);
/* One request, start to end: add, kick, wait; the used length, or -1 on no room / timeout. */
int64_t virtq_transfer(struct virtq *vq, const struct virtio_buf *bufs, unsigned int n,
		       bool indirect, uint64_t timeout_us);

/*
 * MSI-X: enables the capability and points table entry @entry at this CPU's LAPIC with
 * @cpu_vector (fixed, edge), unmasked. CPL0 not needed, but irq_wait() is. 0 or -1.
 */
int virtio_msix_route(struct virtio_dev *vd, unsigned int entry, uint8_t cpu_vector);
/* Reads (and so clears) the ISR. */
uint8_t virtio_isr_read(struct virtio_dev *vd);

/* ---- virtio-blk requests on top of the driver ---- */
#define VIRTIO_BLK_F_SIZE_MAX 1
#define VIRTIO_BLK_F_SEG_MAX 2
#define VIRTIO_BLK_F_RO 5
#define VIRTIO_BLK_F_BLK_SIZE 6
#define VIRTIO_BLK_F_FLUSH 9
#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_T_GET_ID 8
#define VIRTIO_BLK_S_OK 0
#define VIRTIO_BLK_S_IOERR 1
#define VIRTIO_BLK_S_UNSUPP 2
#define VIRTIO_BLK_ID_BYTES 20
#define VIRTIO_BLK_SECTOR 512
#define VIRTIO_BLK_CFG_CAPACITY 0 /* le64, in 512-byte sectors */
#define VIRTIO_BLK_CFG_SEG_MAX 12 /* le32 */

/*
 * One synchronous request on @vq: the 16-byte header (type, sector), the @n data buffers
 * (device-readable for OUT, writable otherwise, as their .write says), the status byte.
 * @indirect: the whole chain through one indirect table. Returns the status byte the device
 * wrote (VIRTIO_BLK_S_*), or -1 on no room / timeout / a used length above the writable
 * bytes / a status byte left unwritten; *used_len when non-NULL.
 */
int virtio_blk_request(struct virtq *vq, uint32_t type, uint64_t sector,
		       const struct virtio_buf *data, unsigned int n, bool indirect,
		       uint32_t *used_len);

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
