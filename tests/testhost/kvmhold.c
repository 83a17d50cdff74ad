/* SPDX-License-Identifier: MIT */
/*
 * kvmhold: keeps one idle KVM VM open in the test host so that KVM's static keys stop flipping
 * with every ptvm run (tests/testhost/init starts it before the suites).
 *
 * Why: creating and destroying a VM and its vCPUs toggles static keys in the test host's kernel
 * (preempt notifiers, patched into __schedule; the local APIC's apic_sw_disabled and
 * apic_hw_disabled, patched into kvm.ko), and each toggle rewrites live kernel text with
 * text_poke_bp (int3 first, then the new bytes). Under QEMU's multi-threaded TCG a vCPU can
 * translate that code while the other vCPU rewrites it and keep a stale translation holding the
 * int3: the kernel's int3 handler sees no int3 in memory any more and restarts the instruction,
 * forever, with interrupts off in __schedule, and the test host hangs (README, "Hangs").
 * While this VM exists, with one vCPU whose local APIC is hardware- and software-disabled
 * (never run), every one of those keys stays enabled: ptvm's VMs only move their counts above
 * zero, and no kernel text is rewritten during the suites.
 *
 * usage: kvmhold    (prints one line when it holds, then sleeps until killed)
 * A standalone tool with its own few ioctls, static, like kvmprobe.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define MSR_IA32_APICBASE 0x1b
#define APICBASE_BSP 0x100
#define APICBASE_DEFAULT 0xfee00000ull

static int fail(const char *what)
{
	fprintf(stderr, "kvmhold: %s: %s\n", what, strerror(errno));
	return 1;
}

int main(void)
{
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e;
	} msrs;
	int kvm, vm, vcpu;

	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		return fail("open /dev/kvm");
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		return fail("KVM_CREATE_VM");
	/* the in-kernel local APIC, as ptvm's VMs have: its keys are the ones to hold */
	if (ioctl(vm, KVM_CREATE_IRQCHIP, 0))
		return fail("KVM_CREATE_IRQCHIP");
	/* a new vCPU's APIC is software-disabled (apic_sw_disabled held) until a guest enables it */
	vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0)
		return fail("KVM_CREATE_VCPU");
	/* and hardware-disabled: APIC base without its enable bit holds apic_hw_disabled */
	memset(&msrs, 0, sizeof(msrs));
	msrs.hdr.nmsrs = 1;
	msrs.e.index = MSR_IA32_APICBASE;
	msrs.e.data = APICBASE_DEFAULT | APICBASE_BSP;
	if (ioctl(vcpu, KVM_SET_MSRS, &msrs) != 1)
		return fail("KVM_SET_MSRS IA32_APICBASE (disabled)");
	printf("kvmhold: holding an idle VM (1 vCPU, APIC disabled): KVM's static keys stay put\n");
	fflush(stdout);
	for (;;)
		pause();
}
