/* SPDX-License-Identifier: MIT */
/*
 * The devices a user adds on the command line, as data: one table entry per option (--iommu,
 * --disk, --net, --console, --rng, --balloon, --device), each with its parser (pure: no host
 * access, so the CLI checks every value before anything is opened), its constructor and destructor.
 * The CLI builds its option list from the table; start-up creates, and exit destroys, every
 * device through it. Both architectures share it: the devices sit above the architecture line.
 */
#ifndef PTVM_DEVICE_TABLE_H
#define PTVM_DEVICE_TABLE_H

#include <stdbool.h>

#include "devices/vfio_pci.h"
#include "devices/virtio_balloon.h"
#include "devices/virtio_blk.h"
#include "devices/virtio_console.h"
#include "devices/virtio_net.h"
#include "devices/virtio_rng.h"

struct vm;
struct pci_bus;
struct vfio;
struct virtio_device;
struct virtio_pci;
struct vm_config;
struct viommu_endpoint;
struct platform_iommu;

/* Any device's parsed option value. */
union device_options {
	struct virtio_blk_options blk;
	struct virtio_net_options net;
	struct virtio_console_options console;
	struct virtio_rng_config rng;
	struct virtio_balloon_options balloon;
	struct vfio_pci_config vfio;
};

/* One created device. */
struct device_instance {
	const struct device_type *type;
	struct virtio_device *vdev; /* virtio devices */
	struct virtio_pci *vp;	    /* ... and their virtio-pci function */
	struct vfio_pci *vfio;	    /* passthrough devices */
	bool behind_iommu;	    /* set before create: it is to sit behind the vIOMMU */
	struct viommu_endpoint *ep; /* ... as this endpoint, once created */
};

#define DEVICE_SET_MAX 64

/* The devices of one VM. */
struct device_set {
	struct vm *vm;
	struct pci_bus *pci;
	struct vfio *vfio;	       /* the VFIO containers, once a passthrough device exists */
	struct virtio_device *console; /* --console virtio: stdin goes here instead of the UART */
	struct virtio_device *balloon; /* told when guest RAM becomes pinned for DMA */
	struct virtio_device *viommu;  /* --iommu virtio: the devices behind it are its endpoints */
	int prefault_threads;	       /* --memory prefault-threads (-1: auto) */
	struct device_instance devs[DEVICE_SET_MAX];
	unsigned nr_devs;
};

struct device_type {
	const char *name;    /* the option: --NAME */
	const char *usage;   /* its value, for --help */
	const char *help;    /* one line, for --help */
	unsigned max;	     /* how many one VM may have */
	bool optional_value; /* the value may be left out (--rng) */
	bool passthrough;    /* created after every emulated device (the balloon must know) */
	/* It does DMA: its value takes iommu=on|off, and with --iommu virtio it sits behind the
	 * vIOMMU unless iommu=off. */
	bool dma;
	/* Parses the option's value; -EINVAL after one pr_err naming the option and the bad part.
	 */
	int (*parse)(const char *arg, union device_options *o);
	/* Creates the device and plugs it into ds->pci; -errno after one pr_err. */
	int (*create)(struct device_set *ds, const union device_options *o,
		      struct device_instance *di);
	/* Unplugs and frees what create built. */
	void (*destroy)(struct device_set *ds, struct device_instance *di);
};

extern const struct device_type device_types[];
extern const unsigned nr_device_types;

/* The entry for --NAME, or NULL. */
const struct device_type *device_type_find(const char *name);
/*
 * Parses an option's value with type->parse, after taking out iommu=on|off for a DMA device:
 * *iommu = 1 (on), 0 (off) or -1 (not given). -EINVAL after one pr_err.
 */
int device_type_parse(const struct device_type *type, const char *arg, union device_options *o,
		      int *iommu);

/*
 * Creates every device cfg names on vm's PCI bus: the emulated ones first, in table order and
 * within a type in command-line order, then the passthrough devices. On failure what was built
 * is destroyed and -errno returned (one pr_err already said why).
 */
int device_set_create(struct device_set *ds, struct vm *vm, struct pci_bus *pci,
		      const struct vm_config *cfg) __attribute__((warn_unused_result));
/* Destroys every device, last created first. Accepts a half-built set. */
void device_set_destroy(struct device_set *ds);
/* The vIOMMU's requester ID and its endpoints', for the firmware tables. */
/*
 * The eventfds the devices' MSI-X tables hold: opened at a guest's first MSI-X enable and kept
 * for the next ones (part of --report's open fd count, not a leak).
 */
unsigned device_set_msix_eventfds(const struct device_set *ds);
void device_set_iommu_topology(const struct device_set *ds, struct platform_iommu *out);

#endif
