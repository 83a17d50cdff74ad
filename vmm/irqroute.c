// SPDX-License-Identifier: MIT
/*
 * KVM's GSI routing table, irqfds and ioeventfds. KVM_SET_GSI_ROUTING replaces the whole
 * table, so ptvm keeps it: the default irqchip routes (PIC pins 0-15 except the cascade,
 * IOAPIC pins 0-23) that creating the irqchip installed, plus one MSI route per GSI from 24 up.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ioctl.h"
#include "log.h"
#include "vm.h"

#define IOAPIC_PINS 24
#define PIC_PINS 16
#define MAX_ROUTES 1024

static int vm_routing_init_locked(struct vm *vm)
{
	struct kvm_irq_routing *r;
	unsigned n = 0;

	r = calloc(1, sizeof(*r) + MAX_ROUTES * sizeof(r->entries[0]));
	if (!r)
		return -ENOMEM;
	for (unsigned pin = 0; pin < IOAPIC_PINS; pin++) {
		if (pin < PIC_PINS && pin != 2) {
			r->entries[n].gsi = pin;
			r->entries[n].type = KVM_IRQ_ROUTING_IRQCHIP;
			r->entries[n].u.irqchip.irqchip =
			    pin < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE;
			r->entries[n].u.irqchip.pin = pin % 8;
			n++;
		}
		r->entries[n].gsi = pin;
		r->entries[n].type = KVM_IRQ_ROUTING_IRQCHIP;
		r->entries[n].u.irqchip.irqchip = KVM_IRQCHIP_IOAPIC;
		r->entries[n].u.irqchip.pin = pin;
		n++;
	}
	r->nr = n;
	vm->routing = r;
	vm->next_msi_gsi = IOAPIC_PINS;
	return 0;
}

static int vm_routing_commit_locked(struct vm *vm)
{
	return ptvm_ioctl(vm->vm_fd, KVM_SET_GSI_ROUTING, vm->routing);
}

static struct kvm_irq_routing_entry *vm_route_find_locked(struct vm *vm, unsigned gsi)
{
	for (unsigned i = 0; i < vm->routing->nr; i++)
		if (vm->routing->entries[i].gsi == gsi &&
		    vm->routing->entries[i].type == KVM_IRQ_ROUTING_MSI)
			return &vm->routing->entries[i];
	return NULL;
}

int vm_msi_route_add(struct vm *vm, uint64_t addr, uint32_t data, unsigned *gsi)
{
	struct kvm_irq_routing_entry *e;
	int ret;

	pthread_mutex_lock(&vm->irq_lock);
	if (!vm->routing) {
		ret = vm_routing_init_locked(vm);
		if (ret)
			goto out_unlock;
	}
	if (vm->routing->nr == MAX_ROUTES) {
		pr_err("kvm: GSI routing table full (%u routes)", MAX_ROUTES);
		ret = -ENOSPC;
		goto out_unlock;
	}
	e = &vm->routing->entries[vm->routing->nr++];
	memset(e, 0, sizeof(*e));
	e->gsi = vm->next_msi_gsi++;
	e->type = KVM_IRQ_ROUTING_MSI;
	e->u.msi.address_lo = (uint32_t)addr;
	e->u.msi.address_hi = (uint32_t)(addr >> 32);
	e->u.msi.data = data;
	ret = vm_routing_commit_locked(vm);
	if (ret) {
		vm->routing->nr--;
		vm->next_msi_gsi--;
		goto out_unlock;
	}
	*gsi = e->gsi;
	pr_debug("kvm: MSI route gsi %u -> addr 0x%llx data 0x%x", e->gsi, (unsigned long long)addr,
		 data);
out_unlock:
	pthread_mutex_unlock(&vm->irq_lock);
	return ret;
}

int vm_msi_route_update(struct vm *vm, unsigned gsi, uint64_t addr, uint32_t data)
{
	struct kvm_irq_routing_entry *e;
	int ret = -ENOENT;

	pthread_mutex_lock(&vm->irq_lock);
	e = vm->routing ? vm_route_find_locked(vm, gsi) : NULL;
	if (e) {
		if (e->u.msi.address_lo == (uint32_t)addr &&
		    e->u.msi.address_hi == (uint32_t)(addr >> 32) && e->u.msi.data == data) {
			ret = 0;
		} else {
			e->u.msi.address_lo = (uint32_t)addr;
			e->u.msi.address_hi = (uint32_t)(addr >> 32);
			e->u.msi.data = data;
			ret = vm_routing_commit_locked(vm);
			pr_debug("kvm: MSI route gsi %u -> addr 0x%llx data 0x%x", gsi,
				 (unsigned long long)addr, data);
		}
	}
	pthread_mutex_unlock(&vm->irq_lock);
	return ret;
}

void vm_msi_route_del(struct vm *vm, unsigned gsi)
{
	struct kvm_irq_routing_entry *e;

	pthread_mutex_lock(&vm->irq_lock);
	e = vm->routing ? vm_route_find_locked(vm, gsi) : NULL;
	if (e) {
		*e = vm->routing->entries[--vm->routing->nr];
		vm_routing_commit_locked(vm);
		pr_debug("kvm: MSI route gsi %u removed", gsi);
	}
	pthread_mutex_unlock(&vm->irq_lock);
}

int vm_irqfd_assign(struct vm *vm, int fd, unsigned gsi, int resample_fd)
{
	struct kvm_irqfd irqfd = {.fd = (uint32_t)fd, .gsi = gsi};
	int ret;

	if (resample_fd >= 0) {
		irqfd.flags = KVM_IRQFD_FLAG_RESAMPLE;
		irqfd.resamplefd = (uint32_t)resample_fd;
	}
	ret = ptvm_ioctl(vm->vm_fd, KVM_IRQFD, &irqfd);
	if (!ret)
		pr_debug("kvm: irqfd %d -> gsi %u%s", fd, gsi,
			 resample_fd >= 0 ? " (resample)" : "");
	return ret;
}

void vm_irqfd_deassign(struct vm *vm, int fd, unsigned gsi)
{
	struct kvm_irqfd irqfd = {.fd = (uint32_t)fd, .gsi = gsi, .flags = KVM_IRQFD_FLAG_DEASSIGN};

	if (!ptvm_ioctl(vm->vm_fd, KVM_IRQFD, &irqfd))
		pr_debug("kvm: irqfd %d off gsi %u", fd, gsi);
}

static int vm_ioeventfd(struct vm *vm, uint64_t addr, unsigned len, bool pio, int fd, bool deassign)
{
	struct kvm_ioeventfd io = {
	    .addr = addr,
	    .len = len,
	    .fd = fd,
	    .flags =
		(pio ? KVM_IOEVENTFD_FLAG_PIO : 0) | (deassign ? KVM_IOEVENTFD_FLAG_DEASSIGN : 0),
	};

	return ptvm_ioctl(vm->vm_fd, KVM_IOEVENTFD, &io);
}

int vm_ioeventfd_assign(struct vm *vm, uint64_t addr, unsigned len, bool pio, int fd)
{
	int ret = vm_ioeventfd(vm, addr, len, pio, fd, false);

	if (!ret)
		pr_debug("kvm: ioeventfd %d on %s 0x%llx len %u", fd, pio ? "port" : "mmio",
			 (unsigned long long)addr, len);
	return ret;
}

void vm_ioeventfd_deassign(struct vm *vm, uint64_t addr, unsigned len, bool pio, int fd)
{
	vm_ioeventfd(vm, addr, len, pio, fd, true);
}
