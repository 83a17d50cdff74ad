/* SPDX-License-Identifier: MIT */
/*
 * A driver for QEMU's edu PCI device (1234:11e8) as the passthrough programs see it: found on
 * ptvm's bus 0 (a host device handed through with --device vfio=...), BAR0 MMIO registers,
 * DMA between guest RAM (guest-physical = IOVA) and the device's 4 KiB buffer, the
 * factorial-done interrupt through MSI or INTx (an IOAPIC pin), and a small IOAPIC helper.
 * Everything is MMIO, so it works at CPL0 and CPL3; irq_wait() needs CPL0.
 * edu limits: DMA addresses below 256 MiB (28 bits), transfers below 4096 bytes (QEMU 7.2
 * aborts on exactly 4096).
 */
#ifndef GUEST_KIT_EDU_H
#define GUEST_KIT_EDU_H

#include "kit.h"

#define EDU_VENDOR 0x1234
#define EDU_DEVICE 0x11e8
#define EDU_BAR0_SIZE 0x100000ull

#define EDU_REG_ID 0x00
#define EDU_REG_LIVENESS 0x04
#define EDU_REG_FACTORIAL 0x08
#define EDU_REG_STATUS 0x20
#define EDU_REG_IRQ_STATUS 0x24
#define EDU_REG_IRQ_RAISE 0x60
#define EDU_REG_IRQ_ACK 0x64
#define EDU_REG_DMA_SRC 0x80
#define EDU_REG_DMA_DST 0x88
#define EDU_REG_DMA_COUNT 0x90
#define EDU_REG_DMA_CMD 0x98

#define EDU_STATUS_COMPUTING 0x01
#define EDU_STATUS_IRQ_FACT 0x80
#define EDU_IRQ_FACT 0x00000001u
#define EDU_IRQ_DMA 0x00000100u
#define EDU_DMA_START 0x1
#define EDU_DMA_TO_RAM 0x2
#define EDU_DMA_IRQ 0x4
#define EDU_DMA_BUF 0x40000ull /* the device's buffer, in its own address space */
#define EDU_DMA_MAX 4095u
#define EDU_DMA_LIMIT 0x10000000ull /* addresses are clamped to 28 bits */
#define EDU_ID_VALUE 0x010000edu

struct edu {
	unsigned int bus, dev, fn;
	uint64_t bar0;
	unsigned int irq_line; /* the GSI ptvm wrote into the interrupt line register */
	unsigned int irq_pin;
	unsigned int msi_cap; /* 0 when none */
};

/* The @nth (0-based) edu on bus 0: BAR0 mapped, memory decoding and bus mastering on. 0 or -1
 * with the reason printed. */
int edu_find(unsigned int nth, struct edu *e);
static inline uint32_t edu_read(const struct edu *e, unsigned int reg)
{
	return mmio_read32(e->bar0 + reg);
}
static inline void edu_write(const struct edu *e, unsigned int reg, uint32_t v)
{
	mmio_write32(e->bar0 + reg, v);
}
/* One DMA of @len bytes: RAM @ram <-> device buffer offset @off; waits at most @us for the
 * start bit to clear. 0, or -1 on a timeout. */
int edu_dma(const struct edu *e, uint64_t ram, uint32_t off, uint32_t len, bool to_ram,
	    uint64_t us);
/*
 * DMA round trips RAM -> device -> RAM through fresh pages for several sizes (1..4095) and
 * buffer offsets, patterns derived from @seed; fails the test on a timeout, a wrong byte or
 * a byte changed past the length.
 */
void edu_dma_selftest(const struct edu *e, uint8_t seed);
/* Starts a factorial of @n with the completion interrupt enabled. */
void edu_factorial_irq(const struct edu *e, uint32_t n);
/* Waits (polling) until the device is no longer computing; false on a timeout. */
bool edu_wait_idle(const struct edu *e, uint64_t us);
/* Clears every interrupt cause the device reports (which lowers INTx). */
void edu_irq_ack(const struct edu *e);
/* MSI: address = this CPU's LAPIC, data = @vector (fixed, edge), one vector, enabled. 0/-1. */
int edu_msi_enable(const struct edu *e, uint8_t vector);
void edu_msi_disable(const struct edu *e);

/* IOAPIC pin @gsi -> @vector on this CPU, level-triggered, active high, unmasked. */
void ioapic_route_level(unsigned int gsi, uint8_t vector);
void ioapic_mask(unsigned int gsi);

#endif
