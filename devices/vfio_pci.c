// SPDX-License-Identifier: MIT
#include "devices/vfio_pci.h"

#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "iommu/sysfs.h"
#include "iommu/vfio.h"
#include "iommu/vfio_device.h"
#include "vmm/log.h"
#include "vmm/machine.h"
#include "vmm/util.h"

#define VFIO_PCI_ROM_BAR PCI_NUM_BARS /* index of the ROM in bars[] and the exit counters */
#define VFIO_PCI_MAX_PIECES (VFIO_MAX_SPARSE * 3)
#define VFIO_PCI_MSI_MAX_VECTORS 32
#define VFIO_PCI_MSIX_MAX_VECTORS 2048
#define VFIO_PCI_MAX_CAPS 48 /* a chain longer than 256 bytes of 4-byte caps is a loop */

/* Command bits that reach the device; the rest (parity, SERR, ...) stay emulated. */
#define VFIO_PCI_CMD_FORWARD                                                                       \
	(PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_INTX_DISABLE)

/* A page-aligned part of a BAR that is mmap'd into the guest as DEVICE_RAM. */
struct vfio_pci_piece {
	uint64_t off, size;
	void *hva;
	bool added; /* in the memory map right now */
};

struct vfio_pci_bar {
	struct vfio_region region;
	bool present;
	unsigned nr_pieces;
	struct vfio_pci_piece pieces[VFIO_PCI_MAX_PIECES];
	uint64_t mmap_bytes;
	bool mapped;
	uint64_t addr;
	atomic_uint_fast64_t exits;
};

/* One MSI or MSI-X vector: the eventfd VFIO signals, bound by an irqfd to a KVM MSI route
 * while the guest has it unmasked. */
struct vfio_pci_vector {
	int fd;
	bool routed; /* gsi holds a KVM MSI route */
	bool irqfd;  /* fd is bound to gsi */
	unsigned gsi;
	uint64_t addr;
	uint32_t data;
};

struct vfio_pci_msix_entry {
	uint32_t addr_lo, addr_hi, data, ctrl;
};

struct vfio_pci {
	struct pci_device pci;
	struct vm *vm;
	struct vfio *vfio;
	struct vfio_device *vdev;
	struct vfio_pci_config cfg;
	char name[32];
	struct vfio_region config;
	struct vfio_pci_bar bars[PCI_NUM_BARS + 1];
	pthread_mutex_t lock; /* interrupt state: taken under the bus lock, never the reverse */
	bool on_bus;
	struct log_ratelimit rl; /* messages the guest can trigger */

	/* INTx */
	bool intx_present, intx_enabled;
	int intx_fd, intx_resample_fd;
	unsigned intx_gsi;

	/* MSI (emulated capability) */
	unsigned msi_cap, msi_len, msi_max;
	bool msi_64, msi_maskable, msi_enabled;
	unsigned msi_nvec;
	struct vfio_pci_vector msi_vec[VFIO_PCI_MSI_MAX_VECTORS];

	/* MSI-X (emulated capability, table and PBA) */
	unsigned msix_cap, msix_nr, msix_bar;
	uint64_t msix_table_off, msix_pba_off;
	bool msix_enabled;
	struct vfio_pci_msix_entry *msix_table;
	struct vfio_pci_vector *msix_vec;

	/* expansion ROM (rom=on) */
	uint64_t rom_size;
	bool rom_mapped;
	struct bus_dev rom_trap;
};

#define vp_err(dp, fmt, ...) pr_err("vfio-pci %s: " fmt, (dp)->cfg.bdf, ##__VA_ARGS__)
#define vp_warn(dp, fmt, ...) pr_warn("vfio-pci %s: " fmt, (dp)->cfg.bdf, ##__VA_ARGS__)
#define vp_info(dp, fmt, ...) pr_info("vfio-pci %s: " fmt, (dp)->cfg.bdf, ##__VA_ARGS__)
#define vp_debug(dp, fmt, ...) pr_debug("vfio-pci %s: " fmt, (dp)->cfg.bdf, ##__VA_ARGS__)
/* What the guest can trigger (BAR moves, MSI/MSI-X enable, routes): the device's own budget. */
#define vp_rl(dp, lvl, fmt, ...)                                                                   \
	log_printf_ratelimited(&(dp)->rl, lvl, "vfio-pci %s: " fmt, (dp)->cfg.bdf, ##__VA_ARGS__)
#define vp_err_rl(dp, ...) vp_rl(dp, LOG_ERR, __VA_ARGS__)
#define vp_warn_rl(dp, ...) vp_rl(dp, LOG_WARN, __VA_ARGS__)
#define vp_info_rl(dp, ...) vp_rl(dp, LOG_INFO, __VA_ARGS__)

/* ---- parsing ---- */

static int vfio_pci_parse_bool(const char *spec, const char *key, const char *val, bool *out)
{
	if (!strcmp(val, "on")) {
		*out = true;
		return 0;
	}
	if (!strcmp(val, "off")) {
		*out = false;
		return 0;
	}
	pr_err("--device %s: %s=%s: want on or off", spec, key, val);
	return -EINVAL;
}

int vfio_pci_parse(const char *spec, struct vfio_pci_config *cfg)
{
	char buf[256], *save = NULL, *tok;
	bool have_bdf = false;
	const char *s = spec;
	int ret;

	memset(cfg, 0, sizeof(*cfg));
	cfg->bar_mmap = true;
	if (!strncmp(s, "vfio=", 5))
		s += 5;
	if (strlen(s) >= sizeof(buf)) {
		pr_err("--device %.32s...: too long", spec);
		return -EINVAL;
	}
	strcpy(buf, s);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');

		if (!have_bdf) {
			if (eq) {
				pr_err("--device %s: the PCI address must come first", spec);
				return -EINVAL;
			}
			if (vfio_bdf_parse(tok, cfg->bdf)) {
				pr_err("--device %s: '%s' is not a PCI address (want DDDD:BB:SS.F, "
				       "e.g. 0000:00:03.0)",
				       spec, tok);
				return -EINVAL;
			}
			have_bdf = true;
			continue;
		}
		if (!eq) {
			pr_err("--device %s: '%s' is not key=value", spec, tok);
			return -EINVAL;
		}
		*eq = '\0';
		if (!strcmp(tok, "bar-mmap"))
			ret = vfio_pci_parse_bool(spec, tok, eq + 1, &cfg->bar_mmap);
		else if (!strcmp(tok, "p2p"))
			ret = vfio_pci_parse_bool(spec, tok, eq + 1, &cfg->p2p);
		else if (!strcmp(tok, "rom"))
			ret = vfio_pci_parse_bool(spec, tok, eq + 1, &cfg->rom);
		else {
			pr_err("--device %s: unknown option '%s' (have bar-mmap, p2p, rom)", spec,
			       tok);
			ret = -EINVAL;
		}
		if (ret)
			return ret;
	}
	if (!have_bdf) {
		pr_err("--device %s: no PCI address (want vfio=DDDD:BB:SS.F)", spec);
		return -EINVAL;
	}
	return 0;
}

/* ---- interrupt vectors ---- */

static int vfio_pci_vector_open(struct vfio_pci *dp, struct vfio_pci_vector *v)
{
	memset(v, 0, sizeof(*v));
	v->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (v->fd < 0) {
		int ret = -errno;

		vp_err_rl(dp, "eventfd: %s", strerror(-ret));
		return ret;
	}
	return 0;
}

static void vfio_pci_vector_close(struct vfio_pci *dp, struct vfio_pci_vector *v)
{
	if (v->irqfd)
		vm_irqfd_deassign(dp->vm, v->fd, v->gsi);
	if (v->routed)
		vm_msi_route_del(dp->vm, v->gsi);
	if (v->fd >= 0)
		close(v->fd);
	memset(v, 0, sizeof(*v));
	v->fd = -1;
}

/*
 * Brings vector v of kind ("MSI"/"MSI-X") in line with the guest's view: a route for its
 * message once the guest unmasked it, the irqfd bound only while unmasked. A masked vector
 * keeps its count in the eventfd; KVM delivers it when the irqfd is bound again.
 */
static void vfio_pci_vector_program(struct vfio_pci *dp, const char *kind, unsigned i,
				    struct vfio_pci_vector *v, uint64_t addr, uint32_t data,
				    bool masked)
{
	int ret;

	if (v->fd < 0)
		return;
	if (!v->routed && !masked) {
		ret = vm_msi_route_add(dp->vm, addr, data, &v->gsi);
		if (ret) {
			vp_warn_rl(dp, "%s vector %u: no KVM MSI route: %s", kind, i,
				   strerror(-ret));
			return;
		}
		v->routed = true;
		v->addr = addr;
		v->data = data;
		vp_info_rl(dp, "%s vector %u -> gsi %u (address 0x%llx data 0x%x), irqfd %d", kind,
			   i, v->gsi, (unsigned long long)addr, data, v->fd);
	} else if (v->routed && (v->addr != addr || v->data != data)) {
		ret = vm_msi_route_update(dp->vm, v->gsi, addr, data);
		if (ret)
			vp_warn_rl(dp, "%s vector %u: route update failed: %s", kind, i,
				   strerror(-ret));
		v->addr = addr;
		v->data = data;
		vp_debug(dp, "%s vector %u: gsi %u now address 0x%llx data 0x%x", kind, i, v->gsi,
			 (unsigned long long)addr, data);
	}
	if (!v->routed)
		return;
	if (!masked && !v->irqfd) {
		ret = vm_irqfd_assign(dp->vm, v->fd, v->gsi, -1);
		if (ret) {
			vp_warn_rl(dp, "%s vector %u: irqfd: %s", kind, i, strerror(-ret));
			return;
		}
		v->irqfd = true;
		vp_debug(dp, "%s vector %u unmasked", kind, i);
	} else if (masked && v->irqfd) {
		vm_irqfd_deassign(dp->vm, v->fd, v->gsi);
		v->irqfd = false;
		vp_debug(dp, "%s vector %u masked", kind, i);
	}
}

/* Pending: masked, and VFIO signalled the eventfd meanwhile (poll does not consume it). */
static bool vfio_pci_vector_pending(const struct vfio_pci_vector *v)
{
	struct pollfd p = { .fd = v->fd, .events = POLLIN };

	return v->fd >= 0 && !v->irqfd && poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

/* ---- INTx ---- */

static void vfio_pci_intx_disable(struct vfio_pci *dp)
{
	if (!dp->intx_enabled)
		return;
	vfio_device_set_irq_eventfds(dp->vdev, VFIO_PCI_INTX_IRQ_INDEX, 0, 0, NULL);
	/* KVM drops the line level with the resampler */
	vm_irqfd_deassign(dp->vm, dp->intx_fd, dp->intx_gsi);
	dp->intx_enabled = false;
	vp_debug(dp, "INTx off");
}

static int vfio_pci_intx_enable(struct vfio_pci *dp)
{
	int ret;

	if (!dp->intx_present || dp->intx_enabled)
		return 0;
	ret = vm_irqfd_assign(dp->vm, dp->intx_fd, dp->intx_gsi, dp->intx_resample_fd);
	if (ret) {
		vp_err_rl(dp, "INTx: irqfd with resample on gsi %u: %s", dp->intx_gsi,
			  strerror(-ret));
		return ret;
	}
	ret = vfio_device_set_irq_eventfds(dp->vdev, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, &dp->intx_fd);
	if (!ret)
		ret = vfio_device_set_irq_unmask_eventfd(dp->vdev, VFIO_PCI_INTX_IRQ_INDEX,
							 dp->intx_resample_fd);
	if (ret) {
		vp_err_rl(dp, "INTx: cannot hand the eventfds to VFIO: %s", strerror(-ret));
		vfio_device_set_irq_eventfds(dp->vdev, VFIO_PCI_INTX_IRQ_INDEX, 0, 0, NULL);
		vm_irqfd_deassign(dp->vm, dp->intx_fd, dp->intx_gsi);
		return ret;
	}
	dp->intx_enabled = true;
	vp_debug(dp, "INTx on: trigger eventfd %d -> gsi %u, resample/unmask eventfd %d",
		 dp->intx_fd, dp->intx_gsi, dp->intx_resample_fd);
	return 0;
}

/* ---- MSI ---- */

static uint16_t vfio_pci_msi_flags(struct vfio_pci *dp)
{
	return (uint16_t)pci_config_get(&dp->pci, dp->msi_cap + PCI_MSI_FLAGS, 2);
}

static unsigned vfio_pci_msi_data_off(struct vfio_pci *dp)
{
	return dp->msi_cap + (dp->msi_64 ? PCI_MSI_DATA_64 : PCI_MSI_DATA_32);
}

static unsigned vfio_pci_msi_mask_off(struct vfio_pci *dp)
{
	return dp->msi_cap + (dp->msi_64 ? PCI_MSI_MASK_64 : PCI_MSI_MASK_32);
}

static void vfio_pci_msi_teardown(struct vfio_pci *dp)
{
	for (unsigned i = 0; i < dp->msi_nvec; i++)
		vfio_pci_vector_close(dp, &dp->msi_vec[i]);
	dp->msi_nvec = 0;
	dp->msi_enabled = false;
}

static void vfio_pci_msi_disable(struct vfio_pci *dp)
{
	if (!dp->msi_enabled)
		return;
	vfio_device_set_irq_eventfds(dp->vdev, VFIO_PCI_MSI_IRQ_INDEX, 0, 0, NULL);
	vfio_pci_msi_teardown(dp);
	vp_info_rl(dp, "MSI disabled");
	vfio_pci_intx_enable(dp);
}

static int vfio_pci_msi_enable(struct vfio_pci *dp, unsigned nvec)
{
	int fds[VFIO_PCI_MSI_MAX_VECTORS];
	int ret = 0;

	vfio_pci_intx_disable(dp);
	for (unsigned i = 0; i < nvec; i++)
		dp->msi_vec[i].fd = -1;
	dp->msi_nvec = nvec;
	for (unsigned i = 0; i < nvec && !ret; i++) {
		ret = vfio_pci_vector_open(dp, &dp->msi_vec[i]);
		fds[i] = dp->msi_vec[i].fd;
	}
	if (!ret)
		ret = vfio_device_set_irq_eventfds(dp->vdev, VFIO_PCI_MSI_IRQ_INDEX, 0, nvec, fds);
	if (ret) {
		vp_err_rl(dp, "MSI: cannot enable %u vector(s): %s", nvec, strerror(-ret));
		vfio_pci_msi_teardown(dp);
		vfio_pci_intx_enable(dp);
		return ret;
	}
	dp->msi_enabled = true;
	vp_info_rl(dp, "MSI enabled with %u vector(s)", nvec);
	return 0;
}

/* After any guest write into the MSI capability. */
static void vfio_pci_msi_update(struct vfio_pci *dp)
{
	uint16_t flags = vfio_pci_msi_flags(dp);
	bool enable = flags & PCI_MSI_FLAGS_ENABLE;
	unsigned nvec = 1U << ((flags & PCI_MSI_FLAGS_QSIZE) >> 4);
	uint64_t addr;
	uint32_t data, mask = 0;

	/* the guest may ask for more than the capability offers: the device sends fewer */
	nvec = MIN(nvec, dp->msi_max);
	if (dp->msi_enabled && (!enable || nvec != dp->msi_nvec))
		vfio_pci_msi_disable(dp);
	if (enable && !dp->msi_enabled && vfio_pci_msi_enable(dp, nvec))
		return;
	if (!dp->msi_enabled)
		return;
	addr = pci_config_get(&dp->pci, dp->msi_cap + PCI_MSI_ADDRESS_LO, 4);
	if (dp->msi_64)
		addr |= (uint64_t)pci_config_get(&dp->pci, dp->msi_cap + PCI_MSI_ADDRESS_HI, 4)
			<< 32;
	data = pci_config_get(&dp->pci, vfio_pci_msi_data_off(dp), 2);
	if (dp->msi_maskable)
		mask = pci_config_get(&dp->pci, vfio_pci_msi_mask_off(dp), 4);
	for (unsigned i = 0; i < dp->msi_nvec; i++) {
		/* multiple messages: the device puts the vector number in the low data bits */
		uint32_t d = (data & ~(dp->msi_nvec - 1)) | i;

		vfio_pci_vector_program(dp, "MSI", i, &dp->msi_vec[i], addr, d, (mask >> i) & 1);
	}
}

/* ---- MSI-X ---- */

static bool vfio_pci_msix_vector_masked(struct vfio_pci *dp, unsigned i)
{
	uint16_t flags = (uint16_t)pci_config_get(&dp->pci, dp->msix_cap + PCI_MSIX_FLAGS, 2);

	return (flags & PCI_MSIX_FLAGS_MASKALL) ||
	       (dp->msix_table[i].ctrl & PCI_MSIX_ENTRY_CTRL_MASKBIT);
}

static void vfio_pci_msix_program(struct vfio_pci *dp, unsigned i)
{
	struct vfio_pci_msix_entry *e = &dp->msix_table[i];

	vfio_pci_vector_program(dp, "MSI-X", i, &dp->msix_vec[i],
				((uint64_t)e->addr_hi << 32) | e->addr_lo, e->data,
				vfio_pci_msix_vector_masked(dp, i));
}

static void vfio_pci_msix_teardown(struct vfio_pci *dp)
{
	for (unsigned i = 0; i < dp->msix_nr; i++)
		vfio_pci_vector_close(dp, &dp->msix_vec[i]);
	dp->msix_enabled = false;
}

static void vfio_pci_msix_disable(struct vfio_pci *dp)
{
	if (!dp->msix_enabled)
		return;
	vfio_device_set_irq_eventfds(dp->vdev, VFIO_PCI_MSIX_IRQ_INDEX, 0, 0, NULL);
	vfio_pci_msix_teardown(dp);
	vp_info_rl(dp, "MSI-X disabled");
	vfio_pci_intx_enable(dp);
}

static int vfio_pci_msix_enable(struct vfio_pci *dp)
{
	int *fds = calloc(dp->msix_nr, sizeof(*fds));
	int ret = fds ? 0 : -ENOMEM;

	vfio_pci_intx_disable(dp);
	for (unsigned i = 0; i < dp->msix_nr && !ret; i++) {
		ret = vfio_pci_vector_open(dp, &dp->msix_vec[i]);
		fds[i] = dp->msix_vec[i].fd;
	}
	if (!ret)
		ret = vfio_device_set_irq_eventfds(dp->vdev, VFIO_PCI_MSIX_IRQ_INDEX, 0,
						   dp->msix_nr, fds);
	free(fds);
	if (ret) {
		vp_err_rl(dp, "MSI-X: cannot enable %u vectors: %s", dp->msix_nr, strerror(-ret));
		vfio_pci_msix_teardown(dp);
		vfio_pci_intx_enable(dp);
		return ret;
	}
	dp->msix_enabled = true;
	vp_info_rl(dp, "MSI-X enabled with %u vectors", dp->msix_nr);
	return 0;
}

/* After a guest write to the MSI-X message control word (enable, function mask). */
static void vfio_pci_msix_update(struct vfio_pci *dp)
{
	uint16_t flags = (uint16_t)pci_config_get(&dp->pci, dp->msix_cap + PCI_MSIX_FLAGS, 2);
	bool enable = flags & PCI_MSIX_FLAGS_ENABLE;

	if (!enable) {
		vfio_pci_msix_disable(dp);
		return;
	}
	if (!dp->msix_enabled && vfio_pci_msix_enable(dp))
		return;
	for (unsigned i = 0; i < dp->msix_nr; i++)
		vfio_pci_msix_program(dp, i);
}

static bool vfio_pci_access_ok(uint64_t off, unsigned len, uint64_t size)
{
	return (len == 4 || len == 8) && off % len == 0 && off + len <= size;
}

static void vfio_pci_msix_table_read(struct vfio_pci *dp, uint64_t off, void *data, unsigned len)
{
	memset(data, 0xff, len);
	if (!vfio_pci_access_ok(off, len, (uint64_t)dp->msix_nr * PCI_MSIX_ENTRY_SIZE))
		return;
	pthread_mutex_lock(&dp->lock);
	memcpy(data, (uint8_t *)dp->msix_table + off, len);
	pthread_mutex_unlock(&dp->lock);
}

static void vfio_pci_msix_table_write(struct vfio_pci *dp, uint64_t off, const void *data,
				      unsigned len)
{
	unsigned i = (unsigned)(off / PCI_MSIX_ENTRY_SIZE);

	if (!vfio_pci_access_ok(off, len, (uint64_t)dp->msix_nr * PCI_MSIX_ENTRY_SIZE)) {
		vp_debug(dp, "MSI-X table: %u-byte write at 0x%llx ignored", len,
			 (unsigned long long)off);
		return;
	}
	pthread_mutex_lock(&dp->lock);
	memcpy((uint8_t *)dp->msix_table + off, data, len);
	dp->msix_table[i].ctrl &= PCI_MSIX_ENTRY_CTRL_MASKBIT; /* the other bits are reserved */
	if (dp->msix_enabled)
		vfio_pci_msix_program(dp, i);
	pthread_mutex_unlock(&dp->lock);
}

static void vfio_pci_msix_pba_read(struct vfio_pci *dp, uint64_t off, void *data, unsigned len)
{
	uint64_t bits = 0;

	memset(data, 0, len);
	if (!vfio_pci_access_ok(off, len, ALIGN_UP((uint64_t)dp->msix_nr, 64) / 8))
		return;
	pthread_mutex_lock(&dp->lock);
	for (unsigned b = 0; b < len * 8; b++) {
		uint64_t v = off * 8 + b;

		if (v < dp->msix_nr && dp->msix_enabled &&
		    vfio_pci_vector_pending(&dp->msix_vec[v]))
			bits |= 1ULL << b;
	}
	pthread_mutex_unlock(&dp->lock);
	memcpy(data, &bits, len);
}

/* ---- BARs ---- */

static struct vfio_pci *to_vfio_pci(struct pci_device *pdev)
{
	return container_of(pdev, struct vfio_pci, pci);
}

static uint64_t vfio_pci_msix_table_size(struct vfio_pci *dp)
{
	return (uint64_t)dp->msix_nr * PCI_MSIX_ENTRY_SIZE;
}

static uint64_t vfio_pci_msix_pba_size(struct vfio_pci *dp)
{
	return ALIGN_UP((uint64_t)dp->msix_nr, 64) / 8;
}

static void vfio_pci_bar_read(struct pci_device *pdev, unsigned bar, uint64_t off, void *data,
			      unsigned len)
{
	struct vfio_pci *dp = to_vfio_pci(pdev);
	struct vfio_pci_bar *b = &dp->bars[bar];

	atomic_fetch_add(&b->exits, 1);
	if (dp->msix_cap && bar == dp->msix_bar) {
		if (ranges_overlap(off, len, dp->msix_table_off, vfio_pci_msix_table_size(dp))) {
			vfio_pci_msix_table_read(dp, off - dp->msix_table_off, data, len);
			return;
		}
		if (ranges_overlap(off, len, dp->msix_pba_off, vfio_pci_msix_pba_size(dp))) {
			vfio_pci_msix_pba_read(dp, off - dp->msix_pba_off, data, len);
			return;
		}
	}
	if (vfio_device_region_read(dp->vdev, &b->region, off, data, len))
		memset(data, 0xff, len);
}

static void vfio_pci_bar_write(struct pci_device *pdev, unsigned bar, uint64_t off,
			       const void *data, unsigned len)
{
	struct vfio_pci *dp = to_vfio_pci(pdev);
	struct vfio_pci_bar *b = &dp->bars[bar];

	atomic_fetch_add(&b->exits, 1);
	if (dp->msix_cap && bar == dp->msix_bar) {
		if (ranges_overlap(off, len, dp->msix_table_off, vfio_pci_msix_table_size(dp))) {
			vfio_pci_msix_table_write(dp, off - dp->msix_table_off, data, len);
			return;
		}
		/* the PBA is read-only */
		if (ranges_overlap(off, len, dp->msix_pba_off, vfio_pci_msix_pba_size(dp)))
			return;
	}
	vfio_device_region_write(dp->vdev, &b->region, off, data, len);
}

static void vfio_pci_bar_unplace(struct vfio_pci *dp, unsigned bar)
{
	struct vfio_pci_bar *b = &dp->bars[bar];
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
static int vfio_pci_bar_map(struct pci_device *pdev, unsigned bar, uint64_t addr, bool map)
{
	struct vfio_pci *dp = to_vfio_pci(pdev);
	struct vfio_pci_bar *b = &dp->bars[bar];
	struct memmap *mm = vm_memmap(dp->vm);
	int ret;

	if (!map) {
		if (b->mapped)
			vfio_pci_bar_unplace(dp, bar);
		vp_debug(dp, "BAR%u no longer decoded at 0x%llx", bar, (unsigned long long)addr);
		return 0;
	}
	/* The trap covers the whole BAR; the mmap'd pieces are memslots on top of it, so
	 * only accesses to the holes (MSI-X table, PBA, unmappable parts) exit. */
	b->addr = addr;
	ret = pci_device_bar_trap(pdev, bar, addr, true);
	if (ret) {
		vp_warn_rl(
		    dp,
		    "BAR%u at 0x%llx: the guest placed it over another device (%s): not decoded",
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
static void vfio_pci_bar_setup_mmap(struct vfio_pci *dp, unsigned bar)
{
	struct vfio_pci_bar *b = &dp->bars[bar];
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
	if (dp->msix_cap && bar == dp->msix_bar) {
		/* the table and the PBA stay trapped, whole host pages around them */
		uint64_t t = ALIGN_DOWN(dp->msix_table_off, pg);
		uint64_t te = ALIGN_UP(dp->msix_table_off + vfio_pci_msix_table_size(dp), pg);
		uint64_t p = ALIGN_DOWN(dp->msix_pba_off, pg);
		uint64_t pe = ALIGN_UP(dp->msix_pba_off + vfio_pci_msix_pba_size(dp), pg);

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

/* ---- expansion ROM (rom=on): a read-only trap while the guest enables it ---- */

static void vfio_pci_rom_read(struct bus_dev *bd, uint64_t off, void *data, unsigned len)
{
	struct vfio_pci *dp = container_of(bd, struct vfio_pci, rom_trap);
	struct vfio_pci_bar *b = &dp->bars[VFIO_PCI_ROM_BAR];

	atomic_fetch_add(&b->exits, 1);
	if (off + len > b->region.size ||
	    vfio_device_region_read(dp->vdev, &b->region, off, data, len))
		memset(data, 0xff, len);
}

static void vfio_pci_rom_write(struct bus_dev *bd, uint64_t off, const void *data, unsigned len)
{
	struct vfio_pci *dp = container_of(bd, struct vfio_pci, rom_trap);

	atomic_fetch_add(&dp->bars[VFIO_PCI_ROM_BAR].exits, 1);
}

static const struct bus_dev_ops vfio_pci_rom_ops = {
	.read = vfio_pci_rom_read,
	.write = vfio_pci_rom_write,
};

static void vfio_pci_rom_update(struct vfio_pci *dp)
{
	uint32_t bar = pci_config_get(&dp->pci, PCI_ROM_ADDRESS, 4);
	uint16_t cmd = (uint16_t)pci_config_get(&dp->pci, PCI_COMMAND, 2);
	uint64_t addr = bar & PCI_ROM_ADDRESS_MASK;
	bool want = dp->rom_size && (bar & PCI_ROM_ADDRESS_ENABLE) && (cmd & PCI_COMMAND_MEMORY) &&
		    addr && addr + dp->rom_size > addr;

	if (dp->rom_mapped && (!want || dp->rom_trap.base != addr)) {
		vm_unregister_mmio(dp->vm, &dp->rom_trap);
		dp->rom_mapped = false;
		vp_debug(dp, "ROM no longer decoded");
	}
	if (want && !dp->rom_mapped) {
		dp->rom_trap = (struct bus_dev){ .base = addr,
						 .len = dp->rom_size,
						 .ops = &vfio_pci_rom_ops,
						 .name = dp->name };
		if (vm_register_mmio(dp->vm, &dp->rom_trap)) {
			vp_warn_rl(dp, "ROM at 0x%llx overlaps another device, left unmapped",
				   (unsigned long long)addr);
			return;
		}
		dp->rom_mapped = true;
		vp_info_rl(dp, "ROM at 0x%llx size 0x%llx: trapped, read-only",
			   (unsigned long long)addr, (unsigned long long)dp->rom_size);
	}
}

/* ---- config space ---- */

static void vfio_pci_config_read(struct pci_device *pdev, unsigned offset, void *data, unsigned len)
{
	struct vfio_pci *dp = to_vfio_pci(pdev);
	uint16_t st;

	/* the one live bit: whether the device asserts INTx right now */
	if (!ranges_overlap(offset, len, PCI_STATUS, 1))
		return;
	if (vfio_device_region_read(dp->vdev, &dp->config, PCI_STATUS, &st, sizeof(st)))
		return;
	dp->pci.cfg[PCI_STATUS] = (uint8_t)((dp->pci.cfg[PCI_STATUS] & ~PCI_STATUS_INTERRUPT) |
					    (st & PCI_STATUS_INTERRUPT));
}

static void vfio_pci_command_forward(struct vfio_pci *dp)
{
	uint16_t want = (uint16_t)pci_config_get(&dp->pci, PCI_COMMAND, 2) & VFIO_PCI_CMD_FORWARD;
	uint16_t cur, next;

	if (vfio_device_region_read(dp->vdev, &dp->config, PCI_COMMAND, &cur, sizeof(cur)))
		return;
	next = (uint16_t)((cur & ~VFIO_PCI_CMD_FORWARD) | want);
	if (next == cur)
		return;
	vp_debug(dp, "command 0x%04x -> 0x%04x forwarded to the device", cur, next);
	vfio_device_region_write(dp->vdev, &dp->config, PCI_COMMAND, &next, sizeof(next));
}

/* pci.c applied the write masks to the emulated bytes; act on what the guest changed. */
static void vfio_pci_config_write(struct pci_device *pdev, unsigned offset, const void *data,
				  unsigned len)
{
	struct vfio_pci *dp = to_vfio_pci(pdev);

	if (ranges_overlap(offset, len, PCI_COMMAND, 2))
		vfio_pci_command_forward(dp);
	pthread_mutex_lock(&dp->lock);
	if (dp->msi_cap && ranges_overlap(offset, len, dp->msi_cap, dp->msi_len))
		vfio_pci_msi_update(dp);
	if (dp->msix_cap && ranges_overlap(offset, len, dp->msix_cap + PCI_MSIX_FLAGS, 2))
		vfio_pci_msix_update(dp);
	pthread_mutex_unlock(&dp->lock);
	if (dp->rom_size && (ranges_overlap(offset, len, PCI_ROM_ADDRESS, 4) ||
			     ranges_overlap(offset, len, PCI_COMMAND, 2)))
		vfio_pci_rom_update(dp);
}

static const struct pci_device_ops vfio_pci_ops = {
	.bar_read = vfio_pci_bar_read,
	.bar_write = vfio_pci_bar_write,
	.bar_map = vfio_pci_bar_map,
	.config_read = vfio_pci_config_read,
	.config_write = vfio_pci_config_write,
};

/* Bytes of an MSI capability: 10 to 24, by its 64-bit and per-vector-mask flags. */
static unsigned vfio_pci_msi_cap_len(const uint8_t *raw, unsigned cap)
{
	uint16_t flags = (uint16_t)(raw[cap + PCI_MSI_FLAGS] | raw[cap + PCI_MSI_FLAGS + 1] << 8);
	bool is64 = flags & PCI_MSI_FLAGS_64BIT;

	if (flags & PCI_MSI_FLAGS_MASKBIT)
		return is64 ? PCI_MSI_PENDING_64 + 4 : PCI_MSI_PENDING_32 + 4;
	return is64 ? PCI_MSI_DATA_64 + 2 : PCI_MSI_DATA_32 + 2;
}

static unsigned vfio_pci_log2(unsigned v)
{
	unsigned l = 0;

	while ((1U << (l + 1)) <= v && l < 31)
		l++;
	return l;
}

/* The MSI capability at `cap` becomes emulated: message fields start clear, MMC is what
 * VFIO offers. */
static void vfio_pci_msi_init(struct vfio_pci *dp, unsigned cap, const uint8_t *raw, uint32_t count)
{
	struct pci_device *pd = &dp->pci;
	uint16_t flags = (uint16_t)(raw[cap + PCI_MSI_FLAGS] | raw[cap + PCI_MSI_FLAGS + 1] << 8);
	unsigned mmc = MIN((unsigned)(flags & PCI_MSI_FLAGS_QMASK) >> 1,
			   vfio_pci_log2(MIN(count, (uint32_t)VFIO_PCI_MSI_MAX_VECTORS)));
	uint16_t vflags =
	    (uint16_t)((flags & (PCI_MSI_FLAGS_64BIT | PCI_MSI_FLAGS_MASKBIT)) | mmc << 1);

	dp->msi_cap = cap;
	dp->msi_64 = flags & PCI_MSI_FLAGS_64BIT;
	dp->msi_maskable = flags & PCI_MSI_FLAGS_MASKBIT;
	dp->msi_max = 1U << mmc;
	dp->msi_len = vfio_pci_msi_cap_len(raw, cap);
	memset(&pd->cfg[cap + 2], 0, dp->msi_len - 2);
	pci_config_set(pd, cap + PCI_MSI_FLAGS, vflags, 2);
	pd->wmask[cap + PCI_MSI_FLAGS] = PCI_MSI_FLAGS_ENABLE | PCI_MSI_FLAGS_QSIZE;
	memset(&pd->wmask[cap + PCI_MSI_ADDRESS_LO], 0xff, 4);
	pd->wmask[cap + PCI_MSI_ADDRESS_LO] = 0xfc;
	if (dp->msi_64)
		memset(&pd->wmask[cap + PCI_MSI_ADDRESS_HI], 0xff, 4);
	memset(&pd->wmask[vfio_pci_msi_data_off(dp)], 0xff, 2);
	if (dp->msi_maskable)
		memset(&pd->wmask[vfio_pci_msi_mask_off(dp)], 0xff, 4);
	vp_debug(dp, "MSI capability at 0x%x emulated: %s-bit, %s, up to %u vector(s)", cap,
		 dp->msi_64 ? "64" : "32", dp->msi_maskable ? "per-vector masks" : "no masks",
		 dp->msi_max);
}

static int vfio_pci_msix_init(struct vfio_pci *dp, unsigned cap, const uint8_t *raw, uint32_t count)
{
	struct pci_device *pd = &dp->pci;
	uint16_t flags = (uint16_t)(raw[cap + PCI_MSIX_FLAGS] | raw[cap + PCI_MSIX_FLAGS + 1] << 8);
	uint32_t table, pba;
	unsigned nr = (flags & PCI_MSIX_FLAGS_QSIZE) + 1U;
	struct vfio_pci_bar *tb, *pb;

	memcpy(&table, &raw[cap + PCI_MSIX_TABLE], 4);
	memcpy(&pba, &raw[cap + PCI_MSIX_PBA], 4);
	nr = MIN(nr, MIN(count, (uint32_t)VFIO_PCI_MSIX_MAX_VECTORS));
	tb = &dp->bars[MIN(table & PCI_MSIX_TABLE_BIR, (uint32_t)VFIO_PCI_ROM_BAR)];
	pb = &dp->bars[MIN(pba & PCI_MSIX_PBA_BIR, (uint32_t)VFIO_PCI_ROM_BAR)];
	dp->msix_nr = nr;
	dp->msix_bar = table & PCI_MSIX_TABLE_BIR;
	dp->msix_table_off = table & PCI_MSIX_TABLE_OFFSET;
	dp->msix_pba_off = pba & PCI_MSIX_PBA_OFFSET;
	/* table and PBA in one BAR, both inside it: what every device does; anything else is
	 * refused rather than half emulated */
	if (dp->msix_bar >= PCI_NUM_BARS || (pba & PCI_MSIX_PBA_BIR) != dp->msix_bar || tb != pb ||
	    !tb->present || dp->msix_table_off + vfio_pci_msix_table_size(dp) > tb->region.size ||
	    dp->msix_pba_off + vfio_pci_msix_pba_size(dp) > tb->region.size) {
		vp_err(dp,
		       "MSI-X table (BIR %u offset 0x%llx) or PBA (BIR %u offset 0x%llx) is "
		       "not inside one BAR",
		       table & PCI_MSIX_TABLE_BIR, (unsigned long long)dp->msix_table_off,
		       pba & PCI_MSIX_PBA_BIR, (unsigned long long)dp->msix_pba_off);
		return -EINVAL;
	}
	dp->msix_table = calloc(nr, sizeof(*dp->msix_table));
	dp->msix_vec = calloc(nr, sizeof(*dp->msix_vec));
	if (!dp->msix_table || !dp->msix_vec)
		return -ENOMEM;
	for (unsigned i = 0; i < nr; i++) {
		dp->msix_table[i].ctrl = PCI_MSIX_ENTRY_CTRL_MASKBIT;
		dp->msix_vec[i].fd = -1;
	}
	dp->msix_cap = cap;
	pci_config_set(pd, cap + PCI_MSIX_FLAGS, nr - 1, 2);
	pd->wmask[cap + PCI_MSIX_FLAGS + 1] = (PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL) >> 8;
	vp_debug(dp,
		 "MSI-X capability at 0x%x emulated: %u vectors, table BAR%u+0x%llx, PBA "
		 "BAR%u+0x%llx",
		 cap, nr, dp->msix_bar, (unsigned long long)dp->msix_table_off, dp->msix_bar,
		 (unsigned long long)dp->msix_pba_off);
	return 0;
}

/*
 * Walks the device's capability list and rebuilds it: PM and vendor-specific capabilities
 * read-only, MSI and MSI-X emulated, everything else unlinked. A list that loops or points
 * into the header ends where it goes wrong.
 */
static int vfio_pci_caps_init(struct vfio_pci *dp, const uint8_t *raw, uint32_t nr_msi,
			      uint32_t nr_msix)
{
	struct pci_device *pd = &dp->pci;
	uint8_t seen[PCI_CFG_SPACE_SIZE / 4] = { 0 };
	unsigned ptr = raw[PCI_CAPABILITY_LIST] & ~3U, prev = 0;
	int ret;

	pd->cfg[PCI_CAPABILITY_LIST] = 0;
	if (!(raw[PCI_STATUS] & PCI_STATUS_CAP_LIST))
		ptr = 0;
	for (unsigned n = 0; ptr && n < VFIO_PCI_MAX_CAPS; n++) {
		unsigned id = raw[ptr + PCI_CAP_LIST_ID], next = raw[ptr + PCI_CAP_LIST_NEXT] & ~3U;
		bool keep;

		if (ptr < PCI_STD_HEADER_SIZEOF || ptr > PCI_CFG_SPACE_SIZE - 4 || seen[ptr / 4]) {
			vp_debug(dp, "capability pointer 0x%x is bad or loops: list ends there",
				 ptr);
			break;
		}
		seen[ptr / 4] = 1;
		switch (id) {
		case PCI_CAP_ID_PM:
		case PCI_CAP_ID_VNDR:
			keep = true;
			vp_debug(dp, "capability 0x%02x at 0x%x: read-only copy", id, ptr);
			break;
		case PCI_CAP_ID_MSI:
			keep = nr_msi > 0 && !dp->msi_cap &&
			       ptr + vfio_pci_msi_cap_len(raw, ptr) <= PCI_CFG_SPACE_SIZE;
			if (keep)
				vfio_pci_msi_init(dp, ptr, raw, nr_msi);
			else
				vp_debug(dp,
					 "MSI capability at 0x%x hidden (VFIO offers %u vectors)",
					 ptr, nr_msi);
			break;
		case PCI_CAP_ID_MSIX:
			/* its table and PBA words must lie inside config space (a malformed
			 * device may put the capability at 0xf8) */
			keep = nr_msix > 0 && !dp->msix_cap &&
			       ptr + PCI_CAP_MSIX_SIZEOF <= PCI_CFG_SPACE_SIZE;
			if (keep) {
				ret = vfio_pci_msix_init(dp, ptr, raw, nr_msix);
				if (ret)
					return ret;
			} else {
				vp_debug(dp,
					 "MSI-X capability at 0x%x hidden (VFIO offers %u vectors, "
					 "%u bytes fit in config space)",
					 ptr, nr_msix, PCI_CFG_SPACE_SIZE - ptr);
			}
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

static int vfio_pci_bars_init(struct vfio_pci *dp, const uint8_t *raw)
{
	for (unsigned i = 0; i < PCI_NUM_BARS; i++) {
		struct vfio_pci_bar *b = &dp->bars[i];
		uint32_t v;
		enum pci_bar_type type;
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
		ret = pci_device_set_bar(&dp->pci, i, type, b->region.size,
					 type != PCI_BAR_IO && (v & PCI_BASE_ADDRESS_MEM_PREFETCH));
		if (ret)
			return ret;
		b->present = true;
		vp_debug(dp, "BAR%u: %s%s size 0x%llx, sized from the VFIO region", i,
			 type == PCI_BAR_IO	 ? "I/O"
			 : type == PCI_BAR_MEM64 ? "mem64"
						 : "mem32",
			 type != PCI_BAR_IO && (v & PCI_BASE_ADDRESS_MEM_PREFETCH) ? " prefetch"
										   : "",
			 (unsigned long long)b->region.size);
		if (type == PCI_BAR_MEM64)
			i++; /* the upper half */
	}
	return 0;
}

static void vfio_pci_rom_init(struct vfio_pci *dp)
{
	struct vfio_pci_bar *b = &dp->bars[VFIO_PCI_ROM_BAR];
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
	dp->rom_size = size;
	pci_config_set(&dp->pci, PCI_ROM_ADDRESS, 0, 4);
	memcpy(&dp->pci.wmask[PCI_ROM_ADDRESS],
	       &(uint32_t){ (uint32_t) ~(size - 1) | PCI_ROM_ADDRESS_ENABLE }, 4);
	vp_debug(dp, "ROM BAR exposed: 0x%llx bytes", (unsigned long long)size);
}

static int vfio_pci_config_init(struct vfio_pci *dp)
{
	uint8_t raw[PCI_CFG_SPACE_SIZE] = { 0 };
	uint32_t nr_intx = 0, nr_msi = 0, nr_msix = 0, flags;
	uint16_t vendor, device;
	uint32_t class_rev;
	int ret;

	ret = vfio_device_region_info(dp->vdev, VFIO_PCI_CONFIG_REGION_INDEX, &dp->config);
	if (ret)
		return ret;
	if (dp->config.size < PCI_STD_HEADER_SIZEOF) {
		vp_err(dp, "config region of %llu bytes is too small",
		       (unsigned long long)dp->config.size);
		return -EINVAL;
	}
	/* the extended space (>= 0x100) is hidden: the guest sees a conventional function */
	ret = vfio_device_region_read(dp->vdev, &dp->config, 0, raw,
				      MIN(dp->config.size, (uint64_t)sizeof(raw)));
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

	vfio_device_irq_count(dp->vdev, VFIO_PCI_INTX_IRQ_INDEX, &nr_intx, &flags);
	vfio_device_irq_count(dp->vdev, VFIO_PCI_MSI_IRQ_INDEX, &nr_msi, &flags);
	vfio_device_irq_count(dp->vdev, VFIO_PCI_MSIX_IRQ_INDEX, &nr_msix, &flags);
	dp->intx_present =
	    nr_intx > 0 && raw[PCI_INTERRUPT_PIN] >= 1 && raw[PCI_INTERRUPT_PIN] <= 4;
	if (dp->intx_present)
		dp->pci.cfg[PCI_INTERRUPT_PIN] = raw[PCI_INTERRUPT_PIN];
	else
		vp_debug(dp, "no INTx (pin %u, VFIO offers %u)", raw[PCI_INTERRUPT_PIN], nr_intx);

	ret = vfio_pci_bars_init(dp, raw);
	if (ret)
		return ret;
	ret = vfio_pci_caps_init(dp, raw, nr_msi, nr_msix);
	if (ret)
		return ret;
	vfio_pci_rom_init(dp);
	for (unsigned i = 0; i < PCI_NUM_BARS; i++)
		if (dp->bars[i].present)
			vfio_pci_bar_setup_mmap(dp, i);
	return 0;
}

/* ---- create / destroy ---- */

int vfio_pci_create_device(struct vm *vm, struct pci_bus *bus, struct vfio *vfio,
			   struct vfio_device *vdev, const struct vfio_pci_config *cfg,
			   struct vfio_pci **out)
{
	struct vfio_pci *dp = calloc(1, sizeof(*dp));
	int ret;

	if (!dp) {
		if (vfio)
			vfio_detach_device(vfio, vdev);
		return -ENOMEM;
	}
	dp->vm = vm;
	dp->vfio = vfio;
	dp->vdev = vdev;
	dp->cfg = *cfg;
	dp->intx_fd = dp->intx_resample_fd = -1;
	for (unsigned i = 0; i < VFIO_PCI_MSI_MAX_VECTORS; i++)
		dp->msi_vec[i].fd = -1;
	pthread_mutex_init(&dp->lock, NULL);
	snprintf(dp->name, sizeof(dp->name), "vfio-%s", cfg->bdf);

	/* a device left in any state by its last user starts clean */
	if (vdev->reset_works) {
		ret = vfio_device_reset(vdev);
		if (ret)
			vp_warn(dp, "VFIO_DEVICE_RESET at start failed: %s", strerror(-ret));
		else
			vp_debug(dp, "reset");
	} else {
		vp_info(dp, "the device has no reset method: starting in the state it is in");
	}
	ret = vfio_pci_config_init(dp);
	if (ret)
		goto out_destroy;
	if (dp->intx_present) {
		dp->intx_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		dp->intx_resample_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (dp->intx_fd < 0 || dp->intx_resample_fd < 0) {
			ret = -errno;
			vp_err(dp, "eventfd: %s", strerror(-ret));
			goto out_destroy;
		}
	}
	ret = pci_bus_add_device(bus, &dp->pci, -1);
	if (ret)
		goto out_destroy;
	dp->on_bus = true;
	if (dp->intx_present) {
		dp->intx_gsi = pci_device_intx_gsi(&dp->pci);
		ret = vfio_pci_intx_enable(dp);
		if (ret)
			goto out_destroy;
		vp_info(dp, "INTx pin %c -> gsi %u: irqfd %d with resample/unmask eventfd %d",
			'A' + dp->pci.cfg[PCI_INTERRUPT_PIN] - 1, dp->intx_gsi, dp->intx_fd,
			dp->intx_resample_fd);
	}
	vp_info(dp, "%04x:%04x on ptvm's bus 0 at 00:%02x.0, BARs %s",
		pci_config_get(&dp->pci, 0, 2), pci_config_get(&dp->pci, 2, 2),
		PCI_SLOT(dp->pci.devfn),
		cfg->bar_mmap ? "mmap'd where the kernel allows" : "all trapped (bar-mmap=off)");
	*out = dp;
	return 0;

out_destroy:
	vfio_pci_destroy(dp);
	return ret;
}

int vfio_pci_create(struct vm *vm, struct pci_bus *bus, struct vfio *vfio,
		    const struct vfio_pci_config *cfg, struct vfio_pci **out)
{
	struct vfio_device *vdev;
	int ret;

	ret = vfio_attach_device(vfio, cfg->bdf, cfg->p2p, &vdev);
	if (ret)
		return ret;
	/* on failure it detaches the device itself */
	return vfio_pci_create_device(vm, bus, vfio, vdev, cfg, out);
}

uint64_t vfio_pci_bar_exits(struct vfio_pci *dp, unsigned bar)
{
	return bar <= VFIO_PCI_ROM_BAR ? atomic_load(&dp->bars[bar].exits) : 0;
}

struct pci_device *vfio_pci_device(struct vfio_pci *dp)
{
	return &dp->pci;
}

void vfio_pci_report(struct vfio_pci *dp)
{
	for (unsigned i = 0; i <= VFIO_PCI_ROM_BAR; i++) {
		struct vfio_pci_bar *b = &dp->bars[i];

		if (!b->present)
			continue;
		char what[8];

		if (i == VFIO_PCI_ROM_BAR)
			snprintf(what, sizeof(what), "ROM");
		else
			snprintf(what, sizeof(what), "BAR%u", i);
		vp_info(dp, "%s: size 0x%llx, mmap'd 0x%llx bytes, %llu trapped accesses", what,
			(unsigned long long)b->region.size, (unsigned long long)b->mmap_bytes,
			(unsigned long long)atomic_load(&b->exits));
	}
	pthread_mutex_lock(&dp->lock);
	if (dp->intx_enabled)
		vp_info(dp, "interrupts: INTx on gsi %u", dp->intx_gsi);
	for (unsigned i = 0; dp->msi_enabled && i < dp->msi_nvec; i++)
		if (dp->msi_vec[i].routed)
			vp_info(dp, "interrupts: MSI vector %u on gsi %u", i, dp->msi_vec[i].gsi);
	for (unsigned i = 0; dp->msix_enabled && i < dp->msix_nr; i++)
		if (dp->msix_vec[i].routed)
			vp_info(dp, "interrupts: MSI-X vector %u on gsi %u", i,
				dp->msix_vec[i].gsi);
	pthread_mutex_unlock(&dp->lock);
}

void vfio_pci_destroy(struct vfio_pci *dp)
{
	if (!dp)
		return;
	if (dp->on_bus) {
		vfio_pci_report(dp);
		/* stops decoding: every BAR's regions and traps go */
		pci_bus_remove_device(dp->pci.bus, &dp->pci);
		dp->on_bus = false;
	}
	if (dp->rom_mapped)
		vm_unregister_mmio(dp->vm, &dp->rom_trap);
	pthread_mutex_lock(&dp->lock);
	vfio_pci_msix_disable(dp);
	vfio_pci_msi_disable(dp);
	/* msi/msix disable re-enabled INTx: off for good now */
	vfio_pci_intx_disable(dp);
	pthread_mutex_unlock(&dp->lock);
	if (dp->intx_fd >= 0)
		close(dp->intx_fd);
	if (dp->intx_resample_fd >= 0)
		close(dp->intx_resample_fd);
	/* quiesce the device (no DMA into RAM that is about to go) before its BARs go */
	if (dp->vdev && dp->vdev->reset_works && vfio_device_reset(dp->vdev))
		vp_warn(dp, "VFIO_DEVICE_RESET at exit failed");
	for (unsigned i = 0; i < PCI_NUM_BARS; i++) {
		struct vfio_pci_bar *b = &dp->bars[i];

		for (unsigned j = 0; j < b->nr_pieces; j++)
			if (b->pieces[j].hva)
				munmap(b->pieces[j].hva, b->pieces[j].size);
	}
	free(dp->msix_table);
	free(dp->msix_vec);
	pthread_mutex_destroy(&dp->lock);
	if (dp->vfio)
		vfio_detach_device(dp->vfio, dp->vdev);
	free(dp);
}
