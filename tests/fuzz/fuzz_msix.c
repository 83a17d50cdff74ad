// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for MSI-X (devices/msix.c with devices/msi.c: the one implementation
 * virtio-pci and vfio-pci share): the vector table and PBA as the guest reads and writes
 * them (any offset and width), the capability's control word written through the real config
 * space (write masks included), the device raising vectors, the owner refusing an enable (as
 * vfio-pci does while MSI is on), and KVM taking the interrupts of bound irqfds. The
 * function sits on a real pci.c bus; routes and irqfds go to the fake machine, which checks
 * KVM's rules (no irqfd on a dead route, no route deleted under its irqfd).
 *
 * Input: u8 vector count (1..16, with bit 6 up to 64; bit 7: a u16 follows, 1..2048: every
 * vector is an eventfd while MSI-X is on, so small tables run fastest), u8 owner flags (bit 0:
 * refuse enables, bit 1: an owner that is told of enables at all), then
 * operations, one byte each and their operands:
 *   op % 7 == 0  table write: u16 offset, value of 1, 2, 4 or 8 bytes (op bits 4-5)
 *   op % 7 == 1  table read:  u16 offset
 *   op % 7 == 2  PBA read:    u16 offset
 *   op % 7 == 3  config write: u8 offset into the capability (0..11), u16 value, 1/2/4 bytes
 *   op % 7 == 4  the device raises vector u16
 *   op % 7 == 5  the owner reads vector u16's message and GSI
 *   op % 7 == 6  function reset (msix_reset); bit 7: the owner's refusal flips
 * Checked after every operation: while MSI-X is on, a vector's irqfd is bound exactly when
 * it is unmasked and routed, and a routed, unmasked vector's KVM route carries the table's
 * message; an interrupt held in the PBA never stays on an unmasked, bound vector; with MSI-X
 * off no route or irqfd is left (the eventfds stay open for the next enable); reads of the
 * table give back what was written.
 *
 * FUZZ_SOURCES: devices/msix.c devices/msi.c
 */
#include <errno.h>
#include <stdlib.h>

#include "devices/msix.h"
#include "devices/pci.h"
#include "tests/fuzz/lib/fuzz_lib.h"
#include "vmm/util.h"

struct fuzz_msix {
	struct pci_device pci;
	struct msix msix;
	bool refuse;
	unsigned enables, disables;
};

static struct fuzz_msix *fm;

static int fuzz_enable(struct msix *m, bool on)
{
	if (on && fm->refuse)
		return -EBUSY;
	if (on)
		fm->enables++;
	else
		fm->disables++;
	return 0;
}

static const struct msix_ops refusing_ops = { .enable = fuzz_enable };

static void fuzz_config_write(struct pci_device *pdev, unsigned offset, const void *data,
			      unsigned len)
{
	msix_config_write(&fm->msix, offset, len);
}

static const struct pci_device_ops fuzz_pci_ops = { .config_write = fuzz_config_write };

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_lib_init(FUZZ_CHECK_FDS);
	fm = calloc(1, sizeof(*fm));
	if (!fm)
		fuzz_fail("setup");
	return 0;
}

FUZZ_CHECKER static bool masked(struct msix *m, unsigned v)
{
	return !m->enabled || m->masked_all || (m->table[v].ctrl & PCI_MSIX_ENTRY_CTRL_MASKBIT);
}

FUZZ_CHECKER static void fuzz_msix_check(struct vm *vm, struct msix *m)
{
	for (unsigned v = 0; v < m->nr_vectors; v++) {
		const struct msi_vector *vec = &m->vec[v];
		uint64_t addr = ((uint64_t)m->table[v].addr_hi << 32) | m->table[v].addr_lo;
		const struct fuzz_route *r = NULL;

		if (!m->enabled) {
			/* the eventfd stays open for the next enable (emptied: a unit test's) */
			if (vec->routed || vec->bound)
				fuzz_fail("vector %u routed or bound with MSI-X off", v);
			continue;
		}
		if (vec->routed) {
			if (vec->gsi < FUZZ_MSI_GSI_BASE ||
			    vec->gsi >= FUZZ_MSI_GSI_BASE + FUZZ_MAX_ROUTES ||
			    !vm->routes[vec->gsi - FUZZ_MSI_GSI_BASE].live)
				fuzz_fail("vector %u routed to gsi %u, which KVM does not have", v,
					  vec->gsi);
			r = &vm->routes[vec->gsi - FUZZ_MSI_GSI_BASE];
		}
		/* a route KVM refused (the fake machine's limit) leaves the vector unrouted */
		if (vec->bound != (vec->routed && !masked(m, v)))
			fuzz_fail("vector %u bound %d, routed %d, masked %d", v, vec->bound,
				  vec->routed, masked(m, v));
		if (r && (r->irqfd >= 0) != vec->bound)
			fuzz_fail("vector %u: KVM's irqfd %d, the vector says bound %d", v,
				  r->irqfd, vec->bound);
		if (r && !masked(m, v) && (r->addr != addr || r->data != m->table[v].data))
			fuzz_fail("vector %u: KVM route 0x%llx/0x%x, table 0x%llx/0x%x", v,
				  (unsigned long long)r->addr, r->data, (unsigned long long)addr,
				  m->table[v].data);
		if (!masked(m, v) && vec->bound && (m->pending[v / 64] & (1ULL << (v % 64))))
			fuzz_fail("vector %u held pending although it can be delivered", v);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = fuzz_in_make(data, size);
	uint8_t nr_code = fuzz_u8(&in);
	/* mostly small tables (each vector is an eventfd while enabled); now and then up to
	 * the 2048 the capability can say */
	unsigned nr = nr_code & 0x80   ? 1 + fuzz_u16(&in) % MSIX_MAX_VECTORS
		      : nr_code & 0x40 ? 1 + (nr_code & 63)
				       : 1 + (nr_code & 15);
	uint8_t flags = fuzz_u8(&in);
	struct msix *m = &fm->msix;
	struct msix_config mc = {
		.dev = &fm->pci,
		.name = "fuzz-msix",
		.nr_vectors = nr,
		.bar = 2,
		.table_off = 0,
		.pba_off = (uint32_t)ALIGN_UP(nr * MSIX_ENTRY_SIZE, 4096),
		.ops = flags & 2 ? &refusing_ops : NULL,
	};
	struct pci_bus *pbus;
	uint8_t devfn;
	struct vm vm;

	fuzz_input_begin();
	fuzz_vm_init(&vm, NULL);
	mc.vm = &vm;
	memset(fm, 0, sizeof(*fm));
	fm->refuse = flags & 1;
	if (pci_bus_create(NULL, &fuzz_pci_windows, &pbus))
		fuzz_fail("pci_bus_create");
	pci_device_init(&fm->pci, "fuzz-msix", 0x1af4, 0x1000, 0xff0000, &fuzz_pci_ops);
	if (pci_device_set_bar(&fm->pci, 2, PCI_BAR_MEM32, 0x10000, false) || msix_init(m, &mc) ||
	    pci_bus_add_device(pbus, &fm->pci, -1))
		fuzz_fail("msix setup with %u vectors", nr);
	devfn = fm->pci.devfn;
	while (!fuzz_in_done(&in)) {
		uint8_t op = fuzz_u8(&in);
		unsigned len = 1u << ((op >> 4) & 3), v;
		uint64_t val = 0, back = 0;
		uint16_t off;

		switch (op % 7) {
		case 0:
			off = fuzz_u16(&in) % 0x8000;
			fuzz_in_bytes(&in, &val, len);
			msix_table_write(m, off, &val, len);
			if ((len == 4 || len == 8) && !(off % len) &&
			    off + len <= nr * MSIX_ENTRY_SIZE && (off & 15) + len <= 12) {
				/* reserved bits: the address's two low ones, the control word */
				uint64_t want = val;

				if (!(off & 15))
					want &= ~3ULL;
				msix_table_read(m, off, &back, len);
				if (back != want)
					fuzz_fail("table at 0x%x reads 0x%llx after writing 0x%llx",
						  off, (unsigned long long)back,
						  (unsigned long long)val);
			}
			break;
		case 1:
			msix_table_read(m, fuzz_u16(&in) % 0x8000, &val, len);
			break;
		case 2:
			msix_pba_read(m, fuzz_u16(&in) % 0x200, &val, len);
			break;
		case 3:
			off = (uint16_t)(m->cap + fuzz_u8(&in) % 12);
			val = fuzz_u16(&in);
			pci_bus_config_write(pbus, 0, devfn, off, &val, MIN(len, 4U));
			break;
		case 4:
			msix_notify(m, fuzz_u16(&in) % (nr + 1));
			break;
		case 5: {
			uint64_t addr;
			uint32_t d;
			unsigned gsi;

			v = fuzz_u16(&in) % (nr + 1);
			if (msix_vector_message(m, v, &addr, &d) != (v < nr))
				fuzz_fail("vector_message of vector %u of %u", v, nr);
			msix_vector_gsi(m, v, &gsi);
			break;
		}
		default:
			if (op & 0x80)
				fm->refuse = !fm->refuse;
			msix_reset(m);
			break;
		}
		fuzz_vm_deliver(&vm);
		fuzz_msix_check(&vm, m);
	}
	pci_bus_remove_device(pbus, &fm->pci);
	pci_bus_destroy(pbus);
	msix_exit(m);
	fuzz_vm_exit(&vm);
	fuzz_input_end();
	return 0;
}
