// SPDX-License-Identifier: MIT
/*
 * iommu/dma_listener.c in background mode against a fake VFIO backend whose map calls block
 * until the test lets them go: creation returns before guest RAM is pinned (nothing is pinned
 * before dma_listener_start), dma_listener_wait
 * blocks until every mapping is in place, RAM added while a device may DMA is mapped before
 * region_add returns, a region removed while queued is never mapped and one removed while
 * being mapped is unmapped after, a failure is reported once through on_error and by every
 * wait, RLIMIT_MEMLOCK is checked before anything is queued, and destroy does not hang on
 * queued work.
 */
#include <errno.h>
#include <linux/capability.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "iommu/dma_listener.h"
#include "vmm/log.h"

#include "test_helpers.h"

#define FAKE_HVA(gpa) ((void *)(0x7f0000000000ULL + (gpa)))
#define MAX_CALLS 64

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool open;	    /* map calls return; closed: they block */
	unsigned in_map;    /* map calls blocked right now */
	char op[MAX_CALLS]; /* 'm' map, 'u' unmap */
	uint64_t iova[MAX_CALLS];
	pthread_t thread[MAX_CALLS];
	unsigned nr;
	uint64_t fail_iova;
	int fail_ret;
	int errors, last_error; /* on_error calls */
} fk = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

static int fake_map(struct dma_listener *l, uint64_t iova, uint64_t size, void *vaddr,
		    bool writable)
{
	int ret = 0;

	pthread_mutex_lock(&fk.lock);
	fk.in_map++;
	pthread_cond_broadcast(&fk.cond);
	while (!fk.open)
		pthread_cond_wait(&fk.cond, &fk.lock);
	fk.in_map--;
	if (iova == fk.fail_iova) {
		ret = fk.fail_ret;
	} else {
		assert_true(fk.nr < MAX_CALLS);
		fk.op[fk.nr] = 'm';
		fk.iova[fk.nr] = iova;
		fk.thread[fk.nr++] = pthread_self();
	}
	pthread_mutex_unlock(&fk.lock);
	return ret;
}

static int fake_unmap(struct dma_listener *l, uint64_t iova, uint64_t size)
{
	pthread_mutex_lock(&fk.lock);
	assert_true(fk.nr < MAX_CALLS);
	fk.op[fk.nr] = 'u';
	fk.iova[fk.nr] = iova;
	fk.thread[fk.nr++] = pthread_self();
	pthread_mutex_unlock(&fk.lock);
	return 0;
}

static const struct dma_backend_ops fake_ops = { .map = fake_map, .unmap = fake_unmap };
static const struct dma_backend_ops fake_ops_memlock = { .map = fake_map,
							 .unmap = fake_unmap,
							 .charges_memlock = true };

static void on_error(void *opaque, int err)
{
	pthread_mutex_lock(&fk.lock);
	fk.errors++;
	fk.last_error = err;
	pthread_mutex_unlock(&fk.lock);
}

static void gate_set(bool open)
{
	pthread_mutex_lock(&fk.lock);
	fk.open = open;
	pthread_cond_broadcast(&fk.cond);
	pthread_mutex_unlock(&fk.lock);
}

/* Waits until a map call is blocked in the fake (the worker took a job). */
static void wait_in_map(void)
{
	pthread_mutex_lock(&fk.lock);
	while (!fk.in_map)
		pthread_cond_wait(&fk.cond, &fk.lock);
	pthread_mutex_unlock(&fk.lock);
}

static unsigned calls(char op, uint64_t iova)
{
	unsigned n = 0;

	pthread_mutex_lock(&fk.lock);
	for (unsigned i = 0; i < fk.nr; i++)
		n += fk.op[i] == op && fk.iova[i] == iova;
	pthread_mutex_unlock(&fk.lock);
	return n;
}

struct fixture {
	struct memmap *mm;
	struct vfio_container c;
	struct dma_listener *l;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(memmap_create(&f->mm), 0);
	f->c = (struct vfio_container){ .fd = -1, .pgsize_bitmap = 0x40201000, .index = 5 };
	pthread_mutex_lock(&fk.lock);
	fk.open = false;
	fk.in_map = fk.nr = 0;
	fk.fail_iova = UINT64_MAX;
	fk.errors = fk.last_error = 0;
	pthread_mutex_unlock(&fk.lock);
	assert_int_equal(test_log_capture_start(), 0);
	log_level = LOG_INFO;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	gate_set(true);
	dma_listener_destroy(f->l);
	memmap_destroy(f->mm);
	test_log_capture_stop();
	free(f);
	return 0;
}

static int add(struct fixture *f, const char *name, uint64_t gpa, uint64_t size)
{
	struct memmap_region r = {
		.gpa = gpa, .size = size, .kind = MEMMAP_RAM, .fd = -1, .hva = FAKE_HVA(gpa)
	};

	snprintf(r.name, sizeof(r.name), "%s", name);
	return memmap_add_region(f->mm, &r);
}

static void create(struct fixture *f, const struct dma_backend_ops *ops)
{
	assert_int_equal(
	    dma_listener_create_background(f->mm, &f->c, false, ops, on_error, NULL, &f->l), 0);
	assert_int_equal(dma_listener_start(f->l), 0);
}

/* Nothing is pinned before dma_listener_start (ptvm starts workers once the sandbox is on):
 * RAM stays queued, then the worker thread maps it. */
static void test_nothing_mapped_before_start(void **state)
{
	struct fixture *f = *state;
	struct dma_listener_stats s;

	gate_set(true);
	assert_int_equal(add(f, "ram-low", 0, 0x20000000), 0);
	assert_int_equal(
	    dma_listener_create_background(f->mm, &f->c, false, &fake_ops, on_error, NULL, &f->l),
	    0);
	assert_int_equal(dma_listener_wait(f->l, 0.2), -ETIMEDOUT);
	assert_int_equal(calls('m', 0), 0);
	dma_listener_stats_get(f->l, &s);
	assert_int_equal(s.nr_pending, 1);
	assert_int_equal(dma_listener_start(f->l), 0);
	assert_int_equal(dma_listener_start(f->l), 0); /* once */
	assert_int_equal(dma_listener_wait(f->l, 10), 0);
	assert_int_equal(calls('m', 0), 1);
	assert_false(pthread_equal(fk.thread[0], pthread_self()));
	assert_log_contains("container5: 1 DMA mappings (512 MiB) to be made in the background");
}

/* Creation returns with guest RAM queued; waiting blocks until the worker mapped it. */
static void test_create_returns_before_pinning(void **state)
{
	struct fixture *f = *state;
	struct dma_listener_stats s;

	assert_int_equal(add(f, "ram-low", 0, 0x20000000), 0);
	assert_int_equal(add(f, "ram-high", 0x100000000, 0x20000000), 0);
	create(f, &fake_ops);
	wait_in_map();
	dma_listener_stats_get(f->l, &s);
	assert_true(s.background);
	assert_int_equal(s.nr_pending, 2);
	assert_int_equal(s.nr_mappings, 0);
	assert_int_equal(dma_listener_wait(f->l, 0.05), -ETIMEDOUT);
	gate_set(true);
	assert_int_equal(dma_listener_wait(f->l, 10), 0);
	dma_listener_stats_get(f->l, &s);
	assert_int_equal(s.nr_pending, 0);
	assert_int_equal(s.nr_mappings, 2);
	assert_int_equal(s.bytes_in_place, 0x40000000);
	assert_true(s.in_place_seconds >= 0.05);
	/* in the order they were queued, by the worker, not the caller */
	assert_int_equal(fk.iova[0], 0);
	assert_int_equal(fk.iova[1], 0x100000000);
	assert_false(pthread_equal(fk.thread[0], pthread_self()));
	assert_log_contains("container5: every DMA mapping in place");
	assert_int_equal(fk.errors, 0);
}

/* While a device may DMA, new RAM is mapped before memmap_add_region returns. */
static void test_ram_added_while_dma_is_mapped_at_once(void **state)
{
	struct fixture *f = *state;

	gate_set(true);
	assert_int_equal(add(f, "ram-low", 0, 0x10000000), 0);
	create(f, &fake_ops);
	assert_int_equal(dma_listener_wait(f->l, 10), 0);
	dma_listener_dma_users(f->l, true);
	assert_int_equal(add(f, "hot", 0x200000000, 0x10000000), 0);
	assert_int_equal(calls('m', 0x200000000), 1);
	assert_true(pthread_equal(fk.thread[fk.nr - 1], pthread_self()));
	/* and a failure there is the caller's: the region does not go in */
	pthread_mutex_lock(&fk.lock);
	fk.fail_iova = 0x300000000;
	fk.fail_ret = -EFAULT;
	pthread_mutex_unlock(&fk.lock);
	assert_int_equal(add(f, "bad", 0x300000000, 0x10000000), -EFAULT);
	assert_int_equal(fk.errors, 0);
	/* without a DMA user, back to the background */
	dma_listener_dma_users(f->l, false);
	gate_set(false);
	assert_int_equal(add(f, "later", 0x400000000, 0x10000000), 0);
	assert_int_equal(calls('m', 0x400000000), 0);
	gate_set(true);
	assert_int_equal(dma_listener_wait(f->l, 10), 0);
	assert_int_equal(calls('m', 0x400000000), 1);
}

struct del_arg {
	struct fixture *f;
	uint64_t gpa;
	bool done;
};

static void *del_thread(void *arg)
{
	struct del_arg *a = arg;

	assert_int_equal(memmap_del_region(a->f->mm, a->gpa), 0);
	__atomic_store_n(&a->done, true, __ATOMIC_SEQ_CST);
	return NULL;
}

/* Removed while queued: never mapped. Removed while being mapped: unmapped once it is. */
static void test_region_removed_before_or_while_mapping(void **state)
{
	struct fixture *f = *state;
	struct del_arg a;
	pthread_t t;

	assert_int_equal(add(f, "a", 0, 0x10000000), 0);
	assert_int_equal(add(f, "b", 0x100000000, 0x10000000), 0);
	create(f, &fake_ops);
	wait_in_map(); /* the worker is in "a" */
	assert_int_equal(memmap_del_region(f->mm, 0x100000000), 0);
	a = (struct del_arg){ f, 0, false };
	assert_int_equal(pthread_create(&t, NULL, del_thread, &a), 0);
	usleep(50000);
	assert_false(__atomic_load_n(&a.done, __ATOMIC_SEQ_CST)); /* waits for the map */
	gate_set(true);
	pthread_join(t, NULL);
	assert_int_equal(calls('m', 0), 1);
	assert_int_equal(calls('u', 0), 1);
	assert_int_equal(calls('m', 0x100000000), 0);
	assert_int_equal(calls('u', 0x100000000), 0);
	assert_int_equal(dma_listener_wait(f->l, 10), 0);
}

/* A pin failure in the background: logged with the advice, on_error once, every wait says so. */
static void test_background_failure_reported(void **state)
{
	struct fixture *f = *state;

	pthread_mutex_lock(&fk.lock);
	fk.fail_iova = 0x100000000;
	fk.fail_ret = -ENOMEM;
	pthread_mutex_unlock(&fk.lock);
	gate_set(true);
	assert_int_equal(add(f, "ram-low", 0, 0x10000000), 0);
	assert_int_equal(add(f, "ram-high", 0x100000000, 0x10000000), 0);
	assert_int_equal(add(f, "ram-more", 0x200000000, 0x10000000), 0);
	create(f, &fake_ops);
	assert_int_equal(dma_listener_wait(f->l, 10), -ENOMEM);
	assert_int_equal(dma_listener_wait(f->l, 10), -ENOMEM);
	assert_int_equal(fk.errors, 1);
	assert_int_equal(fk.last_error, -ENOMEM);
	assert_log_contains("container5: VFIO_IOMMU_MAP_DMA ram-high iova 0x100000000 size "
			    "0x10000000: Cannot allocate memory: pinning guest RAM for DMA needs");
	assert_log_contains("(guest RAM 768 MiB + ");
}

/* The effective capability set: read (and, with set, replaced). */
static int caps_effective(uint32_t *get, const uint32_t *set)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d))
		return -errno;
	if (get)
		*get = d[0].effective;
	if (!set)
		return 0;
	d[0].effective = *set;
	return syscall(SYS_capset, &h, d) ? -errno : 0;
}

/* Without CAP_IPC_LOCK, a pinning RLIMIT_MEMLOCK will refuse is refused at region_add. */
static void test_memlock_checked_before_queueing(void **state)
{
	struct fixture *f = *state;
	struct rlimit old, low;
	uint32_t eff = 0, dropped;

	assert_int_equal(getrlimit(RLIMIT_MEMLOCK, &old), 0);
	low = (struct rlimit){ 64 * 1024, old.rlim_max };
	if (old.rlim_max != RLIM_INFINITY && old.rlim_max < low.rlim_cur)
		low.rlim_cur = old.rlim_max;
	assert_int_equal(setrlimit(RLIMIT_MEMLOCK, &low), 0);
	assert_int_equal(caps_effective(&eff, NULL), 0);
	dropped = eff & ~(1U << CAP_IPC_LOCK);
	assert_int_equal(caps_effective(NULL, &dropped), 0);
	gate_set(true);
	assert_int_equal(add(f, "ram-low", 0, 0x10000000), 0);
	assert_int_equal(dma_listener_create_background(f->mm, &f->c, false, &fake_ops_memlock,
							on_error, NULL, &f->l),
			 -ENOMEM);
	f->l = NULL;
	assert_log_contains("container5: VFIO_IOMMU_MAP_DMA ram-low iova 0x0 size 0x10000000: "
			    "Cannot allocate memory: pinning guest RAM for DMA needs "
			    "RLIMIT_MEMLOCK of at least");
	assert_log_contains("the current limit is 64 KiB");
	assert_int_equal(calls('m', 0), 0);
	/* a backend that does not charge the limit is not checked */
	create(f, &fake_ops);
	assert_int_equal(dma_listener_wait(f->l, 10), 0);
	assert_int_equal(caps_effective(NULL, &eff), 0);
	assert_int_equal(setrlimit(RLIMIT_MEMLOCK, &old), 0);
}

static void *gate_open_later(void *arg)
{
	usleep(50000);
	gate_set(true);
	return NULL;
}

/* Destroy with work queued and one map in flight: nothing hangs, queued work is dropped. */
static void test_destroy_with_queued_work(void **state)
{
	struct fixture *f = *state;
	pthread_t t;

	for (unsigned i = 0; i < 8; i++)
		assert_int_equal(add(f, "r", (uint64_t)i << 32, 0x10000000), 0);
	create(f, &fake_ops);
	wait_in_map();
	/* the one in flight finishes a little later, from another thread */
	assert_int_equal(pthread_create(&t, NULL, gate_open_later, NULL), 0);
	dma_listener_destroy(f->l);
	f->l = NULL;
	pthread_join(t, NULL);
	assert_int_equal(calls('m', 0), 1);
	assert_int_equal(calls('u', 0), 1);
	for (unsigned i = 1; i < 8; i++)
		assert_int_equal(calls('m', (uint64_t)i << 32), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_returns_before_pinning, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_nothing_mapped_before_start, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ram_added_while_dma_is_mapped_at_once, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_region_removed_before_or_while_mapping, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_background_failure_reported, setup, teardown),
		cmocka_unit_test_setup_teardown(test_memlock_checked_before_queueing, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_destroy_with_queued_work, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
