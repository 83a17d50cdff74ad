/* SPDX-License-Identifier: MIT */
/*
 * Faulting guest RAM in with several threads before VFIO_IOMMU_MAP_DMA pins it.
 *
 * Pinning a range the process has never touched faults every page in from inside the ioctl,
 * one page after another under the container's lock, and most of that time is the kernel
 * clearing the new pages (kernel commit 4d83de6da265: 78% of 0.61 s per GiB). Two map calls
 * on one container cannot overlap (type1 holds iommu->lock for the whole pin), but the
 * clearing can be done beforehand by as many threads as the host has CPUs to spare:
 * MADV_POPULATE_WRITE on slices of the range, then one MAP_DMA that finds every page present
 * (54 ms per 256 MiB in the test host against 1067 ms untouched). Cloud Hypervisor does the
 * same for its prefault (PR 8785). With no CPU to spare the map faults the pages in itself:
 * nothing is gained by a second pass, so nothing is done.
 */
#ifndef PTVM_IOMMU_DMA_PREFAULT_H
#define PTVM_IOMMU_DMA_PREFAULT_H

#include <stdint.h>

/* The most threads one range is faulted in by, and the least each of them is given. */
#define DMA_PREFAULT_MAX_THREADS 8
#define DMA_PREFAULT_MIN_SLICE (64ULL << 20)

/*
 * How many threads fault guest RAM in: the CPUs this process may run on that the guest's
 * vCPUs leave free (the guest boots meanwhile: taking its CPUs would slow the boot by what it
 * saves the map), at most DMA_PREFAULT_MAX_THREADS. 1 or 0 means none: the map does it.
 */
unsigned dma_prefault_threads_choose(unsigned nr_cpus, unsigned nr_vcpus);

/* The CPUs in this process's affinity mask (at least 1). */
unsigned dma_prefault_cpus_allowed(void);

/*
 * Faults [hva, hva + size) in for writing with up to nr_threads threads (the caller is one of
 * them; the others are device I/O threads, sandbox_thread_create), each a slice of at least
 * DMA_PREFAULT_MIN_SLICE on a 2 MiB boundary (the last up to 2 MiB less for each before it).
 * Returns the number of threads that ran (1: no helper could start, the caller did it all; 0: too
 * few threads or too small a range, nothing done) or -errno of the first slice that failed (EINVAL
 * from a kernel before 5.14, EFAULT where pages cannot be had): the caller maps anyway, and the
 * map says what is wrong if anything is.
 */
int dma_prefault_range(void *hva, uint64_t size, unsigned nr_threads);

#endif
