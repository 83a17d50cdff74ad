// SPDX-License-Identifier: MIT
/*
 * x86 vCPUs: CPUID with ptvm's topology, the MSRs no firmware set, the LAPIC's LINT pins as a
 * BIOS leaves them, the boot processor's entry state, and the exits only x86 has (port I/O,
 * SHUTDOWN).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boot.h"
#include "cpuid.h"
#include "vmm/arch.h"
#include "vmm/ioctl.h"
#include "vmm/log.h"
#include "vmm/vcpu.h"
#include "vmm/vm.h"
#include "x86.h"

/* register reads after set-up (vmm/sandbox.c's lists) */
const struct sandbox_ioctl arch_sandbox_ioctls[] = {
	SANDBOX_IOCTL(KVM_GET_REGS, SANDBOX_KIND(MAIN) | SANDBOX_KIND(VCPU),
		      "rip of a failed vCPU; register dump at debug level"),
	SANDBOX_IOCTL(KVM_GET_SREGS, SANDBOX_KIND(MAIN) | SANDBOX_KIND(VCPU),
		      "register dump at debug level; the reset vector's cs base"),
};
const unsigned arch_nr_sandbox_ioctls = ARRAY_SIZE(arch_sandbox_ioctls);

#define MSR_IA32_TSC 0x10
#define MSR_IA32_SYSENTER_CS 0x174
#define MSR_IA32_SYSENTER_ESP 0x175
#define MSR_IA32_SYSENTER_EIP 0x176
#define MSR_IA32_MISC_ENABLE 0x1a0
#define MSR_IA32_MISC_ENABLE_FAST_STRING (1ULL << 0)
#define MSR_MTRR_DEF_TYPE 0x2ff
#define MTRR_DEF_TYPE_ENABLE (1ULL << 11)
#define MTRR_TYPE_WRBACK 6
#define MSR_STAR 0xc0000081
#define MSR_LSTAR 0xc0000082
#define MSR_CSTAR 0xc0000083
#define MSR_SYSCALL_MASK 0xc0000084
#define MSR_KERNEL_GS_BASE 0xc0000102

#define APIC_LVT0 0x350
#define APIC_LVT1 0x360
#define APIC_MODE_NMI 0x4
#define APIC_MODE_EXTINT 0x7

static int x86_vcpu_setup_msrs(struct vcpu *vcpu)
{
	static const struct {
		uint32_t index;
		uint64_t data;
	} msrs[] = {
		{ MSR_IA32_SYSENTER_CS, 0 },
		{ MSR_IA32_SYSENTER_ESP, 0 },
		{ MSR_IA32_SYSENTER_EIP, 0 },
		{ MSR_STAR, 0 },
		{ MSR_CSTAR, 0 },
		{ MSR_KERNEL_GS_BASE, 0 },
		{ MSR_SYSCALL_MASK, 0 },
		{ MSR_LSTAR, 0 },
		{ MSR_IA32_TSC, 0 },
		{ MSR_IA32_MISC_ENABLE, MSR_IA32_MISC_ENABLE_FAST_STRING },
		/* no firmware programs the MTRRs: default all of memory to write-back */
		{ MSR_MTRR_DEF_TYPE, MTRR_DEF_TYPE_ENABLE | MTRR_TYPE_WRBACK },
	};
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e[ARRAY_SIZE(msrs)];
	} buf;
	int ret;

	memset(&buf, 0, sizeof(buf));
	buf.hdr.nmsrs = ARRAY_SIZE(msrs);
	for (unsigned i = 0; i < ARRAY_SIZE(msrs); i++) {
		buf.e[i].index = msrs[i].index;
		buf.e[i].data = msrs[i].data;
	}
	ret = ptvm_ioctl(vcpu->fd, KVM_SET_MSRS, &buf.hdr);
	if (ret < 0)
		return ret;
	if ((unsigned)ret != ARRAY_SIZE(msrs)) {
		pr_err("vcpu%u: KVM_SET_MSRS set %d of %zu MSRs, refused 0x%x", vcpu->index, ret,
		       ARRAY_SIZE(msrs), msrs[ret].index);
		return -EINVAL;
	}
	return 0;
}

static void lapic_set_lvt_mode(struct kvm_lapic_state *lapic, unsigned reg, uint32_t mode)
{
	uint32_t v;

	memcpy(&v, &lapic->regs[reg], 4);
	v = (v & ~0x700U) | (mode << 8);
	memcpy(&lapic->regs[reg], &v, 4);
}

/* As a BIOS would: LINT0 delivers the PIC's ExtINT, LINT1 delivers NMI. */
static int x86_vcpu_setup_lapic(struct vcpu *vcpu)
{
	struct kvm_lapic_state lapic;
	int ret;

	ret = ptvm_ioctl(vcpu->fd, KVM_GET_LAPIC, &lapic);
	if (ret < 0)
		return ret;
	lapic_set_lvt_mode(&lapic, APIC_LVT0, APIC_MODE_EXTINT);
	lapic_set_lvt_mode(&lapic, APIC_LVT1, APIC_MODE_NMI);
	return ptvm_ioctl(vcpu->fd, KVM_SET_LAPIC, &lapic);
}

static int x86_vcpu_setup_cpuid(struct vcpu *vcpu)
{
	const struct kvm_cpuid2 *tmpl = vcpu->vm->arch->cpuid;
	size_t sz = sizeof(*tmpl) + tmpl->nent * sizeof(tmpl->entries[0]);
	struct kvm_cpuid2 *mine = malloc(sz);
	int ret;

	if (!mine)
		return -ENOMEM;
	memcpy(mine, tmpl, sz);
	cpuid_apply_topology(mine, vcpu->index, vcpu->vm->nr_vcpus);
	ret = ptvm_ioctl(vcpu->fd, KVM_SET_CPUID2, mine);
	free(mine);
	return ret < 0 ? ret : 0;
}

int arch_vcpu_init(struct vcpu *vcpu)
{
	int ret;

	ret = x86_vcpu_setup_cpuid(vcpu);
	if (ret)
		return ret;
	ret = x86_vcpu_setup_msrs(vcpu);
	if (ret)
		return ret;
	return x86_vcpu_setup_lapic(vcpu);
}

int x86_vcpu_set_boot_state(struct vcpu *vcpu, const struct boot_x86_entry *entry)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs = entry->regs;
	int ret;

	ret = ptvm_ioctl(vcpu->fd, KVM_GET_SREGS, &sregs);
	if (ret < 0)
		return ret;
	boot_x86_entry_apply_sregs(entry, &sregs);
	ret = ptvm_ioctl(vcpu->fd, KVM_SET_SREGS, &sregs);
	if (ret < 0)
		return ret;
	ret = ptvm_ioctl(vcpu->fd, KVM_SET_REGS, &regs);
	if (ret < 0)
		return ret;
	pr_debug("vcpu%u: %s entry rip=0x%llx rsi=0x%llx rbx=0x%llx %s mode", vcpu->index,
		 entry->format, (unsigned long long)regs.rip, (unsigned long long)regs.rsi,
		 (unsigned long long)regs.rbx, entry->long_mode ? "64-bit" : "32-bit");
	return 0;
}

void arch_vcpu_dump_regs(struct vcpu *vcpu)
{
	struct kvm_regs r;
	struct kvm_sregs s;

	if (!log_enabled(LOG_DEBUG))
		return;
	if (ptvm_ioctl(vcpu->fd, KVM_GET_REGS, &r) || ptvm_ioctl(vcpu->fd, KVM_GET_SREGS, &s))
		return;
	pr_debug("vcpu%u: rip=%016llx rsp=%016llx rflags=%08llx", vcpu->index, r.rip, r.rsp,
		 r.rflags);
	pr_debug("vcpu%u: rax=%016llx rbx=%016llx rcx=%016llx rdx=%016llx", vcpu->index, r.rax,
		 r.rbx, r.rcx, r.rdx);
	pr_debug("vcpu%u: rsi=%016llx rdi=%016llx rbp=%016llx r8=%016llx", vcpu->index, r.rsi,
		 r.rdi, r.rbp, r.r8);
	pr_debug("vcpu%u: cr0=%llx cr2=%llx cr3=%llx cr4=%llx efer=%llx cs=%x(l=%d,db=%d) ss=%x",
		 vcpu->index, s.cr0, s.cr2, s.cr3, s.cr4, s.efer, s.cs.selector, s.cs.l, s.cs.db,
		 s.ss.selector);
}

uint64_t arch_vcpu_pc(struct vcpu *vcpu)
{
	struct kvm_regs r;

	if (ptvm_ioctl(vcpu->fd, KVM_GET_REGS, &r))
		return ~0ULL;
	return r.rip;
}

void arch_vcpu_internal_error_detail(struct vcpu *vcpu, char *buf, unsigned len)
{
	struct kvm_run *run = vcpu->run;
	size_t n = 0;

	buf[0] = '\0';
	if (run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION &&
	    (run->emulation_failure.flags & KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES)) {
		unsigned bytes = MIN(run->emulation_failure.insn_size, 15);

		n += (size_t)snprintf(buf, len, "instruction bytes:");
		for (unsigned i = 0; i < bytes && n < len; i++)
			n += (size_t)snprintf(buf + n, len - n, " %02x",
					      run->emulation_failure.insn_bytes[i]);
	}
}

static void x86_vcpu_handle_io(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	bool is_write = run->io.direction == KVM_EXIT_IO_OUT;

	/* string I/O (rep ins/outs) arrives as count items back to back */
	for (uint32_t i = 0; i < run->io.count; i++) {
		if (!bus_access(&vcpu->vm->pio, run->io.port, data, run->io.size, is_write) &&
		    log_enabled(LOG_DEBUG))
			pr_debug("vcpu%u: unhandled %s port 0x%x size %u", vcpu->index,
				 is_write ? "out" : "in", run->io.port, run->io.size);
		data += run->io.size;
	}
}

/*
 * A triple fault (or a guest's deliberate shutdown). On AMD, KVM resets the vCPU when it
 * intercepts SHUTDOWN (the VMCB is undefined after it), so the registers read back here are the
 * reset state and rip 0xfff0 is the reset vector, not where the guest faulted: say so, and where
 * the real rip is (the host's kvm:kvm_exit trace event of that SHUTDOWN exit).
 */
static void x86_vcpu_report_shutdown(struct vcpu *vcpu)
{
	struct kvm_sregs s;
	uint64_t rip = arch_vcpu_pc(vcpu);

	if (rip == 0xfff0 && !ptvm_ioctl(vcpu->fd, KVM_GET_SREGS, &s) && s.cs.base == 0xffff0000)
		pr_err("vcpu%u: triple fault; rip 0xfff0 is the reset vector, not the faulting "
		       "rip: KVM on AMD resets a vCPU on a SHUTDOWN intercept (the host's "
		       "kvm:kvm_exit trace event has the real rip)",
		       vcpu->index);
	else
		pr_err("vcpu%u: triple fault at rip 0x%llx (guest reset itself by shutdown)",
		       vcpu->index, (unsigned long long)rip);
}

enum arch_exit_action arch_vcpu_handle_exit(struct vcpu *vcpu)
{
	switch (vcpu->run->exit_reason) {
	case KVM_EXIT_IO:
		x86_vcpu_handle_io(vcpu);
		return ARCH_EXIT_CONTINUE;
	case KVM_EXIT_SHUTDOWN:
		x86_vcpu_report_shutdown(vcpu);
		arch_vcpu_dump_regs(vcpu);
		vm_request_exit(vcpu->vm, PTVM_EXIT_TRIPLE_FAULT, "triple fault");
		return ARCH_EXIT_STOP;
	default:
		return ARCH_EXIT_UNHANDLED;
	}
}
