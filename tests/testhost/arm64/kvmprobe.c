/* SPDX-License-Identifier: MIT */
/*
 * kvmprobe (arm64): how fast does this machine's /dev/kvm run guest EL1 code?
 *
 * The arm64 counterpart of ../kvmprobe.c, with the same output: it times a
 * `subs x0, x0, #1; b.ne` loop at EL1 in a minimal KVM guest (one vCPU, 64 KiB of RAM at
 * 1 GiB, MMU off) that ends with a store to an unbacked address (a KVM_EXIT_MMIO), and then the
 * cost of one MMIO exit round trip. The iteration count grows tenfold until a run lasts 20 ms.
 *
 * Output, on success (exit 0), one line:
 *   kvmprobe: <ns> ns per EL1 loop iteration (<iterations> iterations in <ms> ms), MMIO exit <us> us
 * On failure (exit 1), one line on stderr naming the step that failed.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/ioctl.h>

/* the VM, its memory and vCPU, and the timing: shared with the other architecture's kvmprobe */
#include "../kvmprobe_common.h"

#define PROBE_MEM_GPA 0x40000000ULL
#define PROBE_MMIO_GPA 0x1000ULL /* below RAM: no memslot, so a store exits */
#define PROBE_EXITS 200

#define CORE_REG(x)                                                                                \
	(KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE | KVM_REG_ARM_CORE_REG(x))

static int probe_set_reg(struct probe *p, uint64_t id, uint64_t val)
{
	struct kvm_one_reg r = { .id = id, .addr = (uintptr_t)&val };

	return ioctl(p->vcpu, KVM_SET_ONE_REG, &r) < 0 ? probe_fail("KVM_SET_ONE_REG") : 0;
}

static int probe_create(struct probe *p)
{
	struct kvm_vcpu_init init;
	int ret = probe_vm_create(p, PROBE_MEM_GPA);

	if (ret)
		return ret;
	if (ioctl(p->vm, KVM_ARM_PREFERRED_TARGET, &init) < 0)
		return probe_fail("KVM_ARM_PREFERRED_TARGET");
	if (ioctl(p->vcpu, KVM_ARM_VCPU_INIT, &init) < 0)
		return probe_fail("KVM_ARM_VCPU_INIT");
	return probe_run_map(p);
}

/*
 * Runs from pc until the next exit, which must be the MMIO store; returns its duration. KVM
 * completes a previous MMIO exit (stepping past the store) on the next KVM_RUN: a KVM_RUN with
 * immediate_exit does that first, so that the new pc is not stepped over.
 */
static int probe_run_to_mmio(struct probe *p, uint64_t pc, double *ns)
{
	double t0;
	int ret;

	p->run->immediate_exit = 1;
	if (ioctl(p->vcpu, KVM_RUN, 0) == 0 || errno != EINTR)
		return probe_fail("KVM_RUN with immediate_exit (want EINTR)");
	p->run->immediate_exit = 0;
	ret = probe_set_reg(p, CORE_REG(regs.pc), pc);
	if (ret)
		return ret;
	t0 = probe_now_ns();
	if (ioctl(p->vcpu, KVM_RUN, 0) < 0)
		return probe_fail("KVM_RUN");
	*ns = probe_now_ns() - t0;
	if (p->run->exit_reason != KVM_EXIT_MMIO || p->run->mmio.phys_addr != PROBE_MMIO_GPA) {
		fprintf(stderr, "kvmprobe: the loop ended with KVM exit reason %u, not MMIO at 0x%llx\n",
			p->run->exit_reason, PROBE_MMIO_GPA);
		return -EIO;
	}
	return 0;
}

/*
 *   0: movz x0, #lo16; 4: movk x0, #hi16, lsl 16
 *   8: subs x0, x0, #1; 12: b.ne 8
 *  16: movz x1, #PROBE_MMIO_GPA; 20: str x0, [x1]; 24: b 16
 */
static int probe_loop_time(struct probe *p, uint32_t iters, double *ns)
{
	uint32_t *c = (uint32_t *)p->mem;

	c[0] = 0xd2800000 | (iters & 0xffff) << 5;
	c[1] = 0xf2a00000 | (iters >> 16) << 5;
	c[2] = 0xf1000400;
	c[3] = 0x54ffffe1;
	c[4] = 0xd2800001 | (uint32_t)PROBE_MMIO_GPA << 5;
	c[5] = 0xf9000020;
	c[6] = 0x17fffffe;
	return probe_run_to_mmio(p, PROBE_MEM_GPA, ns);
}

int main(int argc, char **argv)
{
	struct probe p = { .kvm = -1, .vm = -1, .vcpu = -1 };
	double exit_ns = 0, one;
	int ret = probe_start(&p, argc, argv, probe_create, probe_loop_time);

	/* MMIO exit round trips: re-enter at the store */
	for (unsigned i = 0; !ret && i < PROBE_EXITS; i++) {
		ret = probe_run_to_mmio(&p, PROBE_MEM_GPA + 20, &one);
		exit_ns += one;
	}
	probe_destroy(&p);
	if (ret)
		return 1;
	printf("kvmprobe: %.1f ns per EL1 loop iteration (%u iterations in %.3f ms), MMIO exit "
	       "%.1f us\n",
	       p.loop_ns / p.loop_iters, p.loop_iters, p.loop_ns / 1e6,
	       exit_ns / PROBE_EXITS / 1e3);
	return 0;
}
