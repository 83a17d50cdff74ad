// SPDX-License-Identifier: MIT
/*
 * The in-kernel GICv3 and its ITS (Linux Documentation/virt/kvm/devices/arm-vgic-v3.rst and
 * arm-vgic-its.rst): both are KVM devices created before the vCPUs, placed in the guest's
 * address space through KVM_DEV_ARM_VGIC_GRP_ADDR, and initialised once every vCPU exists (the
 * redistributors are per vCPU). With the ITS, KVM requires MSI routes to carry a device ID
 * (KVM_CAP_MSI_DEVID on the VM): vmm/irqroute.c asks KVM and sets it.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "arm64.h"
#include "layout.h"
#include "vmm/ioctl.h"
#include "vmm/log.h"
#include "vmm/vm.h"

static int gic_set_attr(int fd, uint32_t group, uint64_t attr, const void *val, const char *what)
{
	struct kvm_device_attr a = {
		.group = group,
		.attr = attr,
		.addr = (uint64_t)(uintptr_t)val,
	};
	int ret = ptvm_ioctl_quiet(fd, KVM_SET_DEVICE_ATTR, &a);

	if (ret)
		pr_err("kvm: GICv3 %s: KVM_SET_DEVICE_ATTR failed: %s", what, strerror(-ret));
	return ret;
}

static int gic_create_device(struct vm *vm, uint32_t type, const char *what, int *fd)
{
	struct kvm_create_device cd = { .type = type };
	int ret = ptvm_ioctl_quiet(vm->vm_fd, KVM_CREATE_DEVICE, &cd);

	if (ret) {
		pr_err("kvm: cannot create the in-kernel %s (KVM_CREATE_DEVICE: %s)%s", what,
		       strerror(-ret),
		       ret == -ENODEV ? ": this host's KVM has no GICv3 emulation" : "");
		return ret;
	}
	*fd = (int)cd.fd;
	return 0;
}

int arm64_gic_create(struct vm *vm)
{
	struct arch_vm *a = vm->arch;
	uint64_t dist = GIC_DIST_GPA, redist = GIC_REDIST_GPA, its = GIC_ITS_GPA;
	uint32_t nr_irqs = 32 + GIC_NR_SPIS;
	int ret;

	ret = gic_create_device(vm, KVM_DEV_TYPE_ARM_VGIC_V3, "GICv3", &a->gic_fd);
	if (ret)
		return ret;
	ret = gic_set_attr(a->gic_fd, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_DIST, &dist,
			   "distributor address");
	if (!ret)
		ret = gic_set_attr(a->gic_fd, KVM_DEV_ARM_VGIC_GRP_ADDR,
				   KVM_VGIC_V3_ADDR_TYPE_REDIST, &redist, "redistributor address");
	if (!ret)
		ret = gic_set_attr(a->gic_fd, KVM_DEV_ARM_VGIC_GRP_NR_IRQS, 0, &nr_irqs,
				   "number of interrupts");
	if (ret)
		return ret;
	ret = gic_create_device(vm, KVM_DEV_TYPE_ARM_VGIC_ITS, "GICv3 ITS", &a->its_fd);
	if (ret)
		return ret;
	ret = gic_set_attr(a->its_fd, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_ITS_ADDR_TYPE, &its,
			   "ITS address");
	if (ret)
		return ret;
	pr_debug("kvm: in-kernel GICv3 (distributor 0x%llx, redistributors 0x%llx, %u SPIs) and "
		 "ITS 0x%llx created",
		 (unsigned long long)dist, (unsigned long long)redist, GIC_NR_SPIS,
		 (unsigned long long)its);
	return 0;
}

int arm64_gic_finalize(struct vm *vm)
{
	struct arch_vm *a = vm->arch;
	int ret;

	ret = gic_set_attr(a->gic_fd, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_CTRL_INIT, NULL,
			   "init");
	if (!ret)
		ret = gic_set_attr(a->its_fd, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_CTRL_INIT,
				   NULL, "ITS init");
	if (!ret)
		pr_debug("kvm: GICv3 and ITS initialised for %u vCPUs", vm->nr_vcpus);
	return ret;
}

void arm64_gic_destroy(struct vm *vm)
{
	struct arch_vm *a = vm->arch;

	if (a->its_fd >= 0)
		close(a->its_fd);
	if (a->gic_fd >= 0)
		close(a->gic_fd);
	a->its_fd = a->gic_fd = -1;
}
