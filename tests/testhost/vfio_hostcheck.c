// SPDX-License-Identifier: MIT
/*
 * vfio_hostcheck: drives ptvm's iommu/ layer (containers, groups, devices, the DMA listener,
 * the sysfs helpers) against the real kernel VFIO inside the test host, without a guest, and
 * prints what it did. tests/testhost/suites/vfio_host.sh runs it.
 *
 *   vfio_hostcheck list | bind BDF | unbind BDF
 *   vfio_hostcheck attach [options] BDF...     attach each device to one VM's map, report
 *       --ram MIB          guest RAM at gpa 0 (default 64)
 *       --mode 4k|thp|hugetlb   how the RAM is backed (memfd like ptvm; default 4k)
 *       --prefault         touch the RAM before attaching (a running guest has)
 *       --fake-ram GPA:KIB an extra RAM region (e.g. inside the MSI window)
 *       --memlock KIB      drop CAP_IPC_LOCK and set RLIMIT_MEMLOCK first
 *       --edu              DMA through the first device (a QEMU edu): to and from guest RAM,
 *                          into hot-added RAM, and into RAM removed again (must fault)
 *       --twice            attach the first BDF a second time (must be refused)
 * Lines for the suite: "CHECK <name> ok|FAIL <details>" and "RESULT key=value ...".
 * Exit status: 0 when every CHECK was ok, 1 otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/vfio.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "iommu/dma_listener.h"
#include "iommu/sysfs.h"
#include "iommu/vfio.h"
#include "iommu/vfio_group.h"
#include "vmm/arch.h"
#include "vmm/log.h"
#include "vmm/memmap.h"

static int failures;

static void check(const char *name, int ok, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void check(const char *name, int ok, const char *fmt, ...)
{
	va_list ap;

	printf("CHECK %s %s ", name, ok ? "ok" : "FAIL");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	failures += !ok;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Guest RAM the way vmm/vm.c makes it: a memfd mapped shared. */
static void *ram_create(uint64_t size, const char *mode, int prefault)
{
	unsigned flags = MFD_CLOEXEC | (!strcmp(mode, "hugetlb") ? MFD_HUGETLB : 0);
	int fd = memfd_create("hostcheck-ram", flags);
	void *p;

	if (fd < 0 || ftruncate(fd, (off_t)size)) {
		perror("memfd_create/ftruncate");
		return NULL;
	}
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
	if (p == MAP_FAILED) {
		perror("mmap guest RAM");
		return NULL;
	}
	if (!strcmp(mode, "thp"))
		madvise(p, size, MADV_HUGEPAGE);
	if (!strcmp(mode, "4k"))
		madvise(p, size, MADV_NOHUGEPAGE);
	if ((flags & MFD_HUGETLB) && fallocate(fd, 0, 0, (off_t)size)) {
		perror("fallocate hugetlb (raise /proc/sys/vm/nr_hugepages)");
		return NULL;
	}
	if (prefault) {
		double t0 = now();

		for (uint64_t off = 0; off < size; off += 4096)
			((volatile char *)p)[off] = 0;
		printf("RESULT prefault_ms=%.1f\n", (now() - t0) * 1e3);
	}
	return p;
}

static int add_ram(struct memmap *mm, const char *name, uint64_t gpa, uint64_t size, void *hva,
		   int huge)
{
	struct memmap_region r = { .gpa = gpa,
				   .size = size,
				   .kind = MEMMAP_RAM,
				   .hva = hva,
				   .fd = -1,
				   .hugepages = huge };

	snprintf(r.name, sizeof(r.name), "%s", name);
	return memmap_add_region(mm, &r);
}

static int drop_ipc_lock(uint64_t kib)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];
	struct rlimit rl = { kib * 1024, kib * 1024 };

	if (syscall(SYS_capget, &h, d))
		return -errno;
	d[CAP_IPC_LOCK / 32].effective &= ~(1u << (CAP_IPC_LOCK % 32));
	if (syscall(SYS_capset, &h, d))
		return -errno;
	if (setrlimit(RLIMIT_MEMLOCK, &rl))
		return -errno;
	return 0;
}

/* ---- edu: DMA through the IOMMU with guest-physical addresses as IOVAs ---- */

#define EDU_DMA_BUF 0x40000
#define EDU_DMA_LEN 2048 /* QEMU 7.2's edu aborts on a transfer of exactly 4096 bytes */

struct edu {
	struct vfio_device *d;
	struct vfio_region bar0, cfg;
};

static uint32_t edu_rd(struct edu *e, uint32_t off)
{
	uint32_t v = 0xffffffff;

	vfio_device_region_read(e->d, &e->bar0, off, &v, 4);
	return v;
}

static void edu_wr(struct edu *e, uint32_t off, uint64_t v, size_t len)
{
	vfio_device_region_write(e->d, &e->bar0, off, &v, len);
}

/* One DMA; 0 when the device says it finished (a fault finishes it too: check the data). */
static int edu_dma(struct edu *e, uint64_t src, uint64_t dst, int to_ram)
{
	double t0 = now();

	edu_wr(e, 0x80, src, 8);
	edu_wr(e, 0x88, dst, 8);
	edu_wr(e, 0x90, EDU_DMA_LEN, 8);
	edu_wr(e, 0x98, 1 | (to_ram ? 2 : 0), 4);
	while (edu_rd(e, 0x98) & 1) {
		if (now() - t0 > 10)
			return -ETIMEDOUT;
		usleep(1000);
	}
	return 0;
}

static void edu_checks(struct memmap *mm, struct edu *e, uint8_t *ram, uint64_t base)
{
	uint64_t hot_gpa = base + 0x8000000; /* 128 MiB above the RAM's start, past its end */
	uint16_t cmd = 0;
	uint8_t *hot;
	uint32_t id;
	void *bar;
	int ret;

	ret = vfio_device_region_info(e->d, VFIO_PCI_BAR0_REGION_INDEX, &e->bar0);
	ret = ret ?: vfio_device_region_info(e->d, VFIO_PCI_CONFIG_REGION_INDEX, &e->cfg);
	check("edu-regions", !ret && e->bar0.size == 0x100000,
	      "BAR0 size 0x%llx flags 0x%x mmap areas %u", (unsigned long long)e->bar0.size,
	      e->bar0.flags, e->bar0.nr_sparse);
	if (ret)
		return;
	vfio_device_region_read(e->d, &e->cfg, 4, &cmd, 2);
	cmd |= 0x6; /* memory space, bus master */
	vfio_device_region_write(e->d, &e->cfg, 4, &cmd, 2);
	id = edu_rd(e, 0);
	check("edu-id-pread", id == 0x010000ed, "id 0x%08x", id);
	bar = vfio_device_region_mmap(e->d, &e->bar0, 0, e->bar0.size);
	if (bar) {
		id = *(volatile uint32_t *)bar;
		check("edu-id-mmap", id == 0x010000ed, "id 0x%08x through the mmap'd BAR", id);
		munmap(bar, e->bar0.size);
	}

	/* guest RAM at gpa base: IOVA base + 1 MiB -> device -> IOVA base + 2 MiB */
	for (unsigned i = 0; i < EDU_DMA_LEN; i++)
		ram[0x100000 + i] = (uint8_t)(i * 7 + 3);
	memset(ram + 0x200000, 0, EDU_DMA_LEN);
	ret = edu_dma(e, base + 0x100000, EDU_DMA_BUF, 0)
		  ?: edu_dma(e, EDU_DMA_BUF, base + 0x200000, 1);
	check("edu-dma-ram", !ret && !memcmp(ram + 0x100000, ram + 0x200000, EDU_DMA_LEN),
	      "gpa 0x%llx -> edu -> gpa 0x%llx, %d bytes, %s", (unsigned long long)base + 0x100000,
	      (unsigned long long)base + 0x200000, EDU_DMA_LEN, ret ? strerror(-ret) : "compared");

	/* RAM added while attached is mapped by the listener at once */
	hot = mmap(NULL, SZ_1M, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ret = add_ram(mm, "hot", hot_gpa, SZ_1M, hot, 0);
	check("hotadd-map", !ret, "RAM at gpa 0x%llx added: %d", (unsigned long long)hot_gpa, ret);
	if (ret)
		return;
	memset(hot, 0, EDU_DMA_LEN);
	ret = edu_dma(e, EDU_DMA_BUF, hot_gpa, 1);
	check("edu-dma-hotadd", !ret && !memcmp(hot, ram + 0x100000, EDU_DMA_LEN),
	      "device -> hot-added gpa 0x%llx", (unsigned long long)hot_gpa);

	/* removed again: the listener unmaps it, the device's DMA there faults */
	ret = memmap_del_region(mm, hot_gpa);
	memset(hot, 0, EDU_DMA_LEN);
	edu_dma(e, EDU_DMA_BUF, hot_gpa, 1);
	check("edu-dma-unmapped", !ret && hot[0] == 0 && hot[1] == 0 && hot[EDU_DMA_LEN - 1] == 0,
	      "DMA to removed gpa 0x%llx left it untouched (the kernel logs an IOMMU fault)",
	      (unsigned long long)hot_gpa);
	munmap(hot, SZ_1M);
}

static int cmd_attach(int argc, char **argv)
{
	uint64_t ram_mib = 64, fake_gpa = 0, fake_kib = 0, memlock = 0, ram_gpa;
	struct arch_ram_layout layout;
	int prefault = 0, p2p = 0, do_edu = 0, twice = 0, i, ret;
	struct vfio_device *devs[8] = { 0 };
	const char *mode = "4k";
	struct memmap *mm;
	struct vfio *v;
	uint8_t *ram;
	double t0;

	for (i = 0; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--ram") && i + 1 < argc)
			ram_mib = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--mode") && i + 1 < argc)
			mode = argv[++i];
		else if (!strcmp(argv[i], "--prefault"))
			prefault = 1;
		else if (!strcmp(argv[i], "--p2p"))
			p2p = 1;
		else if (!strcmp(argv[i], "--edu"))
			do_edu = 1;
		else if (!strcmp(argv[i], "--twice"))
			twice = 1;
		else if (!strcmp(argv[i], "--memlock") && i + 1 < argc)
			memlock = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--fake-ram") && i + 1 < argc &&
			 sscanf(argv[i + 1], "%lli:%lli", (long long *)&fake_gpa,
				(long long *)&fake_kib) == 2)
			i++;
		else {
			fprintf(stderr, "vfio_hostcheck attach: bad option %s\n", argv[i]);
			return 2;
		}
	}
	if (i == argc || argc - i > 8) {
		fprintf(stderr, "vfio_hostcheck attach: name 1 to 8 devices\n");
		return 2;
	}
	if (memlock && (ret = drop_ipc_lock(memlock))) {
		fprintf(stderr, "dropping CAP_IPC_LOCK: %s\n", strerror(-ret));
		return 2;
	}
	ram = ram_create(ram_mib << 20, mode, prefault);
	if (!ram || memmap_create(&mm) || vfio_create(mm, &v))
		return 1;
	/* where ptvm's machine puts guest RAM (x86: 0; arm64: 1 GiB, clear of the SMMUv3's MSI
	 * window at 0x8000000, which the DMA listener refuses RAM in) */
	if (arch_ram_layout(ram_mib << 20, &layout) || layout.nr_banks != 1)
		return 1;
	ram_gpa = layout.banks[0].gpa;
	if (add_ram(mm, "ram-low", ram_gpa, ram_mib << 20, ram, strcmp(mode, "4k") != 0))
		return 1;
	if (fake_kib) {
		void *p = mmap(NULL, fake_kib << 10, PROT_READ | PROT_WRITE,
			       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

		if (add_ram(mm, "fake-ram", fake_gpa, fake_kib << 10, p, 0))
			return 1;
	}
	for (int n = 0; i < argc; i++, n++) {
		t0 = now();
		ret = vfio_attach_device(v, argv[i], p2p, &devs[n]);
		if (ret) {
			printf("RESULT attach=%s error=%d (%s)\n", argv[i], ret, strerror(-ret));
			check("attach", memlock || fake_kib, "%s: %s", argv[i], strerror(-ret));
			continue;
		}
		{
			struct vfio_container *c = devs[n]->group->container;
			const struct dma_listener_stats *s = dma_listener_stats(c->listener);

			printf("RESULT attach=%s group=%d container=%u attach_ms=%.1f "
			       "container_maps=%u container_map_ms=%.1f mapped_mib=%llu mode=%s\n",
			       devs[n]->bdf, devs[n]->group->id, c->index, (now() - t0) * 1e3,
			       s->nr_maps, s->map_seconds * 1e3,
			       (unsigned long long)(s->bytes_mapped >> 20), mode);
			check("attach", !memlock && !fake_kib, "%s in container%u", devs[n]->bdf,
			      c->index);
		}
	}
	if (twice && devs[0]) {
		struct vfio_device *again = NULL;

		ret = vfio_attach_device(v, devs[0]->bdf + 5, p2p, &again);
		check("attach-twice", ret == -EEXIST && !again, "second attach of %s: %s",
		      devs[0]->bdf + 5, strerror(-ret));
	}
	vfio_report(v);
	printf("JSON ");
	vfio_report_json(v, stdout);
	printf("\n");
	if (do_edu && devs[0]) {
		struct edu e = { .d = devs[0] };

		edu_checks(mm, &e, ram, ram_gpa);
	}
	t0 = now();
	vfio_destroy(v);
	printf("RESULT destroy_ms=%.1f\n", (now() - t0) * 1e3);
	memmap_destroy(mm);
	return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
	log_level = LOG_INFO;
	if (getenv("HOSTCHECK_DEBUG"))
		log_level = LOG_DEBUG;
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 2 && !strcmp(argv[1], "list"))
		return vfio_sysfs_list(stdout) ? 1 : 0;
	if (argc == 3 && !strcmp(argv[1], "bind"))
		return vfio_sysfs_bind(argv[2]) ? 1 : 0;
	if (argc == 3 && !strcmp(argv[1], "unbind"))
		return vfio_sysfs_unbind(argv[2]) ? 1 : 0;
	if (argc >= 2 && !strcmp(argv[1], "attach"))
		return cmd_attach(argc - 2, argv + 2);
	fprintf(stderr, "usage: vfio_hostcheck list | bind BDF | unbind BDF | attach [options] "
			"BDF...\n");
	return 2;
}
