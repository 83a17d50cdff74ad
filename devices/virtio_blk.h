/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk over a host file (or block device): read, write, flush (fdatasync), get-id,
 * discard and write-zeroes where the file system can punch holes, read-only disks.
 *
 * Requests are handled in two layers. virtio_blk_handle_request() is pure: it takes one popped
 * chain and a struct virtio_blk_disk (fd, capacity, what the file supports), does the I/O
 * with preadv/pwritev straight on the guest's buffers, writes the status byte and says how
 * many bytes the chain got; unit tests drive it without KVM or a transport. The device
 * (virtio_blk_create) wraps it in a virtio_device with one queue and one I/O thread.
 */
#ifndef PTVM_DEVICES_VIRTIO_BLK_H
#define PTVM_DEVICES_VIRTIO_BLK_H

#include <limits.h>
#include <linux/virtio_blk.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/virtio.h"

#define VIRTIO_BLK_SECTOR_SIZE 512
#define VIRTIO_BLK_QUEUE_SIZE 256
/* data segments per request: the walker's limit less the header and the status byte */
#define VIRTIO_BLK_SEG_MAX (VIRTQUEUE_MAX_SEGS - 2)
/* ranges in one discard / write-zeroes request, and sectors in one range */
#define VIRTIO_BLK_DWZ_SEG_MAX 32
#define VIRTIO_BLK_DWZ_SECTORS_MAX (1U << 22) /* 2 GiB */

/*
 * The parsed --disk option. Named _options, not _config: <linux/virtio_blk.h> already has a
 * struct virtio_blk_config (the device's configuration space).
 */
struct virtio_blk_options {
	char path[PATH_MAX];
	bool readonly;
	char serial[VIRTIO_BLK_ID_BYTES + 1]; /* NUL terminated; "" for none */
};

/* What a request runs against. */
struct virtio_blk_disk {
	const char *name;		  /* for logs: "virtio-blk0" */
	const struct virtio_device *vdev; /* its device: a reset stops a long transfer */
	int fd;
	uint64_t capacity; /* in 512-byte sectors */
	bool readonly;
	bool discard;	    /* FALLOC_FL_PUNCH_HOLE works on fd */
	bool write_zeroes;  /* offered: punch hole and/or FALLOC_FL_ZERO_RANGE work */
	bool zero_range;    /* FALLOC_FL_ZERO_RANGE is worth trying (cleared on EOPNOTSUPP) */
	bool writethrough;  /* the driver did not take F_FLUSH: each write is made durable */
	bool io_error_seen; /* the first host I/O error is a warning, later ones debug */
	char serial[VIRTIO_BLK_ID_BYTES]; /* zero padded, not terminated */
};

/*
 * Parses the value of --disk: "path=FILE[,readonly=on|off][,serial=ID]". -EINVAL after one
 * pr_err naming --disk and the bad part.
 */
int virtio_blk_parse(const char *spec, struct virtio_blk_options *opts);

/*
 * Opens the file (read-only for readonly=on), sizes it, probes discard support and builds the
 * device with its I/O thread (not started). -errno after one pr_err naming the file.
 */
int virtio_blk_create(const struct virtio_blk_options *opts, struct memmap *mm,
		      struct virtio_device **out);
/* Stops the I/O thread, closes the file, frees. Accepts NULL. */
void virtio_blk_destroy(struct virtio_device *vdev);

/*
 * Runs one request chain against the disk: parses the header (which may span segments),
 * validates it, does the I/O and writes the status byte (the chain's last writable byte).
 * Returns the status (VIRTIO_BLK_S_*) with *written set to the length to push, or -EINVAL
 * when the chain has no writable byte for a status (the device then needs a reset).
 */
int virtio_blk_handle_request(struct virtio_blk_disk *disk, const struct virtqueue_elem *elem,
			      uint32_t *written);

/* The disk a device runs on (tests look at its capacity and what it offers). */
struct virtio_blk_disk *virtio_blk_get_disk(struct virtio_device *vdev);

#endif
