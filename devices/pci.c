// SPDX-License-Identifier: MIT
#include "devices/pci.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/log.h"
#include "vmm/machine.h"
#include "vmm/util.h"

#define PCI_HOST_BRIDGE_VENDOR 0x1b36 /* Red Hat, Inc.: QEMU's generic PCIe host bridge IDs */
#define PCI_HOST_BRIDGE_DEVICE 0x0008

struct pci_bus {
	struct vm *vm;
	pthread_mutex_t lock;
	struct pci_device *slots[PCI_MAX_SLOTS];
	struct pci_device host_bridge;
	uint32_t config_address; /* the 0xcf8 register */
	struct bus_dev cf8, cfc, ecam;
	struct pci_bus_windows win;
	uint64_t next_mmio32, next_mmio64, next_io;
};

uint32_t pci_config_get(const struct pci_device *dev, unsigned offset, unsigned len)
{
	uint32_t v = 0;

	memcpy(&v, &dev->cfg[offset], len);
	return v;
}

void pci_config_set(struct pci_device *dev, unsigned offset, uint32_t val, unsigned len)
{
	memcpy(&dev->cfg[offset], &val, len);
}

static void pci_mask_set(uint8_t *mask, unsigned offset, uint32_t val, unsigned len)
{
	memcpy(&mask[offset], &val, len);
}

void pci_device_init(struct pci_device *dev, const char *name, uint16_t vendor, uint16_t device,
		     uint32_t class_code, const struct pci_device_ops *ops)
{
	memset(dev->cfg, 0, sizeof(dev->cfg));
	memset(dev->wmask, 0, sizeof(dev->wmask));
	memset(dev->w1cmask, 0, sizeof(dev->w1cmask));
	memset(dev->bars, 0, sizeof(dev->bars));
	dev->name = name;
	dev->ops = ops;
	dev->last_cap = 0;
	dev->cap_end = 0;
	pci_config_set(dev, PCI_VENDOR_ID, vendor, 2);
	pci_config_set(dev, PCI_DEVICE_ID, device, 2);
	/* class code in the upper 24 bits, revision 0 */
	pci_config_set(dev, PCI_CLASS_REVISION, class_code << 8, 4);
	dev->cfg[PCI_HEADER_TYPE] = PCI_HEADER_TYPE_NORMAL;
	pci_mask_set(dev->wmask, PCI_COMMAND,
		     PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_PARITY |
			 PCI_COMMAND_SERR | PCI_COMMAND_INTX_DISABLE,
		     2);
	pci_mask_set(dev->w1cmask, PCI_STATUS,
		     PCI_STATUS_PARITY | PCI_STATUS_SIG_TARGET_ABORT | PCI_STATUS_REC_TARGET_ABORT |
			 PCI_STATUS_REC_MASTER_ABORT | PCI_STATUS_SIG_SYSTEM_ERROR |
			 PCI_STATUS_DETECTED_PARITY,
		     2);
	dev->wmask[PCI_CACHE_LINE_SIZE] = 0xff;
	dev->wmask[PCI_LATENCY_TIMER] = 0xff;
	dev->wmask[PCI_INTERRUPT_LINE] = 0xff;
	for (unsigned i = 0; i < PCI_NUM_BARS; i++) {
		dev->bars[i].dev = dev;
		dev->bars[i].index = i;
	}
}

int pci_device_set_bar(struct pci_device *dev, unsigned bar, enum pci_bar_type type, uint64_t size,
		       bool prefetch)
{
	unsigned off = PCI_BASE_ADDRESS_0 + 4 * bar;
	uint32_t flags;
	uint64_t mask;

	if (bar >= PCI_NUM_BARS || (type == PCI_BAR_MEM64 && bar == PCI_NUM_BARS - 1) ||
	    size & (size - 1) || size < (type == PCI_BAR_IO ? 4 : 16) ||
	    (type == PCI_BAR_IO && size > 0x10000) || (type == PCI_BAR_MEM32 && size > SZ_1G)) {
		pr_err("pci %s: BAR%u of size 0x%llx is not a valid BAR", dev->name, bar,
		       (unsigned long long)size);
		return -EINVAL;
	}
	dev->bars[bar].type = type;
	dev->bars[bar].size = size;
	dev->bars[bar].prefetch = prefetch;
	mask = ~(size - 1);
	switch (type) {
	case PCI_BAR_IO:
		flags = PCI_BASE_ADDRESS_SPACE_IO;
		break;
	case PCI_BAR_MEM64:
		flags = PCI_BASE_ADDRESS_MEM_TYPE_64;
		break;
	default:
		flags = PCI_BASE_ADDRESS_MEM_TYPE_32;
		break;
	}
	if (prefetch && type != PCI_BAR_IO)
		flags |= PCI_BASE_ADDRESS_MEM_PREFETCH;
	pci_config_set(dev, off, flags, 4);
	pci_mask_set(dev->wmask, off, (uint32_t)mask & (type == PCI_BAR_IO ? ~3U : ~15U), 4);
	if (type == PCI_BAR_MEM64)
		pci_mask_set(dev->wmask, off + 4, (uint32_t)(mask >> 32), 4);
	if (type == PCI_BAR_IO)
		dev->wmask[PCI_COMMAND] |= PCI_COMMAND_IO;
	return 0;
}

int pci_device_add_capability(struct pci_device *dev, uint8_t id, unsigned len)
{
	unsigned off = ALIGN_UP(dev->cap_end ? dev->cap_end : 0x40U, 4);

	if (len < 2 || off + len > PCI_CFG_SPACE_SIZE)
		return -ENOSPC;
	dev->cfg[off + PCI_CAP_LIST_ID] = id;
	dev->cfg[off + PCI_CAP_LIST_NEXT] = 0;
	if (dev->last_cap)
		dev->cfg[dev->last_cap + PCI_CAP_LIST_NEXT] = (uint8_t)off;
	else
		dev->cfg[PCI_CAPABILITY_LIST] = (uint8_t)off;
	dev->cfg[PCI_STATUS] |= PCI_STATUS_CAP_LIST;
	dev->last_cap = (uint8_t)off;
	dev->cap_end = (uint16_t)(off + len);
	return (int)off;
}

void pci_device_set_intx_pin(struct pci_device *dev, unsigned pin)
{
	dev->cfg[PCI_INTERRUPT_PIN] = (uint8_t)pin;
	dev->cfg[PCI_INTERRUPT_LINE] = (uint8_t)pci_device_intx_gsi(dev);
}

unsigned pci_windows_intx_line(const struct pci_bus_windows *win, unsigned slot, unsigned pin)
{
	/* must match the firmware's routing (x86: the DSDT's _PRT; arm64: the device tree's
	 * interrupt-map, which is built from this): pin is 1-based here, 0-based (INTA = 0) in
	 * the _PRT; the count is a power of two */
	return win->intx_line_base + ((slot + pin - 1) & (win->intx_line_count - 1));
}

unsigned pci_device_intx_gsi(const struct pci_device *dev)
{
	if (!dev->bus || !dev->bus->win.intx_line_count)
		return 0; /* not plugged yet: pci_bus_add_device sets the line */
	return pci_windows_intx_line(&dev->bus->win, PCI_SLOT(dev->devfn),
				     dev->cfg[PCI_INTERRUPT_PIN]);
}

/* ---- BAR decoding ---- */

static uint64_t pci_bar_config_addr(const struct pci_device *dev, unsigned bar)
{
	unsigned off = PCI_BASE_ADDRESS_0 + 4 * bar;
	uint64_t addr = pci_config_get(dev, off, 4);

	if (dev->bars[bar].type == PCI_BAR_IO)
		return addr & PCI_BASE_ADDRESS_IO_MASK;
	addr &= PCI_BASE_ADDRESS_MEM_MASK;
	if (dev->bars[bar].type == PCI_BAR_MEM64)
		addr |= (uint64_t)pci_config_get(dev, off + 4, 4) << 32;
	return addr;
}

static void pci_bar_trap_read(struct bus_dev *bd, uint64_t offset, void *data, unsigned len)
{
	struct pci_bar *b = container_of(bd, struct pci_bar, trap);

	if (b->dev->ops && b->dev->ops->bar_read)
		b->dev->ops->bar_read(b->dev, b->index, offset, data, len);
	else
		memset(data, 0xff, len);
}

static void pci_bar_trap_write(struct bus_dev *bd, uint64_t offset, const void *data, unsigned len)
{
	struct pci_bar *b = container_of(bd, struct pci_bar, trap);

	if (b->dev->ops && b->dev->ops->bar_write)
		b->dev->ops->bar_write(b->dev, b->index, offset, data, len);
}

static const struct bus_dev_ops pci_bar_trap_ops = {
	.read = pci_bar_trap_read,
	.write = pci_bar_trap_write,
};

int pci_device_bar_trap(struct pci_device *dev, unsigned bar, uint64_t addr, bool map)
{
	struct pci_bar *b = &dev->bars[bar];
	struct vm *vm = dev->bus ? dev->bus->vm : NULL;

	if (!vm)
		return 0;
	if (!map) {
		if (b->type == PCI_BAR_IO)
			vm_unregister_pio(vm, &b->trap);
		else
			vm_unregister_mmio(vm, &b->trap);
		return 0;
	}
	/* ops and name are written once, before the first registration: bus_access calls ops
	 * after it dropped the bus lock, so a vCPU may still be dispatching to this trap while
	 * another vCPU moves the BAR */
	if (!b->trap.ops) {
		b->trap.ops = &pci_bar_trap_ops;
		b->trap.name = dev->name;
	}
	b->trap.base = addr;
	b->trap.len = b->size;
	return b->type == PCI_BAR_IO ? vm_register_pio(vm, &b->trap)
				     : vm_register_mmio(vm, &b->trap);
}

static void pci_bar_unmap(struct pci_bus *bus, struct pci_bar *b)
{
	struct pci_device *dev = b->dev;

	if (!b->mapped)
		return;
	if (dev->ops && dev->ops->bar_map)
		dev->ops->bar_map(dev, b->index, b->addr, false);
	else
		pci_device_bar_trap(dev, b->index, b->addr, false);
	pr_debug("pci %02x.%x %s: BAR%u unmapped from 0x%llx", PCI_SLOT(dev->devfn),
		 PCI_FUNC(dev->devfn), dev->name, b->index, (unsigned long long)b->addr);
	b->mapped = false;
}

static void pci_bar_map(struct pci_bus *bus, struct pci_bar *b, uint64_t addr)
{
	struct pci_device *dev = b->dev;
	int ret;

	/* An address the guest left at 0 or that wraps is "not placed": Linux sizes BARs
	 * with decoding off, but a hostile guest need not. */
	if (!addr || addr + b->size < addr || (b->type == PCI_BAR_IO && addr + b->size > 0x10000) ||
	    (b->type == PCI_BAR_MEM32 && addr + b->size > (1ULL << 32)))
		return;
	b->addr = addr;
	if (dev->ops && dev->ops->bar_map)
		ret = dev->ops->bar_map(dev, b->index, addr, true);
	else
		ret = pci_device_bar_trap(dev, b->index, addr, true);
	if (ret) {
		pr_debug("pci %02x.%x %s: BAR%u at 0x%llx cannot be decoded there, left unmapped",
			 PCI_SLOT(dev->devfn), PCI_FUNC(dev->devfn), dev->name, b->index,
			 (unsigned long long)addr);
		return;
	}
	b->mapped = true;
	pr_debug("pci %02x.%x %s: BAR%u mapped at 0x%llx size 0x%llx", PCI_SLOT(dev->devfn),
		 PCI_FUNC(dev->devfn), dev->name, b->index, (unsigned long long)addr,
		 (unsigned long long)b->size);
}

/* Brings every BAR's decoding in line with the command register and BAR values. */
static void pci_device_update_bars(struct pci_bus *bus, struct pci_device *dev)
{
	uint16_t cmd = (uint16_t)pci_config_get(dev, PCI_COMMAND, 2);

	for (unsigned i = 0; i < PCI_NUM_BARS; i++) {
		struct pci_bar *b = &dev->bars[i];
		bool enabled;
		uint64_t addr;

		if (b->type == PCI_BAR_NONE)
			continue;
		enabled =
		    b->type == PCI_BAR_IO ? (cmd & PCI_COMMAND_IO) : (cmd & PCI_COMMAND_MEMORY);
		addr = pci_bar_config_addr(dev, i);
		if (b->mapped && (!enabled || addr != b->addr))
			pci_bar_unmap(bus, b);
		if (!b->mapped && enabled)
			pci_bar_map(bus, b, addr);
	}
}

/* ---- config access ---- */

static bool pci_config_access_ok(unsigned offset, unsigned len)
{
	return (len == 1 || len == 2 || len == 4) && offset < PCI_CFG_SPACE_EXP_SIZE &&
	       len <= PCI_CFG_SPACE_EXP_SIZE - offset && (offset & (len - 1)) == 0;
}

struct pci_device *pci_bus_get_device(struct pci_bus *bus, uint8_t devfn)
{
	/* one function per slot */
	if (PCI_FUNC(devfn))
		return NULL;
	return bus->slots[PCI_SLOT(devfn)];
}

void pci_bus_config_read(struct pci_bus *bus, uint8_t busnr, uint8_t devfn, unsigned offset,
			 void *data, unsigned len)
{
	struct pci_device *dev;

	memset(data, 0xff, len);
	if (!pci_config_access_ok(offset, len))
		return;
	pthread_mutex_lock(&bus->lock);
	dev = busnr == 0 ? pci_bus_get_device(bus, devfn) : NULL;
	if (dev) {
		if (dev->ops && dev->ops->config_read)
			dev->ops->config_read(dev, offset, &dev->cfg[offset], len);
		memcpy(data, &dev->cfg[offset], len);
	}
	pthread_mutex_unlock(&bus->lock);
}

void pci_bus_config_write(struct pci_bus *bus, uint8_t busnr, uint8_t devfn, unsigned offset,
			  const void *data, unsigned len)
{
	struct pci_device *dev;
	const uint8_t *src = data;
	bool bars_touched;

	if (!pci_config_access_ok(offset, len))
		return;
	pthread_mutex_lock(&bus->lock);
	dev = busnr == 0 ? pci_bus_get_device(bus, devfn) : NULL;
	if (!dev)
		goto out_unlock;
	for (unsigned i = 0; i < len; i++) {
		unsigned o = offset + i;
		uint8_t wm = dev->wmask[o], w1c = dev->w1cmask[o];

		dev->cfg[o] = (uint8_t)((dev->cfg[o] & ~wm) | (src[i] & wm));
		dev->cfg[o] &= (uint8_t) ~(src[i] & w1c);
	}
	bars_touched = ranges_overlap(offset, len, PCI_COMMAND, 2) ||
		       ranges_overlap(offset, len, PCI_BASE_ADDRESS_0, 4 * PCI_NUM_BARS);
	if (dev->ops && dev->ops->config_write)
		dev->ops->config_write(dev, offset, data, len);
	if (bars_touched)
		pci_device_update_bars(bus, dev);
out_unlock:
	pthread_mutex_unlock(&bus->lock);
}

/* 0xcf8: CONFIG_ADDRESS, enable bit 31, bus 23:16, devfn 15:8, register 7:2 (and the
 * extended register bits 27:24 that AMD and QEMU decode) */
static void pci_cf8_read(struct bus_dev *bd, uint64_t off, void *data, unsigned len)
{
	struct pci_bus *bus = container_of(bd, struct pci_bus, cf8);
	uint32_t v;

	pthread_mutex_lock(&bus->lock);
	v = bus->config_address;
	pthread_mutex_unlock(&bus->lock);
	memset(data, 0, len);
	memcpy(data, (uint8_t *)&v + off, MIN(len, 4 - (unsigned)off));
}

static void pci_cf8_write(struct bus_dev *bd, uint64_t off, const void *data, unsigned len)
{
	struct pci_bus *bus = container_of(bd, struct pci_bus, cf8);

	/* only a full dword write sets the address; byte writes to 0xcf8-0xcfb are other
	 * legacy mechanisms that ptvm does not have */
	if (off != 0 || len != 4)
		return;
	pthread_mutex_lock(&bus->lock);
	memcpy(&bus->config_address, data, 4);
	pthread_mutex_unlock(&bus->lock);
}

static bool pci_cf8_decode(struct pci_bus *bus, uint64_t off, uint8_t *busnr, uint8_t *devfn,
			   unsigned *reg)
{
	uint32_t a;

	pthread_mutex_lock(&bus->lock);
	a = bus->config_address;
	pthread_mutex_unlock(&bus->lock);
	if (!(a & 0x80000000U))
		return false;
	*busnr = (uint8_t)(a >> 16);
	*devfn = (uint8_t)(a >> 8);
	*reg = ((a & 0xfc) | ((a >> 16) & 0xf00)) + (unsigned)off;
	return true;
}

static void pci_cfc_read(struct bus_dev *bd, uint64_t off, void *data, unsigned len)
{
	struct pci_bus *bus = container_of(bd, struct pci_bus, cfc);
	uint8_t busnr, devfn;
	unsigned reg;

	if (!pci_cf8_decode(bus, off, &busnr, &devfn, &reg)) {
		memset(data, 0xff, len);
		return;
	}
	pci_bus_config_read(bus, busnr, devfn, reg, data, len);
}

static void pci_cfc_write(struct bus_dev *bd, uint64_t off, const void *data, unsigned len)
{
	struct pci_bus *bus = container_of(bd, struct pci_bus, cfc);
	uint8_t busnr, devfn;
	unsigned reg;

	if (pci_cf8_decode(bus, off, &busnr, &devfn, &reg))
		pci_bus_config_write(bus, busnr, devfn, reg, data, len);
}

static void pci_ecam_read(struct bus_dev *bd, uint64_t off, void *data, unsigned len)
{
	struct pci_bus *bus = container_of(bd, struct pci_bus, ecam);

	pci_bus_config_read(bus, (uint8_t)(off >> 20), (uint8_t)(off >> 12), off & 0xfff, data,
			    len);
}

static void pci_ecam_write(struct bus_dev *bd, uint64_t off, const void *data, unsigned len)
{
	struct pci_bus *bus = container_of(bd, struct pci_bus, ecam);

	pci_bus_config_write(bus, (uint8_t)(off >> 20), (uint8_t)(off >> 12), off & 0xfff, data,
			     len);
}

static const struct bus_dev_ops pci_cf8_ops = { .read = pci_cf8_read, .write = pci_cf8_write };
static const struct bus_dev_ops pci_cfc_ops = { .read = pci_cfc_read, .write = pci_cfc_write };
static const struct bus_dev_ops pci_ecam_ops = { .read = pci_ecam_read, .write = pci_ecam_write };

/* ---- bus ---- */

static int pci_bus_place_bars(struct pci_bus *bus, struct pci_device *dev)
{
	/* allocate on copies: a device that does not fit takes no window space */
	uint64_t next_io = bus->next_io, next_mmio32 = bus->next_mmio32,
		 next_mmio64 = bus->next_mmio64;
	uint64_t addrs[PCI_NUM_BARS] = { 0 };

	for (unsigned i = 0; i < PCI_NUM_BARS; i++) {
		struct pci_bar *b = &dev->bars[i];
		uint64_t *next, start, end, addr;
		const char *win;

		switch (b->type) {
		case PCI_BAR_NONE:
			continue;
		case PCI_BAR_IO:
			next = &next_io;
			start = bus->win.io_start;
			end = bus->win.io_start + bus->win.io_size;
			win = "I/O port";
			break;
		case PCI_BAR_MEM64:
			/* large or prefetchable 64-bit BARs go high; small ones fit below 4G */
			if (bus->win.mmio64_size && (b->prefetch || b->size >= 256 * SZ_1M)) {
				next = &next_mmio64;
				start = bus->win.mmio64_start;
				end = bus->win.mmio64_start + bus->win.mmio64_size;
				win = "64-bit";
				break;
			}
			/* fall through */
		default:
			next = &next_mmio32;
			start = bus->win.mmio32_start;
			end = bus->win.mmio32_start + bus->win.mmio32_size;
			win = "32-bit";
			break;
		}
		addr = ALIGN_UP(*next, MAX(b->size, b->type == PCI_BAR_IO ? 4 : SZ_4K));
		if (addr + b->size > end || addr + b->size < addr) {
			if (b->size > end - start)
				pr_err(
				    "pci %s: BAR%u of 0x%llx bytes is larger than the whole %s PCI "
				    "window [0x%llx-0x%llx] (0x%llx bytes): this device cannot be "
				    "passed through",
				    dev->name, i, (unsigned long long)b->size, win,
				    (unsigned long long)start, (unsigned long long)end - 1,
				    (unsigned long long)(end - start));
			else
				pr_err(
				    "pci %s: BAR%u of 0x%llx bytes does not fit the %s PCI window "
				    "[0x%llx-0x%llx]: the devices before it take 0x%llx bytes of "
				    "it; give this device first (--device order) or pass fewer "
				    "devices",
				    dev->name, i, (unsigned long long)b->size, win,
				    (unsigned long long)start, (unsigned long long)end - 1,
				    (unsigned long long)(*next - start));
			return -ENOSPC;
		}
		*next = addr + b->size;
		addrs[i] = addr;
		if (b->type == PCI_BAR_MEM64)
			i++; /* the upper half is not a BAR of its own */
	}
	for (unsigned i = 0; i < PCI_NUM_BARS; i++) {
		unsigned off = PCI_BASE_ADDRESS_0 + 4 * i;

		if (!addrs[i])
			continue;
		pci_config_set(dev, off, pci_config_get(dev, off, 4) | (uint32_t)addrs[i], 4);
		if (dev->bars[i].type == PCI_BAR_MEM64)
			pci_config_set(dev, off + 4, (uint32_t)(addrs[i] >> 32), 4);
	}
	bus->next_io = next_io;
	bus->next_mmio32 = next_mmio32;
	bus->next_mmio64 = next_mmio64;
	return 0;
}

int pci_bus_add_device(struct pci_bus *bus, struct pci_device *dev, int slot)
{
	int ret;

	pthread_mutex_lock(&bus->lock);
	if (slot < 0) {
		for (slot = 1; slot < PCI_MAX_SLOTS && bus->slots[slot]; slot++)
			;
	}
	if (slot >= PCI_MAX_SLOTS || bus->slots[slot]) {
		pr_err("pci %s: no free slot on bus 0", dev->name);
		ret = -ENOSPC;
		goto out_unlock;
	}
	dev->bus = bus;
	dev->devfn = (uint8_t)PCI_DEVFN(slot, 0);
	ret = pci_bus_place_bars(bus, dev);
	if (ret)
		goto out_unlock;
	if (dev->cfg[PCI_INTERRUPT_PIN])
		dev->cfg[PCI_INTERRUPT_LINE] = (uint8_t)pci_device_intx_gsi(dev);
	bus->slots[slot] = dev;
	pr_info("pci 00:%02x.0 %s: %04x:%04x class %06x", slot, dev->name,
		pci_config_get(dev, PCI_VENDOR_ID, 2), pci_config_get(dev, PCI_DEVICE_ID, 2),
		pci_config_get(dev, PCI_CLASS_REVISION, 4) >> 8);
out_unlock:
	pthread_mutex_unlock(&bus->lock);
	return ret;
}

void pci_bus_remove_device(struct pci_bus *bus, struct pci_device *dev)
{
	pthread_mutex_lock(&bus->lock);
	for (unsigned i = 0; i < PCI_NUM_BARS; i++)
		pci_bar_unmap(bus, &dev->bars[i]);
	if (bus->slots[PCI_SLOT(dev->devfn)] == dev)
		bus->slots[PCI_SLOT(dev->devfn)] = NULL;
	pthread_mutex_unlock(&bus->lock);
}

int pci_bus_create(struct vm *vm, const struct pci_bus_windows *win, struct pci_bus **out)
{
	struct pci_bus *bus = calloc(1, sizeof(*bus));
	int ret;

	if (!bus)
		return -ENOMEM;
	pthread_mutex_init(&bus->lock, NULL);
	bus->vm = vm;
	bus->win = *win;
	bus->next_mmio32 = win->mmio32_start;
	bus->next_mmio64 = win->mmio64_start;
	bus->next_io = win->io_start;
	pci_device_init(&bus->host_bridge, "host-bridge", PCI_HOST_BRIDGE_VENDOR,
			PCI_HOST_BRIDGE_DEVICE, PCI_CLASS_BRIDGE_HOST << 8, NULL);
	bus->host_bridge.bus = bus;
	bus->slots[0] = &bus->host_bridge;

	bus->cf8 = (struct bus_dev){
		.base = PCI_CONFIG_ADDR_PORT, .len = 4, .ops = &pci_cf8_ops, .name = "pci-cf8"
	};
	bus->cfc = (struct bus_dev){
		.base = PCI_CONFIG_DATA_PORT, .len = 4, .ops = &pci_cfc_ops, .name = "pci-cfc"
	};
	bus->ecam = (struct bus_dev){ .base = win->ecam_base,
				      .len = win->ecam_size,
				      .ops = &pci_ecam_ops,
				      .name = "pci-ecam" };
	if (vm) {
		if (win->config_ports) {
			ret = vm_register_pio(vm, &bus->cf8);
			if (ret)
				goto out_free;
			ret = vm_register_pio(vm, &bus->cfc);
			if (ret)
				goto out_unregister_cf8;
		}
		if (win->ecam_size) {
			ret = vm_register_mmio(vm, &bus->ecam);
			if (ret)
				goto out_unregister_cfc;
		}
	}
	*out = bus;
	return 0;

out_unregister_cfc:
	if (win->config_ports)
		vm_unregister_pio(vm, &bus->cfc);
out_unregister_cf8:
	if (win->config_ports)
		vm_unregister_pio(vm, &bus->cf8);
out_free:
	free(bus);
	return ret;
}

void pci_bus_destroy(struct pci_bus *bus)
{
	if (!bus)
		return;
	if (bus->vm) {
		if (bus->win.ecam_size)
			vm_unregister_mmio(bus->vm, &bus->ecam);
		if (bus->win.config_ports) {
			vm_unregister_pio(bus->vm, &bus->cfc);
			vm_unregister_pio(bus->vm, &bus->cf8);
		}
	}
	pthread_mutex_destroy(&bus->lock);
	free(bus);
}
