/* SPDX-License-Identifier: MIT */
/*
 * MSI-X for a PCI function, emulated device or passthrough alike: the capability in config
 * space, the vector table and the PBA (trapped, in a BAR the device chooses), per-vector and
 * function masking. The table is sized per device (1 to 2048 vectors), the PBA is a bitmap of
 * the same size.
 *
 * Each vector is delivered by KVM (devices/msi.h): while MSI-X is enabled every vector has an
 * eventfd; a vector gets its MSI route when the guest first unmasks it and its irqfd is bound
 * exactly while it is unmasked. An emulated device raises vector v with msix_notify(): pending
 * in the PBA while masked, delivered on unmask (the PCI rules). A passthrough device hands the
 * eventfds to VFIO when MSI-X is enabled (ops->enable) and the kernel signals them itself;
 * what it signalled while a vector was masked shows in the PBA and is delivered on unmask.
 */
#ifndef PTVM_DEVICES_MSIX_H
#define PTVM_DEVICES_MSIX_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/msi.h"
#include "vmm/log.h"

struct pci_device;
struct msix;
struct vm;

#define MSIX_ENTRY_SIZE 16
#define MSIX_MAX_VECTORS 2048 /* the table size field has 11 bits */

struct msix_ops {
	/*
	 * Optional: MSI-X was enabled (on, every vector's eventfd open: msix_vector_fd) or is
	 * being disabled (the eventfds still open). An enable the owner refuses (-errno) leaves
	 * MSI-X off. Called with the MSI-X lock held, from msix_config_write or msix_reset.
	 */
	int (*enable)(struct msix *m, bool on);
};

struct msix_entry {
	uint32_t addr_lo, addr_hi, data, ctrl;
};

struct msix_config {
	struct vm *vm;
	struct pci_device *dev;
	const char *name; /* log prefix: "virtio-blk", "vfio-pci 0000:00:03.0" */
	unsigned cap;	  /* config offset of an existing capability to emulate; 0 = add one */
	unsigned nr_vectors;
	unsigned bar;
	uint32_t table_off, pba_off; /* in that BAR, 8-byte aligned */
	const struct msix_ops *ops;  /* may be NULL */
};

struct msix {
	struct vm *vm;
	struct pci_device *pdev;
	const struct msix_ops *ops;
	const char *name;
	unsigned nr_vectors;
	unsigned cap; /* config offset of the capability */
	unsigned bar;
	uint32_t table_off, pba_off;
	pthread_mutex_t lock;
	bool enabled, masked_all; /* what the guest's message control word says, as acted on */
	struct msix_entry *table; /* nr_vectors entries */
	uint64_t *pending;	  /* the PBA: nr_vectors bits */
	struct msi_vector *vec;	  /* nr_vectors vectors, open while enabled */
	struct log_ratelimit rl;
};

/* Sets up the capability (cfg->cap or a new one), the table with every vector masked, an
 * empty PBA; -EINVAL for a vector count or table/PBA placement that cannot be, -ENOMEM. */
int msix_init(struct msix *m, const struct msix_config *cfg);
/* Disables MSI-X if the guest left it on (ops->enable(false)) and frees. Accepts a msix that
 * msix_init never set up or that failed. */
void msix_exit(struct msix *m);
/* A function reset: MSI-X off in config space, every vector masked, nothing pending. */
void msix_reset(struct msix *m);

/* Bytes of the table and of the PBA in their BAR. */
uint64_t msix_table_size(const struct msix *m);
uint64_t msix_pba_size(const struct msix *m);
/*
 * A trapped access at offset off of BAR bar: true when it touches the table or the PBA
 * (then it was handled: bad sizes and alignments read as ones and are ignored, the PBA is
 * read-only), false when it is the device's own.
 */
bool msix_bar_read(struct msix *m, unsigned bar, uint64_t off, void *data, unsigned len);
bool msix_bar_write(struct msix *m, unsigned bar, uint64_t off, const void *data, unsigned len);
/* The same with offsets relative to the table / PBA start. */
void msix_table_read(struct msix *m, uint64_t off, void *data, unsigned len);
void msix_table_write(struct msix *m, uint64_t off, const void *data, unsigned len);
void msix_pba_read(struct msix *m, uint64_t off, void *data, unsigned len);
/* Call from the device's config_write hook: enable / function-mask changes take effect. */
void msix_config_write(struct msix *m, unsigned offset, unsigned len);
bool msix_enabled(struct msix *m);
/* Raises vector v (emulated devices); ignored when v is out of range or MSI-X is off. */
void msix_notify(struct msix *m, unsigned v);
/*
 * Vector v's eventfd while MSI-X is enabled (for ops->enable, which hands it to a writer of
 * its own: VFIO), else -1. Lock held.
 */
int msix_vector_fd(struct msix *m, unsigned v);
/* The eventfds the table holds (enabled, or kept from an earlier enable for the next one). */
unsigned msix_eventfds(struct msix *m);
/* Vector v's message; false when v is out of range. */
bool msix_vector_message(struct msix *m, unsigned v, uint64_t *addr, uint32_t *data);
/* Vector v's GSI when it has a KVM route; false otherwise. */
bool msix_vector_gsi(struct msix *m, unsigned v, unsigned *gsi);

#endif
