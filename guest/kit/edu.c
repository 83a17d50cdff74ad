/* SPDX-License-Identifier: MIT */
/* QEMU's edu device through passthrough: discovery, DMA, MSI, INTx via the IOAPIC. */
#include "edu.h"

#define CFG_COMMAND 0x04
#define CFG_COMMAND_MEMORY 0x2
#define CFG_COMMAND_MASTER 0x4
#define CFG_COMMAND_INTX_DISABLE 0x400
#define CFG_STATUS 0x06
#define CFG_STATUS_CAP_LIST 0x10
#define CFG_BAR0 0x10
#define CFG_CAP_PTR 0x34
#define CFG_INTERRUPT_LINE 0x3c
#define CFG_INTERRUPT_PIN 0x3d
#define CAP_ID_MSI 0x05
#define MSI_FLAGS 2
#define MSI_FLAGS_ENABLE 0x1
#define MSI_FLAGS_QSIZE 0x70
#define MSI_FLAGS_64BIT 0x80
#define MSI_ADDR_LO 4
#define MSI_ADDR_HI 8
#define MSI_DATA_32 8
#define MSI_DATA_64 12

#define IOAPIC_BASE 0xfec00000ul
#define IOAPIC_REGSEL 0x00
#define IOAPIC_WIN 0x10
#define IOAPIC_REDTBL 0x10
#define IOAPIC_LEVEL (1u << 15)
#define IOAPIC_MASKED (1u << 16)

static unsigned int edu_find_cap(const struct edu *e, uint8_t id)
{
	unsigned int pos, guard = 0;

	if (!(pci_cfg_read16(e->bus, e->dev, e->fn, CFG_STATUS) & CFG_STATUS_CAP_LIST))
		return 0;
	for (pos = pci_cfg_read8(e->bus, e->dev, e->fn, CFG_CAP_PTR) & ~3u; pos && guard < 48;
	     pos = pci_cfg_read8(e->bus, e->dev, e->fn, pos + 1) & ~3u, guard++)
		if (pci_cfg_read8(e->bus, e->dev, e->fn, pos) == id)
			return pos;
	return 0;
}

int edu_find(unsigned int nth, struct edu *e)
{
	unsigned int seen = 0;

	for (unsigned int d = 0; d < 32; d++) {
		uint32_t id = pci_cfg_read32(0, d, 0, 0);
		uint32_t bar;
		uint16_t cmd;

		if (id != ((uint32_t)EDU_DEVICE << 16 | EDU_VENDOR) || seen++ != nth)
			continue;
		memset(e, 0, sizeof(*e));
		e->dev = d;
		bar = pci_cfg_read32(0, d, 0, CFG_BAR0);
		if (bar & 1) {
			printf("edu 00:%02x.0: BAR0 0x%08x is I/O, want memory\n", d, bar);
			return -1;
		}
		e->bar0 = bar & ~0xfull;
		if ((bar & 6) == 4)
			e->bar0 |= (uint64_t)pci_cfg_read32(0, d, 0, CFG_BAR0 + 4) << 32;
		if (!e->bar0 || mmio_map(e->bar0, EDU_BAR0_SIZE)) {
			printf("edu 00:%02x.0: BAR0 at 0x%llx cannot be used\n", d,
			       (unsigned long long)e->bar0);
			return -1;
		}
		cmd = pci_cfg_read16(0, d, 0, CFG_COMMAND);
		pci_cfg_write16(0, d, 0, CFG_COMMAND,
				(uint16_t)(cmd | CFG_COMMAND_MEMORY | CFG_COMMAND_MASTER));
		e->irq_line = pci_cfg_read8(0, d, 0, CFG_INTERRUPT_LINE);
		e->irq_pin = pci_cfg_read8(0, d, 0, CFG_INTERRUPT_PIN);
		e->msi_cap = edu_find_cap(e, CAP_ID_MSI);
		printf("edu %u at 00:%02x.0: BAR0 0x%llx, INTx pin %u line %u, MSI cap 0x%x\n", nth,
		       d, (unsigned long long)e->bar0, e->irq_pin, e->irq_line, e->msi_cap);
		return 0;
	}
	printf("edu %u: not on bus 0 (%u edu device(s) found)\n", nth, seen);
	return -1;
}

int edu_dma(const struct edu *e, uint64_t ram, uint32_t off, uint32_t len, bool to_ram, uint64_t us)
{
	uint64_t t0 = rdtsc();

	edu_write(e, EDU_REG_DMA_SRC, (uint32_t)(to_ram ? EDU_DMA_BUF + off : ram));
	edu_write(e, EDU_REG_DMA_DST, (uint32_t)(to_ram ? ram : EDU_DMA_BUF + off));
	edu_write(e, EDU_REG_DMA_COUNT, len);
	edu_write(e, EDU_REG_DMA_CMD, EDU_DMA_START | (to_ram ? EDU_DMA_TO_RAM : 0));
	while (edu_read(e, EDU_REG_DMA_CMD) & EDU_DMA_START) {
		if (rdtsc() - t0 > us * 3000)
			return -1;
		cpu_relax();
	}
	return 0;
}

void edu_factorial_irq(const struct edu *e, uint32_t n)
{
	edu_write(e, EDU_REG_STATUS, EDU_STATUS_IRQ_FACT);
	edu_write(e, EDU_REG_FACTORIAL, n);
}

bool edu_wait_idle(const struct edu *e, uint64_t us)
{
	uint64_t t0 = rdtsc();

	while (edu_read(e, EDU_REG_STATUS) & EDU_STATUS_COMPUTING) {
		if (rdtsc() - t0 > us * 3000)
			return false;
		cpu_relax();
	}
	return true;
}

void edu_irq_ack(const struct edu *e)
{
	uint32_t st = edu_read(e, EDU_REG_IRQ_STATUS);

	if (st)
		edu_write(e, EDU_REG_IRQ_ACK, st);
}

int edu_msi_enable(const struct edu *e, uint8_t vector)
{
	unsigned int c = e->msi_cap;
	uint16_t flags;

	if (!c) {
		printf("edu: no MSI capability\n");
		return -1;
	}
	flags = pci_cfg_read16(e->bus, e->dev, e->fn, c + MSI_FLAGS);
	pci_cfg_write32(e->bus, e->dev, e->fn, c + MSI_ADDR_LO, 0xfee00000u | lapic_id() << 12);
	if (flags & MSI_FLAGS_64BIT) {
		pci_cfg_write32(e->bus, e->dev, e->fn, c + MSI_ADDR_HI, 0);
		pci_cfg_write16(e->bus, e->dev, e->fn, c + MSI_DATA_64, vector);
	} else {
		pci_cfg_write16(e->bus, e->dev, e->fn, c + MSI_DATA_32, vector);
	}
	pci_cfg_write16(e->bus, e->dev, e->fn, c + MSI_FLAGS,
			(uint16_t)((flags & ~MSI_FLAGS_QSIZE) | MSI_FLAGS_ENABLE));
	if (!(pci_cfg_read16(e->bus, e->dev, e->fn, c + MSI_FLAGS) & MSI_FLAGS_ENABLE)) {
		printf("edu: MSI enable did not stick\n");
		return -1;
	}
	return 0;
}

void edu_msi_disable(const struct edu *e)
{
	uint16_t flags = pci_cfg_read16(e->bus, e->dev, e->fn, e->msi_cap + MSI_FLAGS);

	pci_cfg_write16(e->bus, e->dev, e->fn, e->msi_cap + MSI_FLAGS,
			(uint16_t)(flags & ~MSI_FLAGS_ENABLE));
}

static void ioapic_write(unsigned int reg, uint32_t v)
{
	mmio_write32(IOAPIC_BASE + IOAPIC_REGSEL, reg);
	mmio_write32(IOAPIC_BASE + IOAPIC_WIN, v);
}

void ioapic_route_level(unsigned int gsi, uint8_t vector)
{
	ioapic_write(IOAPIC_REDTBL + 2 * gsi + 1, lapic_id() << 24);
	ioapic_write(IOAPIC_REDTBL + 2 * gsi, vector | IOAPIC_LEVEL);
}

void ioapic_mask(unsigned int gsi)
{
	ioapic_write(IOAPIC_REDTBL + 2 * gsi, IOAPIC_MASKED);
}

/* ---- DMA self-test ---- */

#define GUARD 0xa5
#define TIMEOUT_US 2000000ull

static const struct {
	uint32_t len, dev_off;
} cases[] = { { 1, 0 }, { 64, 0 }, { 1000, 8 }, { 2048, 0 }, { 4000, 64 }, { 4095, 0 } };

void edu_dma_selftest(const struct edu *e, uint8_t seed)
{
	uint8_t *src = page_alloc(), *dst = page_alloc();

	if (!src || !dst)
		test_fail(20, "out of pages");
	if ((uint64_t)dst + PAGE_SIZE > EDU_DMA_LIMIT || (uint64_t)src + PAGE_SIZE > EDU_DMA_LIMIT)
		test_fail(21, "buffers at 0x%llx/0x%llx are above edu's 256 MiB DMA limit",
			  (unsigned long long)(uint64_t)src, (unsigned long long)(uint64_t)dst);
	for (unsigned int c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		uint32_t len = cases[c].len, off = cases[c].dev_off;

		for (uint32_t i = 0; i < PAGE_SIZE; i++)
			src[i] = (uint8_t)(i * 7 + seed + c);
		memset(dst, GUARD, PAGE_SIZE);
		if (edu_dma(e, (uint64_t)src, off, len, false, TIMEOUT_US))
			test_fail(
			    22, "edu at slot %u: DMA of %u bytes RAM 0x%llx -> device never ended",
			    e->dev, len, (unsigned long long)(uint64_t)src);
		if (edu_dma(e, (uint64_t)dst, off, len, true, TIMEOUT_US))
			test_fail(
			    23, "edu at slot %u: DMA of %u bytes device -> RAM 0x%llx never ended",
			    e->dev, len, (unsigned long long)(uint64_t)dst);
		for (uint32_t i = 0; i < len; i++)
			if (dst[i] != src[i])
				test_fail(
				    24, "edu at slot %u, %u bytes: byte %u is 0x%02x, want 0x%02x",
				    e->dev, len, i, dst[i], src[i]);
		for (uint32_t i = len; i < PAGE_SIZE; i++)
			if (dst[i] != GUARD)
				test_fail(25,
					  "edu at slot %u, %u bytes: byte %u past the end changed",
					  e->dev, len, i);
	}
	printf("edu 00:%02x.0: %u DMA round trips RAM -> device -> RAM verified "
	       "(buffers at 0x%llx, 0x%llx)\n",
	       e->dev, (unsigned int)(sizeof(cases) / sizeof(cases[0])),
	       (unsigned long long)(uint64_t)src, (unsigned long long)(uint64_t)dst);
	page_free(src);
	page_free(dst);
}
