/* SPDX-License-Identifier: MIT */
/* GDT/TSS/IDT, the syscall MSRs that bring ring 3 back, and the exception report. */
#include "kit.h"

#define MSR_STAR 0xc0000081
#define MSR_LSTAR 0xc0000082
#define MSR_SFMASK 0xc0000084

struct tss64 {
	uint32_t reserved0;
	uint64_t rsp[3];
	uint64_t reserved1;
	uint64_t ist[7];
	uint64_t reserved2;
	uint16_t reserved3;
	uint16_t iomap_base;
} __attribute__((packed));
_Static_assert(sizeof(struct tss64) == 104, "TSS ABI");

struct idt_gate {
	uint16_t offset_lo;
	uint16_t selector;
	uint8_t ist;
	uint8_t type; /* P | DPL | type */
	uint16_t offset_mid;
	uint32_t offset_hi;
	uint32_t reserved;
} __attribute__((packed));

struct __attribute__((packed)) desc_ptr {
	uint16_t limit;
	uint64_t base;
};

extern uint64_t kit_gdt_tss[2];
extern const uint64_t kit_isr_table[32];

static struct tss64 tss;
static struct idt_gate idt[32];
static uint8_t exception_stack[4096] __attribute__((aligned(16), section(".stacks")));

static const char *const exception_names[32] = {
    "#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "CSO", "#TS",
    "#NP", "#SS", "#GP", "#PF", "res", "#MF", "#AC", "#MC", "#XM", "#VE", "#CP",
};

static void idt_load(void)
{
	struct desc_ptr p = {sizeof(idt) - 1, (uint64_t)idt};

	__asm__ volatile("lidt %0" : : "m"(p));
}

void cpu_tables_init(void)
{
	uint64_t base = (uint64_t)&tss;

	/* a CPL3 -> CPL0 transition (exception in user code) needs a ring-0 stack */
	tss.rsp[0] = (uint64_t)(exception_stack + sizeof(exception_stack));
	tss.iomap_base = sizeof(tss); /* no bitmap: IOPL decides */
	kit_gdt_tss[0] = (sizeof(tss) - 1) | ((base & 0xffffff) << 16) | (0x89ull << 40) |
			 ((base >> 24 & 0xff) << 56);
	kit_gdt_tss[1] = base >> 32;
	__asm__ volatile("ltr %w0" : : "r"(SEL_TSS));

	for (int v = 0; v < 32; v++) {
		uint64_t a = kit_isr_table[v];

		idt[v] = (struct idt_gate){
		    .offset_lo = a & 0xffff,
		    .selector = SEL_KCODE,
		    .type = 0x8e, /* present, DPL0, 64-bit interrupt gate */
		    .offset_mid = (a >> 16) & 0xffff,
		    .offset_hi = a >> 32,
		};
	}
	idt_load();

	/* syscall: CS=0x08 SS=0x10; sysret would give CS=0x23 SS=0x1b */
	wrmsr(MSR_STAR, (0x10ull << 48) | ((uint64_t)SEL_KCODE << 32));
	wrmsr(MSR_LSTAR, (uint64_t)kit_syscall_entry);
	wrmsr(MSR_SFMASK, 0x47700); /* clear TF IF DF NT AC on entry */
}

void cpu_tables_load_ap(void)
{
	idt_load();
}

void kit_exception(struct exception_frame *f)
{
	static int nested;
	uint64_t cr2 = 0;

	if (nested++) {
		/* faulted while reporting a fault: report without printing */
		outb(DEBUG_EXIT_PORT, FAIL_EXCEPTION);
		cpu_stop();
	}
	if (f->vector == 14)
		__asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
	test_fail(FAIL_EXCEPTION,
		  "exception %llu %s at rip=0x%llx err=0x%llx cs=0x%llx rsp=0x%llx cr2=0x%llx "
		  "apic=%u",
		  (unsigned long long)f->vector,
		  exception_names[f->vector] ? exception_names[f->vector] : "?",
		  (unsigned long long)f->rip, (unsigned long long)f->error,
		  (unsigned long long)f->cs, (unsigned long long)f->rsp, (unsigned long long)cr2,
		  lapic_id());
}
