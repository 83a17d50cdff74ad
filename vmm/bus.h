/* SPDX-License-Identifier: MIT */
/*
 * An address-decoded bus: the port-I/O space and the trapped-MMIO space are one each.
 * A device embeds a struct bus_dev, fills base/len/ops and registers it; the vCPU exit
 * handlers dispatch each access to the device whose window holds it. Ranges never overlap.
 */
#ifndef PTVM_BUS_H
#define PTVM_BUS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct bus_dev;

struct bus_dev_ops {
	/* offset is relative to the device's base; len is 1, 2, 4 or 8 */
	void (*read)(struct bus_dev *dev, uint64_t offset, void *data, unsigned len);
	void (*write)(struct bus_dev *dev, uint64_t offset, const void *data, unsigned len);
};

struct bus_dev {
	uint64_t base;
	uint64_t len;
	const struct bus_dev_ops *ops;
	const char *name;
};

#define BUS_MAX_DEVS 256

struct bus {
	const char *name;
	pthread_rwlock_t lock;
	unsigned nr_devs;
	struct bus_dev *devs[BUS_MAX_DEVS]; /* sorted by base */
};

void bus_init(struct bus *bus, const char *name);
void bus_exit(struct bus *bus);
/* -EEXIST when the window overlaps a registered device, -EINVAL when empty or wrapping */
int bus_register(struct bus *bus, struct bus_dev *dev) __attribute__((warn_unused_result));
void bus_unregister(struct bus *bus, struct bus_dev *dev);
/* Returns false when no device decodes addr; a read then yields all ones. */
bool bus_access(struct bus *bus, uint64_t addr, void *data, unsigned len, bool is_write);

#endif
