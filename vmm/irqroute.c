// SPDX-License-Identifier: MIT
/*
 * KVM's GSI routing table, irqfds and ioeventfds. KVM_SET_GSI_ROUTING replaces the whole
 * table, so ptvm keeps it: the default irqchip routes that creating the irqchip installed (the
 * architecture's: x86 PIC and IOAPIC pins, arm64 SPIs), plus one MSI route per GSI above them;
 * a deleted route's GSI is reused. Where KVM wants MSI routes to name their device (arm64's
 * ITS: KVM_CAP_MSI_DEVID on the VM), each carries the device's PCI requester ID.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "arch.h"
#include "ioctl.h"
#include "log.h"
#include "util.h"
#include "vm.h"

/* KVM_MAX_IRQ_ROUTES (include/linux/kvm_host.h): both the most entries a table may have and
 * the first GSI number KVM refuses */
#define VM_IRQ_ROUTES_MAX 4096

/*
 * KVM_SET_GSI_ROUTING replaces the whole table, so ptvm keeps it, with the GSIs its MSI
 * routes use: the lowest free GSI above the irqchip's pins is handed out, and a deleted route
 * gives its GSI back (a guest toggling MSI-X must not run KVM out of GSIs).
 */
struct vm_irq_routing {
	uint64_t msi_gsi_used[VM_IRQ_ROUTES_MAX / 64];
	unsigned nr_msi, peak_msi;
	unsigned first_msi_gsi;	       /* above the architecture's irqchip routes */
	bool msi_devid;		       /* KVM wants a device ID with each MSI route (arm64's ITS) */
	struct kvm_irq_routing *table; /* in the same allocation, after this struct */
};

static int vm_routing_init_locked(struct vm *vm)
{
	struct vm_irq_routing *rt;
	struct kvm_irq_routing *r;

	rt = calloc(1, sizeof(*rt) + sizeof(*r) + VM_IRQ_ROUTES_MAX * sizeof(r->entries[0]));
	if (!rt)
		return -ENOMEM;
	r = rt->table = (struct kvm_irq_routing *)(rt + 1);
	r->nr = arch_irq_routes_default(r->entries, VM_IRQ_ROUTES_MAX, &rt->first_msi_gsi);
	rt->msi_devid = ptvm_ioctl_val_quiet(vm->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MSI_DEVID) > 0;
	vm->routing = rt;
	return 0;
}

int vm_irq_routing_init(struct vm *vm)
{
	int ret = 0;

	pthread_mutex_lock(&vm->irq_lock);
	if (!vm->routing)
		ret = vm_routing_init_locked(vm);
	pthread_mutex_unlock(&vm->irq_lock);
	return ret;
}

static int vm_routing_commit_locked(struct vm *vm)
{
	return ptvm_ioctl(vm->vm_fd, KVM_SET_GSI_ROUTING, vm->routing->table);
}

/* The lowest GSI no route uses, above the irqchip's pins; -ENOSPC when KVM has none left. */
static int vm_gsi_alloc_locked(struct vm_irq_routing *rt)
{
	for (unsigned w = rt->first_msi_gsi / 64; w < ARRAY_SIZE(rt->msi_gsi_used); w++) {
		uint64_t used = rt->msi_gsi_used[w];

		if (w == rt->first_msi_gsi / 64)
			used |= (1ULL << (rt->first_msi_gsi % 64)) - 1;
		if (used != UINT64_MAX) {
			unsigned gsi = w * 64 + (unsigned)__builtin_ctzll(~used);

			rt->msi_gsi_used[w] |= 1ULL << (gsi % 64);
			return (int)gsi;
		}
	}
	return -ENOSPC;
}

static void vm_gsi_free_locked(struct vm_irq_routing *rt, unsigned gsi)
{
	rt->msi_gsi_used[gsi / 64] &= ~(1ULL << (gsi % 64));
}

static struct kvm_irq_routing_entry *vm_route_find_locked(struct vm *vm, unsigned gsi)
{
	struct kvm_irq_routing *r = vm->routing->table;

	for (unsigned i = 0; i < r->nr; i++)
		if (r->entries[i].gsi == gsi && r->entries[i].type == KVM_IRQ_ROUTING_MSI)
			return &r->entries[i];
	return NULL;
}

int vm_msi_route_add(struct vm *vm, uint64_t addr, uint32_t data, uint32_t devid, unsigned *gsi)
{
	struct kvm_irq_routing_entry *e;
	struct vm_irq_routing *rt;
	int ret;

	pthread_mutex_lock(&vm->irq_lock);
	if (!vm->routing) {
		ret = vm_routing_init_locked(vm);
		if (ret)
			goto out_unlock;
	}
	rt = vm->routing;
	ret = rt->table->nr < VM_IRQ_ROUTES_MAX ? vm_gsi_alloc_locked(rt) : -ENOSPC;
	if (ret < 0) {
		pr_err_ratelimited("kvm: GSI routing table full (%u MSI routes, KVM allows %u "
				   "routes)",
				   rt->nr_msi, VM_IRQ_ROUTES_MAX);
		goto out_unlock;
	}
	e = &rt->table->entries[rt->table->nr++];
	memset(e, 0, sizeof(*e));
	e->gsi = (uint32_t)ret;
	e->type = KVM_IRQ_ROUTING_MSI;
	e->u.msi.address_lo = (uint32_t)addr;
	e->u.msi.address_hi = (uint32_t)(addr >> 32);
	e->u.msi.data = data;
	if (rt->msi_devid) {
		e->flags = KVM_MSI_VALID_DEVID;
		e->u.msi.devid = devid;
	}
	ret = vm_routing_commit_locked(vm);
	if (ret) {
		rt->table->nr--;
		vm_gsi_free_locked(rt, e->gsi);
		goto out_unlock;
	}
	*gsi = e->gsi;
	rt->nr_msi++;
	rt->peak_msi = MAX(rt->peak_msi, rt->nr_msi);
	pr_debug("kvm: MSI route gsi %u -> addr 0x%llx data 0x%x%s devid 0x%x", e->gsi,
		 (unsigned long long)addr, data, rt->msi_devid ? "" : " (no)", devid);
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
			pr_debug("kvm: MSI route gsi %u changed to addr 0x%llx data 0x%x", gsi,
				 (unsigned long long)addr, data);
		}
	}
	pthread_mutex_unlock(&vm->irq_lock);
	return ret;
}

void vm_msi_route_del(struct vm *vm, unsigned gsi)
{
	struct kvm_irq_routing_entry *e;
	struct vm_irq_routing *rt;

	pthread_mutex_lock(&vm->irq_lock);
	rt = vm->routing;
	e = rt ? vm_route_find_locked(vm, gsi) : NULL;
	if (e) {
		*e = rt->table->entries[--rt->table->nr];
		vm_gsi_free_locked(rt, gsi);
		rt->nr_msi--;
		/* KVM stops using the GSI only once it has the new table; a failure is logged */
		vm_routing_commit_locked(vm);
		pr_debug("kvm: MSI route gsi %u removed", gsi);
	}
	pthread_mutex_unlock(&vm->irq_lock);
}

void vm_irq_route_stats(struct vm *vm, unsigned *in_use, unsigned *peak)
{
	pthread_mutex_lock(&vm->irq_lock);
	*in_use = vm->routing ? vm->routing->nr_msi : 0;
	*peak = vm->routing ? vm->routing->peak_msi : 0;
	pthread_mutex_unlock(&vm->irq_lock);
}

void vm_irq_routing_free(struct vm *vm)
{
	free(vm->routing);
	vm->routing = NULL;
}

int vm_irqfd_assign(struct vm *vm, int fd, unsigned gsi, int resample_fd)
{
	struct kvm_irqfd irqfd = { .fd = (uint32_t)fd, .gsi = gsi };
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
	struct kvm_irqfd irqfd = { .fd = (uint32_t)fd,
				   .gsi = gsi,
				   .flags = KVM_IRQFD_FLAG_DEASSIGN };

	if (!ptvm_ioctl(vm->vm_fd, KVM_IRQFD, &irqfd))
		pr_debug("kvm: irqfd %d off gsi %u", fd, gsi);
}

static int vm_ioeventfd(struct vm *vm, uint64_t addr, unsigned len, bool pio, int fd, bool deassign)
{
	struct kvm_ioeventfd io = {
		.addr = addr,
		.len = len,
		.fd = fd,
		.flags = (pio ? KVM_IOEVENTFD_FLAG_PIO : 0) |
			 (deassign ? KVM_IOEVENTFD_FLAG_DEASSIGN : 0),
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
