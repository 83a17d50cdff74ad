// SPDX-License-Identifier: MIT
/*
 * devices/pci.c: the host bridge through both config mechanisms, write masks (BAR sizing,
 * read-only fields, write-1-to-clear status), BAR placement in the windows, BAR decoding that
 * follows the command register and BAR moves, capability chaining, malformed accesses.
 *
 * The bus is created against a fake `struct vm` (fake_vm.h) whose vm_register_pio/mmio put
 * windows on two real vmm/bus.c buses: the guest's view — 0xcf8/0xcfc, ECAM and trapped
 * BARs — is then driven with bus_access() exactly as the vCPU exit handlers drive it.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "devices/pci.h"
#include "vmm/x86/layout.h"
#include "vmm/log.h"

#include "fake_vm.h"
#include "test_helpers.h"
#include "vmm/machine.h"
#include "vmm/util.h"

/* ---- the fake machine: fake_vm.h ---- */

#define MMIO64_START 0x400000000ULL

static const struct pci_bus_windows windows = PCI_BUS_WINDOWS(MMIO64_START);

static struct vm vm;
static struct pci_bus *pbus;

/* ---- a fake device ---- */

struct map_call {
	unsigned bar;
	uint64_t addr;
	bool map;
};

struct fake_pci {
	struct pci_device pci;
	struct map_call maps[64];
	unsigned nr_maps;
	int map_ret;
	unsigned bar_reads, bar_writes, last_bar, last_len;
	uint64_t last_offset;
	uint32_t last_value;
};

static struct fake_pci *to_fake(struct pci_device *dev)
{
	return container_of(dev, struct fake_pci, pci);
}

static int fake_bar_map(struct pci_device *dev, unsigned bar, uint64_t addr, bool map)
{
	struct fake_pci *f = to_fake(dev);

	assert_true(f->nr_maps < ARRAY_SIZE(f->maps));
	f->maps[f->nr_maps++] = (struct map_call){ bar, addr, map };
	return map ? f->map_ret : 0;
}

static void fake_bar_read(struct pci_device *dev, unsigned bar, uint64_t offset, void *data,
			  unsigned len)
{
	struct fake_pci *f = to_fake(dev);

	f->bar_reads++;
	f->last_bar = bar;
	f->last_offset = offset;
	f->last_len = len;
	memset(data, 0x40 + (int)bar, len);
}

static void fake_bar_write(struct pci_device *dev, unsigned bar, uint64_t offset, const void *data,
			   unsigned len)
{
	struct fake_pci *f = to_fake(dev);

	f->bar_writes++;
	f->last_bar = bar;
	f->last_offset = offset;
	f->last_len = len;
	f->last_value = 0;
	memcpy(&f->last_value, data, MIN(len, 4U));
}

static const struct pci_device_ops mapped_ops = { .bar_map = fake_bar_map };
static const struct pci_device_ops trapped_ops = { .bar_read = fake_bar_read,
						   .bar_write = fake_bar_write };

/* BAR0 IO 32 B, BAR1 MEM32 4 KiB, BAR2/3 MEM64 1 MiB, BAR4/5 MEM64 prefetchable 16 MiB */
static void fake_init(struct fake_pci *f, const struct pci_device_ops *ops)
{
	memset(f, 0, sizeof(*f));
	pci_device_init(&f->pci, "fake", 0x1af4, 0x10f0, 0x020000, ops);
	assert_int_equal(pci_device_set_bar(&f->pci, 0, PCI_BAR_IO, 0x20, false), 0);
	assert_int_equal(pci_device_set_bar(&f->pci, 1, PCI_BAR_MEM32, 0x1000, false), 0);
	assert_int_equal(pci_device_set_bar(&f->pci, 2, PCI_BAR_MEM64, SZ_1M, false), 0);
	assert_int_equal(pci_device_set_bar(&f->pci, 4, PCI_BAR_MEM64, 16 * SZ_1M, true), 0);
}

/* ---- access helpers: the guest's view ---- */

static uint32_t cfg_direct_read(uint8_t devfn, unsigned off, unsigned len)
{
	uint32_t v = 0;

	pci_bus_config_read(pbus, 0, devfn, off, &v, len);
	return v;
}

static void outl(uint16_t port, uint32_t v)
{
	bus_access(&vm.pio, port, &v, 4, true);
}

static uint32_t in(uint16_t port, unsigned len)
{
	uint32_t v = 0;

	bus_access(&vm.pio, port, &v, len, false);
	return v;
}

static void out(uint16_t port, uint32_t v, unsigned len)
{
	bus_access(&vm.pio, port, &v, len, true);
}

static uint32_t cf8_addr(unsigned busnr, unsigned slot, unsigned func, unsigned reg)
{
	return 0x80000000U | busnr << 16 | slot << 11 | func << 8 | (reg & 0xfc) |
	       (reg & 0xf00) << 16;
}

/* type 1: select the dword, then access 0xcfc + (reg & 3) */
static uint32_t cf8_read(unsigned busnr, unsigned slot, unsigned reg, unsigned len)
{
	outl(PCI_CONFIG_ADDR_PORT, cf8_addr(busnr, slot, 0, reg));
	return in(PCI_CONFIG_DATA_PORT + (reg & 3), len);
}

static void cf8_write(unsigned busnr, unsigned slot, unsigned reg, uint32_t v, unsigned len)
{
	outl(PCI_CONFIG_ADDR_PORT, cf8_addr(busnr, slot, 0, reg));
	out(PCI_CONFIG_DATA_PORT + (reg & 3), v, len);
}

static uint64_t ecam_addr(unsigned busnr, unsigned slot, unsigned func, unsigned reg)
{
	return PCI_ECAM_BASE + ((uint64_t)busnr << 20) + (slot << 15) + (func << 12) + reg;
}

static uint32_t ecam_read(unsigned busnr, unsigned slot, unsigned func, unsigned reg, unsigned len)
{
	uint32_t v = 0;

	bus_access(&vm.mmio, ecam_addr(busnr, slot, func, reg), &v, len, false);
	return v;
}

static void ecam_write(unsigned busnr, unsigned slot, unsigned reg, uint32_t v, unsigned len)
{
	bus_access(&vm.mmio, ecam_addr(busnr, slot, 0, reg), &v, len, true);
}

static uint32_t mmio_read32(uint64_t addr, bool *hit)
{
	uint32_t v = 0;

	*hit = bus_access(&vm.mmio, addr, &v, 4, false);
	return v;
}

static uint64_t bar_addr(struct fake_pci *f, unsigned bar)
{
	uint64_t lo = pci_config_get(&f->pci, PCI_BASE_ADDRESS_0 + 4 * bar, 4);

	if (f->pci.bars[bar].type == PCI_BAR_IO)
		return lo & ~3ULL;
	lo &= ~15ULL;
	if (f->pci.bars[bar].type == PCI_BAR_MEM64)
		lo |= (uint64_t)pci_config_get(&f->pci, PCI_BASE_ADDRESS_0 + 4 * bar + 4, 4) << 32;
	return lo;
}

static int setup(void **state)
{
	assert_int_equal(test_log_capture_start(), 0);
	bus_init(&vm.pio, "pio");
	bus_init(&vm.mmio, "mmio");
	assert_int_equal(pci_bus_create(&vm, &windows, &pbus), 0);
	return 0;
}

static int teardown(void **state)
{
	pci_bus_destroy(pbus);
	pbus = NULL;
	/* the bus took its ports and ECAM window back */
	assert_int_equal(vm.pio.nr_devs, 0);
	assert_int_equal(vm.mmio.nr_devs, 0);
	bus_exit(&vm.pio);
	bus_exit(&vm.mmio);
	test_log_capture_stop();
	return 0;
}

/* ---- tests ---- */

static void test_host_bridge_ids_type1(void **state)
{
	/* IDs and class by dword */
	assert_int_equal(cf8_read(0, 0, PCI_VENDOR_ID, 4), 0x00081b36);
	assert_int_equal(cf8_read(0, 0, PCI_CLASS_REVISION, 4) >> 8, 0x060000);
	assert_int_equal(cf8_read(0, 0, PCI_HEADER_TYPE, 1), PCI_HEADER_TYPE_NORMAL);
	/* 0xcf8 reads back what was written */
	outl(PCI_CONFIG_ADDR_PORT, 0x80000008);
	assert_int_equal(in(PCI_CONFIG_ADDR_PORT, 4), 0x80000008);
	/* byte and word accesses at 0xcfc + 1..3 pick the bytes of the selected dword */
	outl(PCI_CONFIG_ADDR_PORT, cf8_addr(0, 0, 0, 0));
	assert_int_equal(in(PCI_CONFIG_DATA_PORT, 1), 0x36);
	assert_int_equal(in(PCI_CONFIG_DATA_PORT + 1, 1), 0x1b);
	assert_int_equal(in(PCI_CONFIG_DATA_PORT + 2, 1), 0x08);
	assert_int_equal(in(PCI_CONFIG_DATA_PORT + 3, 1), 0x00);
	assert_int_equal(in(PCI_CONFIG_DATA_PORT, 2), 0x1b36);
	assert_int_equal(in(PCI_CONFIG_DATA_PORT + 2, 2), 0x0008);
	outl(PCI_CONFIG_ADDR_PORT, cf8_addr(0, 0, 0, PCI_CLASS_REVISION));
	assert_int_equal(in(PCI_CONFIG_DATA_PORT + 3, 1), 0x06);
	assert_int_equal(in(PCI_CONFIG_DATA_PORT + 2, 2), 0x0600);
	assert_int_equal(in(PCI_CONFIG_DATA_PORT + 1, 1), 0x00);
	/* the register field ignores bits 1:0 of 0xcf8 */
	outl(PCI_CONFIG_ADDR_PORT, cf8_addr(0, 0, 0, 0) | 3);
	assert_int_equal(in(PCI_CONFIG_DATA_PORT, 4), 0x00081b36);
}

static void test_type1_enable_bit_off(void **state)
{
	uint16_t cmd;

	/* enable bit off: the data port reads all ones at every width and writes go nowhere */
	outl(PCI_CONFIG_ADDR_PORT, cf8_addr(0, 0, 0, 0) & ~0x80000000U);
	assert_int_equal(in(PCI_CONFIG_DATA_PORT, 4), 0xffffffff);
	assert_int_equal(in(PCI_CONFIG_DATA_PORT + 2, 2), 0xffff);
	assert_int_equal(in(PCI_CONFIG_DATA_PORT + 3, 1), 0xff);
	outl(PCI_CONFIG_ADDR_PORT, cf8_addr(0, 0, 0, PCI_COMMAND) & ~0x80000000U);
	out(PCI_CONFIG_DATA_PORT, PCI_COMMAND_MASTER, 2);
	cmd = (uint16_t)cfg_direct_read(0, PCI_COMMAND, 2);
	assert_int_equal(cmd & PCI_COMMAND_MASTER, 0);
	/* the same write with the enable bit goes through */
	cf8_write(0, 0, PCI_COMMAND, PCI_COMMAND_MASTER, 2);
	assert_int_equal(cfg_direct_read(0, PCI_COMMAND, 2), PCI_COMMAND_MASTER);
	/* only a dword write sets the address: a byte write to 0xcf8 leaves it */
	outl(PCI_CONFIG_ADDR_PORT, cf8_addr(0, 0, 0, 0));
	out(PCI_CONFIG_ADDR_PORT, 0x00, 1);
	out(PCI_CONFIG_ADDR_PORT + 3, 0x00, 1);
	assert_int_equal(in(PCI_CONFIG_ADDR_PORT, 4), 0x80000000);
	assert_int_equal(in(PCI_CONFIG_DATA_PORT, 4), 0x00081b36);
}

static void test_host_bridge_ids_ecam(void **state)
{
	assert_int_equal(ecam_read(0, 0, 0, PCI_VENDOR_ID, 4), 0x00081b36);
	assert_int_equal(ecam_read(0, 0, 0, PCI_VENDOR_ID, 2), 0x1b36);
	assert_int_equal(ecam_read(0, 0, 0, PCI_DEVICE_ID, 2), 0x0008);
	assert_int_equal(ecam_read(0, 0, 0, PCI_CLASS_DEVICE, 2), 0x0600);
	assert_int_equal(ecam_read(0, 0, 0, PCI_CLASS_REVISION, 4), 0x06000000);
	assert_int_equal(ecam_read(0, 0, 0, PCI_HEADER_TYPE, 1), 0);
	/* extended config space of the bridge: present, empty */
	assert_int_equal(ecam_read(0, 0, 0, 0x100, 4), 0);
	assert_int_equal(ecam_read(0, 0, 0, 0xffc, 4), 0);
	/* a write through ECAM is seen through 0xcfc */
	ecam_write(0, 0, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	assert_int_equal(cf8_read(0, 0, PCI_COMMAND, 2), PCI_COMMAND_MEMORY);
	/* the whole 256-bus window decodes; nothing is behind other buses */
	assert_int_equal(ecam_read(1, 0, 0, 0, 4), 0xffffffff);
	assert_int_equal(ecam_read(255, 31, 7, 0xffc, 4), 0xffffffff);
}

static void test_absent_functions_read_all_ones(void **state)
{
	for (unsigned slot = 1; slot < PCI_MAX_SLOTS; slot++) {
		assert_int_equal(cf8_read(0, slot, 0, 4), 0xffffffff);
		assert_int_equal(cf8_read(0, slot, 2, 2), 0xffff);
		assert_int_equal(ecam_read(0, slot, 0, 0, 4), 0xffffffff);
		assert_int_equal(ecam_read(0, slot, 0, 0xe, 1), 0xff);
		/* writes to nothing are dropped */
		cf8_write(0, slot, PCI_COMMAND, 0xffff, 2);
		ecam_write(0, slot, PCI_COMMAND, 0xffff, 2);
	}
	/* functions 1-7 of the bridge, other buses */
	for (unsigned func = 1; func < 8; func++)
		assert_int_equal(ecam_read(0, 0, func, 0, 4), 0xffffffff);
	assert_int_equal(cf8_read(1, 0, 0, 4), 0xffffffff);
	assert_int_equal(cf8_read(255, 0, 0, 4), 0xffffffff);
	{
		uint32_t v = 0;

		pci_bus_config_read(pbus, 0, PCI_DEVFN(0, 1), 0, &v, 4);
		assert_int_equal(v, 0xffffffff);
		pci_bus_config_read(pbus, 3, 0, 0, &v, 4);
		assert_int_equal(v, 0xffffffff);
	}
}

static void test_read_only_fields(void **state)
{
	static struct fake_pci f;

	fake_init(&f, &mapped_ops);
	pci_device_set_intx_pin(&f.pci, 1);
	assert_int_equal(pci_bus_add_device(pbus, &f.pci, 3), 0);

	for (unsigned slot = 0; slot <= 3; slot += 3) {
		uint32_t id = cf8_read(0, slot, 0, 4), class = cf8_read(0, slot, 8, 4);
		uint8_t pin = (uint8_t)cf8_read(0, slot, PCI_INTERRUPT_PIN, 1);

		cf8_write(0, slot, PCI_VENDOR_ID, 0xffffffff, 4);
		ecam_write(0, slot, PCI_VENDOR_ID, 0x12345678, 4);
		cf8_write(0, slot, PCI_DEVICE_ID, 0, 2);
		cf8_write(0, slot, PCI_CLASS_REVISION, 0, 4);
		ecam_write(0, slot, PCI_CLASS_DEVICE, 0xffff, 2);
		cf8_write(0, slot, PCI_HEADER_TYPE, 0xff, 1);
		cf8_write(0, slot, PCI_CAPABILITY_LIST, 0x80, 1);
		cf8_write(0, slot, PCI_INTERRUPT_PIN, 0x4, 1);
		cf8_write(0, slot, PCI_ROM_ADDRESS, 0xffffffff, 4);
		assert_int_equal(cf8_read(0, slot, 0, 4), id);
		assert_int_equal(ecam_read(0, slot, 0, 8, 4), class);
		assert_int_equal(cf8_read(0, slot, PCI_HEADER_TYPE, 1), 0);
		assert_int_equal(cf8_read(0, slot, PCI_CAPABILITY_LIST, 1), 0);
		assert_int_equal(cf8_read(0, slot, PCI_INTERRUPT_PIN, 1), pin);
		/* no expansion ROM: sizing it reads 0 */
		assert_int_equal(cf8_read(0, slot, PCI_ROM_ADDRESS, 4), 0);
		/* the writable ones are */
		cf8_write(0, slot, PCI_INTERRUPT_LINE, 0x0b, 1);
		assert_int_equal(cf8_read(0, slot, PCI_INTERRUPT_LINE, 1), 0x0b);
		cf8_write(0, slot, PCI_CACHE_LINE_SIZE, 0x10, 1);
		assert_int_equal(cf8_read(0, slot, PCI_CACHE_LINE_SIZE, 1), 0x10);
	}
	assert_int_equal(cf8_read(0, 3, 0, 4), 0x10f01af4);
	assert_int_equal(cf8_read(0, 3, 8, 4), 0x02000000);
	assert_int_equal(cf8_read(0, 3, PCI_INTERRUPT_PIN, 1), 1);

	/* command: only the implemented bits stick */
	cf8_write(0, 3, PCI_COMMAND, 0xffff, 2);
	assert_int_equal(cf8_read(0, 3, PCI_COMMAND, 2),
			 PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER |
			     PCI_COMMAND_PARITY | PCI_COMMAND_SERR | PCI_COMMAND_INTX_DISABLE);
	cf8_write(0, 3, PCI_COMMAND, 0, 2);
	assert_int_equal(cf8_read(0, 3, PCI_COMMAND, 2), 0);
	pci_bus_remove_device(pbus, &f.pci);
}

static void test_intx_line_follows_prt(void **state)
{
	static struct fake_pci f;

	fake_init(&f, &mapped_ops);
	pci_device_set_intx_pin(&f.pci, 1);
	assert_int_equal(pci_bus_add_device(pbus, &f.pci, 5), 0);
	/* the _PRT: slot s, pin p (0-based) -> GSI 16 + ((s + p) & 7) */
	assert_int_equal(cf8_read(0, 5, PCI_INTERRUPT_LINE, 1), 16 + 5);
	assert_int_equal(pci_device_intx_gsi(&f.pci), 16 + 5);
	pci_device_set_intx_pin(&f.pci, 4);
	assert_int_equal(pci_device_intx_gsi(&f.pci), 16 + ((5 + 3) & 7));
	pci_bus_remove_device(pbus, &f.pci);
}

static void test_w1c_status(void **state)
{
	static struct fake_pci f;
	const uint16_t errs =
	    PCI_STATUS_SIG_TARGET_ABORT | PCI_STATUS_REC_MASTER_ABORT | PCI_STATUS_DETECTED_PARITY;
	uint16_t st;

	fake_init(&f, &mapped_ops);
	assert_int_equal(pci_device_add_capability(&f.pci, 0x09, 8), 0x40);
	assert_int_equal(pci_bus_add_device(pbus, &f.pci, 2), 0);
	/* the device model raises error bits */
	pci_config_set(&f.pci, PCI_STATUS, pci_config_get(&f.pci, PCI_STATUS, 2) | errs, 2);
	st = (uint16_t)cf8_read(0, 2, PCI_STATUS, 2);
	assert_int_equal(st, errs | PCI_STATUS_CAP_LIST);
	/* writing 0 changes nothing; writing 1 clears exactly that bit */
	cf8_write(0, 2, PCI_STATUS, 0, 2);
	assert_int_equal(cf8_read(0, 2, PCI_STATUS, 2), st);
	cf8_write(0, 2, PCI_STATUS, PCI_STATUS_SIG_TARGET_ABORT, 2);
	assert_int_equal(cf8_read(0, 2, PCI_STATUS, 2), st & ~PCI_STATUS_SIG_TARGET_ABORT);
	/* read-only status bits do not clear: capability list stays */
	cf8_write(0, 2, PCI_STATUS, PCI_STATUS_CAP_LIST, 2);
	assert_int_equal(cf8_read(0, 2, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST, PCI_STATUS_CAP_LIST);
	/* a dword write to the command register with status zero keeps status ... */
	ecam_write(0, 2, PCI_COMMAND, PCI_COMMAND_MASTER, 4);
	assert_int_equal(ecam_read(0, 2, 0, PCI_STATUS, 2), PCI_STATUS_CAP_LIST |
								PCI_STATUS_REC_MASTER_ABORT |
								PCI_STATUS_DETECTED_PARITY);
	/* ... and with the bits set clears them while writing the command */
	ecam_write(0, 2, PCI_COMMAND, 0xffff0000U | PCI_COMMAND_MASTER, 4);
	assert_int_equal(ecam_read(0, 2, 0, PCI_COMMAND, 4),
			 (uint32_t)PCI_STATUS_CAP_LIST << 16 | PCI_COMMAND_MASTER);
	/* a byte write to the upper status byte clears just those */
	pci_config_set(&f.pci, PCI_STATUS, PCI_STATUS_CAP_LIST | errs, 2);
	cf8_write(0, 2, PCI_STATUS + 1, PCI_STATUS_DETECTED_PARITY >> 8, 1);
	assert_int_equal(cf8_read(0, 2, PCI_STATUS, 2), PCI_STATUS_CAP_LIST |
							    PCI_STATUS_SIG_TARGET_ABORT |
							    PCI_STATUS_REC_MASTER_ABORT);
	pci_bus_remove_device(pbus, &f.pci);
}

static void test_bar_sizing(void **state)
{
	static struct fake_pci f, big;
	uint32_t orig[6];

	fake_init(&f, &mapped_ops);
	assert_int_equal(pci_bus_add_device(pbus, &f.pci, 1), 0);
	for (unsigned i = 0; i < 6; i++)
		orig[i] = cf8_read(0, 1, PCI_BASE_ADDRESS_0 + 4 * i, 4);
	/* the type bits before sizing */
	assert_int_equal(orig[0] & 3, PCI_BASE_ADDRESS_SPACE_IO);
	assert_int_equal(orig[1] & 0xf, PCI_BASE_ADDRESS_MEM_TYPE_32);
	assert_int_equal(orig[2] & 0xf, PCI_BASE_ADDRESS_MEM_TYPE_64);
	assert_int_equal(orig[4] & 0xf,
			 PCI_BASE_ADDRESS_MEM_TYPE_64 | PCI_BASE_ADDRESS_MEM_PREFETCH);

	/* Linux's sizing: decoding off, write all ones, read the mask, restore */
	for (unsigned i = 0; i < 6; i++)
		cf8_write(0, 1, PCI_BASE_ADDRESS_0 + 4 * i, 0xffffffff, 4);
	assert_int_equal(cf8_read(0, 1, PCI_BASE_ADDRESS_0, 4), 0xffffffe1);
	assert_int_equal(cf8_read(0, 1, PCI_BASE_ADDRESS_1, 4), 0xfffff000);
	assert_int_equal(cf8_read(0, 1, PCI_BASE_ADDRESS_2, 4), 0xfff00004);
	assert_int_equal(cf8_read(0, 1, PCI_BASE_ADDRESS_3, 4), 0xffffffff);
	assert_int_equal(cf8_read(0, 1, PCI_BASE_ADDRESS_4, 4), 0xff00000c);
	assert_int_equal(cf8_read(0, 1, PCI_BASE_ADDRESS_5, 4), 0xffffffff);
	/* the same through ECAM */
	assert_int_equal(ecam_read(0, 1, 0, PCI_BASE_ADDRESS_1, 4), 0xfffff000);
	for (unsigned i = 0; i < 6; i++)
		cf8_write(0, 1, PCI_BASE_ADDRESS_0 + 4 * i, orig[i], 4);
	for (unsigned i = 0; i < 6; i++)
		assert_int_equal(cf8_read(0, 1, PCI_BASE_ADDRESS_0 + 4 * i, 4), orig[i]);
	/* no decoding was on: nothing was mapped */
	assert_int_equal(f.nr_maps, 0);

	/* a BAR of 8 GiB: the size shows in the upper dword */
	memset(&big, 0, sizeof(big));
	pci_device_init(&big.pci, "big", 0x1234, 0x5678, 0x030000, &mapped_ops);
	assert_int_equal(pci_device_set_bar(&big.pci, 0, PCI_BAR_MEM64, 8 * SZ_1G, true), 0);
	assert_int_equal(pci_bus_add_device(pbus, &big.pci, 2), 0);
	ecam_write(0, 2, PCI_BASE_ADDRESS_0, 0xffffffff, 4);
	ecam_write(0, 2, PCI_BASE_ADDRESS_1, 0xffffffff, 4);
	assert_int_equal(ecam_read(0, 2, 0, PCI_BASE_ADDRESS_0, 4), 0x0000000c);
	assert_int_equal(ecam_read(0, 2, 0, PCI_BASE_ADDRESS_1, 4), 0xfffffffe);
	/* unused BARs read 0 and stay 0 */
	ecam_write(0, 2, PCI_BASE_ADDRESS_2, 0xffffffff, 4);
	assert_int_equal(ecam_read(0, 2, 0, PCI_BASE_ADDRESS_2, 4), 0);
	pci_bus_remove_device(pbus, &big.pci);
	pci_bus_remove_device(pbus, &f.pci);
}

static void test_bad_bar_declarations(void **state)
{
	static struct fake_pci f;

	memset(&f, 0, sizeof(f));
	pci_device_init(&f.pci, "bad", 1, 2, 0, NULL);
	assert_int_equal(pci_device_set_bar(&f.pci, 6, PCI_BAR_MEM32, 0x1000, false), -EINVAL);
	assert_int_equal(pci_device_set_bar(&f.pci, 5, PCI_BAR_MEM64, 0x1000, false), -EINVAL);
	assert_int_equal(pci_device_set_bar(&f.pci, 0, PCI_BAR_MEM32, 0x1800, false), -EINVAL);
	assert_int_equal(pci_device_set_bar(&f.pci, 0, PCI_BAR_MEM32, 8, false), -EINVAL);
	assert_int_equal(pci_device_set_bar(&f.pci, 0, PCI_BAR_MEM32, 0, false), -EINVAL);
	assert_int_equal(pci_device_set_bar(&f.pci, 0, PCI_BAR_IO, 2, false), -EINVAL);
	assert_int_equal(pci_device_set_bar(&f.pci, 0, PCI_BAR_IO, 0x20000, false), -EINVAL);
	assert_int_equal(pci_device_set_bar(&f.pci, 0, PCI_BAR_MEM32, 2 * SZ_1G, false), -EINVAL);
	for (unsigned i = 0; i < PCI_NUM_BARS; i++)
		assert_int_equal(f.pci.bars[i].type, PCI_BAR_NONE);
}

static void test_bar_placement(void **state)
{
	static struct fake_pci a, b;
	const uint64_t mmio32_end = PCI_MMIO32_START + PCI_MMIO32_SIZE;

	fake_init(&a, &mapped_ops);
	fake_init(&b, &mapped_ops);
	assert_int_equal(pci_bus_add_device(pbus, &a.pci, -1), 0);
	assert_int_equal(pci_bus_add_device(pbus, &b.pci, -1), 0);
	/* first free slots after the bridge */
	assert_int_equal(a.pci.devfn, PCI_DEVFN(1, 0));
	assert_int_equal(b.pci.devfn, PCI_DEVFN(2, 0));

	for (unsigned d = 0; d < 2; d++) {
		struct fake_pci *f = d ? &b : &a;
		uint64_t io = bar_addr(f, 0), m32 = bar_addr(f, 1), m64 = bar_addr(f, 2),
			 pf = bar_addr(f, 4);

		assert_true(io >= PCI_IO_START && io + 0x20 <= PCI_IO_START + PCI_IO_SIZE);
		assert_true(IS_ALIGNED(io, 0x20));
		assert_true(m32 >= PCI_MMIO32_START && m32 + 0x1000 <= mmio32_end);
		assert_true(IS_ALIGNED(m32, 0x1000));
		/* a small non-prefetchable 64-bit BAR fits below 4 GiB */
		assert_true(m64 >= PCI_MMIO32_START && m64 + SZ_1M <= mmio32_end);
		assert_true(IS_ALIGNED(m64, SZ_1M));
		/* a prefetchable 64-bit BAR goes to the 64-bit window */
		assert_true(pf >= MMIO64_START &&
			    pf + 16 * SZ_1M <= MMIO64_START + PCI_MMIO64_SIZE);
		assert_true(IS_ALIGNED(pf, 16 * SZ_1M));
		/* the guest sees the same through config space, type bits kept */
		assert_int_equal(cf8_read(0, d + 1, PCI_BASE_ADDRESS_4, 4),
				 (uint32_t)pf | PCI_BASE_ADDRESS_MEM_TYPE_64 |
				     PCI_BASE_ADDRESS_MEM_PREFETCH);
		assert_int_equal(cf8_read(0, d + 1, PCI_BASE_ADDRESS_5, 4), (uint32_t)(pf >> 32));
		assert_int_equal(cf8_read(0, d + 1, PCI_BASE_ADDRESS_0, 4),
				 (uint32_t)io | PCI_BASE_ADDRESS_SPACE_IO);
	}
	/* nothing overlaps across the two devices */
	assert_false(ranges_overlap(bar_addr(&a, 0), 0x20, bar_addr(&b, 0), 0x20));
	assert_false(ranges_overlap(bar_addr(&a, 1), 0x1000, bar_addr(&b, 1), 0x1000));
	assert_false(ranges_overlap(bar_addr(&a, 1), 0x1000, bar_addr(&b, 2), SZ_1M));
	assert_false(ranges_overlap(bar_addr(&a, 2), SZ_1M, bar_addr(&b, 1), 0x1000));
	assert_false(ranges_overlap(bar_addr(&a, 2), SZ_1M, bar_addr(&b, 2), SZ_1M));
	assert_false(ranges_overlap(bar_addr(&a, 4), 16 * SZ_1M, bar_addr(&b, 4), 16 * SZ_1M));
	/* a taken slot is refused */
	{
		static struct fake_pci c;

		fake_init(&c, &mapped_ops);
		assert_int_equal(pci_bus_add_device(pbus, &c.pci, 2), -ENOSPC);
		assert_int_equal(pci_bus_add_device(pbus, &c.pci, 0), -ENOSPC);
		assert_int_equal(pci_bus_add_device(pbus, &c.pci, PCI_MAX_SLOTS), -ENOSPC);
	}
	pci_bus_remove_device(pbus, &b.pci);
	pci_bus_remove_device(pbus, &a.pci);
}

static void test_large_bar_goes_high_and_no_64bit_window(void **state)
{
	static struct fake_pci big, pf;
	struct pci_bus *low_only;
	struct pci_bus_windows w = windows;

	/* a non-prefetchable 64-bit BAR of 256 MiB or more also goes high */
	memset(&big, 0, sizeof(big));
	pci_device_init(&big.pci, "big", 1, 2, 0, &mapped_ops);
	assert_int_equal(pci_device_set_bar(&big.pci, 0, PCI_BAR_MEM64, 512 * SZ_1M, false), 0);
	assert_int_equal(pci_bus_add_device(pbus, &big.pci, -1), 0);
	assert_true(bar_addr(&big, 0) >= MMIO64_START);
	assert_true(IS_ALIGNED(bar_addr(&big, 0), 512 * SZ_1M));
	pci_bus_remove_device(pbus, &big.pci);

	/* without a 64-bit window, a prefetchable 64-bit BAR lands below 4 GiB */
	w.mmio64_size = 0;
	w.mmio64_start = 0;
	assert_int_equal(pci_bus_create(NULL, &w, &low_only), 0);
	memset(&pf, 0, sizeof(pf));
	pci_device_init(&pf.pci, "pf", 1, 2, 0, &mapped_ops);
	assert_int_equal(pci_device_set_bar(&pf.pci, 0, PCI_BAR_MEM64, 16 * SZ_1M, true), 0);
	assert_int_equal(pci_bus_add_device(low_only, &pf.pci, -1), 0);
	assert_true(bar_addr(&pf, 0) >= PCI_MMIO32_START &&
		    bar_addr(&pf, 0) + 16 * SZ_1M <= PCI_MMIO32_START + PCI_MMIO32_SIZE);
	pci_bus_remove_device(low_only, &pf.pci);
	pci_bus_destroy(low_only);
}

static void test_window_exhaustion(void **state)
{
	static struct fake_pci a, b;
	struct pci_bus *small;
	struct pci_bus_windows w = windows;
	uint32_t v;

	/* a 1 MiB window */
	w.mmio32_size = SZ_1M;
	assert_int_equal(pci_bus_create(NULL, &w, &small), 0);
	memset(&a, 0, sizeof(a));
	pci_device_init(&a.pci, "a", 1, 2, 0, &mapped_ops);
	assert_int_equal(pci_device_set_bar(&a.pci, 0, PCI_BAR_MEM32, SZ_1M / 2, false), 0);
	assert_int_equal(pci_device_set_bar(&a.pci, 1, PCI_BAR_MEM32, SZ_1M, false), 0);
	/* BAR0 fits, BAR1 does not: refused, not plugged */
	assert_int_equal(pci_bus_add_device(small, &a.pci, -1), -ENOSPC);
	pci_bus_config_read(small, 0, PCI_DEVFN(1, 0), 0, &v, 4);
	assert_int_equal(v, 0xffffffff);
	/* and the refused device took no window space: a 1 MiB BAR still fits */
	memset(&b, 0, sizeof(b));
	pci_device_init(&b.pci, "b", 1, 2, 0, &mapped_ops);
	assert_int_equal(pci_device_set_bar(&b.pci, 0, PCI_BAR_MEM32, SZ_1M, false), 0);
	assert_int_equal(pci_bus_add_device(small, &b.pci, -1), 0);
	assert_int_equal(bar_addr(&b, 0), PCI_MMIO32_START);
	pci_bus_remove_device(small, &b.pci);
	pci_bus_destroy(small);
}

/* A BAR that does not fit the 64-bit window: one line naming the device, the BAR, the window
 * and what to do; nothing placed */
static void test_bar_too_big_for_64bit_window(void **state)
{
	static struct fake_pci huge, a, b;

	memset(&huge, 0, sizeof(huge));
	pci_device_init(&huge.pci, "vfio-0000:00:06.0", 1, 2, 0, &mapped_ops);
	assert_int_equal(pci_device_set_bar(&huge.pci, 2, PCI_BAR_MEM64, 2 * PCI_MMIO64_SIZE, true),
			 0);
	assert_int_equal(pci_bus_add_device(pbus, &huge.pci, -1), -ENOSPC);
	assert_log_contains("pci vfio-0000:00:06.0: BAR2 of 0x2000000000 bytes is larger than the "
			    "whole 64-bit PCI window [0x400000000-0x13ffffffff] (0x1000000000 "
			    "bytes): this device cannot be passed through");

	/* 32 + 16 GiB, each aligned to its size, fill the window up; another BAR no longer fits */
	memset(&a, 0, sizeof(a));
	pci_device_init(&a.pci, "a", 1, 2, 0, &mapped_ops);
	assert_int_equal(pci_device_set_bar(&a.pci, 0, PCI_BAR_MEM64, 32 * SZ_1G, true), 0);
	assert_int_equal(pci_device_set_bar(&a.pci, 2, PCI_BAR_MEM64, 16 * SZ_1G, true), 0);
	assert_int_equal(pci_bus_add_device(pbus, &a.pci, -1), 0);
	memset(&b, 0, sizeof(b));
	pci_device_init(&b.pci, "b", 1, 2, 0, &mapped_ops);
	assert_int_equal(pci_device_set_bar(&b.pci, 0, PCI_BAR_MEM64, SZ_1G, true), 0);
	assert_int_equal(pci_bus_add_device(pbus, &b.pci, -1), -ENOSPC);
	assert_log_contains("pci b: BAR0 of 0x40000000 bytes does not fit the 64-bit PCI window "
			    "[0x400000000-0x13ffffffff]: the devices before it take 0x1000000000 "
			    "bytes of it; give this device first (--device order) or pass fewer "
			    "devices");
	pci_bus_remove_device(pbus, &a.pci);
}

static void test_capability_chain(void **state)
{
	static struct fake_pci f;
	unsigned off, prev_end = 0x40, n = 0;
	const uint8_t ids[] = { 0x05, 0x11, 0x09 };
	int o1, o2, o3;

	memset(&f, 0, sizeof(f));
	pci_device_init(&f.pci, "caps", 1, 2, 0, NULL);
	/* no capabilities: status bit clear, pointer 0 */
	assert_int_equal(pci_config_get(&f.pci, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST, 0);
	o1 = pci_device_add_capability(&f.pci, 0x05, 0x0e);
	o2 = pci_device_add_capability(&f.pci, 0x11, 12);
	o3 = pci_device_add_capability(&f.pci, 0x09, 3);
	assert_int_equal(o1, 0x40);
	assert_true(o2 >= o1 + 0x0e && o2 % 4 == 0);
	assert_true(o3 >= o2 + 12 && o3 % 4 == 0);
	assert_int_equal(pci_bus_add_device(pbus, &f.pci, 4), 0);

	/* walk it as a guest does */
	assert_true(cf8_read(0, 4, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
	off = cf8_read(0, 4, PCI_CAPABILITY_LIST, 1);
	while (off) {
		assert_true(n < ARRAY_SIZE(ids));
		assert_true(off >= prev_end && off % 4 == 0 && off < PCI_CFG_SPACE_SIZE);
		assert_int_equal(ecam_read(0, 4, 0, off + PCI_CAP_LIST_ID, 1), ids[n]);
		prev_end = off + 2;
		off = ecam_read(0, 4, 0, off + PCI_CAP_LIST_NEXT, 1);
		n++;
	}
	assert_int_equal(n, 3);
	/* the list is read-only to the guest */
	cf8_write(0, 4, o1 + PCI_CAP_LIST_NEXT, 0, 1);
	assert_int_equal(cf8_read(0, 4, o1 + PCI_CAP_LIST_NEXT, 1), o2);
	pci_bus_remove_device(pbus, &f.pci);

	/* full: refused with the chain intact */
	memset(&f, 0, sizeof(f));
	pci_device_init(&f.pci, "caps", 1, 2, 0, NULL);
	assert_int_equal(pci_device_add_capability(&f.pci, 0x10, 0xb0), 0x40);
	assert_int_equal(pci_device_add_capability(&f.pci, 0x11, 0x20), -ENOSPC);
	assert_int_equal(pci_device_add_capability(&f.pci, 0x11, 1), -ENOSPC);
	assert_int_equal(f.pci.cfg[0x40 + PCI_CAP_LIST_NEXT], 0);
	o2 = pci_device_add_capability(&f.pci, 0x11, 0x10);
	assert_int_equal(o2, 0xf0);
	assert_int_equal(f.pci.cfg[0x40 + PCI_CAP_LIST_NEXT], 0xf0);
}

static bool has_map(struct fake_pci *f, unsigned from, unsigned bar, uint64_t addr, bool map)
{
	for (unsigned i = from; i < f->nr_maps; i++)
		if (f->maps[i].bar == bar && f->maps[i].addr == addr && f->maps[i].map == map)
			return true;
	return false;
}

static void test_bar_map_follows_command_and_moves(void **state)
{
	static struct fake_pci f;
	uint64_t io, m32, m64, pf;
	unsigned mark;

	fake_init(&f, &mapped_ops);
	assert_int_equal(pci_bus_add_device(pbus, &f.pci, 1), 0);
	io = bar_addr(&f, 0);
	m32 = bar_addr(&f, 1);
	m64 = bar_addr(&f, 2);
	pf = bar_addr(&f, 4);
	assert_int_equal(f.nr_maps, 0);

	/* MEM on: the three memory BARs, not the I/O one */
	cf8_write(0, 1, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	assert_int_equal(f.nr_maps, 3);
	assert_true(has_map(&f, 0, 1, m32, true));
	assert_true(has_map(&f, 0, 2, m64, true));
	assert_true(has_map(&f, 0, 4, pf, true));
	/* writing the same command again changes nothing */
	cf8_write(0, 1, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	assert_int_equal(f.nr_maps, 3);
	/* IO on too */
	cf8_write(0, 1, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_IO, 2);
	assert_int_equal(f.nr_maps, 4);
	assert_true(has_map(&f, 3, 0, io, true));

	/* move BAR1 while decoding: unmap at the old address, map at the new */
	mark = f.nr_maps;
	cf8_write(0, 1, PCI_BASE_ADDRESS_1, (uint32_t)m32 + 0x100000, 4);
	assert_int_equal(f.nr_maps, mark + 2);
	assert_true(f.maps[mark].bar == 1 && f.maps[mark].addr == m32 && !f.maps[mark].map);
	assert_true(f.maps[mark + 1].bar == 1 && f.maps[mark + 1].addr == m32 + 0x100000 &&
		    f.maps[mark + 1].map);
	/* rewriting the same value is no move */
	cf8_write(0, 1, PCI_BASE_ADDRESS_1, (uint32_t)m32 + 0x100000, 4);
	assert_int_equal(f.nr_maps, mark + 2);
	/* moving a 64-bit BAR above 4 GiB through its upper dword */
	mark = f.nr_maps;
	ecam_write(0, 1, PCI_BASE_ADDRESS_3, 0x5, 4);
	assert_true(has_map(&f, mark, 2, m64, false));
	assert_true(has_map(&f, mark, 2, 0x500000000ULL | (uint32_t)m64, true));

	/* MEM off: every memory BAR unmapped, at the address it was mapped at; IO stays */
	mark = f.nr_maps;
	cf8_write(0, 1, PCI_COMMAND, PCI_COMMAND_IO, 2);
	assert_int_equal(f.nr_maps, mark + 3);
	assert_true(has_map(&f, mark, 1, m32 + 0x100000, false));
	assert_true(has_map(&f, mark, 2, 0x500000000ULL | (uint32_t)m64, false));
	assert_true(has_map(&f, mark, 4, pf, false));

	/* moves with decoding off are silent; enabling maps at the new place */
	mark = f.nr_maps;
	cf8_write(0, 1, PCI_BASE_ADDRESS_1, (uint32_t)m32, 4);
	ecam_write(0, 1, PCI_BASE_ADDRESS_3, 0, 4);
	assert_int_equal(f.nr_maps, mark);
	cf8_write(0, 1, PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MEMORY, 2);
	assert_true(has_map(&f, mark, 1, m32, true));
	assert_true(has_map(&f, mark, 2, m64, true));

	/* unplugging unmaps what is mapped */
	mark = f.nr_maps;
	pci_bus_remove_device(pbus, &f.pci);
	assert_true(has_map(&f, mark, 0, io, false));
	assert_true(has_map(&f, mark, 1, m32, false));
	assert_true(has_map(&f, mark, 2, m64, false));
	assert_true(has_map(&f, mark, 4, pf, false));
	assert_int_equal(cf8_read(0, 1, 0, 4), 0xffffffff);
}

static void test_bar_map_refused(void **state)
{
	static struct fake_pci f;
	unsigned mark;

	fake_init(&f, &mapped_ops);
	f.map_ret = -EBUSY;
	assert_int_equal(pci_bus_add_device(pbus, &f.pci, 1), 0);
	cf8_write(0, 1, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	assert_int_equal(f.nr_maps, 3);
	/* never mapped, so never unmapped */
	mark = f.nr_maps;
	cf8_write(0, 1, PCI_COMMAND, 0, 2);
	assert_int_equal(f.nr_maps, mark);
	pci_bus_remove_device(pbus, &f.pci);
	assert_int_equal(f.nr_maps, mark);
}

static void test_trapped_bars_decode(void **state)
{
	static struct fake_pci f;
	uint64_t io, m32, pf;
	uint32_t v;
	bool hit;

	fake_init(&f, &trapped_ops);
	assert_int_equal(pci_bus_add_device(pbus, &f.pci, 6), 0);
	io = bar_addr(&f, 0);
	m32 = bar_addr(&f, 1);
	pf = bar_addr(&f, 4);
	/* decoding off: nothing answers */
	mmio_read32(m32, &hit);
	assert_false(hit);
	/* on: accesses reach the device with BAR index and offset */
	ecam_write(0, 6, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_IO, 2);
	v = mmio_read32(m32 + 0x10, &hit);
	assert_true(hit);
	assert_int_equal(v, 0x41414141);
	assert_int_equal(f.last_bar, 1);
	assert_int_equal(f.last_offset, 0x10);
	v = mmio_read32(pf + 16 * SZ_1M - 4, &hit);
	assert_true(hit);
	assert_int_equal(f.last_bar, 4);
	assert_int_equal(f.last_offset, 16 * SZ_1M - 4);
	v = 0xcafe;
	assert_true(bus_access(&vm.pio, io + 6, &v, 2, true));
	assert_int_equal(f.bar_writes, 1);
	assert_int_equal(f.last_bar, 0);
	assert_int_equal(f.last_offset, 6);
	assert_int_equal(f.last_value, 0xcafe);
	/* moved: the old place is empty, the new one decodes */
	ecam_write(0, 6, PCI_BASE_ADDRESS_1, (uint32_t)m32 + 0x200000, 4);
	mmio_read32(m32, &hit);
	assert_false(hit);
	mmio_read32(m32 + 0x200000 + 4, &hit);
	assert_true(hit);
	assert_int_equal(f.last_offset, 4);
	/* an I/O BAR moved past 64 KiB is not decoded anywhere */
	cf8_write(0, 6, PCI_BASE_ADDRESS_0, 0xfffffff1, 4);
	assert_false(bus_access(&vm.pio, io, &v, 1, false));
	/* off again */
	ecam_write(0, 6, PCI_COMMAND, 0, 2);
	mmio_read32(m32 + 0x200000, &hit);
	assert_false(hit);
	mmio_read32(pf, &hit);
	assert_false(hit);
	pci_bus_remove_device(pbus, &f.pci);
}

/* A second vCPU reads a trapped BAR while the first moves it back and forth. */
struct bar_reader {
	uint64_t a, b; /* the two places */
	_Atomic bool stop;
	_Atomic unsigned hits, misses, bad;
};

static void *bar_reader_main(void *arg)
{
	struct bar_reader *r = arg;

	while (!atomic_load(&r->stop)) {
		for (unsigned i = 0; i < 2; i++) {
			bool hit;
			uint32_t v = mmio_read32((i ? r->b : r->a) + 0x20, &hit);

			if (hit)
				r->hits++;
			else
				r->misses++;
			if (v != (hit ? 0x41414141U : 0xffffffffU))
				r->bad++;
		}
	}
	return NULL;
}

/*
 * Moving a trapped BAR while another vCPU's access to it is being dispatched: the dispatch
 * reads the trap's ops after it dropped the bus lock (devices live until the vCPUs stop), so
 * moving must not rewrite them (a data race that ThreadSanitizer reported); every access that
 * hits reaches the device, every miss reads all ones.
 */
static void test_bar_moved_while_accessed(void **state)
{
	static struct fake_pci f;
	struct bar_reader r = { 0 };
	unsigned accesses;
	pthread_t t;

	fake_init(&f, &trapped_ops);
	assert_int_equal(pci_bus_add_device(pbus, &f.pci, 6), 0);
	r.a = bar_addr(&f, 1);
	r.b = r.a + 16 * SZ_1M; /* clear of BAR2, which follows BAR1 */
	ecam_write(0, 6, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	assert_int_equal(pthread_create(&t, NULL, bar_reader_main, &r), 0);
	/* moves, each followed by a yield so that the reader gets the bus lock in between
	 * (the mover would keep it otherwise) */
	for (unsigned i = 0; i < 20000; i++) {
		ecam_write(0, 6, PCI_BASE_ADDRESS_1, (uint32_t)(i & 1 ? r.a : r.b), 4);
		sched_yield();
	}
	/* and reads while it stays put: one of the two places decodes */
	accesses = atomic_load(&r.hits) + atomic_load(&r.misses);
	while (atomic_load(&r.hits) + atomic_load(&r.misses) < accesses + 16)
		sched_yield();
	atomic_store(&r.stop, true);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(r.bad, 0);
	assert_true(r.hits > 0);
	assert_true(f.bar_reads == r.hits);
	assert_int_equal(f.last_offset, 0x20);
	pci_bus_remove_device(pbus, &f.pci);
}

static void test_extended_register_and_ecam_offsets(void **state)
{
	static struct fake_pci f;

	fake_init(&f, &mapped_ops);
	assert_int_equal(pci_bus_add_device(pbus, &f.pci, 7), 0);
	pci_config_set(&f.pci, 0x104, 0xdeadbeef, 4);
	pci_config_set(&f.pci, 0xffc, 0x600df00d, 4);
	/* ECAM: bus << 20 | slot << 15 | function << 12 | register */
	assert_int_equal(ecam_read(0, 7, 0, 0, 4), 0x10f01af4);
	assert_int_equal(ecam_read(0, 7, 0, 0x104, 4), 0xdeadbeef);
	assert_int_equal(ecam_read(0, 7, 0, 0x106, 2), 0xdead);
	assert_int_equal(ecam_read(0, 7, 0, 0xffc, 4), 0x600df00d);
	assert_int_equal(ecam_read(0, 7, 0, 0xfff, 1), 0x60);
	assert_int_equal(ecam_read(0, 7, 1, 0x104, 4), 0xffffffff);
	assert_int_equal(ecam_read(0, 6, 0, 0x104, 4), 0xffffffff);
	assert_int_equal(ecam_read(0, 8, 0, 0x104, 4), 0xffffffff);
	/* type 1 with the extended register bits 27:24 (AMD / QEMU) */
	assert_int_equal(cf8_read(0, 7, 0x104, 4), 0xdeadbeef);
	assert_int_equal(cf8_read(0, 7, 0xffc, 4), 0x600df00d);
	assert_int_equal(cf8_read(0, 7, 0xfff, 1), 0x60);
	pci_bus_remove_device(pbus, &f.pci);
}

static void test_malformed_accesses(void **state)
{
	static struct fake_pci f;
	static uint8_t before[PCI_CFG_SPACE_EXP_SIZE];
	static const struct {
		unsigned off, len;
	} bad[] = {
		{ 0x01, 2 }, { 0x02, 4 }, { 0x03, 2 }, { 0x05, 4 },	  { 0x04, 3 },
		{ 0x00, 0 }, { 0x00, 8 }, { 0x10, 3 }, { 4096, 1 },	  { 4096, 4 },
		{ 4094, 4 }, { 4095, 2 }, { 8192, 4 }, { 0x7fff0000, 4 },
	};

	fake_init(&f, &mapped_ops);
	assert_int_equal(pci_bus_add_device(pbus, &f.pci, 1), 0);
	memcpy(before, f.pci.cfg, sizeof(before));
	for (unsigned i = 0; i < ARRAY_SIZE(bad); i++) {
		uint8_t data[8];

		memset(data, 0, sizeof(data));
		pci_bus_config_read(pbus, 0, PCI_DEVFN(1, 0), bad[i].off, data, bad[i].len);
		for (unsigned k = 0; k < MIN(bad[i].len, 4U); k++)
			assert_int_equal(data[k], 0xff);
		memset(data, 0xff, sizeof(data));
		pci_bus_config_write(pbus, 0, PCI_DEVFN(1, 0), bad[i].off, data, bad[i].len);
		assert_memory_equal(before, f.pci.cfg, sizeof(before));
	}
	assert_int_equal(f.nr_maps, 0);
	/* type 1: a word at 0xcfd is unaligned; a dword at 0xcfd runs past the data port */
	outl(PCI_CONFIG_ADDR_PORT, cf8_addr(0, 1, 0, PCI_COMMAND));
	out(PCI_CONFIG_DATA_PORT + 1, 0xffff, 2);
	out(PCI_CONFIG_DATA_PORT + 3, 0xffff, 2);
	out(PCI_CONFIG_DATA_PORT + 1, 0xffffffff, 4);
	assert_int_equal(in(PCI_CONFIG_DATA_PORT + 1, 2), 0xffff);
	assert_memory_equal(before, f.pci.cfg, sizeof(before));
	/* ECAM: an unaligned dword and an 8-byte access */
	{
		uint64_t v = UINT64_MAX;

		bus_access(&vm.mmio, ecam_addr(0, 1, 0, PCI_COMMAND + 1), &v, 4, true);
		bus_access(&vm.mmio, ecam_addr(0, 1, 0, PCI_COMMAND), &v, 8, true);
		v = 0;
		bus_access(&vm.mmio, ecam_addr(0, 1, 0, 0), &v, 8, false);
		assert_int_equal(v, UINT64_MAX);
	}
	assert_memory_equal(before, f.pci.cfg, sizeof(before));
	assert_int_equal(f.nr_maps, 0);
	pci_bus_remove_device(pbus, &f.pci);
}

/* Last: on the bug it tests, the access lands ~4 GiB past the config array. */
static void test_offset_near_uint_max(void **state)
{
	static struct fake_pci f;
	static uint8_t before[PCI_CFG_SPACE_EXP_SIZE];
	uint8_t data[4] = { 0, 0, 0, 0 };

	fake_init(&f, &mapped_ops);
	assert_int_equal(pci_bus_add_device(pbus, &f.pci, 1), 0);
	memcpy(before, f.pci.cfg, sizeof(before));
	/* offset + len wraps to a small number: still beyond config space */
	pci_bus_config_read(pbus, 0, PCI_DEVFN(1, 0), UINT_MAX - 1, data, 2);
	assert_int_equal(data[0], 0xff);
	assert_int_equal(data[1], 0xff);
	pci_bus_config_read(pbus, 0, PCI_DEVFN(1, 0), UINT_MAX - 3, data, 4);
	assert_int_equal(data[3], 0xff);
	pci_bus_config_write(pbus, 0, PCI_DEVFN(1, 0), UINT_MAX - 3, data, 4);
	assert_memory_equal(before, f.pci.cfg, sizeof(before));
	pci_bus_remove_device(pbus, &f.pci);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_host_bridge_ids_type1),
		T(test_type1_enable_bit_off),
		T(test_host_bridge_ids_ecam),
		T(test_absent_functions_read_all_ones),
		T(test_read_only_fields),
		T(test_intx_line_follows_prt),
		T(test_w1c_status),
		T(test_bar_sizing),
		T(test_bad_bar_declarations),
		T(test_bar_placement),
		T(test_large_bar_goes_high_and_no_64bit_window),
		T(test_window_exhaustion),
		T(test_bar_too_big_for_64bit_window),
		T(test_capability_chain),
		T(test_bar_map_follows_command_and_moves),
		T(test_bar_map_refused),
		T(test_trapped_bars_decode),
		T(test_bar_moved_while_accessed),
		T(test_extended_register_and_ecam_offsets),
		T(test_malformed_accesses),
		T(test_offset_near_uint_max),
	};
#undef T

	return cmocka_run_group_tests_name("pci_config", tests, NULL, NULL);
}
