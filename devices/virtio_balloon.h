/* SPDX-License-Identifier: MIT */
/*
 * virtio-balloon: the host asks the guest to give memory back, and the guest can report free
 * pages on its own.
 *
 * Queues: inflateq 0 and deflateq 1, then statsq (VIRTIO_BALLOON_F_STATS_VQ) and the free page
 * reporting queue (VIRTIO_BALLOON_F_REPORTING, offered with free-page-reporting=on); a queue
 * whose feature the driver did not take does not exist and the later ones move down, as Linux
 * numbers them.
 *
 * Inflation and reporting release the backing of guest RAM: a hole is punched in the RAM memfd
 * (FALLOC_FL_PUNCH_HOLE, which also unmaps the pages, so ptvm's RSS drops); the guest gets
 * zeroed pages back when it touches them again, so deflation is bookkeeping only. Only whole
 * blocks of the memfd's page size are released. Every guest-given PFN and range is checked
 * against the RAM regions of
 * the map before anything is punched; bad entries are skipped with a rate-limited warning.
 * The work per request is bounded: at most VIRTIO_BALLOON_MAX_PFNS PFNs of an inflate or
 * deflate request are looked at, whatever its descriptors claim.
 *
 * Passthrough: while guest memory is pinned for DMA (virtio_balloon_set_pinned), inflation and
 * free page reporting are refused — the pages stay — and the guest's buffers are still
 * returned so it does not wait forever.
 *
 * hugetlb-backed RAM (--memory hugepages=on) is never discarded: ptvm reserves its huge pages
 * at start-up so that the guest never meets SIGBUS, and a punched huge page loses that
 * reservation; the guest touching it again would die once the host's pool is empty. So the
 * device never asks for memory (num_pages stays 0, a target is refused), does not offer free
 * page reporting, and keeps what a guest offers unasked (counted as refused, the buffers
 * returned): the virtio way of giving nothing back. target= or free-page-reporting=on with
 * such RAM is refused at start-up.
 */
#ifndef PTVM_DEVICES_VIRTIO_BALLOON_H
#define PTVM_DEVICES_VIRTIO_BALLOON_H

#include <linux/virtio_balloon.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/virtio.h"

#define VIRTIO_BALLOON_QUEUE_SIZE 128
#define VIRTIO_BALLOON_PAGE_SIZE (1ULL << VIRTIO_BALLOON_PFN_SHIFT)
/* stats tags kept (newer guests send tags past VIRTIO_BALLOON_S_NR; unknown ones are skipped) */
#define VIRTIO_BALLOON_STATS_MAX 16
#define VIRTIO_BALLOON_STATS_PERIOD_MS 5000
/*
 * PFNs taken from one inflate or deflate request; the rest of a longer one is skipped as
 * malformed. Linux sends at most 256 (VIRTIO_BALLOON_ARRAY_PFNS_MAX); without a bound, one
 * chain of 256 aliased 4 GiB descriptors would be 2^38 PFNs of work, and a reset would wait.
 */
#define VIRTIO_BALLOON_MAX_PFNS 4096

/*
 * The parsed --balloon option. Named _options: <linux/virtio_balloon.h> has struct
 * virtio_balloon_config (the device's configuration space).
 */
struct virtio_balloon_options {
	bool free_page_reporting;
	bool deflate_on_oom;
	/* The guest's memory size after inflation (QEMU's `balloon` semantics): the balloon
	 * asks for (guest RAM - target) bytes. Only when has_target. */
	bool has_target;
	uint64_t target;
	/* how often the guest is asked for new statistics; 0: only once, at start */
	unsigned stats_period_ms;
};

/* What the device did, for ptvm's reports and for tests. */
struct virtio_balloon_info {
	uint64_t ram_size;	  /* guest RAM the target is computed against */
	uint32_t num_pages;	  /* the target: pages the guest should hold in the balloon */
	uint32_t actual;	  /* pages the guest says it holds */
	uint64_t inflated_pages;  /* inflated less deflated (the device's own count) */
	uint64_t discarded_bytes; /* guest RAM discarded on inflation (resident or not) */
	uint64_t reported_bytes;  /* guest RAM discarded on free page reports */
	uint64_t refused_pages;	  /* pages not released because memory is pinned */
	uint64_t bad_entries;	  /* PFNs, ranges and stats entries skipped as malformed */
	unsigned stats_updates;	  /* statistics buffers received */
	uint32_t stats_valid;	  /* bit n: stats[n] came from the guest */
	uint64_t stats[VIRTIO_BALLOON_STATS_MAX];
};

/*
 * Parses the value of --balloon: "" or a comma-separated list of free-page-reporting=on|off,
 * deflate-on-oom=on|off, target=SIZE (guest memory after inflation, e.g. 256M),
 * stats-period=SECONDS (0: ask once). -EINVAL after one pr_err naming --balloon and the part.
 */
int virtio_balloon_parse(const char *spec, struct virtio_balloon_options *opts);

/*
 * Builds the device (I/O thread created, not started). The guest RAM size is the sum of the
 * map's RAM regions now, so create it after guest memory. -errno after a pr_err.
 */
int virtio_balloon_create(const struct virtio_balloon_options *opts, struct memmap *mm,
			  struct virtio_device **out);
/* Stops the I/O thread and frees. Accepts NULL. */
void virtio_balloon_destroy(struct virtio_device *vdev);

/*
 * Sets the guest's memory size after inflation (bytes; at least the RAM size means an empty
 * balloon) and raises a configuration interrupt when the driver runs. Any thread.
 */
void virtio_balloon_set_target(struct virtio_device *vdev, uint64_t bytes);

/*
 * Guest memory is (or no longer is) pinned for device DMA. While pinned, no page is discarded.
 * Returns once a discard under way has finished, so the caller may pin right after. Any thread.
 */
void virtio_balloon_set_pinned(struct virtio_device *vdev, bool pinned);

/* A consistent copy of the counters and the latest guest statistics. Any thread. */
void virtio_balloon_get_info(struct virtio_device *vdev, struct virtio_balloon_info *info);

#endif
