// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the passthrough device model's virtualized config space and trapped
 * BARs (devices/vfio_pci.c), against an in-memory VFIO device: the edu-like function
 * tests/unit/vfio_pci_model_test.c uses (BAR0 MEM32 with sparse mmap areas, BAR1 I/O, BAR2
 * MEM64 prefetchable holding the MSI-X table and PBA, a ROM; capabilities PM -> MSI -> PCIe ->
 * MSI-X -> vendor), which the input may first corrupt, as a broken or hostile device would
 * (host input): config bytes, region sizes, sparse areas, interrupt counts. Then the guest's
 * side: config reads and writes of any width through ECAM (BAR moves and sizing, command,
 * MSI and MSI-X enable and masks, ROM), accesses inside the BARs where the config space puts
 * them, and the device firing its vectors.
 *
 * Input: u8 options (bit 0 bar-mmap=off, bit 1 rom=on, bit 2 no ROM region, bit 3 no reset,
 * bit 4 no INTx, bits 5-6 MSI vectors VFIO offers: 4, 1, 0, 32, bit 7 no MSI-X), u8 BAR0 size
 * code, u8 BAR1 size code, u8 BAR2 size code, u8 ROM size code, u8 MSI-X vectors VFIO offers,
 * u8 sparse areas (0-3, each u16 offset and u16 size in pages of 4 KiB, exactness broken by
 * the low bits), u8 config patches (0-15, each u8 offset and u8 value), then operations (one
 * byte, op % 8; width 1 << bits 4-5):
 *   0  config write through ECAM: u8 register, value      1  config read: u8 register
 *   2  config write of a chosen register of the interesting ones (command, BARs, ROM, MSI,
 *      MSI-X control, PCIe cap): u8 which, u32 value
 *   3  MMIO/I/O write inside BAR u8 % 7 (6: ROM) at u16 offset, value
 *   4  MMIO/I/O read inside BAR u8 at u16 offset
 *   5  MSI-X table entry u8: u32 address low, u32 data, u8 control, 4-byte accesses
 *   6  the device signals MSI-X vector u8 (or MSI vector, bit 7)
 *   7  the device's INTx status bit: u8 (bit 0)
 * Checked: the device's config space only ever sees 2-byte writes of the command register;
 * VFIO never gets an interrupt type enabled while another is; KVM's route/irqfd rules (the
 * fake machine); everything the model mapped, registered or opened is gone after destroy.
 *
 * FUZZ_SOURCES: devices/vfio_pci.c devices/vfio_pci_config.c devices/vfio_pci_bars.c
 *               devices/vfio_pci_irq.c devices/msix.c devices/msi.c
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "devices/pci.h"
#include "devices/vfio_pci.h"
#include "iommu/vfio.h"
#include "iommu/vfio_device.h"
#include "tests/fuzz/lib/fuzz_lib.h"
#include "tests/unit/fake_edu.h"
#include "vmm/x86/layout.h"
#include "vmm/util.h"

#define BAR0_MAX (512 * 1024)
#define BAR1_MAX 0x200
#define BAR2_MAX 0x10000
#define ROM_MAX 0x40000
#define MSI_CAP EDU_MSI_CAP
#define PCIE_CAP EDU_PCIE_CAP
#define MSIX_CAP EDU_MSIX_CAP
#define MSIX_MAX 64

static struct fake_dev {
	struct vfio_device vdev;
	uint8_t cfg[PCI_CFG_SPACE_SIZE];
	uint64_t bar0_size, bar1_size, bar2_size, rom_size;
	unsigned nr_sparse;
	struct {
		uint64_t offset, size;
	} sparse[3];
	uint32_t irq_counts[3];
	int irq_fds[3][MSIX_MAX];
	unsigned irq_enabled[3];
	unsigned mmaps;
} fake;

static uint8_t *bar0, *bar1, *bar2, *rom;

/* ---- the fake VFIO device ---- */

int vfio_attach_device(struct vfio *v, const char *bdf, bool p2p, struct vfio_device **out)
{
	fuzz_fail("vfio_attach_device: the fake device is handed over directly");
}

int vfio_attach_device_viommu(struct vfio *v, const char *bdf, struct vfio_device **out)
{
	fuzz_fail("vfio_attach_device_viommu: the fake device is handed over directly");
}

void vfio_detach_device(struct vfio *v, struct vfio_device *d)
{
	fuzz_fail("vfio_detach_device without a vfio");
}

/* the bus-master hold's DMA gate: the device is created with no vfio, so never reached */
int vfio_device_dma_begin(struct vfio *v, struct vfio_device *d, double timeout_s)
{
	fuzz_fail("vfio_device_dma_begin without a vfio");
}

void vfio_device_dma_end(struct vfio *v, struct vfio_device *d)
{
	fuzz_fail("vfio_device_dma_end without a vfio");
}

int vfio_device_region_info(struct vfio_device *d, uint32_t index, struct vfio_region *out)
{
	memset(out, 0, sizeof(*out));
	out->index = index;
	out->flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
	switch (index) {
	case VFIO_PCI_BAR0_REGION_INDEX:
		out->size = fake.bar0_size;
		out->flags |= VFIO_REGION_INFO_FLAG_MMAP;
		out->nr_sparse = fake.nr_sparse;
		for (unsigned i = 0; i < fake.nr_sparse; i++) {
			out->sparse[i].offset = fake.sparse[i].offset;
			out->sparse[i].size = fake.sparse[i].size;
		}
		break;
	case VFIO_PCI_BAR1_REGION_INDEX:
		out->size = fake.bar1_size;
		break;
	case VFIO_PCI_BAR2_REGION_INDEX:
		out->size = fake.bar2_size;
		out->flags |= VFIO_REGION_INFO_FLAG_MMAP;
		break;
	case VFIO_PCI_ROM_REGION_INDEX:
		out->size = fake.rom_size;
		out->flags = VFIO_REGION_INFO_FLAG_READ;
		break;
	case VFIO_PCI_CONFIG_REGION_INDEX:
		out->size = PCI_CFG_SPACE_SIZE;
		break;
	default:
		out->size = 0;
		break;
	}
	return 0;
}

static uint8_t *fake_region(uint32_t index, uint64_t *size)
{
	switch (index) {
	case VFIO_PCI_BAR0_REGION_INDEX:
		*size = fake.bar0_size;
		return bar0;
	case VFIO_PCI_BAR1_REGION_INDEX:
		*size = fake.bar1_size;
		return bar1;
	case VFIO_PCI_BAR2_REGION_INDEX:
		*size = fake.bar2_size;
		return bar2;
	case VFIO_PCI_ROM_REGION_INDEX:
		*size = fake.rom_size;
		return rom;
	case VFIO_PCI_CONFIG_REGION_INDEX:
		*size = PCI_CFG_SPACE_SIZE;
		return fake.cfg;
	default:
		fuzz_fail("access to VFIO region %u, which the model never forwards", index);
	}
}

int vfio_device_region_read(struct vfio_device *d, const struct vfio_region *r, uint64_t off,
			    void *buf, size_t len)
{
	uint64_t size;
	uint8_t *p = fake_region(r->index, &size);

	if (off > size || len > size - off)
		return -EIO;
	memcpy(buf, p + off, len);
	return 0;
}

int vfio_device_region_write(struct vfio_device *d, const struct vfio_region *r, uint64_t off,
			     const void *buf, size_t len)
{
	uint64_t size;
	uint8_t *p = fake_region(r->index, &size);

	if (r->index == VFIO_PCI_CONFIG_REGION_INDEX && (off != PCI_COMMAND || len != 2))
		fuzz_fail("the guest reached the device's config space: %zu bytes at 0x%llx", len,
			  (unsigned long long)off);
	if (r->index == VFIO_PCI_ROM_REGION_INDEX)
		fuzz_fail("a write reached the device's ROM");
	if (off > size || len > size - off)
		return -EIO;
	memcpy(p + off, buf, len);
	return 0;
}

void *vfio_device_region_mmap(struct vfio_device *d, const struct vfio_region *r, uint64_t off,
			      uint64_t size)
{
	void *p;

	if (r->index > VFIO_PCI_BAR5_REGION_INDEX || off + size > r->size || off % 4096 ||
	    size % 4096 || !size)
		fuzz_fail("mmap of region %u at 0x%llx+0x%llx", r->index, (unsigned long long)off,
			  (unsigned long long)size);
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	fake.mmaps++;
	return p;
}

int vfio_device_irq_count(struct vfio_device *d, uint32_t index, uint32_t *count, uint32_t *flags)
{
	*flags = 0;
	*count = index < 3 ? fake.irq_counts[index] : 0;
	return 0;
}

int vfio_device_set_irq_eventfds(struct vfio_device *d, uint32_t index, uint32_t start,
				 uint32_t count, const int *fds)
{
	if (index >= 3 || start || count > fake.irq_counts[index])
		fuzz_fail("SET_IRQS index %u start %u count %u (device offers %u)", index, start,
			  count, index < 3 ? fake.irq_counts[index] : 0);
	/* VFIO refuses to switch interrupt types without disabling the old one first */
	for (unsigned i = 0; count && i < 3; i++)
		if (i != index && fake.irq_enabled[i])
			fuzz_fail("SET_IRQS index %u while index %u is still enabled", index, i);
	fake.irq_enabled[index] = count;
	for (unsigned i = 0; i < count && i < MSIX_MAX; i++) {
		if (fds[i] < 0)
			fuzz_fail("SET_IRQS with fd %d", fds[i]);
		fake.irq_fds[index][i] = fds[i];
	}
	return 0;
}

int vfio_device_set_irq_unmask_eventfd(struct vfio_device *d, uint32_t index, int fd)
{
	if (index != VFIO_PCI_INTX_IRQ_INDEX || fd < 0)
		fuzz_fail("unmask eventfd %d for index %u", fd, index);
	return 0;
}

int vfio_device_reset(struct vfio_device *d)
{
	return 0;
}

/* the device is open from the start: no deferred open */
bool vfio_device_is_open(const struct vfio_device *d)
{
	return true;
}

void vfio_device_open_later(struct vfio_device *d, void (*opened)(void *opaque, int err),
			    void *opaque)
{
	fuzz_fail("deferred open of a device that is open");
}

void vfio_device_open_join(struct vfio_device *d)
{
}

/* ---- the device the input describes ---- */

static void fake_build(struct fuzz_in *in, struct vfio_pci_config *c)
{
	uint8_t opts = fuzz_u8(in), s0 = fuzz_u8(in), s1 = fuzz_u8(in), s2 = fuzz_u8(in),
		s3 = fuzz_u8(in), nr_msix = fuzz_u8(in);
	static const uint32_t msi_counts[] = { 4, 1, 0, 32 };
	unsigned n;

	memset(&fake, 0, sizeof(fake));
	fake.vdev.fd = -1;
	fake.vdev.reset_works = !(opts & 8);
	snprintf(fake.vdev.bdf, sizeof(fake.vdev.bdf), "0000:00:03.0");
	*c = (struct vfio_pci_config){ .bdf = "0000:00:03.0",
				       .bar_mmap = !(opts & 1),
				       .rom = opts & 2 };
	fake.bar0_size = 4096ULL << (s0 % 8);
	fake.bar1_size = 4ULL << (s1 % 8);
	fake.bar2_size = (4096ULL << (s2 % 4)) + (s2 & 0x80 ? 0x800 : 0); /* not a power of 2 */
	fake.rom_size = opts & 4 ? 0 : (0x200ULL << (s3 % 10)) + (s3 & 0x80 ? 0x1000 : 0);
	fake.irq_counts[VFIO_PCI_INTX_IRQ_INDEX] = !(opts & 0x10);
	fake.irq_counts[VFIO_PCI_MSI_IRQ_INDEX] = msi_counts[(opts >> 5) & 3];
	fake.irq_counts[VFIO_PCI_MSIX_IRQ_INDEX] = opts & 0x80 ? 0 : 1 + nr_msix % MSIX_MAX;
	fake.nr_sparse = fuzz_u8(in) % 4;
	for (unsigned i = 0; i < fake.nr_sparse; i++) {
		uint16_t o = fuzz_u16(in), sz = fuzz_u16(in);

		/* whole pages, unless the top bit asks for a ragged area */
		fake.sparse[i].offset = (uint64_t)(o & 0x7f) * 4096 + (o & 0x8000 ? 0x100 : 0);
		fake.sparse[i].size = (uint64_t)(sz & 0x7f) * 4096 + (sz & 0x8000 ? 0x80 : 0);
	}
	/* the edu-like function of vfio_pci_model_test.c */
	fake_edu_config(fake.cfg, MSIX_MAX);
	/* then what the input makes of it */
	n = fuzz_u8(in) % 16;
	for (unsigned i = 0; i < n; i++) {
		uint8_t off = fuzz_u8(in);

		fake.cfg[off] = fuzz_u8(in);
	}
	memset(bar0, 0x5a, BAR0_MAX);
	memset(rom, 0x55, ROM_MAX);
}

/* ---- the machine ---- */

static struct memmap *mm;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_lib_init(FUZZ_CHECK_FDS);
	bar0 = malloc(BAR0_MAX);
	bar1 = calloc(1, BAR1_MAX);
	bar2 = calloc(1, BAR2_MAX);
	rom = malloc(ROM_MAX);
	if (!bar0 || !bar1 || !bar2 || !rom || memmap_create(&mm))
		fuzz_fail("setup");
	return 0;
}

static uint64_t bar_addr(struct pci_device *p, unsigned bar, bool *io)
{
	uint64_t a;

	if (bar == PCI_NUM_BARS) {
		*io = false;
		return pci_config_get(p, PCI_ROM_ADDRESS, 4) & PCI_ROM_ADDRESS_MASK;
	}
	a = pci_config_get(p, PCI_BASE_ADDRESS_0 + 4 * bar, 4);
	*io = p->bars[bar].type == PCI_BAR_IO;
	if (*io)
		return a & PCI_BASE_ADDRESS_IO_MASK;
	if (p->bars[bar].type == PCI_BAR_MEM64)
		a |= (uint64_t)pci_config_get(p, PCI_BASE_ADDRESS_0 + 4 * bar + 4, 4) << 32;
	return a & PCI_BASE_ADDRESS_MEM_MASK;
}

static void signal_fd(int fd)
{
	uint64_t one = 1;

	if (fd >= 0 && write(fd, &one, sizeof(one)) != sizeof(one))
		fuzz_fail("eventfd write: %s", strerror(errno));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct {
		uint16_t reg;
		uint8_t len;
	} regs[] = {
		{ PCI_COMMAND, 2 },
		{ PCI_BASE_ADDRESS_0, 4 },
		{ PCI_BASE_ADDRESS_1, 4 },
		{ PCI_BASE_ADDRESS_2, 4 },
		{ PCI_BASE_ADDRESS_3, 4 },
		{ PCI_ROM_ADDRESS, 4 },
		{ MSI_CAP + PCI_MSI_FLAGS, 2 },
		{ MSI_CAP + PCI_MSI_ADDRESS_LO, 4 },
		{ MSI_CAP + PCI_MSI_DATA_64, 2 },
		{ MSI_CAP + PCI_MSI_MASK_64, 4 },
		{ MSIX_CAP + PCI_MSIX_FLAGS, 2 },
		{ PCIE_CAP, 4 },
	};
	struct fuzz_in in = fuzz_in_make(data, size);
	struct vfio_pci_config c;
	struct pci_bus *pbus;
	struct vfio_pci *dp;
	struct pci_device *p;
	unsigned regions;
	struct vm vm;

	fuzz_input_begin();
	fake_build(&in, &c);
	fuzz_vm_init(&vm, mm);
	regions = mm->nr_regions;
	if (pci_bus_create(&vm, &fuzz_pci_windows, &pbus))
		fuzz_fail("pci_bus_create");
	if (vfio_pci_create_device(&vm, pbus, NULL, &fake.vdev, &c, &dp)) {
		/* a device the model refuses: nothing may stay behind */
		goto out;
	}
	p = vfio_pci_device(dp);
	while (!fuzz_in_done(&in)) {
		uint8_t op = fuzz_u8(&in);
		unsigned len = 1u << ((op >> 4) & 3);
		uint64_t v = 0, base;
		bool io;

		switch (op % 8) {
		case 0:
		case 2: {
			unsigned reg = fuzz_u8(&in);

			if (op % 8) {
				len = regs[reg % ARRAY_SIZE(regs)].len;
				reg = regs[reg % ARRAY_SIZE(regs)].reg;
			}
			fuzz_in_bytes(&in, &v, len);
			fuzz_vm_mmio(&vm, PCI_ECAM_BASE + ((uint64_t)p->devfn << 12) + reg, &v, len,
				     true);
			break;
		}
		case 1:
			fuzz_vm_mmio(&vm, PCI_ECAM_BASE + ((uint64_t)p->devfn << 12) + fuzz_u8(&in),
				     &v, len, false);
			break;
		case 3:
		case 4: {
			unsigned bar = fuzz_u8(&in) % 7;
			uint64_t off = fuzz_u16(&in);
			bool write = op % 8 == 3;

			base = bar_addr(p, bar, &io);
			if (write)
				fuzz_in_bytes(&in, &v, len);
			if (io)
				fuzz_vm_pio(&vm, base + off, &v, len, write);
			else
				fuzz_vm_mmio(&vm, base + off, &v, len, write);
			break;
		}
		case 5: {
			unsigned e = fuzz_u8(&in);
			uint64_t t = EDU_MSIX_TABLE_OFF + 16ULL * e;
			uint32_t lo = fuzz_u32(&in), d = fuzz_u32(&in), ctrl = fuzz_u8(&in) & 1;

			base = bar_addr(p, 2, &io);
			fuzz_vm_mmio(&vm, base + t, &lo, 4, true);
			fuzz_vm_mmio(&vm, base + t + 8, &d, 4, true);
			fuzz_vm_mmio(&vm, base + t + 12, &ctrl, 4, true);
			break;
		}
		case 6: {
			uint8_t vec = fuzz_u8(&in);
			unsigned idx =
			    vec & 0x80 ? VFIO_PCI_MSI_IRQ_INDEX : VFIO_PCI_MSIX_IRQ_INDEX;

			vec &= 0x7f;
			if (vec < fake.irq_enabled[idx] && vec < MSIX_MAX)
				signal_fd(fake.irq_fds[idx][vec]);
			break;
		}
		default:
			fake.cfg[PCI_STATUS] =
			    (uint8_t)((fake.cfg[PCI_STATUS] & ~PCI_STATUS_INTERRUPT) |
				      (fuzz_u8(&in) & 1 ? PCI_STATUS_INTERRUPT : 0));
			break;
		}
	}
	vfio_pci_destroy(dp);
out:
	for (unsigned i = 0; i < 3; i++)
		if (fake.irq_enabled[i])
			fuzz_fail("VFIO interrupt index %u still enabled after destroy", i);
	if (mm->nr_regions != regions)
		fuzz_fail("%u memory regions left behind", mm->nr_regions - regions);
	pci_bus_destroy(pbus);
	fuzz_vm_exit(&vm);
	fuzz_input_end();
	return 0;
}
