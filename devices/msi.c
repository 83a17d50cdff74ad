// SPDX-License-Identifier: MIT
#include "devices/msi.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "vmm/machine.h"

void msi_vector_init(struct msi_vector *v)
{
	memset(v, 0, sizeof(*v));
	v->fd = -1;
}

int msi_vector_open(struct msi_vector *v, uint32_t devid)
{
	if (v->fd >= 0) { /* kept from an earlier enable (msi_vector_release) */
		v->devid = devid;
		return 0;
	}
	msi_vector_init(v);
	v->devid = devid;
	v->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	return v->fd < 0 ? -errno : 0;
}

void msi_vector_release(struct vm *vm, struct msi_vector *v)
{
	uint64_t n;

	/* the irqfd goes before the route: KVM would keep injecting into a deleted GSI */
	if (v->bound)
		vm_irqfd_deassign(vm, v->fd, v->gsi);
	if (v->routed)
		vm_msi_route_del(vm, v->gsi);
	v->bound = v->routed = false;
	/* what the vector raised before its release is not delivered after the next open */
	if (v->fd >= 0 && v->shared && read(v->fd, &n, sizeof(n)) < 0)
		n = 0; /* EAGAIN: it was empty (a nonblocking eventfd) */
	v->shared = false;
}

void msi_vector_close(struct vm *vm, struct msi_vector *v)
{
	msi_vector_release(vm, v);
	if (v->fd >= 0)
		close(v->fd);
	msi_vector_init(v);
}

/* Takes what waited in the eventfd while the vector was masked: true if anything did. */
static bool msi_vector_take_pending(struct msi_vector *v)
{
	uint64_t n;

	return read(v->fd, &n, sizeof(n)) == sizeof(n) && n;
}

int msi_vector_program(struct vm *vm, struct msi_vector *v, uint64_t addr, uint32_t data,
		       bool masked)
{
	bool waited;
	int ret;

	if (v->fd < 0)
		return -EBADF;
	if (!v->routed && !masked) {
		ret = vm_msi_route_add(vm, addr, data, v->devid, &v->gsi);
		if (ret)
			return ret;
		v->routed = true;
		v->addr = addr;
		v->data = data;
	} else if (v->routed && (v->addr != addr || v->data != data)) {
		v->addr = addr;
		v->data = data;
		ret = vm_msi_route_update(vm, v->gsi, addr, data);
		if (ret)
			return ret;
	}
	if (masked && v->bound) {
		vm_irqfd_deassign(vm, v->fd, v->gsi);
		v->bound = false;
	} else if (!masked && !v->bound) {
		/*
		 * KVM injects on binding when the eventfd has a count but leaves the count in
		 * place, so the next unmask would inject it again: take the count, bind, and
		 * raise it once through the irqfd (which consumes it).
		 */
		waited = msi_vector_take_pending(v);
		ret = vm_irqfd_assign(vm, v->fd, v->gsi, -1);
		if (ret) {
			if (waited)
				msi_vector_fire(v); /* still pending for the next try */
			return ret;
		}
		v->bound = true;
		if (waited)
			msi_vector_fire(v);
	}
	return 0;
}

int msi_vector_fire(struct msi_vector *v)
{
	uint64_t one = 1;

	if (v->fd < 0)
		return -EBADF;
	return write(v->fd, &one, sizeof(one)) == sizeof(one) ? 0 : -errno;
}

bool msi_vector_pending(const struct msi_vector *v)
{
	struct pollfd p = { .fd = v->fd, .events = POLLIN };

	return v->fd >= 0 && !v->bound && poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}
