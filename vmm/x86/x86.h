/* SPDX-License-Identifier: MIT */
/* What the x86 files share among themselves behind vmm/arch.h. */
#ifndef PTVM_X86_X86_H
#define PTVM_X86_X86_H

#include <linux/kvm.h>

struct vcpu;
struct boot_x86_entry;

struct arch_vm {
	struct kvm_cpuid2 *cpuid; /* KVM_GET_SUPPORTED_CPUID, the template of every vCPU's */
};

/* Puts the boot processor in the kernel's entry state (registers and segments). */
int x86_vcpu_set_boot_state(struct vcpu *vcpu, const struct boot_x86_entry *entry);

#endif
