/* SPDX-License-Identifier: MIT */
/*
 * The guest-physical address-space map and its listeners.
 *
 * One ordered map of non-overlapping regions. Consumers (KVM memslots, each VFIO container's
 * DMA mappings) subscribe with a listener; registering replays the current map, so a consumer
 * created after RAM exists still sees all of it. region_add returns an error and the map stays
 * as it was: a failed add or replay is rolled back.
 */
#ifndef PTVM_MEMMAP_H
#define PTVM_MEMMAP_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "util.h"

enum memmap_kind {
	MEMMAP_RAM,	   /* guest memory: host address known, DMA-mapped by VFIO */
	MEMMAP_ROM,	   /* read-only memory: read-only memslot */
	MEMMAP_DEVICE_RAM, /* a passthrough BAR the host lets us mmap */
	MEMMAP_MMIO,	   /* trapped: accesses exit to a device model */
};

struct memmap_region {
	uint64_t gpa;
	uint64_t size;
	enum memmap_kind kind;
	void *hva;	    /* RAM, ROM, DEVICE_RAM: host mapping of the whole region */
	int fd;		    /* backing memfd (RAM), -1 if none */
	uint64_t fd_offset; /* offset of gpa within fd */
	char name[32];
	bool hugepages;
	/* Owned by the KVM memslot listener: the slot number it gave this region, or -1. */
	int kvm_slot;
};

/* Callbacks run with the map's write lock held: a listener must not call back into the map
 * (memmap_gpa_to_hva, memmap_find, ...); everything it needs is in the region it is given. */
struct memmap_listener {
	const char *name;
	/* Lower runs first on add and last on delete. */
	int priority;
	int (*region_add)(struct memmap_listener *l, struct memmap_region *r);
	void (*region_del)(struct memmap_listener *l, struct memmap_region *r);
	/* Optional: n regions leaving at once (memmap_del_range), in ascending order; without
	 * it region_del is called for each. One call lets a listener that keeps its own sorted
	 * array close it up once rather than once per region (a guest's UNMAP of thousands). */
	void (*regions_del)(struct memmap_listener *l, struct memmap_region **rs, unsigned n);
	struct memmap_listener *next;
};

/* The guest-physical map's limit (memmap_create); other address spaces choose their own. */
#define MEMMAP_MAX_REGIONS 64

struct memmap {
	pthread_rwlock_t lock;
	const char *name; /* "memmap", or the address space's name, for messages */
	/* Regions come from guest requests (a vIOMMU domain): listeners rate-limit what they
	 * say about them and log each one at debug level only. */
	bool guest_controlled;
	unsigned nr_regions, max_regions, capacity;
	uint64_t ram_bytes; /* the RAM and ROM regions' sizes added up */
	/* Sorted by gpa, grown on demand up to max_regions; each region is allocated on its own
	 * so pointers handed to listeners stay valid while the array shifts. */
	struct memmap_region **regions;
	struct memmap_listener *listeners; /* sorted by priority */
};

/* The guest-physical address-space map: at most MEMMAP_MAX_REGIONS regions. */
int memmap_create(struct memmap **out);
/*
 * Another address space with the same listener interface (a guest IOMMU domain: IOVA ->
 * host address), holding up to max_regions regions; name (kept, not copied) prefixes its
 * messages; guest_controlled is set. Lookups and adds are O(log n) searches.
 */
int memmap_create_space(const char *name, unsigned max_regions, struct memmap **out);
/* Deletes every region (listeners see region_del), then frees. Accepts NULL. */
void memmap_destroy(struct memmap *mm);

/*
 * Adds a region described by tmpl (copied). Refuses an empty, wrapping or overlapping
 * region with -EINVAL / -EEXIST. Every listener sees region_add in priority order; if one
 * fails, those that succeeded see region_del and the error is returned.
 */
int memmap_add_region(struct memmap *mm, const struct memmap_region *tmpl) __must_check;
/* Removes the region starting exactly at gpa; -ENOENT if there is none. */
int memmap_del_region(struct memmap *mm, uint64_t gpa);
/* Removes every region lying whole inside [start, end] (one that only overlaps it stays),
 * in time linear in the map's size; returns how many went. */
unsigned memmap_del_range(struct memmap *mm, uint64_t start, uint64_t end);

/* Registers and replays the current map; on a replay failure nothing stays added. */
int memmap_listener_register(struct memmap *mm, struct memmap_listener *l) __must_check;
/* Unregisters; the listener sees region_del for every region, last first. */
void memmap_listener_unregister(struct memmap *mm, struct memmap_listener *l);

/*
 * Host address of [gpa, gpa+len) when it lies wholly inside one RAM or ROM region, else
 * NULL. This is the only way device models and loaders turn a guest address into a host
 * pointer: a guest-supplied address that strays outside guest memory yields NULL.
 */
void *memmap_gpa_to_hva(struct memmap *mm, uint64_t gpa, uint64_t len);
/* Copy helpers on top of memmap_gpa_to_hva; -EFAULT when the range is not guest RAM. */
int memmap_write(struct memmap *mm, uint64_t gpa, const void *src, uint64_t len);
int memmap_read(struct memmap *mm, uint64_t gpa, void *dst, uint64_t len);

/*
 * Copies the region containing gpa (any kind) into *out; false if none. A copy, because the
 * map can change under a concurrent reader (a guest moving a BAR from a vCPU thread).
 */
bool memmap_find(struct memmap *mm, uint64_t gpa, struct memmap_region *out);
/* The same for the region containing gpa or, if none does, the first one after it. */
bool memmap_find_next(struct memmap *mm, uint64_t gpa, struct memmap_region *out);

const char *memmap_kind_name(enum memmap_kind kind);

#endif
