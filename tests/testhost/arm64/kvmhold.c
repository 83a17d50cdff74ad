/* SPDX-License-Identifier: MIT */
/*
 * kvmhold (arm64): the arm64 counterpart of ../kvmhold.c. It keeps one idle VM with one vCPU
 * open for the whole run, so that what creating and destroying a VM toggles in the test host's
 * kernel (the preempt-notifier static key, patched into __schedule, as on x86) stays enabled
 * and no kernel text is rewritten under the suites. arm64 patches text under stop_machine, which
 * the x86 hang's mechanism (a vCPU keeping a stale translation of half-patched code) does not
 * reach the same way; the held VM costs nothing and keeps both machines alike.
 *
 * usage: kvmhold    (prints one line when it holds, then sleeps until killed)
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static int fail(const char *what)
{
	fprintf(stderr, "kvmhold: %s: %s\n", what, strerror(errno));
	return 1;
}

int main(void)
{
	struct kvm_vcpu_init init;
	int kvm, vm, vcpu;

	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		return fail("open /dev/kvm");
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		return fail("KVM_CREATE_VM");
	vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0)
		return fail("KVM_CREATE_VCPU");
	if (ioctl(vm, KVM_ARM_PREFERRED_TARGET, &init) < 0)
		return fail("KVM_ARM_PREFERRED_TARGET");
	if (ioctl(vcpu, KVM_ARM_VCPU_INIT, &init) < 0)
		return fail("KVM_ARM_VCPU_INIT");
	printf("kvmhold: holding an idle VM (1 vCPU, never run)\n");
	fflush(stdout);
	for (;;)
		pause();
}
