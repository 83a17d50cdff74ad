/* SPDX-License-Identifier: MIT */
/*
 * What a transport does for a driver bringing a virtio device up, without the transport: the
 * driver's feature words, then the status steps. Shared by the unit tests (test_helpers.h adds
 * its asserts), the fuzz targets that drive a device directly and the seccomp test. Nothing is
 * checked here: the caller looks at virtio_device_status() or vdev->activated.
 */
#ifndef PTVM_TESTS_UNIT_VIRTIO_DRIVER_H
#define PTVM_TESTS_UNIT_VIRTIO_DRIVER_H

#include <stdint.h>

#include "devices/virtio.h"

/* Acks @features as they are, then ACKNOWLEDGE, DRIVER and FEATURES_OK. */
static inline void virtio_driver_features_ok(struct virtio_device *vdev, uint64_t features)
{
	uint8_t st = VIRTIO_CONFIG_S_ACKNOWLEDGE;

	virtio_device_set_driver_features(vdev, 0, (uint32_t)features);
	virtio_device_set_driver_features(vdev, 1, (uint32_t)(features >> 32));
	virtio_device_set_status(vdev, st);
	virtio_device_set_status(vdev, st |= VIRTIO_CONFIG_S_DRIVER);
	virtio_device_set_status(vdev, st | VIRTIO_CONFIG_S_FEATURES_OK);
}

/* virtio_driver_features_ok, then DRIVER_OK: the core starts the queues and the I/O thread. */
static inline void virtio_driver_ok(struct virtio_device *vdev, uint64_t features)
{
	virtio_driver_features_ok(vdev, features);
	virtio_device_set_status(vdev, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
					   VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
}

#endif
