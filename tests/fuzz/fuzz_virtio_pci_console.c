// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the virtio-pci transport driven as a state machine (lib/virtio_pci_fuzz.h)
 * with virtio-console behind it, its I/O thread live, output to /dev/null.
 *
 * Host events (op 11): u16 n, then n bytes typed on ptvm's stdin for the guest
 * (virtio_console_receive; n up to 64 KiB + 512, so the input buffer fills and wraps).
 *
 * FUZZ_SOURCES: devices/virtio_pci.c devices/virtio_console.c devices/virtio.c
 *               devices/virtqueue.c
 */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "devices/virtio_console.h"
#include "tests/fuzz/lib/virtio_pci_fuzz.h"

#define TYPED_MAX (VIRTIO_CONSOLE_RX_BUF + 512)

static int out_fd = -1;
static uint8_t *typed;

static void console_init(void)
{
	out_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	typed = malloc(TYPED_MAX);
	if (out_fd < 0 || !typed)
		fuzz_fail("console setup");
	for (unsigned i = 0; i < TYPED_MAX; i++)
		typed[i] = (uint8_t)('a' + i % 26);
}

static int console_create(struct memmap *mm, uint8_t opts, struct virtio_device **out)
{
	struct virtio_console_options o = { .out_fd = out_fd };

	return virtio_console_create(&o, mm, out);
}

static void console_host_event(struct virtio_device *vdev, struct fuzz_in *in)
{
	unsigned n = fuzz_u16(in) % TYPED_MAX;
	size_t took;

	/* the first bytes from the input, the rest a known pattern */
	fuzz_in_bytes(in, typed, MIN(n, 64U));
	took = virtio_console_receive(vdev, typed, n);
	if (took > n)
		fuzz_fail("virtio_console_receive took %zu of %u bytes", took, n);
}

static const struct vpf_device console = {
	.name = "virtio-console",
	.init = console_init,
	.create = console_create,
	.destroy = virtio_console_destroy,
	.host_event = console_host_event,
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	vpf_init(&console);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return vpf_run(data, size);
}
