// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the virtio-pci transport driven as a state machine (lib/virtio_pci_fuzz.h)
 * with virtio-rng behind it, its I/O thread live, reading /dev/zero (the bytes do not matter,
 * the same path runs as with /dev/urandom and inputs replay alike). No device options, no
 * host events.
 *
 * FUZZ_SOURCES: devices/virtio_pci.c devices/virtio_rng.c devices/virtio.c devices/virtqueue.c
 */
#include "devices/virtio_rng.h"
#include "tests/fuzz/lib/virtio_pci_fuzz.h"

static int rng_create(struct memmap *mm, uint8_t opts, struct virtio_device **out)
{
	struct virtio_rng_config c;

	if (virtio_rng_parse("src=/dev/zero", &c))
		fuzz_fail("virtio_rng_parse");
	return virtio_rng_create(&c, mm, out);
}

static const struct vpf_device rng = {
	.name = "virtio-rng",
	.create = rng_create,
	.destroy = virtio_rng_destroy,
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	vpf_init(&rng);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return vpf_run(data, size);
}
