// SPDX-License-Identifier: MIT
/*
 * kvm_floor: the floor for the VM-exit round-trip figure (tests/bench, issue 5). The least a
 * VMM can do per exit: one vCPU, one memslot, a KVM_RUN loop that looks at the exit reason
 * and re-enters. The guest is 11 bytes of 64-bit code entered directly at CPL3 (no firmware,
 * no kit): N 32-bit MMIO writes to a guest-physical address without a memslot, then one
 * write to a "done" address. With --port it runs at CPL0 and does N `out` to port 0x80
 * instead (for the test host, whose KVM runs ring 0 at full speed; on a nested, emulating
 * KVM ring-3 port I/O is not possible and ring-0 code is ~1000x slow).
 *
 *   kvm_floor [--port] [--irqchip] [--cpuid] N
 *                            prints "kvm_floor: N exits in T ns: X ns per exit"; --irqchip adds
 *                            the in-kernel IRQ chip and PIT, --cpuid KVM's supported CPUID
 *                            (what a real VMM sets up), to find what an exit's cost depends on
 *   kvm_floor --tsc-khz      prints the host TSC frequency in kHz (what the guests' rdtsc
 *                            counts at: KVM gives guests the host rate unless scaling)
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define MEM_SIZE 0x200000ul
#define PML4_GPA 0x1000ul
#define PDPT_GPA 0x2000ul
#define PD_GPA 0x3000ul
#define CODE_GPA 0x4000ul
#define GDT_GPA 0x5000ul
#define TSS_GPA 0x6000ul
#define STACK_GPA 0x8000ul
#define MMIO_GPA 0x10000000ul /* no memslot: every write is a KVM_EXIT_MMIO */
#define DONE_GPA 0x10001000ul
#define BENCH_PORT 0x80
#define DONE_PORT 0x81

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t host_rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

static int tsc_khz_print(void)
{
	uint64_t t0 = now_ns(), c0 = host_rdtsc(), t1, c1;
	struct timespec d = { 0, 200 * 1000 * 1000 };

	nanosleep(&d, NULL);
	t1 = now_ns();
	c1 = host_rdtsc();
	printf("%llu\n", (unsigned long long)((c1 - c0) * 1000000ull / (t1 - t0)));
	return 0;
}

static void seg_set(struct kvm_segment *s, uint16_t sel, uint8_t type, unsigned int dpl, int code)
{
	memset(s, 0, sizeof(*s));
	s->selector = sel;
	s->base = 0;
	s->limit = 0xffffffff;
	s->type = type;
	s->present = 1;
	s->dpl = (uint8_t)dpl;
	s->s = 1;
	s->l = code ? 1 : 0;
	s->db = code ? 0 : 1;
	s->g = 1;
}

/* KVM's supported CPUID as the vCPU's, as a VMM would (minus its own edits) */
static int cpuid_set(int kvm, int vcpu)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + 256 * sizeof(struct kvm_cpuid_entry2));
	int ret;

	if (!c)
		return -1;
	c->nent = 256;
	ret = ioctl(kvm, KVM_GET_SUPPORTED_CPUID, c);
	if (!ret)
		ret = ioctl(vcpu, KVM_SET_CPUID2, c);
	free(c);
	return ret;
}

static int die(const char *what)
{
	fprintf(stderr, "kvm_floor: %s: %s\n", what, strerror(errno));
	return 1;
}

int main(int argc, char **argv)
{
	/* mov %eax,(%rdi); dec %rcx; jnz 0b; mov %eax,(%rsi); jmp . */
	static const uint8_t mmio_code[] = { 0x89, 0x07, 0x48, 0xff, 0xc9, 0x75,
					     0xf9, 0x89, 0x06, 0xeb, 0xfe };
	/*
	 * 0: out %al,(%dx); dec %rcx; jnz 0b; mov %si,%dx; out %al,(%dx); jmp . -- the dx form,
	 * because this machine's nested KVM resumes `out %al,$imm8` one byte short
	 */
	static const uint8_t port_code[] = { 0xee, 0x48, 0xff, 0xc9, 0x75, 0xfa,
					     0x66, 0x89, 0xf2, 0xee, 0xeb, 0xfe };
	int port = 0, irqchip = 0, want_cpuid = 0, kvm, vm, vcpu, mmap_size;
	unsigned long n;
	uint8_t *mem;
	uint64_t *pml4, *pdpt, *pd, *gdt, exits = 0, t0, t1;
	struct kvm_userspace_memory_region slot;
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	struct kvm_run *run;
	unsigned int cpl;

	if (argc == 2 && !strcmp(argv[1], "--tsc-khz"))
		return tsc_khz_print();
	while (argc > 2 && !strncmp(argv[1], "--", 2)) {
		if (!strcmp(argv[1], "--port"))
			port = 1;
		else if (!strcmp(argv[1], "--irqchip"))
			irqchip = 1;
		else if (!strcmp(argv[1], "--cpuid"))
			want_cpuid = 1;
		else
			break;
		argc--;
		argv++;
	}
	if (argc != 2 || (n = strtoul(argv[1], NULL, 0)) == 0) {
		fprintf(stderr, "usage: kvm_floor [--port] [--irqchip] [--cpuid] N | kvm_floor "
				"--tsc-khz\n");
		return 1;
	}
	cpl = port ? 0 : 3;

	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		return die("/dev/kvm");
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		return die("KVM_CREATE_VM");
	mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return die("guest RAM");
	slot = (struct kvm_userspace_memory_region){ .slot = 0,
						     .guest_phys_addr = 0,
						     .memory_size = MEM_SIZE,
						     .userspace_addr = (uint64_t)mem };
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &slot))
		return die("KVM_SET_USER_MEMORY_REGION");

	/* identity map of the first GiB with 2 MiB pages, user-accessible */
	pml4 = (uint64_t *)(mem + PML4_GPA);
	pdpt = (uint64_t *)(mem + PDPT_GPA);
	pd = (uint64_t *)(mem + PD_GPA);
	pml4[0] = PDPT_GPA | 0x7;
	pdpt[0] = PD_GPA | 0x7;
	for (uint64_t i = 0; i < 512; i++)
		pd[i] = (i << 21) | 0x87;
	if (port)
		memcpy(mem + CODE_GPA, port_code, sizeof(port_code));
	else
		memcpy(mem + CODE_GPA, mmio_code, sizeof(mmio_code));

	if (irqchip) {
		struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };

		if (ioctl(vm, KVM_SET_TSS_ADDR, 0xfffbd000ul) || ioctl(vm, KVM_CREATE_IRQCHIP, 0) ||
		    ioctl(vm, KVM_CREATE_PIT2, &pit))
			return die("in-kernel IRQ chip and PIT");
	}
	vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0)
		return die("KVM_CREATE_VCPU");
	if (want_cpuid && cpuid_set(kvm, vcpu))
		return die("KVM_SET_CPUID2");
	mmap_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (mmap_size <= 0)
		return die("KVM_GET_VCPU_MMAP_SIZE");
	run = mmap(NULL, (size_t)mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED)
		return die("kvm_run mmap");

	if (ioctl(vcpu, KVM_GET_SREGS, &sregs))
		return die("KVM_GET_SREGS");
	sregs.cr0 = 0x80000011; /* PG | ET | PE */
	sregs.cr3 = PML4_GPA;
	sregs.cr4 = 0x20;   /* PAE */
	sregs.efer = 0x500; /* LMA | LME */
	seg_set(&sregs.cs, (uint16_t)(cpl ? 0x23 : 0x08), 11, cpl, 1);
	seg_set(&sregs.ss, (uint16_t)(cpl ? 0x1b : 0x10), 3, cpl, 0);
	seg_set(&sregs.ds, (uint16_t)(cpl ? 0x1b : 0x10), 3, cpl, 0);
	/* real descriptors behind the selectors: an emulating KVM reads them */
	gdt = (uint64_t *)(mem + GDT_GPA);
	gdt[1] = 0x00af9a000000ffff;		       /* 0x08 kernel code, 64-bit */
	gdt[2] = 0x00cf92000000ffff;		       /* 0x10 kernel data */
	gdt[3] = 0x00cff2000000ffff;		       /* 0x18 user data */
	gdt[4] = 0x00affa000000ffff;		       /* 0x20 user code, 64-bit */
	gdt[5] = 0x0000890000000067 | (TSS_GPA << 16); /* 0x28 TSS (below 16 MiB) */
	sregs.gdt.base = GDT_GPA;
	sregs.gdt.limit = 8 * 7 - 1;
	memset(&sregs.tr, 0, sizeof(sregs.tr));
	sregs.tr.selector = 0x28;
	sregs.tr.base = TSS_GPA;
	sregs.tr.limit = 0x67;
	sregs.tr.type = 11;
	sregs.tr.present = 1;
	sregs.es = sregs.ds;
	sregs.fs = sregs.ds;
	sregs.gs = sregs.ds;
	if (ioctl(vcpu, KVM_SET_SREGS, &sregs))
		return die("KVM_SET_SREGS");
	memset(&regs, 0, sizeof(regs));
	regs.rip = CODE_GPA;
	regs.rflags = 0x2;
	regs.rsp = STACK_GPA;
	regs.rcx = n;
	regs.rdi = MMIO_GPA;
	regs.rsi = port ? DONE_PORT : DONE_GPA;
	regs.rdx = BENCH_PORT;
	if (ioctl(vcpu, KVM_SET_REGS, &regs))
		return die("KVM_SET_REGS");

	t0 = now_ns();
	for (;;) {
		if (ioctl(vcpu, KVM_RUN, 0) && errno != EINTR)
			return die("KVM_RUN");
		if (run->exit_reason == KVM_EXIT_MMIO && run->mmio.phys_addr == MMIO_GPA) {
			exits++;
			continue;
		}
		if (run->exit_reason == KVM_EXIT_IO && run->io.port == BENCH_PORT) {
			exits++;
			continue;
		}
		if ((run->exit_reason == KVM_EXIT_MMIO && run->mmio.phys_addr == DONE_GPA) ||
		    (run->exit_reason == KVM_EXIT_IO && run->io.port == DONE_PORT))
			break;
		if (run->exit_reason == KVM_EXIT_INTR)
			continue;
		ioctl(vcpu, KVM_GET_REGS, &regs);
		fprintf(stderr,
			"kvm_floor: unexpected exit reason %u after %llu exits, rip 0x%llx\n",
			run->exit_reason, (unsigned long long)exits, (unsigned long long)regs.rip);
		return 1;
	}
	t1 = now_ns();
	if (exits != n) {
		fprintf(stderr, "kvm_floor: %llu exits, want %lu\n", (unsigned long long)exits, n);
		return 1;
	}
	printf("kvm_floor: %llu %s exits in %llu ns: %llu ns per exit\n", (unsigned long long)exits,
	       port ? "ring-0 port" : "ring-3 MMIO", (unsigned long long)(t1 - t0),
	       (unsigned long long)((t1 - t0) / exits));
	return 0;
}
