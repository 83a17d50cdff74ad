/* SPDX-License-Identifier: MIT */
/*
 * What the two kvmprobe tools share (tests/testhost/kvmprobe.c for x86,
 * tests/testhost/arm64/kvmprobe.c): the probe's fds and mappings, the VM with its one memory
 * slot and vCPU, the vCPU's kvm_run mapping, the teardown, and the timing that grows the
 * iteration count tenfold until a run lasts long enough to time. Each tool writes its own guest
 * code, vCPU state and output line.
 *
 * A header of static functions rather than a library: kvmprobe builds before ptvm does, as one
 * static file with no library (testhost.mk's $(TH_PROBE) rule).
 */
#ifndef PTVM_TESTHOST_KVMPROBE_COMMON_H
#define PTVM_TESTHOST_KVMPROBE_COMMON_H

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PROBE_MEM_SIZE 0x10000
#define PROBE_MIN_NS 20000000.0 /* a run this long is timed well enough */
#define PROBE_MAX_ITERS 1000000000u
#define PROBE_FIRST_ITERS 1000u

struct probe {
	int kvm, vm, vcpu;
	uint8_t *mem;
	struct kvm_run *run;
	size_t run_size;
	/* the timed run of the guest loop (probe_start): its iteration count and duration */
	uint32_t loop_iters;
	double loop_ns;
};

static double probe_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* Prints "kvmprobe: <what>: <errno's message>" on stderr and returns -errno. */
static int probe_fail(const char *what)
{
	int ret = -errno;

	fprintf(stderr, "kvmprobe: %s: %s\n", what, strerror(errno));
	return ret;
}

/* Opens /dev/kvm and creates a VM with PROBE_MEM_SIZE bytes of RAM at mem_gpa and one vCPU. */
static int probe_vm_create(struct probe *p, uint64_t mem_gpa)
{
	struct kvm_userspace_memory_region region = { 0 };

	p->kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (p->kvm < 0)
		return probe_fail("open /dev/kvm");
	p->vm = ioctl(p->kvm, KVM_CREATE_VM, 0);
	if (p->vm < 0)
		return probe_fail("KVM_CREATE_VM");
	p->mem =
	    mmap(NULL, PROBE_MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p->mem == MAP_FAILED) {
		p->mem = NULL;
		return probe_fail("mmap guest memory");
	}
	region.guest_phys_addr = mem_gpa;
	region.memory_size = PROBE_MEM_SIZE;
	region.userspace_addr = (uintptr_t)p->mem;
	if (ioctl(p->vm, KVM_SET_USER_MEMORY_REGION, &region) < 0)
		return probe_fail("KVM_SET_USER_MEMORY_REGION");
	p->vcpu = ioctl(p->vm, KVM_CREATE_VCPU, 0);
	if (p->vcpu < 0)
		return probe_fail("KVM_CREATE_VCPU");
	return 0;
}

/* Maps the vCPU's kvm_run. */
static int probe_run_map(struct probe *p)
{
	int size = ioctl(p->kvm, KVM_GET_VCPU_MMAP_SIZE, 0);

	if (size < 0)
		return probe_fail("KVM_GET_VCPU_MMAP_SIZE");
	p->run_size = (size_t)size;
	p->run = mmap(NULL, p->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, p->vcpu, 0);
	if (p->run == MAP_FAILED) {
		p->run = NULL;
		return probe_fail("mmap kvm_run");
	}
	return 0;
}

/* Undoes probe_vm_create and probe_run_map, also half-done. */
static void probe_destroy(struct probe *p)
{
	if (p->run)
		munmap(p->run, p->run_size);
	if (p->vcpu >= 0)
		close(p->vcpu);
	if (p->mem)
		munmap(p->mem, PROBE_MEM_SIZE);
	if (p->vm >= 0)
		close(p->vm);
	if (p->kvm >= 0)
		close(p->kvm);
}

/*
 * What both tools' main does first: refuses arguments, sets the probe up with the tool's create
 * and times its guest loop. loop_time runs the loop once for iters iterations and returns its
 * duration in *ns. A first run of one iteration pays for faulting in guest memory (and x86's
 * page tables) and is not timed; then the count grows tenfold from PROBE_FIRST_ITERS until a run
 * lasts PROBE_MIN_NS or the count would pass PROBE_MAX_ITERS: p->loop_iters and p->loop_ns are
 * that last run's. 0, or non-zero after a message on stderr; probe_destroy undoes it either way.
 */
static int probe_start(struct probe *p, int argc, char **argv, int (*create)(struct probe *p),
		       int (*loop_time)(struct probe *p, uint32_t iters, double *ns))
{
	int ret;

	if (argc > 1) {
		fprintf(stderr, "usage: %s (no arguments)\n", argv[0]);
		return -EINVAL;
	}
	ret = create(p);
	if (!ret)
		ret = loop_time(p, 1, &p->loop_ns);
	p->loop_iters = PROBE_FIRST_ITERS;
	while (!ret) {
		ret = loop_time(p, p->loop_iters, &p->loop_ns);
		if (ret || p->loop_ns >= PROBE_MIN_NS || p->loop_iters >= PROBE_MAX_ITERS / 10)
			break;
		p->loop_iters *= 10;
	}
	return ret;
}

#endif
