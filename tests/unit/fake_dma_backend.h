/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A fake DMA backend for the DMA listener's unit tests: every map and unmap the listener asks
 * for is recorded in calls[] (with the container's index), and the map of fail_iova fails with
 * fail_ret. Included by one test file each (the state is static).
 */
#ifndef PTVM_TESTS_FAKE_DMA_BACKEND_H
#define PTVM_TESTS_FAKE_DMA_BACKEND_H

#include <stdbool.h>
#include <stdint.h>

#include "iommu/dma_listener.h"
#include "iommu/vfio_container.h"

#ifndef MAX_CALLS
#define MAX_CALLS 256
#endif

struct call {
	unsigned container;
	char op; /* 'm' map, 'u' unmap */
	uint64_t iova, size;
	void *vaddr;
	bool writable;
};

static struct call calls[MAX_CALLS];
static unsigned nr_calls;
static uint64_t fail_iova = UINT64_MAX; /* the map of this iova fails with fail_ret */
static int fail_ret;

static int fake_map(struct dma_listener *l, uint64_t iova, uint64_t size, void *vaddr,
		    bool writable)
{
	assert_true(nr_calls < MAX_CALLS);
	if (iova == fail_iova)
		return fail_ret;
	calls[nr_calls++] =
	    (struct call){ dma_listener_container(l)->index, 'm', iova, size, vaddr, writable };
	return 0;
}

static int fake_unmap(struct dma_listener *l, uint64_t iova, uint64_t size)
{
	assert_true(nr_calls < MAX_CALLS);
	calls[nr_calls++] =
	    (struct call){ dma_listener_container(l)->index, 'u', iova, size, NULL, false };
	return 0;
}

static const struct dma_backend_ops fake_ops = { .map = fake_map, .unmap = fake_unmap };

#endif
