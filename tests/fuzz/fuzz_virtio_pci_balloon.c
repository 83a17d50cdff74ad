// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the virtio-pci transport driven as a state machine (lib/virtio_pci_fuzz.h)
 * with virtio-balloon behind it, its I/O thread live: inflate/deflate PFN arrays and free page
 * reports land in the harness's memfd-backed guest RAM (PFNs 0x100-0x13f), where discarding
 * punches real holes.
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

static const struct vpf_device balloon = {
	.name = "virtio-balloon",
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
