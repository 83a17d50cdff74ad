// SPDX-License-Identifier: MIT
/*
 * arm64 vCPUs: KVM_ARM_VCPU_INIT with the host's preferred target and PSCI 0.2 (KVM answers the
 * guest's PSCI calls itself: CPU_ON starts a secondary, SYSTEM_OFF and SYSTEM_RESET come out as
 * KVM_EXIT_SYSTEM_EVENT, which the core turns into ptvm's exit statuses); every vCPU but the
 * first starts powered off and waits for the guest's CPU_ON. Registers through KVM_{GET,SET}_
 * ONE_REG.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "arm64.h"
#include "vmm/arch.h"
#include "vmm/ioctl.h"
#include "vmm/log.h"
#include "vmm/vcpu.h"
#include "vmm/vm.h"

/*
 * register reads after set-up (vmm/sandbox.c's lists); KVM_ARM_VCPU_INIT, KVM_SET_ONE_REG and
 * the vGIC's KVM_CREATE_DEVICE/KVM_SET_DEVICE_ATTR are set-up's only (PSCI's CPU_ON is KVM's)
 */
const struct sandbox_ioctl arch_sandbox_ioctls[] = {
	SANDBOX_IOCTL(KVM_GET_ONE_REG, SANDBOX_KIND(MAIN) | SANDBOX_KIND(VCPU),
		      "pc of a failed vCPU; register dump at debug level"),
};
const unsigned arch_nr_sandbox_ioctls = ARRAY_SIZE(arch_sandbox_ioctls);

#define CORE_REG(x) (KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE | KVM_REG_ARM_CORE_REG(x))
#define REG_MPIDR_EL1 ARM64_SYS_REG(3, 0, 0, 0, 5)
#define REG_ESR_EL1 ARM64_SYS_REG(3, 0, 5, 2, 0)
#define REG_FAR_EL1 ARM64_SYS_REG(3, 0, 6, 0, 0)

/* PSTATE at the kernel's entry (booting.rst): EL1h, all of DAIF masked */
#define PSR_MODE_EL1H 0x5
#define PSR_DAIF_MASKED (0xfULL << 6)

static int vcpu_get_reg(struct vcpu *vcpu, uint64_t id, uint64_t *val)
{
	struct kvm_one_reg r = { .id = id, .addr = (uint64_t)(uintptr_t)val };

	return ptvm_ioctl(vcpu->fd, KVM_GET_ONE_REG, &r);
}

static int vcpu_set_reg(struct vcpu *vcpu, uint64_t id, uint64_t val)
{
	struct kvm_one_reg r = { .id = id, .addr = (uint64_t)(uintptr_t)&val };

	return ptvm_ioctl(vcpu->fd, KVM_SET_ONE_REG, &r);
}

int arch_vcpu_init(struct vcpu *vcpu)
{
	struct kvm_vcpu_init init = vcpu->vm->arch->vcpu_init;

	init.features[0] |= 1U << KVM_ARM_VCPU_PSCI_0_2;
	if (vcpu->index)
		init.features[0] |= 1U << KVM_ARM_VCPU_POWER_OFF;
	return ptvm_ioctl(vcpu->fd, KVM_ARM_VCPU_INIT, &init);
}

int arm64_vcpu_mpidr(struct vcpu *vcpu, uint64_t *mpidr)
{
	return vcpu_get_reg(vcpu, REG_MPIDR_EL1, mpidr);
}

int arm64_vcpu_set_boot_state(struct vcpu *vcpu, uint64_t pc, uint64_t fdt_gpa)
{
	int ret;

	ret = vcpu_set_reg(vcpu, CORE_REG(regs.pstate), PSR_MODE_EL1H | PSR_DAIF_MASKED);
	if (!ret)
		ret = vcpu_set_reg(vcpu, CORE_REG(regs.regs[0]), fdt_gpa);
	for (unsigned i = 1; i <= 3 && !ret; i++)
		ret = vcpu_set_reg(vcpu, CORE_REG(regs.regs[i]), 0);
	if (!ret)
		ret = vcpu_set_reg(vcpu, CORE_REG(regs.pc), pc);
	if (!ret)
		pr_debug("vcpu%u: entry pc=0x%llx x0=0x%llx (device tree), EL1h, DAIF masked",
			 vcpu->index, (unsigned long long)pc, (unsigned long long)fdt_gpa);
	return ret;
}

/* No exit is arm64's alone: MMIO and system events (PSCI) are the core's. */
enum arch_exit_action arch_vcpu_handle_exit(struct vcpu *vcpu)
{
	(void)vcpu;
	return ARCH_EXIT_UNHANDLED;
}

uint64_t arch_vcpu_pc(struct vcpu *vcpu)
{
	uint64_t pc;

	if (vcpu_get_reg(vcpu, CORE_REG(regs.pc), &pc))
		return ~0ULL;
	return pc;
}

void arch_vcpu_dump_regs(struct vcpu *vcpu)
{
	static const struct {
		const char *name;
		uint64_t id;
	} regs[] = {
		{ "pc", CORE_REG(regs.pc) },	    { "pstate", CORE_REG(regs.pstate) },
		{ "sp_el1", CORE_REG(sp_el1) },	    { "elr_el1", CORE_REG(elr_el1) },
		{ "esr_el1", REG_ESR_EL1 },	    { "far_el1", REG_FAR_EL1 },
		{ "x0", CORE_REG(regs.regs[0]) },   { "x1", CORE_REG(regs.regs[1]) },
		{ "x2", CORE_REG(regs.regs[2]) },   { "x3", CORE_REG(regs.regs[3]) },
		{ "x29", CORE_REG(regs.regs[29]) }, { "x30", CORE_REG(regs.regs[30]) },
	};
	char line[256];
	size_t n = 0;

	if (!log_enabled(LOG_DEBUG))
		return;
	for (unsigned i = 0; i < ARRAY_SIZE(regs); i++) {
		uint64_t v;

		if (vcpu_get_reg(vcpu, regs[i].id, &v))
			return;
		n += (size_t)snprintf(line + n, sizeof(line) - n, " %s=%llx", regs[i].name,
				      (unsigned long long)v);
		if (i % 6 == 5 || i == ARRAY_SIZE(regs) - 1) {
			pr_debug("vcpu%u:%s", vcpu->index, line);
			n = 0;
		}
	}
}

void arch_vcpu_internal_error_detail(struct vcpu *vcpu, char *buf, unsigned len)
{
	(void)vcpu;
	if (len)
		buf[0] = '\0'; /* the core prints KVM's data words */
}
