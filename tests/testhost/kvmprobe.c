/* SPDX-License-Identifier: MIT */
/*
 * kvmprobe: how fast does this machine's /dev/kvm run guest ring-0 code?
 *
 * Times a 64-bit ring-0 `dec ecx; jnz` loop in a minimal KVM guest (one vCPU, 64 KiB of RAM,
 * an identity-mapped 2 MiB page) and prints the cost of one iteration. `make run` uses it to
 * decide whether a Linux guest can boot on this host's KVM: real hardware virtualization takes
 * well under a nanosecond per iteration, a nested KVM that emulates ring 0 takes microseconds.
 * The iteration count grows tenfold until a run lasts long enough to time (20 ms), so the probe
 * is quick on both kinds of host.
 *
 * Output, on success (exit 0), one line:
 *   kvmprobe: <ns> ns per ring-0 loop iteration (<iterations> iterations in <ms> ms)
 * On failure (exit 1), one line on stderr naming the step that failed.
 *
 * A standalone tool with its own few ioctls: it must build and run before ptvm itself does,
 * and is linked statically so that the test host's initramfs can carry it too.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

/* the VM, its memory and vCPU, and the timing: shared with the other architecture's kvmprobe */
#include "kvmprobe_common.h"

#define PROBE_CODE 0x1000
#define PROBE_PML4 0x2000
#define PROBE_PDPT 0x3000
#define PROBE_PD 0x4000

/* Long mode, CPL0, paging on with one 2 MiB identity page: what a kernel runs in. */
static int probe_vcpu_setup_long_mode(struct probe *p)
{
	uint64_t *pml4 = (uint64_t *)(p->mem + PROBE_PML4);
	uint64_t *pdpt = (uint64_t *)(p->mem + PROBE_PDPT);
	uint64_t *pd = (uint64_t *)(p->mem + PROBE_PD);
	struct kvm_segment code = {
	    .limit = 0xffffffff,
	    .selector = 8,
	    .present = 1,
	    .type = 11,
	    .s = 1,
	    .l = 1,
	    .g = 1,
	};
	struct kvm_segment data = code;
	struct kvm_sregs sregs;

	pml4[0] = PROBE_PDPT | 3;
	pdpt[0] = PROBE_PD | 3;
	pd[0] = 0x83; /* present, writable, 2 MiB page at 0 */
	if (ioctl(p->vcpu, KVM_GET_SREGS, &sregs) < 0)
		return probe_fail("KVM_GET_SREGS");
	sregs.cr3 = PROBE_PML4;
	sregs.cr4 = 1 << 5;		    /* PAE */
	sregs.cr0 = 0x80000001u | (1 << 4); /* PG, PE, ET */
	sregs.efer = (1 << 8) | (1 << 10);  /* LME, LMA */
	data.type = 3;
	data.selector = 16;
	data.l = 0;
	data.db = 1;
	sregs.cs = code;
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
	if (ioctl(p->vcpu, KVM_SET_SREGS, &sregs) < 0)
		return probe_fail("KVM_SET_SREGS");
	return 0;
}

static int probe_create(struct probe *p)
{
	int ret = probe_vm_create(p, 0);

	if (ret)
		return ret;
	ret = probe_run_map(p);
	if (ret)
		return ret;
	return probe_vcpu_setup_long_mode(p);
}

/* Runs `mov ecx, iters; l: dec ecx; jnz l; hlt` and returns its duration in *ns. */
static int probe_loop_time(struct probe *p, uint32_t iters, double *ns)
{
	static const uint8_t loop[] = {
	    0xb9, 0,	0, 0, 0, /* mov ecx, imm32 */
	    0xff, 0xc9,		 /* dec ecx */
	    0x75, 0xfc,		 /* jnz -4 */
	    0xf4,		 /* hlt */
	};
	struct kvm_regs regs = {.rip = PROBE_CODE, .rflags = 0x2};
	double t0;

	memcpy(p->mem + PROBE_CODE, loop, sizeof(loop));
	memcpy(p->mem + PROBE_CODE + 1, &iters, sizeof(iters));
	if (ioctl(p->vcpu, KVM_SET_REGS, &regs) < 0)
		return probe_fail("KVM_SET_REGS");
	t0 = probe_now_ns();
	if (ioctl(p->vcpu, KVM_RUN, 0) < 0)
		return probe_fail("KVM_RUN");
	*ns = probe_now_ns() - t0;
	if (p->run->exit_reason != KVM_EXIT_HLT) {
		fprintf(stderr, "kvmprobe: the loop ended with KVM exit reason %u, not HLT\n",
			p->run->exit_reason);
		return -EIO;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct probe p = { .kvm = -1, .vm = -1, .vcpu = -1 };
	int ret = probe_start(&p, argc, argv, probe_create, probe_loop_time);

	probe_destroy(&p);
	if (ret)
		return 1;
	printf("kvmprobe: %.1f ns per ring-0 loop iteration (%u iterations in %.3f ms)\n",
	       p.loop_ns / p.loop_iters, p.loop_iters, p.loop_ns / 1e6);
	return 0;
}
