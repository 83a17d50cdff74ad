/* SPDX-License-Identifier: MIT */
/*
 * A small modern virtio-pci driver: discovery through the vendor capabilities, the status
 * handshake, split virtqueues in allocator pages, chains with optional indirect tables, and
 * polling of the used ring. All of it is memory and MMIO, so the loops run at CPL3.
 */
#include "kit.h"

#define PCI_COMMAND 0x04
#define PCI_COMMAND_MEMORY 0x2
#define PCI_COMMAND_MASTER 0x4
#define PCI_STATUS 0x06
#define PCI_STATUS_CAP_LIST 0x10
#define PCI_BAR0 0x10
#define PCI_CAP_PTR 0x34
#define PCI_CAP_ID_VNDR 0x09
#define PCI_CAP_ID_MSIX 0x11

#define VIRTIO_PCI_CAP_COMMON_CFG 1
#define VIRTIO_PCI_CAP_NOTIFY_CFG 2
#define VIRTIO_PCI_CAP_ISR_CFG 3
#define VIRTIO_PCI_CAP_DEVICE_CFG 4

#define MSIX_FLAGS_ENABLE 0x8000
#define MSIX_FLAGS_MASKALL 0x4000
#define MSIX_ENTRY_SIZE 16

#define COMMON(vd, field) ((vd)->common + __builtin_offsetof(struct virtio_pci_common_cfg, field))

/* ---- config space through ECAM: MMIO, so no port I/O traps at CPL3 ---- */

uint32_t pci_cfg_read32(unsigned int bus, unsigned int dev, unsigned int fn, unsigned int off)
{
	return pci_ecam_read32(bus, dev, fn, off);
}

void pci_cfg_write32(unsigned int bus, unsigned int dev, unsigned int fn, unsigned int off,
		     uint32_t v)
{
	pci_ecam_write32(bus, dev, fn, off, v);
}

static uint64_t ecam_addr(unsigned int bus, unsigned int dev, unsigned int fn, unsigned int off)
{
	return pci_ecam_base() +
	       ((uint64_t)(bus & 0xff) << 20 | (dev & 0x1f) << 15 | (fn & 7) << 12 | (off & 0xfff));
}

uint16_t pci_cfg_read16(unsigned int bus, unsigned int dev, unsigned int fn, unsigned int off)
{
	return mmio_read16(ecam_addr(bus, dev, fn, off & ~1u));
}

void pci_cfg_write16(unsigned int bus, unsigned int dev, unsigned int fn, unsigned int off,
		     uint16_t v)
{
	mmio_write16(ecam_addr(bus, dev, fn, off & ~1u), v);
}

uint8_t pci_cfg_read8(unsigned int bus, unsigned int dev, unsigned int fn, unsigned int off)
{
	return mmio_read8(ecam_addr(bus, dev, fn, off));
}

/* ---- discovery ---- */

static int bars_read(struct virtio_dev *vd)
{
	for (unsigned int i = 0; i < 6; i++) {
		uint32_t lo = pci_cfg_read32(vd->bus, vd->dev, vd->fn, PCI_BAR0 + 4 * i);

		if (lo & 1) /* I/O BAR: not used by a modern virtio device */
			continue;
		vd->bar[i] = lo & ~0xfull;
		if ((lo & 0x6) == 0x4 && i < 5) { /* 64-bit */
			vd->bar[i] |= (uint64_t)pci_cfg_read32(vd->bus, vd->dev, vd->fn,
							       PCI_BAR0 + 4 * (i + 1))
				      << 32;
			i++;
		}
	}
	return 0;
}

/* The MMIO address of [off, off + len) in BAR @bar, mapped; 0 when the BAR is unusable. */
static uint64_t bar_region(struct virtio_dev *vd, unsigned int bar, uint32_t off, uint32_t len)
{
	uint64_t a;

	if (bar > 5 || !vd->bar[bar]) {
		printf("virtio %02x:%02x.%x: capability names BAR%u, which is not a memory BAR "
		       "(0x%llx)\n",
		       vd->bus, vd->dev, vd->fn, bar,
		       bar > 5 ? 0ull : (unsigned long long)vd->bar[bar]);
		return 0;
	}
	a = vd->bar[bar] + off;
	if (mmio_map(a, len ? len : 1)) {
		printf("virtio: out of pages mapping 0x%llx\n", (unsigned long long)a);
		return 0;
	}
	return a;
}

static int caps_walk(struct virtio_dev *vd)
{
	unsigned int b = vd->bus, d = vd->dev, f = vd->fn, guard = 0;
	uint8_t pos;

	if (!(pci_cfg_read16(b, d, f, PCI_STATUS) & PCI_STATUS_CAP_LIST)) {
		printf("virtio %02x:%02x.%x: no capability list\n", b, d, f);
		return -1;
	}
	for (pos = pci_cfg_read8(b, d, f, PCI_CAP_PTR) & ~3u; pos && guard < 48;
	     pos = pci_cfg_read8(b, d, f, pos + 1u) & ~3u, guard++) {
		uint8_t id = pci_cfg_read8(b, d, f, pos);

		if (id == PCI_CAP_ID_MSIX) {
			uint16_t ctrl = pci_cfg_read16(b, d, f, pos + 2u);
			uint32_t table = pci_cfg_read32(b, d, f, pos + 4u);

			vd->msix_cap = pos;
			vd->msix_size = (ctrl & 0x7ff) + 1u;
			vd->msix_table =
			    bar_region(vd, table & 7, table & ~7u, vd->msix_size * MSIX_ENTRY_SIZE);
			continue;
		}
		if (id != PCI_CAP_ID_VNDR)
			continue;
		uint8_t type = pci_cfg_read8(b, d, f, pos + 3u);
		uint8_t bar = pci_cfg_read8(b, d, f, pos + 4u);
		uint32_t off = pci_cfg_read32(b, d, f, pos + 8u);
		uint32_t len = pci_cfg_read32(b, d, f, pos + 12u);
		uint64_t a;

		/* the first capability of each type is the one to use (4.1.4) */
		switch (type) {
		case VIRTIO_PCI_CAP_COMMON_CFG:
			if (!vd->common && len >= sizeof(struct virtio_pci_common_cfg))
				vd->common = bar_region(vd, bar, off, len);
			break;
		case VIRTIO_PCI_CAP_NOTIFY_CFG:
			if (!vd->notify_base && (a = bar_region(vd, bar, off, len))) {
				vd->notify_base = a;
				vd->notify_mult = pci_cfg_read32(b, d, f, pos + 16u);
			}
			break;
		case VIRTIO_PCI_CAP_ISR_CFG:
			if (!vd->isr)
				vd->isr = bar_region(vd, bar, off, len);
			break;
		case VIRTIO_PCI_CAP_DEVICE_CFG:
			if (!vd->devcfg && (a = bar_region(vd, bar, off, len))) {
				vd->devcfg = a;
				vd->devcfg_len = len;
			}
			break;
		default:
			break; /* PCI_CFG access and anything newer */
		}
	}
	if (!vd->common || !vd->notify_base || !vd->isr) {
		printf("virtio %02x:%02x.%x: capabilities incomplete: common 0x%llx notify 0x%llx "
		       "isr 0x%llx\n",
		       b, d, f, (unsigned long long)vd->common, (unsigned long long)vd->notify_base,
		       (unsigned long long)vd->isr);
		return -1;
	}
	return 0;
}

int virtio_find(uint16_t virtio_id, unsigned int nth, struct virtio_dev *vd)
{
	uint32_t want = (uint32_t)(VIRTIO_PCI_DEVICE_BASE + virtio_id) << 16 | VIRTIO_PCI_VENDOR;

	memset(vd, 0, sizeof(*vd));
	for (unsigned int d = 0; d < 32; d++) {
		for (unsigned int f = 0; f < 8; f++) {
			uint32_t id = pci_cfg_read32(0, d, f, 0);

			if ((id & 0xffff) == 0xffff) {
				if (f == 0)
					break; /* no function 0: no device */
				continue;
			}
			if (id == want && nth-- == 0) {
				uint16_t cmd;

				vd->dev = d;
				vd->fn = f;
				vd->virtio_id = virtio_id;
				bars_read(vd);
				cmd = pci_cfg_read16(0, d, f, PCI_COMMAND);
				pci_cfg_write16(0, d, f, PCI_COMMAND,
						cmd | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
				return caps_walk(vd);
			}
			/* single-function device: skip functions 1-7 */
			if (f == 0 && !(pci_cfg_read8(0, d, 0, 0x0e) & 0x80))
				break;
		}
	}
	printf("virtio: no virtio device type %u (PCI %04x:%04x) #%u on bus 0\n", virtio_id,
	       VIRTIO_PCI_VENDOR, VIRTIO_PCI_DEVICE_BASE + virtio_id, nth);
	return -1;
}

/* ---- status and features ---- */

uint8_t virtio_status(struct virtio_dev *vd)
{
	return mmio_read8(COMMON(vd, device_status));
}

static void status_set(struct virtio_dev *vd, uint8_t s)
{
	mmio_write8(COMMON(vd, device_status), s);
}

void virtio_reset(struct virtio_dev *vd)
{
	status_set(vd, 0);
	/* the reset is done when the device reads back 0 (4.1.4.3.2) */
	for (int i = 0; i < 1000000 && virtio_status(vd); i++)
		cpu_relax();
}

static uint64_t features_read(struct virtio_dev *vd)
{
	uint64_t v;

	mmio_write32(COMMON(vd, device_feature_select), 0);
	v = mmio_read32(COMMON(vd, device_feature));
	mmio_write32(COMMON(vd, device_feature_select), 1);
	return v | (uint64_t)mmio_read32(COMMON(vd, device_feature)) << 32;
}

int virtio_init(struct virtio_dev *vd, uint64_t want)
{
	uint8_t st;

	virtio_reset(vd);
	if (virtio_status(vd)) {
		printf("virtio: device status 0x%x after reset, not 0\n", virtio_status(vd));
		return -1;
	}
	status_set(vd, VIRTIO_STATUS_ACKNOWLEDGE);
	status_set(vd, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	vd->offered = features_read(vd);
	if (!(vd->offered & VIRTIO_BIT(VIRTIO_F_VERSION_1))) {
		printf("virtio: device does not offer VERSION_1 (features 0x%llx)\n",
		       (unsigned long long)vd->offered);
		status_set(vd, VIRTIO_STATUS_FAILED);
		return -1;
	}
	vd->features = (want | VIRTIO_BIT(VIRTIO_F_VERSION_1)) & vd->offered;
	mmio_write32(COMMON(vd, driver_feature_select), 0);
	mmio_write32(COMMON(vd, driver_feature), (uint32_t)vd->features);
	mmio_write32(COMMON(vd, driver_feature_select), 1);
	mmio_write32(COMMON(vd, driver_feature), (uint32_t)(vd->features >> 32));
	status_set(vd,
		   VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	st = virtio_status(vd);
	if (!(st & VIRTIO_STATUS_FEATURES_OK)) {
		printf("virtio: FEATURES_OK did not stick (status 0x%x, features 0x%llx)\n", st,
		       (unsigned long long)vd->features);
		status_set(vd, VIRTIO_STATUS_FAILED);
		return -1;
	}
	vd->num_queues = mmio_read16(COMMON(vd, num_queues));
	return 0;
}

int virtio_driver_ok(struct virtio_dev *vd)
{
	uint8_t st;

	status_set(vd, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
			   VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
	st = virtio_status(vd);
	if (!(st & VIRTIO_STATUS_DRIVER_OK) ||
	    (st & (VIRTIO_STATUS_NEEDS_RESET | VIRTIO_STATUS_FAILED))) {
		printf("virtio: status 0x%x after DRIVER_OK\n", st);
		return -1;
	}
	return 0;
}

void virtio_config_read(struct virtio_dev *vd, unsigned int off, void *buf, unsigned int len)
{
	uint8_t gen, *p = buf;

	do {
		gen = mmio_read8(COMMON(vd, config_generation));
		for (unsigned int i = 0; i < len; i++)
			p[i] = mmio_read8(vd->devcfg + off + i);
	} while (gen != mmio_read8(COMMON(vd, config_generation)));
}

uint8_t virtio_isr_read(struct virtio_dev *vd)
{
	return mmio_read8(vd->isr);
}

/* ---- queues ---- */

/* Split ring sizes (2.7): descriptors 16*n, avail 6+2*n, used 6+8*n. */
int virtio_queue_setup(struct virtio_dev *vd, unsigned int q, unsigned int max_size,
		       uint16_t msix_vector)
{
	volatile uint16_t *avail, *used;
	struct virtq *vq;
	uint16_t size;
	uint8_t *mem;

	if (q >= VIRTIO_MAX_QUEUES || q >= vd->num_queues) {
		printf("virtio: queue %u does not exist (device has %u)\n", q, vd->num_queues);
		return -1;
	}
	vq = &vd->vq[q];
	/* a queue set up again (after a reset) keeps its pages: programs that reset devices
	 * thousands of times must not run out of them */
	mem = (uint8_t *)vq->desc;
	avail = vq->avail;
	used = vq->used;
	memset(vq, 0, __builtin_offsetof(struct virtq, indirect));
	vq->kicks = vq->kicks_suppressed = 0;
	mmio_write16(COMMON(vd, queue_select), (uint16_t)q);
	size = mmio_read16(COMMON(vd, queue_size));
	if (!size) {
		printf("virtio: queue %u is not available (size 0)\n", q);
		return -1;
	}
	if (size > max_size)
		size = (uint16_t)max_size;
	if (size > VIRTQ_MAX_SIZE)
		size = VIRTQ_MAX_SIZE;
	if (size & (size - 1)) { /* split rings need a power of two */
		while (size & (size - 1))
			size &= (uint16_t)(size - 1);
	}
	/* 256 entries: 4 KiB descriptors, avail < 1 KiB, used < 3 KiB; one page each */
	if (mem && avail && used) {
		memset(mem, 0, PAGE_SIZE);
		memset((void *)avail, 0, PAGE_SIZE);
		memset((void *)used, 0, PAGE_SIZE);
		vq->avail = avail;
		vq->used = used;
	} else {
		mem = page_zalloc();
		vq->avail = page_zalloc();
		vq->used = page_zalloc();
	}
	if (!mem || !vq->avail || !vq->used) {
		printf("virtio: out of pages for queue %u\n", q);
		return -1;
	}
	vq->desc = (volatile struct virtq_desc *)mem;
	vq->vd = vd;
	vq->index = q;
	vq->size = size;
	vq->event_idx = vd->features & VIRTIO_BIT(VIRTIO_F_EVENT_IDX);
	for (uint16_t i = 0; i < size; i++)
		vq->free_next[i] = (uint16_t)(i + 1);
	vq->free_head = 0;
	vq->num_free = size;
	vq->notify =
	    vd->notify_base + (uint64_t)mmio_read16(COMMON(vd, queue_notify_off)) * vd->notify_mult;

	mmio_write16(COMMON(vd, queue_size), size);
	mmio_write32(COMMON(vd, queue_desc), (uint32_t)(uint64_t)vq->desc);
	mmio_write32(COMMON(vd, queue_desc) + 4, (uint32_t)((uint64_t)vq->desc >> 32));
	mmio_write32(COMMON(vd, queue_driver), (uint32_t)(uint64_t)vq->avail);
	mmio_write32(COMMON(vd, queue_driver) + 4, (uint32_t)((uint64_t)vq->avail >> 32));
	mmio_write32(COMMON(vd, queue_device), (uint32_t)(uint64_t)vq->used);
	mmio_write32(COMMON(vd, queue_device) + 4, (uint32_t)((uint64_t)vq->used >> 32));
	if (msix_vector != VIRTIO_MSI_NO_VECTOR) {
		mmio_write16(COMMON(vd, queue_msix_vector), msix_vector);
		if (mmio_read16(COMMON(vd, queue_msix_vector)) != msix_vector) {
			printf("virtio: queue %u refused MSI-X vector %u\n", q, msix_vector);
			return -1;
		}
	}
	mmio_write16(COMMON(vd, queue_enable), 1);
	if (mmio_read16(COMMON(vd, queue_enable)) != 1) {
		printf("virtio: queue %u did not enable\n", q);
		return -1;
	}
	return 0;
}

#define AVAIL_FLAGS 0
#define AVAIL_IDX 1
#define AVAIL_RING 2
#define USED_FLAGS 0
#define USED_IDX 1

static inline void barrier(void)
{
	__asm__ volatile("" ::: "memory");
}

static inline void mb(void)
{
	__asm__ volatile("mfence" ::: "memory");
}

void virtq_interrupts(struct virtq *vq, bool on)
{
	if (vq->event_idx)
		/* used_event: interrupt when used idx moves past it */
		vq->avail[AVAIL_RING + vq->size] = on ? vq->last_used : vq->last_used + 0x8000u;
	else
		vq->avail[AVAIL_FLAGS] = on ? 0 : VIRTQ_AVAIL_F_NO_INTERRUPT;
	mb();
}

static uint16_t desc_alloc(struct virtq *vq)
{
	uint16_t d = vq->free_head;

	vq->free_head = vq->free_next[d];
	vq->num_free--;
	return d;
}

int virtq_add(struct virtq *vq, const struct virtio_buf *bufs, unsigned int n, bool indirect)
{
	uint16_t head, prev = 0;

	if (!n || n > 256)
		return -1;
	if (indirect) {
		struct virtq_desc *t;

		if (!vq->num_free)
			return -1;
		head = desc_alloc(vq);
		t = vq->indirect[head];
		if (!t)
			t = vq->indirect[head] = page_zalloc();
		if (!t)
			return -1;
		for (unsigned int i = 0; i < n; i++) {
			t[i].addr = bufs[i].addr;
			t[i].len = bufs[i].len;
			t[i].flags = (uint16_t)((bufs[i].write ? VIRTQ_DESC_F_WRITE : 0) |
						(i + 1 < n ? VIRTQ_DESC_F_NEXT : 0));
			t[i].next = (uint16_t)(i + 1 < n ? i + 1 : 0);
		}
		vq->desc[head].addr = (uint64_t)t;
		vq->desc[head].len = n * (uint32_t)sizeof(*t);
		vq->desc[head].flags = VIRTQ_DESC_F_INDIRECT;
		vq->desc[head].next = 0;
		vq->chain_len[head] = 1;
	} else {
		if (vq->num_free < n)
			return -1;
		head = vq->free_head;
		for (unsigned int i = 0; i < n; i++) {
			uint16_t d = desc_alloc(vq);

			vq->desc[d].addr = bufs[i].addr;
			vq->desc[d].len = bufs[i].len;
			vq->desc[d].flags = bufs[i].write ? VIRTQ_DESC_F_WRITE : 0;
			vq->desc[d].next = 0;
			if (i) {
				vq->desc[prev].flags |= VIRTQ_DESC_F_NEXT;
				vq->desc[prev].next = d;
			}
			prev = d;
		}
		vq->chain_len[head] = (uint16_t)n;
	}
	vq->avail[AVAIL_RING + (vq->avail_idx & (vq->size - 1))] = head;
	barrier(); /* x86 keeps stores in order: the ring entry is visible before the index */
	vq->avail[AVAIL_IDX] = ++vq->avail_idx;
	return head;
}

void virtq_kick(struct virtq *vq)
{
	uint16_t new_idx = vq->avail_idx;

	mb(); /* the index store must be visible before we read what the device asked */
	if (vq->event_idx) {
		uint16_t event = vq->used[USED_IDX + 1 + 4 * vq->size]; /* avail_event */
		uint16_t old_idx = vq->last_kick_idx;

		vq->last_kick_idx = new_idx;
		/* vring_need_event: notify when event lies in [old, new) */
		if ((uint16_t)(new_idx - event - 1) >= (uint16_t)(new_idx - old_idx)) {
			vq->kicks_suppressed++;
			return;
		}
	} else if (vq->used[USED_FLAGS] & VIRTQ_USED_F_NO_NOTIFY) {
		vq->kicks_suppressed++;
		return;
	}
	mmio_write16(vq->notify, (uint16_t)vq->index);
	vq->kicks++;
}

bool virtq_get(struct virtq *vq, uint32_t *id, uint32_t *len)
{
	volatile struct virtq_used_elem *e;
	uint16_t head, n;

	if (vq->used[USED_IDX] == vq->last_used)
		return false;
	barrier(); /* loads are ordered on x86: the element is read after the index */
	e = (volatile struct virtq_used_elem *)(vq->used + 2) + (vq->last_used & (vq->size - 1));
	*id = e->id;
	*len = e->len;
	vq->last_used++;
	if (*id >= vq->size || !vq->chain_len[*id])
		test_fail(FAIL_GENERIC,
			  "virtio queue %u: used ring returned id %u, not a chain in "
			  "flight",
			  vq->index, *id);
	/* give the chain's descriptors back, head last so the list stays a chain */
	head = (uint16_t)*id;
	n = vq->chain_len[head];
	vq->chain_len[head] = 0;
	for (uint16_t d = head, i = 0; i < n; i++) {
		uint16_t next = vq->desc[d].next;

		vq->free_next[d] = vq->free_head;
		vq->free_head = d;
		vq->num_free++;
		d = next;
	}
	return true;
}

bool virtq_wait(struct virtq *vq, uint32_t *id, uint32_t *len, uint64_t us)
{
	uint64_t t0 = rdtsc();

	while (!virtq_get(vq, id, len)) {
		if (rdtsc() - t0 > us * 3000)
			return false;
		cpu_relax();
	}
	return true;
}

int64_t virtq_transfer(struct virtq *vq, const struct virtio_buf *bufs, unsigned int n,
		       bool indirect, uint64_t timeout_us)
{
	uint32_t id, len;
	int head = virtq_add(vq, bufs, n, indirect);

	if (head < 0)
		return -1;
	virtq_kick(vq);
	if (!virtq_wait(vq, &id, &len, timeout_us))
		return -1;
	if (id != (uint32_t)head)
		test_fail(FAIL_GENERIC, "virtio queue %u: completed id %u, submitted %d", vq->index,
			  id, head);
	return len;
}

/* ---- MSI-X ---- */

int virtio_msix_route(struct virtio_dev *vd, unsigned int entry, uint8_t cpu_vector)
{
	uint64_t e;
	uint16_t ctrl;

	if (!vd->msix_cap || !vd->msix_table || entry >= vd->msix_size) {
		printf("virtio: no MSI-X table entry %u (capability at 0x%x, %u entries)\n", entry,
		       vd->msix_cap, vd->msix_size);
		return -1;
	}
	e = vd->msix_table + entry * MSIX_ENTRY_SIZE;
	mmio_write32(e + 0, 0xfee00000u | lapic_id() << 12); /* physical destination */
	mmio_write32(e + 4, 0);
	mmio_write32(e + 8, cpu_vector); /* fixed, edge */
	mmio_write32(e + 12, 0);	 /* unmasked */
	ctrl = pci_cfg_read16(vd->bus, vd->dev, vd->fn, vd->msix_cap + 2);
	pci_cfg_write16(vd->bus, vd->dev, vd->fn, vd->msix_cap + 2,
			(uint16_t)((ctrl | MSIX_FLAGS_ENABLE) & ~MSIX_FLAGS_MASKALL));
	if (!(pci_cfg_read16(vd->bus, vd->dev, vd->fn, vd->msix_cap + 2) & MSIX_FLAGS_ENABLE)) {
		printf("virtio: MSI-X enable did not stick\n");
		return -1;
	}
	if (mmio_read32(e + 8) != cpu_vector) {
		printf("virtio: MSI-X entry %u reads back data 0x%x, wrote 0x%x\n", entry,
		       mmio_read32(e + 8), cpu_vector);
		return -1;
	}
	return 0;
}
