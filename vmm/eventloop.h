/* SPDX-License-Identifier: MIT */
/*
 * The main thread's event loop: one epoll set for the fds that are not a device's own
 * (stdin for the console, signals, the VM stop eventfd). A handler embeds struct
 * eventloop_handler and gets back to its owner with container_of.
 */
#ifndef PTVM_EVENTLOOP_H
#define PTVM_EVENTLOOP_H

#include <stdbool.h>
#include <stdint.h>

struct eventloop_handler {
	int fd;
	const char *name;
	void (*ready)(struct eventloop_handler *h, uint32_t events);
};

struct eventloop;

int eventloop_create(struct eventloop **out);
void eventloop_destroy(struct eventloop *loop);
/* -errno without logging: the caller knows whether a refusal matters (stdin on /dev/null) */
int eventloop_add(struct eventloop *loop, struct eventloop_handler *h, uint32_t events);
void eventloop_del(struct eventloop *loop, struct eventloop_handler *h);
/* Dispatches events until eventloop_stop(); returns 0, or -errno if epoll fails. */
int eventloop_run(struct eventloop *loop);
void eventloop_stop(struct eventloop *loop);

#endif
