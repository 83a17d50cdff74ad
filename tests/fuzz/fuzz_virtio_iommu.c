// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the virtio-iommu request parser and the vIOMMU model behind it: the
 * input is a sequence of requests, each a small header (readable length, writable length,
 * how the buffers are split into segments, whether the driver resets or flips bypass first)
 * followed by the readable bytes. Every request goes through virtio_iommu_handle_request
 * with buffers that are exact-size allocations (ASan catches any access past them); the
 * used length never exceeds the writable part; after each request every endpoint's
 * translation of a few fuzzer-chosen IOVAs lies inside the guest RAM allocation.
 *
 * Built and run by `make fuzz` (clang with libFuzzer from Debian's libclang-rt).
 *
 * FUZZ_SOURCES: devices/virtio_iommu.c iommu/viommu.c
 */
#include <linux/virtio_config.h>
#include <linux/virtio_iommu.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "devices/virtio_iommu.h"
#include "iommu/viommu.h"
#include "vmm/log.h"
#include "vmm/memmap.h"

#define RAM_GPA 0x0ULL
#define RAM_SIZE 0x40000ULL /* 256 KiB of guest RAM */
#define NR_EP 3

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct memmap *mm;
static uint8_t *ram;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct memmap_region r = { .gpa = RAM_GPA, .size = RAM_SIZE, .kind = MEMMAP_RAM, .fd = -1 };

	log_level = LOG_ERR; /* refused requests are the point: keep the fuzzer quiet */
	ram = aligned_alloc(0x1000, RAM_SIZE);
	if (!ram || memmap_create(&mm))
		abort();
	r.hva = ram;
	if (memmap_add_region(mm, &r))
		abort();
	return 0;
}

static void check_translations(struct viommu_endpoint **eps, const uint8_t *probe, size_t n)
{
	for (unsigned e = 0; e < NR_EP; e++) {
		for (size_t i = 0; i + 8 <= n; i += 8) {
			uint64_t iova;
			uint8_t *p;

			memcpy(&iova, probe + i, 8);
			p = viommu_translate(eps[e], iova, 1 + (probe[i] & 0xff), probe[i] & 1);
			if (p && (p < ram || p + 1 + (probe[i] & 0xff) > ram + RAM_SIZE))
				abort();
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct viommu_endpoint *eps[NR_EP];
	struct virtio_device *vdev;
	struct viommu *v;
	unsigned steps = 0;

	if (virtio_iommu_create(mm, &vdev))
		abort();
	vdev->features_acked = (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_IOMMU_F_MAP_UNMAP) |
			       (1ULL << VIRTIO_IOMMU_F_PROBE) |
			       (1ULL << VIRTIO_IOMMU_F_INPUT_RANGE) |
			       (1ULL << VIRTIO_IOMMU_F_BYPASS_CONFIG);
	v = virtio_iommu_model(vdev);
	for (unsigned e = 0; e < NR_EP; e++)
		if (viommu_add_endpoint(v, e * 8, "fuzz", NULL, &eps[e]))
			abort();

	/* record: out_len (1), in_len (2), split (1), flags (1), out bytes */
	while (size >= 5 && steps++ < 256) {
		size_t out_len = data[0], in_len = data[1] | (size_t)(data[2] & 0x07) << 8;
		unsigned split = data[3], flags = data[4];
		struct iovec out[2], in[2];
		unsigned n_out = 0, n_in = 0;
		uint8_t *ob, *ib;
		uint32_t used;
		size_t cut;

		data += 5;
		size -= 5;
		if (out_len > size)
			out_len = size;
		if (flags & 1)
			viommu_reset(v);
		if (flags & 2) {
			uint8_t b = (flags >> 2) & 1;

			vdev->ops->write_config(vdev, 36, &b, 1); /* bypass */
		}
		ob = malloc(out_len ? out_len : 1);
		ib = malloc(in_len ? in_len : 1);
		if (!ob || !ib)
			abort();
		memcpy(ob, data, out_len);
		/* each part in one or two segments, cut where the fuzzer says */
		cut = out_len ? (split & 0x0f) % (out_len + 1) : 0;
		if (cut)
			out[n_out++] = (struct iovec){ ob, cut };
		if (out_len > cut)
			out[n_out++] = (struct iovec){ ob + cut, out_len - cut };
		cut = in_len ? ((size_t)(split >> 4) * 67) % (in_len + 1) : 0;
		if (cut)
			in[n_in++] = (struct iovec){ ib, cut };
		if (in_len > cut)
			in[n_in++] = (struct iovec){ ib + cut, in_len - cut };
		used = virtio_iommu_handle_request(vdev, out, n_out, in, n_in);
		if (used > in_len)
			abort();
		check_translations(eps, data, out_len);
		free(ob);
		free(ib);
		data += out_len;
		size -= out_len;
	}
	virtio_iommu_destroy(vdev);
	return 0;
}
