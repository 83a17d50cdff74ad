/* SPDX-License-Identifier: MIT */
/* The local APIC, the MADT's processor list and INIT-SIPI-SIPI start-up of APs. */
#include "kit.h"

#define LAPIC_ID 0x20
#define LAPIC_SVR 0xf0
#define LAPIC_ICR_LO 0x300
#define LAPIC_ICR_HI 0x310
#define ICR_INIT 0x00004500 /* INIT, level assert */
#define ICR_STARTUP 0x00004600
#define ICR_BUSY (1u << 12)
#define TRAMPOLINE_PA 0x10000ul /* a page below 1 MiB; vector 0x10 */

extern const char ap_tramp_start[], ap_tramp_end[];

static void (*volatile ap_fn)(unsigned int apic_id);
static bool trampoline_ready;

uint32_t lapic_read(unsigned int reg)
{
	return mmio_read32(LAPIC_BASE + reg);
}

void lapic_write(unsigned int reg, uint32_t v)
{
	mmio_write32(LAPIC_BASE + reg, v);
}

void lapic_enable(void)
{
	uint32_t svr = lapic_read(LAPIC_SVR);

	/* software enable; spurious interrupts land on a counting vector inside the IDT */
	if (!(svr & 0x100))
		lapic_write(LAPIC_SVR, (svr & ~0xffu) | 0x100 | KIT_SPURIOUS_VECTOR);
}

unsigned int lapic_id(void)
{
	/*
	 * The LAPIC's own ID register, not CPUID.1:EBX[31:24]: on this machine's nested KVM a
	 * CPUID at CPL3 returns the host CPU's values (APIC ID 1 seen on vCPU 0), and an MSI
	 * must name the real APIC ID from either ring.
	 */
	return lapic_read(LAPIC_ID) >> 24;
}

void delay_us(uint64_t us)
{
	/* 3 cycles per ns covers any TSC up to 3 GHz: waits at least @us */
	uint64_t t0 = rdtsc();

	while (rdtsc() - t0 < us * 3000)
		cpu_relax();
}

int madt_lapic_ids(unsigned int *ids, int max)
{
	const struct acpi_header *madt = acpi_table_find("APIC", 0);
	const uint8_t *p, *end;
	int n = 0;

	if (!madt)
		return -1;
	p = (const uint8_t *)madt + 44; /* header, local APIC address, flags */
	end = (const uint8_t *)madt + madt->length;
	while (p + 2 <= end && p[1] >= 2 && p + p[1] <= end) {
		if (p[0] == 0 && p[1] >= 8) { /* processor local APIC */
			uint32_t flags = *(const uint32_t *)(p + 4);

			if ((flags & 1) && n < max)
				ids[n++] = p[3];
		} else if (p[0] == 9 && p[1] >= 16) { /* processor local x2APIC */
			uint32_t flags = *(const uint32_t *)(p + 8);

			if ((flags & 1) && n < max)
				ids[n++] = *(const uint32_t *)(p + 4);
		}
		p += p[1];
	}
	return n;
}

static bool trampoline_page_is_ram(void)
{
	for (unsigned int i = 0; i < bootinfo.nr_memmap; i++) {
		const struct hvm_memmap_entry *m = &bootinfo.memmap[i];

		if (m->type == E820_RAM && m->addr <= TRAMPOLINE_PA &&
		    m->addr + m->size >= TRAMPOLINE_PA + PAGE_SIZE)
			return true;
	}
	return false;
}

static void icr_send(unsigned int apic_id, uint32_t lo)
{
	lapic_write(LAPIC_ICR_HI, apic_id << 24);
	lapic_write(LAPIC_ICR_LO, lo);
	for (int i = 0; i < 1000 && (lapic_read(LAPIC_ICR_LO) & ICR_BUSY); i++)
		cpu_relax();
}

int smp_start_ap(unsigned int apic_id, void (*fn)(unsigned int apic_id))
{
	if (!trampoline_ready) {
		if (!trampoline_page_is_ram()) {
			printf("smp: trampoline page 0x%lx is not RAM in the memmap\n",
			       TRAMPOLINE_PA);
			return -1;
		}
		memcpy((void *)TRAMPOLINE_PA, ap_tramp_start,
		       (size_t)(ap_tramp_end - ap_tramp_start));
		lapic_enable();
		trampoline_ready = true;
	}
	ap_fn = fn;
	__asm__ volatile("mfence" ::: "memory");
	icr_send(apic_id, ICR_INIT);
	delay_us(10000);
	icr_send(apic_id, ICR_STARTUP | (TRAMPOLINE_PA >> 12));
	delay_us(200);
	icr_send(apic_id, ICR_STARTUP | (TRAMPOLINE_PA >> 12));
	return 0;
}

void kit_ap_main(void)
{
	cpu_tables_load_ap();
	if (ap_fn)
		ap_fn(lapic_id());
	cpu_stop();
}
