/* SPDX-License-Identifier: MIT */
/*
 * virtio-console with one port and no MULTIPORT (what Linux shows as /dev/hvc0): receiveq 0
 * carries input to the guest, transmitq 1 its output, which is written to an fd (stdout).
 *
 * Input does not come from an fd the device watches: the VMM's own stdin reader (which also
 * handles the Ctrl-A escape and the terminal) hands bytes to virtio_console_receive. The device
 * keeps them in a buffer until the guest posts receive buffers, so nothing typed before the
 * driver is up, or while the guest is busy, is lost — up to VIRTIO_CONSOLE_RX_BUF bytes; the
 * return value says how many were taken. The guest's buffers are filled on the device's own
 * I/O thread, which is the only thread that touches the queues.
 *
 * VIRTIO_CONSOLE_F_EMERG_WRITE is offered (a byte written to emerg_wr goes straight out, for
 * early output) and VIRTIO_CONSOLE_F_SIZE when the output fd is a terminal with a size.
 */
#ifndef PTVM_DEVICES_VIRTIO_CONSOLE_H
#define PTVM_DEVICES_VIRTIO_CONSOLE_H

#include <linux/virtio_console.h>
#include <stddef.h>

#include "devices/virtio.h"

#define VIRTIO_CONSOLE_QUEUE_SIZE 64
#define VIRTIO_CONSOLE_RX_BUF 65536

/* The parsed --console option (_options: <linux/virtio_console.h> has virtio_console_config). */
struct virtio_console_options {
	int out_fd; /* the guest's output; not closed by the device */
};

/* Parses --console's value: "virtio" (output to stdout). -EINVAL after a pr_err otherwise. */
int virtio_console_parse(const char *spec, struct virtio_console_options *opts);
/* Builds the device with its I/O thread (not started). -errno after a pr_err. */
int virtio_console_create(const struct virtio_console_options *opts, struct memmap *mm,
			  struct virtio_device **out);
/* Stops the I/O thread and frees. Accepts NULL. */
void virtio_console_destroy(struct virtio_device *vdev);

/*
 * Input for the guest, from any one thread. Returns the bytes taken (fewer than len when the
 * buffer is full: the guest is not reading); they reach the guest as soon as it has receive
 * buffers. Never blocks on the guest.
 */
size_t virtio_console_receive(struct virtio_device *vdev, const void *buf, size_t len);

/* The most virtio_console_input takes at once. */
#define VIRTIO_CONSOLE_INPUT_MAX 64
/*
 * Host input with backpressure, for the console reader (ptvm's stdin), as uart_input is for
 * COM1: takes all of buf (len at most VIRTIO_CONSOLE_INPUT_MAX). Returns false when the buffer
 * has less room left than that: the reader then stops reading its source until
 * virtio_console_input_room_fd() (an eventfd; read it to clear it) becomes readable, which
 * the I/O thread makes it once the guest has taken enough. So nothing is ever dropped, and a
 * guest that does not read only makes the reader wait.
 */
bool virtio_console_input(struct virtio_device *vdev, const void *buf, size_t len);
int virtio_console_input_room_fd(struct virtio_device *vdev);

#endif
