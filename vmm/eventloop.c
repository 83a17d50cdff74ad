// SPDX-License-Identifier: MIT
#include "eventloop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

struct eventloop {
	int epfd;
	bool stop;
};

int eventloop_create(struct eventloop **out)
{
	struct eventloop *loop = calloc(1, sizeof(*loop));

	if (!loop)
		return -ENOMEM;
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0) {
		int ret = -errno;

		free(loop);
		return ret;
	}
	*out = loop;
	return 0;
}

void eventloop_destroy(struct eventloop *loop)
{
	if (!loop)
		return;
	close(loop->epfd);
	free(loop);
}

int eventloop_add(struct eventloop *loop, struct eventloop_handler *h, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = h};

	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, h->fd, &ev) < 0)
		return -errno;
	return 0;
}

void eventloop_del(struct eventloop *loop, struct eventloop_handler *h)
{
	epoll_ctl(loop->epfd, EPOLL_CTL_DEL, h->fd, NULL);
}

int eventloop_run(struct eventloop *loop)
{
	struct epoll_event evs[16];

	while (!loop->stop) {
		int n = epoll_wait(loop->epfd, evs, 16, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (int i = 0; i < n && !loop->stop; i++) {
			struct eventloop_handler *h = evs[i].data.ptr;

			h->ready(h, evs[i].events);
		}
	}
	return 0;
}

void eventloop_stop(struct eventloop *loop)
{
	loop->stop = true;
}
