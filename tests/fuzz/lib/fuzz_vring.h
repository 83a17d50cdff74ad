/* SPDX-License-Identifier: MIT */
/*
 * The guest driver's side of a split virtqueue, for fuzz targets: rings laid out in fuzz_ram,
 * chains built from the fuzzer's input (segment count, lengths, device-writable or not,
 * direct or through an indirect table, readable bytes) in a data area handed out round robin,
 * and published on the avail ring as a driver does. Nothing here trusts what the device
 * wrote back.
 */
#ifndef PTVM_TESTS_FUZZ_VRING_H
#define PTVM_TESTS_FUZZ_VRING_H

#include <linux/virtio_ring.h>

#include "tests/fuzz/lib/fuzz_lib.h"

/* One queue's rings: a size-256 ring takes 6670 bytes. */
#define FUZZ_VRING_AREA 0x2000
#define FUZZ_VRING_MAX 256

struct fuzz_vring {
	struct fuzz_ram *ram;
	uint64_t desc_gpa, avail_gpa, used_gpa;
	uint16_t size; /* 0: not set up */
	uint16_t next_desc, avail_idx;
};

/* Where chains' buffers go: [start, end) of guest RAM, handed out round robin. */
struct fuzz_databuf {
	uint64_t start, end, next;
};

static inline void *fuzz_gpa(struct fuzz_ram *ram, uint64_t gpa, uint64_t len)
{
	if (gpa < ram->gpa || gpa - ram->gpa > ram->size || len > ram->size - (gpa - ram->gpa))
		return NULL;
	return ram->hva + (gpa - ram->gpa);
}

/* Lays out a ring of @size entries at @gpa (FUZZ_VRING_AREA bytes) and clears it. */
static inline void fuzz_vring_init(struct fuzz_vring *r, struct fuzz_ram *ram, uint64_t gpa,
				   uint16_t size)
{
	void *area = fuzz_gpa(ram, gpa, FUZZ_VRING_AREA);

	if (!area || size > FUZZ_VRING_MAX)
		fuzz_fail("ring of %u at 0x%llx does not fit", size, (unsigned long long)gpa);
	memset(area, 0, FUZZ_VRING_AREA);
	*r = (struct fuzz_vring){
		.ram = ram,
		.desc_gpa = gpa,
		.avail_gpa = gpa + 16ULL * size,
		.used_gpa = (gpa + 16ULL * size + 6 + 2ULL * size + 3) & ~3ULL,
		.size = size,
	};
}

static inline uint64_t fuzz_data_alloc(struct fuzz_databuf *b, uint64_t len)
{
	uint64_t gpa;

	len = (len + 15) & ~15ULL;
	if (len > b->end - b->start)
		len = b->end - b->start;
	if (b->next + len > b->end)
		b->next = b->start;
	gpa = b->next;
	b->next += len;
	return gpa;
}

static inline void fuzz_vring_desc(struct vring_desc *d, uint64_t addr, uint32_t len,
				   uint16_t flags, uint16_t next)
{
	d->addr = addr;
	d->len = len;
	d->flags = flags;
	d->next = next;
}

/*
 * Builds one chain from the input and publishes it: shape = u8 (segments 1 + bits 0-2,
 * bit 3 indirect), then per segment u16 (length bits 0-12, bit 15 device-writable), then the
 * readable segments' bytes (as many as their lengths; zeros past the end of the input).
 * Returns false when the ring is not set up.
 */
static inline bool fuzz_vring_add_chain(struct fuzz_vring *r, struct fuzz_databuf *b,
					struct fuzz_in *in, uint8_t shape)
{
	unsigned n = 1 + (shape & 7);
	bool indirect = shape & 8;
	struct vring_desc *table, *ring_desc;
	struct vring_avail *avail;
	uint16_t head, lens[8];
	uint64_t table_gpa = 0;

	if (!r->size)
		return false;
	ring_desc = fuzz_gpa(r->ram, r->desc_gpa, 16ULL * r->size);
	avail = fuzz_gpa(r->ram, r->avail_gpa, 6 + 2ULL * r->size);
	for (unsigned i = 0; i < n; i++)
		lens[i] = fuzz_u16(in);
	if (indirect) {
		table_gpa = fuzz_data_alloc(b, 16ULL * n);
		table = fuzz_gpa(r->ram, table_gpa, 16ULL * n);
	} else {
		table = ring_desc;
	}
	head = r->next_desc;
	for (unsigned i = 0; i < n; i++) {
		uint32_t len = lens[i] & 0x1fff;
		bool write = lens[i] & 0x8000;
		uint64_t gpa = fuzz_data_alloc(b, len);
		uint16_t d = indirect ? (uint16_t)i : (uint16_t)((head + i) % r->size);
		uint16_t next = indirect ? (uint16_t)(i + 1) : (uint16_t)((d + 1) % r->size);
		uint16_t flags = (uint16_t)((write ? VRING_DESC_F_WRITE : 0) |
					    (i + 1 < n ? VRING_DESC_F_NEXT : 0));

		if (!write)
			fuzz_in_bytes(in, fuzz_gpa(r->ram, gpa, len), len);
		fuzz_vring_desc(&table[d], gpa, len, flags, next);
	}
	if (indirect) {
		fuzz_vring_desc(&ring_desc[head], table_gpa, 16 * n, VRING_DESC_F_INDIRECT, 0);
		r->next_desc = (uint16_t)((head + 1) % r->size);
	} else {
		r->next_desc = (uint16_t)((head + n) % r->size);
	}
	avail->ring[r->avail_idx % r->size] = head;
	__atomic_store_n(&avail->idx, ++r->avail_idx, __ATOMIC_RELEASE);
	return true;
}

/* The driver's event index (used_event, after the avail ring): interrupt after entry @idx. */
static inline void fuzz_vring_set_used_event(struct fuzz_vring *r, uint16_t idx)
{
	struct vring_avail *avail;

	if (!r->size)
		return;
	avail = fuzz_gpa(r->ram, r->avail_gpa, 6 + 2ULL * r->size);
	__atomic_store_n(&avail->ring[r->size], idx, __ATOMIC_RELAXED);
}

#endif
