// SPDX-License-Identifier: MIT
#include "cpuid.h"

#include <errno.h>
#include <stdlib.h>

#include "vmm/ioctl.h"
#include "vmm/log.h"

#define CPUID_1_ECX_HYPERVISOR (1U << 31)
#define CPUID_1_EDX_HTT (1U << 28)

int cpuid_get_supported(int kvm_fd, struct kvm_cpuid2 **out)
{
	for (unsigned nent = 128; nent <= 4096; nent *= 2) {
		struct kvm_cpuid2 *c =
		    calloc(1, sizeof(*c) + nent * sizeof(struct kvm_cpuid_entry2));
		int ret;

		if (!c)
			return -ENOMEM;
		c->nent = nent;
		ret = ptvm_ioctl_quiet(kvm_fd, KVM_GET_SUPPORTED_CPUID, c);
		if (ret == 0) {
			*out = c;
			return 0;
		}
		free(c);
		if (ret != -E2BIG) {
			pr_err("KVM_GET_SUPPORTED_CPUID failed: %d", ret);
			return ret;
		}
	}
	return -E2BIG;
}

/* bits needed to hold n-1 distinct IDs (x2APIC topology shift) */
static unsigned cpuid_id_bits(unsigned n)
{
	unsigned bits = 0;

	while ((1U << bits) < n)
		bits++;
	return bits;
}

void cpuid_apply_topology(struct kvm_cpuid2 *cpuid, unsigned index, unsigned nr_vcpus)
{
	unsigned core_bits = cpuid_id_bits(nr_vcpus);

	for (unsigned i = 0; i < cpuid->nent; i++) {
		struct kvm_cpuid_entry2 *e = &cpuid->entries[i];

		switch (e->function) {
		case 1:
			e->ebx &= 0x0000ffff;
			e->ebx |= index << 24;			/* initial APIC ID */
			e->ebx |= (1U << core_bits ?: 1) << 16; /* logical processors */
			e->ecx |= CPUID_1_ECX_HYPERVISOR;
			if (nr_vcpus > 1)
				e->edx |= CPUID_1_EDX_HTT;
			else
				e->edx &= ~CPUID_1_EDX_HTT;
			break;
		case 4:
			/* cores per package - 1; caches shared by one core each, except L3 */
			e->eax &= 0x3ff;
			e->eax |= ((1U << core_bits) - 1) << 26;
			if (((e->eax >> 5) & 7) == 3)
				e->eax |= ((1U << core_bits) - 1) << 14;
			break;
		case 0xb:
		case 0x1f:
			/* level 0: SMT (1 thread), level 1: core, then invalid */
			e->edx = index;
			if (e->index == 0) {
				e->eax = 0;
				e->ebx = 1;
				e->ecx = (1U << 8) | 0;
			} else if (e->index == 1) {
				e->eax = core_bits;
				e->ebx = nr_vcpus;
				e->ecx = (2U << 8) | 1;
			} else {
				e->eax = e->ebx = 0;
				e->ecx = e->index;
			}
			break;
		case 0x80000001:
			/* CmpLegacy would say HTT means cores; keep what KVM reports */
			break;
		case 0x80000008:
			e->ecx &= ~0xf0ffU;
			e->ecx |= (core_bits << 12) | (nr_vcpus - 1);
			break;
		default:
			break;
		}
	}
}
