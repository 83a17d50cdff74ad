// SPDX-License-Identifier: MIT
/* Faulting guest RAM in with several threads before it is pinned (dma_prefault.h says why). */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <sys/mman.h>

#include "iommu/dma_prefault.h"
#include "vmm/sandbox.h"
#include "vmm/util.h"

/*
 * The helpers wait here until every one is created: a populate holds the process's mmap lock
 * (for reading) for the whole slice, and creating the next thread (its stack is an mmap)
 * would wait for that, so started at once they would run one after the other (QEMU's
 * touch_all_pages waits on threads_created_flag for the same reason).
 */
struct dma_prefault_gate {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool open;
};

struct dma_prefault_slice {
	uint8_t *start;
	uint64_t size;
	struct dma_prefault_gate *gate; /* NULL: the caller's own slice, run at once */
	pthread_t thread;
	bool running;
	int ret;
};

unsigned dma_prefault_threads_choose(unsigned nr_cpus, unsigned nr_vcpus)
{
	unsigned spare = nr_cpus > nr_vcpus ? nr_cpus - nr_vcpus : 0;

	return MIN(spare, DMA_PREFAULT_MAX_THREADS);
}

unsigned dma_prefault_cpus_allowed(void)
{
	cpu_set_t set;
	int n;

	if (sched_getaffinity(0, sizeof(set), &set))
		return 1;
	n = CPU_COUNT(&set);
	return n > 0 ? (unsigned)n : 1;
}

static void *dma_prefault_slice_run(void *arg)
{
	struct dma_prefault_slice *s = arg;

	if (s->gate) {
		pthread_mutex_lock(&s->gate->lock);
		while (!s->gate->open)
			pthread_cond_wait(&s->gate->cond, &s->gate->lock);
		pthread_mutex_unlock(&s->gate->lock);
	}
	s->ret = madvise(s->start, s->size, MADV_POPULATE_WRITE) ? -errno : 0;
	return NULL;
}

int dma_prefault_range(void *hva, uint64_t size, unsigned nr_threads)
{
	struct dma_prefault_gate gate = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
					  false };
	struct dma_prefault_slice slices[DMA_PREFAULT_MAX_THREADS] = { 0 };
	uint64_t per, done = 0;
	unsigned n, used = 1;
	int ret = 0;

	n = MIN(nr_threads, DMA_PREFAULT_MAX_THREADS);
	n = (unsigned)MIN((uint64_t)n, size / DMA_PREFAULT_MIN_SLICE);
	if (n < 2)
		return 0;
	/*
	 * Equal slices on 2 MiB boundaries (a huge page is never split between two threads). None
	 * is empty: each is at least DMA_PREFAULT_MIN_SLICE but the last, which rounding shortens
	 * by at most 2 MiB for each of the n - 1 before it (DMA_PREFAULT_MAX_THREADS * 2 MiB is far
	 * below DMA_PREFAULT_MIN_SLICE).
	 */
	per = ALIGN_UP(size / n, SZ_2M);
	for (unsigned i = 0; i < n; i++) {
		slices[i].start = (uint8_t *)hva + done;
		slices[i].size = i == n - 1 ? size - done : per;
		done += slices[i].size;
	}
	/* the caller takes the first slice; a thread that cannot start leaves its slice to it */
	for (unsigned i = 1; i < n; i++) {
		slices[i].gate = &gate;
		slices[i].running = !sandbox_thread_create(SANDBOX_THREAD_IO, &slices[i].thread,
							   dma_prefault_slice_run, &slices[i]);
		used += slices[i].running;
	}
	pthread_mutex_lock(&gate.lock);
	gate.open = true;
	pthread_cond_broadcast(&gate.cond);
	pthread_mutex_unlock(&gate.lock);
	for (unsigned i = 0; i < n; i++) {
		if (slices[i].running)
			continue;
		slices[i].gate = NULL;
		dma_prefault_slice_run(&slices[i]);
	}
	for (unsigned i = 0; i < n; i++) {
		if (slices[i].running)
			pthread_join(slices[i].thread, NULL);
		if (slices[i].ret && !ret)
			ret = slices[i].ret;
	}
	return ret ? ret : (int)used;
}
