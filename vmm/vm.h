/* SPDX-License-Identifier: MIT */
/* The KVM virtual machine: /dev/kvm, the VM fd, its memory, buses and in-kernel irqchip. */
#ifndef PTVM_VM_H
#define PTVM_VM_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus.h"
#include "machine.h"
#include "memmap.h"

struct vcpu;
struct eventloop;
struct arch_vm;

#define VM_MAX_MEMSLOTS 64

struct vm {
	int kvm_fd;
	int vm_fd;
	int vcpu_mmap_size;
	int max_vcpus;

	struct memmap *mm;
	struct memmap_listener kvm_listener;
	uint64_t used_slots; /* bitmap of KVM memslots in use */
	int nr_kvm_slots;

	/* guest RAM: one memfd, mapped once, placed in banks by arch_ram_layout (x86: below the
	 * PCI hole and above 4 GiB) */
	int ram_fd;
	void *ram;
	uint64_t ram_size;
	uint64_t mmio64_start; /* the 64-bit PCI window, above the last RAM bank */

	struct bus pio;
	struct bus mmio;
	struct eventloop *loop;

	unsigned nr_vcpus;
	struct vcpu **vcpus;

	/* the GSI routing table KVM_SET_GSI_ROUTING replaces as a whole (irqchip pins first,
	 * then MSI routes) and the GSIs in use: private to irqroute.c */
	pthread_mutex_t irq_lock;
	struct vm_irq_routing *routing;

	struct arch_vm *arch; /* the architecture's own per-VM state (vmm/arch.h) */

	atomic_bool exiting;
	int exit_status;
	int stop_fd; /* eventfd: written when a device or vCPU asks the VM to end */
};

/* A KVM capability and its name, for one clear line when the host lacks it. */
struct vm_cap {
	int cap;
	const char *name;
};
#define VM_CAP(c) { c, #c }

/* -ENOTSUP after one pr_err naming the first of caps the host's KVM lacks. */
int vm_require_caps(struct vm *vm, const struct vm_cap *caps, unsigned n);

/* Opens /dev/kvm, checks the API version and every capability ptvm relies on. */
int vm_create(struct vm **out);
void vm_destroy(struct vm *vm);
/*
 * How guest RAM is backed, chosen for fast pinning (VFIO_IOMMU_MAP_DMA faults in every page:
 * huge pages cost a fraction of 4 KiB ones):
 *   hugepages=on (size 2 MiB aligned)             a hugetlb memfd, reserved at once;
 *   shmem THP allowed (shmem_enabled always, within_size, advise, force)
 *                                                  a memfd with MADV_HUGEPAGE;
 *   else, pinned for DMA (or hugepages=on unaligned) and anonymous THP allowed (enabled
 *   always or madvise)                             anonymous memory with MADV_HUGEPAGE: the
 *                                                  balloon discards nothing of pinned RAM, so
 *                                                  it needs no memfd;
 *   else                                           a memfd with 4 KiB pages.
 * The balloon punches holes in the memfd (or MADV_REMOVEs anonymous RAM) either way.
 */
enum vm_ram_kind { VM_RAM_MEMFD, VM_RAM_HUGETLB, VM_RAM_ANON };

struct vm_ram_backing {
	enum vm_ram_kind kind;
	bool thp;      /* MADV_HUGEPAGE on the mapping */
	char why[224]; /* for the log: what and why */
};

/* Where vm_ram_backing_choose reads the THP settings (tests point it elsewhere). */
extern const char *vm_thp_sysfs;
void vm_ram_backing_choose(uint64_t size, bool hugepages, bool dma, struct vm_ram_backing *out);
/* Creates guest RAM as vm_ram_backing_choose says (dma: a passthrough device will pin it)
 * and adds its banks to the map; -errno. */
int vm_memory_create(struct vm *vm, uint64_t size, bool hugepages, bool dma);
/*
 * Makes the GSI routing table and asks KVM what MSI routes need (KVM_CAP_MSI_DEVID: arm64's
 * ITS wants device IDs), once the irqchip is complete: at set-up, so that a route the guest
 * makes later on a vCPU thread asks KVM nothing its seccomp list does not allow. 0 or -errno.
 */
int vm_irq_routing_init(struct vm *vm);
/* Frees the GSI routing table ptvm keeps (vm_destroy). */
void vm_irq_routing_free(struct vm *vm);
/* MSI routes in place now, and the most there ever were. */
void vm_irq_route_stats(struct vm *vm, unsigned *in_use, unsigned *peak);

#endif
