/* SPDX-License-Identifier: MIT */
/* vCPUs: one thread each, running KVM_RUN and dispatching exits to the buses. */
#ifndef PTVM_VCPU_H
#define PTVM_VCPU_H

#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>

/* vcpu_kick's signal: a vCPU thread out of KVM_RUN or a blocking write (no SA_RESTART) */
#define VCPU_KICK_SIGNAL SIGUSR1

struct vm;

struct vcpu {
	struct vm *vm;
	unsigned index;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	bool started;
	unsigned long exits;
};

/* Creates vCPU `index` and runs the architecture's set-up on it (arch_vcpu_init). */
int vcpu_create(struct vm *vm, unsigned index, struct vcpu **out);
void vcpu_destroy(struct vcpu *vcpu);
/* Starts the vCPU thread; vcpu_kick makes KVM_RUN return so the thread sees the stop. */
int vcpu_start(struct vcpu *vcpu);
void vcpu_kick(struct vcpu *vcpu);
void vcpu_join(struct vcpu *vcpu);

#endif
