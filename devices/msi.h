/* SPDX-License-Identifier: MIT */
/*
 * One message-signalled interrupt vector as KVM delivers it: an eventfd bound by an irqfd to
 * a KVM MSI route. Written once for every kind of vector (MSI-X of virtio-pci and of a
 * passthrough device, MSI of a passthrough device).
 *
 * The route is created the first time the vector is unmasked (a vector the guest never
 * unmasks costs no GSI) and follows the guest's message; the irqfd is bound only while the
 * vector is unmasked. Whoever raises the vector writes the eventfd (an emulated device
 * through msi_vector_fire, VFIO from the kernel): while masked, the count waits in the
 * eventfd (pending) and is delivered, once, when the vector is unmasked.
 */
#ifndef PTVM_DEVICES_MSI_H
#define PTVM_DEVICES_MSI_H

#include <stdbool.h>
#include <stdint.h>

struct vm;

struct msi_vector {
	int fd;	     /* eventfd, -1 while closed */
	bool routed; /* gsi holds a KVM MSI route for (addr, data) */
	bool bound;  /* fd is bound to gsi by an irqfd */
	unsigned gsi;
	uint64_t addr;
	uint32_t data;
	uint32_t devid; /* the device's PCI requester ID, which arm64's ITS translates by */
	/*
	 * The eventfd was handed to a writer outside ptvm's lock (VFIO): a count may wait in
	 * it. ptvm itself writes only a bound eventfd, whose count KVM's irqfd consumes.
	 */
	bool shared;
};

/* A closed vector (fd -1, no route): what msi_vector_close leaves. */
void msi_vector_init(struct msi_vector *v);
/*
 * Opens the eventfd for the device whose requester ID is devid, or keeps the one a release
 * left open; -errno.
 */
int msi_vector_open(struct msi_vector *v, uint32_t devid);
/*
 * Unbinds and deletes the route (its GSI is free again) but keeps the eventfd, emptied, for
 * the next open: a guest that toggles a 2048-vector MSI-X table costs no eventfd()/close()
 * pair per vector and toggle (and no read() unless the eventfd was shared).
 */
void msi_vector_release(struct vm *vm, struct msi_vector *v);
/* Releases the vector and closes its eventfd. */
void msi_vector_close(struct vm *vm, struct msi_vector *v);
/*
 * Brings the vector in line with the guest's view: a route for (addr, data) once unmasked, the
 * irqfd bound exactly while unmasked, an interrupt that waited while masked delivered on
 * unmask. -errno when KVM refused a route or an irqfd (the vector then stays undelivered
 * until the next call); nothing is logged here.
 */
int msi_vector_program(struct vm *vm, struct msi_vector *v, uint64_t addr, uint32_t data,
		       bool masked);
/* Raises the vector (emulated devices): KVM delivers it now if bound, else it waits. */
int msi_vector_fire(struct msi_vector *v);
/* Masked with an interrupt waiting in the eventfd (poll; nothing is consumed). */
bool msi_vector_pending(const struct msi_vector *v);

#endif
