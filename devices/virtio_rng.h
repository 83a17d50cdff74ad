/* SPDX-License-Identifier: MIT */
/* virtio-rng: one request queue filled from a host entropy source (default /dev/urandom). */
#ifndef PTVM_DEVICES_VIRTIO_RNG_H
#define PTVM_DEVICES_VIRTIO_RNG_H

#include "devices/virtio.h"

struct virtio_rng_config {
	char src[256];
};

/* Parses --rng's value: "" or "src=PATH". */
int virtio_rng_parse(const char *spec, struct virtio_rng_config *cfg);
int virtio_rng_create(const struct virtio_rng_config *cfg, struct memmap *mm,
		      struct virtio_device **out);
void virtio_rng_destroy(struct virtio_device *vdev);

#endif
