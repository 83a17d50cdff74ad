/* SPDX-License-Identifier: MIT */
/* ptvm-args: $HOSTILE_VIRTIO */
/*
 * hostile_bars: the BARs of every virtio device moved where no BAR may go, with memory
 * decoding on (so every half-written 64-bit BAR is decoded too): onto RAM, onto address 0,
 * the LAPIC, the IOAPIC, ECAM (its start and its middle), another device's BAR, the device's
 * own other BAR, the top of the 32-bit space, far above RAM, and an address where the BAR
 * would wrap around 2^64; plus BAR sizing (all ones) and garbage in the upper halves. After
 * each move: ECAM, the LAPIC and the IOAPIC still answer, RAM under the BAR is intact, and
 * the device another one was moved onto still works. At the end every BAR goes back and
 * every device must work again.
 */
#include "hostile.h"

const char test_name[] = "hostile_bars";

#define PCI_COMMAND 0x04
#define CMD_MEMORY 0x2
#define IOAPIC_BASE 0xfec00000ull
#define CANARY 0xc5

static struct hdev devs[HOSTILE_MAX_DEVS];
static unsigned int ndev;
static uint64_t home[HOSTILE_MAX_DEVS][6]; /* where ptvm placed each BAR */
static uint8_t *canary;

static uint32_t cfg_read(struct hdev *d, unsigned int off)
{
	return pci_cfg_read32(d->vd.bus, d->vd.dev, d->vd.fn, off);
}

static void cfg_write(struct hdev *d, unsigned int off, uint32_t v)
{
	pci_cfg_write32(d->vd.bus, d->vd.dev, d->vd.fn, off, v);
}

static bool bar_is_64(struct hdev *d, unsigned int bar)
{
	return (cfg_read(d, 0x10 + 4 * bar) & 0x6) == 0x4;
}

/* Writes BAR @bar with memory decoding on (the low half first, as a driver would). */
static void bar_set(struct hdev *d, unsigned int bar, uint64_t addr)
{
	uint32_t lo = cfg_read(d, 0x10 + 4 * bar);

	cfg_write(d, 0x10 + 4 * bar, (uint32_t)addr | (lo & 0xf));
	if (bar_is_64(d, bar))
		cfg_write(d, 0x14 + 4 * bar, (uint32_t)(addr >> 32));
}

static void bars_home(void)
{
	for (unsigned int i = 0; i < ndev; i++)
		for (unsigned int b = 0; b < 6; b++)
			if (home[i][b])
				bar_set(&devs[i], b, home[i][b]);
}

/* What must survive any BAR move: the platform's own MMIO and the RAM under the BAR. */
static void platform_sane(const char *what)
{
	uint32_t id = pci_cfg_read32(0, 0, 0, 0), ver;

	if ((id & 0xffff) == 0xffff || !id)
		test_fail(20, "%s: ECAM no longer shows the host bridge (0x%08x)", what, id);
	ver = mmio_read32(LAPIC_BASE + 0x30) & 0xff;
	if (!ver || ver == 0xff)
		test_fail(21, "%s: the LAPIC version register reads 0x%x", what, ver);
	mmio_write32(IOAPIC_BASE, 1); /* IOREGSEL: the version register */
	ver = mmio_read32(IOAPIC_BASE + 0x10) & 0xff;
	if (!ver || ver == 0xff)
		test_fail(22, "%s: the IOAPIC version register reads 0x%x", what, ver);
	for (unsigned int k = 0; k < PAGE_SIZE; k++)
		if (canary[k] != CANARY)
			test_fail(23, "%s: RAM at 0x%llx changed at byte %u", what,
				  (unsigned long long)(uint64_t)canary, k);
}

static uint64_t user_moves(uint64_t i)
{
	struct hdev *d = &devs[i], *other = &devs[(i + 1) % ndev];
	uint64_t ecam = pci_ecam_base();
	const struct {
		const char *name;
		uint64_t addr;
	} targets[] = {
		{ "RAM", (uint64_t)canary & ~0x3fffull },
		{ "address 0", 0 },
		{ "the LAPIC", LAPIC_BASE },
		{ "the IOAPIC", IOAPIC_BASE },
		{ "ECAM", ecam },
		{ "the middle of ECAM", ecam + 0x1000000 },
		{ "another device's BAR0", home[(i + 1) % ndev][0] },
		{ "its own other BAR", home[i][2] },
		{ "the top of 4 GiB", 0xffffc000ull },
		{ "far above RAM", 0x400000000000ull },
		{ "2^64 minus its size", 0xffffffffffffc000ull },
	};
	char what[96];

	for (unsigned int b = 0; b < 6; b++) {
		if (!home[i][b])
			continue;
		for (unsigned int t = 0; t < sizeof(targets) / sizeof(targets[0]); t++) {
			if (!bar_is_64(d, b) && targets[t].addr >> 32)
				continue;
			snprintf(what, sizeof(what), "%s BAR%u on %s", d->name, b, targets[t].name);
			bar_set(d, b, targets[t].addr);
			platform_sane(what);
			/* the device whose BAR was there first keeps it */
			if (t == 6 && (virtio_status(&other->vd) & VIRTIO_STATUS_DRIVER_OK) &&
			    !hdev_request(other))
				test_fail(24, "%s: %s stopped working", what, other->name);
		}
		/* sizing, and garbage in the upper half, with decoding on */
		cfg_write(d, 0x10 + 4 * b, 0xffffffffu);
		if (bar_is_64(d, b)) {
			cfg_write(d, 0x14 + 4 * b, 0xffffffffu);
			cfg_write(d, 0x14 + 4 * b, (uint32_t)hostile_rand());
		}
		bar_set(d, b, home[i][b]);
		snprintf(what, sizeof(what), "%s BAR%u back home", d->name, b);
		platform_sane(what);
	}
	/* decoding toggled while the BARs are elsewhere */
	bar_set(d, 0, ecam);
	cfg_write(d, PCI_COMMAND, cfg_read(d, PCI_COMMAND) & ~CMD_MEMORY);
	bar_set(d, 0, home[i][0]);
	cfg_write(d, PCI_COMMAND, cfg_read(d, PCI_COMMAND) | CMD_MEMORY);
	return 0;
}

static uint64_t user_up_all(uint64_t arg)
{
	for (unsigned int i = 0; i < ndev; i++)
		if (!hdev_up(&devs[i]))
			test_fail(25, "%s: cannot bring it up", devs[i].name);
	return 0;
}

int test_main(void)
{
	hostile_seed(0x5eed0004);
	ndev = hdev_find_every_kind(devs);
	for (unsigned int i = 0; i < ndev; i++)
		for (unsigned int b = 0; b < 6; b++)
			home[i][b] = devs[i].vd.bar[b];
	/* a page of RAM a BAR is moved onto: it must keep what was written there */
	canary = page_alloc();
	if (!canary)
		test_fail(9, "out of pages");
	memset(canary, CANARY, PAGE_SIZE);
	user_call(user_up_all, 0);
	for (unsigned int i = 0; i < ndev; i++) {
		attack_begin("bars-moved %s", devs[i].name);
		user_call(user_moves, i);
		bars_home();
		user_call(hdev_check_user, (uint64_t)&devs[i]);
	}
	return 0;
}
