// SPDX-License-Identifier: MIT
#include "vcpu.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "arch.h"
#include "ioctl.h"
#include "log.h"
#include "sandbox.h"
#include "util.h"
#include "vm.h"

static __thread struct vcpu *vcpu_self;

/*
 * The stop protocol between the main thread (vcpu_kick) and a vCPU thread (vcpu_thread):
 *
 *   main:  exiting = true; immediate_exit = 1; pthread_kill(SIGUSR1)
 *   vCPU:  while (!exiting) { KVM_RUN; on EINTR: immediate_exit = 0 }
 *
 * KVM_RUN returns EINTR at once when immediate_exit is set on entry, or when the signal
 * arrives while it runs the guest; the handler sets the flag again for a signal taken just
 * before entry. Every access to the flag is a sequentially consistent atomic (the flag lives
 * in the shared kvm_run page, written by two threads and by a signal handler): the vCPU's
 * clear is ordered before its next load of `exiting`, so either that load sees the stop, or
 * the main thread's store of 1 comes after the clear and the next KVM_RUN returns at once. A
 * plain clear could be moved past the load (by the compiler, or by the CPU's store buffer),
 * and a kick taken in between would be lost: the vCPU would run the guest on and ptvm's exit
 * would wait for it forever.
 */
static void vcpu_immediate_exit_set(struct vcpu *vcpu, bool on)
{
	__atomic_store_n(&vcpu->run->immediate_exit, (uint8_t)on, __ATOMIC_SEQ_CST);
}

static void vcpu_kick_handler(int sig)
{
	(void)sig;
	if (vcpu_self)
		vcpu_immediate_exit_set(vcpu_self, true);
}

int vcpu_create(struct vm *vm, unsigned index, struct vcpu **out)
{
	struct vcpu *vcpu;
	int ret;

	vcpu = calloc(1, sizeof(*vcpu));
	if (!vcpu)
		return -ENOMEM;
	vcpu->vm = vm;
	vcpu->index = index;
	vcpu->fd = ptvm_ioctl_val(vm->vm_fd, KVM_CREATE_VCPU, index);
	if (vcpu->fd < 0) {
		ret = vcpu->fd;
		goto out_free;
	}
	vcpu->run =
	    mmap(NULL, (size_t)vm->vcpu_mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu->fd, 0);
	if (vcpu->run == MAP_FAILED) {
		ret = -errno;
		vcpu->run = NULL;
		pr_err("vcpu%u: mmap kvm_run: %s", index, strerror(-ret));
		goto out_free;
	}
	ret = arch_vcpu_init(vcpu);
	if (ret) {
		pr_err("vcpu%u: %s set-up failed: %s", index, arch_name, strerror(-ret));
		goto out_free;
	}
	pr_debug("vcpu%u: created (fd %d)", index, vcpu->fd);
	*out = vcpu;
	return 0;

out_free:
	vcpu_destroy(vcpu);
	return ret;
}

void vcpu_destroy(struct vcpu *vcpu)
{
	if (!vcpu)
		return;
	if (vcpu->run)
		munmap(vcpu->run, (size_t)vcpu->vm->vcpu_mmap_size);
	if (vcpu->fd >= 0)
		close(vcpu->fd);
	free(vcpu);
}

static void vcpu_handle_mmio(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;

	if (!bus_access(&vcpu->vm->mmio, run->mmio.phys_addr, run->mmio.data, run->mmio.len,
			run->mmio.is_write))
		pr_debug("vcpu%u: unhandled mmio %s 0x%llx len %u", vcpu->index,
			 run->mmio.is_write ? "write" : "read",
			 (unsigned long long)run->mmio.phys_addr, run->mmio.len);
}

static void vcpu_report_internal_error(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	char detail[128];

	arch_vcpu_internal_error_detail(vcpu, detail, sizeof(detail));
	if (!detail[0]) {
		size_t n = (size_t)snprintf(detail, sizeof(detail), "data:");

		for (unsigned i = 0; i < run->internal.ndata && i < 4 && n < sizeof(detail); i++)
			n += (size_t)snprintf(detail + n, sizeof(detail) - n, " %llx",
					      (unsigned long long)run->internal.data[i]);
		if (!run->internal.ndata)
			snprintf(detail + n, sizeof(detail) - n, " none");
	}
	pr_err("vcpu%u: KVM internal error, suberror %u at pc 0x%llx, %s", vcpu->index,
	       run->internal.suberror, (unsigned long long)arch_vcpu_pc(vcpu), detail);
}

/* Returns true to keep running. */
static bool vcpu_handle_exit(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	struct vm *vm = vcpu->vm;
	char why[96];

	switch (arch_vcpu_handle_exit(vcpu)) {
	case ARCH_EXIT_CONTINUE:
		return true;
	case ARCH_EXIT_STOP:
		return false;
	case ARCH_EXIT_UNHANDLED:
		break;
	}
	switch (run->exit_reason) {
	case KVM_EXIT_MMIO:
		vcpu_handle_mmio(vcpu);
		return true;
	case KVM_EXIT_INTR:
		return true;
	case KVM_EXIT_INTERNAL_ERROR:
		vcpu_report_internal_error(vcpu);
		arch_vcpu_dump_regs(vcpu);
		vm_request_exit(vm, PTVM_EXIT_INTERNAL_ERROR, "KVM internal error");
		return false;
	case KVM_EXIT_SYSTEM_EVENT:
		if (run->system_event.type == KVM_SYSTEM_EVENT_RESET) {
			vm_request_exit(vm, PTVM_EXIT_REBOOT, "guest reset");
		} else {
			vm_request_exit(vm, PTVM_EXIT_POWEROFF, "guest system event shutdown");
		}
		return false;
	case KVM_EXIT_FAIL_ENTRY:
		pr_err("vcpu%u: VM entry failed, hardware reason 0x%llx", vcpu->index,
		       (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		arch_vcpu_dump_regs(vcpu);
		vm_request_exit(vm, PTVM_EXIT_UNHANDLED, "entry failure");
		return false;
	default:
		snprintf(why, sizeof(why), "unhandled exit reason %u", run->exit_reason);
		pr_err("vcpu%u: %s at pc 0x%llx", vcpu->index, why,
		       (unsigned long long)arch_vcpu_pc(vcpu));
		arch_vcpu_dump_regs(vcpu);
		vm_request_exit(vm, PTVM_EXIT_UNHANDLED, why);
		return false;
	}
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *vcpu = arg;
	struct vm *vm = vcpu->vm;
	char name[16];
	sigset_t set;

	vcpu_self = vcpu;
	snprintf(name, sizeof(name), "vcpu%u", vcpu->index);
	pthread_setname_np(pthread_self(), name);
	/* the kick signal is the only one a vCPU thread takes */
	sigemptyset(&set);
	sigaddset(&set, VCPU_KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);

	while (!atomic_load(&vm->exiting)) {
		int ret = ioctl(vcpu->fd, KVM_RUN, 0);

		if (ret < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				vcpu_immediate_exit_set(vcpu, false);
				continue;
			}
			ret = -errno;
			pr_err("vcpu%u: KVM_RUN failed: %s", vcpu->index, strerror(-ret));
			vm_request_exit(vm, PTVM_EXIT_ERROR, "KVM_RUN failed");
			break;
		}
		vcpu->exits++;
		if (!vcpu_handle_exit(vcpu))
			break;
	}
	return NULL;
}

int vcpu_start(struct vcpu *vcpu)
{
	static bool handler_installed;
	int ret;

	if (!handler_installed) {
		struct sigaction sa = { .sa_handler = vcpu_kick_handler };

		sigemptyset(&sa.sa_mask);
		sigaction(VCPU_KICK_SIGNAL, &sa, NULL);
		handler_installed = true;
	}
	ret = -sandbox_thread_create(SANDBOX_THREAD_VCPU, &vcpu->thread, vcpu_thread, vcpu);
	if (ret) {
		pr_err("vcpu%u: cannot start thread: %s", vcpu->index, strerror(-ret));
		return ret;
	}
	vcpu->started = true;
	return 0;
}

void vcpu_kick(struct vcpu *vcpu)
{
	if (!vcpu->started)
		return;
	/* the caller has set vm->exiting (see the protocol above) */
	vcpu_immediate_exit_set(vcpu, true);
	pthread_kill(vcpu->thread, VCPU_KICK_SIGNAL);
}

void vcpu_join(struct vcpu *vcpu)
{
	if (!vcpu->started)
		return;
	pthread_join(vcpu->thread, NULL);
	vcpu->started = false;
	pr_debug("vcpu%u: stopped after %lu exits", vcpu->index, vcpu->exits);
}
