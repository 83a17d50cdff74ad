/* SPDX-License-Identifier: MIT */
/* ptvm-args: $HOSTILE_VIRTIO */
/*
 * hostile_msix: garbage in the MSI-X table and PBA of every virtio device: random values at
 * every width (1, 2, 4, 8 bytes, aligned or not) all over the table, its reserved control
 * bits, the read-only PBA and the rest of the MSI-X BAR past both, with MSI-X disabled, then
 * enabled under the function mask, while the capability's enable and mask bits are toggled at
 * random. Every vector is masked before anything may fire (a garbage message could be an INIT
 * to this very CPU). Afterwards the device must work, polled, and one vector programmed
 * properly must deliver its interrupt.
 */
#include "hostile.h"

const char test_name[] = "hostile_msix";

#define MSIX_ENABLE 0x8000
#define MSIX_MASKALL 0x4000
#define MSIX_BAR_SIZE 0x1000 /* ptvm's virtio MSI-X BAR: table at 0, PBA at 0x800 */
#define IRQ_VECTOR 41

static struct hdev devs[HOSTILE_MAX_DEVS];
static unsigned int ndev;

static void ctrl_write(struct hdev *d, uint16_t v)
{
	pci_cfg_write16(d->vd.bus, d->vd.dev, d->vd.fn, d->vd.msix_cap + 2, v);
}

/* One random write (and a read) somewhere in the MSI-X BAR. */
static void garbage_once(struct hdev *d)
{
	uint64_t r = hostile_rand(), base = d->vd.msix_table, off;
	unsigned int w = 1u << ((r >> 40) % 4);
	uint64_t v = hostile_rand();

	/* mostly the table, then the PBA, sometimes anywhere in the BAR */
	switch (r % 4) {
	case 0:
	case 1:
		off = (r >> 8) % (d->vd.msix_size * 16);
		break;
	case 2:
		off = 0x800 + (r >> 8) % 16;
		break;
	default:
		off = (r >> 8) % MSIX_BAR_SIZE;
		break;
	}
	if (off + w > MSIX_BAR_SIZE)
		off = MSIX_BAR_SIZE - w;
	switch (w) {
	case 1:
		mmio_write8(base + off, (uint8_t)v);
		(void)mmio_read8(base + off);
		break;
	case 2:
		mmio_write16(base + off, (uint16_t)v);
		(void)mmio_read16(base + off);
		break;
	case 4:
		mmio_write32(base + off, (uint32_t)v);
		(void)mmio_read32(base + off);
		break;
	default:
		*(volatile uint64_t *)(base + off) = v;
		(void)*(volatile uint64_t *)(base + off);
		break;
	}
}

/* Every entry masked: nothing garbage may be delivered. */
static void mask_all(struct hdev *d)
{
	for (unsigned int e = 0; e < d->vd.msix_size; e++)
		mmio_write32(d->vd.msix_table + e * 16 + 12, 1);
}

static uint64_t user_garbage(uint64_t i)
{
	struct hdev *d = &devs[i];

	if (!d->vd.msix_cap || !d->vd.msix_table)
		test_fail(20, "%s: no MSI-X capability", d->name);
	if (!hdev_up(d))
		test_fail(21, "%s: cannot bring it up", d->name);
	/* disabled: anything goes */
	ctrl_write(d, 0);
	for (unsigned int n = 0; n < 800; n++)
		garbage_once(d);
	/* enabled under the function mask, the enable and mask bits toggled now and then */
	ctrl_write(d, MSIX_ENABLE | MSIX_MASKALL);
	for (unsigned int n = 0; n < 800; n++) {
		garbage_once(d);
		if (n % 50 == 0)
			ctrl_write(d, (uint16_t)(hostile_rand() & ~0x3fffull) | MSIX_MASKALL |
					  (n % 100 ? MSIX_ENABLE : 0));
	}
	mask_all(d);
	ctrl_write(d, MSIX_ENABLE);
	/* the table size and the BIR/offset fields are read-only */
	if (mmio_read32(d->vd.msix_table + 12) != 1)
		test_fail(22, "%s: entry 0 is not masked after writing its mask bit", d->name);
	return 0;
}

static uint64_t user_polled_check(uint64_t i)
{
	hdev_check(&devs[i], "msix-garbage");
	return 0;
}

/* The serving queue on MSI-X vector 0 (programmed properly), one request with interrupts. */
static uint64_t user_irq_request(uint64_t i)
{
	struct hdev *d = &devs[i];
	unsigned int q = d->id == VIRTIO_ID_NET || d->id == VIRTIO_ID_CONSOLE ? 1 : 0;

	if (virtio_msix_route(&d->vd, 0, IRQ_VECTOR))
		test_fail(30, "%s: MSI-X vector 0 cannot be programmed after the garbage", d->name);
	if (virtio_init(&d->vd, 0))
		test_fail(31, "%s: does not initialise", d->name);
	for (unsigned int k = 0; k < d->nq; k++)
		if (virtio_queue_setup(&d->vd, k, 256, k == q ? 0 : VIRTIO_MSI_NO_VECTOR))
			test_fail(32, "%s: queue %u setup refused", d->name, k);
	if (virtio_driver_ok(&d->vd))
		test_fail(33, "%s: DRIVER_OK refused", d->name);
	for (unsigned int k = 0; k < d->nq; k++)
		virtq_interrupts(&d->vd.vq[k], k == q);
	if (!hdev_request(d))
		test_fail(34, "%s: no request completes with MSI-X on", d->name);
	return 0;
}

int test_main(void)
{
	hostile_seed(0x5eed0003);
	ndev = hdev_find_every_kind(devs);
	lapic_enable();
	for (unsigned int i = 0; i < ndev; i++) {
		uint32_t seen;

		attack_begin("msix-table-and-pba-garbage %s", devs[i].name);
		user_call(user_garbage, i);
		user_call(user_polled_check, i);
		/* what was pending from before, then exactly the one asked for */
		irq_wait(IRQ_VECTOR, irq_count(IRQ_VECTOR), 1000);
		seen = irq_count(IRQ_VECTOR);
		user_call(user_irq_request, i);
		if (!irq_wait(IRQ_VECTOR, seen, HOSTILE_TIMEOUT_US))
			test_fail(35, "%s: no MSI-X interrupt on vector %u after the garbage",
				  devs[i].name, IRQ_VECTOR);
		/* back to polling, MSI-X off, for the next device's garbage */
		pci_cfg_write16(devs[i].vd.bus, devs[i].vd.dev, devs[i].vd.fn,
				devs[i].vd.msix_cap + 2, 0);
	}
	return 0;
}
