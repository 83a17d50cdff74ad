/* SPDX-License-Identifier: MIT */
/*
 * Split virtqueues, read as a hostile guest could write them. Every index, chain, loop,
 * indirect table, address and length is checked against the ring size and guest RAM
 * (memmap_gpa_to_hva); a malformed chain is reported as -EINVAL and the device then sets
 * DEVICE_NEEDS_RESET — ptvm never follows a guest pointer it has not checked.
 */
#ifndef PTVM_DEVICES_VIRTQUEUE_H
#define PTVM_DEVICES_VIRTQUEUE_H

#include <linux/virtio_ring.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "vmm/log.h"
#include "vmm/memmap.h"

#define VIRTQUEUE_MAX_SIZE 1024
/* segments one request may have, direct or indirect (the walker refuses longer chains) */
#define VIRTQUEUE_MAX_SEGS 256

/*
 * The guest-memory access of a device behind a virtual IOMMU: its addresses (rings,
 * descriptors, indirect tables) are DMA addresses of its IOMMU domain, not guest-physical.
 * map returns the host address of addr for that access (write: the device writes there) and
 * lowers *len to what that one host-contiguous piece covers; NULL when the guest did not map
 * addr for it. generation changes whenever a mapping may have gone away: the rings' host
 * pointers are then looked up again before the next use.
 */
struct virtqueue_dma {
	void *(*map)(const struct virtqueue_dma *d, uint64_t addr, uint64_t *len, bool write);
	uint64_t (*generation)(const struct virtqueue_dma *d);
};

struct virtqueue {
	/* set by the transport from the driver's configuration */
	uint16_t size;
	bool enabled;
	uint64_t desc_gpa, avail_gpa, used_gpa;
	bool event_idx; /* VIRTIO_RING_F_EVENT_IDX negotiated */
	bool indirect;	/* VIRTIO_RING_F_INDIRECT_DESC negotiated */
	uint16_t msix_vector;
	int kick_fd; /* eventfd the guest's notify lands on (ioeventfd) */
	/* set once by the owning device, kept across resets: its name and the rate limiter of
	 * its warnings about the guest's rings (NULL: one limiter per message) */
	const char *owner;
	struct log_ratelimit *rl;
	/* behind a vIOMMU: how addresses are translated (NULL: they are guest-physical); kept
	 * across resets, like kick_fd */
	const struct virtqueue_dma *dma;
	uint64_t dma_generation; /* dma's generation when the rings were looked up */

	/* set by virtqueue_start(): host views of the rings, validated once */
	struct memmap *mm;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint16_t last_avail_idx;
	uint16_t used_idx;
	uint16_t signalled_used; /* used_idx when the driver was last notified */
	bool signalled_used_valid;
	unsigned index;
};

/* One request popped from the avail ring: readable segments first, then writable. */
struct virtqueue_elem {
	uint16_t head;
	unsigned n_out, n_in;
	uint64_t out_len, in_len; /* total bytes */
	struct iovec out[VIRTQUEUE_MAX_SEGS];
	struct iovec in[VIRTQUEUE_MAX_SEGS];
};

/* Resets the queue to the state after device reset (size kept at max, disabled); kick_fd,
 * owner, rl and dma stay. */
void virtqueue_reset(struct virtqueue *vq, unsigned index, uint16_t max_size);
/*
 * Validates the driver's ring addresses (alignment, inside guest RAM, or mapped in the
 * device's IOMMU domain when vq->dma is set) and maps them. -EINVAL with a warning naming the
 * queue and the bad address otherwise.
 */
int virtqueue_start(struct virtqueue *vq, struct memmap *mm);
/*
 * Pops the next available chain into *elem. Returns 1 with a chain, 0 when the ring is
 * empty, -EINVAL (after a warning saying what was wrong) on a malformed ring or chain.
 */
int virtqueue_pop(struct virtqueue *vq, struct virtqueue_elem *elem);
/* Puts a chain back (it will be popped again), e.g. when a device cannot take it yet.
 * May be called several times in a row to give back several chains, last popped first. */
void virtqueue_unpop(struct virtqueue *vq);
/* Returns the chain to the driver with `written` bytes in its writable part. */
void virtqueue_push(struct virtqueue *vq, const struct virtqueue_elem *elem, uint32_t written);
/*
 * Two-step push for a result that spans several chains (a merged RX frame): fill writes a
 * used entry `offset` places past the used index without publishing it; flush publishes
 * `count` filled entries at once, so the driver never sees part of the set.
 */
void virtqueue_fill(struct virtqueue *vq, const struct virtqueue_elem *elem, uint32_t written,
		    uint16_t offset);
void virtqueue_flush(struct virtqueue *vq, uint16_t count);
/* Whether the driver wants an interrupt now (EVENT_IDX / NO_INTERRUPT); updates state. */
bool virtqueue_should_notify(struct virtqueue *vq);
/* With EVENT_IDX: tells the driver to kick again once it adds past what we consumed.
 * Returns true if more buffers arrived meanwhile (the caller should pop again). */
bool virtqueue_enable_notify(struct virtqueue *vq);
void virtqueue_disable_notify(struct virtqueue *vq);
/* True when the avail ring holds chains not yet popped. */
bool virtqueue_has_work(struct virtqueue *vq);

/* Copies between a segment list and a flat buffer; returns bytes copied. */
size_t iov_to_buf(const struct iovec *iov, unsigned n, size_t offset, void *buf, size_t len);
size_t iov_from_buf(const struct iovec *iov, unsigned n, size_t offset, const void *buf,
		    size_t len);

#endif
