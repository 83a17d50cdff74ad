/* SPDX-License-Identifier: MIT */
/* GDT/TSS/IDT, the exception report, and port I/O for ring 3 where IOPL does not reach. */
#include "kit.h"

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
extern const uint64_t kit_irq_table[KIT_IRQ_COUNT];

static struct tss64 tss;
static struct idt_gate idt[KIT_IRQ_VECTOR_BASE + KIT_IRQ_COUNT];
static uint8_t exception_stack[4096] __attribute__((aligned(16), section(".stacks")));

static const char *const exception_names[32] = {
	"#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "CSO", "#TS",
	"#NP", "#SS", "#GP", "#PF", "res", "#MF", "#AC", "#MC", "#XM", "#VE", "#CP",
};

static void idt_load(void)
{
	struct desc_ptr p = { sizeof(idt) - 1, (uint64_t)idt };

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

	for (int v = 0; v < KIT_IRQ_VECTOR_BASE + KIT_IRQ_COUNT; v++) {
		uint64_t a = v < 32 ? kit_isr_table[v] : kit_irq_table[v - KIT_IRQ_VECTOR_BASE];

		idt[v] = (struct idt_gate){
			.offset_lo = a & 0xffff,
			.selector = SEL_KCODE,
			.type = 0x8e, /* present, DPL0, 64-bit interrupt gate */
			.offset_mid = (a >> 16) & 0xffff,
			.offset_hi = a >> 32,
		};
	}
	idt_load();
}

void cpu_tables_load_ap(void)
{
	idt_load();
}

uint32_t irq_count(unsigned int vector)
{
	if (vector < KIT_IRQ_VECTOR_BASE || vector >= KIT_IRQ_VECTOR_BASE + KIT_IRQ_COUNT)
		return 0;
	return __atomic_load_n(&kit_irq_counts[vector - KIT_IRQ_VECTOR_BASE], __ATOMIC_SEQ_CST);
}

bool irq_wait(unsigned int vector, uint32_t seen, uint64_t us)
{
	uint64_t t0 = rdtsc();
	bool got;

	/* interrupts on only here: the rest of the kit runs with IF=0 */
	__asm__ volatile("sti" ::: "memory");
	while (!(got = irq_count(vector) != seen) && rdtsc() - t0 < us * 3000)
		__asm__ volatile("pause" ::: "memory");
	__asm__ volatile("cli" ::: "memory");
	return got || irq_count(vector) != seen;
}

/*
 * A #GP(0) at CPL3 on in/out: do the access at ring 0 and step over the instruction.
 * Forms: [66] E4-E7 ib (imm8 port), [66] EC-EF (port in DX); string I/O is not handled.
 */
static bool emulate_user_pio(struct exception_frame *f)
{
	const uint8_t *ip = (const uint8_t *)f->rip;
	unsigned int len = 1, size = 4;
	uint16_t port;
	uint8_t op;

	if ((f->cs & 3) != 3 || f->error != 0)
		return false;
	if (ip[0] == 0x66) {
		size = 2;
		ip++;
		len++;
	}
	op = ip[0];
	if (op >= 0xe4 && op <= 0xe7) {
		port = ip[1];
		len++;
	} else if (op >= 0xec && op <= 0xef) {
		port = (uint16_t)f->rdx;
	} else {
		return false;
	}
	if (!(op & 1))
		size = 1;
	if (op & 2) { /* out */
		if (size == 1)
			outb(port, (uint8_t)f->rax);
		else if (size == 2)
			outw(port, (uint16_t)f->rax);
		else
			outl(port, (uint32_t)f->rax);
	} else if (size == 1) {
		f->rax = (f->rax & ~0xffull) | inb(port);
	} else if (size == 2) {
		f->rax = (f->rax & ~0xffffull) | inw(port);
	} else {
		f->rax = inl(port); /* a 32-bit destination zero-extends */
	}
	f->rip += len;
	return true;
}

void kit_exception(struct exception_frame *f)
{
	static int nested;
	uint64_t cr2 = 0;

	if (f->vector == 13 && emulate_user_pio(f))
		return;

	if (nested++) {
		/* faulted while reporting a fault: report without printing */
		outb(DEBUG_EXIT_PORT, FAIL_EXCEPTION);
		cpu_stop();
	}
	if (f->vector == 14)
		__asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
	test_fail(FAIL_EXCEPTION,
		  "exception %llu %s at rip=0x%llx err=0x%llx cs=0x%llx rflags=0x%llx rsp=0x%llx "
		  "cr2=0x%llx apic=%u",
		  (unsigned long long)f->vector,
		  exception_names[f->vector] ? exception_names[f->vector] : "?",
		  (unsigned long long)f->rip, (unsigned long long)f->error,
		  (unsigned long long)f->cs, (unsigned long long)f->rflags,
		  (unsigned long long)f->rsp, (unsigned long long)cr2, lapic_id());
}
