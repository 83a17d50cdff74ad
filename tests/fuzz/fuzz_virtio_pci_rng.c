// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the virtio-pci transport driven as a state machine (lib/virtio_pci_fuzz.h)
 * with virtio-rng behind it, its I/O thread live, reading /dev/zero (the bytes do not matter,
 * the same path runs as with /dev/urandom and inputs replay alike) or, with the machine byte's
 * bit 3, a pipe that has nothing until the host writes to it (a blocking source: requests
 * wait in the ring while the source is watched).
 * Host events (op 11): u8; bit 0: u8 n, then n bytes written into the pipe; bit 1: the
 * writer hangs up (the source reads end-of-file from then on).
 *
 * FUZZ_SOURCES: devices/virtio_pci.c devices/virtio_rng.c devices/virtio.c devices/virtqueue.c
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "devices/virtio_rng.h"
#include "tests/fuzz/lib/virtio_pci_fuzz.h"

static int pipe_fds[2] = { -1, -1 };

static int rng_create(struct memmap *mm, uint8_t opts, struct virtio_device **out)
{
	struct virtio_rng_config c;
	char spec[64] = "src=/dev/zero";
	int ret;

	if (opts & 1) {
		if (pipe2(pipe_fds, O_CLOEXEC | O_NONBLOCK))
			fuzz_fail("pipe: %s", strerror(errno));
		snprintf(spec, sizeof(spec), "src=/proc/self/fd/%d", pipe_fds[0]);
	}
	if (virtio_rng_parse(spec, &c))
		fuzz_fail("virtio_rng_parse");
	ret = virtio_rng_create(&c, mm, out);
	if (pipe_fds[0] >= 0) {
		close(pipe_fds[0]); /* the device opened its own */
		pipe_fds[0] = -1;
	}
	return ret;
}

static void rng_destroy(struct virtio_device *vdev)
{
	virtio_rng_destroy(vdev);
	if (pipe_fds[1] >= 0)
		close(pipe_fds[1]);
	pipe_fds[1] = -1;
}

static void rng_host_event(struct virtio_device *vdev, struct fuzz_in *in)
{
	uint8_t e = fuzz_u8(in), buf[256];

	if (e & 1) {
		unsigned n = fuzz_u8(in);

		fuzz_in_bytes(in, buf, n);
		if (pipe_fds[1] >= 0 && write(pipe_fds[1], buf, n) < 0 && errno != EAGAIN)
			fuzz_fail("pipe write: %s", strerror(errno));
	}
	if ((e & 2) && pipe_fds[1] >= 0) {
		close(pipe_fds[1]);
		pipe_fds[1] = -1;
	}
}

static const struct vpf_device rng = {
	.name = "virtio-rng",
	.create = rng_create,
	.destroy = rng_destroy,
	.host_event = rng_host_event,
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
