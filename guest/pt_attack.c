/* SPDX-License-Identifier: MIT */
/* ptvm-args: --memory 128M --device "vfio=$EDU0,rom=on" */
/*
 * pt_attack: a hostile guest against a passed-through device (issue 8). The target is the
 * function with the IDs given as dev=VVVV:DDDD on the command line (default: edu, 1234:11e8).
 * Each attack is bracketed by "pt_attack: begin NAME" / "pt_attack: end NAME (N ops)" lines so
 * that the host can count what ptvm logged meanwhile:
 *   bars     every memory BAR moved onto RAM, 0, the LAPIC, the IOAPIC, the HPET, ECAM, another
 *            device's BAR, a misaligned and an all-ones value (sizing with decoding on), with
 *            decoding toggled in between, and back;
 *   command  the command register through I/O, memory, bus master, INTx-disable, all ones,
 *            byte and word writes, the status register's write-1-to-clear bits;
 *   msi      MSI enabled and disabled `msi=` times (default 10,000) with a message programmed
 *            (every enable makes a KVM route, every disable must give it back), and more
 *            vectors asked for than offered;
 *   msix     the same for MSI-X with vector 0 programmed and unmasked, and table and PBA
 *            garbage (skipped, said so, when the device has no MSI-X);
 *   rom      the ROM BAR sized, enabled onto RAM, the LAPIC and a BAR, read, disabled;
 *   config   every byte, word and dword of 0x40-0xff written with ones, zeros and a pattern
 *            (the hidden capabilities, the emulated MSI/MSI-X ones), the extended space through
 *            ECAM, odd-sized accesses to the data port;
 * then the device is put back the way a driver would and must still answer as it did: BAR0's
 * first registers read as before, and for edu the liveness register, DMA round trips and a
 * factorial interrupt through MSI.
 */
#include "edu.h"

const char test_name[] = "pt_attack";

#define CFG_VENDOR 0x00
#define CFG_COMMAND 0x04
#define CFG_STATUS 0x06
#define CFG_BAR0 0x10
#define CFG_ROM 0x30
#define CFG_CAP_PTR 0x34
#define CMD_IO 0x1
#define CMD_MEMORY 0x2
#define CMD_MASTER 0x4
#define CMD_SERR 0x100
#define CMD_INTX_DISABLE 0x400
#define CAP_ID_MSI 0x05
#define CAP_ID_MSIX 0x11
#define MSI_FLAGS_ENABLE 0x1
#define MSI_FLAGS_64BIT 0x80
#define MSIX_FLAGS_ENABLE 0x8000
#define MSIX_FLAGS_MASKALL 0x4000
#define MSI_VECTOR 41
#define WAIT_US 2000000ull

struct bar {
	uint64_t addr, size;
	uint32_t lo, hi; /* the config values the guest found */
	bool mem64;
};

static unsigned int dev = 0xff;
static struct bar bars[6];
static unsigned int msi_cap, msix_cap;
static uint32_t bar0_regs[2]; /* BAR0 offsets 0 and 8 as first read */
static bool is_edu;

static void begin(const char *what)
{
	printf("pt_attack: begin %s\n", what);
}

static void end(const char *what, unsigned long ops)
{
	printf("pt_attack: end %s (%lu ops)\n", what, ops);
}

static uint32_t get32(unsigned int off)
{
	return pci_cfg_read32(0, dev, 0, off);
}

static uint16_t get16(unsigned int off)
{
	return pci_cfg_read16(0, dev, 0, off);
}

static void set32(unsigned int off, uint32_t v)
{
	pci_cfg_write32(0, dev, 0, off, v);
}

static void set16(unsigned int off, uint16_t v)
{
	pci_cfg_write16(0, dev, 0, off, v);
}

/* A byte write through ECAM (the kit has byte reads only). */
static void set8(unsigned int off, uint8_t v)
{
	mmio_write8(pci_ecam_base() + ((uint64_t)dev << 15) + off, v);
}

static unsigned int find_cap(uint8_t id)
{
	unsigned int pos, guard = 0;

	if (!(get16(CFG_STATUS) & 0x10))
		return 0;
	for (pos = pci_cfg_read8(0, dev, 0, CFG_CAP_PTR) & ~3u; pos && guard < 48;
	     pos = pci_cfg_read8(0, dev, 0, pos + 1) & ~3u, guard++)
		if (pci_cfg_read8(0, dev, 0, pos) == id)
			return pos;
	return 0;
}

/* Sizes and records every memory BAR where ptvm placed it (with decoding off). */
static void bars_probe(void)
{
	uint16_t cmd = get16(CFG_COMMAND);

	set16(CFG_COMMAND, 0);
	for (unsigned int i = 0; i < 6; i++) {
		struct bar *b = &bars[i];
		unsigned int off = CFG_BAR0 + 4 * i;
		uint64_t mask;

		b->lo = get32(off);
		if (b->lo & 1)
			continue; /* I/O */
		b->mem64 = (b->lo & 6) == 4;
		set32(off, 0xffffffff);
		mask = get32(off) & ~0xfull;
		set32(off, b->lo);
		if (!mask) {
			b->mem64 = false;
			continue; /* no BAR here */
		}
		if (b->mem64) {
			b->hi = get32(off + 4);
			set32(off + 4, 0xffffffff);
			mask |= (uint64_t)get32(off + 4) << 32;
			set32(off + 4, b->hi);
		} else {
			mask |= 0xffffffff00000000ull;
		}
		b->addr = (b->lo & ~0xfull) | (uint64_t)b->hi << 32;
		b->size = mask ? ~mask + 1 : 0;
		if (b->size && mmio_map(b->addr, b->size))
			test_fail(11, "BAR%u at 0x%llx cannot be mapped", i,
				  (unsigned long long)b->addr);
		if (b->size)
			printf("pt_attack: BAR%u at 0x%llx size 0x%llx%s\n", i,
			       (unsigned long long)b->addr, (unsigned long long)b->size,
			       b->mem64 ? " (64-bit)" : "");
		if (b->mem64)
			i++;
	}
	set16(CFG_COMMAND, cmd);
}

static void bars_restore(void)
{
	for (unsigned int i = 0; i < 6; i++) {
		if (!bars[i].size)
			continue;
		set32(CFG_BAR0 + 4 * i, bars[i].lo);
		if (bars[i].mem64)
			set32(CFG_BAR0 + 4 * i + 4, bars[i].hi);
	}
	set16(CFG_COMMAND, CMD_MEMORY | CMD_MASTER);
}

/* The device answers at BAR0 as it did before the attacks (and edu's liveness register). */
static void check_alive(const char *after)
{
	uint32_t r0, r8;

	bars_restore();
	if (!bars[0].size)
		return;
	r0 = mmio_read32(bars[0].addr);
	r8 = mmio_read32(bars[0].addr + 8);
	if (r0 != bar0_regs[0] || r8 != bar0_regs[1])
		test_fail(30, "after %s: BAR0 reads 0x%x/0x%x at 0/8, 0x%x/0x%x before", after, r0,
			  r8, bar0_regs[0], bar0_regs[1]);
	if (is_edu) {
		mmio_write32(bars[0].addr + EDU_REG_LIVENESS, 0x12345678);
		if (mmio_read32(bars[0].addr + EDU_REG_LIVENESS) != 0xedcba987)
			test_fail(31, "after %s: edu's liveness register is dead", after);
	}
}

static void attack_bars(unsigned int rounds)
{
	const uint32_t targets[] = {
		0x00100000, /* guest RAM (the kit's image) */
		0x00000000, /* "not placed" */
		0xfee00000, /* LAPIC */
		0xfec00000, /* IOAPIC */
		0xfed00000, /* HPET */
		(uint32_t)pci_ecam_base(),
		0xfffff123, /* misaligned: the size mask keeps what it may */
		0xffffffff, /* sizing, with decoding on */
	};
	unsigned long ops = 0;
	uint32_t other = 0;

	/* another function's BAR0 (the host bridge has none; any other device) */
	for (unsigned int d = 1; d < 32 && !other; d++)
		if (d != dev && pci_cfg_read32(0, d, 0, CFG_VENDOR) != 0xffffffff &&
		    !(pci_cfg_read32(0, d, 0, CFG_BAR0) & 1))
			other = pci_cfg_read32(0, d, 0, CFG_BAR0) & ~0xfu;
	begin("bars");
	set16(CFG_COMMAND, CMD_MEMORY | CMD_MASTER);
	for (unsigned int r = 0; r < rounds; r++) {
		for (unsigned int i = 0; i < 6; i++) {
			unsigned int off = CFG_BAR0 + 4 * i;

			if (!bars[i].size)
				continue;
			for (unsigned int t = 0; t < sizeof(targets) / sizeof(targets[0]); t++) {
				set32(off, targets[t]);
				ops++;
				if (r & 1) {
					set16(CFG_COMMAND, 0);
					set16(CFG_COMMAND, CMD_MEMORY);
					ops += 2;
				}
			}
			if (bars[i].mem64) {
				/* high halves: above any window, and all ones */
				set32(off + 4, 0x00007fff);
				set32(off + 4, 0xffffffff);
				ops += 2;
			}
			if (other) {
				set32(off, other);
				ops++;
			}
			bars_restore();
			ops++;
		}
	}
	end("bars", ops);
	check_alive("bars");
}

static void attack_command(unsigned int rounds)
{
	static const uint16_t cmds[] = {
		0,
		CMD_MEMORY,
		CMD_MEMORY | CMD_MASTER,
		CMD_MASTER,
		CMD_IO,
		CMD_IO | CMD_MEMORY | CMD_MASTER | CMD_INTX_DISABLE,
		CMD_INTX_DISABLE,
		0xffff,
		CMD_SERR | CMD_MASTER,
	};
	unsigned long ops = 0;

	begin("command");
	for (unsigned int r = 0; r < rounds; r++) {
		for (unsigned int i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++, ops++)
			set16(CFG_COMMAND, cmds[i]);
		set8(CFG_COMMAND, 0xff);
		set8(CFG_COMMAND + 1, 0xff);
		set32(CFG_COMMAND, 0xffff0006); /* and the status register's W1C bits */
		set16(CFG_STATUS, 0xffff);
		ops += 4;
	}
	end("command", ops);
	check_alive("command");
}

static void attack_msi(unsigned int rounds)
{
	unsigned long ops = 0;
	uint16_t flags;

	begin("msi");
	if (!msi_cap) {
		printf("pt_attack: no MSI capability: nothing to toggle\n");
		end("msi", 0);
		return;
	}
	flags = get16(msi_cap + 2) & (uint16_t)~MSI_FLAGS_ENABLE;
	set32(msi_cap + 4, 0xfee00000u | lapic_id() << 12);
	if (flags & MSI_FLAGS_64BIT) {
		set32(msi_cap + 8, 0);
		set16(msi_cap + 12, MSI_VECTOR);
	} else {
		set16(msi_cap + 8, MSI_VECTOR);
	}
	for (unsigned int r = 0; r < rounds; r++, ops += 2) {
		set16(msi_cap + 2, flags | MSI_FLAGS_ENABLE);
		set16(msi_cap + 2, flags);
		if (r % 2000 == 1999)
			printf("pt_attack: msi toggled %u times\n", r + 1);
	}
	/* 32 vectors asked for, whatever the device offers */
	set16(msi_cap + 2, (uint16_t)(flags | 0x50 | MSI_FLAGS_ENABLE));
	set16(msi_cap + 2, flags);
	end("msi", ops + 2);
}

static void attack_msix(unsigned int rounds)
{
	unsigned long ops = 0;
	uint32_t tbl, pba;
	uint64_t t, p;
	uint16_t flags;
	unsigned int n;

	begin("msix");
	if (!msix_cap) {
		printf("pt_attack: no MSI-X capability: nothing to toggle\n");
		end("msix", 0);
		return;
	}
	flags = get16(msix_cap + 2);
	n = (flags & 0x7ff) + 1u;
	tbl = get32(msix_cap + 4);
	pba = get32(msix_cap + 8);
	if (!bars[tbl & 7].size || !bars[pba & 7].size)
		test_fail(40, "MSI-X table in BAR%u, PBA in BAR%u: not memory BARs", tbl & 7,
			  pba & 7);
	t = bars[tbl & 7].addr + (tbl & ~7u);
	p = bars[pba & 7].addr + (pba & ~7u);
	set16(CFG_COMMAND, CMD_MEMORY | CMD_MASTER);
	/* enabled with every vector masked, vector 0 programmed and unmasked */
	set16(msix_cap + 2, MSIX_FLAGS_ENABLE | MSIX_FLAGS_MASKALL);
	mmio_write32(t + 0, 0xfee00000u | lapic_id() << 12);
	mmio_write32(t + 4, 0);
	mmio_write32(t + 8, MSI_VECTOR);
	mmio_write32(t + 12, 0);
	set16(msix_cap + 2, 0);
	for (unsigned int r = 0; r < rounds; r++, ops += 2) {
		set16(msix_cap + 2, MSIX_FLAGS_ENABLE);
		set16(msix_cap + 2, 0);
		if (r % 2000 == 1999)
			printf("pt_attack: msix toggled %u times\n", r + 1);
	}
	/* table and PBA garbage while enabled: every entry unmasked with junk, odd accesses */
	set16(msix_cap + 2, MSIX_FLAGS_ENABLE);
	for (unsigned int v = 0; v < n; v++, ops += 4) {
		mmio_write32(t + 16 * v + 0, 0xdead0000u | v);
		mmio_write32(t + 16 * v + 4, 0xffffffff);
		mmio_write32(t + 16 * v + 8, 0xffffffff);
		mmio_write32(t + 16 * v + 12, 0xfffffffe);
	}
	mmio_write8(t + 3, 0xff);
	mmio_write16(t + 6, 0xffff);
	mmio_write32(p, 0xffffffff);
	(void)mmio_read32(p);
	(void)mmio_read8(t + 1);
	for (unsigned int v = 0; v < n; v++, ops++)
		mmio_write32(t + 16 * v + 12, 1);
	set16(msix_cap + 2, 0);
	end("msix", ops + 6);
}

static void attack_rom(unsigned int rounds)
{
	unsigned long ops = 0;
	uint32_t sized;

	begin("rom");
	set16(CFG_COMMAND, CMD_MEMORY);
	set32(CFG_ROM, 0xffffffff);
	sized = get32(CFG_ROM);
	printf("pt_attack: the ROM BAR sizes as 0x%x\n", sized);
	for (unsigned int r = 0; r < rounds; r++) {
		const uint32_t at[] = { 0x00100001, 0xfee00001, (uint32_t)bars[0].addr | 1,
					0x00000001, 0xfffff801 };

		for (unsigned int i = 0; i < sizeof(at) / sizeof(at[0]); i++, ops++) {
			set32(CFG_ROM, at[i]);
			/* a ROM over RAM is not written through */
			if (i == 0)
				(void)mmio_read32(0x00100000);
		}
		set32(CFG_ROM, 0);
		ops++;
	}
	end("rom", ops);
	check_alive("rom");
}

static void attack_config(void)
{
	static const uint32_t pats[] = { 0xffffffff, 0x00000000, 0xa55a5aa5 };
	uint64_t ecam = pci_ecam_base();
	unsigned long ops = 0;

	begin("config");
	for (unsigned int p = 0; p < 3; p++) {
		for (unsigned int off = 0x40; off < 0x100; off++, ops++)
			set8(off, (uint8_t)pats[p]);
		for (unsigned int off = 0x40; off < 0x100; off += 2, ops++)
			set16(off, (uint16_t)pats[p]);
		for (unsigned int off = 0x40; off < 0x100; off += 4, ops++)
			set32(off, pats[p]);
		if (ecam)
			for (unsigned int off = 0x100; off < 0x1000; off += 4, ops++)
				pci_ecam_write32(0, dev, 0, off, pats[p]);
	}
	/* odd-sized data-port accesses with a valid address latched, dword ones through 0xcf8 */
	for (unsigned int off = 0; off < 4; off++, ops += 4) {
		outl(0xcf8, 0x80000000u | dev << 11 | 0x40);
		outb((uint16_t)(0xcfc + off), 0xff);
		outw((uint16_t)(0xcfc + (off & 2)), 0xffff);
		(void)inb((uint16_t)(0xcfc + off));
		pci_cfg1_write32(0, dev, 0, 0x40 + 4 * off, 0xffffffff);
	}
	/* the hidden extended space reads as nothing */
	if (ecam && pci_ecam_read32(0, dev, 0, 0x100) != 0)
		test_fail(50, "extended config 0x100 reads 0x%x after the writes",
			  pci_ecam_read32(0, dev, 0, 0x100));
	/* MSI and MSI-X end up off (their enable bits got the patterns too) */
	if (msi_cap)
		set16(msi_cap + 2, 0);
	if (msix_cap)
		set16(msix_cap + 2, 0);
	end("config", ops);
	check_alive("config");
}

/* edu as a driver would use it after all that: DMA and an interrupt. */
static void check_edu_works(void)
{
	struct edu e;
	uint32_t seen = irq_count(MSI_VECTOR);

	if (edu_find(0, &e))
		test_fail(60, "edu gone from the bus after the attacks");
	edu_dma_selftest(&e, 0x5a);
	if (!e.msi_cap)
		return;
	if (edu_msi_enable(&e, MSI_VECTOR))
		test_fail(61, "cannot enable MSI after the attacks");
	edu_factorial_irq(&e, 5);
	if (!irq_wait(MSI_VECTOR, seen, WAIT_US))
		test_fail(62, "no MSI after the attacks (edu status 0x%x, irq status 0x%x)",
			  edu_read(&e, EDU_REG_STATUS), edu_read(&e, EDU_REG_IRQ_STATUS));
	if (edu_read(&e, EDU_REG_FACTORIAL) != 120)
		test_fail(63, "5! read as %u after the attacks", edu_read(&e, EDU_REG_FACTORIAL));
	edu_irq_ack(&e);
	edu_msi_disable(&e);
	printf("pt_attack: edu still works: DMA round trips and an MSI\n");
}

static uint32_t parse_hex(const char *s, const char **end)
{
	uint32_t v = 0;

	for (; (*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f'); s++)
		v = v * 16 + (uint32_t)(*s <= '9' ? *s - '0' : *s - 'a' + 10);
	*end = s;
	return v;
}

/* attack=NAME on the command line: only that one (and the checks after); default: all */
static bool chosen(const char *name)
{
	char which[16];

	return !cmdline_get_str("attack", which, sizeof(which)) || !strncmp(which, "all", 4) ||
	       !strncmp(which, name, sizeof(which));
}

int test_main(void)
{
	uint64_t msi_rounds = 10000, rounds = 100;
	uint32_t want = (uint32_t)EDU_DEVICE << 16 | EDU_VENDOR;
	char ids[16];

	cmdline_get_uint("msi", &msi_rounds);
	cmdline_get_uint("rounds", &rounds);
	if (cmdline_get_str("dev", ids, sizeof(ids))) {
		const char *s;
		uint32_t v = parse_hex(ids, &s), d = *s == ':' ? parse_hex(s + 1, &s) : 0;

		want = d << 16 | v;
	}
	for (unsigned int d = 1; d < 32 && dev == 0xff; d++)
		if (pci_cfg_read32(0, d, 0, CFG_VENDOR) == want)
			dev = d;
	if (dev == 0xff)
		test_fail(10, "no %04x:%04x on bus 0 (pass one through with --device vfio=BDF)",
			  want & 0xffff, want >> 16);
	is_edu = want == ((uint32_t)EDU_DEVICE << 16 | EDU_VENDOR);
	msi_cap = find_cap(CAP_ID_MSI);
	msix_cap = find_cap(CAP_ID_MSIX);
	/* the vector counts bound the KVM routes ptvm may make for it (the suite checks) */
	printf("pt_attack: %04x:%04x at 00:%02x.0, MSI cap 0x%x, MSI-X cap 0x%x, vectors MSI %u "
	       "MSI-X %u\n",
	       want & 0xffff, want >> 16, dev, msi_cap, msix_cap,
	       msi_cap ? 1u << ((get16(msi_cap + 2) >> 1) & 7) : 0,
	       msix_cap ? (get16(msix_cap + 2) & 0x7ffu) + 1 : 0);
	bars_probe();
	bars_restore();
	if (bars[0].size) {
		bar0_regs[0] = mmio_read32(bars[0].addr);
		bar0_regs[1] = mmio_read32(bars[0].addr + 8);
	}
	lapic_enable();

	if (chosen("bars"))
		attack_bars((unsigned int)rounds);
	if (chosen("command"))
		attack_command((unsigned int)rounds * 2);
	if (chosen("msi"))
		attack_msi((unsigned int)msi_rounds);
	if (chosen("msix"))
		attack_msix((unsigned int)msi_rounds);
	if (chosen("rom"))
		attack_rom((unsigned int)rounds);
	if (chosen("config"))
		attack_config();
	check_alive("everything");
	if (is_edu)
		check_edu_works();
	printf("pt_attack: survived; the device answers as before\n");
	return 0;
}
