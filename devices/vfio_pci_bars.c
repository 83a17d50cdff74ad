// SPDX-License-Identifier: MIT
/*
 * Passthrough BARs and the expansion ROM. Each BAR is sized from its VFIO region; the parts
 * the kernel lets us mmap (sparse areas honoured, minus the MSI-X table and PBA pages) become
 * DEVICE_RAM regions, KVM memslots on top of a trap covering the whole BAR, so that only the
 * holes exit and are forwarded with pread/pwrite. I/O BARs and bar-mmap=off trap everything.
 * The ROM (rom=on) is a read-only trap while the guest enables it.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "devices/vfio_pci_priv.h"
#include "vmm/machine.h"
#include "vmm/util.h"

int vfio_pci_bars_init(struct vfio_pci *dp, const uint8_t *raw)
{
	for (unsigned i = 0; i < PCI_NUM_BARS; i++) {
		struct vfio_pci_bar *b = &dp->bars.bar[i];
		uint32_t v;
		enum pci_bar_type type;
		bool prefetch;
		int ret;

		memcpy(&v, &raw[PCI_BASE_ADDRESS_0 + 4 * i], 4);
		ret = vfio_device_region_info(dp->vdev, VFIO_PCI_BAR0_REGION_INDEX + i, &b->region);
		if (ret)
			return ret;
		if (!b->region.size) {
			vp_debug(dp, "BAR%u: none", i);
			continue;
		}
		if (v & PCI_BASE_ADDRESS_SPACE_IO)
			type = PCI_BAR_IO;
		else if ((v & PCI_BASE_ADDRESS_MEM_TYPE_MASK) == PCI_BASE_ADDRESS_MEM_TYPE_64)
			type = PCI_BAR_MEM64;
		else
			type = PCI_BAR_MEM32;
		prefetch = type != PCI_BAR_IO && (v & PCI_BASE_ADDRESS_MEM_PREFETCH);
		ret = pci_device_set_bar(&dp->pci, i, type, b->region.size, prefetch);
		if (ret)
			return ret;
		b->present = true;
		vp_debug(dp, "BAR%u: %s%s size 0x%llx, sized from the VFIO region", i,
			 type == PCI_BAR_IO	 ? "I/O"
			 : type == PCI_BAR_MEM64 ? "mem64"
						 : "mem32",
			 prefetch ? " prefetch" : "", (unsigned long long)b->region.size);
		if (type == PCI_BAR_MEM64)
			i++; /* the upper half */
	}
	return 0;
}

/* ---- the mmap'd pieces ---- */

/* Removes [off, off+size) from the piece list, splitting pieces around it. */
static void vfio_pci_pieces_cut(struct vfio_pci_bar *b, uint64_t off, uint64_t size)
{
	struct vfio_pci_piece out[VFIO_PCI_MAX_PIECES];
	unsigned n = 0;

	for (unsigned i = 0; i < b->nr_pieces; i++) {
		struct vfio_pci_piece p = b->pieces[i];
		uint64_t end = p.off + p.size;

		if (!ranges_overlap(p.off, p.size, off, size)) {
			if (n < VFIO_PCI_MAX_PIECES)
				out[n++] = p;
			continue;
		}
		if (p.off < off && n < VFIO_PCI_MAX_PIECES)
			out[n++] = (struct vfio_pci_piece){ .off = p.off, .size = off - p.off };
		if (end > off + size && n < VFIO_PCI_MAX_PIECES)
			out[n++] = (struct vfio_pci_piece){ .off = off + size,
							    .size = end - (off + size) };
	}
	memcpy(b->pieces, out, sizeof(out[0]) * n);
	b->nr_pieces = n;
}

/* Works out which parts of BAR `bar` go into the guest as DEVICE_RAM and mmaps them. */
static void vfio_pci_bar_mmap(struct vfio_pci *dp, unsigned bar)
{
	struct vfio_pci_bar *b = &dp->bars.bar[bar];
	const struct msix *msix = &dp->irq.msix;
	uint64_t pg = (uint64_t)sysconf(_SC_PAGESIZE);
	unsigned n = 0;

	b->nr_pieces = 0;
	if (!dp->cfg.bar_mmap) {
		vp_debug(dp, "BAR%u: trapped (bar-mmap=off)", bar);
		return;
	}
	if (dp->pci.bars[bar].type == PCI_BAR_IO) {
		vp_debug(dp, "BAR%u: I/O ports, trapped", bar);
		return;
	}
	if (!(b->region.flags & VFIO_REGION_INFO_FLAG_MMAP)) {
		vp_debug(dp, "BAR%u: the kernel does not allow mmap, trapped", bar);
		return;
	}
	if (b->region.nr_sparse == 0) {
		b->pieces[0] = (struct vfio_pci_piece){ .off = 0, .size = b->region.size };
		b->nr_pieces = 1;
	} else {
		for (unsigned i = 0; i < b->region.nr_sparse && i < VFIO_MAX_SPARSE; i++) {
			b->pieces[i] = (struct vfio_pci_piece){ .off = b->region.sparse[i].offset,
								.size = b->region.sparse[i].size };
			vp_debug(dp, "BAR%u: sparse mmap area 0x%llx+0x%llx", bar,
				 (unsigned long long)b->region.sparse[i].offset,
				 (unsigned long long)b->region.sparse[i].size);
		}
		b->nr_pieces = MIN(b->region.nr_sparse, (unsigned)VFIO_MAX_SPARSE);
	}
	if (msix->table && bar == msix->bar) {
		/* the table and the PBA stay trapped, whole host pages around them */
		uint64_t t = ALIGN_DOWN((uint64_t)msix->table_off, pg);
		uint64_t te = ALIGN_UP(msix->table_off + msix_table_size(msix), pg);
		uint64_t p = ALIGN_DOWN((uint64_t)msix->pba_off, pg);
		uint64_t pe = ALIGN_UP(msix->pba_off + msix_pba_size(msix), pg);

		vfio_pci_pieces_cut(b, t, te - t);
		vfio_pci_pieces_cut(b, p, pe - p);
		vp_debug(dp, "BAR%u: MSI-X table 0x%llx-0x%llx and PBA 0x%llx-0x%llx trapped", bar,
			 (unsigned long long)t, (unsigned long long)te, (unsigned long long)p,
			 (unsigned long long)pe);
	}
	b->mmap_bytes = 0;
	for (unsigned i = 0; i < b->nr_pieces; i++) {
		struct vfio_pci_piece p = b->pieces[i];

		/* memslots are whole pages; a piece that is not, or that leaves the BAR, stays
		 * trapped */
		if (!p.size || p.off % pg || p.size % pg || p.off + p.size > b->region.size ||
		    p.off + p.size < p.off) {
			vp_debug(dp, "BAR%u: area 0x%llx+0x%llx not page aligned, trapped", bar,
				 (unsigned long long)p.off, (unsigned long long)p.size);
			continue;
		}
		p.hva = vfio_device_region_mmap(dp->vdev, &b->region, p.off, p.size);
		if (!p.hva) {
			vp_debug(dp, "BAR%u: area 0x%llx+0x%llx cannot be mmap'd, trapped", bar,
				 (unsigned long long)p.off, (unsigned long long)p.size);
			continue;
		}
		p.added = false;
		b->pieces[n++] = p;
		b->mmap_bytes += p.size;
	}
	b->nr_pieces = n;
}

void vfio_pci_bars_mmap(struct vfio_pci *dp)
{
	for (unsigned i = 0; i < PCI_NUM_BARS; i++)
		if (dp->bars.bar[i].present)
			vfio_pci_bar_mmap(dp, i);
}

/* ---- trapped accesses and placement ---- */

void vfio_pci_bar_read(struct pci_device *pdev, unsigned bar, uint64_t off, void *data,
		       unsigned len)
{
	struct vfio_pci *dp = to_vfio_pci(pdev);
	struct vfio_pci_bar *b = &dp->bars.bar[bar];

	atomic_fetch_add(&b->exits, 1);
	if (!vfio_pci_wait_open(dp)) {
		memset(data, 0xff, len);
		return;
	}
	if (msix_bar_read(&dp->irq.msix, bar, off, data, len))
		return;
	if (vfio_device_region_read(dp->vdev, &b->region, off, data, len))
		memset(data, 0xff, len);
}

void vfio_pci_bar_write(struct pci_device *pdev, unsigned bar, uint64_t off, const void *data,
			unsigned len)
{
	struct vfio_pci *dp = to_vfio_pci(pdev);
	struct vfio_pci_bar *b = &dp->bars.bar[bar];

	atomic_fetch_add(&b->exits, 1);
	if (!vfio_pci_wait_open(dp))
		return;
	if (msix_bar_write(&dp->irq.msix, bar, off, data, len))
		return;
	vfio_device_region_write(dp->vdev, &b->region, off, data, len);
}

static void vfio_pci_bar_unplace(struct vfio_pci *dp, unsigned bar)
{
	struct vfio_pci_bar *b = &dp->bars.bar[bar];
	struct memmap *mm = vm_memmap(dp->vm);

	for (unsigned i = 0; i < b->nr_pieces; i++) {
		struct vfio_pci_piece *p = &b->pieces[i];

		if (p->added && memmap_del_region(mm, b->addr + p->off))
			vp_warn_rl(dp, "BAR%u: no region at 0x%llx to remove", bar,
				   (unsigned long long)(b->addr + p->off));
		p->added = false;
	}
	pci_device_bar_trap(&dp->pci, bar, b->addr, false);
	b->mapped = false;
}

/* pci.c calls this when decoding of BAR `bar` starts (map) or stops; the guest moves a BAR
 * as a stop at the old address and a start at the new one. */
int vfio_pci_bar_map(struct pci_device *pdev, unsigned bar, uint64_t addr, bool map)
{
	struct vfio_pci *dp = to_vfio_pci(pdev);
	struct vfio_pci_bar *b = &dp->bars.bar[bar];
	struct memmap *mm = vm_memmap(dp->vm);
	int ret;

	if (!map) {
		if (b->mapped)
			vfio_pci_bar_unplace(dp, bar);
		vp_debug(dp, "BAR%u no longer decoded at 0x%llx", bar, (unsigned long long)addr);
		return 0;
	}
	/* the pieces to map are known once the device is open */
	if (!vfio_pci_wait_open(dp))
		return -EIO;
	/* The trap covers the whole BAR; the mmap'd pieces are memslots on top of it, so
	 * only accesses to the holes (MSI-X table, PBA, unmappable parts) exit. */
	b->addr = addr;
	ret = pci_device_bar_trap(pdev, bar, addr, true);
	if (ret) {
		vp_warn_rl(dp,
			   "BAR%u at 0x%llx: the guest placed it over another device (%s): not "
			   "decoded",
			   bar, (unsigned long long)addr, strerror(-ret));
		return ret;
	}
	b->mapped = true;
	for (unsigned i = 0; i < b->nr_pieces; i++) {
		struct vfio_pci_piece *p = &b->pieces[i];
		struct memmap_region r = {
			.gpa = addr + p->off,
			.size = p->size,
			.kind = MEMMAP_DEVICE_RAM,
			.hva = p->hva,
			.fd = -1,
			.kvm_slot = -1,
		};

		snprintf(r.name, sizeof(r.name), "vfio %s bar%u.%u", dp->cfg.bdf + 5, bar, i);
		ret = memmap_add_region(mm, &r);
		if (ret) {
			vp_warn_rl(dp,
				   "BAR%u piece 0x%llx+0x%llx at 0x%llx: the guest placed it over "
				   "memory or another BAR (%s): not decoded",
				   bar, (unsigned long long)p->off, (unsigned long long)p->size,
				   (unsigned long long)r.gpa, strerror(-ret));
			vfio_pci_bar_unplace(dp, bar);
			return ret;
		}
		p->added = true;
	}
	if (b->nr_pieces)
		vp_info_rl(dp,
			   "BAR%u at 0x%llx size 0x%llx: mmap'd 0x%llx bytes in %u piece(s), "
			   "0x%llx trapped",
			   bar, (unsigned long long)addr, (unsigned long long)b->region.size,
			   (unsigned long long)b->mmap_bytes, b->nr_pieces,
			   (unsigned long long)(b->region.size - b->mmap_bytes));
	else
		vp_info_rl(dp, "BAR%u at 0x%llx size 0x%llx (%s): trapped", bar,
			   (unsigned long long)addr, (unsigned long long)b->region.size,
			   dp->pci.bars[bar].type == PCI_BAR_IO ? "I/O ports" : "MMIO");
	return 0;
}

/* ---- expansion ROM (rom=on): a read-only trap while the guest enables it ---- */

int vfio_pci_bars_attach(struct vfio_pci *dp)
{
	for (unsigned i = 0; i <= VFIO_PCI_ROM_BAR; i++) {
		struct vfio_pci_bar *b = &dp->bars.bar[i];
		/* the upper half of a 64-bit BAR was never asked: VFIO sizes it 0 too */
		uint64_t want = b->region.size;
		int ret;

		if (i == VFIO_PCI_ROM_BAR && !b->present)
			continue; /* hidden: whatever VFIO says of it does not reach the guest */
		ret = vfio_device_region_info(dp->vdev, VFIO_PCI_BAR0_REGION_INDEX + i, &b->region);
		if (ret)
			return ret;
		if (b->region.size != want) {
			char what[8] = "ROM";

			if (i < VFIO_PCI_ROM_BAR)
				snprintf(what, sizeof(what), "BAR%u", i);
			vp_err(dp,
			       "%s: VFIO sizes it 0x%llx bytes, sysfs said 0x%llx: the device "
			       "changed under ptvm",
			       what, (unsigned long long)b->region.size, (unsigned long long)want);
			return -EIO;
		}
	}
	return 0;
}

void vfio_pci_rom_init(struct vfio_pci *dp)
{
	struct vfio_pci_bar *b = &dp->bars.bar[VFIO_PCI_ROM_BAR];
	uint64_t size;

	if (!dp->cfg.rom) {
		vp_debug(dp, "ROM BAR hidden (rom=off)");
		return;
	}
	if (vfio_device_region_info(dp->vdev, VFIO_PCI_ROM_REGION_INDEX, &b->region) ||
	    !b->region.size) {
		vp_info(dp, "rom=on but the device has no expansion ROM");
		return;
	}
	size = MAX(b->region.size, (uint64_t)0x800);
	if (size & (size - 1) || size > SZ_1G) {
		vp_warn(dp, "ROM of 0x%llx bytes is not a valid ROM BAR: hidden",
			(unsigned long long)b->region.size);
		return;
	}
	b->present = true;
	dp->bars.rom_size = size;
	pci_config_set(&dp->pci, PCI_ROM_ADDRESS, 0, 4);
	memcpy(&dp->pci.wmask[PCI_ROM_ADDRESS],
	       &(uint32_t){ (uint32_t) ~(size - 1) | PCI_ROM_ADDRESS_ENABLE }, 4);
	vp_debug(dp, "ROM BAR exposed: 0x%llx bytes", (unsigned long long)size);
}

static void vfio_pci_rom_read(struct bus_dev *bd, uint64_t off, void *data, unsigned len)
{
	struct vfio_pci *dp = container_of(bd, struct vfio_pci, bars.rom_trap);
	struct vfio_pci_bar *b = &dp->bars.bar[VFIO_PCI_ROM_BAR];

	atomic_fetch_add(&b->exits, 1);
	if (off + len > b->region.size ||
	    vfio_device_region_read(dp->vdev, &b->region, off, data, len))
		memset(data, 0xff, len);
}

static void vfio_pci_rom_write(struct bus_dev *bd, uint64_t off, const void *data, unsigned len)
{
	struct vfio_pci *dp = container_of(bd, struct vfio_pci, bars.rom_trap);

	atomic_fetch_add(&dp->bars.bar[VFIO_PCI_ROM_BAR].exits, 1);
}

static const struct bus_dev_ops vfio_pci_rom_ops = {
	.read = vfio_pci_rom_read,
	.write = vfio_pci_rom_write,
};

void vfio_pci_rom_update(struct vfio_pci *dp)
{
	struct vfio_pci_bars *bars = &dp->bars;
	uint32_t bar = pci_config_get(&dp->pci, PCI_ROM_ADDRESS, 4);
	uint16_t cmd = (uint16_t)pci_config_get(&dp->pci, PCI_COMMAND, 2);
	uint64_t addr = bar & PCI_ROM_ADDRESS_MASK;
	bool want = bars->rom_size && (bar & PCI_ROM_ADDRESS_ENABLE) &&
		    (cmd & PCI_COMMAND_MEMORY) && addr && addr + bars->rom_size > addr;

	if (!bars->rom_size)
		return;
	if (bars->rom_mapped && (!want || bars->rom_trap.base != addr)) {
		vm_unregister_mmio(dp->vm, &bars->rom_trap);
		bars->rom_mapped = false;
		vp_debug(dp, "ROM no longer decoded");
	}
	if (want && !bars->rom_mapped) {
		/* ops once: a vCPU may still be dispatching to the trap (see pci.c) */
		if (!bars->rom_trap.ops)
			bars->rom_trap = (struct bus_dev){ .len = bars->rom_size,
							   .ops = &vfio_pci_rom_ops,
							   .name = dp->name };
		bars->rom_trap.base = addr;
		if (vm_register_mmio(dp->vm, &bars->rom_trap)) {
			vp_warn_rl(dp, "ROM at 0x%llx overlaps another device, left unmapped",
				   (unsigned long long)addr);
			return;
		}
		bars->rom_mapped = true;
		vp_info_rl(dp, "ROM at 0x%llx size 0x%llx: trapped, read-only",
			   (unsigned long long)addr, (unsigned long long)bars->rom_size);
	}
}

/* ---- teardown and report ---- */

void vfio_pci_bars_exit(struct vfio_pci *dp)
{
	if (dp->bars.rom_mapped)
		vm_unregister_mmio(dp->vm, &dp->bars.rom_trap);
	dp->bars.rom_mapped = false;
	for (unsigned i = 0; i < PCI_NUM_BARS; i++) {
		struct vfio_pci_bar *b = &dp->bars.bar[i];

		for (unsigned j = 0; j < b->nr_pieces; j++)
			if (b->pieces[j].hva)
				munmap(b->pieces[j].hva, b->pieces[j].size);
		b->nr_pieces = 0;
	}
}

void vfio_pci_bars_report(struct vfio_pci *dp)
{
	for (unsigned i = 0; i <= VFIO_PCI_ROM_BAR; i++) {
		struct vfio_pci_bar *b = &dp->bars.bar[i];
		char what[8];

		if (!b->present)
			continue;
		if (i == VFIO_PCI_ROM_BAR)
			snprintf(what, sizeof(what), "ROM");
		else
			snprintf(what, sizeof(what), "BAR%u", i);
		vp_info(dp, "%s: size 0x%llx, mmap'd 0x%llx bytes, %llu trapped accesses", what,
			(unsigned long long)b->region.size, (unsigned long long)b->mmap_bytes,
			(unsigned long long)atomic_load(&b->exits));
	}
}
