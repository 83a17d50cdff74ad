/* SPDX-License-Identifier: MIT */
/* What the arm64 files share among themselves behind vmm/arch.h. */
#ifndef PTVM_ARM64_ARM64_H
#define PTVM_ARM64_ARM64_H

#include <linux/kvm.h>
#include <stdint.h>

struct vm;
struct vcpu;

struct arch_vm {
	int gic_fd;			/* the in-kernel GICv3 (KVM_DEV_TYPE_ARM_VGIC_V3) */
	int its_fd;			/* its ITS, for MSIs (KVM_DEV_TYPE_ARM_VGIC_ITS) */
	struct kvm_vcpu_init vcpu_init; /* KVM_ARM_PREFERRED_TARGET: every vCPU's target */
};

/* The vGICv3 and its ITS at the addresses of layout.h (before the vCPUs exist). */
int arm64_gic_create(struct vm *vm);
/* KVM_DEV_ARM_VGIC_CTRL_INIT of the GIC, then the ITS (after every vCPU exists). */
int arm64_gic_finalize(struct vm *vm);
void arm64_gic_destroy(struct vm *vm);

/* MPIDR_EL1 of a vCPU as KVM set it (the device tree's cpu reg); -errno. */
int arm64_vcpu_mpidr(struct vcpu *vcpu, uint64_t *mpidr);
/* The boot vCPU's entry state: pc, x0 = the device tree, x1-x3 = 0, EL1h, DAIF masked. */
int arm64_vcpu_set_boot_state(struct vcpu *vcpu, uint64_t pc, uint64_t fdt_gpa);

#endif
