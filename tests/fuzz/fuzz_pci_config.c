// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for PCI configuration space as a guest reaches it: the 0xcf8/0xcfc ports
 * (any width and offset), the ECAM window, and the BARs it places (devices/pci.c), with the
 * host bridge, a virtio-pci function (devices/virtio_pci.c with a stub device behind it: its
 * capabilities, MSI-X control, INTx and the notify ioeventfds that follow BAR0) and a
 * function with one BAR of each kind (I/O, 32-bit, 64-bit, 64-bit prefetchable), all on the
 * fake machine's real port and MMIO buses.
 *
 * Input: operations, one byte each and their operands (width 1/2/4/8 from op bits 5-6):
 *   op % 8 == 0  write CONFIG_ADDRESS (0xcf8 + u8 % 4): u32
 *   op % 8 == 1  read or write (op bit 4) CONFIG_DATA (0xcfc + u8 % 4)
 *   op % 8 == 2  ECAM read or write: u8 bus (0 or 1), u8 devfn, u16 register
 *   op % 8 == 3  MMIO or I/O access inside a BAR where the config space now says it is:
 *                u8 function (1, 2), u8 BAR, u16 offset
 *   op % 8 == 4  an access anywhere in the port space (u16) or the 32-bit MMIO hole (u32)
 *   op % 8 == 5  config write of a BAR or the command register with a chosen value: u8
 *                function, u8 register (0x04, 0x10..0x27, 0x30), u32
 *   op % 8 == 6  direct config access (as both mechanisms end up): u8 bus, u8 devfn,
 *                u16 register, value
 *   op % 8 == 7  BAR sizing: writes ~0 to a BAR of function u8 and reads it back
 * Checked after each operation: read-only identity stays; every BAR that pci.c says is
 * mapped is registered on the right bus at its address with its size, every other BAR is
 * not; the virtio function's notify ioeventfds exist exactly while its BAR0 is mapped.
 *
 * FUZZ_SOURCES: devices/pci.c devices/virtio_pci.c devices/msix.c vmm/bus.c
 */
#include <stdlib.h>

#include "devices/pci.h"
#include "devices/virtio_pci.h"
#include "tests/fuzz/lib/fuzz_lib.h"
#include "vmm/x86/layout.h"
#include "vmm/util.h"

/* ---- a virtio device with nothing behind it ---- */

static uint64_t stub_get_features(struct virtio_device *vdev)
{
	return 0;
}

static void stub_read_config(struct virtio_device *vdev, unsigned offset, void *data, unsigned len)
{
	memset(data, 0x5a, len);
}

static void stub_write_config(struct virtio_device *vdev, unsigned offset, const void *data,
			      unsigned len)
{
}

static void stub_queue_notify(struct virtio_device *vdev, struct virtqueue *vq)
{
}

static const struct virtio_device_ops stub_ops = {
	.get_features = stub_get_features,
	.read_config = stub_read_config,
	.write_config = stub_write_config,
	.queue_notify = stub_queue_notify,
};

/* ---- a function with a BAR of each kind, trapped ---- */

static uint8_t plain_bar_byte(unsigned bar, uint64_t off)
{
	return (uint8_t)(0x40 + bar + off);
}

static void plain_bar_read(struct pci_device *dev, unsigned bar, uint64_t off, void *data,
			   unsigned len)
{
	if (bar >= PCI_NUM_BARS || off + len > dev->bars[bar].size)
		fuzz_fail("BAR%u read at 0x%llx+%u outside the BAR", bar, (unsigned long long)off,
			  len);
	for (unsigned i = 0; i < len; i++)
		((uint8_t *)data)[i] = plain_bar_byte(bar, off + i);
}

static void plain_bar_write(struct pci_device *dev, unsigned bar, uint64_t off, const void *data,
			    unsigned len)
{
	if (bar >= PCI_NUM_BARS || off + len > dev->bars[bar].size)
		fuzz_fail("BAR%u write at 0x%llx+%u outside the BAR", bar, (unsigned long long)off,
			  len);
}

static const struct pci_device_ops plain_ops = {
	.bar_read = plain_bar_read,
	.bar_write = plain_bar_write,
};

/* ---- the machine ---- */

static struct memmap *mm;
static struct vm vm;
static struct pci_bus *pbus;
static struct virtio_device *vdev;
static struct virtio_pci *vp;
static struct pci_device *plain;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_lib_init(FUZZ_CHECK_FDS);
	vdev = calloc(1, sizeof(*vdev));
	plain = calloc(1, sizeof(*plain));
	if (!vdev || !plain || memmap_create(&mm))
		fuzz_fail("setup");
	return 0;
}

static struct pci_device *fuzz_function(unsigned i)
{
	return i % 2 ? plain : &vp->pci;
}

/* Whether bar's trap is registered on its bus at its address and size. */
FUZZ_CHECKER static bool bar_registered(struct pci_device *dev, unsigned bar)
{
	struct pci_bar *b = &dev->bars[bar];
	struct bus *bus = b->type == PCI_BAR_IO ? &vm.pio : &vm.mmio;

	for (unsigned i = 0; i < bus->nr_devs; i++)
		if (bus->devs[i] == &b->trap)
			return b->trap.base == b->addr && b->trap.len == b->size;
	return false;
}

FUZZ_CHECKER static void fuzz_check(void)
{
	struct pci_device *devs[] = { &vp->pci, plain };
	unsigned notify = 0;

	for (unsigned d = 0; d < ARRAY_SIZE(devs); d++) {
		struct pci_device *dev = devs[d];

		if (pci_config_get(dev, PCI_VENDOR_ID, 2) != (d ? 0x1234 : VIRTIO_PCI_VENDOR))
			fuzz_fail("function %u's vendor ID changed", d);
		for (unsigned i = 0; i < PCI_NUM_BARS; i++) {
			if (dev->bars[i].type == PCI_BAR_NONE)
				continue;
			if (dev->bars[i].mapped != bar_registered(dev, i))
				fuzz_fail("function %u BAR%u: mapped %d but registered %d", d, i,
					  dev->bars[i].mapped, !dev->bars[i].mapped);
		}
	}
	for (unsigned i = 0; i < FUZZ_MAX_IOEVENTFDS; i++)
		notify += vm.ioeventfds[i].live;
	if (notify != (vp->pci.bars[VIRTIO_PCI_BAR_CFG].mapped ? vdev->nr_queues : 0))
		fuzz_fail("%u notify ioeventfds with BAR0 %s", notify,
			  vp->pci.bars[VIRTIO_PCI_BAR_CFG].mapped ? "mapped" : "unmapped");
}

static uint64_t bar_base(struct pci_device *dev, unsigned bar)
{
	unsigned off = PCI_BASE_ADDRESS_0 + 4 * bar;
	uint64_t a = pci_config_get(dev, off, 4);

	if (dev->bars[bar].type == PCI_BAR_IO)
		return a & PCI_BASE_ADDRESS_IO_MASK;
	if (dev->bars[bar].type == PCI_BAR_MEM64)
		a |= (uint64_t)pci_config_get(dev, off + 4, 4) << 32;
	return a & PCI_BASE_ADDRESS_MEM_MASK;
}

static void fuzz_op(struct fuzz_in *in)
{
	uint8_t op = fuzz_u8(in);
	unsigned len = 1u << ((op >> 5) & 3);
	bool write = op & 0x10;
	uint64_t v = 0;

	switch (op % 8) {
	case 0: {
		uint16_t port = PCI_CONFIG_ADDR_PORT + fuzz_u8(in) % 4;

		fuzz_in_bytes(in, &v, len);
		fuzz_vm_pio(&vm, port, &v, len, true);
		break;
	}
	case 1: {
		uint16_t port = PCI_CONFIG_DATA_PORT + fuzz_u8(in) % 4;

		if (write)
			fuzz_in_bytes(in, &v, len);
		fuzz_vm_pio(&vm, port, &v, len, write);
		break;
	}
	case 2: {
		uint64_t bus = fuzz_u8(in) & 1, devfn = fuzz_u8(in), reg = fuzz_u16(in) & 0xfff;

		if (write)
			fuzz_in_bytes(in, &v, len);
		fuzz_vm_mmio(&vm, PCI_ECAM_BASE + (bus << 20 | devfn << 12 | reg), &v, len, write);
		break;
	}
	case 3: {
		struct pci_device *dev = fuzz_function(fuzz_u8(in));
		unsigned bar = fuzz_u8(in) % PCI_NUM_BARS;
		uint64_t off = fuzz_u16(in);

		if (dev->bars[bar].type == PCI_BAR_NONE)
			break;
		off %= dev->bars[bar].size;
		if (write)
			fuzz_in_bytes(in, &v, len);
		if (dev->bars[bar].type == PCI_BAR_IO)
			fuzz_vm_pio(&vm, bar_base(dev, bar) + off, &v, len, write);
		else
			fuzz_vm_mmio(&vm, bar_base(dev, bar) + off, &v, len, write);
		break;
	}
	case 4:
		if (write)
			fuzz_in_bytes(in, &v, len);
		if (op & 0x80)
			fuzz_vm_pio(&vm, fuzz_u16(in), &v, len, write);
		else
			fuzz_vm_mmio(&vm, PCI_MMIO32_START + (fuzz_u32(in) % PCI_MMIO32_SIZE), &v,
				     len, write);
		break;
	case 5: {
		static const uint8_t regs[] = { PCI_COMMAND, 0x10, 0x14, 0x18,
						0x1c,	     0x20, 0x24, PCI_ROM_ADDRESS };
		struct pci_device *dev = fuzz_function(fuzz_u8(in));
		uint8_t reg = regs[fuzz_u8(in) % ARRAY_SIZE(regs)];

		v = fuzz_u32(in);
		pci_bus_config_write(pbus, 0, dev->devfn, reg, &v, reg == PCI_COMMAND ? 2 : 4);
		break;
	}
	case 6: {
		uint8_t bus = fuzz_u8(in) & 1, devfn = fuzz_u8(in);
		unsigned reg = fuzz_u16(in) & 0x1fff; /* and past the 4 KiB space */

		if (write) {
			fuzz_in_bytes(in, &v, len);
			pci_bus_config_write(pbus, bus, devfn, reg, &v, len);
		} else {
			pci_bus_config_read(pbus, bus, devfn, reg, &v, len);
		}
		break;
	}
	default: {
		struct pci_device *dev = fuzz_function(fuzz_u8(in));
		unsigned off = PCI_BASE_ADDRESS_0 + 4 * (fuzz_u8(in) % PCI_NUM_BARS);
		uint32_t ones = 0xffffffff, back = 0;

		pci_bus_config_write(pbus, 0, dev->devfn, off, &ones, 4);
		pci_bus_config_read(pbus, 0, dev->devfn, off, &back, 4);
		break;
	}
	}
	fuzz_check();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = fuzz_in_make(data, size);

	fuzz_input_begin();
	fuzz_vm_init(&vm, mm);
	if (pci_bus_create(&vm, &fuzz_pci_windows, &pbus))
		fuzz_fail("pci_bus_create");
	if (virtio_device_init(vdev, VIRTIO_ID_RNG, "virtio-stub", 2, 64, &stub_ops))
		fuzz_fail("virtio_device_init");
	vdev->config_size = 8;
	vdev->mm = mm;
	if (virtio_pci_create(&vm, pbus, vdev, &vp))
		fuzz_fail("virtio_pci_create");
	memset(plain, 0, sizeof(*plain)); /* a new function: no bus from the last input */
	pci_device_init(plain, "plain", 0x1234, 0x5678, 0x020000, &plain_ops);
	if (pci_device_set_bar(plain, 0, PCI_BAR_IO, 0x20, false) ||
	    pci_device_set_bar(plain, 1, PCI_BAR_MEM32, 0x1000, false) ||
	    pci_device_set_bar(plain, 2, PCI_BAR_MEM64, SZ_1M, false) ||
	    pci_device_set_bar(plain, 4, PCI_BAR_MEM64, 256 * SZ_1M, true))
		fuzz_fail("BARs");
	pci_device_set_intx_pin(plain, 2);
	if (pci_bus_add_device(pbus, plain, -1))
		fuzz_fail("pci_bus_add_device");
	while (!fuzz_in_done(&in))
		fuzz_op(&in);
	pci_bus_remove_device(pbus, plain);
	virtio_pci_destroy(vp);
	virtio_device_exit(vdev);
	pci_bus_destroy(pbus);
	fuzz_vm_exit(&vm);
	fuzz_input_end();
	return 0;
}
