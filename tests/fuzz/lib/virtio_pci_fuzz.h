/* SPDX-License-Identifier: MIT */
/*
 * The virtio-pci transport as a state machine, for one device type per fuzz target
 * (fuzz_virtio_pci_<device>.c): each input builds the device and its virtio-pci function on
 * the fake machine (fuzz_lib.h), with 256 KiB of guest RAM, lets the firmware enable memory
 * decoding, then plays a byte stream of guest register accesses and notifies against it, with
 * the device's own I/O thread live behind it. After every operation the harness waits for the
 * thread to finish what it was given (fuzz_settle), unless the operation says not to: then
 * the next accesses race with the thread, as a vCPU does. At the end the function and the
 * device are destroyed; no thread, fd, route, irqfd or ioeventfd may stay.
 *
 * Input: one machine byte (bits 0-2: MSI routes KVM grants before refusing, 0 = no limit;
 * bits 3-7 for the device's own options, see its target), then operations. Each operation is
 * one byte: kind = bits 0-3, access width 1 << bits 4-5, bit 7 = do not wait for the thread.
 *   0  common config field write: u8 field (of the 19 in struct virtio_pci_common_cfg, at
 *      its natural width), u32 value
 *   1  BAR0 write: u16 offset (within the 16 KiB BAR), value of the access width
 *   2  BAR0 read: u16 offset
 *   3  BAR2 (MSI-X table and PBA) write: u16 offset, value
 *   4  BAR2 read: u16 offset
 *   5  config space write through ECAM: u16 register, value
 *   6  config space read through ECAM: u16 register
 *   7  queue notify: u8 queue, written at its notify address (the ioeventfd when the BAR is
 *      where the function last put it)
 *   8  guest RAM write: u16 offset, u8 length, the bytes
 *   9  driver bring-up, all through the registers: u8 flags, u64 feature mask. Reset,
 *      ACKNOWLEDGE, DRIVER, features (offered & mask), FEATURES_OK; every queue at a fresh
 *      ring of size max >> (flags & 3) (not enabled when flags bit 5 and the queue is odd);
 *      with flags bit 4 an MSI-X vector per queue plus the config vector, programmed and
 *      enabled; DRIVER_OK unless flags bit 6
 *  10  a chain on queue u8: fuzz_vring_add_chain's shape and segments; kicked when the
 *      shape's bit 4 is set
 *  11  a host-side event of the device (its target says which)
 *  12  device status write: u8
 *  13  MSI-X vector u8: u8 flags, address (0xfee00000 + u8 << 12), u32 data, through BAR2;
 *      flags bit 0 masks it, bit 1 sets the function mask, bit 2 clears MSI-X enable
 *  14  the driver's used_event of queue u8 (EVENT_IDX): u16
 *  15  ISR read (read-to-clear, deasserts INTx)
 */
#ifndef PTVM_TESTS_FUZZ_VIRTIO_PCI_FUZZ_H
#define PTVM_TESTS_FUZZ_VIRTIO_PCI_FUZZ_H

#include <linux/virtio_pci.h>
#include <stdlib.h>

#include "devices/pci.h"
#include "devices/virtio_pci.h"
#include "tests/fuzz/lib/fuzz_lib.h"
#include "tests/fuzz/lib/fuzz_vring.h"
#include "vmm/x86/layout.h"
#include "vmm/util.h"

#define VPF_RAM_GPA 0x100000ULL
#define VPF_RAM_SIZE 0x40000ULL
#define VPF_DATA_START (VPF_RAM_GPA + VIRTIO_MAX_QUEUES * FUZZ_VRING_AREA)
#define VPF_MSI_ADDR 0xfee00000ULL

struct vpf_device {
	const char *name;
	/* once, from LLVMFuzzerInitialize */
	void (*init)(void);
	/* builds the device on mm; @opts is the machine byte's bits 3-7 */
	int (*create)(struct memmap *mm, uint8_t opts, struct virtio_device **out);
	void (*destroy)(struct virtio_device *vdev);
	/* a host-side event, operands from the input (may be NULL) */
	void (*host_event)(struct virtio_device *vdev, struct fuzz_in *in);
};

struct vpf {
	const struct vpf_device *dev;
	struct vm vm;
	struct memmap *mm;
	struct fuzz_ram ram;
	struct pci_bus *bus;
	struct virtio_device *vdev;
	struct virtio_pci *vp;
	struct fuzz_vring rings[VIRTIO_MAX_QUEUES];
	struct fuzz_databuf data;
};

static struct vpf vpf;

static const struct {
	uint8_t off, width;
} vpf_common_fields[] = {
	{ VIRTIO_PCI_COMMON_DFSELECT, 4 },  { VIRTIO_PCI_COMMON_DF, 4 },
	{ VIRTIO_PCI_COMMON_GFSELECT, 4 },  { VIRTIO_PCI_COMMON_GF, 4 },
	{ VIRTIO_PCI_COMMON_MSIX, 2 },	    { VIRTIO_PCI_COMMON_NUMQ, 2 },
	{ VIRTIO_PCI_COMMON_STATUS, 1 },    { VIRTIO_PCI_COMMON_CFGGENERATION, 1 },
	{ VIRTIO_PCI_COMMON_Q_SELECT, 2 },  { VIRTIO_PCI_COMMON_Q_SIZE, 2 },
	{ VIRTIO_PCI_COMMON_Q_MSIX, 2 },    { VIRTIO_PCI_COMMON_Q_ENABLE, 2 },
	{ VIRTIO_PCI_COMMON_Q_NOFF, 2 },    { VIRTIO_PCI_COMMON_Q_DESCLO, 4 },
	{ VIRTIO_PCI_COMMON_Q_DESCHI, 4 },  { VIRTIO_PCI_COMMON_Q_AVAILLO, 4 },
	{ VIRTIO_PCI_COMMON_Q_AVAILHI, 4 }, { VIRTIO_PCI_COMMON_Q_USEDLO, 4 },
	{ VIRTIO_PCI_COMMON_Q_USEDHI, 4 },
};

static inline void vpf_init(const struct vpf_device *dev)
{
	fuzz_lib_init(FUZZ_CHECK_FDS);
	vpf.dev = dev;
	if (memmap_create(&vpf.mm))
		fuzz_fail("memmap_create");
	fuzz_ram_create(&vpf.ram, VPF_RAM_GPA, VPF_RAM_SIZE);
	fuzz_ram_add(&vpf.ram, vpf.mm, "ram");
	if (dev->init)
		dev->init();
}

/* Where the config space says BAR bar is now (the guest may have moved it). */
static inline uint64_t vpf_bar(unsigned bar)
{
	struct pci_device *p = &vpf.vp->pci;
	unsigned off = PCI_BASE_ADDRESS_0 + 4 * bar;
	uint64_t a = pci_config_get(p, off, 4);

	if (p->bars[bar].type == PCI_BAR_MEM64)
		a |= (uint64_t)pci_config_get(p, off + 4, 4) << 32;
	return a & PCI_BASE_ADDRESS_MEM_MASK;
}

static inline uint64_t vpf_read(unsigned bar, uint64_t off, unsigned len)
{
	uint64_t v = 0;

	fuzz_vm_mmio(&vpf.vm, vpf_bar(bar) + off, &v, len, false);
	return v;
}

static inline void vpf_write(unsigned bar, uint64_t off, uint64_t v, unsigned len)
{
	fuzz_vm_mmio(&vpf.vm, vpf_bar(bar) + off, &v, len, true);
}

static inline void vpf_cfg_write(unsigned reg, uint64_t v, unsigned len)
{
	fuzz_vm_mmio(&vpf.vm, PCI_ECAM_BASE + ((uint64_t)vpf.vp->pci.devfn << 12) + reg, &v, len,
		     true);
}

static inline uint64_t vpf_cfg_read(unsigned reg, unsigned len)
{
	uint64_t v = 0;

	fuzz_vm_mmio(&vpf.vm, PCI_ECAM_BASE + ((uint64_t)vpf.vp->pci.devfn << 12) + reg, &v, len,
		     false);
	return v;
}

static inline void vpf_common_write(unsigned off, uint64_t v, unsigned width)
{
	vpf_write(VIRTIO_PCI_BAR_CFG, VIRTIO_PCI_COMMON_OFF + off, v, width);
}

static inline uint64_t vpf_common_read(unsigned off, unsigned width)
{
	return vpf_read(VIRTIO_PCI_BAR_CFG, VIRTIO_PCI_COMMON_OFF + off, width);
}

static inline void vpf_msix_vector(unsigned v, uint64_t addr, uint32_t data, bool masked)
{
	uint64_t off = VIRTIO_PCI_MSIX_TABLE_OFF + 16ULL * v;

	vpf_write(VIRTIO_PCI_BAR_MSIX, off + PCI_MSIX_ENTRY_LOWER_ADDR, (uint32_t)addr, 4);
	vpf_write(VIRTIO_PCI_BAR_MSIX, off + PCI_MSIX_ENTRY_UPPER_ADDR, addr >> 32, 4);
	vpf_write(VIRTIO_PCI_BAR_MSIX, off + PCI_MSIX_ENTRY_DATA, data, 4);
	vpf_write(VIRTIO_PCI_BAR_MSIX, off + PCI_MSIX_ENTRY_VECTOR_CTRL,
		  masked ? PCI_MSIX_ENTRY_CTRL_MASKBIT : 0, 4);
}

static inline void vpf_msix_control(uint16_t set, uint16_t clear)
{
	unsigned reg = vpf.vp->msix.cap + PCI_MSIX_FLAGS;
	uint16_t ctrl = (uint16_t)vpf_cfg_read(reg, 2);

	vpf_cfg_write(reg, (uint16_t)((ctrl | set) & ~clear), 2);
}

static inline void vpf_status(uint8_t s)
{
	vpf_common_write(VIRTIO_PCI_COMMON_STATUS, s, 1);
}

/* What a driver does from reset to DRIVER_OK (op 9). */
static inline void vpf_driver_init(struct fuzz_in *in)
{
	uint8_t flags = fuzz_u8(in);
	uint64_t mask = fuzz_u64(in), offered, status;
	unsigned nq = vpf.vdev->nr_queues;
	bool msix = flags & 0x10;

	vpf_status(0);
	vpf_status(VIRTIO_CONFIG_S_ACKNOWLEDGE);
	vpf_status(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	vpf_common_write(VIRTIO_PCI_COMMON_DFSELECT, 0, 4);
	offered = vpf_common_read(VIRTIO_PCI_COMMON_DF, 4);
	vpf_common_write(VIRTIO_PCI_COMMON_DFSELECT, 1, 4);
	offered |= vpf_common_read(VIRTIO_PCI_COMMON_DF, 4) << 32;
	vpf_common_write(VIRTIO_PCI_COMMON_GFSELECT, 0, 4);
	vpf_common_write(VIRTIO_PCI_COMMON_GF, (uint32_t)(offered & mask), 4);
	vpf_common_write(VIRTIO_PCI_COMMON_GFSELECT, 1, 4);
	vpf_common_write(VIRTIO_PCI_COMMON_GF, (uint32_t)((offered & mask) >> 32), 4);
	vpf_status(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
		   VIRTIO_CONFIG_S_FEATURES_OK);
	status = vpf_common_read(VIRTIO_PCI_COMMON_STATUS, 1);
	if (!(status & VIRTIO_CONFIG_S_FEATURES_OK))
		return; /* refused: a driver gives up here */
	for (unsigned q = 0; q < nq; q++) {
		struct fuzz_vring *r = &vpf.rings[q];
		uint16_t max, size;

		vpf_common_write(VIRTIO_PCI_COMMON_Q_SELECT, q, 2);
		max = (uint16_t)vpf_common_read(VIRTIO_PCI_COMMON_Q_SIZE, 2);
		size = (uint16_t)MAX(max >> (flags & 3), 1);
		/* the BAR is not decoded (reads all ones) or an earlier write changed the
		 * size: a driver gives up */
		if (size > FUZZ_VRING_MAX || (size & (size - 1)))
			return;
		fuzz_vring_init(r, &vpf.ram, VPF_RAM_GPA + q * FUZZ_VRING_AREA, size);
		vpf_common_write(VIRTIO_PCI_COMMON_Q_SIZE, size, 2);
		vpf_common_write(VIRTIO_PCI_COMMON_Q_DESCLO, (uint32_t)r->desc_gpa, 4);
		vpf_common_write(VIRTIO_PCI_COMMON_Q_DESCHI, r->desc_gpa >> 32, 4);
		vpf_common_write(VIRTIO_PCI_COMMON_Q_AVAILLO, (uint32_t)r->avail_gpa, 4);
		vpf_common_write(VIRTIO_PCI_COMMON_Q_AVAILHI, r->avail_gpa >> 32, 4);
		vpf_common_write(VIRTIO_PCI_COMMON_Q_USEDLO, (uint32_t)r->used_gpa, 4);
		vpf_common_write(VIRTIO_PCI_COMMON_Q_USEDHI, r->used_gpa >> 32, 4);
		vpf_common_write(VIRTIO_PCI_COMMON_Q_MSIX, msix ? q + 1 : VIRTIO_MSI_NO_VECTOR, 2);
		if (!((flags & 0x20) && (q & 1)))
			vpf_common_write(VIRTIO_PCI_COMMON_Q_ENABLE, 1, 2);
	}
	if (msix) {
		vpf_common_write(VIRTIO_PCI_COMMON_MSIX, 0, 2);
		for (unsigned v = 0; v <= nq; v++)
			vpf_msix_vector(v, VPF_MSI_ADDR, 0x30 + v, false);
		vpf_msix_control(PCI_MSIX_FLAGS_ENABLE, PCI_MSIX_FLAGS_MASKALL);
	}
	if (!(flags & 0x40))
		vpf_status((uint8_t)(status | VIRTIO_CONFIG_S_DRIVER_OK));
}

static inline void vpf_notify(unsigned q)
{
	vpf_write(VIRTIO_PCI_BAR_CFG, VIRTIO_PCI_NOTIFY_OFF + (uint64_t)q * VIRTIO_PCI_NOTIFY_MULT,
		  q, 2);
}

static inline unsigned vpf_queue(struct fuzz_in *in)
{
	uint8_t q = fuzz_u8(in);

	/* mostly a queue the device has; now and then one it has not */
	return q < 0xf0 ? q % vpf.vdev->nr_queues : q & 0xf;
}

static inline void vpf_op(struct fuzz_in *in)
{
	uint8_t op = fuzz_u8(in);
	unsigned len = 1u << ((op >> 4) & 3);
	uint64_t v = 0;

	switch (op & 0xf) {
	case 0: {
		unsigned f = fuzz_u8(in) % ARRAY_SIZE(vpf_common_fields);

		vpf_common_write(vpf_common_fields[f].off, fuzz_u32(in),
				 vpf_common_fields[f].width);
		break;
	}
	case 1: {
		uint64_t off = fuzz_u16(in) % VIRTIO_PCI_BAR_CFG_SIZE;

		fuzz_in_bytes(in, &v, len);
		vpf_write(VIRTIO_PCI_BAR_CFG, off, v, len);
		break;
	}
	case 2:
		vpf_read(VIRTIO_PCI_BAR_CFG, fuzz_u16(in) % VIRTIO_PCI_BAR_CFG_SIZE, len);
		break;
	case 3: {
		uint64_t off = fuzz_u16(in) % VIRTIO_PCI_BAR_MSIX_SIZE;

		fuzz_in_bytes(in, &v, len);
		vpf_write(VIRTIO_PCI_BAR_MSIX, off, v, len);
		break;
	}
	case 4:
		vpf_read(VIRTIO_PCI_BAR_MSIX, fuzz_u16(in) % VIRTIO_PCI_BAR_MSIX_SIZE, len);
		break;
	case 5: {
		unsigned reg = fuzz_u16(in) & 0xfff;

		fuzz_in_bytes(in, &v, len);
		vpf_cfg_write(reg, v, len);
		break;
	}
	case 6:
		vpf_cfg_read(fuzz_u16(in) & 0xfff, len);
		break;
	case 7:
		vpf_notify(vpf_queue(in));
		break;
	case 8: {
		uint64_t off = fuzz_u16(in) * 4ULL % VPF_RAM_SIZE;
		unsigned n = fuzz_u8(in);

		fuzz_in_bytes(in, vpf.ram.hva + off, MIN(n, VPF_RAM_SIZE - off));
		break;
	}
	case 9:
		vpf_driver_init(in);
		break;
	case 10: {
		unsigned q = vpf_queue(in);
		uint8_t shape = fuzz_u8(in);

		if (q < vpf.vdev->nr_queues &&
		    fuzz_vring_add_chain(&vpf.rings[q], &vpf.data, in, shape) && (shape & 0x10))
			vpf_notify(q);
		break;
	}
	case 11:
		if (vpf.dev->host_event)
			vpf.dev->host_event(vpf.vdev, in);
		break;
	case 12:
		vpf_status(fuzz_u8(in));
		break;
	case 13: {
		unsigned vec = fuzz_u8(in) % (VIRTIO_MAX_QUEUES + 2);
		uint8_t flags = fuzz_u8(in);
		uint64_t addr = VPF_MSI_ADDR + ((uint64_t)fuzz_u8(in) << 12);

		vpf_msix_vector(vec, addr, fuzz_u32(in), flags & 1);
		vpf_msix_control((flags & 2) ? PCI_MSIX_FLAGS_MASKALL : 0,
				 (flags & 4) ? PCI_MSIX_FLAGS_ENABLE : 0);
		break;
	}
	case 14: {
		unsigned q = vpf_queue(in);
		uint16_t idx = fuzz_u16(in);

		if (q < vpf.vdev->nr_queues)
			fuzz_vring_set_used_event(&vpf.rings[q], idx);
		break;
	}
	default:
		vpf_read(VIRTIO_PCI_BAR_CFG, VIRTIO_PCI_ISR_OFF, 1);
		break;
	}
	if (!(op & 0x80))
		fuzz_settle();
}

static inline int vpf_run(const uint8_t *data, size_t size)
{
	struct fuzz_in in = fuzz_in_make(data, size);
	uint8_t machine = fuzz_u8(&in);

	fuzz_input_begin();
	fuzz_ram_clear(&vpf.ram);
	memset(vpf.rings, 0, sizeof(vpf.rings));
	vpf.data =
	    (struct fuzz_databuf){ VPF_DATA_START, VPF_RAM_GPA + VPF_RAM_SIZE, VPF_DATA_START };
	fuzz_vm_init(&vpf.vm, vpf.mm);
	vpf.vm.route_fail_after = machine & 7;
	if (pci_bus_create(&vpf.vm, &fuzz_pci_windows, &vpf.bus))
		fuzz_fail("pci_bus_create");
	if (vpf.dev->create(vpf.mm, machine >> 3, &vpf.vdev))
		fuzz_fail("%s: create", vpf.dev->name);
	if (virtio_pci_create(&vpf.vm, vpf.bus, vpf.vdev, &vpf.vp))
		fuzz_fail("%s: virtio_pci_create", vpf.dev->name);
	/* what firmware or the guest's PCI code does first */
	vpf_cfg_write(PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
	while (!fuzz_in_done(&in))
		vpf_op(&in);
	fuzz_settle();
	virtio_pci_destroy(vpf.vp);
	vpf.dev->destroy(vpf.vdev);
	pci_bus_destroy(vpf.bus);
	fuzz_vm_exit(&vpf.vm);
	fuzz_input_end();
	return 0;
}

#endif
