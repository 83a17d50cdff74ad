// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the split-virtqueue walker: the input is a guest's view of a queue —
 * a header choosing the ring size, features and ring addresses, then the bytes of a small
 * guest RAM holding whatever descriptor table, avail and used rings the fuzzer makes up.
 * The walker pops every chain it is offered and pushes each back. Guest RAM is one
 * exact-size allocation, so ASan catches any access outside it; every iovec the walker
 * returns is checked to lie inside it, and written lengths never exceed the chain's
 * writable part.
 *
 * Built and run by `make fuzz` (clang with libFuzzer from Debian's libclang-rt).
 *
 * FUZZ_SOURCES: devices/virtqueue.c
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "devices/virtqueue.h"
#include "tests/fuzz/lib/fuzz_lib.h"
#include "vmm/memmap.h"

#define RAM_GPA 0x10000ULL
#define RAM_SIZE 0x8000ULL

static struct memmap *mm;
static uint8_t *ram;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct memmap_region r = { .gpa = RAM_GPA, .size = RAM_SIZE, .kind = MEMMAP_RAM, .fd = -1 };

	fuzz_lib_init(0);
	ram = malloc(RAM_SIZE);
	if (!ram || memmap_create(&mm))
		abort();
	r.hva = ram;
	if (memmap_add_region(mm, &r))
		abort();
	return 0;
}

static void check_iov(const struct iovec *iov, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		uint8_t *b = iov[i].iov_base;

		if (b < ram || b + iov[i].iov_len > ram + RAM_SIZE)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct virtqueue_elem elem;
	struct virtqueue vq;
	uint16_t hdr[4];
	int ret;

	if (size < sizeof(hdr))
		return 0;
	fuzz_input_begin();
	memcpy(hdr, data, sizeof(hdr));
	memset(ram, 0, RAM_SIZE);
	memcpy(ram, data + sizeof(hdr),
	       size - sizeof(hdr) < RAM_SIZE ? size - sizeof(hdr) : RAM_SIZE);

	memset(&vq, 0, sizeof(vq));
	vq.kick_fd = -1;
	virtqueue_reset(&vq, 0, VIRTQUEUE_MAX_SIZE);
	vq.size = (uint16_t)(1u << (hdr[0] & 7)); /* 1..128 */
	if (hdr[0] & 0x100)
		vq.size = hdr[0] >> 9; /* also sizes that are no power of two */
	vq.event_idx = hdr[0] & 0x10;
	vq.indirect = hdr[0] & 0x20;
	/* ring addresses anywhere around guest RAM, including just outside it */
	vq.desc_gpa = RAM_GPA - 0x100 + hdr[1];
	vq.avail_gpa = RAM_GPA - 0x100 + hdr[2];
	vq.used_gpa = RAM_GPA - 0x100 + hdr[3];
	vq.enabled = true;
	if (virtqueue_start(&vq, mm)) {
		fuzz_input_end();
		return 0;
	}
	for (unsigned n = 0; n < 2u * VIRTQUEUE_MAX_SIZE; n++) {
		ret = virtqueue_pop(&vq, &elem);
		if (ret <= 0)
			break;
		check_iov(elem.out, elem.n_out);
		check_iov(elem.in, elem.n_in);
		virtqueue_push(&vq, &elem, (uint32_t)elem.in_len + 1);
		virtqueue_should_notify(&vq);
	}
	virtqueue_enable_notify(&vq);
	fuzz_input_end();
	return 0;
}
