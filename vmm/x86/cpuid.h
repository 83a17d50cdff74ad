/* SPDX-License-Identifier: MIT */
/* The CPUID policy each vCPU gets: KVM's supported set, with ptvm's topology on top. */
#ifndef PTVM_CPUID_H
#define PTVM_CPUID_H

#include <linux/kvm.h>

/* Fetches KVM_GET_SUPPORTED_CPUID into a malloc'd kvm_cpuid2; -errno. */
int cpuid_get_supported(int kvm_fd, struct kvm_cpuid2 **out);
/*
 * Rewrites the entries in place for vCPU `index` of `nr_vcpus`: APIC IDs in leaves 1, 0xb
 * and 0x1f, the core count in leaves 1, 4 and 0x80000008, the hypervisor bit. One socket,
 * one thread per core.
 */
void cpuid_apply_topology(struct kvm_cpuid2 *cpuid, unsigned index, unsigned nr_vcpus);

#endif
