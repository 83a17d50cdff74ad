// SPDX-License-Identifier: MIT
#include "devices/virtqueue.h"

#include <errno.h>
#include <string.h>

#include "vmm/log.h"
#include "vmm/util.h"

/* What the guest got wrong, through the owner's rate limiter (or one per message). */
#define vq_warn(vq, fmt, ...)                                                                      \
	do {                                                                                       \
		if ((vq)->rl)                                                                      \
			log_printf_ratelimited((vq)->rl, LOG_WARN, "%s: queue %u: " fmt,           \
					       (vq)->owner ? (vq)->owner : "virtio", (vq)->index,  \
					       ##__VA_ARGS__);                                     \
		else                                                                               \
			pr_warn_ratelimited("virtqueue %u: " fmt, (vq)->index, ##__VA_ARGS__);     \
	} while (0)

/* Accessors for the guest-shared rings: the guest may change them at any time, so every
 * field is read once, with the ordering the virtio memory model asks for. */
static inline uint16_t vq_read16(const volatile uint16_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static inline uint16_t vq_avail_idx(const struct virtqueue *vq)
{
	/* acquire: ring entries written before idx are visible after it */
	return __atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE);
}

void virtqueue_reset(struct virtqueue *vq, unsigned index, uint16_t max_size)
{
	/* what the owner set once stays: a guest's reset must not reset its rate limit */
	int kick_fd = vq->kick_fd;
	const char *owner = vq->owner;
	struct log_ratelimit *rl = vq->rl;
	const struct virtqueue_dma *dma = vq->dma;

	memset(vq, 0, sizeof(*vq));
	vq->size = max_size;
	vq->index = index;
	vq->msix_vector = 0xffff; /* VIRTIO_MSI_NO_VECTOR */
	vq->kick_fd = kick_fd;
	vq->owner = owner;
	vq->rl = rl;
	vq->dma = dma;
}

/*
 * The one guest-memory access of the queue layer: the host address of [addr, addr+len) in
 * one piece, from guest RAM or, behind a vIOMMU, from the device's domain (*len lowered to
 * the piece that one host range covers). NULL when addr is neither.
 */
static void *vq_map(struct virtqueue *vq, uint64_t addr, uint64_t *len, bool write)
{
	if (vq->dma)
		return vq->dma->map(vq->dma, addr, len, write);
	return memmap_gpa_to_hva(vq->mm, addr, *len);
}

/* The same for a structure that must be host-contiguous (a ring, an indirect table). */
static void *vq_map_whole(struct virtqueue *vq, uint64_t addr, uint64_t len, bool write)
{
	uint64_t n = len;
	void *p = vq_map(vq, addr, &n, write);

	return p && n == len ? p : NULL;
}

/* Looks the three rings up (again, when the vIOMMU's mappings changed); -EINVAL and the
 * old pointers kept (they stay inside guest RAM) when one is no longer there. */
static int vq_map_rings(struct virtqueue *vq)
{
	unsigned extra = vq->event_idx ? 2 : 0;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	/* read first: a change while looking up makes the next check look again */
	uint64_t gen = vq->dma ? vq->dma->generation(vq->dma) : 0;

	desc = vq_map_whole(vq, vq->desc_gpa, 16ULL * vq->size, false);
	avail = vq_map_whole(vq, vq->avail_gpa, 4 + 2ULL * vq->size + extra, false);
	used = vq_map_whole(vq, vq->used_gpa, 4 + 8ULL * vq->size + extra, true);
	if (!desc || !avail || !used)
		return -EINVAL;
	vq->desc = desc;
	vq->avail = avail;
	vq->used = used;
	vq->dma_generation = gen;
	return 0;
}

/* Behind a vIOMMU: redoes the rings' lookup when a mapping may have gone away. */
static int vq_check_rings(struct virtqueue *vq)
{
	if (!vq->dma || vq->dma->generation(vq->dma) == vq->dma_generation)
		return 0;
	if (!vq_map_rings(vq))
		return 0;
	vq_warn(vq,
		"a ring is no longer mapped in the device's IOMMU domain (desc 0x%llx avail "
		"0x%llx used 0x%llx)",
		(unsigned long long)vq->desc_gpa, (unsigned long long)vq->avail_gpa,
		(unsigned long long)vq->used_gpa);
	return -EINVAL;
}

int virtqueue_start(struct virtqueue *vq, struct memmap *mm)
{

	if (!vq->size || vq->size > VIRTQUEUE_MAX_SIZE || (vq->size & (vq->size - 1))) {
		vq_warn(vq, "size %u is not a power of two up to %u", vq->size, VIRTQUEUE_MAX_SIZE);
		return -EINVAL;
	}
	/* split-ring alignment rules of virtio 1.x: 16, 2 and 4 bytes */
	if (!IS_ALIGNED(vq->desc_gpa, 16) || !IS_ALIGNED(vq->avail_gpa, 2) ||
	    !IS_ALIGNED(vq->used_gpa, 4)) {
		vq_warn(vq, "misaligned ring (desc 0x%llx avail 0x%llx used 0x%llx)",
			(unsigned long long)vq->desc_gpa, (unsigned long long)vq->avail_gpa,
			(unsigned long long)vq->used_gpa);
		return -EINVAL;
	}
	vq->mm = mm;
	if (vq_map_rings(vq)) {
		vq_warn(vq,
			"ring outside guest RAM%s (desc 0x%llx avail 0x%llx used 0x%llx, "
			"size %u)",
			vq->dma ? " or not mapped in its IOMMU domain" : "",
			(unsigned long long)vq->desc_gpa, (unsigned long long)vq->avail_gpa,
			(unsigned long long)vq->used_gpa, vq->size);
		vq->desc = NULL;
		vq->avail = NULL;
		vq->used = NULL;
		return -EINVAL;
	}
	/* a started queue begins at index 0 on both sides (virtio 1.x 2.7.13) */
	vq->last_avail_idx = 0;
	vq->used_idx = 0;
	vq->signalled_used_valid = false;
	return 0;
}

bool virtqueue_has_work(struct virtqueue *vq)
{
	if (!vq->avail)
		return false;
	/* a ring gone from the IOMMU domain: the next pop says so */
	if (vq_check_rings(vq))
		return true;
	return vq_avail_idx(vq) != vq->last_avail_idx;
}

/*
 * Adds one descriptor's buffer to elem after checking it against guest RAM; behind a vIOMMU
 * a buffer that spans several mappings becomes one segment per host piece.
 */
static int vq_add_segment(struct virtqueue *vq, struct virtqueue_elem *elem, uint64_t addr,
			  uint32_t len, bool writable)
{
	uint64_t left = len;
	void *hva;

	if (!writable && elem->n_in) {
		vq_warn(vq, "chain at head %u has a readable segment after a writable one",
			elem->head);
		return -EINVAL;
	}
	do {
		uint64_t n = left;

		if (elem->n_out + elem->n_in >= VIRTQUEUE_MAX_SEGS) {
			vq_warn(vq, "chain at head %u has more than %u segments", elem->head,
				VIRTQUEUE_MAX_SEGS);
			return -EINVAL;
		}
		hva = vq_map(vq, addr, &n, writable);
		if (!hva || (left && !n)) {
			vq_warn(vq, "descriptor buffer [0x%llx, +0x%x) is outside guest RAM%s",
				(unsigned long long)addr, len,
				vq->dma ? " or not mapped for this access in its IOMMU domain"
					: "");
			return -EINVAL;
		}
		if (writable) {
			elem->in[elem->n_in++] = (struct iovec){ .iov_base = hva, .iov_len = n };
			elem->in_len += n;
		} else {
			elem->out[elem->n_out++] = (struct iovec){ .iov_base = hva, .iov_len = n };
			elem->out_len += n;
		}
		addr += n;
		left -= n;
	} while (left);
	return 0;
}

/* Walks an indirect table: no nesting, no chain longer than the table itself. */
static int vq_walk_indirect(struct virtqueue *vq, struct virtqueue_elem *elem, uint64_t addr,
			    uint32_t len)
{
	const struct vring_desc *table;
	unsigned n, i, steps = 0;
	int ret;

	if (!vq->indirect || len == 0 || len % sizeof(struct vring_desc) ||
	    len / sizeof(struct vring_desc) > VIRTQUEUE_MAX_SEGS) {
		vq_warn(vq, "bad indirect table at 0x%llx, %u bytes", (unsigned long long)addr,
			len);
		return -EINVAL;
	}
	table = vq_map_whole(vq, addr, len, false);
	if (!table || !IS_ALIGNED((uintptr_t)table, 2)) {
		vq_warn(vq, "indirect table [0x%llx, +0x%x) is outside guest RAM",
			(unsigned long long)addr, len);
		return -EINVAL;
	}
	n = len / sizeof(struct vring_desc);
	i = 0;
	for (;;) {
		struct vring_desc d;

		/* one copy: the guest can rewrite the table while we read it */
		memcpy(&d, &table[i], sizeof(d));
		if (d.flags & VRING_DESC_F_INDIRECT) {
			vq_warn(vq, "nested indirect table");
			return -EINVAL;
		}
		ret = vq_add_segment(vq, elem, d.addr, d.len, d.flags & VRING_DESC_F_WRITE);
		if (ret)
			return ret;
		if (!(d.flags & VRING_DESC_F_NEXT))
			return 0;
		if (d.next >= n || ++steps >= n) {
			vq_warn(vq, "indirect chain next %u out of %u or loops", d.next, n);
			return -EINVAL;
		}
		i = d.next;
	}
}

int virtqueue_pop(struct virtqueue *vq, struct virtqueue_elem *elem)
{
	uint16_t avail_idx, head, i;
	unsigned steps = 0;
	int ret;

	if (!vq->avail)
		return 0;
	if (vq_check_rings(vq))
		return -EINVAL;
	avail_idx = vq_avail_idx(vq);
	if (avail_idx == vq->last_avail_idx)
		return 0;
	if ((uint16_t)(avail_idx - vq->last_avail_idx) > vq->size) {
		vq_warn(vq, "avail idx %u runs %u entries ahead of a %u-entry ring", avail_idx,
			(uint16_t)(avail_idx - vq->last_avail_idx), vq->size);
		return -EINVAL;
	}
	head = vq_read16(&vq->avail->ring[vq->last_avail_idx & (vq->size - 1)]);
	if (head >= vq->size) {
		vq_warn(vq, "head index %u out of a %u-entry ring", head, vq->size);
		return -EINVAL;
	}
	elem->head = head;
	elem->n_out = elem->n_in = 0;
	elem->out_len = elem->in_len = 0;

	i = head;
	for (;;) {
		struct vring_desc d;

		memcpy(&d, &vq->desc[i], sizeof(d));
		if (d.flags & VRING_DESC_F_INDIRECT) {
			/* an indirect descriptor must be the only one in its chain */
			if ((d.flags & VRING_DESC_F_NEXT) || steps) {
				vq_warn(vq, "indirect descriptor %u chained", i);
				return -EINVAL;
			}
			ret = vq_walk_indirect(vq, elem, d.addr, d.len);
			if (ret)
				return ret;
			break;
		}
		ret = vq_add_segment(vq, elem, d.addr, d.len, d.flags & VRING_DESC_F_WRITE);
		if (ret)
			return ret;
		if (!(d.flags & VRING_DESC_F_NEXT))
			break;
		if (d.next >= vq->size || ++steps >= vq->size) {
			vq_warn(vq, "chain at head %u: next %u out of range or a loop", head,
				d.next);
			return -EINVAL;
		}
		i = d.next;
	}
	vq->last_avail_idx++;
	return 1;
}

void virtqueue_unpop(struct virtqueue *vq)
{
	vq->last_avail_idx--;
}

void virtqueue_fill(struct virtqueue *vq, const struct virtqueue_elem *elem, uint32_t written,
		    uint16_t offset)
{
	struct vring_used_elem *u =
	    &vq->used->ring[(uint16_t)(vq->used_idx + offset) & (vq->size - 1)];

	/* never report more than the writable part: the driver trusts this length */
	if (written > elem->in_len)
		written = (uint32_t)elem->in_len;
	__atomic_store_n(&u->id, (uint32_t)elem->head, __ATOMIC_RELAXED);
	__atomic_store_n(&u->len, written, __ATOMIC_RELAXED);
}

void virtqueue_flush(struct virtqueue *vq, uint16_t count)
{
	vq->used_idx += count;
	/* release: the elements are visible before the index that publishes them */
	__atomic_store_n(&vq->used->idx, vq->used_idx, __ATOMIC_RELEASE);
}

void virtqueue_push(struct virtqueue *vq, const struct virtqueue_elem *elem, uint32_t written)
{
	virtqueue_fill(vq, elem, written, 0);
	virtqueue_flush(vq, 1);
}

bool virtqueue_should_notify(struct virtqueue *vq)
{
	uint16_t old, new, event;
	bool valid;

	/* the used idx store must be visible before we read the driver's event index */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!vq->event_idx)
		return !(vq_read16(&vq->avail->flags) & VRING_AVAIL_F_NO_INTERRUPT);
	old = vq->signalled_used;
	valid = vq->signalled_used_valid;
	new = vq->signalled_used = vq->used_idx;
	vq->signalled_used_valid = true;
	if (!valid)
		return true;
	event = vq_read16(&vq->avail->ring[vq->size]); /* used_event */
	return (uint16_t)(new - event - 1) < (uint16_t)(new - old);
}

void virtqueue_disable_notify(struct virtqueue *vq)
{
	if (!vq->used)
		return;
	if (!vq->event_idx)
		__atomic_store_n(&vq->used->flags, VRING_USED_F_NO_NOTIFY, __ATOMIC_RELAXED);
}

bool virtqueue_enable_notify(struct virtqueue *vq)
{
	if (!vq->used)
		return false;
	if (vq->event_idx)
		/* avail_event: kick us when the driver publishes past what we consumed */
		__atomic_store_n((uint16_t *)&vq->used->ring[vq->size], vq->last_avail_idx,
				 __ATOMIC_RELAXED);
	else
		__atomic_store_n(&vq->used->flags, 0, __ATOMIC_RELAXED);
	/* the store above must be visible before we look at avail idx again */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return virtqueue_has_work(vq);
}

size_t iov_to_buf(const struct iovec *iov, unsigned n, size_t offset, void *buf, size_t len)
{
	size_t done = 0;

	for (unsigned i = 0; i < n && done < len; i++) {
		size_t l = iov[i].iov_len;

		if (offset >= l) {
			offset -= l;
			continue;
		}
		l = MIN(l - offset, len - done);
		memcpy((uint8_t *)buf + done, (uint8_t *)iov[i].iov_base + offset, l);
		done += l;
		offset = 0;
	}
	return done;
}

size_t iov_from_buf(const struct iovec *iov, unsigned n, size_t offset, const void *buf, size_t len)
{
	size_t done = 0;

	for (unsigned i = 0; i < n && done < len; i++) {
		size_t l = iov[i].iov_len;

		if (offset >= l) {
			offset -= l;
			continue;
		}
		l = MIN(l - offset, len - done);
		memcpy((uint8_t *)iov[i].iov_base + offset, (const uint8_t *)buf + done, l);
		done += l;
		offset = 0;
	}
	return done;
}
