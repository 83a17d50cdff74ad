/* SPDX-License-Identifier: MIT */
/*
 * PCI bus 0 with its host bridge: type-1 config access (0xcf8/0xcfc) and ECAM, a config
 * space per function with write masks (the QEMU model: what the guest may change is a mask,
 * so BAR sizing and read-only fields fall out of it), BAR placement in the PCI windows
 * of vmm/x86/layout.h, and BAR mapping that follows the command register and BAR writes.
 */
#ifndef PTVM_DEVICES_PCI_H
#define PTVM_DEVICES_PCI_H

#include <linux/pci_regs.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "vmm/bus.h"

#define PCI_CFG_SPACE_SIZE 256
#define PCI_CFG_SPACE_EXP_SIZE 4096
#define PCI_MAX_SLOTS 32
#define PCI_NUM_BARS 6

/* from <linux/pci.h>, which is not a UAPI header */
#define PCI_DEVFN(slot, func) ((((slot)&0x1f) << 3) | ((func)&0x07))
#define PCI_SLOT(devfn) (((devfn) >> 3) & 0x1f)
#define PCI_FUNC(devfn) ((devfn)&0x07)
#define PCI_CLASS_BRIDGE_HOST 0x0600

struct vm;
struct pci_bus;
struct pci_device;

enum pci_bar_type {
	PCI_BAR_NONE,
	PCI_BAR_IO,
	PCI_BAR_MEM32,
	PCI_BAR_MEM64,
};

struct pci_bar {
	enum pci_bar_type type;
	bool prefetch;
	uint64_t size;
	uint64_t addr;	     /* where the guest placed it (valid when mapped) */
	bool mapped;	     /* decoded on the bus right now */
	struct bus_dev trap; /* registered on the pio/mmio bus while mapped and trapped */
	struct pci_device *dev;
	unsigned index;
};

struct pci_device_ops {
	/* Accesses to a trapped BAR; offset is from the BAR's start. */
	void (*bar_read)(struct pci_device *dev, unsigned bar, uint64_t offset, void *data,
			 unsigned len);
	void (*bar_write)(struct pci_device *dev, unsigned bar, uint64_t offset, const void *data,
			  unsigned len);
	/*
	 * Optional: the device places the BAR itself (a passthrough BAR mmap'd into a memslot,
	 * with trapped holes). Called with map=true at addr when decoding starts, map=false
	 * when it stops; returns -errno when it cannot. Without it the whole BAR is trapped.
	 */
	int (*bar_map)(struct pci_device *dev, unsigned bar, uint64_t addr, bool map);
	/* Optional: config space hooks, called after (write) / before (read) the generic
	 * emulation with the bus lock held; a device that virtualizes fields uses them. */
	void (*config_read)(struct pci_device *dev, unsigned offset, void *data, unsigned len);
	void (*config_write)(struct pci_device *dev, unsigned offset, const void *data,
			     unsigned len);
};

struct pci_device {
	struct pci_bus *bus;
	const char *name;
	const struct pci_device_ops *ops;
	uint8_t devfn;
	uint8_t cfg[PCI_CFG_SPACE_EXP_SIZE];
	uint8_t wmask[PCI_CFG_SPACE_EXP_SIZE];	 /* bits the guest may write */
	uint8_t w1cmask[PCI_CFG_SPACE_EXP_SIZE]; /* bits the guest clears by writing 1 */
	struct pci_bar bars[PCI_NUM_BARS];
	uint8_t last_cap; /* offset of the last capability added, 0 if none */
	uint16_t cap_end; /* first free byte after the capabilities */
};

/* Sets the identity registers, header type 0, and the writable command/status bits. */
void pci_device_init(struct pci_device *dev, const char *name, uint16_t vendor, uint16_t device,
		     uint32_t class_code, const struct pci_device_ops *ops);
/* Declares BAR `bar` (size: power of two, at least 16 bytes for memory, 4 for I/O). */
int pci_device_set_bar(struct pci_device *dev, unsigned bar, enum pci_bar_type type, uint64_t size,
		       bool prefetch);
/* Appends a capability of `len` bytes; returns its config offset, or -ENOSPC. */
int pci_device_add_capability(struct pci_device *dev, uint8_t id, unsigned len);
/* The default BAR decoding: register (map) or unregister the whole BAR as a trap on the
 * port or MMIO bus, dispatched to ops->bar_read/bar_write. For bar_map implementations
 * that trap some BARs and place others themselves. */
int pci_device_bar_trap(struct pci_device *dev, unsigned bar, uint64_t addr, bool map);
/* Sets INTx pin (1 = INTA) and the interrupt line to the GSI the DSDT's _PRT gives. */
void pci_device_set_intx_pin(struct pci_device *dev, unsigned pin);
unsigned pci_device_intx_gsi(const struct pci_device *dev);
/* The requester ID the device's DMA and MSI writes carry (bus 0: its devfn). */
static inline uint32_t pci_device_requester_id(const struct pci_device *dev)
{
	return dev->devfn;
}

/* Config space accessors on the raw array (little endian), for device models. */
uint32_t pci_config_get(const struct pci_device *dev, unsigned offset, unsigned len);
void pci_config_set(struct pci_device *dev, unsigned offset, uint32_t val, unsigned len);

/* The host bridge as the architecture lays it out (vmm/x86/layout.h on x86). */
struct pci_bus_windows {
	uint64_t mmio32_start, mmio32_size;
	uint64_t mmio64_start, mmio64_size;
	uint64_t io_start, io_size;
	uint64_t ecam_base, ecam_size; /* ECAM window (0 size: none) */
	bool config_ports;	       /* type-1 config access through ports 0xcf8/0xcfc */
	/* wired INTx: slot s, pin p (1 = INTA) -> line base + ((s + p - 1) & (count - 1)) */
	unsigned intx_line_base, intx_line_count;
};

/* The wired line (GSI / SPI) that slot `slot`, pin `pin` (1 = INTA) raises with these windows:
 * what the firmware tables must describe. */
unsigned pci_windows_intx_line(const struct pci_bus_windows *win, unsigned slot, unsigned pin);

/* Type-1 configuration mechanism ports (x86). */
#define PCI_CONFIG_ADDR_PORT 0xcf8
#define PCI_CONFIG_DATA_PORT 0xcfc

/*
 * Creates bus 0 with the host bridge at 00:00.0 and, when vm is non-NULL, registers the
 * 0xcf8/0xcfc ports (win->config_ports) and the ECAM window. Unit tests pass vm=NULL and drive
 * pci_bus_config_read/write directly.
 */
int pci_bus_create(struct vm *vm, const struct pci_bus_windows *win, struct pci_bus **out);
void pci_bus_destroy(struct pci_bus *bus);
/* Plugs dev into the first free slot (or `slot` if >= 0) and places its BARs. */
int pci_bus_add_device(struct pci_bus *bus, struct pci_device *dev, int slot);
void pci_bus_remove_device(struct pci_bus *bus, struct pci_device *dev);
/* Config access by bus/devfn, as the two mechanisms decode it; absent functions read ~0. */
void pci_bus_config_read(struct pci_bus *bus, uint8_t busnr, uint8_t devfn, unsigned offset,
			 void *data, unsigned len);
void pci_bus_config_write(struct pci_bus *bus, uint8_t busnr, uint8_t devfn, unsigned offset,
			  const void *data, unsigned len);
struct pci_device *pci_bus_get_device(struct pci_bus *bus, uint8_t devfn);

#endif
