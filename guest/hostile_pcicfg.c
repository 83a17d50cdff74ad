/* SPDX-License-Identifier: MIT */
/* ptvm-args: $HOSTILE_VIRTIO */
/*
 * hostile_pcicfg: PCI configuration space garbage through both mechanisms.
 *   - 0xcf8/0xcfc (at CPL0): random CONFIG_ADDRESS values (enable bit off, reserved bits,
 *     extended register bits, any bus and devfn), byte and word writes into 0xcf8 itself,
 *     then random reads and writes of every width at 0xcfc-0xcff, and unaligned accesses that
 *     straddle 0xcf8/0xcfc and 0xcff/0xd00; then every register of every present function
 *     and of absent ones written with garbage, by byte, word and dword;
 *   - ECAM (at CPL3): every dword of the 4 KiB of each present function read and written
 *     with garbage, random widths (1, 2, 4, 8) at random, unaligned offsets, and functions
 *     on buses and slots that do not exist.
 * The writable registers (BARs, command, MSI-X control, interrupt line) take the garbage;
 * the program then writes back what each function had, checks that the host bridge and every
 * virtio function still identify themselves the same through both mechanisms, and that every
 * device works again.
 */
#include "hostile.h"

const char test_name[] = "hostile_pcicfg";

#define CFG_ADDR 0xcf8
#define CFG_DATA 0xcfc
#define NFUNC (HOSTILE_MAX_DEVS + 1)

static struct hdev devs[HOSTILE_MAX_DEVS];
static unsigned int ndev;
static unsigned int slots[NFUNC]; /* the present functions: the host bridge and the devices */
static unsigned int nslots;
static uint32_t saved[NFUNC][64];

static void snapshot(void)
{
	for (unsigned int f = 0; f < nslots; f++)
		for (unsigned int r = 0; r < 64; r++)
			saved[f][r] = pci_ecam_read32(0, slots[f], 0, r * 4);
}

/* Writes back what every function had (the BARs and command last, decoding off between). */
static void restore(void)
{
	for (unsigned int f = 0; f < nslots; f++) {
		pci_ecam_write32(0, slots[f], 0, 0x04, saved[f][1] & 0xffff & ~7u);
		for (unsigned int r = 0x0f; r < 64; r++)
			pci_ecam_write32(0, slots[f], 0, r * 4, saved[f][r]);
		for (unsigned int r = 4; r < 10; r++)
			pci_ecam_write32(0, slots[f], 0, r * 4, saved[f][r]);
		pci_ecam_write32(0, slots[f], 0, 0x0c, saved[f][3]);
		pci_ecam_write32(0, slots[f], 0, 0x04, saved[f][1] & 0xffff);
	}
}

/* Identity (vendor/device, class, header) the same as before, through both mechanisms. */
static void identities_same(const char *attack)
{
	for (unsigned int f = 0; f < nslots; f++) {
		unsigned int s = slots[f];

		for (unsigned int r = 0; r < 4; r += 2) {
			uint32_t e = pci_ecam_read32(0, s, 0, r * 4);
			uint32_t p = pci_cfg1_read32(0, s, 0, r * 4);

			if (e != saved[f][r] || p != saved[f][r])
				test_fail(20,
					  "after %s: 00:%02x.0 register 0x%x reads 0x%08x (ECAM) / "
					  "0x%08x (0xcf8), was 0x%08x",
					  attack, s, r * 4, e, p, saved[f][r]);
		}
	}
}

/* ---- 0xcf8/0xcfc, at CPL0: keep it short (ring 0 runs ~1 us per instruction here) ---- */

static void cf8_garbage(void)
{
	for (unsigned int n = 0; n < 3000; n++) {
		uint64_t r = hostile_rand();
		uint16_t port = (uint16_t)(CFG_DATA + (r & 3));

		switch ((r >> 2) & 7) {
		case 0: /* a random CONFIG_ADDRESS, enable bit or not */
			outl(CFG_ADDR, (uint32_t)(r >> 32));
			break;
		case 1: /* partial writes into CONFIG_ADDRESS */
			outb((uint16_t)(CFG_ADDR + ((r >> 8) & 3)), (uint8_t)(r >> 16));
			outw((uint16_t)(CFG_ADDR + ((r >> 8) & 2)), (uint16_t)(r >> 24));
			break;
		case 2:
			outb(port, (uint8_t)(r >> 24));
			break;
		case 3:
			outw((uint16_t)(port & ~1u), (uint16_t)(r >> 24));
			(void)inw((uint16_t)(port & ~1u));
			break;
		case 4:
			outl(CFG_DATA, (uint32_t)(r >> 24));
			(void)inl(CFG_DATA);
			break;
		case 5: /* straddling 0xcfb/0xcfc and 0xcff/0xd00 */
			outl(0xcfa, (uint32_t)(r >> 24));
			outw(0xcff, (uint16_t)(r >> 24));
			(void)inl(0xcfd);
			break;
		default:
			(void)inb(port);
			break;
		}
	}
}

/* Every register of a function, by byte, word and dword: garbage in, whatever out. */
static void cf8_function_garbage(unsigned int bus, unsigned int dev, unsigned int fn)
{
	for (unsigned int off = 0; off < 256; off += 4) {
		uint64_t r = hostile_rand();
		uint32_t a = 0x80000000u | bus << 16 | dev << 11 | fn << 8 | off;

		outl(CFG_ADDR, a);
		outb((uint16_t)(CFG_DATA + (r & 3)), (uint8_t)(r >> 8));
		outw((uint16_t)(CFG_DATA + (r & 2)), (uint16_t)(r >> 16));
		outl(CFG_DATA, (uint32_t)(r >> 32));
		(void)inl(CFG_DATA);
	}
}

/* ---- ECAM, at CPL3 ---- */

static uint64_t ecam_at(unsigned int bus, unsigned int dev, unsigned int fn, unsigned int off)
{
	return pci_ecam_base() + ((uint64_t)bus << 20 | dev << 15 | fn << 12 | off);
}

static void ecam_access(uint64_t a, uint64_t r)
{
	switch ((r >> 56) & 3) {
	case 0:
		mmio_write8(a, (uint8_t)r);
		(void)mmio_read8(a);
		break;
	case 1:
		mmio_write16(a, (uint16_t)r);
		(void)mmio_read16(a);
		break;
	case 2:
		mmio_write32(a, (uint32_t)r);
		(void)mmio_read32(a);
		break;
	default:
		*(volatile uint64_t *)a = r;
		(void)*(volatile uint64_t *)a;
		break;
	}
}

static uint64_t user_ecam_garbage(uint64_t arg)
{
	for (unsigned int f = 0; f < nslots; f++) {
		/* every dword of the 4 KiB, then random widths at random (unaligned) offsets */
		for (unsigned int off = 0; off < 4096; off += 4) {
			(void)mmio_read32(ecam_at(0, slots[f], 0, off));
			mmio_write32(ecam_at(0, slots[f], 0, off), (uint32_t)hostile_rand());
		}
		for (unsigned int n = 0; n < 500; n++) {
			uint64_t r = hostile_rand();

			ecam_access(ecam_at(0, slots[f], 0, (r >> 8) % 4089), hostile_rand());
		}
	}
	/* functions that do not exist: other function numbers, slots and buses */
	for (unsigned int n = 0; n < 1000; n++) {
		uint64_t r = hostile_rand();

		ecam_access(
		    ecam_at((r >> 8) & 0xff, (r >> 16) & 31, (r >> 21) & 7, (r >> 24) % 4089),
		    hostile_rand());
	}
	return 0;
}

int test_main(void)
{
	hostile_seed(0x5eed0005);
	ndev = hdev_find_every_kind(devs);
	slots[nslots++] = 0;
	for (unsigned int i = 0; i < ndev; i++)
		slots[nslots++] = devs[i].vd.dev;
	snapshot();

	attack_begin("config-address-and-data-port-garbage");
	cf8_garbage();
	restore();
	identities_same("0xcf8/0xcfc garbage");

	attack_begin("every-register-through-0xcf8");
	for (unsigned int f = 0; f < nslots; f++)
		cf8_function_garbage(0, slots[f], 0);
	cf8_function_garbage(0, 31, 7); /* absent */
	cf8_function_garbage(7, 3, 1);	/* a bus that does not exist */
	restore();
	identities_same("register garbage through 0xcf8");

	attack_begin("every-register-through-ecam");
	user_call(user_ecam_garbage, 0);
	restore();
	identities_same("ECAM garbage");

	for (unsigned int i = 0; i < ndev; i++)
		user_call(hdev_check_user, (uint64_t)&devs[i]);
	return 0;
}
