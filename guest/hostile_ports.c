/* SPDX-License-Identifier: MIT */
/* ptvm-args: $HOSTILE_VIRTIO */
/*
 * hostile_ports: writes (and reads) where nothing answers.
 *   - every I/O port that no device claims, 0 to 0xffff, written by byte (every 4th read
 *     back), every 64th also by word and dword (at CPL0; the ports that end or reset the VM
 *     are among the claimed ones left out);
 *   - the MMIO holes of the address space: from the end of RAM to the PCI window, the rest of
 *     the PCI window, between ECAM, the IOAPIC and the LAPIC, up to 4 GiB, and above 4 GiB
 *     up to 64 GiB (at CPL3, one access per MiB or GiB);
 *   - the holes inside every virtio device's BARs: the common configuration's tail, the ISR
 *     page past its byte, device configuration past its end, the notify area past the last
 *     queue, the MSI-X BAR between table and PBA and after it.
 * Reads must come back all ones where nothing is mapped, and ptvm must neither die nor
 * flood its log; the devices must work afterwards.
 */
#include "hostile.h"

const char test_name[] = "hostile_ports";

#define GIB (1ull << 30)
#define MIB (1ull << 20)
#define IOAPIC_BASE 0xfec00000ull

static struct hdev devs[HOSTILE_MAX_DEVS];
static unsigned int ndev;

/* The ports some device claims (writing some of them ends or resets the VM), in order. */
static const struct {
	unsigned int lo, hi;
} claimed[] = {
	{ 0x20, 0x21 },	  /* PIC */
	{ 0x40, 0x43 },	  /* PIT */
	{ 0x60, 0x64 },	  /* i8042: 0xfe to 0x64 resets */
	{ 0xa0, 0xa1 },	  /* PIC */
	{ 0xf4, 0xf7 },	  /* --debug-exit: a write ends the VM */
	{ 0x3c0, 0x3c2 }, /* ACPI sleep and reset */
	{ 0x3f8, 0x3ff }, /* COM1: this program's output */
	{ 0x4d0, 0x4d1 }, /* ELCR */
	{ 0xcf8, 0xcff }, /* PCI configuration */
	{ 0x10000, 0x10000 },
};

/* At CPL0, between the claimed ranges, with as few instructions per port as can be: this
 * host emulates ring 0 at about 1 us an instruction. */
static void ports_everywhere(void)
{
	unsigned int not_ones = 0, p = 0;

	for (unsigned int c = 0; c < sizeof(claimed) / sizeof(claimed[0]); c++) {
		for (; p < claimed[c].lo; p++) {
			outb((uint16_t)p, 0xa5);
			if (!(p & 3) && inb((uint16_t)p) != 0xff)
				not_ones++;
			if (!(p & 63) && p + 4 <= claimed[c].lo) {
				outw((uint16_t)p, 0x5a5a);
				outl((uint16_t)p, 0xdeadbeefu);
				(void)inw((uint16_t)p);
				(void)inl((uint16_t)p);
			}
		}
		p = claimed[c].hi + 1;
	}
	printf("CHECK unclaimed ports: %u of them read something other than 0xff\n", not_ones);
}

static bool in_ram(uint64_t a)
{
	for (unsigned int i = 0; i < bootinfo.nr_memmap; i++)
		if (a >= bootinfo.memmap[i].addr &&
		    a - bootinfo.memmap[i].addr < bootinfo.memmap[i].size)
			return true;
	return false;
}

static bool in_device(uint64_t a)
{
	uint64_t ecam = pci_ecam_base();

	if (a >= ecam && a < ecam + 256 * MIB)
		return true;
	if ((a & ~0xfffull) == LAPIC_BASE || (a & ~0xfffull) == IOAPIC_BASE)
		return true;
	for (unsigned int i = 0; i < ndev; i++)
		for (unsigned int b = 0; b < 6; b++)
			if (devs[i].vd.bar[b] && a >= devs[i].vd.bar[b] &&
			    a < devs[i].vd.bar[b] + 0x4000)
				return true;
	return false;
}

/* One read and one write at @a where nothing is; the read must be all ones. */
static void hole(uint64_t a, unsigned int *bad)
{
	uint32_t v = mmio_read32(a);

	mmio_write32(a, 0x12345678u);
	if (v != 0xffffffffu)
		(*bad)++;
}

static uint64_t user_mmio_holes(uint64_t arg)
{
	unsigned int n = 0, bad = 0;

	for (uint64_t a = 0; a < 4 * GIB; a += a < 0xfec00000ull ? MIB : 64 * 1024) {
		if (in_ram(a) || in_device(a))
			continue;
		hole(a, &bad);
		hole(a + 0xffc, &bad);
		n++;
	}
	for (uint64_t a = 4 * GIB; a < 64 * GIB; a += GIB) {
		if (in_ram(a) || in_device(a))
			continue;
		if (mmio_map(a, 4096))
			test_fail(20, "out of pages mapping 0x%llx", (unsigned long long)a);
		hole(a, &bad);
		n++;
	}
	printf("CHECK %u MMIO holes touched, %u read something other than all ones\n", n, bad);
	if (bad)
		test_fail(21, "%u MMIO holes read back something other than all ones", bad);
	return 0;
}

/* The holes inside a virtio device's two BARs (ptvm's layout, found through the caps). */
static uint64_t user_bar_holes(uint64_t i)
{
	struct hdev *d = &devs[i];
	uint64_t notify_end = d->vd.notify_base + (uint64_t)d->vd.num_queues * d->vd.notify_mult;
	struct {
		uint64_t from, to;
	} holes[] = {
		{ d->vd.common + 56, (d->vd.common | 0xfff) + 1 },
		{ d->vd.isr + 1, (d->vd.isr | 0xfff) + 1 },
		{ d->vd.devcfg + d->vd.devcfg_len, (d->vd.devcfg | 0xfff) + 1 },
		{ notify_end, (d->vd.notify_base | 0xfff) + 1 },
		{ d->vd.msix_table + d->vd.msix_size * 16, d->vd.msix_table + 0x800 },
		{ d->vd.msix_table + 0x808, d->vd.msix_table + 0x1000 },
	};

	if (!hdev_up(d))
		test_fail(30, "%s: cannot bring it up", d->name);
	for (unsigned int h = 0; h < sizeof(holes) / sizeof(holes[0]); h++) {
		if (!holes[h].from)
			continue;
		for (uint64_t a = (holes[h].from + 3) & ~3ull; a + 4 <= holes[h].to; a += 16) {
			(void)mmio_read32(a);
			mmio_write32(a, (uint32_t)hostile_rand());
			mmio_write8(a + 1, (uint8_t)hostile_rand());
		}
	}
	/* none of that was a register: the device works on, without a reset */
	if (virtio_status(&d->vd) & VIRTIO_STATUS_NEEDS_RESET)
		test_fail(31, "%s: NEEDS_RESET after writes to the holes in its BARs", d->name);
	if (!hdev_request(d))
		test_fail(32, "%s: no request completes after writes to its BAR holes", d->name);
	return 0;
}

int test_main(void)
{
	hostile_seed(0x5eed0007);
	ndev = hdev_find_every_kind(devs);
	attack_begin("every-unclaimed-port");
	ports_everywhere();
	serial_init(); /* nothing above touched COM1, but be sure it prints */
	attack_begin("mmio-holes");
	user_call(user_mmio_holes, 0);
	for (unsigned int i = 0; i < ndev; i++) {
		attack_begin("bar-holes %s", devs[i].name);
		user_call(user_bar_holes, i);
	}
	for (unsigned int i = 0; i < ndev; i++)
		user_call(hdev_check_user, (uint64_t)&devs[i]);
	return 0;
}
