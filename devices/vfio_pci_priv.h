/* SPDX-License-Identifier: MIT */
/*
 * Inside the passthrough device model, shared by its files and nobody else:
 *
 *   vfio_pci.c         the object: parse, create, destroy, report, the pci_device_ops table
 *   vfio_pci_config.c  config space virtualization: the snapshot, identity, the capability
 *                      chain, the command register (and the bus-master hold), hooks
 *   vfio_pci_bars.c    BARs and the ROM: sizes, mmap'd pieces, placement, trapped accesses
 *   vfio_pci_irq.c     interrupts: INTx, the emulated MSI capability, MSI-X through msix.c
 *
 * Each concern keeps its state in its own sub-structure of struct vfio_pci.
 */
#ifndef PTVM_DEVICES_VFIO_PCI_PRIV_H
#define PTVM_DEVICES_VFIO_PCI_PRIV_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/msi.h"
#include "devices/msix.h"
#include "devices/pci.h"
#include "devices/vfio_pci.h"
#include "iommu/vfio_device.h"
#include "vmm/log.h"
#include "vmm/util.h"

#define VFIO_PCI_ROM_BAR PCI_NUM_BARS /* index of the ROM in bars.bar[] and the counters */
#define VFIO_PCI_MAX_PIECES (VFIO_MAX_SPARSE * 3)
#define VFIO_PCI_MSI_MAX_VECTORS 32

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
	bool mapped; /* decoded by the guest right now, at addr */
	uint64_t addr;
	atomic_uint_fast64_t exits;
};

/* BARs and the expansion ROM (vfio_pci_bars.c). */
struct vfio_pci_bars {
	struct vfio_pci_bar bar[PCI_NUM_BARS + 1]; /* [VFIO_PCI_ROM_BAR]: the ROM */
	uint64_t rom_size;			   /* 0: ROM hidden */
	bool rom_mapped;
	struct bus_dev rom_trap;
};

/* Config space virtualization (vfio_pci_config.c). */
struct vfio_pci_config_space {
	struct vfio_region region; /* the device's config region */
	/* the bus-master hold: enables that waited for the container's DMA mappings */
	unsigned bm_waits;
	double bm_wait_seconds;
};

struct vfio_pci_intx {
	bool present, enabled;
	int fd, resample_fd;
	unsigned gsi;
};

/* The device's MSI capability, emulated: the guest's writes program KVM routes. */
struct vfio_pci_msi {
	unsigned cap, len, max;
	bool is64, maskable, enabled;
	unsigned nvec;
	struct msi_vector vec[VFIO_PCI_MSI_MAX_VECTORS];
};

/* Interrupts (vfio_pci_irq.c). lock covers intx, msi and msix_on; it is taken under the bus
 * lock and before the MSI-X lock, never the reverse. */
struct vfio_pci_irqs {
	pthread_mutex_t lock;
	uint32_t nr_msi, nr_msix; /* vectors VFIO offers */
	struct vfio_pci_intx intx;
	struct vfio_pci_msi msi;
	struct msix msix; /* set up when the device has MSI-X (msix.table != NULL) */
	bool msix_on;	  /* VFIO has the MSI-X eventfds */
};

/*
 * The device's open (vfio_pci.c). ptvm run opens a passthrough device in a thread of its own
 * while the guest boots (iommu/vfio.h: vfio_start_device_opens); until then the model is built
 * from sysfs. Every guest access waits in vfio_pci_wait_open until the open is done.
 */
enum vfio_pci_open_state {
	VFIO_PCI_OPEN_READY,   /* open and set up: accesses go through */
	VFIO_PCI_OPEN_PENDING, /* the open thread is not done */
	VFIO_PCI_OPEN_DONE,    /* opened and checked; the first access finishes the set-up */
	VFIO_PCI_OPEN_FAILED,  /* the VM is ending: accesses are dropped */
};

struct vfio_pci_open {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	enum vfio_pci_open_state state;
	atomic_bool ready;   /* state is READY: the fast path takes no lock */
	bool deferred;	     /* created before its open */
	double wait_seconds; /* how long the guest's first access waited */
};

struct vfio_pci {
	struct pci_device pci;
	struct vm *vm;
	struct vfio *vfio;
	struct vfio_device *vdev;
	struct vfio_pci_config cfg;
	char name[32];	   /* the PCI function's name: "vfio-0000:00:03.0" */
	char log_name[48]; /* the log prefix: "vfio-pci 0000:00:03.0" */
	bool on_bus;
	struct log_ratelimit rl; /* messages the guest can trigger */

	struct vfio_pci_open open;
	struct vfio_pci_config_space config;
	struct vfio_pci_bars bars;
	struct vfio_pci_irqs irq;
};

#define vp_err(dp, fmt, ...) pr_err("%s: " fmt, (dp)->log_name, ##__VA_ARGS__)
#define vp_warn(dp, fmt, ...) pr_warn("%s: " fmt, (dp)->log_name, ##__VA_ARGS__)
#define vp_info(dp, fmt, ...) pr_info("%s: " fmt, (dp)->log_name, ##__VA_ARGS__)
#define vp_debug(dp, fmt, ...) pr_debug("%s: " fmt, (dp)->log_name, ##__VA_ARGS__)
/* What the guest can trigger (BAR moves, MSI/MSI-X enable, routes): the device's own budget. */
#define vp_rl(dp, lvl, fmt, ...)                                                                   \
	log_printf_ratelimited(&(dp)->rl, lvl, "%s: " fmt, (dp)->log_name, ##__VA_ARGS__)
#define vp_err_rl(dp, ...) vp_rl(dp, LOG_ERR, __VA_ARGS__)
#define vp_warn_rl(dp, ...) vp_rl(dp, LOG_WARN, __VA_ARGS__)
#define vp_info_rl(dp, ...) vp_rl(dp, LOG_INFO, __VA_ARGS__)

static inline struct vfio_pci *to_vfio_pci(struct pci_device *pdev)
{
	return container_of(pdev, struct vfio_pci, pci);
}

/* ---- vfio_pci.c ---- */

extern const struct pci_device_ops vfio_pci_ops;
/* Every guest access starts here: waits (a vCPU) until the device is open and set up. False
 * when it never will be (the open failed, or the VM is ending): then the access is dropped. */
bool vfio_pci_wait_open(struct vfio_pci *dp);

/* ---- vfio_pci_config.c ---- */

/* Reads the device's config space and builds the guest's: identity, BARs, capabilities, ROM. */
int vfio_pci_config_init(struct vfio_pci *dp);
/* After a deferred open (the open thread): what VFIO says now replaces what sysfs predicted;
 * -errno (logged) where they disagree on what the guest may already rely on. */
int vfio_pci_config_attach(struct vfio_pci *dp);
/* The pci_device_ops config hooks. */
void vfio_pci_config_read(struct pci_device *pdev, unsigned offset, void *data, unsigned len);
void vfio_pci_config_write(struct pci_device *pdev, unsigned offset, const void *data,
			   unsigned len);

/* ---- vfio_pci_bars.c ---- */

/* Sizes each BAR from its VFIO region, declares it on the function (raw: the device's config). */
int vfio_pci_bars_init(struct vfio_pci *dp, const uint8_t *raw);
/* After a deferred open: each BAR's and the ROM's VFIO region, which must size them as sysfs
 * did (-EIO, logged, otherwise). */
int vfio_pci_bars_attach(struct vfio_pci *dp);
/* The ROM BAR: exposed with rom=on when the device has one. */
void vfio_pci_rom_init(struct vfio_pci *dp);
/* Works out and mmaps the DEVICE_RAM pieces of every BAR (after MSI-X is known). */
void vfio_pci_bars_mmap(struct vfio_pci *dp);
/* The ROM decoding follows the ROM BAR and the command register. */
void vfio_pci_rom_update(struct vfio_pci *dp);
/* Unmaps every piece and the ROM trap (the function is off the bus). */
void vfio_pci_bars_exit(struct vfio_pci *dp);
void vfio_pci_bar_read(struct pci_device *pdev, unsigned bar, uint64_t off, void *data,
		       unsigned len);
void vfio_pci_bar_write(struct pci_device *pdev, unsigned bar, uint64_t off, const void *data,
			unsigned len);
int vfio_pci_bar_map(struct pci_device *pdev, unsigned bar, uint64_t addr, bool map);
void vfio_pci_bars_report(struct vfio_pci *dp);

/* ---- vfio_pci_irq.c ---- */

/* Nothing on, nothing open: first thing at create, so that exit works from any point. */
void vfio_pci_irqs_init(struct vfio_pci *dp);
/* What VFIO offers, and INTx's pin; before the capabilities are walked. */
void vfio_pci_irqs_probe(struct vfio_pci *dp, uint8_t intx_pin);
/* After a deferred open: VFIO's vector counts against the emulated capabilities' (-EIO, logged,
 * when it offers fewer); INTx dropped, pin hidden, when VFIO has none for it. */
int vfio_pci_irqs_attach(struct vfio_pci *dp);
/* The MSI capability at cap of the device's config (raw) becomes emulated; false when it
 * cannot be (then it is hidden). */
bool vfio_pci_msi_init(struct vfio_pci *dp, unsigned cap, const uint8_t *raw);
/* The same for MSI-X: 1 emulated, 0 hidden, -errno when the device is unusable. */
int vfio_pci_msix_init(struct vfio_pci *dp, unsigned cap, const uint8_t *raw);
/* After the function is on the bus: INTx's eventfds and its GSI. */
int vfio_pci_intx_open(struct vfio_pci *dp);
/* Once the device is open: those eventfds bound (KVM irqfd, VFIO trigger and unmask). */
int vfio_pci_intx_start(struct vfio_pci *dp);
/* A guest write to config space that may touch MSI or MSI-X (bus lock held). */
void vfio_pci_irqs_config_write(struct vfio_pci *dp, unsigned offset, unsigned len);
/* Everything off (VFIO told), every eventfd closed, every route gone. */
void vfio_pci_irqs_exit(struct vfio_pci *dp);
void vfio_pci_irqs_report(struct vfio_pci *dp);

#endif
