// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the virtio-pci transport driven as a state machine (lib/virtio_pci_fuzz.h)
 * with virtio-balloon behind it, its I/O thread live: inflate/deflate PFN arrays and free page
 * reports land in the harness's memfd-backed guest RAM (PFNs 0x100-0x13f), where discarding
 * punches real holes, or in 64 KiB of private anonymous RAM (PFNs 0x200-0x20f, discarded
 * with madvise), both between guard pages.
 *
 * Device options (machine byte bits 3-7): bit 3 free page reporting, bit 4 deflate-on-oom,
 * bit 5 a target (half of guest RAM). The statistics timer is off (stats-period=0): a timer
 * would make inputs replay differently; statistics buffers are still taken and parsed.
 * Host events (op 11): u8; bit 0 set: a new target (u8 << 12 bytes), else pinned = bit 1
 * (as while a passthrough device holds guest RAM for DMA).
 *
 * FUZZ_SOURCES: devices/virtio_pci.c devices/virtio_balloon.c devices/virtio.c
 *               devices/virtqueue.c
 */
#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include "devices/virtio_balloon.h"
#include "tests/fuzz/lib/virtio_pci_fuzz.h"

static int balloon_create(struct memmap *mm, uint8_t opts, struct virtio_device **out)
{
	struct virtio_balloon_options o = {
		.free_page_reporting = opts & 1,
		.deflate_on_oom = opts & 2,
		.has_target = opts & 4,
		.target = VPF_RAM_SIZE / 2,
		.stats_period_ms = 0,
	};

	return virtio_balloon_create(&o, mm, out);
}

static void balloon_host_event(struct virtio_device *vdev, struct fuzz_in *in)
{
	uint8_t e = fuzz_u8(in);

	if (e & 1)
		virtio_balloon_set_target(vdev, (uint64_t)fuzz_u8(in) << 12);
	else
		virtio_balloon_set_pinned(vdev, e & 2);
}

/* A second RAM region without a file behind it, as anonymous guest memory is. */
static void balloon_init(void)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE), size = 0x10000;
	uint8_t *area = mmap(NULL, size + 2 * page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct memmap_region r = {
		.gpa = 0x200000,
		.size = size,
		.kind = MEMMAP_RAM,
		.fd = -1,
		.kvm_slot = -1,
		.name = "anon",
	};

	if (area == MAP_FAILED || mprotect(area + page, size, PROT_READ | PROT_WRITE))
		fuzz_fail("anonymous RAM: %s", strerror(errno));
	r.hva = area + page;
	if (memmap_add_region(vpf.mm, &r))
		fuzz_fail("anonymous RAM region");
}

static const struct vpf_device balloon = {
	.name = "virtio-balloon",
	.init = balloon_init,
	.create = balloon_create,
	.destroy = virtio_balloon_destroy,
	.host_event = balloon_host_event,
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	vpf_init(&balloon);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return vpf_run(data, size);
}
