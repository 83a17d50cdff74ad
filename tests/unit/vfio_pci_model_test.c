// SPDX-License-Identifier: MIT
/*
 * devices/vfio_pci.c against a fake VFIO device: config-space virtualization (identity,
 * capability chain rebuilt with hidden capabilities, BAR sizing from the region sizes, ROM
 * hidden or exposed, command forwarding), BAR placement (sparse mmap areas as DEVICE_RAM
 * pieces, the MSI-X table and PBA pages and the holes trapped, bar-mmap=off trapping it all,
 * the guest moving a BAR), MSI and MSI-X emulation (the guest's writes program KVM MSI routes
 * and irqfds through a fake machine, never the device), INTx with its resample eventfd,
 * hostile config and table accesses, the --device parser, and teardown.
 *
 * The fakes are defined here, so the linker never pulls iommu/ or vmm/vm.o out of the
 * library: the vfio_device_* calls act on an in-memory device, the vm_* calls record what
 * a KVM would have been told, and the guest's view is driven through the real pci.c bus.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "devices/pci.h"
#include "devices/vfio_pci.h"
#include "iommu/vfio.h"
#include "iommu/vfio_device.h"
#include "vmm/x86/layout.h"
#include "vmm/log.h"

#include "fake_edu.h"
#include "test_helpers.h"
#include "vmm/machine.h"
#include "vmm/memmap.h"
#include "vmm/util.h"

/* ---- the fake machine ---- */

struct vm {
	struct bus pio, mmio;
	struct memmap *mm;
};

/* vm_register_pio/mmio and their unregister calls */
#include "fake_vm_bus.h"

#define MAX_ROUTES 64

struct route {
	bool live;
	uint64_t addr;
	uint32_t data;
	int irqfd; /* bound eventfd, -1 none */
	int resample;
};

static struct vm vm;
static struct route routes[MAX_ROUTES];
static unsigned nr_route_adds, nr_route_dels, nr_route_updates, nr_irqfd_assigns,
    nr_irqfd_deassigns;

struct memmap *vm_memmap(struct vm *v)
{
	return v->mm;
}

/* GSIs 100.. are MSI routes, below are irqchip pins */
#define MSI_GSI_BASE 100

int vm_msi_route_add(struct vm *v, uint64_t addr, uint32_t data, uint32_t devid, unsigned *gsi)
{
	for (unsigned i = 0; i < MAX_ROUTES; i++) {
		if (!routes[i].live) {
			routes[i] = (struct route){ true, addr, data, -1, -1 };
			*gsi = MSI_GSI_BASE + i;
			nr_route_adds++;
			return 0;
		}
	}
	return -ENOSPC;
}

static struct route *route_of(unsigned gsi)
{
	assert_true(gsi >= MSI_GSI_BASE && gsi < MSI_GSI_BASE + MAX_ROUTES);
	assert_true(routes[gsi - MSI_GSI_BASE].live);
	return &routes[gsi - MSI_GSI_BASE];
}

int vm_msi_route_update(struct vm *v, unsigned gsi, uint64_t addr, uint32_t data)
{
	struct route *r = route_of(gsi);

	r->addr = addr;
	r->data = data;
	nr_route_updates++;
	return 0;
}

void vm_msi_route_del(struct vm *v, unsigned gsi)
{
	struct route *r = route_of(gsi);

	assert_int_equal(r->irqfd, -1); /* KVM would keep injecting into a deleted route */
	r->live = false;
	nr_route_dels++;
}

/* INTx: the irqchip pin's binding */
static int intx_irqfd = -1, intx_resample = -1;
static unsigned intx_gsi_bound;

int vm_irqfd_assign(struct vm *v, int fd, unsigned gsi, int resample_fd)
{
	nr_irqfd_assigns++;
	if (gsi < MSI_GSI_BASE) {
		assert_int_equal(intx_irqfd, -1);
		intx_irqfd = fd;
		intx_resample = resample_fd;
		intx_gsi_bound = gsi;
		return 0;
	}
	assert_int_equal(route_of(gsi)->irqfd, -1);
	route_of(gsi)->irqfd = fd;
	route_of(gsi)->resample = resample_fd;
	return 0;
}

void vm_irqfd_deassign(struct vm *v, int fd, unsigned gsi)
{
	nr_irqfd_deassigns++;
	if (gsi < MSI_GSI_BASE) {
		assert_int_equal(intx_irqfd, fd);
		intx_irqfd = -1;
		return;
	}
	assert_int_equal(route_of(gsi)->irqfd, fd);
	route_of(gsi)->irqfd = -1;
}

static _Atomic bool vm_exiting;
static _Atomic int exit_status = -1; /* the status of the first vm_request_exit */

bool vm_is_exiting(struct vm *v)
{
	return vm_exiting;
}

void vm_request_exit(struct vm *v, int status, const char *reason)
{
	int none = -1;

	atomic_compare_exchange_strong(&exit_status, &none, status);
	vm_exiting = true;
}

/* ---- the fake DMA gate (iommu/vfio.c): mappings "in place" after dma_pending_calls ---- */

static struct {
	unsigned begins, ends, timeouts;
	int pending_calls; /* calls that still time out */
	int fail;	   /* -errno: a mapping failed */
	bool on;
	uint16_t cmd_at_begin; /* the device's command register when the gate was asked */
} gate;

static uint16_t fake_cmd(void);

int vfio_device_dma_begin(struct vfio *v, struct vfio_device *d, double timeout_s)
{
	gate.cmd_at_begin = fake_cmd();
	if (!gate.on)
		gate.begins++;
	gate.on = true;
	if (gate.pending_calls > 0) {
		gate.pending_calls--;
		gate.timeouts++;
		return -ETIMEDOUT;
	}
	if (gate.fail) {
		gate.on = false;
		return gate.fail;
	}
	return 0;
}

void vfio_device_dma_end(struct vfio *v, struct vfio_device *d)
{
	if (gate.on)
		gate.ends++;
	gate.on = false;
}

/* ---- the fake VFIO device ---- */

#define BAR0_SIZE SZ_1M
#define BAR1_SIZE 0x20
#define BAR2_SIZE 0x4000
#define ROM_SIZE 0x8000
#define MSI_CAP EDU_MSI_CAP
#define PCIE_CAP EDU_PCIE_CAP
#define MSIX_CAP EDU_MSIX_CAP
#define MSIX_TABLE_OFF EDU_MSIX_TABLE_OFF
#define MSIX_PBA_OFF EDU_MSIX_PBA_OFF
#define MSIX_VECTORS 8

struct irq_state {
	unsigned count; /* what the last SET_IRQS enabled, 0 = disabled */
	int fds[MSIX_VECTORS];
	int unmask_fd;
	unsigned sets;
	unsigned host_max; /* vectors the host can give (MSI, MSI-X); 0: as many as asked */
};

static struct fake_dev {
	struct vfio_device vdev;
	uint8_t cfg[PCI_CFG_SPACE_SIZE];
	uint8_t bar0[BAR0_SIZE];
	uint8_t bar1[BAR1_SIZE];
	uint8_t bar2[BAR2_SIZE];
	uint8_t rom[ROM_SIZE];
	bool has_rom;
	unsigned resets;
	unsigned config_writes, last_config_write_off;
	unsigned bar_reads[7], bar_writes[7];
	unsigned mmaps;
	struct irq_state irq[3]; /* INTx, MSI, MSI-X */
	bool detached;
} fake;

int vfio_attach_device(struct vfio *v, const char *bdf, bool p2p, struct vfio_device **out)
{
	*out = &fake.vdev;
	return 0;
}

int vfio_attach_device_viommu(struct vfio *v, const char *bdf, struct vfio_device **out)
{
	return vfio_attach_device(v, bdf, false, out);
}

void vfio_detach_device(struct vfio *v, struct vfio_device *d)
{
	assert_ptr_equal(d, &fake.vdev);
	fake.detached = true;
}

/*
 * The deferred open (iommu/vfio.c): while pending, the device has no fd, reads of anything but
 * config space fail as the real ones do, and region info answers as sysfs would (no mmap);
 * the test opens it (fake_open_release) from a thread of its own, as vfio_start_device_opens
 * does, and the model's opened() runs there.
 */
static struct {
	bool pending;
	void (*opened)(void *opaque, int err);
	void *opaque;
	pthread_t thread;
	bool running;
	int err;		 /* what the open returns */
	uint64_t bar0_size_open; /* VFIO's size for BAR0 once open, when not 0 */
} fake_open;

bool vfio_device_is_open(const struct vfio_device *d)
{
	return !fake_open.pending;
}

void vfio_device_open_later(struct vfio_device *d, void (*opened)(void *opaque, int err),
			    void *opaque)
{
	assert_ptr_equal(d, &fake.vdev);
	fake_open.opened = opened;
	fake_open.opaque = opaque;
}

void vfio_device_open_join(struct vfio_device *d)
{
	if (fake_open.running)
		pthread_join(fake_open.thread, NULL);
	fake_open.running = false;
}

static void *fake_opener(void *arg)
{
	if (!fake_open.err)
		fake_open.pending = false;
	fake_open.opened(fake_open.opaque, fake_open.err);
	return NULL;
}

static void fake_open_release(void)
{
	assert_non_null(fake_open.opened);
	assert_int_equal(pthread_create(&fake_open.thread, NULL, fake_opener, NULL), 0);
	fake_open.running = true;
}

int vfio_device_region_info(struct vfio_device *d, uint32_t index, struct vfio_region *out)
{
	bool pending = fake_open.pending;

	memset(out, 0, sizeof(*out));
	out->index = index;
	out->flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
	switch (index) {
	case VFIO_PCI_BAR0_REGION_INDEX:
		/* two mmap-able areas with a trapped page between them */
		out->size = BAR0_SIZE;
		out->flags |= VFIO_REGION_INFO_FLAG_MMAP;
		out->nr_sparse = 2;
		out->sparse[0].offset = 0;
		out->sparse[0].size = 0x1000;
		out->sparse[1].offset = 0x2000;
		out->sparse[1].size = BAR0_SIZE - 0x2000;
		break;
	case VFIO_PCI_BAR1_REGION_INDEX:
		out->size = BAR1_SIZE;
		break;
	case VFIO_PCI_BAR2_REGION_INDEX:
		/* all of it mmap-able: the MSI-X pages must be cut out by the model */
		out->size = BAR2_SIZE;
		out->flags |= VFIO_REGION_INFO_FLAG_MMAP;
		break;
	case VFIO_PCI_ROM_REGION_INDEX:
		out->size = fake.has_rom ? ROM_SIZE : 0;
		out->flags = VFIO_REGION_INFO_FLAG_READ;
		break;
	case VFIO_PCI_CONFIG_REGION_INDEX:
		out->size = PCI_CFG_SPACE_SIZE;
		break;
	default:
		out->size = 0; /* BAR3 (BAR2's upper half), BAR4, BAR5 */
		break;
	}
	if (pending) {
		/* sysfs tells sizes, not which parts the kernel lets us mmap */
		out->flags &= ~VFIO_REGION_INFO_FLAG_MMAP;
		out->nr_sparse = 0;
	} else if (index == VFIO_PCI_BAR0_REGION_INDEX && fake_open.bar0_size_open) {
		out->size = fake_open.bar0_size_open;
	}
	return 0;
}

static uint8_t *fake_region(uint32_t index, uint64_t *size)
{
	switch (index) {
	case VFIO_PCI_BAR0_REGION_INDEX:
		*size = BAR0_SIZE;
		return fake.bar0;
	case VFIO_PCI_BAR1_REGION_INDEX:
		*size = BAR1_SIZE;
		return fake.bar1;
	case VFIO_PCI_BAR2_REGION_INDEX:
		*size = BAR2_SIZE;
		return fake.bar2;
	case VFIO_PCI_ROM_REGION_INDEX:
		*size = ROM_SIZE;
		return fake.rom;
	case VFIO_PCI_CONFIG_REGION_INDEX:
		*size = PCI_CFG_SPACE_SIZE;
		return fake.cfg;
	default:
		fail_msg("access to region %u, which the model should never forward", index);
		return NULL;
	}
}

int vfio_device_region_read(struct vfio_device *d, const struct vfio_region *r, uint64_t off,
			    void *buf, size_t len)
{
	uint64_t size;
	uint8_t *p = fake_region(r->index, &size);

	if (fake_open.pending && r->index != VFIO_PCI_CONFIG_REGION_INDEX)
		return -EAGAIN;
	if (off + len > size)
		return -EIO;
	if (r->index <= VFIO_PCI_ROM_REGION_INDEX)
		fake.bar_reads[r->index]++;
	memcpy(buf, p + off, len);
	/* before its open vfio-pci keeps the function in D3hot, as sysfs then shows */
	if (fake_open.pending && ranges_overlap(off, len, 0x40 + PCI_PM_CTRL, 1))
		((uint8_t *)buf)[0x40 + PCI_PM_CTRL - off] |= 3; /* D3hot */
	/* the edu liveness register at 4 reads back inverted */
	if (r->index == VFIO_PCI_BAR0_REGION_INDEX && off == 4 && len == 4)
		*(uint32_t *)buf = ~*(uint32_t *)buf;
	return 0;
}

int vfio_device_region_write(struct vfio_device *d, const struct vfio_region *r, uint64_t off,
			     const void *buf, size_t len)
{
	uint64_t size;
	uint8_t *p = fake_region(r->index, &size);

	if (fake_open.pending)
		return -EAGAIN;
	if (off + len > size)
		return -EIO;
	if (r->index == VFIO_PCI_CONFIG_REGION_INDEX) {
		fake.config_writes++;
		fake.last_config_write_off = (unsigned)off;
	} else if (r->index <= VFIO_PCI_ROM_REGION_INDEX) {
		fake.bar_writes[r->index]++;
	}
	memcpy(p + off, buf, len);
	return 0;
}

void *vfio_device_region_mmap(struct vfio_device *d, const struct vfio_region *r, uint64_t off,
			      uint64_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	assert_true(p != MAP_FAILED);
	fake.mmaps++;
	return p;
}

int vfio_device_irq_count(struct vfio_device *d, uint32_t index, uint32_t *count, uint32_t *flags)
{
	static const uint32_t counts[] = { 1, 4, MSIX_VECTORS };

	*flags = 0;
	*count = index < 3 ? counts[index] : 0;
	return 0;
}

int vfio_device_set_irq_eventfds(struct vfio_device *d, uint32_t index, uint32_t start,
				 uint32_t count, const int *fds)
{
	struct irq_state *s = &fake.irq[index];

	assert_false(fake_open.pending);
	assert_true(index < 3);
	assert_int_equal(start, 0);
	/* VFIO refuses to switch interrupt types without disabling the old one first */
	for (unsigned i = 0; count && i < 3; i++)
		if (i != index && fake.irq[i].count)
			fail_msg("SET_IRQS index %u while index %u is still enabled", index, i);
	s->sets++;
	if (index != VFIO_PCI_INTX_IRQ_INDEX && !count && !s->count)
		fail_msg("SET_IRQS disables index %u, which is off: VFIO says EINVAL", index);
	/* vfio-pci: an enable the host has too few vectors for enables none, and returns
	 * how many it has */
	if (count && !s->count && s->host_max && count > s->host_max)
		return (int)s->host_max;
	s->count = count;
	for (unsigned i = 0; i < count; i++) {
		assert_true(fds[i] >= 0);
		s->fds[i] = fds[i];
	}
	if (!count)
		s->unmask_fd = -1;
	return 0;
}

int vfio_device_set_irq_unmask_eventfd(struct vfio_device *d, uint32_t index, int fd)
{
	assert_int_equal(index, VFIO_PCI_INTX_IRQ_INDEX);
	fake.irq[index].unmask_fd = fd;
	return 0;
}

int vfio_device_reset(struct vfio_device *d)
{
	fake.resets++;
	return 0;
}

static uint16_t fake_cmd(void)
{
	uint16_t c;

	memcpy(&c, &fake.cfg[PCI_COMMAND], 2);
	return c;
}

static void cfg_put(unsigned off, uint32_t v, unsigned len)
{
	memcpy(&fake.cfg[off], &v, len);
}

/*
 * An edu-like function (fake_edu.h): BAR0 1 MiB MEM32 (sparse), BAR1 32 B I/O, BAR2 16 KiB
 * MEM64 prefetchable holding the MSI-X table and PBA; capabilities PM 0x40 -> MSI 0x50 ->
 * PCIe 0x60 -> MSI-X 0x70 -> vendor 0x80.
 */
static void fake_reset(void)
{
	memset(&fake_open, 0, sizeof(fake_open));
	exit_status = -1;
	memset(&fake, 0, sizeof(fake));
	fake.vdev.fd = -1;
	fake.vdev.reset_works = true;
	snprintf(fake.vdev.bdf, sizeof(fake.vdev.bdf), "0000:00:03.0");
	for (unsigned i = 0; i < 3; i++)
		fake.irq[i].unmask_fd = -1;
	fake_edu_config(fake.cfg, MSIX_VECTORS);
	memcpy(fake.bar0, &(uint32_t){ 0x010000ed }, 4);
	memset(fake.rom, 0x55, sizeof(fake.rom));
}

/* ---- fixture ---- */

static const struct pci_bus_windows windows = PCI_BUS_WINDOWS(0x400000000ULL);

static struct pci_bus *pbus;
static struct vfio_pci *dp;
static uint8_t devfn;

static struct vfio_pci_config default_cfg(void)
{
	struct vfio_pci_config c = { .bdf = "0000:00:03.0", .bar_mmap = true };

	return c;
}

static void machine_up(void)
{
	memset(&gate, 0, sizeof(gate));
	vm_exiting = false;
	memset(routes, 0, sizeof(routes));
	nr_route_adds = nr_route_dels = nr_route_updates = nr_irqfd_assigns = nr_irqfd_deassigns =
	    0;
	intx_irqfd = intx_resample = -1;
	bus_init(&vm.pio, "pio");
	bus_init(&vm.mmio, "mmio");
	assert_int_equal(memmap_create(&vm.mm), 0);
	assert_int_equal(pci_bus_create(&vm, &windows, &pbus), 0);
}

static void device_up(const struct vfio_pci_config *c)
{
	machine_up();
	assert_int_equal(vfio_pci_create(&vm, pbus, (struct vfio *)&fake, c, &dp), 0);
	devfn = vfio_pci_device(dp)->devfn;
}

static int setup(void **state)
{
	struct vfio_pci_config c = default_cfg();

	fake_reset();
	device_up(&c);
	return 0;
}

static void machine_down(void)
{
	pci_bus_destroy(pbus);
	pbus = NULL;
	memmap_destroy(vm.mm);
	vm.mm = NULL;
	bus_exit(&vm.pio);
	bus_exit(&vm.mmio);
}

static int teardown(void **state)
{
	vfio_pci_destroy(dp);
	dp = NULL;
	machine_down();
	return 0;
}

static uint32_t cfg_read(unsigned off, unsigned len)
{
	uint32_t v = 0;

	pci_bus_config_read(pbus, 0, devfn, off, &v, len);
	return v;
}

static void cfg_write(unsigned off, uint32_t v, unsigned len)
{
	pci_bus_config_write(pbus, 0, devfn, off, &v, len);
}

static uint64_t bar_addr(unsigned bar)
{
	uint64_t a = cfg_read(PCI_BASE_ADDRESS_0 + 4 * bar, 4);

	if (a & PCI_BASE_ADDRESS_SPACE_IO)
		return a & PCI_BASE_ADDRESS_IO_MASK;
	if ((a & PCI_BASE_ADDRESS_MEM_TYPE_MASK) == PCI_BASE_ADDRESS_MEM_TYPE_64)
		a |= (uint64_t)cfg_read(PCI_BASE_ADDRESS_0 + 4 * bar + 4, 4) << 32;
	return a & PCI_BASE_ADDRESS_MEM_MASK;
}

static uint32_t mmio_read(uint64_t addr, unsigned len)
{
	uint32_t v = 0;

	assert_true(bus_access(&vm.mmio, addr, &v, len, false));
	return v;
}

static void mmio_write(uint64_t addr, uint32_t v, unsigned len)
{
	assert_true(bus_access(&vm.mmio, addr, &v, len, true));
}

static void enable_decoding(void)
{
	cfg_write(PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_IO | PCI_COMMAND_MASTER, 2);
}

/* ---- identity and capabilities ---- */

static void test_identity(void **state)
{
	/* no VFIO_DEVICE_RESET at start: vfio-pci reset the device when it was opened */
	assert_int_equal(fake.resets, 0);
	assert_int_equal(cfg_read(PCI_VENDOR_ID, 2), 0x1234);
	assert_int_equal(cfg_read(PCI_DEVICE_ID, 2), 0x11e8);
	assert_int_equal(cfg_read(PCI_CLASS_REVISION, 4), 0x00ff0010);
	assert_int_equal(cfg_read(PCI_SUBSYSTEM_VENDOR_ID, 4), 0x11001af4);
	assert_int_equal(cfg_read(PCI_HEADER_TYPE, 1), PCI_HEADER_TYPE_NORMAL);
	assert_int_equal(cfg_read(PCI_INTERRUPT_PIN, 1), 1);
	/* the line is ptvm's GSI for the slot, not the host's */
	assert_int_equal(cfg_read(PCI_INTERRUPT_LINE, 1), pci_device_intx_gsi(vfio_pci_device(dp)));
	/* identity is read-only */
	cfg_write(PCI_VENDOR_ID, 0xabcdabcd, 4);
	assert_int_equal(cfg_read(PCI_VENDOR_ID, 4), 0x11e81234);
	assert_int_equal(fake.config_writes, 0);
}

static void test_capability_chain(void **state)
{
	unsigned expect[] = { 0x40, MSI_CAP, MSIX_CAP, 0x80 };
	unsigned ids[] = { PCI_CAP_ID_PM, PCI_CAP_ID_MSI, PCI_CAP_ID_MSIX, PCI_CAP_ID_VNDR };
	unsigned ptr = cfg_read(PCI_CAPABILITY_LIST, 1), n = 0;

	assert_true(cfg_read(PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
	while (ptr && n < 8) {
		assert_true(n < ARRAY_SIZE(expect));
		assert_int_equal(ptr, expect[n]);
		assert_int_equal(cfg_read(ptr, 1), ids[n]);
		ptr = cfg_read(ptr + 1, 1);
		n++;
	}
	assert_int_equal(n, 4);
	/* the PCIe capability is unlinked and blanked, the extended space empty */
	assert_int_equal(cfg_read(PCIE_CAP, 2), 0);
	assert_int_equal(cfg_read(0x100, 4), 0);
	/* a vendor capability's body is a read-only copy */
	assert_int_equal(cfg_read(0x84, 4), 0xcafef00d);
	cfg_write(0x84, 0, 4);
	assert_int_equal(cfg_read(0x84, 4), 0xcafef00d);
	assert_int_equal(fake.config_writes, 0);
}

static int setup_looping_caps(void **state)
{
	struct vfio_pci_config c = default_cfg();

	fake_reset();
	/* the vendor capability points back to PM: a loop */
	cfg_put(0x81, 0x40, 1);
	device_up(&c);
	return 0;
}

static void test_capability_loop_ends(void **state)
{
	unsigned ptr = cfg_read(PCI_CAPABILITY_LIST, 1), n = 0;

	while (ptr && n < 64) {
		ptr = cfg_read(ptr + 1, 1);
		n++;
	}
	assert_int_equal(n, 4);
}

/* A malformed device: the MSI-X capability at 0xf8 would run past config space (its table
 * and PBA words at 0xfc and 0x100). Hidden, as an MSI capability that does not fit is. */
static int setup_msix_at_end(void **state)
{
	struct vfio_pci_config c = default_cfg();

	fake_reset();
	memset(&fake.cfg[MSIX_CAP], 0, 12);
	cfg_put(PCIE_CAP + 1, 0x80, 1); /* PCIe -> vendor 0x80 -> MSI-X 0xf8 */
	cfg_put(0x81, 0xf8, 1);
	cfg_put(0xf8, PCI_CAP_ID_MSIX, 2);
	cfg_put(0xf8 + PCI_MSIX_FLAGS, MSIX_VECTORS - 1, 2);
	cfg_put(0xf8 + PCI_MSIX_TABLE, MSIX_TABLE_OFF | 2, 4);
	device_up(&c);
	return 0;
}

static void test_msix_cap_past_config_hidden(void **state)
{
	unsigned ptr = cfg_read(PCI_CAPABILITY_LIST, 1), n = 0;

	while (ptr && n < 8) {
		assert_int_not_equal(cfg_read(ptr, 1), PCI_CAP_ID_MSIX);
		ptr = cfg_read(ptr + 1, 1);
		n++;
	}
	assert_int_equal(n, 3);			/* PM, MSI, vendor */
	assert_int_equal(cfg_read(0xf8, 2), 0); /* unlinked and blanked, as hidden ones are */
	/* nothing of MSI-X is emulated: writes there enable nothing */
	cfg_write(0xf8 + PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_ENABLE, 2);
	assert_int_equal(fake.irq[VFIO_PCI_MSIX_IRQ_INDEX].count, 0);
}

/* ---- BARs ---- */

static void test_bar_sizing(void **state)
{
	for (unsigned i = 0; i < PCI_NUM_BARS; i++)
		cfg_write(PCI_BASE_ADDRESS_0 + 4 * i, 0xffffffff, 4);
	assert_int_equal(cfg_read(PCI_BASE_ADDRESS_0, 4), (uint32_t) ~(BAR0_SIZE - 1));
	assert_int_equal(cfg_read(PCI_BASE_ADDRESS_1, 4),
			 (uint32_t) ~(BAR1_SIZE - 1) | PCI_BASE_ADDRESS_SPACE_IO);
	assert_int_equal(cfg_read(PCI_BASE_ADDRESS_2, 4), (uint32_t) ~(BAR2_SIZE - 1) |
							      PCI_BASE_ADDRESS_MEM_TYPE_64 |
							      PCI_BASE_ADDRESS_MEM_PREFETCH);
	assert_int_equal(cfg_read(PCI_BASE_ADDRESS_3, 4), 0xffffffff);
	assert_int_equal(cfg_read(PCI_BASE_ADDRESS_4, 4), 0);
	assert_int_equal(cfg_read(PCI_BASE_ADDRESS_5, 4), 0);
	/* sizing never reaches the device */
	assert_int_equal(fake.config_writes, 0);
}

static void test_bar_placement(void **state)
{
	/* placed by ptvm in its windows, not where the host had them */
	uint64_t b0 = bar_addr(0), b1 = bar_addr(1), b2 = bar_addr(2);

	assert_true(b0 >= PCI_MMIO32_START && b0 + BAR0_SIZE <= PCI_MMIO32_START + PCI_MMIO32_SIZE);
	assert_true(b0 % BAR0_SIZE == 0);
	assert_true(b1 >= PCI_IO_START && b1 + BAR1_SIZE <= PCI_IO_START + PCI_IO_SIZE);
	assert_true(b2 % BAR2_SIZE == 0 && b2 != 0xfe000000);
}

static void test_rom_hidden(void **state)
{
	cfg_write(PCI_ROM_ADDRESS, 0xffffffff, 4);
	assert_int_equal(cfg_read(PCI_ROM_ADDRESS, 4), 0);
}

static int setup_rom(void **state)
{
	struct vfio_pci_config c = default_cfg();

	fake_reset();
	fake.has_rom = true;
	c.rom = true;
	device_up(&c);
	return 0;
}

static void test_rom_exposed(void **state)
{
	uint64_t addr = 0xd0000000;

	cfg_write(PCI_ROM_ADDRESS, 0xffffffff, 4);
	assert_int_equal(cfg_read(PCI_ROM_ADDRESS, 4),
			 (uint32_t) ~(ROM_SIZE - 1) | PCI_ROM_ADDRESS_ENABLE);
	cfg_write(PCI_ROM_ADDRESS, (uint32_t)addr | PCI_ROM_ADDRESS_ENABLE, 4);
	/* decoded only with memory decoding on */
	assert_false(bus_access(&vm.mmio, addr, &(uint32_t){ 0 }, 4, false));
	enable_decoding();
	assert_int_equal(mmio_read(addr + 0x10, 4), 0x55555555);
	mmio_write(addr, 0, 4); /* read-only */
	assert_int_equal(fake.rom[0], 0x55);
	assert_int_equal(vfio_pci_bar_exits(dp, PCI_NUM_BARS), 2);
	cfg_write(PCI_ROM_ADDRESS, (uint32_t)addr, 4);
	assert_false(bus_access(&vm.mmio, addr, &(uint32_t){ 0 }, 4, false));
}

static void test_command_forwarded(void **state)
{
	uint16_t dev_cmd;

	cfg_write(PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_SERR, 2);
	memcpy(&dev_cmd, &fake.cfg[PCI_COMMAND], 2);
	assert_int_equal(dev_cmd, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	assert_int_equal(fake.last_config_write_off, PCI_COMMAND);
	assert_int_equal(cfg_read(PCI_COMMAND, 2),
			 PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_SERR);
	cfg_write(PCI_COMMAND, 0, 2);
	memcpy(&dev_cmd, &fake.cfg[PCI_COMMAND], 2);
	assert_int_equal(dev_cmd, 0);
	/* the INTx status bit is the device's, live */
	fake.cfg[PCI_STATUS] |= PCI_STATUS_INTERRUPT;
	assert_true(cfg_read(PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
	fake.cfg[PCI_STATUS] &= (uint8_t)~PCI_STATUS_INTERRUPT;
	assert_false(cfg_read(PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
}

/* The bus-master hold: the device gets the bit only once its container's mappings are in
 * place; the vCPU waits (the gate's timeouts), the memory bit goes through at once. */
static void test_bus_master_waits_for_dma_mappings(void **state)
{
	gate.pending_calls = 3;
	cfg_write(PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	assert_int_equal(gate.begins, 0);
	cfg_write(PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
	assert_int_equal(gate.begins, 1);
	assert_int_equal(gate.timeouts, 3);
	/* asked before the bit reached the device */
	assert_false(gate.cmd_at_begin & PCI_COMMAND_MASTER);
	assert_int_equal(fake_cmd(), PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	/* set again, or another bit changes: no second wait */
	cfg_write(PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_SERR, 2);
	assert_int_equal(gate.begins, 1);
	/* cleared: the gate hears it after the device stopped mastering */
	cfg_write(PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	assert_int_equal(gate.ends, 1);
	assert_int_equal(fake_cmd(), PCI_COMMAND_MEMORY);
	/* and set once more: a new wait */
	cfg_write(PCI_COMMAND, PCI_COMMAND_MASTER, 2);
	assert_int_equal(gate.begins, 2);
	assert_int_equal(fake_cmd(), PCI_COMMAND_MASTER);
}

/* A mapping that failed: the device never masters the bus, whatever the guest writes. */
static void test_bus_master_refused_when_mapping_failed(void **state)
{
	gate.fail = -ENOMEM;
	cfg_write(PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
	assert_int_equal(fake_cmd(), PCI_COMMAND_MEMORY);
	/* the guest's view is its own: what it wrote */
	assert_int_equal(cfg_read(PCI_COMMAND, 2), PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	cfg_write(PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_IO, 2);
	assert_false(fake_cmd() & PCI_COMMAND_MASTER);
	assert_false(gate.on);
}

/* The VM ends while a vCPU waits at the gate: it lets go, the device gets no bus mastering. */
static void test_bus_master_wait_ends_with_the_vm(void **state)
{
	gate.pending_calls = 1000000;
	vm_exiting = true;
	cfg_write(PCI_COMMAND, PCI_COMMAND_MASTER, 2);
	assert_int_equal(gate.timeouts, 1);
	assert_false(fake_cmd() & PCI_COMMAND_MASTER);
	assert_false(gate.on);
}

static bool region_at(uint64_t gpa, uint64_t size, enum memmap_kind kind)
{
	struct memmap_region r;

	return memmap_find(vm.mm, gpa, &r) && r.gpa == gpa && r.size == size && r.kind == kind &&
	       r.hva;
}

static void test_bar_mmap_pieces(void **state)
{
	uint64_t b0 = bar_addr(0), b2 = bar_addr(2);
	struct memmap_region r;

	assert_int_equal(vm.mm->nr_regions, 0); /* nothing until the guest enables decoding */
	enable_decoding();
	/* BAR0: the two sparse areas; the page between them is trapped */
	assert_true(region_at(b0, 0x1000, MEMMAP_DEVICE_RAM));
	assert_true(region_at(b0 + 0x2000, BAR0_SIZE - 0x2000, MEMMAP_DEVICE_RAM));
	assert_false(memmap_find(vm.mm, b0 + 0x1000, &r));
	/* BAR2: everything but the MSI-X table and PBA pages */
	assert_true(region_at(b2, MSIX_TABLE_OFF, MEMMAP_DEVICE_RAM));
	assert_false(memmap_find(vm.mm, b2 + MSIX_TABLE_OFF, &r));
	assert_false(memmap_find(vm.mm, b2 + MSIX_PBA_OFF, &r));
	assert_int_equal(vm.mm->nr_regions, 3);
	/* a hole access is forwarded to the device and counted */
	fake.bar0[0x1004] = 0x42;
	assert_int_equal(mmio_read(b0 + 0x1004, 1), 0x42);
	assert_int_equal(vfio_pci_bar_exits(dp, 0), 1);
	/* I/O BARs are always trapped */
	fake.bar1[3] = 0x99;
	{
		uint32_t v = 0;

		assert_true(bus_access(&vm.pio, bar_addr(1) + 3, &v, 1, false));
		assert_int_equal(v, 0x99);
	}
	assert_int_equal(vfio_pci_bar_exits(dp, 1), 1);
	/* decoding off: the pieces leave the map */
	cfg_write(PCI_COMMAND, 0, 2);
	assert_int_equal(vm.mm->nr_regions, 0);
	assert_false(bus_access(&vm.mmio, b0 + 0x1004, &(uint32_t){ 0 }, 1, false));
}

static void test_bar_move(void **state)
{
	uint64_t b0 = bar_addr(0), to = b0 + 0x1000000;
	struct memmap_region r;

	enable_decoding();
	cfg_write(PCI_BASE_ADDRESS_0, (uint32_t)to, 4);
	assert_int_equal(bar_addr(0), to);
	assert_false(memmap_find(vm.mm, b0, &r));
	assert_true(region_at(to, 0x1000, MEMMAP_DEVICE_RAM));
	assert_true(region_at(to + 0x2000, BAR0_SIZE - 0x2000, MEMMAP_DEVICE_RAM));
	assert_int_equal(mmio_read(to, 4), 0x010000ed);
}

/* Lines logged at error, warn or info level that name the device. */
static unsigned vfio_pci_log_lines(void)
{
	const char *t = test_log_text();
	unsigned n = 0;

	for (const char *l = t; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
		const char *end = strchr(l, '\n');
		size_t len = end ? (size_t)(end - l) : strlen(l);

		if (!strncmp(l, "ptvm: debug:", 12))
			continue;
		if (memmem(l, len, "vfio-pci", 8))
			n++;
	}
	return n;
}

/*
 * A hostile guest moving BAR0 onto another device's MMIO and onto guest RAM, again and again:
 * each move is refused, ptvm's log stays bounded (rate-limited per device), and the BAR still
 * works when the guest puts it somewhere sane.
 */
static void test_bar_move_storm_log_bounded(void **state)
{
	static uint8_t ram[0x100000] __attribute__((aligned(4096)));
	const uint64_t other = 0xd0000000, ram_gpa = 0xd8000000;
	struct bus_dev lapic = { .base = other, .len = 0x100000, .name = "other" };
	struct memmap_region r = {
		.gpa = ram_gpa,
		.size = sizeof(ram),
		.kind = MEMMAP_RAM,
		.hva = ram,
		.fd = -1,
		.kvm_slot = -1,
		.name = "ram",
	};
	uint64_t b0 = bar_addr(0);

	assert_int_equal(bus_register(&vm.mmio, &lapic), 0);
	assert_int_equal(memmap_add_region(vm.mm, &r), 0);
	enable_decoding();
	test_log_forget();
	for (unsigned i = 0; i < 1000; i++) {
		cfg_write(PCI_BASE_ADDRESS_0, (uint32_t)other, 4);
		cfg_write(PCI_BASE_ADDRESS_0, (uint32_t)ram_gpa, 4);
	}
	/* a burst per limiter and a "suppressed" line, not 2000 errors */
	assert_true(vfio_pci_log_lines() <= 2 * LOG_RATELIMIT_BURST + 2);
	assert_false(memmap_find(vm.mm, other, &(struct memmap_region){ 0 }));
	assert_true(memmap_find(vm.mm, ram_gpa, &(struct memmap_region){ 0 }));
	cfg_write(PCI_BASE_ADDRESS_0, (uint32_t)b0, 4);
	assert_true(region_at(b0, 0x1000, MEMMAP_DEVICE_RAM));
	assert_int_equal(mmio_read(b0 + 0x1000, 1), fake.bar0[0x1000]);
	assert_int_equal(memmap_del_region(vm.mm, ram_gpa), 0);
	bus_unregister(&vm.mmio, &lapic);
}

static int setup_trapped(void **state)
{
	struct vfio_pci_config c = default_cfg();

	fake_reset();
	c.bar_mmap = false;
	device_up(&c);
	return 0;
}

static void test_bar_mmap_off(void **state)
{
	uint64_t b0 = bar_addr(0);

	assert_int_equal(fake.mmaps, 0);
	enable_decoding();
	assert_int_equal(vm.mm->nr_regions, 0);
	/* edu: ID and the liveness register, through pread/pwrite */
	assert_int_equal(mmio_read(b0, 4), 0x010000ed);
	mmio_write(b0 + 4, 0x12345678, 4);
	assert_int_equal(mmio_read(b0 + 4, 4), 0xedcba987);
	assert_int_equal(fake.bar_writes[0], 1);
	assert_int_equal(vfio_pci_bar_exits(dp, 0), 3);
}

/* ---- MSI-X ---- */

static void test_msix_capability(void **state)
{
	uint16_t flags = (uint16_t)cfg_read(MSIX_CAP + PCI_MSIX_FLAGS, 2);

	assert_int_equal(flags, MSIX_VECTORS - 1);
	assert_int_equal(cfg_read(MSIX_CAP + PCI_MSIX_TABLE, 4), MSIX_TABLE_OFF | 2);
	assert_int_equal(cfg_read(MSIX_CAP + PCI_MSIX_PBA, 4), MSIX_PBA_OFF | 2);
	/* table size, offsets and BIRs are read-only; enable and mask-all stick */
	cfg_write(MSIX_CAP + PCI_MSIX_TABLE, 0, 4);
	cfg_write(MSIX_CAP + PCI_MSIX_PBA, 0xffffffff, 4);
	cfg_write(MSIX_CAP + PCI_MSIX_FLAGS, 0xffff, 2);
	assert_int_equal(cfg_read(MSIX_CAP + PCI_MSIX_TABLE, 4), MSIX_TABLE_OFF | 2);
	assert_int_equal(cfg_read(MSIX_CAP + PCI_MSIX_PBA, 4), MSIX_PBA_OFF | 2);
	assert_int_equal(cfg_read(MSIX_CAP + PCI_MSIX_FLAGS, 2),
			 PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL | (MSIX_VECTORS - 1));
	/* nothing of it reached the device's config space */
	assert_int_equal(fake.config_writes, 0);
	/* enabling swapped INTx for MSI-X in VFIO */
	assert_int_equal(fake.irq[VFIO_PCI_INTX_IRQ_INDEX].count, 0);
	assert_int_equal(fake.irq[VFIO_PCI_MSIX_IRQ_INDEX].count, MSIX_VECTORS);
	assert_int_equal(intx_irqfd, -1);
	/* all masked: no route yet */
	assert_int_equal(nr_route_adds, 0);
}

static void msix_entry_write(uint64_t table, unsigned v, uint64_t addr, uint32_t data,
			     uint32_t ctrl)
{
	mmio_write(table + v * 16 + 0, (uint32_t)addr, 4);
	mmio_write(table + v * 16 + 4, (uint32_t)(addr >> 32), 4);
	mmio_write(table + v * 16 + 8, data, 4);
	mmio_write(table + v * 16 + 12, ctrl, 4);
}

static void test_msix_table_programs_routes(void **state)
{
	uint64_t table, pba;
	int fd3;

	enable_decoding();
	table = bar_addr(2) + MSIX_TABLE_OFF;
	pba = bar_addr(2) + MSIX_PBA_OFF;
	cfg_write(MSIX_CAP + PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_ENABLE, 2);
	fd3 = fake.irq[VFIO_PCI_MSIX_IRQ_INDEX].fds[3];
	/* vector 3: programmed masked, then unmasked: one route, the VFIO eventfd bound */
	msix_entry_write(table, 3, 0xfee01000, 0x41, 1);
	assert_int_equal(nr_route_adds, 0);
	assert_int_equal(mmio_read(table + 3 * 16 + 8, 4), 0x41);
	mmio_write(table + 3 * 16 + 12, 0, 4);
	assert_int_equal(nr_route_adds, 1);
	assert_int_equal(routes[0].addr, 0xfee01000);
	assert_int_equal(routes[0].data, 0x41);
	assert_int_equal(routes[0].irqfd, fd3);
	/* a new message while unmasked updates the route */
	mmio_write(table + 3 * 16 + 8, 0x42, 4);
	assert_int_equal(routes[0].data, 0x42);
	assert_int_equal(nr_route_updates, 1);
	/* masked: the irqfd goes (interrupts wait in the eventfd), the route stays */
	mmio_write(table + 3 * 16 + 12, 1, 4);
	assert_int_equal(routes[0].irqfd, -1);
	assert_true(routes[0].live);
	/* VFIO signals while masked: the PBA shows it pending, unmask delivers (rebinds) */
	assert_int_equal(write(fd3, &(uint64_t){ 1 }, 8), 8);
	assert_int_equal(mmio_read(pba, 4), 1U << 3);
	mmio_write(table + 3 * 16 + 12, 0, 4);
	assert_int_equal(routes[0].irqfd, fd3);
	assert_int_equal(mmio_read(pba, 4), 0);
	/* function mask: every vector's irqfd unbound */
	cfg_write(MSIX_CAP + PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL, 2);
	assert_int_equal(routes[0].irqfd, -1);
	cfg_write(MSIX_CAP + PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_ENABLE, 2);
	assert_int_equal(routes[0].irqfd, fd3);
	/* the table page never reaches the device; the PBA is read-only */
	mmio_write(pba, 0xffffffff, 4);
	assert_int_equal(fake.bar_writes[2], 0);
	/* disabled: VFIO told, route gone, INTx back */
	cfg_write(MSIX_CAP + PCI_MSIX_FLAGS, 0, 2);
	assert_int_equal(fake.irq[VFIO_PCI_MSIX_IRQ_INDEX].count, 0);
	assert_int_equal(nr_route_dels, 1);
	assert_int_equal(fake.irq[VFIO_PCI_INTX_IRQ_INDEX].count, 1);
	assert_true(intx_irqfd >= 0);
}

static void test_msix_table_hostile(void **state)
{
	uint64_t table;

	enable_decoding();
	table = bar_addr(2) + MSIX_TABLE_OFF;
	cfg_write(MSIX_CAP + PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_ENABLE, 2);
	/* odd sizes and misaligned accesses are ignored */
	mmio_write(table + 12, 0, 1);
	mmio_write(table + 13, 0, 2);
	mmio_write(table + 2, 0, 4);
	assert_int_equal(mmio_read(table + 12, 4), 1);
	assert_int_equal(mmio_read(table + 1, 4), 0xffffffff);
	/* past the last vector, still in the trapped page: the device's own bytes */
	mmio_write(table + MSIX_VECTORS * 16 + 12, 0x5a5a5a5a, 4);
	assert_int_equal(fake.bar_writes[2], 1);
	assert_int_equal(mmio_read(table + MSIX_VECTORS * 16 + 12, 4), 0x5a5a5a5a);
	assert_int_equal(fake.bar2[MSIX_TABLE_OFF + MSIX_VECTORS * 16 + 12], 0x5a);
	/* reserved vector-control bits do not stick */
	mmio_write(table + 12, 0xfffffffe | 1, 4);
	assert_int_equal(mmio_read(table + 12, 4), 1);
	assert_int_equal(nr_route_adds, 0);
	assert_int_equal(fake.bar_writes[2], 1);
	/* the table itself never reaches the device */
	assert_int_equal(fake.bar2[MSIX_TABLE_OFF + 12], 0);
}

static unsigned open_fds(void)
{
	unsigned n = 0;

	for (int fd = 0; fd < 4096; fd++)
		n += fcntl(fd, F_GETFD) >= 0;
	return n;
}

/* A guest toggling MSI-X 10,000 times with its vectors unmasked: every disable gives back
 * the routes (their GSIs) and the irqfds; the eventfds opened by the first enable are kept
 * for the next ones, so the count of open fds does not grow; VFIO is told each time. */
static void test_msix_toggle_storm_no_leak(void **state)
{
	uint64_t table;
	unsigned fds_before;

	enable_decoding();
	table = bar_addr(2) + MSIX_TABLE_OFF;
	fds_before = open_fds();
	for (unsigned i = 0; i < 10000; i++) {
		cfg_write(MSIX_CAP + PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_ENABLE, 2);
		if (i == 0)
			for (unsigned v = 0; v < MSIX_VECTORS; v++)
				msix_entry_write(table, v, 0xfee00000, 0x30 + v, 0);
		assert_int_equal(nr_route_adds - nr_route_dels, MSIX_VECTORS);
		cfg_write(MSIX_CAP + PCI_MSIX_FLAGS, 0, 2);
		assert_int_equal(nr_route_adds, nr_route_dels);
	}
	assert_int_equal(nr_route_adds, 10000 * MSIX_VECTORS);
	assert_int_equal(nr_irqfd_assigns - nr_irqfd_deassigns, 1); /* INTx, back on */
	assert_int_equal(open_fds(), fds_before + MSIX_VECTORS);
	assert_int_equal(fake.irq[VFIO_PCI_MSIX_IRQ_INDEX].sets, 20000);
	assert_int_equal(fake.irq[VFIO_PCI_INTX_IRQ_INDEX].count, 1);
}

/* MSI and MSI-X at once (VFIO allows one interrupt type): the second one stays off, and
 * turning the first off brings INTx back, whichever order the guest chose. */
static void test_msi_and_msix_together(void **state)
{
	cfg_write(MSI_CAP + PCI_MSI_FLAGS, PCI_MSI_FLAGS_ENABLE, 2);
	assert_int_equal(fake.irq[VFIO_PCI_MSI_IRQ_INDEX].count, 1);
	cfg_write(MSIX_CAP + PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_ENABLE, 2);
	assert_int_equal(fake.irq[VFIO_PCI_MSIX_IRQ_INDEX].count, 0);
	cfg_write(MSI_CAP + PCI_MSI_FLAGS, 0, 2);
	assert_int_equal(fake.irq[VFIO_PCI_INTX_IRQ_INDEX].count, 1);
	/* MSI-X's enable bit is still set: the next write of its control word takes effect */
	cfg_write(MSIX_CAP + PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_ENABLE, 2);
	assert_int_equal(fake.irq[VFIO_PCI_MSIX_IRQ_INDEX].count, MSIX_VECTORS);
	assert_int_equal(fake.irq[VFIO_PCI_INTX_IRQ_INDEX].count, 0);
	cfg_write(MSI_CAP + PCI_MSI_FLAGS, PCI_MSI_FLAGS_ENABLE, 2);
	assert_int_equal(fake.irq[VFIO_PCI_MSI_IRQ_INDEX].count, 0);
	/* MSI-X off: INTx (MSI was refused, and takes effect at its next write) */
	cfg_write(MSIX_CAP + PCI_MSIX_FLAGS, 0, 2);
	assert_int_equal(fake.irq[VFIO_PCI_INTX_IRQ_INDEX].count, 1);
	cfg_write(MSI_CAP + PCI_MSI_FLAGS, PCI_MSI_FLAGS_ENABLE, 2);
	assert_int_equal(fake.irq[VFIO_PCI_MSI_IRQ_INDEX].count, 1);
	assert_int_equal(fake.irq[VFIO_PCI_INTX_IRQ_INDEX].count, 0);
	cfg_write(MSI_CAP + PCI_MSI_FLAGS, 0, 2);
	assert_int_equal(fake.irq[VFIO_PCI_INTX_IRQ_INDEX].count, 1);
	assert_int_equal(nr_route_adds, nr_route_dels);
}

/* ---- MSI ---- */

static void test_msi_capability(void **state)
{
	unsigned flags = cfg_read(MSI_CAP + PCI_MSI_FLAGS, 2);

	/* the last user's enable and address are gone; MMC = 4 vectors as VFIO offers */
	assert_int_equal(flags, PCI_MSI_FLAGS_64BIT | PCI_MSI_FLAGS_MASKBIT | 2 << 1);
	assert_int_equal(cfg_read(MSI_CAP + PCI_MSI_ADDRESS_LO, 4), 0);
	/* MMC, 64-bit and mask-capable are read-only */
	cfg_write(MSI_CAP + PCI_MSI_FLAGS, 0xff8e, 2);
	assert_int_equal(cfg_read(MSI_CAP + PCI_MSI_FLAGS, 2),
			 PCI_MSI_FLAGS_64BIT | PCI_MSI_FLAGS_MASKBIT | 2 << 1);
	/* address low bits are reserved */
	cfg_write(MSI_CAP + PCI_MSI_ADDRESS_LO, 0xfee00003, 4);
	assert_int_equal(cfg_read(MSI_CAP + PCI_MSI_ADDRESS_LO, 4), 0xfee00000);
	assert_int_equal(fake.config_writes, 0);
	/* the pending bits are read-only */
	cfg_write(MSI_CAP + PCI_MSI_PENDING_64, 0xffffffff, 4);
	assert_int_equal(cfg_read(MSI_CAP + PCI_MSI_PENDING_64, 4), 0);
}

static void test_msi_routes(void **state)
{
	int *fds = fake.irq[VFIO_PCI_MSI_IRQ_INDEX].fds;

	cfg_write(MSI_CAP + PCI_MSI_ADDRESS_LO, 0xfee02000, 4);
	cfg_write(MSI_CAP + PCI_MSI_ADDRESS_HI, 0, 4);
	cfg_write(MSI_CAP + PCI_MSI_DATA_64, 0x51, 2); /* low bit: the vector's, replaced */
	cfg_write(MSI_CAP + PCI_MSI_MASK_64, 0x2, 4);  /* vector 1 masked */
	assert_int_equal(nr_route_adds, 0);
	/* two vectors */
	cfg_write(MSI_CAP + PCI_MSI_FLAGS, PCI_MSI_FLAGS_ENABLE | 1 << 4, 2);
	assert_int_equal(fake.irq[VFIO_PCI_INTX_IRQ_INDEX].count, 0);
	assert_int_equal(fake.irq[VFIO_PCI_MSI_IRQ_INDEX].count, 2);
	assert_int_equal(nr_route_adds, 1);
	assert_int_equal(routes[0].addr, 0xfee02000);
	assert_int_equal(routes[0].data, 0x50);
	assert_int_equal(routes[0].irqfd, fds[0]);
	/* unmask vector 1: its route carries data | 1 */
	cfg_write(MSI_CAP + PCI_MSI_MASK_64, 0, 4);
	assert_int_equal(nr_route_adds, 2);
	assert_int_equal(routes[1].data, 0x51);
	assert_int_equal(routes[1].irqfd, fds[1]);
	/* a new address while enabled: routes updated, VFIO untouched */
	cfg_write(MSI_CAP + PCI_MSI_ADDRESS_LO, 0xfee03000, 4);
	assert_int_equal(routes[0].addr, 0xfee03000);
	assert_int_equal(routes[1].addr, 0xfee03000);
	assert_int_equal(fake.irq[VFIO_PCI_MSI_IRQ_INDEX].sets, 1);
	/* more vectors than the capability offers: clamped to MMC (4) */
	cfg_write(MSI_CAP + PCI_MSI_FLAGS, PCI_MSI_FLAGS_ENABLE | 5 << 4, 2);
	assert_int_equal(fake.irq[VFIO_PCI_MSI_IRQ_INDEX].count, 4);
	assert_int_equal(nr_route_dels, 2);
	/* disable: INTx is back */
	cfg_write(MSI_CAP + PCI_MSI_FLAGS, 0, 2);
	assert_int_equal(fake.irq[VFIO_PCI_MSI_IRQ_INDEX].count, 0);
	assert_int_equal(nr_route_dels, nr_route_adds);
	assert_int_equal(fake.irq[VFIO_PCI_INTX_IRQ_INDEX].count, 1);
	assert_int_equal(fake.config_writes, 0);
}

/*
 * The host has fewer vectors than the guest enabled (x86 without interrupt remapping gives
 * multi-message MSI one): the kernel enables none and returns how many it has. ptvm enables
 * that many, as QEMU does, instead of taking the answer for success with nothing enabled
 * (the device's interrupts lost, INTx already off, and the guest's disable refused).
 */
static void test_host_has_fewer_vectors(void **state)
{
	struct irq_state *msi = &fake.irq[VFIO_PCI_MSI_IRQ_INDEX];
	struct irq_state *msix = &fake.irq[VFIO_PCI_MSIX_IRQ_INDEX];

	msi->host_max = 1;
	msix->host_max = 3;
	cfg_write(MSI_CAP + PCI_MSI_ADDRESS_LO, 0xfee02000, 4);
	cfg_write(MSI_CAP + PCI_MSI_FLAGS, PCI_MSI_FLAGS_ENABLE | 2 << 4, 2); /* four */
	assert_int_equal(msi->sets, 2);
	assert_int_equal(msi->count, 1);
	assert_int_equal(fake.irq[VFIO_PCI_INTX_IRQ_INDEX].count, 0);
	/* the guest's four vectors are routed; the host signals the first only */
	assert_int_equal(nr_route_adds, 4);
	assert_int_equal(routes[0].irqfd, msi->fds[0]);
	cfg_write(MSI_CAP + PCI_MSI_FLAGS, 0, 2);
	assert_int_equal(msi->count, 0);
	assert_int_equal(fake.irq[VFIO_PCI_INTX_IRQ_INDEX].count, 1);

	cfg_write(MSIX_CAP + PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_ENABLE, 2);
	assert_int_equal(msix->sets, 2);
	assert_int_equal(msix->count, 3);
	assert_int_equal(fake.irq[VFIO_PCI_INTX_IRQ_INDEX].count, 0);
	cfg_write(MSIX_CAP + PCI_MSIX_FLAGS, 0, 2);
	assert_int_equal(msix->count, 0);
	assert_int_equal(fake.irq[VFIO_PCI_INTX_IRQ_INDEX].count, 1);
	assert_int_equal(nr_route_adds, nr_route_dels);
}

/* ---- INTx ---- */

static void test_intx(void **state)
{
	struct irq_state *s = &fake.irq[VFIO_PCI_INTX_IRQ_INDEX];

	assert_int_equal(s->count, 1);
	assert_true(intx_irqfd >= 0 && intx_resample >= 0);
	assert_int_equal(s->fds[0], intx_irqfd);
	/* the resample eventfd KVM writes on EOI is the one VFIO unmasks on */
	assert_int_equal(s->unmask_fd, intx_resample);
	assert_int_equal(intx_gsi_bound, pci_device_intx_gsi(vfio_pci_device(dp)));
	assert_int_equal(intx_gsi_bound, cfg_read(PCI_INTERRUPT_LINE, 1));
}

/* ---- the deferred open (ptvm run opens the device while the guest boots) ---- */

static int setup_deferred(void **state)
{
	struct vfio_pci_config c = default_cfg();

	fake_reset();
	fake_open.pending = true;
	device_up(&c);
	return 0;
}

struct vcpu_read {
	pthread_t thread;
	unsigned off, len;
	uint32_t val;
	atomic_bool done;
};

static void *vcpu_read_thread(void *arg)
{
	struct vcpu_read *r = arg;

	r->val = cfg_read(r->off, r->len);
	atomic_store(&r->done, true);
	return NULL;
}

static void vcpu_read_start(struct vcpu_read *r, unsigned off, unsigned len)
{
	r->off = off;
	r->len = len;
	atomic_store(&r->done, false);
	assert_int_equal(pthread_create(&r->thread, NULL, vcpu_read_thread, r), 0);
}

/* still waiting after 100 ms: it would have returned at once had it not waited */
static void assert_still_waiting(struct vcpu_read *r)
{
	usleep(100 * 1000);
	assert_false(atomic_load(&r->done));
}

/*
 * Built before its open: the BARs are sized and placed, nothing is mmap'd and no interrupt is
 * wired; the guest's first config read waits until the open is done, then sees the device as
 * it is (the live INTx status bit, which only the open device can tell), and INTx is wired.
 */
static void test_deferred_open_guest_waits(void **state)
{
	struct vcpu_read r;

	uint32_t bar0;

	/* placed in the window before the open (read behind the guest's back: a guest read
	 * would wait)... */
	memcpy(&bar0, &vfio_pci_device(dp)->cfg[PCI_BASE_ADDRESS_0], 4);
	assert_true((bar0 & PCI_BASE_ADDRESS_MEM_MASK) >= PCI_MMIO32_START);
	assert_int_equal(bar0 & (BAR0_SIZE - 1) & PCI_BASE_ADDRESS_MEM_MASK, 0);
	assert_int_equal(fake.mmaps, 0); /* ...but nothing mmap'd */
	assert_int_equal(intx_irqfd, -1);
	fake.cfg[PCI_STATUS] |= PCI_STATUS_INTERRUPT; /* the open device asserts INTx */
	vcpu_read_start(&r, PCI_STATUS, 2);
	assert_still_waiting(&r);
	fake_open_release();
	assert_int_equal(pthread_join(r.thread, NULL), 0);
	assert_true(r.done);
	assert_true(r.val & PCI_STATUS_INTERRUPT);
	assert_int_equal(cfg_read(PCI_VENDOR_ID, 2), 0x1234);
	/* the power state the guest sees is the open device's (D0), not sysfs' D3hot */
	assert_int_equal(cfg_read(0x40 + PCI_PM_CTRL, 2) & PCI_PM_CTRL_STATE_MASK, 0);
	/* the open thread worked out and mapped BAR0's and BAR2's mmap'able pieces */
	assert_true(fake.mmaps > 0);
	assert_true(intx_irqfd >= 0);
	assert_int_equal(fake.irq[VFIO_PCI_INTX_IRQ_INDEX].fds[0], intx_irqfd);
	assert_int_equal(exit_status, -1);
}

/*
 * A BAR is decoded only after a config write, which waits: once open, the guest's decoding
 * maps the pieces VFIO allows (not what sysfs could tell) and traps the rest, forwarded.
 */
static void test_deferred_open_then_bars_work(void **state)
{
	fake_open_release();
	enable_decoding();
	assert_true(fake_cmd() & PCI_COMMAND_MEMORY);
	/* BAR0: two sparse areas around a trapped page */
	assert_true(region_at(bar_addr(0), 0x1000, MEMMAP_DEVICE_RAM));
	assert_true(region_at(bar_addr(0) + 0x2000, BAR0_SIZE - 0x2000, MEMMAP_DEVICE_RAM));
	memcpy(&fake.bar0[0x1000], &(uint32_t){ 0xfeedf00d }, 4);
	assert_int_equal(mmio_read(bar_addr(0) + 0x1000, 4), 0xfeedf00d);
}

/* The open fails: the VM is told to end (error status), and the waiting access lets go. */
static void test_deferred_open_failure_ends_vm(void **state)
{
	struct vcpu_read r;

	fake_open.err = -EBUSY;
	vcpu_read_start(&r, PCI_COMMAND, 2);
	assert_still_waiting(&r);
	fake_open_release();
	assert_int_equal(pthread_join(r.thread, NULL), 0);
	assert_int_equal(exit_status, PTVM_EXIT_ERROR);
	assert_int_equal(intx_irqfd, -1);
	/* nothing reaches the device */
	cfg_write(PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	assert_int_equal(fake.config_writes, 0);
}

/* VFIO sizes a BAR differently from what sysfs said (and the guest was shown): refused. */
static void test_deferred_open_size_mismatch(void **state)
{
	struct vcpu_read r;

	fake_open.bar0_size_open = BAR0_SIZE * 2;
	vcpu_read_start(&r, PCI_VENDOR_ID, 2);
	fake_open_release();
	assert_int_equal(pthread_join(r.thread, NULL), 0);
	assert_int_equal(exit_status, PTVM_EXIT_ERROR);
	assert_int_equal(fake.mmaps, 0);
}

/* Torn down while its open still runs: destroy waits for it, nothing leaks. */
static void test_deferred_open_destroy_while_opening(void **state)
{
	fake_open_release();
	/* teardown joins the open thread before the model goes */
}

/* ---- hostile config accesses ---- */

static void test_hostile_config(void **state)
{
	uint8_t before[PCI_CFG_SPACE_SIZE];
	unsigned odd[] = { 1, 3, 5, 0x3f, 0x41, 0xff, 0x101, 0xfff };

	for (unsigned off = 0; off < PCI_CFG_SPACE_SIZE; off += 4)
		*(uint32_t *)&before[off] = cfg_read(off, 4);
	/* misaligned, odd-sized, out of range: ignored by the bus, never forwarded */
	for (unsigned i = 0; i < ARRAY_SIZE(odd); i++) {
		uint64_t v = ~0ULL;

		pci_bus_config_write(pbus, 0, devfn, odd[i], &v, 2);
		pci_bus_config_write(pbus, 0, devfn, odd[i], &v, 3);
		pci_bus_config_write(pbus, 0, devfn, odd[i], &v, 8);
	}
	pci_bus_config_write(pbus, 0, devfn, 4096, &(uint32_t){ 0 }, 4);
	pci_bus_config_write(pbus, 0, devfn, UINT32_MAX - 1, &(uint32_t){ 0 }, 2);
	for (unsigned off = 0; off < PCI_CFG_SPACE_SIZE; off += 4)
		assert_int_equal(cfg_read(off, 4), *(uint32_t *)&before[off]);
	/* every byte that is not the command register or a BAR: all ones, then all zeros */
	for (unsigned off = PCI_STD_HEADER_SIZEOF; off < PCI_CFG_SPACE_EXP_SIZE; off++) {
		if (off == MSI_CAP + PCI_MSI_FLAGS || off == MSIX_CAP + PCI_MSIX_FLAGS + 1)
			continue; /* enabling is tested above */
		cfg_write(off, 0xff, 1);
		cfg_write(off, 0x00, 1);
	}
	assert_int_equal(fake.config_writes, 0);
	assert_int_equal(nr_route_adds, 0);
	assert_int_equal(cfg_read(PCI_CAPABILITY_LIST, 1), 0x40);
	assert_int_equal(cfg_read(MSIX_CAP + PCI_MSIX_TABLE, 4), MSIX_TABLE_OFF | 2);
}

/* ---- teardown ---- */

static void test_destroy_cleans_up(void **state)
{
	uint64_t table;

	enable_decoding();
	table = bar_addr(2) + MSIX_TABLE_OFF;
	cfg_write(MSIX_CAP + PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_ENABLE, 2);
	msix_entry_write(table, 0, 0xfee00000, 0x30, 0);
	assert_int_equal(nr_route_adds, 1);
	vfio_pci_destroy(dp);
	dp = NULL;
	assert_int_equal(fake.resets, 1); /* at exit: no DMA into RAM that is about to go */
	assert_true(fake.detached);
	assert_int_equal(vm.mm->nr_regions, 0);
	assert_int_equal(vm.mmio.nr_devs, 1); /* only the ECAM window is left */
	assert_int_equal(vm.pio.nr_devs, 2);  /* 0xcf8, 0xcfc */
	assert_int_equal(nr_route_dels, nr_route_adds);
	assert_int_equal(nr_irqfd_deassigns, nr_irqfd_assigns);
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(fake.irq[i].count, 0);
}

static void test_create_fails_cleanly(void **state)
{
	struct vfio_pci_config c = default_cfg();
	struct vfio_pci *d = NULL;

	/* a bridge cannot be passed through */
	fake_reset();
	cfg_put(PCI_HEADER_TYPE, PCI_HEADER_TYPE_BRIDGE, 1);
	machine_up();
	assert_int_equal(vfio_pci_create(&vm, pbus, (struct vfio *)&fake, &c, &d), -EINVAL);
	assert_true(fake.detached);
	assert_int_equal(vm.mm->nr_regions, 0);
	machine_down();
	/* a device that reads all ones (gone) */
	fake_reset();
	memset(fake.cfg, 0xff, sizeof(fake.cfg));
	machine_up();
	assert_int_equal(vfio_pci_create(&vm, pbus, (struct vfio *)&fake, &c, &d), -EIO);
	assert_true(fake.detached);
	machine_down();
	/* MSI-X table outside its BAR */
	fake_reset();
	cfg_put(MSIX_CAP + PCI_MSIX_TABLE, 0x10000 | 2, 4);
	machine_up();
	assert_int_equal(vfio_pci_create(&vm, pbus, (struct vfio *)&fake, &c, &d), -EINVAL);
	assert_true(fake.detached);
	assert_int_equal(nr_irqfd_assigns, 0);
	machine_down();
}

/* ---- --device parsing ---- */

static void test_parse(void **state)
{
	struct vfio_pci_config c;
	static const char *bad[] = {
		"",
		"vfio=",
		"vfio=0000:00:03",
		"vfio=0000:00:20.0",
		"vfio=0000:00:03.8",
		"vfio=00000:00:03.0",
		"vfio=0000:00:03.0,bar-mmap=maybe",
		"vfio=0000:00:03.0,bogus=on",
		"vfio=0000:00:03.0,p2p",
		"bar-mmap=off",
		"vfio=zz:00.0",
	};

	assert_int_equal(vfio_pci_parse("vfio=0000:00:03.0", &c), 0);
	assert_string_equal(c.bdf, "0000:00:03.0");
	assert_true(c.bar_mmap);
	assert_false(c.p2p);
	assert_false(c.rom);
	assert_int_equal(vfio_pci_parse("vfio=00:1F.7,bar-mmap=off,p2p=on,rom=on", &c), 0);
	assert_string_equal(c.bdf, "0000:00:1f.7");
	assert_false(c.bar_mmap);
	assert_true(c.p2p);
	assert_true(c.rom);
	assert_int_equal(vfio_pci_parse("0001:02:03.4", &c), 0);
	assert_string_equal(c.bdf, "0001:02:03.4");
	for (unsigned i = 0; i < ARRAY_SIZE(bad); i++) {
		test_log_forget();
		assert_int_equal(vfio_pci_parse(bad[i], &c), -EINVAL);
	}
}

static int group_setup(void **state)
{
	assert_int_equal(test_log_capture_start(), 0);
	log_level = LOG_DEBUG; /* every decision path logs: run them all */
	return 0;
}

static int group_teardown(void **state)
{
	test_log_capture_stop();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_identity, setup, teardown),
		cmocka_unit_test_setup_teardown(test_capability_chain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_capability_loop_ends, setup_looping_caps,
						teardown),
		cmocka_unit_test_setup_teardown(test_msix_cap_past_config_hidden, setup_msix_at_end,
						teardown),
		cmocka_unit_test_setup_teardown(test_bar_sizing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bar_placement, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rom_hidden, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rom_exposed, setup_rom, teardown),
		cmocka_unit_test_setup_teardown(test_command_forwarded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bus_master_waits_for_dma_mappings, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_bus_master_refused_when_mapping_failed, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_bus_master_wait_ends_with_the_vm, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_bar_mmap_pieces, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bar_move, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bar_move_storm_log_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bar_mmap_off, setup_trapped, teardown),
		cmocka_unit_test_setup_teardown(test_msix_capability, setup, teardown),
		cmocka_unit_test_setup_teardown(test_msix_table_programs_routes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_msix_table_hostile, setup, teardown),
		cmocka_unit_test_setup_teardown(test_msix_toggle_storm_no_leak, setup, teardown),
		cmocka_unit_test_setup_teardown(test_msi_and_msix_together, setup, teardown),
		cmocka_unit_test_setup_teardown(test_msi_capability, setup, teardown),
		cmocka_unit_test_setup_teardown(test_msi_routes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_host_has_fewer_vectors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_intx, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deferred_open_guest_waits, setup_deferred,
						teardown),
		cmocka_unit_test_setup_teardown(test_deferred_open_then_bars_work, setup_deferred,
						teardown),
		cmocka_unit_test_setup_teardown(test_deferred_open_failure_ends_vm, setup_deferred,
						teardown),
		cmocka_unit_test_setup_teardown(test_deferred_open_size_mismatch, setup_deferred,
						teardown),
		cmocka_unit_test_setup_teardown(test_deferred_open_destroy_while_opening,
						setup_deferred, teardown),
		cmocka_unit_test_setup_teardown(test_destroy_cleans_up, setup, teardown),
		cmocka_unit_test(test_create_fails_cleanly),
		cmocka_unit_test(test_parse),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
