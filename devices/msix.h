/* SPDX-License-Identifier: MIT */
/*
 * MSI-X for emulated PCI functions: the capability in config space, the vector table and
 * the PBA (trapped, in a BAR the device chooses), and per-vector masking. A device raises
 * vector v with msix_notify(): delivered now, or held pending while masked and delivered
 * on unmask — the PCI rules. How a vector is delivered (an irqfd bound to a KVM MSI route)
 * is the owner's business, through the ops.
 */
#ifndef PTVM_DEVICES_MSIX_H
#define PTVM_DEVICES_MSIX_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct pci_device;
struct msix;

#define MSIX_ENTRY_SIZE 16
#define MSIX_MAX_VECTORS 64

struct msix_ops {
	/* Vector v's address/data changed (the owner updates its KVM route). */
	void (*vector_update)(struct msix *m, unsigned v, uint64_t addr, uint32_t data);
	/* Deliver vector v now (it is enabled and unmasked). */
	void (*vector_fire)(struct msix *m, unsigned v);
};

struct msix_entry {
	uint32_t addr_lo, addr_hi, data, ctrl;
};

struct msix {
	struct pci_device *pdev;
	const struct msix_ops *ops;
	unsigned nr_vectors;
	unsigned cap; /* config offset of the capability */
	pthread_mutex_t lock;
	struct msix_entry table[MSIX_MAX_VECTORS];
	uint64_t pending; /* the PBA */
};

/* Adds the capability to dev, table at table_off and PBA at pba_off of BAR `bar`. */
int msix_init(struct msix *m, struct pci_device *dev, unsigned nr_vectors, unsigned bar,
	      uint32_t table_off, uint32_t pba_off, const struct msix_ops *ops);
void msix_exit(struct msix *m);
/* Table / PBA accesses, offsets relative to the table / PBA start; hostile sizes ignored. */
void msix_table_read(struct msix *m, uint64_t off, void *data, unsigned len);
void msix_table_write(struct msix *m, uint64_t off, const void *data, unsigned len);
void msix_pba_read(struct msix *m, uint64_t off, void *data, unsigned len);
/* Call from the device's config_write hook: handles enable / function-mask changes. */
void msix_config_write(struct msix *m, unsigned offset, unsigned len);
bool msix_enabled(struct msix *m);
/* Raises vector v (ignored when v is out of range). */
void msix_notify(struct msix *m, unsigned v);
/* Reads vector v's message; false when v is out of range. */
bool msix_vector_message(struct msix *m, unsigned v, uint64_t *addr, uint32_t *data);

#endif
