// SPDX-License-Identifier: MIT
#include "vcpu.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "x86/boot.h"
#include "x86/cpuid.h"
#include "ioctl.h"
#include "log.h"
#include "util.h"
#include "vm.h"

#define VCPU_KICK_SIGNAL SIGUSR1

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

static __thread struct vcpu *vcpu_self;

static void vcpu_kick_handler(int sig)
{
	(void)sig;
	/* KVM_RUN checks immediate_exit on entry; a signal during KVM_RUN makes it return
	 * EINTR. Setting the flag here covers the window just before entry. */
	if (vcpu_self)
		vcpu_self->run->immediate_exit = 1;
}

static int vcpu_setup_msrs(struct vcpu *vcpu)
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
static int vcpu_setup_lapic(struct vcpu *vcpu)
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

int vcpu_create(struct vm *vm, unsigned index, const struct kvm_cpuid2 *cpuid, struct vcpu **out)
{
	struct vcpu *vcpu;
	struct kvm_cpuid2 *mine;
	size_t sz;
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
	sz = sizeof(*cpuid) + cpuid->nent * sizeof(cpuid->entries[0]);
	mine = malloc(sz);
	if (!mine) {
		ret = -ENOMEM;
		goto out_free;
	}
	memcpy(mine, cpuid, sz);
	cpuid_apply_topology(mine, index, vm->nr_vcpus);
	ret = ptvm_ioctl(vcpu->fd, KVM_SET_CPUID2, mine);
	free(mine);
	if (ret < 0)
		goto out_free;
	ret = vcpu_setup_msrs(vcpu);
	if (ret < 0)
		goto out_free;
	ret = vcpu_setup_lapic(vcpu);
	if (ret < 0)
		goto out_free;
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

int vcpu_set_boot_state(struct vcpu *vcpu, const struct boot_x86_entry *entry)
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

void vcpu_dump_regs(struct vcpu *vcpu)
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

static uint64_t vcpu_rip(struct vcpu *vcpu)
{
	struct kvm_regs r;

	if (ptvm_ioctl(vcpu->fd, KVM_GET_REGS, &r))
		return ~0ULL;
	return r.rip;
}

static void vcpu_handle_io(struct vcpu *vcpu)
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
	char bytes[3 * 16 + 1] = "";
	unsigned len = 0;

	if (run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION &&
	    (run->emulation_failure.flags & KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES)) {
		len = MIN(run->emulation_failure.insn_size, 15);
		for (unsigned i = 0; i < len; i++)
			snprintf(bytes + 3 * i, 4, " %02x", run->emulation_failure.insn_bytes[i]);
	} else {
		for (unsigned i = 0; i < run->internal.ndata && i < 4; i++)
			snprintf(bytes + strlen(bytes), sizeof(bytes) - strlen(bytes), " %llx",
				 (unsigned long long)run->internal.data[i]);
	}
	pr_err("vcpu%u: KVM internal error, suberror %u at rip 0x%llx, %s:%s", vcpu->index,
	       run->internal.suberror, (unsigned long long)vcpu_rip(vcpu),
	       len ? "instruction bytes" : "data", bytes[0] ? bytes : " none");
}

/* Returns true to keep running. */
static bool vcpu_handle_exit(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	struct vm *vm = vcpu->vm;
	char why[96];

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		vcpu_handle_io(vcpu);
		return true;
	case KVM_EXIT_MMIO:
		vcpu_handle_mmio(vcpu);
		return true;
	case KVM_EXIT_INTR:
		return true;
	case KVM_EXIT_SHUTDOWN:
		pr_err("vcpu%u: triple fault at rip 0x%llx (guest reset itself by shutdown)",
		       vcpu->index, (unsigned long long)vcpu_rip(vcpu));
		vcpu_dump_regs(vcpu);
		vm_request_exit(vm, PTVM_EXIT_TRIPLE_FAULT, "triple fault");
		return false;
	case KVM_EXIT_INTERNAL_ERROR:
		vcpu_report_internal_error(vcpu);
		vcpu_dump_regs(vcpu);
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
		vcpu_dump_regs(vcpu);
		vm_request_exit(vm, PTVM_EXIT_UNHANDLED, "entry failure");
		return false;
	default:
		snprintf(why, sizeof(why), "unhandled exit reason %u", run->exit_reason);
		pr_err("vcpu%u: %s at rip 0x%llx", vcpu->index, why,
		       (unsigned long long)vcpu_rip(vcpu));
		vcpu_dump_regs(vcpu);
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
				vcpu->run->immediate_exit = 0;
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
	ret = -pthread_create(&vcpu->thread, NULL, vcpu_thread, vcpu);
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
	vcpu->run->immediate_exit = 1;
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
