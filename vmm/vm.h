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

	/* guest RAM: one memfd, mapped once; low part at 0, the rest above 4 GiB */
	int ram_fd;
	void *ram;
	uint64_t ram_size;
	uint64_t low_ram_end;
	uint64_t high_ram_size;
	uint64_t mmio64_start;

	struct bus pio;
	struct bus mmio;
	struct eventloop *loop;

	unsigned nr_vcpus;
	struct vcpu **vcpus;

	/* the GSI routing table KVM_SET_GSI_ROUTING replaces as a whole: irqchip pins first,
	 * then MSI routes */
	pthread_mutex_t irq_lock;
	struct kvm_irq_routing *routing;
	unsigned next_msi_gsi;

	atomic_bool exiting;
	int exit_status;
	int stop_fd; /* eventfd: written when a device or vCPU asks the VM to end */
};

/* Opens /dev/kvm, checks the API version and every capability ptvm relies on. */
int vm_create(struct vm **out);
void vm_destroy(struct vm *vm);
/* Creates guest RAM (memfd, optionally hugetlb) and adds it to the map; -errno. */
int vm_memory_create(struct vm *vm, uint64_t size, bool hugepages);
/* Creates the in-kernel PIC/IOAPIC/LAPIC and PIT. */
int vm_irqchip_create(struct vm *vm);

#endif
