// SPDX-License-Identifier: MIT
/*
 * devices/virtio_iommu.c and iommu/viommu.c with virtio endpoints (no VFIO): configuration,
 * every request type and every hostile variant of it answered with the virtio-iommu status
 * the spec asks for while nothing else changes (checked through translations and a map that
 * still succeeds afterwards), UNMAP's whole-mapping semantics (the spec's seven examples),
 * bypass (the config bit and the ATTACH flag), PROBE's reserved regions, reset, requests the
 * device cannot answer (used length 0), the log staying rate-limited under a flood, and the
 * whole path through a real request queue.
 */
#include <endian.h>
#include <linux/virtio_iommu.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "devices/virtio_iommu.h"
#include "iommu/viommu.h"
#include "vmm/util.h"

#include "test_helpers.h"

#define RAM_SIZE (16 * SZ_1M)
#define ROM_GPA 0x2000000ULL
#define PAGE 0x1000ULL
#define EP_BLK 0x08 /* 00:01.0 */
#define EP_NET 0x10 /* 00:02.0 */
#define RING_GPA 0x100000ULL
#define REQ_GPA 0x110000ULL
#define BIT(n) (1ULL << (n))

#define ALL_FEATURES                                                                               \
	(BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_IOMMU_F_MAP_UNMAP) |                                 \
	 BIT(VIRTIO_IOMMU_F_INPUT_RANGE) | BIT(VIRTIO_IOMMU_F_PROBE) |                             \
	 BIT(VIRTIO_IOMMU_F_BYPASS_CONFIG))

struct fixture {
	uint8_t *ram, rom[PAGE];
	struct memmap *mm;
	struct virtio_device *vdev;
	struct viommu *v;
	struct viommu_endpoint *blk, *net;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct memmap_region ram = { .gpa = 0, .size = RAM_SIZE, .kind = MEMMAP_RAM, .fd = -1 };
	struct memmap_region rom = { .gpa = ROM_GPA, .size = PAGE, .kind = MEMMAP_ROM, .fd = -1 };

	assert_non_null(f);
	f->ram = aligned_alloc(PAGE, RAM_SIZE);
	assert_non_null(f->ram);
	memset(f->ram, 0, RAM_SIZE);
	ram.hva = f->ram;
	rom.hva = f->rom;
	assert_int_equal(memmap_create(&f->mm), 0);
	assert_int_equal(memmap_add_region(f->mm, &ram), 0);
	assert_int_equal(memmap_add_region(f->mm, &rom), 0);
	assert_int_equal(test_log_capture_start(), 0);
	assert_int_equal(virtio_iommu_create(f->mm, &f->vdev), 0);
	f->vdev->transport = &test_transport;
	f->vdev->features_acked = ALL_FEATURES;
	f->v = virtio_iommu_model(f->vdev);
	assert_int_equal(viommu_add_endpoint(f->v, EP_BLK, "virtio-blk", NULL, &f->blk), 0);
	assert_int_equal(viommu_add_endpoint(f->v, EP_NET, "virtio-net", NULL, &f->net), 0);
	test_log_forget();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	virtio_iommu_destroy(f->vdev);
	memmap_destroy(f->mm);
	test_log_capture_stop();
	free(f->ram);
	free(f);
	return 0;
}

/* Sends one request (readable part req/len) with room for the status only; returns the
 * status, or -1 when the device answered with used length 0. */
static int send_room(struct fixture *f, const void *req, size_t len, void *wbuf, size_t wlen)
{
	struct iovec out = { (void *)req, len }, in = { wbuf, wlen };
	uint32_t used;

	memset(wbuf, 0xee, wlen);
	used = virtio_iommu_handle_request(f->vdev, &out, 1, &in, wlen ? 1 : 0);
	if (!used) {
		for (size_t i = 0; i < wlen; i++)
			assert_int_equal(((uint8_t *)wbuf)[i], 0xee); /* nothing written */
		return -1;
	}
	assert_int_equal(used, wlen);
	assert_true(wlen >= 4);
	return *((volatile uint8_t *)wbuf + (wlen - 4));
}

static int send(struct fixture *f, const void *req, size_t len)
{
	struct virtio_iommu_req_tail tail;

	return send_room(f, req, len, &tail, sizeof(tail));
}

static int attach(struct fixture *f, uint32_t domain, uint32_t ep, uint32_t flags)
{
	struct virtio_iommu_req_attach r = { .head.type = VIRTIO_IOMMU_T_ATTACH,
					     .domain = htole32(domain),
					     .endpoint = htole32(ep),
					     .flags = htole32(flags) };

	return send(f, &r, offsetof(struct virtio_iommu_req_attach, tail));
}

static int detach(struct fixture *f, uint32_t domain, uint32_t ep)
{
	struct virtio_iommu_req_detach r = { .head.type = VIRTIO_IOMMU_T_DETACH,
					     .domain = htole32(domain),
					     .endpoint = htole32(ep) };

	return send(f, &r, offsetof(struct virtio_iommu_req_detach, tail));
}

static int map(struct fixture *f, uint32_t domain, uint64_t vs, uint64_t ve, uint64_t ps,
	       uint32_t flags)
{
	struct virtio_iommu_req_map r = { .head.type = VIRTIO_IOMMU_T_MAP,
					  .domain = htole32(domain),
					  .virt_start = htole64(vs),
					  .virt_end = htole64(ve),
					  .phys_start = htole64(ps),
					  .flags = htole32(flags) };

	return send(f, &r, offsetof(struct virtio_iommu_req_map, tail));
}

static int unmap(struct fixture *f, uint32_t domain, uint64_t vs, uint64_t ve)
{
	struct virtio_iommu_req_unmap r = { .head.type = VIRTIO_IOMMU_T_UNMAP,
					    .domain = htole32(domain),
					    .virt_start = htole64(vs),
					    .virt_end = htole64(ve) };

	return send(f, &r, offsetof(struct virtio_iommu_req_unmap, tail));
}

#define RW (VIRTIO_IOMMU_MAP_F_READ | VIRTIO_IOMMU_MAP_F_WRITE)
#define RO VIRTIO_IOMMU_MAP_F_READ

static void *xlate(struct viommu_endpoint *ep, uint64_t iova, bool write)
{
	return viommu_translate(ep, iova, 1, write);
}

static void test_config(void **state)
{
	struct fixture *f = *state;
	struct virtio_iommu_config c;
	uint64_t feat = f->vdev->ops->get_features(f->vdev);

	assert_true(feat & BIT(VIRTIO_IOMMU_F_MAP_UNMAP));
	assert_true(feat & BIT(VIRTIO_IOMMU_F_PROBE));
	assert_true(feat & BIT(VIRTIO_IOMMU_F_INPUT_RANGE));
	assert_true(feat & BIT(VIRTIO_IOMMU_F_BYPASS_CONFIG));
	assert_false(feat & BIT(VIRTIO_IOMMU_F_BYPASS)); /* off: no DMA unless attached */
	assert_false(feat & BIT(VIRTIO_IOMMU_F_MMIO));
	assert_int_equal(f->vdev->device_id, 23);
	assert_int_equal(f->vdev->config_size, sizeof(c));
	f->vdev->ops->read_config(f->vdev, 0, &c, sizeof(c));
	assert_int_equal(le64toh(c.page_size_mask), ~0xfffULL);
	assert_int_equal(le64toh(c.input_range.start), 0);
	assert_int_equal(le64toh(c.input_range.end), (1ULL << 48) - 1);
	assert_int_equal(le32toh(c.probe_size), VIRTIO_IOMMU_PROBE_SIZE);
	assert_int_equal(c.bypass, 0);
}

static void test_no_dma_until_attached_and_mapped(void **state)
{
	struct fixture *f = *state;

	/* unattached, bypass off: not even guest RAM */
	assert_null(xlate(f->blk, 0x1000, false));
	assert_int_equal(attach(f, 1, EP_BLK, 0), VIRTIO_IOMMU_S_OK);
	assert_null(xlate(f->blk, 0x1000, false));
	assert_int_equal(map(f, 1, 0x100000000ULL, 0x100001fffULL, 0x5000, RW), VIRTIO_IOMMU_S_OK);
	assert_ptr_equal(xlate(f->blk, 0x100000000ULL, true), f->ram + 0x5000);
	assert_ptr_equal(xlate(f->blk, 0x100001fffULL, false), f->ram + 0x6fff);
	assert_ptr_equal(viommu_translate(f->blk, 0x100000000ULL, 0x2000, true), f->ram + 0x5000);
	/* past the mapping's end, or another endpoint */
	assert_null(viommu_translate(f->blk, 0x100000000ULL, 0x2001, false));
	assert_null(xlate(f->blk, 0x100002000ULL, false));
	assert_null(xlate(f->net, 0x100000000ULL, false));
	assert_null(xlate(f->blk, 0x5000, false)); /* the guest-physical address itself */
}

static void test_read_only_and_no_access_mappings(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(attach(f, 1, EP_BLK, 0), VIRTIO_IOMMU_S_OK);
	assert_int_equal(map(f, 1, 0x10000, 0x10fff, 0x5000, RO), VIRTIO_IOMMU_S_OK);
	assert_int_equal(map(f, 1, 0x20000, 0x20fff, 0x6000, 0), VIRTIO_IOMMU_S_OK);
	assert_int_equal(map(f, 1, 0x30000, 0x30fff, 0x7000, VIRTIO_IOMMU_MAP_F_WRITE),
			 VIRTIO_IOMMU_S_OK);
	assert_ptr_equal(xlate(f->blk, 0x10000, false), f->ram + 0x5000);
	assert_null(xlate(f->blk, 0x10000, true));
	assert_null(xlate(f->blk, 0x20000, false));
	assert_null(xlate(f->blk, 0x20000, true));
	assert_ptr_equal(xlate(f->blk, 0x30000, true), f->ram + 0x7000);
	/* the no-access mapping still occupies its IOVAs */
	assert_int_equal(map(f, 1, 0x20000, 0x20fff, 0x8000, RW), VIRTIO_IOMMU_S_INVAL);
}

/* What a refused MAP must leave: the one good mapping, and room for a new one. */
static void expect_unchanged(struct fixture *f)
{
	struct viommu_stats s;

	assert_ptr_equal(xlate(f->blk, 0x40000, true), f->ram + 0x9000);
	assert_null(xlate(f->blk, 0x3f000, false));
	assert_null(xlate(f->blk, 0x41000, false));
	viommu_get_stats(f->v, &s);
	assert_int_equal(s.maps, 1);
}

static void test_hostile_maps(void **state)
{
	struct fixture *f = *state;
	struct virtio_iommu_req_map m = { .head.type = VIRTIO_IOMMU_T_MAP, .domain = htole32(1) };

	assert_int_equal(attach(f, 1, EP_BLK, 0), VIRTIO_IOMMU_S_OK);
	assert_int_equal(map(f, 1, 0x40000, 0x40fff, 0x9000, RW), VIRTIO_IOMMU_S_OK);
	/* unaligned start, end, physical address */
	assert_int_equal(map(f, 1, 0x50800, 0x51fff, 0xa000, RW), VIRTIO_IOMMU_S_RANGE);
	assert_int_equal(map(f, 1, 0x50000, 0x50ffe, 0xa000, RW), VIRTIO_IOMMU_S_RANGE);
	assert_int_equal(map(f, 1, 0x50000, 0x50fff, 0xa010, RW), VIRTIO_IOMMU_S_RANGE);
	/* overlapping the mapping at either end, inside it, around it */
	assert_int_equal(map(f, 1, 0x3f000, 0x40fff, 0xa000, RW), VIRTIO_IOMMU_S_INVAL);
	assert_int_equal(map(f, 1, 0x40000, 0x41fff, 0xa000, RW), VIRTIO_IOMMU_S_INVAL);
	assert_int_equal(map(f, 1, 0x30000, 0x4ffff, 0xa000, RW), VIRTIO_IOMMU_S_INVAL);
	/* end before start, a physical range that wraps */
	assert_int_equal(map(f, 1, 0x51000, 0x50fff, 0xa000, RW), VIRTIO_IOMMU_S_INVAL);
	assert_int_equal(map(f, 1, 0x50000, 0x51fff, 0xfffffffffffff000ULL, RW),
			 VIRTIO_IOMMU_S_RANGE);
	/* beyond the input range, and a range that would wrap the IOVA space */
	assert_int_equal(map(f, 1, 1ULL << 48, (1ULL << 48) + 0xfff, 0xa000, RW),
			 VIRTIO_IOMMU_S_RANGE);
	assert_int_equal(map(f, 1, 0xfffffffffffff000ULL, UINT64_MAX, 0xa000, RW),
			 VIRTIO_IOMMU_S_RANGE);
	/* the MSI doorbell window is reserved */
	assert_int_equal(map(f, 1, 0xfee00000, 0xfee00fff, 0xa000, RW), VIRTIO_IOMMU_S_RANGE);
	assert_int_equal(map(f, 1, 0xfed00000, 0xfeffffff, 0xa000, RW), VIRTIO_IOMMU_S_RANGE);
	/* not guest RAM: ROM, a hole, past the end of RAM, straddling its end */
	assert_int_equal(map(f, 1, 0x50000, 0x50fff, ROM_GPA, RW), VIRTIO_IOMMU_S_FAULT);
	assert_int_equal(map(f, 1, 0x50000, 0x50fff, 0x3000000, RW), VIRTIO_IOMMU_S_FAULT);
	assert_int_equal(map(f, 1, 0x50000, 0x51fff, RAM_SIZE - PAGE, RW), VIRTIO_IOMMU_S_FAULT);
	/* unknown flags, MMIO (not offered), a domain that does not exist */
	assert_int_equal(map(f, 1, 0x50000, 0x50fff, 0xa000, RW | 0x100), VIRTIO_IOMMU_S_INVAL);
	assert_int_equal(map(f, 1, 0x50000, 0x50fff, 0xa000, RW | VIRTIO_IOMMU_MAP_F_MMIO),
			 VIRTIO_IOMMU_S_INVAL);
	assert_int_equal(map(f, 2, 0x50000, 0x50fff, 0xa000, RW), VIRTIO_IOMMU_S_NOENT);
	/* too short for a MAP: INVAL, nothing mapped */
	m.virt_start = htole64(0x50000);
	m.virt_end = htole64(0x50fff);
	m.phys_start = htole64(0xa000);
	m.flags = htole32(RW);
	assert_int_equal(send(f, &m, offsetof(struct virtio_iommu_req_map, flags)),
			 VIRTIO_IOMMU_S_INVAL);
	expect_unchanged(f);
	/* and the IOVAs it was refused for are free */
	assert_int_equal(map(f, 1, 0x50000, 0x50fff, 0xa000, RW), VIRTIO_IOMMU_S_OK);
}

/* The spec's UNMAP examples, each from a blank address space. */
static void test_unmap_examples(void **state)
{
	struct fixture *f = *state;
	const uint64_t P = PAGE;
	struct viommu_stats s0, s1;

	assert_int_equal(attach(f, 1, EP_BLK, 0), VIRTIO_IOMMU_S_OK);
	/* (1) nothing mapped: succeeds, unmaps nothing */
	assert_int_equal(unmap(f, 1, 0, 5 * P - 1), VIRTIO_IOMMU_S_OK);
	/* (2) a = map(0, 9); unmap(0, 9) */
	assert_int_equal(map(f, 1, 0, 10 * P - 1, 0, RW), VIRTIO_IOMMU_S_OK);
	assert_int_equal(unmap(f, 1, 0, 10 * P - 1), VIRTIO_IOMMU_S_OK);
	assert_null(xlate(f->blk, 0, false));
	/* (3) a = map(0, 4); b = map(5, 9); unmap(0, 9) */
	assert_int_equal(map(f, 1, 0, 5 * P - 1, 0, RW), VIRTIO_IOMMU_S_OK);
	assert_int_equal(map(f, 1, 5 * P, 10 * P - 1, 0x100000, RW), VIRTIO_IOMMU_S_OK);
	assert_int_equal(unmap(f, 1, 0, 10 * P - 1), VIRTIO_IOMMU_S_OK);
	assert_null(xlate(f->blk, 0, false));
	assert_null(xlate(f->blk, 5 * P, false));
	/* (4) a = map(0, 9); unmap(0, 4): fails, unmaps nothing; so does a split at the end */
	assert_int_equal(map(f, 1, 0, 10 * P - 1, 0, RW), VIRTIO_IOMMU_S_OK);
	viommu_get_stats(f->v, &s0);
	assert_int_equal(unmap(f, 1, 0, 5 * P - 1), VIRTIO_IOMMU_S_RANGE);
	assert_int_equal(unmap(f, 1, 5 * P, 20 * P - 1), VIRTIO_IOMMU_S_RANGE);
	viommu_get_stats(f->v, &s1);
	assert_int_equal(s1.unmaps, s0.unmaps);
	assert_int_equal(s1.refused, s0.refused + 2);
	assert_ptr_equal(xlate(f->blk, 9 * P, false), f->ram + 9 * P);
	assert_int_equal(unmap(f, 1, 0, 10 * P - 1), VIRTIO_IOMMU_S_OK);
	/* (5) a = map(0, 4); b = map(5, 9); unmap(0, 4): only a */
	assert_int_equal(map(f, 1, 0, 5 * P - 1, 0, RW), VIRTIO_IOMMU_S_OK);
	assert_int_equal(map(f, 1, 5 * P, 10 * P - 1, 0x100000, RW), VIRTIO_IOMMU_S_OK);
	assert_int_equal(unmap(f, 1, 0, 5 * P - 1), VIRTIO_IOMMU_S_OK);
	assert_null(xlate(f->blk, 0, false));
	assert_ptr_equal(xlate(f->blk, 5 * P, false), f->ram + 0x100000);
	assert_int_equal(unmap(f, 1, 5 * P, 10 * P - 1), VIRTIO_IOMMU_S_OK);
	/* (6) a = map(0, 4); unmap(0, 9) */
	assert_int_equal(map(f, 1, 0, 5 * P - 1, 0, RW), VIRTIO_IOMMU_S_OK);
	assert_int_equal(unmap(f, 1, 0, 10 * P - 1), VIRTIO_IOMMU_S_OK);
	assert_null(xlate(f->blk, 0, false));
	/* (7) a = map(0, 4); b = map(10, 14); unmap(0, 14) */
	assert_int_equal(map(f, 1, 0, 5 * P - 1, 0, RW), VIRTIO_IOMMU_S_OK);
	assert_int_equal(map(f, 1, 10 * P, 15 * P - 1, 0x100000, RW), VIRTIO_IOMMU_S_OK);
	assert_int_equal(unmap(f, 1, 0, 15 * P - 1), VIRTIO_IOMMU_S_OK);
	assert_null(xlate(f->blk, 0, false));
	assert_null(xlate(f->blk, 10 * P, false));
	/* end before start, a domain that does not exist */
	assert_int_equal(unmap(f, 1, P, 0), VIRTIO_IOMMU_S_INVAL);
	assert_int_equal(unmap(f, 7, 0, P - 1), VIRTIO_IOMMU_S_NOENT);
	/* the whole IOVA space at once is fine too */
	assert_int_equal(map(f, 1, 0, P - 1, 0, RW), VIRTIO_IOMMU_S_OK);
	assert_int_equal(unmap(f, 1, 0, UINT64_MAX), VIRTIO_IOMMU_S_OK);
	assert_null(xlate(f->blk, 0, false));
}

static void test_attach_detach(void **state)
{
	struct fixture *f = *state;
	struct virtio_iommu_req_attach a = { .head.type = VIRTIO_IOMMU_T_ATTACH,
					     .domain = htole32(1),
					     .endpoint = htole32(EP_BLK) };
	uint64_t gen;

	/* unknown endpoint, non-zero reserved field, unknown flag */
	assert_int_equal(attach(f, 1, 0x1234, 0), VIRTIO_IOMMU_S_NOENT);
	a.reserved[2] = 1;
	assert_int_equal(send(f, &a, offsetof(struct virtio_iommu_req_attach, tail)),
			 VIRTIO_IOMMU_S_INVAL);
	assert_int_equal(attach(f, 1, EP_BLK, 2), VIRTIO_IOMMU_S_INVAL);
	/* none of them created the domain */
	assert_int_equal(map(f, 1, 0, PAGE - 1, 0, RW), VIRTIO_IOMMU_S_NOENT);

	assert_int_equal(attach(f, 1, EP_BLK, 0), VIRTIO_IOMMU_S_OK);
	assert_int_equal(attach(f, 1, EP_BLK, 0), VIRTIO_IOMMU_S_OK); /* again: no change */
	assert_int_equal(map(f, 1, 0, PAGE - 1, 0x3000, RW), VIRTIO_IOMMU_S_OK);
	/* a second endpoint in the same domain sees the same mappings */
	assert_int_equal(attach(f, 1, EP_NET, 0), VIRTIO_IOMMU_S_OK);
	assert_ptr_equal(xlate(f->net, 0, false), f->ram + 0x3000);
	/* moving blk to domain 2: it leaves 1 (still alive for net) */
	gen = viommu_generation(f->v);
	assert_int_equal(attach(f, 2, EP_BLK, 0), VIRTIO_IOMMU_S_OK);
	assert_true(viommu_generation(f->v) != gen);
	assert_null(xlate(f->blk, 0, false));
	assert_ptr_equal(xlate(f->net, 0, false), f->ram + 0x3000);
	/* detach: unknown endpoint, wrong domain, a domain that does not exist */
	assert_int_equal(detach(f, 1, 0x1234), VIRTIO_IOMMU_S_NOENT);
	assert_int_equal(detach(f, 2, EP_NET), VIRTIO_IOMMU_S_INVAL);
	assert_int_equal(detach(f, 9, EP_NET), VIRTIO_IOMMU_S_INVAL);
	assert_ptr_equal(xlate(f->net, 0, false), f->ram + 0x3000);
	/* the last endpoint leaving ends the domain and its mappings */
	assert_int_equal(detach(f, 1, EP_NET), VIRTIO_IOMMU_S_OK);
	assert_null(xlate(f->net, 0, false));
	assert_int_equal(map(f, 1, 0, PAGE - 1, 0x3000, RW), VIRTIO_IOMMU_S_NOENT);
	assert_int_equal(attach(f, 1, EP_NET, 0), VIRTIO_IOMMU_S_OK);
	assert_null(xlate(f->net, 0, false));
}

static void test_bypass(void **state)
{
	struct fixture *f = *state;
	uint8_t one = 1, zero = 0, two = 2;
	struct virtio_iommu_config c;

	/* a bypass domain: identity, and no MAP/UNMAP on it */
	assert_int_equal(attach(f, 3, EP_BLK, VIRTIO_IOMMU_ATTACH_F_BYPASS), VIRTIO_IOMMU_S_OK);
	assert_ptr_equal(xlate(f->blk, 0x4000, true), f->ram + 0x4000);
	assert_ptr_equal(xlate(f->blk, ROM_GPA, false), f->rom);
	assert_null(xlate(f->blk, ROM_GPA, true));
	assert_null(xlate(f->blk, 0x3000000, false)); /* a hole stays a hole */
	assert_int_equal(map(f, 3, 0, PAGE - 1, 0, RW), VIRTIO_IOMMU_S_INVAL);
	assert_int_equal(unmap(f, 3, 0, PAGE - 1), VIRTIO_IOMMU_S_INVAL);
	/* its flag must match the domain's kind */
	assert_int_equal(attach(f, 3, EP_NET, 0), VIRTIO_IOMMU_S_INVAL);
	assert_int_equal(attach(f, 4, EP_NET, 0), VIRTIO_IOMMU_S_OK);
	assert_int_equal(attach(f, 4, EP_BLK, VIRTIO_IOMMU_ATTACH_F_BYPASS), VIRTIO_IOMMU_S_INVAL);
	assert_ptr_equal(xlate(f->blk, 0x4000, true), f->ram + 0x4000);
	/* without BYPASS_CONFIG negotiated the flag is unknown */
	f->vdev->features_acked &= ~BIT(VIRTIO_IOMMU_F_BYPASS_CONFIG);
	assert_int_equal(attach(f, 5, EP_NET, VIRTIO_IOMMU_ATTACH_F_BYPASS), VIRTIO_IOMMU_S_INVAL);
	f->vdev->ops->write_config(f->vdev, offsetof(struct virtio_iommu_config, bypass), &one, 1);
	assert_false(viommu_bypass(f->v));
	f->vdev->features_acked |= BIT(VIRTIO_IOMMU_F_BYPASS_CONFIG);

	/* the config bit: unattached endpoints bypass; 2 is not a value */
	assert_int_equal(detach(f, 4, EP_NET), VIRTIO_IOMMU_S_OK);
	assert_null(xlate(f->net, 0x4000, false));
	f->vdev->ops->write_config(f->vdev, offsetof(struct virtio_iommu_config, bypass), &two, 1);
	assert_null(xlate(f->net, 0x4000, false));
	f->vdev->ops->write_config(f->vdev, offsetof(struct virtio_iommu_config, bypass), &one, 1);
	f->vdev->ops->read_config(f->vdev, 0, &c, sizeof(c));
	assert_int_equal(c.bypass, 1);
	assert_ptr_equal(xlate(f->net, 0x4000, true), f->ram + 0x4000);
	/* attached endpoints keep their domain's view */
	assert_int_equal(attach(f, 6, EP_NET, 0), VIRTIO_IOMMU_S_OK);
	assert_null(xlate(f->net, 0x4000, false));
	/* a reset detaches everything; the bypass setting stays */
	viommu_reset(f->v);
	assert_ptr_equal(xlate(f->net, 0x4000, true), f->ram + 0x4000);
	f->vdev->ops->write_config(f->vdev, offsetof(struct virtio_iommu_config, bypass), &zero, 1);
	assert_null(xlate(f->net, 0x4000, false));
	assert_null(xlate(f->blk, 0x4000, false));
}

static void test_probe(void **state)
{
	struct fixture *f = *state;
	struct virtio_iommu_req_probe p = { .head.type = VIRTIO_IOMMU_T_PROBE,
					    .endpoint = htole32(EP_BLK) };
	static uint8_t w[VIRTIO_IOMMU_PROBE_SIZE + 4];
	struct virtio_iommu_probe_resv_mem r;

	p.reserved[3] = 0x55; /* ignored */
	assert_int_equal(send_room(f, &p, sizeof(p), w, sizeof(w)), VIRTIO_IOMMU_S_OK);
	memcpy(&r, w, sizeof(r));
	assert_int_equal(le16toh(r.head.type), VIRTIO_IOMMU_PROBE_T_RESV_MEM);
	assert_int_equal(le16toh(r.head.length), sizeof(r) - 4);
	assert_int_equal(r.subtype, VIRTIO_IOMMU_RESV_MEM_T_MSI);
	assert_int_equal(le64toh(r.start), 0xfee00000);
	assert_int_equal(le64toh(r.end), 0xfeefffff);
	/* the rest of probe_size is zero: the property list ends */
	for (size_t i = sizeof(r); i < VIRTIO_IOMMU_PROBE_SIZE; i++)
		assert_int_equal(w[i], 0);
	/* unknown endpoint; too little room for probe_size: INVAL and no property written */
	p.endpoint = htole32(0x4242);
	assert_int_equal(send_room(f, &p, sizeof(p), w, sizeof(w)), VIRTIO_IOMMU_S_NOENT);
	p.endpoint = htole32(EP_BLK);
	assert_int_equal(send_room(f, &p, sizeof(p), w, 64), VIRTIO_IOMMU_S_INVAL);
	for (size_t i = 0; i < 60; i++)
		assert_int_equal(w[i], 0xee);
	/* without PROBE negotiated the device does not answer at all */
	f->vdev->features_acked &= ~BIT(VIRTIO_IOMMU_F_PROBE);
	assert_int_equal(send_room(f, &p, sizeof(p), w, sizeof(w)), -1);
}

static void test_unanswerable_requests(void **state)
{
	struct fixture *f = *state;
	struct virtio_iommu_req_attach a = { .head.type = VIRTIO_IOMMU_T_ATTACH,
					     .domain = htole32(1),
					     .endpoint = htole32(EP_BLK) };
	uint8_t junk[8] = { 0x42 }, w[4];
	struct iovec out = { &a, 20 };
	unsigned lines = 0;
	const char *p;

	/* no room for the status; an unknown type; nothing readable */
	assert_int_equal(virtio_iommu_handle_request(f->vdev, &out, 1, NULL, 0), 0);
	assert_int_equal(send_room(f, &a, 20, w, 3), -1);
	assert_int_equal(send_room(f, junk, sizeof(junk), w, sizeof(w)), -1);
	assert_int_equal(send_room(f, junk, 0, w, sizeof(w)), -1);
	/* MAP without MAP_UNMAP negotiated is not a request this device knows */
	f->vdev->features_acked &= ~BIT(VIRTIO_IOMMU_F_MAP_UNMAP);
	assert_int_equal(map(f, 1, 0, PAGE - 1, 0, RW), -1);
	/* none of them attached anything */
	assert_null(viommu_translate(f->blk, 0, 0, false));
	f->vdev->features_acked |= BIT(VIRTIO_IOMMU_F_MAP_UNMAP);
	assert_int_equal(map(f, 1, 0, PAGE - 1, 0, RW), VIRTIO_IOMMU_S_NOENT);

	/* a flood of bad requests: the log stays within the rate limit */
	test_log_forget();
	for (int i = 0; i < 1000; i++) {
		assert_int_equal(send_room(f, junk, sizeof(junk), w, sizeof(w)), -1);
		assert_int_equal(map(f, 99, 1, 0, 0, RW), VIRTIO_IOMMU_S_NOENT);
		assert_int_equal(attach(f, 1, 0x999, 0), VIRTIO_IOMMU_S_NOENT);
	}
	for (p = test_log_text(); (p = strchr(p, '\n')); p++)
		lines++;
	assert_true(lines <= LOG_RATELIMIT_BURST + 1);
}

/* The same path as a guest: requests in guest RAM through the request queue. */
static void test_through_the_queue(void **state)
{
	struct fixture *f = *state;
	struct virtqueue *vq = &f->vdev->vqs[0];
	struct test_vring ring;
	struct virtio_iommu_req_attach a = { .head.type = VIRTIO_IOMMU_T_ATTACH,
					     .domain = htole32(7),
					     .endpoint = htole32(EP_NET) };
	struct virtio_iommu_req_map m = { .head.type = VIRTIO_IOMMU_T_MAP,
					  .domain = htole32(7),
					  .virt_start = htole64(0x8000000),
					  .virt_end = htole64(0x8000fff),
					  .phys_start = htole64(0x200000),
					  .flags = htole32(RW) };
	const uint64_t a_gpa = REQ_GPA, m_gpa = REQ_GPA + 0x100;
	struct test_seg sa[2] = { { a_gpa, 20, false }, { a_gpa + 20, 4, true } };
	struct test_seg sm[2] = { { m_gpa, 36, false }, { m_gpa + 36, 4, true } };
	int kick_fd;

	memcpy(f->ram + a_gpa, &a, sizeof(a));
	memcpy(f->ram + m_gpa, &m, sizeof(m));
	f->ram[a_gpa + 20] = 0xee;
	f->ram[m_gpa + 36] = 0xee;
	test_vring_start(&ring, vq, f->mm, 16, RING_GPA, RING_GPA + 0x100, RING_GPA + 0x200);
	kick_fd = vq->kick_fd;
	f->vdev->features_acked = 0;
	test_device_driver_ok(f->vdev, ALL_FEATURES);
	/* a batch of two, one kick (as Linux sends them) */
	test_vring_add(&ring, sa, 2);
	test_vring_add(&ring, sm, 2);
	test_vring_kick(&ring);
	assert_vring_used(&ring, 2);
	assert_int_equal(f->ram[a_gpa + 20], VIRTIO_IOMMU_S_OK);
	assert_int_equal(f->ram[m_gpa + 36], VIRTIO_IOMMU_S_OK);
	assert_int_equal(ring.used->ring[0].len, 4);
	assert_ptr_equal(xlate(f->net, 0x8000000, true), f->ram + 0x200000);
	/* the same MAP again: INVAL through the queue too */
	test_vring_add(&ring, sm, 2);
	test_vring_kick(&ring);
	assert_vring_used(&ring, 3);
	assert_int_equal(f->ram[m_gpa + 36], VIRTIO_IOMMU_S_INVAL);
	/* the driver's reset detaches the endpoint */
	test_device_reset(f->vdev);
	assert_null(xlate(f->net, 0x8000000, false));
	close(kick_fd);
	vq->kick_fd = -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_dma_until_attached_and_mapped, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_read_only_and_no_access_mappings, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_hostile_maps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unmap_examples, setup, teardown),
		cmocka_unit_test_setup_teardown(test_attach_detach, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bypass, setup, teardown),
		cmocka_unit_test_setup_teardown(test_probe, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unanswerable_requests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_through_the_queue, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
