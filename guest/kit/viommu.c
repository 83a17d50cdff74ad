/* SPDX-License-Identifier: MIT */
/* The kit's virtio-iommu driver: see viommu.h. */
#include "viommu.h"

#define REQ_TIMEOUT_US 2000000ull
#define REQ_HEAD 4  /* type, reserved[3] */
#define TAIL 4	    /* status, reserved[3] */
#define PROBE_IN 72 /* head, endpoint, reserved[64] */

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static void put64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

/* One request of @in readable bytes (already in v->req) and @out writable ones after them. */
static int viommu_send(struct viommu *v, uint32_t in, uint32_t out)
{
	struct virtio_buf b[2] = { { (uint64_t)v->req, in, false },
				   { (uint64_t)v->req + in, out, true } };
	int64_t used;

	memset(v->req + in, 0xee, out);
	used = virtq_transfer(&v->vd.vq[0], b, 2, false, REQ_TIMEOUT_US);
	if (used <= 0)
		return -1;
	return v->req[in + out - TAIL];
}

int viommu_init(struct viommu *v)
{
	uint64_t want = VIRTIO_BIT(VIOMMU_F_MAP_UNMAP) | VIRTIO_BIT(VIOMMU_F_INPUT_RANGE) |
			VIRTIO_BIT(VIOMMU_F_PROBE) | VIRTIO_BIT(VIOMMU_F_BYPASS_CONFIG);

	memset(v, 0, sizeof(*v));
	if (virtio_find(VIRTIO_ID_IOMMU, 0, &v->vd) || virtio_init(&v->vd, want))
		return -1;
	if (!(v->vd.features & VIRTIO_BIT(VIOMMU_F_MAP_UNMAP))) {
		printf("viommu: the device does not offer MAP_UNMAP\n");
		return -1;
	}
	virtio_config_read(&v->vd, 0, &v->page_size_mask, 8);
	virtio_config_read(&v->vd, 8, &v->input_start, 8);
	virtio_config_read(&v->vd, 16, &v->input_end, 8);
	virtio_config_read(&v->vd, 32, &v->probe_size, 4);
	v->req = page_zalloc();
	if (!v->req || PROBE_IN + v->probe_size + TAIL > PAGE_SIZE) {
		printf("viommu: no page for requests (probe_size %u)\n", v->probe_size);
		return -1;
	}
	if (virtio_queue_setup(&v->vd, 0, 64, VIRTIO_MSI_NO_VECTOR) ||
	    virtio_queue_setup(&v->vd, 1, 64, VIRTIO_MSI_NO_VECTOR) || virtio_driver_ok(&v->vd))
		return -1;
	return 0;
}

int viommu_attach(struct viommu *v, uint32_t domain, uint32_t endpoint, uint32_t flags)
{
	memset(v->req, 0, 20);
	v->req[0] = 1;
	put32(v->req + 4, domain);
	put32(v->req + 8, endpoint);
	put32(v->req + 12, flags);
	return viommu_send(v, 20, TAIL);
}

int viommu_detach(struct viommu *v, uint32_t domain, uint32_t endpoint)
{
	memset(v->req, 0, 20);
	v->req[0] = 2;
	put32(v->req + 4, domain);
	put32(v->req + 8, endpoint);
	return viommu_send(v, 20, TAIL);
}

int viommu_map(struct viommu *v, uint32_t domain, uint64_t virt_start, uint64_t virt_end,
	       uint64_t phys_start, uint32_t flags)
{
	memset(v->req, 0, 36);
	v->req[0] = 3;
	put32(v->req + 4, domain);
	put64(v->req + 8, virt_start);
	put64(v->req + 16, virt_end);
	put64(v->req + 24, phys_start);
	put32(v->req + 32, flags);
	return viommu_send(v, 36, TAIL);
}

int viommu_unmap(struct viommu *v, uint32_t domain, uint64_t virt_start, uint64_t virt_end)
{
	memset(v->req, 0, 28);
	v->req[0] = 4;
	put32(v->req + 4, domain);
	put64(v->req + 8, virt_start);
	put64(v->req + 16, virt_end);
	return viommu_send(v, 28, TAIL);
}

int viommu_probe(struct viommu *v, uint32_t endpoint)
{
	memset(v->req, 0, PROBE_IN);
	v->req[0] = 5;
	put32(v->req + 4, endpoint);
	return viommu_send(v, PROBE_IN, v->probe_size + TAIL);
}
