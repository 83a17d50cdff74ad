// SPDX-License-Identifier: MIT
#include "bus.h"

#include <errno.h>
#include <string.h>

#include "log.h"
#include "util.h"

void bus_init(struct bus *bus, const char *name)
{
	memset(bus, 0, sizeof(*bus));
	bus->name = name;
	pthread_rwlock_init(&bus->lock, NULL);
}

void bus_exit(struct bus *bus)
{
	pthread_rwlock_destroy(&bus->lock);
}

int bus_register(struct bus *bus, struct bus_dev *dev)
{
	unsigned pos = 0;
	int ret = 0;

	if (!dev->len || dev->base + dev->len < dev->base)
		return -EINVAL;
	pthread_rwlock_wrlock(&bus->lock);
	for (unsigned i = 0; i < bus->nr_devs; i++) {
		struct bus_dev *o = bus->devs[i];

		if (ranges_overlap(dev->base, dev->len, o->base, o->len)) {
			/* debug, not error: a guest moving a BAR onto a taken range lands
			 * here, and must not be able to flood the log */
			pr_debug("%s bus: %s at 0x%llx+0x%llx overlaps %s at 0x%llx+0x%llx",
			       bus->name, dev->name, (unsigned long long)dev->base,
			       (unsigned long long)dev->len, o->name, (unsigned long long)o->base,
			       (unsigned long long)o->len);
			ret = -EEXIST;
			goto out_unlock;
		}
		if (o->base < dev->base)
			pos = i + 1;
	}
	if (bus->nr_devs == BUS_MAX_DEVS) {
		ret = -ENOSPC;
		goto out_unlock;
	}
	memmove(&bus->devs[pos + 1], &bus->devs[pos], (bus->nr_devs - pos) * sizeof(bus->devs[0]));
	bus->devs[pos] = dev;
	bus->nr_devs++;
	pr_debug("%s bus: %s at 0x%llx+0x%llx", bus->name, dev->name, (unsigned long long)dev->base,
		 (unsigned long long)dev->len);
out_unlock:
	pthread_rwlock_unlock(&bus->lock);
	return ret;
}

void bus_unregister(struct bus *bus, struct bus_dev *dev)
{
	pthread_rwlock_wrlock(&bus->lock);
	for (unsigned i = 0; i < bus->nr_devs; i++) {
		if (bus->devs[i] == dev) {
			memmove(&bus->devs[i], &bus->devs[i + 1],
				(bus->nr_devs - i - 1) * sizeof(bus->devs[0]));
			bus->nr_devs--;
			break;
		}
	}
	pthread_rwlock_unlock(&bus->lock);
}

static struct bus_dev *bus_lookup_locked(struct bus *bus, uint64_t addr)
{
	unsigned lo = 0, hi = bus->nr_devs;

	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;
		struct bus_dev *d = bus->devs[mid];

		if (addr < d->base)
			hi = mid;
		else if (addr - d->base >= d->len)
			lo = mid + 1;
		else
			return d;
	}
	return NULL;
}

bool bus_access(struct bus *bus, uint64_t addr, void *data, unsigned len, bool is_write)
{
	struct bus_dev *d;
	uint64_t base = 0;
	bool hit;

	/* The lock covers only the lookup: a handler may itself move windows on this bus (an
	 * ECAM write that relocates a BAR), and devices live until every vCPU has stopped, so
	 * calling it unlocked is safe. The base is sampled under the lock so the offset is
	 * consistent even if the window moves meanwhile. */
	pthread_rwlock_rdlock(&bus->lock);
	d = bus_lookup_locked(bus, addr);
	hit = d && addr + len - d->base <= d->len;
	if (hit)
		base = d->base;
	pthread_rwlock_unlock(&bus->lock);
	if (!hit) {
		if (!is_write)
			memset(data, 0xff, len);
		return false;
	}
	if (is_write) {
		if (d->ops->write)
			d->ops->write(d, addr - base, data, len);
	} else if (d->ops->read) {
		d->ops->read(d, addr - base, data, len);
	} else {
		memset(data, 0xff, len);
	}
	return true;
}
