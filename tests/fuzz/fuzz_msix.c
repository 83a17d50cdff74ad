// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the MSI-X emulation of ptvm's own PCI functions (devices/msix.c): the
 * vector table and PBA as the guest reads and writes them (any offset and width), the
 * capability's control word written through the real config space (write masks included),
 * and the device raising vectors. The function sits on a real pci.c bus.
 *
 * Input: u8 vector count (1..64), then operations, one byte each and their operands:
 *   op % 6 == 0  table write: u16 offset, value of 1, 2, 4 or 8 bytes (op bits 4-5)
 *   op % 6 == 1  table read:  u16 offset
 *   op % 6 == 2  PBA read:    u16 offset
 *   op % 6 == 3  config write: u8 offset into the capability (0..11), u16 value, 1/2/4 bytes
 *   op % 6 == 4  the device raises vector u8
 *   op % 6 == 5  the owner reads vector u8's message
 * Checked throughout: a vector fires only while MSI-X is enabled, the function unmasked and
 * the entry unmasked; a pending bit never stays set on a vector that could fire; the owner
 * hears of every change of a vector's address/data and sees what the table holds; reads of
 * the table give back what was written.
 *
 * FUZZ_SOURCES: devices/msix.c
 */
#include <stdlib.h>

#include "devices/msix.h"
#include "devices/pci.h"
#include "tests/fuzz/lib/fuzz_lib.h"
#include "vmm/util.h"

struct fuzz_msix {
	struct pci_device pci;
	struct msix msix;
	/* what the owner was told */
	uint64_t addr[MSIX_MAX_VECTORS];
	uint32_t data[MSIX_MAX_VECTORS];
	unsigned fired[MSIX_MAX_VECTORS];
};

static struct fuzz_msix *fm;

static bool fuzz_msix_can_fire(struct msix *m, unsigned v)
{
	uint16_t ctrl = (uint16_t)pci_config_get(m->pdev, m->cap + PCI_MSIX_FLAGS, 2);

	return (ctrl & PCI_MSIX_FLAGS_ENABLE) && !(ctrl & PCI_MSIX_FLAGS_MASKALL) &&
	       !(m->table[v].ctrl & PCI_MSIX_ENTRY_CTRL_MASKBIT);
}

static void fuzz_vector_update(struct msix *m, unsigned v, uint64_t addr, uint32_t data)
{
	if (v >= m->nr_vectors)
		fuzz_fail("vector_update of vector %u of %u", v, m->nr_vectors);
	fm->addr[v] = addr;
	fm->data[v] = data;
}

static void fuzz_vector_fire(struct msix *m, unsigned v)
{
	if (v >= m->nr_vectors)
		fuzz_fail("vector_fire of vector %u of %u", v, m->nr_vectors);
	if (!fuzz_msix_can_fire(m, v))
		fuzz_fail("vector %u fired while masked or disabled", v);
	fm->fired[v]++;
}

static const struct msix_ops fuzz_msix_ops = {
	.vector_update = fuzz_vector_update,
	.vector_fire = fuzz_vector_fire,
};

static void fuzz_config_write(struct pci_device *pdev, unsigned offset, const void *data,
			      unsigned len)
{
	msix_config_write(&fm->msix, offset, len);
}

static const struct pci_device_ops fuzz_pci_ops = { .config_write = fuzz_config_write };

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_lib_init(0);
	fm = calloc(1, sizeof(*fm));
	if (!fm)
		fuzz_fail("setup");
	return 0;
}

static void fuzz_msix_check(struct msix *m)
{
	for (unsigned v = 0; v < m->nr_vectors; v++) {
		uint64_t addr = ((uint64_t)m->table[v].addr_hi << 32) | m->table[v].addr_lo;

		if ((m->pending & (1ULL << v)) && fuzz_msix_can_fire(m, v))
			fuzz_fail("vector %u pending although it can fire", v);
		if (addr != fm->addr[v] || m->table[v].data != fm->data[v])
			fuzz_fail("vector %u changed without telling its owner", v);
	}
	if (m->nr_vectors < 64 && (m->pending >> m->nr_vectors))
		fuzz_fail("pending bits past the last vector: 0x%llx",
			  (unsigned long long)m->pending);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = fuzz_in_make(data, size);
	unsigned nr = 1 + fuzz_u8(&in) % MSIX_MAX_VECTORS;
	struct pci_bus_windows win = {
		.mmio32_start = 0xc0000000,
		.mmio32_size = 0x20000000,
		.io_start = 0xc000,
		.io_size = 0x4000,
	};
	struct msix *m = &fm->msix;
	struct pci_bus *pbus;
	uint8_t devfn;

	fuzz_input_begin();
	memset(fm, 0, sizeof(*fm));
	if (pci_bus_create(NULL, &win, &pbus))
		fuzz_fail("pci_bus_create");
	pci_device_init(&fm->pci, "fuzz-msix", 0x1af4, 0x1000, 0xff0000, &fuzz_pci_ops);
	if (pci_device_set_bar(&fm->pci, 2, PCI_BAR_MEM32, 0x1000, false) ||
	    msix_init(m, &fm->pci, nr, 2, 0, 0x800, &fuzz_msix_ops) ||
	    pci_bus_add_device(pbus, &fm->pci, -1))
		fuzz_fail("msix setup with %u vectors", nr);
	devfn = fm->pci.devfn;
	while (!fuzz_in_done(&in)) {
		uint8_t op = fuzz_u8(&in);
		unsigned len = 1u << ((op >> 4) & 3), v;
		uint64_t val = 0, back = 0;
		uint16_t off;

		switch (op % 6) {
		case 0:
			off = fuzz_u16(&in) & 0xfff;
			fuzz_in_bytes(&in, &val, len);
			msix_table_write(m, off, &val, len);
			if ((len == 4 || len == 8) && !(off % len) &&
			    off + len <= nr * MSIX_ENTRY_SIZE) {
				/* the mask bit is all of the control word that sticks */
				msix_table_read(m, off, &back, len);
				if ((off & 15) + len <= 12 && back != val)
					fuzz_fail("table at 0x%x reads 0x%llx after writing 0x%llx",
						  off, (unsigned long long)back,
						  (unsigned long long)val);
			}
			break;
		case 1:
			off = fuzz_u16(&in) & 0xfff;
			msix_table_read(m, off, &val, len);
			break;
		case 2:
			off = fuzz_u16(&in) & 0xfff;
			msix_pba_read(m, off, &val, len);
			if (len == 8 && off == 0 && val != m->pending)
				fuzz_fail("PBA reads 0x%llx, pending 0x%llx",
					  (unsigned long long)val, (unsigned long long)m->pending);
			break;
		case 3:
			off = (uint16_t)(m->cap + fuzz_u8(&in) % 12);
			val = fuzz_u16(&in);
			pci_bus_config_write(pbus, 0, devfn, off, &val, MIN(len, 4U));
			break;
		case 4:
			v = fuzz_u8(&in);
			msix_notify(m, v);
			break;
		default: {
			uint64_t addr;
			uint32_t d;

			v = fuzz_u8(&in);
			if (msix_vector_message(m, v, &addr, &d) != (v < nr))
				fuzz_fail("vector_message of vector %u of %u", v, nr);
			if (v < nr && (addr != fm->addr[v] || d != fm->data[v]))
				fuzz_fail("vector_message of vector %u differs from the table", v);
			break;
		}
		}
		fuzz_msix_check(m);
	}
	pci_bus_remove_device(pbus, &fm->pci);
	pci_bus_destroy(pbus);
	msix_exit(m);
	fuzz_input_end();
	return 0;
}
