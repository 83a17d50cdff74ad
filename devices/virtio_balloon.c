// SPDX-License-Identifier: MIT
#include "devices/virtio_balloon.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "vmm/log.h"
#include "vmm/util.h"

#define VB_INFLATE_Q 0
#define VB_DEFLATE_Q 1
/* PFNs copied out of a request at a time */
#define VB_PFN_BATCH 256
/* stats entries read from one buffer (Linux sends about a dozen) */
#define VB_STATS_BATCH 64

_Static_assert(sizeof(struct virtio_balloon_stat) == 10, "virtio_balloon_stat is packed");
_Static_assert(sizeof(struct virtio_balloon_config) == 16, "virtio_balloon_config layout");

struct virtio_balloon {
	struct virtio_device vdev;
	struct virtio_balloon_options opts;
	struct virtio_io_handler timer;
	/* queue numbers as the driver sees them; -1 when it did not take the feature */
	int stats_q, report_q;

	/* config space, counters and statistics: touched by vCPUs (config), the I/O thread
	 * and the host API */
	pthread_mutex_t lock;
	struct virtio_balloon_info info;

	/* held around each discard, so set_pinned(true) waits for one under way */
	pthread_mutex_t discard_lock;
	bool pinned;
	bool pinned_warned;
	/* guest RAM is hugetlb-backed: nothing is ever discarded (see virtio_balloon.h) */
	bool hugetlb;
	bool hugetlb_warned;

	/* I/O thread only */
	bool stats_held; /* the driver's stats buffer, returned when new stats are wanted */
	struct virtqueue_elem stats_elem;
	struct virtqueue_elem elem;
};

static struct virtio_balloon *to_vb(struct virtio_device *vdev)
{
	return container_of(vdev, struct virtio_balloon, vdev);
}

/* ---- options ---- */

static int vb_parse_bool(const char *key, const char *val, bool *out)
{
	if (!strcmp(val, "on")) {
		*out = true;
		return 0;
	}
	if (!strcmp(val, "off")) {
		*out = false;
		return 0;
	}
	pr_err("--balloon: %s='%s' is not on or off", key, val);
	return -EINVAL;
}

static int vb_parse_one(char *tok, struct virtio_balloon_options *opts)
{
	char *val = strchr(tok, '=');
	unsigned secs;

	if (!val) {
		pr_err("--balloon: '%s' is not key=value", tok);
		return -EINVAL;
	}
	*val++ = '\0';
	if (!strcmp(tok, "free-page-reporting"))
		return vb_parse_bool(tok, val, &opts->free_page_reporting);
	if (!strcmp(tok, "deflate-on-oom"))
		return vb_parse_bool(tok, val, &opts->deflate_on_oom);
	if (!strcmp(tok, "target")) {
		if (parse_size(val, &opts->target) || !opts->target) {
			pr_err("--balloon: target='%s' is not a memory size such as 256M", val);
			return -EINVAL;
		}
		opts->has_target = true;
		return 0;
	}
	if (!strcmp(tok, "stats-period")) {
		if (parse_uint(val, 3600, &secs)) {
			pr_err("--balloon: stats-period='%s' is not 0 to 3600 seconds", val);
			return -EINVAL;
		}
		opts->stats_period_ms = secs * 1000;
		return 0;
	}
	pr_err("--balloon: unknown setting '%s' (free-page-reporting=, deflate-on-oom=, target=, "
	       "stats-period=)",
	       tok);
	return -EINVAL;
}

int virtio_balloon_parse(const char *spec, struct virtio_balloon_options *opts)
{
	char *copy, *tok, *save = NULL;
	int ret = 0;

	memset(opts, 0, sizeof(*opts));
	opts->stats_period_ms = VIRTIO_BALLOON_STATS_PERIOD_MS;
	if (!spec || !*spec)
		return 0;
	copy = strdup(spec);
	if (!copy)
		return -ENOMEM;
	for (tok = strtok_r(copy, ",", &save); tok && !ret; tok = strtok_r(NULL, ",", &save))
		ret = vb_parse_one(tok, opts);
	free(copy);
	return ret;
}

/* ---- guest memory ---- */

/* Guest RAM in the map: what a target is measured against. */
static uint64_t vb_ram_size(struct memmap *mm)
{
	uint64_t size = 0;

	pthread_rwlock_rdlock(&mm->lock);
	for (unsigned i = 0; i < mm->nr_regions; i++)
		if (mm->regions[i]->kind == MEMMAP_RAM)
			size += mm->regions[i]->size;
	pthread_rwlock_unlock(&mm->lock);
	return size;
}

/* Whether any RAM region of the map is backed by hugetlbfs (--memory hugepages=on). */
static bool vb_ram_hugetlb(struct memmap *mm)
{
	bool hugetlb = false;
	struct statfs sfs;

	pthread_rwlock_rdlock(&mm->lock);
	for (unsigned i = 0; i < mm->nr_regions && !hugetlb; i++) {
		const struct memmap_region *r = mm->regions[i];

		hugetlb = r->kind == MEMMAP_RAM && r->fd >= 0 && !fstatfs(r->fd, &sfs) &&
			  sfs.f_type == HUGETLBFS_MAGIC;
	}
	pthread_rwlock_unlock(&mm->lock);
	return hugetlb;
}

/*
 * The guest address of a host range that the virtqueue walker produced: reported free pages
 * arrive as descriptors, already turned into host addresses. False unless the whole range lies
 * in one RAM region (the walker also accepts ROM, which must never be discarded).
 */
static bool vb_hva_to_gpa(struct memmap *mm, const void *hva, uint64_t len, uint64_t *gpa)
{
	uintptr_t p = (uintptr_t)hva;
	bool found = false;

	pthread_rwlock_rdlock(&mm->lock);
	for (unsigned i = 0; i < mm->nr_regions && !found; i++) {
		const struct memmap_region *r = mm->regions[i];
		uintptr_t base = (uintptr_t)r->hva;

		if (r->kind != MEMMAP_RAM || !r->hva || p < base || p - base >= r->size ||
		    len > r->size - (p - base))
			continue;
		*gpa = r->gpa + (p - base);
		found = true;
	}
	pthread_rwlock_unlock(&mm->lock);
	return found;
}

/* Malformed guest input: counted, and a warning from the device's rate limiter. */
#define vb_warn_bad(vb, fmt, ...)                                                                  \
	do {                                                                                       \
		pthread_mutex_lock(&(vb)->lock);                                                   \
		(vb)->info.bad_entries++;                                                          \
		pthread_mutex_unlock(&(vb)->lock);                                                 \
		log_printf_ratelimited(&(vb)->vdev.rl, LOG_WARN, "%s: " fmt, (vb)->vdev.name,      \
				       ##__VA_ARGS__);                                             \
	} while (0)

/*
 * Releases the host memory behind [off, off+len) of RAM region r (the range is inside it).
 * Only whole blocks of the backing's page size go: for hugetlb that is a huge page. Returns
 * the bytes released or -errno.
 */
static int64_t vb_discard(struct virtio_balloon *vb, const struct memmap_region *r, uint64_t off,
			  uint64_t len)
{
	uint64_t gran = VIRTIO_BALLOON_PAGE_SIZE, start, end;
	struct stat st;
	int ret;

	if (r->fd >= 0) {
		if (!fstat(r->fd, &st) && st.st_blksize > 0 &&
		    !((uint64_t)st.st_blksize & ((uint64_t)st.st_blksize - 1)))
			gran = MAX(gran, (uint64_t)st.st_blksize);
		/* a region whose file range wraps is misdescribed: touch nothing */
		if (r->fd_offset > UINT64_MAX - r->size)
			return -EINVAL;
		/* aligned inwards, so the hole stays inside the region's part of the file */
		start = ALIGN_UP(r->fd_offset + off, gran);
		end = ALIGN_DOWN(r->fd_offset + off + len, gran);
		if (end <= start)
			return 0;
		if (fallocate(r->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)start,
			      (off_t)(end - start)) < 0) {
			ret = -errno;
			vb_warn_bad(vb, "cannot punch [0x%llx, +0x%llx) of %s's memfd: %s",
				    (unsigned long long)start, (unsigned long long)(end - start),
				    r->name, strerror(-ret));
			return ret;
		}
		return (int64_t)(end - start);
	}
	/* RAM without a file: anonymous memory, shared (MADV_REMOVE) or private */
	start = ALIGN_UP(off, gran);
	end = ALIGN_DOWN(off + len, gran);
	if (end <= start)
		return 0;
	if (madvise((uint8_t *)r->hva + start, end - start, MADV_REMOVE) < 0 &&
	    madvise((uint8_t *)r->hva + start, end - start, MADV_DONTNEED) < 0) {
		ret = -errno;
		vb_warn_bad(vb, "cannot discard [0x%llx, +0x%llx) of %s: %s",
			    (unsigned long long)(r->gpa + start), (unsigned long long)(end - start),
			    r->name, strerror(-ret));
		return ret;
	}
	return (int64_t)(end - start);
}

enum vb_op {
	VB_INFLATE,
	VB_DEFLATE,
	VB_REPORT,
};

static const char *const vb_op_names[] = { "inflate", "deflate", "free page report" };

/*
 * Applies op to guest range [gpa, gpa+len) (whole 4 KiB pages), region by region. A page that
 * is not guest RAM is skipped with a warning; for a reported range the rest goes with it.
 */
static void vb_apply(struct virtio_balloon *vb, enum vb_op op, uint64_t gpa, uint64_t len)
{
	struct memmap_region r;
	uint64_t pages = 0, released = 0, refused = 0;

	while (len) {
		uint64_t off, piece;
		int64_t n;

		if (!memmap_find(vb->vdev.mm, gpa, &r) || r.kind != MEMMAP_RAM) {
			vb_warn_bad(vb, "%s: page 0x%llx is not guest RAM, skipped",
				    vb_op_names[op], (unsigned long long)gpa);
			if (op == VB_REPORT)
				break;
			gpa += VIRTIO_BALLOON_PAGE_SIZE;
			len -= VIRTIO_BALLOON_PAGE_SIZE;
			continue;
		}
		off = gpa - r.gpa;
		piece = MIN(len, r.size - off);
		pages += piece / VIRTIO_BALLOON_PAGE_SIZE;
		if (op != VB_DEFLATE) {
			pthread_mutex_lock(&vb->discard_lock);
			if (vb->hugetlb) {
				if (!vb->hugetlb_warned)
					pr_warn("%s: guest RAM is hugetlb-backed: %s refused, the "
						"pages stay (releasing a huge page drops its "
						"reservation)",
						vb->vdev.name, vb_op_names[op]);
				vb->hugetlb_warned = true;
				refused += piece / VIRTIO_BALLOON_PAGE_SIZE;
			} else if (vb->pinned) {
				if (!vb->pinned_warned)
					pr_warn(
					    "%s: guest memory is pinned for a passthrough device's "
					    "DMA: %s refused, the pages stay in host memory",
					    vb->vdev.name, vb_op_names[op]);
				vb->pinned_warned = true;
				refused += piece / VIRTIO_BALLOON_PAGE_SIZE;
			} else {
				n = vb_discard(vb, &r, off, piece);
				if (n > 0)
					released += (uint64_t)n;
			}
			pthread_mutex_unlock(&vb->discard_lock);
		}
		gpa += piece;
		len -= piece;
	}

	pthread_mutex_lock(&vb->lock);
	if (op == VB_INFLATE)
		vb->info.inflated_pages += pages;
	else if (op == VB_DEFLATE)
		vb->info.inflated_pages -= MIN(pages, vb->info.inflated_pages);
	if (op == VB_REPORT)
		vb->info.reported_bytes += released;
	else
		vb->info.discarded_bytes += released;
	vb->info.refused_pages += refused;
	pthread_mutex_unlock(&vb->lock);
}

/* An inflate or deflate request: an array of 32-bit PFNs, applied as runs of consecutive ones. */
static void vb_handle_pfns(struct virtio_balloon *vb, enum vb_op op,
			   const struct virtqueue_elem *elem)
{
	uint64_t n = elem->out_len / sizeof(uint32_t), run_start = 0, run_len = 0;
	uint32_t pfns[VB_PFN_BATCH];

	if (elem->out_len % sizeof(uint32_t))
		vb_warn_bad(vb, "%s request of %llu bytes is not a whole number of PFNs",
			    vb_op_names[op], (unsigned long long)elem->out_len);
	if (n > VIRTIO_BALLOON_MAX_PFNS) {
		/* bounded work per request: the rest is not even read */
		vb_warn_bad(vb, "%s request of %llu PFNs: only the first %d are taken",
			    vb_op_names[op], (unsigned long long)n, VIRTIO_BALLOON_MAX_PFNS);
		n = VIRTIO_BALLOON_MAX_PFNS;
	}
	for (uint64_t done = 0; done < n;) {
		size_t k = (size_t)MIN(n - done, (uint64_t)VB_PFN_BATCH);

		iov_to_buf(elem->out, elem->n_out, done * sizeof(uint32_t), pfns,
			   k * sizeof(uint32_t));
		for (size_t i = 0; i < k; i++) {
			uint64_t pfn = le32toh(pfns[i]);

			if (run_len && pfn == run_start + run_len) {
				run_len++;
				continue;
			}
			if (run_len)
				vb_apply(vb, op, run_start << VIRTIO_BALLOON_PFN_SHIFT,
					 run_len << VIRTIO_BALLOON_PFN_SHIFT);
			run_start = pfn;
			run_len = 1;
		}
		done += k;
	}
	if (run_len)
		vb_apply(vb, op, run_start << VIRTIO_BALLOON_PFN_SHIFT,
			 run_len << VIRTIO_BALLOON_PFN_SHIFT);
}

/* A free page report: every segment of the chain is a run of free guest pages. */
static void vb_handle_report(struct virtio_balloon *vb, const struct virtqueue_elem *elem)
{
	const struct iovec *segs[2] = { elem->out, elem->in };
	unsigned counts[2] = { elem->n_out, elem->n_in };

	for (unsigned s = 0; s < 2; s++) {
		for (unsigned i = 0; i < counts[s]; i++) {
			const struct iovec *iov = &segs[s][i];
			uint64_t gpa;

			if (!iov->iov_len)
				continue;
			if (!vb_hva_to_gpa(vb->vdev.mm, iov->iov_base, iov->iov_len, &gpa)) {
				vb_warn_bad(vb, "reported range of 0x%zx bytes is not guest RAM",
					    iov->iov_len);
				continue;
			}
			if (!IS_ALIGNED(gpa, VIRTIO_BALLOON_PAGE_SIZE) ||
			    !IS_ALIGNED((uint64_t)iov->iov_len, VIRTIO_BALLOON_PAGE_SIZE)) {
				vb_warn_bad(vb,
					    "reported range [0x%llx, +0x%zx) is not whole pages",
					    (unsigned long long)gpa, iov->iov_len);
				continue;
			}
			vb_apply(vb, VB_REPORT, gpa, iov->iov_len);
		}
	}
}

/* ---- statistics ---- */

static void vb_stats_log(struct virtio_balloon *vb, const struct virtio_balloon_info *info)
{
	static const char *const names[] = VIRTIO_BALLOON_S_NAMES;
	char line[768];
	size_t used = 0;

	for (unsigned t = 0; t < VIRTIO_BALLOON_STATS_MAX && used < sizeof(line); t++) {
		if (!(info->stats_valid & (1U << t)))
			continue;
		if (t < ARRAY_SIZE(names))
			used += (size_t)snprintf(line + used, sizeof(line) - used, " %s=%llu",
						 names[t], (unsigned long long)info->stats[t]);
		else
			used += (size_t)snprintf(line + used, sizeof(line) - used, " tag%u=%llu", t,
						 (unsigned long long)info->stats[t]);
	}
	pr_info_ratelimited("%s: guest statistics:%s", vb->vdev.name, used ? line : " none");
}

static void vb_handle_stats(struct virtio_balloon *vb, const struct virtqueue_elem *elem)
{
	struct virtio_balloon_stat st[VB_STATS_BATCH];
	uint64_t n = elem->out_len / sizeof(st[0]);
	struct virtio_balloon_info copy;
	bool changed = false;

	if (elem->out_len % sizeof(st[0]))
		vb_warn_bad(vb, "statistics buffer of %llu bytes is not whole entries",
			    (unsigned long long)elem->out_len);
	if (n > VB_STATS_BATCH) {
		vb_warn_bad(vb, "statistics buffer of %llu entries, reading the first %d",
			    (unsigned long long)n, VB_STATS_BATCH);
		n = VB_STATS_BATCH;
	}
	iov_to_buf(elem->out, elem->n_out, 0, st, n * sizeof(st[0]));

	pthread_mutex_lock(&vb->lock);
	for (uint64_t i = 0; i < n; i++) {
		uint16_t tag;
		uint64_t val;

		memcpy(&tag, (uint8_t *)&st[i] + offsetof(struct virtio_balloon_stat, tag), 2);
		memcpy(&val, (uint8_t *)&st[i] + offsetof(struct virtio_balloon_stat, val), 8);
		tag = le16toh(tag);
		val = le64toh(val);
		/* tags this device does not know (newer guests) are skipped */
		if (tag >= VIRTIO_BALLOON_STATS_MAX)
			continue;
		if (!(vb->info.stats_valid & (1U << tag)) || vb->info.stats[tag] != val)
			changed = true;
		vb->info.stats[tag] = val;
		vb->info.stats_valid |= 1U << tag;
	}
	vb->info.stats_updates++;
	copy = vb->info;
	pthread_mutex_unlock(&vb->lock);
	if (changed)
		vb_stats_log(vb, &copy);
}

/* Asks the driver for new statistics: it refills the buffer we give back. */
static void vb_stats_request(struct virtio_balloon *vb)
{
	struct virtqueue *vq;

	if (!vb->stats_held || vb->stats_q < 0)
		return;
	vq = &vb->vdev.vqs[vb->stats_q];
	vb->stats_held = false;
	virtqueue_push(vq, &vb->stats_elem, 0);
	virtio_notify_queue(&vb->vdev, vq);
}

/* ---- queues ---- */

static enum virtio_chain_result vb_chain(struct virtio_device *vdev, struct virtqueue *vq,
					 struct virtqueue_elem *elem, uint32_t *written)
{
	struct virtio_balloon *vb = to_vb(vdev);
	int q = (int)vq->index;

	if (q == vb->stats_q) {
		/* a second buffer while we hold one: give the old one back */
		if (vb->stats_held)
			virtqueue_push(vq, &vb->stats_elem, 0);
		vb_handle_stats(vb, elem);
		vb->stats_elem = *elem;
		vb->stats_held = true;
		return VIRTIO_CHAIN_KEPT;
	}
	if (q == VB_INFLATE_Q)
		vb_handle_pfns(vb, VB_INFLATE, elem);
	else if (q == VB_DEFLATE_Q)
		vb_handle_pfns(vb, VB_DEFLATE, elem);
	else if (q == vb->report_q)
		vb_handle_report(vb, elem);
	return VIRTIO_CHAIN_DONE;
}

static void vb_queue_notify(struct virtio_device *vdev, struct virtqueue *vq)
{
	virtio_queue_process(vdev, vq, &to_vb(vdev)->elem, vb_chain);
}

static void vb_timer_ready(struct virtio_io_handler *h, uint32_t events)
{
	struct virtio_balloon *vb = container_of(h, struct virtio_balloon, timer);
	uint64_t expirations;

	if (read(h->fd, &expirations, sizeof(expirations)) < 0)
		return;
	if (!virtio_needs_reset(&vb->vdev))
		vb_stats_request(vb);
}

/* ---- device ops ---- */

static uint64_t vb_get_features(struct virtio_device *vdev)
{
	struct virtio_balloon *vb = to_vb(vdev);
	uint64_t f = 1ULL << VIRTIO_BALLOON_F_STATS_VQ;

	if (vb->opts.free_page_reporting)
		f |= 1ULL << VIRTIO_BALLOON_F_REPORTING;
	if (vb->opts.deflate_on_oom)
		f |= 1ULL << VIRTIO_BALLOON_F_DEFLATE_ON_OOM;
	return f;
}

static void vb_read_config(struct virtio_device *vdev, unsigned offset, void *data, unsigned len)
{
	struct virtio_balloon *vb = to_vb(vdev);
	struct virtio_balloon_config cfg = { 0 };

	pthread_mutex_lock(&vb->lock);
	cfg.num_pages = htole32(vb->info.num_pages);
	cfg.actual = htole32(vb->info.actual);
	pthread_mutex_unlock(&vb->lock);
	if (offset < sizeof(cfg) && len <= sizeof(cfg) - offset)
		memcpy(data, (uint8_t *)&cfg + offset, len);
}

/* Only `actual` is the driver's to write. */
static void vb_write_config(struct virtio_device *vdev, unsigned offset, const void *data,
			    unsigned len)
{
	struct virtio_balloon *vb = to_vb(vdev);
	const unsigned lo = offsetof(struct virtio_balloon_config, actual), hi = lo + 4;
	uint32_t actual;
	bool reached;

	if (offset >= hi || offset + len <= lo)
		return;
	pthread_mutex_lock(&vb->lock);
	actual = htole32(vb->info.actual);
	for (unsigned i = MAX(offset, lo); i < MIN(offset + len, hi); i++)
		((uint8_t *)&actual)[i - lo] = ((const uint8_t *)data)[i - offset];
	actual = le32toh(actual);
	reached = actual != vb->info.actual && actual == vb->info.num_pages;
	vb->info.actual = actual;
	pthread_mutex_unlock(&vb->lock);
	if (reached)
		pr_info_ratelimited(
		    "%s: the guest reached the target: %u pages (%llu MiB) in the "
		    "balloon",
		    vdev->name, actual,
		    (unsigned long long)((uint64_t)actual * VIRTIO_BALLOON_PAGE_SIZE >> 20));
	else
		pr_debug("%s: the guest holds %u pages in the balloon", vdev->name, actual);
}

static void vb_timer_disarm(struct virtio_balloon *vb)
{
	struct itimerspec off = { 0 };

	timerfd_settime(vb->timer.fd, 0, &off, NULL);
}

static int vb_activate(struct virtio_device *vdev)
{
	struct virtio_balloon *vb = to_vb(vdev);
	unsigned nr = 2;
	int ret;

	/* queues of features the driver did not take do not exist; later ones move down */
	vb->stats_q = virtio_has_feature(vdev, VIRTIO_BALLOON_F_STATS_VQ) ? (int)nr++ : -1;
	vb->report_q = virtio_has_feature(vdev, VIRTIO_BALLOON_F_REPORTING) ? (int)nr++ : -1;
	vb->stats_held = false;
	if (vb->stats_q >= 0 && vb->opts.stats_period_ms) {
		struct itimerspec its = { 0 };

		its.it_interval.tv_sec = vb->opts.stats_period_ms / 1000;
		its.it_interval.tv_nsec = (long)(vb->opts.stats_period_ms % 1000) * 1000000L;
		its.it_value = its.it_interval;
		if (timerfd_settime(vb->timer.fd, 0, &its, NULL) < 0) {
			ret = -errno;
			pr_err_ratelimited("%s: cannot arm the statistics timer: %s", vdev->name,
					   strerror(-ret));
			return ret;
		}
		ret = virtio_device_watch(vdev, &vb->timer, EPOLLIN);
		if (ret) {
			vb_timer_disarm(vb);
			return ret;
		}
	}
	return 0;
}

/* After the I/O thread stopped: the stats buffer held is forgotten with the queues. */
static void vb_reset(struct virtio_device *vdev)
{
	struct virtio_balloon *vb = to_vb(vdev);

	vb_timer_disarm(vb);
	vb->stats_held = false;
	vb->stats_q = vb->report_q = -1;
	/* a reset driver holds nothing: its ballooned pages come back as it touches them */
	pthread_mutex_lock(&vb->lock);
	vb->info.actual = 0;
	vb->info.inflated_pages = 0;
	pthread_mutex_unlock(&vb->lock);
}

static const struct virtio_device_ops virtio_balloon_ops = {
	.get_features = vb_get_features,
	.read_config = vb_read_config,
	.write_config = vb_write_config,
	.activate = vb_activate,
	.queue_notify = vb_queue_notify,
	.reset = vb_reset,
};

/* ---- host API ---- */

static uint32_t vb_target_pages(uint64_t ram, uint64_t bytes)
{
	uint64_t pages = bytes >= ram ? 0 : (ram - bytes) / VIRTIO_BALLOON_PAGE_SIZE;

	return (uint32_t)MIN(pages, (uint64_t)UINT32_MAX);
}

void virtio_balloon_set_target(struct virtio_device *vdev, uint64_t bytes)
{
	struct virtio_balloon *vb = to_vb(vdev);
	uint32_t pages;

	if (vb->hugetlb) {
		pr_warn("%s: guest RAM is hugetlb-backed: no target (a huge page given back loses "
			"its reservation)",
			vdev->name);
		return;
	}
	pthread_mutex_lock(&vb->lock);
	pages = vb->info.num_pages = vb_target_pages(vb->info.ram_size, bytes);
	pthread_mutex_unlock(&vb->lock);
	pr_info("%s: target %llu MiB of guest memory: %u pages (%llu MiB) in the balloon",
		vdev->name, (unsigned long long)(bytes >> 20), pages,
		(unsigned long long)((uint64_t)pages * VIRTIO_BALLOON_PAGE_SIZE >> 20));
	if (atomic_load(&vdev->status) & VIRTIO_CONFIG_S_DRIVER_OK)
		virtio_notify_config(vdev);
}

void virtio_balloon_set_pinned(struct virtio_device *vdev, bool pinned)
{
	struct virtio_balloon *vb = to_vb(vdev);

	pthread_mutex_lock(&vb->discard_lock);
	if (pinned != vb->pinned)
		pr_info("%s: guest memory %s: inflation and free page reporting %s", vdev->name,
			pinned ? "pinned for passthrough DMA" : "no longer pinned",
			pinned ? "refused" : "allowed again");
	vb->pinned = pinned;
	vb->pinned_warned = false;
	pthread_mutex_unlock(&vb->discard_lock);
}

void virtio_balloon_get_info(struct virtio_device *vdev, struct virtio_balloon_info *info)
{
	struct virtio_balloon *vb = to_vb(vdev);

	pthread_mutex_lock(&vb->lock);
	*info = vb->info;
	pthread_mutex_unlock(&vb->lock);
}

int virtio_balloon_create(const struct virtio_balloon_options *opts, struct memmap *mm,
			  struct virtio_device **out)
{
	struct virtio_balloon *vb = calloc(1, sizeof(*vb));
	unsigned nr_queues = 3 + opts->free_page_reporting;
	uint64_t ram;
	int ret;

	if (!vb)
		return -ENOMEM;
	ret = virtio_device_init(&vb->vdev, VIRTIO_ID_BALLOON, "virtio-balloon", nr_queues,
				 VIRTIO_BALLOON_QUEUE_SIZE, &virtio_balloon_ops);
	if (ret) {
		free(vb);
		return ret;
	}
	vb->vdev.mm = mm;
	vb->vdev.config_size = sizeof(struct virtio_balloon_config);
	vb->opts = *opts;
	vb->stats_q = vb->report_q = -1;
	pthread_mutex_init(&vb->lock, NULL);
	pthread_mutex_init(&vb->discard_lock, NULL);
	vb->timer = (struct virtio_io_handler){ .fd = -1, .ready = vb_timer_ready };

	ram = vb_ram_size(mm);
	if (!ram) {
		pr_err("--balloon: the machine has no guest RAM to balloon");
		ret = -EINVAL;
		goto out_free;
	}
	if (opts->has_target && opts->target > ram) {
		pr_err("--balloon: target=%llu MiB is more than the guest's %llu MiB of memory",
		       (unsigned long long)(opts->target >> 20), (unsigned long long)(ram >> 20));
		ret = -EINVAL;
		goto out_free;
	}
	vb->hugetlb = vb_ram_hugetlb(mm);
	if (vb->hugetlb && (opts->has_target || opts->free_page_reporting)) {
		pr_err("--balloon %s: guest RAM is hugetlb-backed (--memory hugepages=on): a huge "
		       "page given back loses its reservation, and the guest touching it again "
		       "would die of SIGBUS once the host's pool is empty; drop one of the two",
		       opts->has_target ? "target=" : "free-page-reporting=on");
		ret = -EINVAL;
		goto out_free;
	}
	if (vb->hugetlb)
		pr_info("%s: guest RAM is hugetlb-backed: the balloon reports statistics, never "
			"asks for memory and keeps what the guest offers",
			vb->vdev.name);
	vb->info.ram_size = ram;
	if (opts->has_target)
		vb->info.num_pages = vb_target_pages(ram, opts->target);

	vb->timer.fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (vb->timer.fd < 0) {
		ret = -errno;
		pr_err("--balloon: cannot create the statistics timer: %s", strerror(-ret));
		goto out_free;
	}
	*out = &vb->vdev;
	return 0;

out_free:
	virtio_device_exit(&vb->vdev);
	pthread_mutex_destroy(&vb->discard_lock);
	pthread_mutex_destroy(&vb->lock);
	free(vb);
	return ret;
}

void virtio_balloon_destroy(struct virtio_device *vdev)
{
	struct virtio_balloon *vb;

	if (!vdev)
		return;
	vb = to_vb(vdev);
	virtio_device_exit(vdev);
	if (vb->info.discarded_bytes || vb->info.reported_bytes || vb->info.refused_pages)
		pr_info("%s: discarded %llu MiB of guest RAM on inflation and %llu MiB on free "
			"page reports; "
			"%llu pages refused while memory was pinned",
			vdev->name, (unsigned long long)(vb->info.discarded_bytes >> 20),
			(unsigned long long)(vb->info.reported_bytes >> 20),
			(unsigned long long)vb->info.refused_pages);
	close(vb->timer.fd);
	pthread_mutex_destroy(&vb->discard_lock);
	pthread_mutex_destroy(&vb->lock);
	free(vb);
}
