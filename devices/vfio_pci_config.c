// SPDX-License-Identifier: MIT
/*
 * Passthrough config space: a snapshot of the device's, virtualized. Identity and the kept
 * capabilities are read-only copies; BARs are ptvm's (vfio_pci_bars.c); MSI and MSI-X are
 * emulated (vfio_pci_irq.c); the capability chain keeps only PM, MSI, MSI-X and
 * vendor-specific ones (everything else, and the whole extended space, is hidden); the
 * command register is ptvm's, and only its I/O, memory, bus-master and INTx-disable bits are
 * forwarded to the device.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "devices/vfio_pci_priv.h"
#include "iommu/vfio.h"
#include "vmm/machine.h"
#include "vmm/util.h"

#define VFIO_PCI_MAX_CAPS 48 /* a chain longer than 256 bytes of 4-byte caps is a loop */

/* Command bits that reach the device; the rest (parity, SERR, ...) stay emulated. */
#define VFIO_PCI_CMD_FORWARD                                                                       \
	(PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_INTX_DISABLE)

/*
 * Walks the device's capability list and rebuilds it: PM and vendor-specific capabilities
 * read-only, MSI and MSI-X emulated, everything else unlinked. A list that loops or points
 * into the header ends where it goes wrong.
 */
static int vfio_pci_caps_init(struct vfio_pci *dp, const uint8_t *raw)
{
	struct pci_device *pd = &dp->pci;
	uint8_t seen[PCI_CFG_SPACE_SIZE / 4] = { 0 };
	unsigned ptr = raw[PCI_CAPABILITY_LIST] & ~3U, prev = 0;
	int ret;

	pd->cfg[PCI_CAPABILITY_LIST] = 0;
	if (!(raw[PCI_STATUS] & PCI_STATUS_CAP_LIST))
		ptr = 0;
	for (unsigned n = 0; ptr && n < VFIO_PCI_MAX_CAPS; n++) {
		unsigned id, next;
		bool keep;

		if (ptr < PCI_STD_HEADER_SIZEOF || ptr > PCI_CFG_SPACE_SIZE - 4 || seen[ptr / 4]) {
			vp_debug(dp, "capability pointer 0x%x is bad or loops: list ends there",
				 ptr);
			break;
		}
		id = raw[ptr + PCI_CAP_LIST_ID];
		next = raw[ptr + PCI_CAP_LIST_NEXT] & ~3U;
		seen[ptr / 4] = 1;
		switch (id) {
		case PCI_CAP_ID_PM:
		case PCI_CAP_ID_VNDR:
			keep = true;
			vp_debug(dp, "capability 0x%02x at 0x%x: read-only copy", id, ptr);
			break;
		case PCI_CAP_ID_MSI:
			keep = vfio_pci_msi_init(dp, ptr, raw);
			break;
		case PCI_CAP_ID_MSIX:
			ret = vfio_pci_msix_init(dp, ptr, raw);
			if (ret < 0)
				return ret;
			keep = ret > 0;
			break;
		default:
			keep = false;
			vp_debug(dp, "capability 0x%02x at 0x%x hidden", id, ptr);
			break;
		}
		if (keep) {
			if (prev)
				pd->cfg[prev + PCI_CAP_LIST_NEXT] = (uint8_t)ptr;
			else
				pd->cfg[PCI_CAPABILITY_LIST] = (uint8_t)ptr;
			pd->cfg[ptr + PCI_CAP_LIST_NEXT] = 0;
			prev = ptr;
		} else {
			pd->cfg[ptr + PCI_CAP_LIST_ID] = 0;
			pd->cfg[ptr + PCI_CAP_LIST_NEXT] = 0;
		}
		ptr = next;
	}
	if (pd->cfg[PCI_CAPABILITY_LIST])
		pd->cfg[PCI_STATUS] |= PCI_STATUS_CAP_LIST;
	else
		pd->cfg[PCI_STATUS] &= (uint8_t)~PCI_STATUS_CAP_LIST;
	return 0;
}

int vfio_pci_config_init(struct vfio_pci *dp)
{
	uint8_t raw[PCI_CFG_SPACE_SIZE] = { 0 };
	struct vfio_region *cr = &dp->config.region;
	uint16_t vendor, device;
	uint32_t class_rev;
	int ret;

	ret = vfio_device_region_info(dp->vdev, VFIO_PCI_CONFIG_REGION_INDEX, cr);
	if (ret)
		return ret;
	if (cr->size < PCI_STD_HEADER_SIZEOF) {
		vp_err(dp, "config region of %llu bytes is too small",
		       (unsigned long long)cr->size);
		return -EINVAL;
	}
	/* the extended space (>= 0x100) is hidden: the guest sees a conventional function */
	ret = vfio_device_region_read(dp->vdev, cr, 0, raw, MIN(cr->size, (uint64_t)sizeof(raw)));
	if (ret) {
		vp_err(dp, "cannot read config space: %s", strerror(-ret));
		return ret;
	}
	memcpy(&vendor, &raw[PCI_VENDOR_ID], 2);
	memcpy(&device, &raw[PCI_DEVICE_ID], 2);
	memcpy(&class_rev, &raw[PCI_CLASS_REVISION], 4);
	if (vendor == 0xffff || vendor == 0) {
		vp_err(dp, "config space reads vendor 0x%04x: device gone or powered off", vendor);
		return -EIO;
	}
	if ((raw[PCI_HEADER_TYPE] & PCI_HEADER_TYPE_MASK) != PCI_HEADER_TYPE_NORMAL) {
		vp_err(dp, "header type 0x%02x: only endpoints (type 0) can be passed through",
		       raw[PCI_HEADER_TYPE]);
		return -EINVAL;
	}
	pci_device_init(&dp->pci, dp->name, vendor, device, class_rev >> 8, &vfio_pci_ops);
	/* read-only copies of the identity and of the capabilities' bytes */
	dp->pci.cfg[PCI_REVISION_ID] = raw[PCI_REVISION_ID];
	memcpy(&dp->pci.cfg[PCI_SUBSYSTEM_VENDOR_ID], &raw[PCI_SUBSYSTEM_VENDOR_ID], 4);
	dp->pci.cfg[PCI_MIN_GNT] = raw[PCI_MIN_GNT];
	dp->pci.cfg[PCI_MAX_LAT] = raw[PCI_MAX_LAT];
	memcpy(&dp->pci.cfg[PCI_STD_HEADER_SIZEOF], &raw[PCI_STD_HEADER_SIZEOF],
	       PCI_CFG_SPACE_SIZE - PCI_STD_HEADER_SIZEOF);
	dp->pci.cfg[PCI_STATUS] = raw[PCI_STATUS] & (PCI_STATUS_66MHZ | PCI_STATUS_FAST_BACK);
	dp->pci.cfg[PCI_STATUS + 1] = raw[PCI_STATUS + 1] & (PCI_STATUS_DEVSEL_MASK >> 8);
	vp_debug(dp, "multifunction bit, BIST, cardbus CIS and extended config space hidden");

	vfio_pci_irqs_probe(dp, raw[PCI_INTERRUPT_PIN]);
	ret = vfio_pci_bars_init(dp, raw);
	if (ret)
		return ret;
	ret = vfio_pci_caps_init(dp, raw);
	if (ret)
		return ret;
	vfio_pci_rom_init(dp);
	/* which parts of a BAR can be mmap'd is known once the device is open */
	if (!dp->open.deferred)
		vfio_pci_bars_mmap(dp);
	return 0;
}

/*
 * The read-only copies of PM and vendor-specific capabilities, again from raw (the device's
 * config through VFIO, once open). Before its open vfio-pci keeps an idle device in D3hot, so
 * sysfs showed that power state in PM's control register; a guest that saw it would find its
 * device unusable (Linux refuses MSI-X to a function not in D0).
 */
static void vfio_pci_caps_refresh(struct vfio_pci *dp, const uint8_t *raw)
{
	uint8_t *cfg = dp->pci.cfg;
	unsigned ptr = cfg[PCI_CAPABILITY_LIST];

	for (unsigned n = 0; ptr && n < VFIO_PCI_MAX_CAPS; n++) {
		unsigned len = 0;

		if (ptr < PCI_STD_HEADER_SIZEOF || ptr > PCI_CFG_SPACE_SIZE - 4)
			break;
		if (cfg[ptr] == PCI_CAP_ID_PM)
			len = PCI_PM_SIZEOF;
		else if (cfg[ptr] == PCI_CAP_ID_VNDR)
			len = raw[ptr + 2];
		len = MIN(len, PCI_CFG_SPACE_SIZE - ptr);
		/* the list's own bytes (ID, the guest's next pointer) stay ptvm's */
		if (len > 2 && raw[ptr] == cfg[ptr])
			memcpy(&cfg[ptr + 2], &raw[ptr + 2], len - 2);
		ptr = cfg[ptr + PCI_CAP_LIST_NEXT];
	}
}

int vfio_pci_config_attach(struct vfio_pci *dp)
{
	struct vfio_region *cr = &dp->config.region;
	uint8_t raw[PCI_CFG_SPACE_SIZE] = { 0 };
	uint16_t ids[2];
	int ret;

	ret = vfio_device_region_info(dp->vdev, VFIO_PCI_CONFIG_REGION_INDEX, cr);
	if (ret)
		return ret;
	ret = vfio_device_region_read(dp->vdev, cr, 0, raw, MIN(cr->size, (uint64_t)sizeof(raw)));
	if (ret) {
		vp_err(dp, "cannot read config space: %s", strerror(-ret));
		return ret;
	}
	memcpy(ids, raw, sizeof(ids));
	if (ids[0] != pci_config_get(&dp->pci, PCI_VENDOR_ID, 2) ||
	    ids[1] != pci_config_get(&dp->pci, PCI_DEVICE_ID, 2)) {
		vp_err(dp,
		       "VFIO shows %04x:%04x, sysfs showed %04x:%04x: the device changed under "
		       "ptvm",
		       ids[0], ids[1], pci_config_get(&dp->pci, PCI_VENDOR_ID, 2),
		       pci_config_get(&dp->pci, PCI_DEVICE_ID, 2));
		return -EIO;
	}
	vfio_pci_caps_refresh(dp, raw);
	ret = vfio_pci_bars_attach(dp);
	if (!ret)
		ret = vfio_pci_irqs_attach(dp);
	if (ret)
		return ret;
	vfio_pci_bars_mmap(dp);
	return 0;
}

void vfio_pci_config_read(struct pci_device *pdev, unsigned offset, void *data, unsigned len)
{
	struct vfio_pci *dp = to_vfio_pci(pdev);
	uint16_t st;

	if (!vfio_pci_wait_open(dp))
		return;
	/* the one live bit: whether the device asserts INTx right now */
	if (!ranges_overlap(offset, len, PCI_STATUS, 1))
		return;
	if (vfio_device_region_read(dp->vdev, &dp->config.region, PCI_STATUS, &st, sizeof(st)))
		return;
	dp->pci.cfg[PCI_STATUS] = (uint8_t)((dp->pci.cfg[PCI_STATUS] & ~PCI_STATUS_INTERRUPT) |
					    (st & PCI_STATUS_INTERRUPT));
}

static double vfio_pci_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * The bus-master hold (DESIGN.md "DMA mapping off the start-up path"): guest RAM may still be
 * being mapped for DMA in the background when the guest first lets the device master the bus.
 * The vCPU that writes the bit waits here until every mapping of the device's container is in
 * place, so the device never sees an unmapped IOVA. False when the device must not get bus
 * mastering (a mapping failed, or the VM is ending).
 */
static bool vfio_pci_dma_gate(struct vfio_pci *dp)
{
	double t0 = vfio_pci_now(), waited;
	int ret;

	if (!dp->vfio)
		return true;
	while ((ret = vfio_device_dma_begin(dp->vfio, dp->vdev, 0.1)) == -ETIMEDOUT) {
		if (vm_is_exiting(dp->vm))
			break;
	}
	if (ret) {
		vfio_device_dma_end(dp->vfio, dp->vdev);
		if (ret != -ETIMEDOUT)
			vp_err_rl(dp,
				  "bus master left off: guest RAM could not be mapped for its DMA "
				  "(%s)",
				  strerror(-ret));
		return false;
	}
	waited = vfio_pci_now() - t0;
	dp->config.bm_waits++;
	dp->config.bm_wait_seconds += waited;
	vp_info_rl(dp, "bus master on: the guest waited %.1f ms for the DMA mappings",
		   waited * 1e3);
	return true;
}

static void vfio_pci_command_forward(struct vfio_pci *dp)
{
	uint16_t want = (uint16_t)pci_config_get(&dp->pci, PCI_COMMAND, 2) & VFIO_PCI_CMD_FORWARD;
	uint16_t cur, next;

	if (vfio_device_region_read(dp->vdev, &dp->config.region, PCI_COMMAND, &cur, sizeof(cur)))
		return;
	if ((want & PCI_COMMAND_MASTER) && !(cur & PCI_COMMAND_MASTER) && !vfio_pci_dma_gate(dp))
		want &= (uint16_t)~PCI_COMMAND_MASTER;
	next = (uint16_t)((cur & ~VFIO_PCI_CMD_FORWARD) | want);
	if (next == cur)
		return;
	vp_debug(dp, "command 0x%04x -> 0x%04x forwarded to the device", cur, next);
	vfio_device_region_write(dp->vdev, &dp->config.region, PCI_COMMAND, &next, sizeof(next));
	if ((cur & PCI_COMMAND_MASTER) && !(next & PCI_COMMAND_MASTER) && dp->vfio)
		vfio_device_dma_end(dp->vfio, dp->vdev);
}

/* pci.c applied the write masks to the emulated bytes; act on what the guest changed. */
void vfio_pci_config_write(struct pci_device *pdev, unsigned offset, const void *data, unsigned len)
{
	struct vfio_pci *dp = to_vfio_pci(pdev);

	if (!vfio_pci_wait_open(dp))
		return;
	if (ranges_overlap(offset, len, PCI_COMMAND, 2))
		vfio_pci_command_forward(dp);
	vfio_pci_irqs_config_write(dp, offset, len);
	if (ranges_overlap(offset, len, PCI_ROM_ADDRESS, 4) ||
	    ranges_overlap(offset, len, PCI_COMMAND, 2))
		vfio_pci_rom_update(dp);
}
