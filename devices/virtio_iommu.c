// SPDX-License-Identifier: MIT
#include "devices/virtio_iommu.h"

#include <endian.h>
#include <errno.h>
#include <linux/virtio_iommu.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "iommu/viommu.h"
#include "vmm/log.h"
#include "vmm/util.h"

#define VIRTIO_IOMMU_REQUEST_VQ 0
/* how long the I/O thread waits for the next request before it sleeps (virtio_iommu_poll) */
#define VIRTIO_IOMMU_POLL_NS 20000
/* ... and how many such waits one notification may take before the thread looks at its
 * other fds (a stop included): a guest that never stops cannot keep a reset waiting */
#define VIRTIO_IOMMU_POLL_ROUNDS 256
#define VIRTIO_IOMMU_EVENT_VQ 1

#define VIRTIO_IOMMU_FEATURES                                                                      \
	((1ULL << VIRTIO_IOMMU_F_MAP_UNMAP) | (1ULL << VIRTIO_IOMMU_F_INPUT_RANGE) |               \
	 (1ULL << VIRTIO_IOMMU_F_PROBE) | (1ULL << VIRTIO_IOMMU_F_BYPASS_CONFIG))

/* The guest ABI, checked against the kernel's header. */
_Static_assert(sizeof(struct virtio_iommu_config) == 40, "virtio_iommu_config");
_Static_assert(sizeof(struct virtio_iommu_req_attach) == 24, "virtio_iommu_req_attach");
_Static_assert(sizeof(struct virtio_iommu_req_detach) == 24, "virtio_iommu_req_detach");
_Static_assert(sizeof(struct virtio_iommu_req_map) == 40, "virtio_iommu_req_map");
_Static_assert(sizeof(struct virtio_iommu_req_unmap) == 32, "virtio_iommu_req_unmap");
_Static_assert(sizeof(struct virtio_iommu_req_probe) == 72, "virtio_iommu_req_probe");
_Static_assert(sizeof(struct virtio_iommu_probe_resv_mem) == 24, "virtio_iommu_probe_resv_mem");

/* The largest device-readable part of a request: PROBE's head, endpoint and reserved. */
#define VIRTIO_IOMMU_REQ_MAX sizeof(struct virtio_iommu_req_probe)

/* A virtio endpoint's translation: the queues' hook, over the model's lookup. */
struct virtio_iommu_client {
	struct virtqueue_dma dma;
	struct viommu_endpoint *ep;
	struct viommu *model;
};

struct virtio_iommu {
	struct virtio_device vdev;
	struct viommu *model;
	struct log_ratelimit rl;    /* what a guest's malformed requests make it say */
	struct virtqueue_elem elem; /* the request being handled (I/O thread only) */
	struct virtio_iommu_client clients[VIOMMU_MAX_ENDPOINTS];
};

static struct virtio_iommu *to_vi(struct virtio_device *vdev)
{
	return container_of(vdev, struct virtio_iommu, vdev);
}

struct viommu *virtio_iommu_model(struct virtio_device *vdev)
{
	return to_vi(vdev)->model;
}

static void *virtio_iommu_client_map(const struct virtqueue_dma *d, uint64_t addr, uint64_t *len,
				     bool write)
{
	const struct virtio_iommu_client *c = container_of(d, struct virtio_iommu_client, dma);

	return viommu_translate_piece(c->ep, addr, len, write);
}

static uint64_t virtio_iommu_client_generation(const struct virtqueue_dma *d)
{
	const struct virtio_iommu_client *c = container_of(d, struct virtio_iommu_client, dma);

	return viommu_generation(c->model);
}

static void virtio_device_set_dma(struct virtio_device *vdev, const struct virtqueue_dma *dma)
{
	vdev->dma = dma;
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
		vdev->vqs[q].dma = dma;
}

int virtio_iommu_add_virtio(struct virtio_device *viommu, struct virtio_device *vdev, uint32_t id,
			    struct viommu_endpoint **out)
{
	struct virtio_iommu *vi = to_vi(viommu);
	struct virtio_iommu_client *c = NULL;
	int ret;

	for (unsigned i = 0; i < ARRAY_SIZE(vi->clients) && !c; i++)
		if (!vi->clients[i].ep)
			c = &vi->clients[i];
	if (!c)
		return -ENOSPC;
	ret = viommu_add_endpoint(vi->model, id, vdev->name, NULL, &c->ep);
	if (ret)
		return ret;
	c->model = vi->model;
	c->dma = (struct virtqueue_dma){ .map = virtio_iommu_client_map,
					 .generation = virtio_iommu_client_generation };
	virtio_device_set_dma(vdev, &c->dma);
	*out = c->ep;
	return 0;
}

void virtio_iommu_remove_virtio(struct virtio_device *viommu, struct viommu_endpoint *ep)
{
	struct virtio_iommu *vi = to_vi(viommu);

	if (!ep)
		return;
	viommu_remove_endpoint(vi->model, ep);
	for (unsigned i = 0; i < ARRAY_SIZE(vi->clients); i++)
		if (vi->clients[i].ep == ep)
			vi->clients[i].ep = NULL;
}

static uint64_t virtio_iommu_get_features(struct virtio_device *vdev)
{
	return VIRTIO_IOMMU_FEATURES;
}

static void virtio_iommu_config(struct virtio_iommu *vi, struct virtio_iommu_config *c)
{
	uint64_t start, end;

	viommu_input_range(vi->model, &start, &end);
	*c = (struct virtio_iommu_config){
		.page_size_mask = htole64(viommu_page_size_mask(vi->model)),
		.input_range = { htole64(start), htole64(end) },
		/* DOMAIN_RANGE is not offered: any 32-bit domain ID is valid */
		.domain_range = { 0, htole32(UINT32_MAX) },
		.probe_size = htole32(VIRTIO_IOMMU_PROBE_SIZE),
		.bypass = viommu_bypass(vi->model),
	};
}

static void virtio_iommu_read_config(struct virtio_device *vdev, unsigned offset, void *data,
				     unsigned len)
{
	struct virtio_iommu_config c;

	virtio_iommu_config(to_vi(vdev), &c);
	memcpy(data, (uint8_t *)&c + offset, len);
}

/* Only bypass is writable, and only with BYPASS_CONFIG; other values than 0 and 1 are
 * the driver's mistake and ignored. */
static void virtio_iommu_write_config(struct virtio_device *vdev, unsigned offset, const void *data,
				      unsigned len)
{
	struct virtio_iommu *vi = to_vi(vdev);
	uint8_t v;

	if (offset != offsetof(struct virtio_iommu_config, bypass) || len != 1 ||
	    !virtio_has_feature(vdev, VIRTIO_IOMMU_F_BYPASS_CONFIG))
		return;
	memcpy(&v, data, 1);
	if (v > 1)
		return;
	if (viommu_set_bypass(vi->model, v))
		log_printf_ratelimited(&vi->rl, LOG_WARN,
				       "%s: bypass %u: a container could not follow", vdev->name,
				       v);
}

/* The model's -errno as the request's status. */
static uint8_t virtio_iommu_status(int err)
{
	switch (err) {
	case 0:
		return VIRTIO_IOMMU_S_OK;
	case -EINVAL:
		return VIRTIO_IOMMU_S_INVAL;
	case -ERANGE:
		return VIRTIO_IOMMU_S_RANGE;
	case -ENOENT:
		return VIRTIO_IOMMU_S_NOENT;
	case -EFAULT:
		return VIRTIO_IOMMU_S_FAULT;
	case -ENOSPC:
	case -ENOMEM:
		return VIRTIO_IOMMU_S_NOMEM;
	case -EOPNOTSUPP:
		return VIRTIO_IOMMU_S_UNSUPP;
	default:
		return VIRTIO_IOMMU_S_DEVERR;
	}
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static int virtio_iommu_attach(struct virtio_iommu *vi, const uint8_t *buf)
{
	struct virtio_iommu_req_attach r;
	uint32_t flags;

	memcpy(&r, buf, offsetof(struct virtio_iommu_req_attach, tail));
	flags = le32toh(r.flags);
	if (!all_zero(r.reserved, sizeof(r.reserved)))
		return -EINVAL;
	/* the BYPASS flag exists only with BYPASS_CONFIG; any other bit is unknown */
	if (flags & ~(uint32_t)VIRTIO_IOMMU_ATTACH_F_BYPASS)
		return -EINVAL;
	if ((flags & VIRTIO_IOMMU_ATTACH_F_BYPASS) &&
	    !virtio_has_feature(&vi->vdev, VIRTIO_IOMMU_F_BYPASS_CONFIG))
		return -EINVAL;
	return viommu_attach(vi->model, le32toh(r.domain), le32toh(r.endpoint),
			     flags & VIRTIO_IOMMU_ATTACH_F_BYPASS);
}

static int virtio_iommu_detach(struct virtio_iommu *vi, const uint8_t *buf)
{
	struct virtio_iommu_req_detach r;

	/* reserved is ignored, as the spec asks */
	memcpy(&r, buf, offsetof(struct virtio_iommu_req_detach, tail));
	return viommu_detach(vi->model, le32toh(r.domain), le32toh(r.endpoint));
}

static int virtio_iommu_map(struct virtio_iommu *vi, const uint8_t *buf)
{
	struct virtio_iommu_req_map r;
	uint32_t flags;

	memcpy(&r, buf, offsetof(struct virtio_iommu_req_map, tail));
	flags = le32toh(r.flags);
	/* MMIO is not offered: it is an unknown bit like any other */
	if (flags & ~(uint32_t)(VIRTIO_IOMMU_MAP_F_READ | VIRTIO_IOMMU_MAP_F_WRITE))
		return -EINVAL;
	return viommu_map(vi->model, le32toh(r.domain), le64toh(r.virt_start), le64toh(r.virt_end),
			  le64toh(r.phys_start), flags & VIRTIO_IOMMU_MAP_F_READ,
			  flags & VIRTIO_IOMMU_MAP_F_WRITE);
}

static int virtio_iommu_unmap(struct virtio_iommu *vi, const uint8_t *buf)
{
	struct virtio_iommu_req_unmap r;

	/* a non-zero reserved field MAY be refused; it is ignored here */
	memcpy(&r, buf, offsetof(struct virtio_iommu_req_unmap, tail));
	return viommu_unmap(vi->model, le32toh(r.domain), le64toh(r.virt_start),
			    le64toh(r.virt_end));
}

/*
 * PROBE: the endpoint's reserved ranges as RESV_MEM properties in the first probe_size
 * bytes of the writable part, the rest of probe_size zeroed. -EINVAL (nothing written but
 * the status) when the driver left less room than probe_size.
 */
static int virtio_iommu_probe(struct virtio_iommu *vi, const uint8_t *buf, const struct iovec *in,
			      unsigned n_in, uint64_t room)
{
	uint8_t props[VIRTIO_IOMMU_PROBE_SIZE] = { 0 };
	struct viommu_resv resv[VIOMMU_MAX_RESV];
	struct virtio_iommu_req_probe r;
	unsigned nr, max = VIRTIO_IOMMU_PROBE_SIZE / sizeof(struct virtio_iommu_probe_resv_mem);
	int ret;

	memcpy(&r, buf, offsetof(struct virtio_iommu_req_probe, properties));
	if (room < VIRTIO_IOMMU_PROBE_SIZE)
		return -EINVAL;
	ret = viommu_probe(vi->model, le32toh(r.endpoint), resv, MIN(max, VIOMMU_MAX_RESV), &nr);
	if (ret)
		return ret;
	for (unsigned i = 0; i < nr; i++) {
		struct virtio_iommu_probe_resv_mem p = {
			.head = { .type = htole16(VIRTIO_IOMMU_PROBE_T_RESV_MEM),
				  .length = htole16(sizeof(p) - sizeof(p.head)) },
			.subtype = resv[i].kind == VIOMMU_RESV_MSI
				       ? VIRTIO_IOMMU_RESV_MEM_T_MSI
				       : VIRTIO_IOMMU_RESV_MEM_T_RESERVED,
			.start = htole64(resv[i].start),
			.end = htole64(resv[i].end),
		};

		memcpy(props + i * sizeof(p), &p, sizeof(p));
	}
	iov_from_buf(in, n_in, 0, props, sizeof(props));
	return 0;
}

/* The readable bytes each request type needs (its struct up to the tail). */
static size_t virtio_iommu_req_size(uint8_t type)
{
	switch (type) {
	case VIRTIO_IOMMU_T_ATTACH:
		return offsetof(struct virtio_iommu_req_attach, tail);
	case VIRTIO_IOMMU_T_DETACH:
		return offsetof(struct virtio_iommu_req_detach, tail);
	case VIRTIO_IOMMU_T_MAP:
		return offsetof(struct virtio_iommu_req_map, tail);
	case VIRTIO_IOMMU_T_UNMAP:
		return offsetof(struct virtio_iommu_req_unmap, tail);
	case VIRTIO_IOMMU_T_PROBE:
		return offsetof(struct virtio_iommu_req_probe, properties);
	default:
		return 0;
	}
}

/* Whether the driver may send this type: MAP/UNMAP and PROBE need their features. */
static bool virtio_iommu_type_known(struct virtio_iommu *vi, uint8_t type)
{
	switch (type) {
	case VIRTIO_IOMMU_T_ATTACH:
	case VIRTIO_IOMMU_T_DETACH:
		return true;
	case VIRTIO_IOMMU_T_MAP:
	case VIRTIO_IOMMU_T_UNMAP:
		return virtio_has_feature(&vi->vdev, VIRTIO_IOMMU_F_MAP_UNMAP);
	case VIRTIO_IOMMU_T_PROBE:
		return virtio_has_feature(&vi->vdev, VIRTIO_IOMMU_F_PROBE);
	default:
		return false;
	}
}

uint32_t virtio_iommu_handle_request(struct virtio_device *vdev, const struct iovec *out,
				     unsigned n_out, const struct iovec *in, unsigned n_in)
{
	struct virtio_iommu *vi = to_vi(vdev);
	struct virtio_iommu_req_tail tail = { 0 };
	uint8_t buf[VIRTIO_IOMMU_REQ_MAX] = { 0 };
	uint64_t in_len = 0;
	size_t len;
	uint8_t type;
	int ret;

	for (unsigned i = 0; i < n_in; i++)
		in_len += in[i].iov_len;
	len = iov_to_buf(out, n_out, 0, buf, sizeof(buf));
	type = buf[0];
	/* the status goes in the last bytes of the writable part: without room for it, or
	 * for a type it does not know, the device returns the buffers unwritten */
	if (len < sizeof(struct virtio_iommu_req_head) || in_len < sizeof(tail) ||
	    in_len > UINT32_MAX || !virtio_iommu_type_known(vi, type)) {
		log_printf_ratelimited(
		    &vi->rl, LOG_WARN,
		    "%s: request type %u (%zu bytes in, %llu out) not understood", vdev->name, type,
		    len, (unsigned long long)in_len);
		return 0;
	}
	if (len < virtio_iommu_req_size(type)) {
		ret = -EINVAL; /* too short for its type */
	} else {
		switch (type) {
		case VIRTIO_IOMMU_T_ATTACH:
			ret = virtio_iommu_attach(vi, buf);
			break;
		case VIRTIO_IOMMU_T_DETACH:
			ret = virtio_iommu_detach(vi, buf);
			break;
		case VIRTIO_IOMMU_T_MAP:
			ret = virtio_iommu_map(vi, buf);
			break;
		case VIRTIO_IOMMU_T_UNMAP:
			ret = virtio_iommu_unmap(vi, buf);
			break;
		default: /* PROBE */
			ret = virtio_iommu_probe(vi, buf, in, n_in, in_len - sizeof(tail));
			break;
		}
	}
	tail.status = virtio_iommu_status(ret);
	iov_from_buf(in, n_in, in_len - sizeof(tail), &tail, sizeof(tail));
	return (uint32_t)in_len;
}

/* One request chain: answered whatever it holds (used length 0 when it cannot be). */
static enum virtio_chain_result virtio_iommu_chain(struct virtio_device *vdev, struct virtqueue *vq,
						   struct virtqueue_elem *elem, uint32_t *written)
{
	*written = virtio_iommu_handle_request(vdev, elem->out, elem->n_out, elem->in, elem->n_in);
	return VIRTIO_CHAIN_DONE;
}

/*
 * Waits up to VIRTIO_IOMMU_POLL_NS for the driver to make more requests available, with its
 * notifications off. A guest in strict mode sends MAP, waits, sends UNMAP, waits: the next
 * request comes microseconds after the last answer, and catching it here saves the driver's
 * notify exit and the I/O thread's wake-up, which cost more than the request itself.
 */
static bool virtio_iommu_poll(struct virtqueue *vq)
{
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (unsigned spins = 0;; spins++) {
		if (virtqueue_has_work(vq))
			return true;
		cpu_relax();
		if (spins % 64)
			continue;
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((t.tv_sec - t0.tv_sec) * 1000000000LL + (t.tv_nsec - t0.tv_nsec) >
		    VIRTIO_IOMMU_POLL_NS)
			return false;
	}
}

/* The request queue (answers pushed and notified after each batch, then a short wait for
 * the next); the event queue's buffers stay with the device (no fault is reported). */
static void virtio_iommu_queue_notify(struct virtio_device *vdev, struct virtqueue *vq)
{
	if (vq->index != VIRTIO_IOMMU_REQUEST_VQ)
		return;
	for (unsigned round = 0;; round++) {
		virtio_queue_process(vdev, vq, &to_vi(vdev)->elem, virtio_iommu_chain);
		/* a request can be slow (a MAP pins guest RAM for a passthrough container): a
		 * reset waits for the one in hand only */
		if (virtio_needs_reset(vdev) || virtio_device_stopping(vdev))
			return;
		if (round == VIRTIO_IOMMU_POLL_ROUNDS) {
			virtio_queue_rekick(vdev, vq);
			return;
		}
		virtqueue_disable_notify(vq);
		if (!virtio_iommu_poll(vq) && !virtqueue_enable_notify(vq))
			return;
	}
}

/* A reset detaches every endpoint (no DMA, or bypass if the driver set it) and drops every
 * domain; the bypass setting survives it, as the spec asks. */
static void virtio_iommu_reset(struct virtio_device *vdev)
{
	viommu_reset(to_vi(vdev)->model);
}

static const struct virtio_device_ops virtio_iommu_ops = {
	.get_features = virtio_iommu_get_features,
	.read_config = virtio_iommu_read_config,
	.write_config = virtio_iommu_write_config,
	.queue_notify = virtio_iommu_queue_notify,
	.reset = virtio_iommu_reset,
};

int virtio_iommu_create(struct memmap *mm, struct virtio_device **out)
{
	struct virtio_iommu *vi = calloc(1, sizeof(*vi));
	int ret;

	if (!vi)
		return -ENOMEM;
	ret = viommu_create(mm, &vi->model);
	if (ret)
		goto out_free;
	ret = virtio_device_init(&vi->vdev, VIRTIO_ID_IOMMU, "virtio-iommu", 2,
				 VIRTIO_IOMMU_QUEUE_SIZE, &virtio_iommu_ops);
	if (ret)
		goto out_model;
	vi->vdev.mm = mm;
	vi->vdev.config_size = sizeof(struct virtio_iommu_config);
	*out = &vi->vdev;
	return 0;

out_model:
	viommu_destroy(vi->model);
out_free:
	free(vi);
	return ret;
}

void virtio_iommu_destroy(struct virtio_device *vdev)
{
	struct virtio_iommu *vi;

	if (!vdev)
		return;
	vi = to_vi(vdev);
	virtio_device_exit(vdev);
	viommu_report(vi->model);
	viommu_destroy(vi->model);
	free(vi);
}
