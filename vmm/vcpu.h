/* SPDX-License-Identifier: MIT */
/* vCPUs: one thread each, running KVM_RUN and dispatching exits to the buses. */
#ifndef PTVM_VCPU_H
#define PTVM_VCPU_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>

struct vm;
struct boot_x86_entry;

struct vcpu {
	struct vm *vm;
	unsigned index;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	bool started;
	unsigned long exits;
};

/* Creates vCPU `index` with ptvm's CPUID, MSRs and LAPIC LINT setup. */
int vcpu_create(struct vm *vm, unsigned index, const struct kvm_cpuid2 *cpuid, struct vcpu **out);
void vcpu_destroy(struct vcpu *vcpu);
/* Sets the boot processor's registers to the kernel's entry state. */
int vcpu_set_boot_state(struct vcpu *vcpu, const struct boot_x86_entry *entry);
/* Starts the vCPU thread; vcpu_kick makes KVM_RUN return so the thread sees the stop. */
int vcpu_start(struct vcpu *vcpu);
void vcpu_kick(struct vcpu *vcpu);
void vcpu_join(struct vcpu *vcpu);
/* Logs the register file at debug level (after a guest failure). */
void vcpu_dump_regs(struct vcpu *vcpu);

#endif
