// SPDX-License-Identifier: MIT
/*
 * vmm/memmap.c: the ordered region map, its listeners (priority order, replay on late
 * registration, rollback of a failed add or replay) and the bounds of memmap_gpa_to_hva.
 * Listeners append to one shared event log, so the order across listeners is checked too.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "vmm/log.h"

#include "test_helpers.h"
#include "vmm/memmap.h"

#define MAX_EVENTS 256

struct event {
	char listener; /* the fake listener's tag */
	char op;       /* 'a' add (accepted), 'A' add refused, 'd' del */
	uint64_t gpa;
	struct memmap_region *region;
};

static struct event events[MAX_EVENTS];
static unsigned nr_events;

struct fake_listener {
	struct memmap_listener l;
	char tag;
	uint64_t fail_gpa; /* region_add fails for the region at this gpa ... */
	bool fail;	   /* ... when this is set */
	bool say;	   /* ... and logs its own error line first */
	int fail_ret;
};

static void event_log(char tag, char op, struct memmap_region *r)
{
	assert_true(nr_events < MAX_EVENTS);
	events[nr_events++] = (struct event){ tag, op, r->gpa, r };
}

static int fake_region_add(struct memmap_listener *l, struct memmap_region *r)
{
	struct fake_listener *f = container_of(l, struct fake_listener, l);

	if (f->fail && r->gpa == f->fail_gpa) {
		event_log(f->tag, 'A', r);
		if (f->say)
			pr_err("%s: cannot take %s", l->name, r->name);
		return f->fail_ret;
	}
	event_log(f->tag, 'a', r);
	return 0;
}

static void fake_region_del(struct memmap_listener *l, struct memmap_region *r)
{
	struct fake_listener *f = container_of(l, struct fake_listener, l);

	event_log(f->tag, 'd', r);
}

static void fake_listener_init(struct fake_listener *f, char tag, int priority)
{
	*f = (struct fake_listener){
		.l = { .name = "fake",
		       .priority = priority,
		       .region_add = fake_region_add,
		       .region_del = fake_region_del },
		.tag = tag,
		.fail_ret = -EIO,
	};
}

/* Checks the event log against a string of "<tag><op>" pairs and gpas. */
static void expect_events(const char *ops, const uint64_t *gpas)
{
	size_t n = strlen(ops) / 2;

	assert_int_equal(nr_events, n);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(events[i].listener, ops[2 * i]);
		assert_int_equal(events[i].op, ops[2 * i + 1]);
		assert_int_equal(events[i].gpa, gpas[i]);
	}
}

static uint8_t ram_buf[0x4000];
static uint8_t rom_buf[0x1000];

static struct memmap_region region(enum memmap_kind kind, uint64_t gpa, uint64_t size, void *hva)
{
	struct memmap_region r = { .kind = kind, .gpa = gpa, .size = size, .hva = hva, .fd = -1 };

	snprintf(r.name, sizeof(r.name), "%s@%llx", memmap_kind_name(kind),
		 (unsigned long long)gpa);
	r.kvm_slot = 1234; /* the map must reset it: the slot belongs to the KVM listener */
	return r;
}

static int add(struct memmap *mm, enum memmap_kind kind, uint64_t gpa, uint64_t size, void *hva)
{
	struct memmap_region r = region(kind, gpa, size, hva);

	return memmap_add_region(mm, &r);
}

static int setup(void **state)
{
	struct memmap *mm;

	nr_events = 0;
	/* the refusals below log errors: keep them, so tests can check what was said */
	assert_int_equal(test_log_capture_start(), 0);
	assert_int_equal(memmap_create(&mm), 0);
	*state = mm;
	return 0;
}

static int teardown(void **state)
{
	memmap_destroy(*state);
	test_log_capture_stop();
	return 0;
}

static void test_add_del_sorted_lookup(void **state)
{
	struct memmap *mm = *state;
	struct memmap_region out;

	/* added out of order: the map keeps them sorted by gpa */
	assert_int_equal(add(mm, MEMMAP_MMIO, 0x100000, 0x1000, NULL), 0);
	assert_int_equal(add(mm, MEMMAP_RAM, 0x10000, sizeof(ram_buf), ram_buf), 0);
	assert_int_equal(add(mm, MEMMAP_ROM, 0x20000, sizeof(rom_buf), rom_buf), 0);
	assert_int_equal(add(mm, MEMMAP_DEVICE_RAM, 0x14000, 0x1000, rom_buf), 0);
	assert_int_equal(mm->nr_regions, 4);
	for (unsigned i = 1; i < mm->nr_regions; i++)
		assert_true(mm->regions[i - 1]->gpa < mm->regions[i]->gpa);

	assert_true(memmap_find(mm, 0x10000, &out));
	assert_int_equal(out.kind, MEMMAP_RAM);
	assert_int_equal(out.gpa, 0x10000);
	assert_int_equal(out.kvm_slot, -1);
	assert_true(memmap_find(mm, 0x13fff, &out));
	assert_int_equal(out.kind, MEMMAP_RAM);
	assert_true(memmap_find(mm, 0x14000, &out));
	assert_int_equal(out.kind, MEMMAP_DEVICE_RAM);
	assert_true(memmap_find(mm, 0x20fff, &out));
	assert_int_equal(out.kind, MEMMAP_ROM);
	assert_true(memmap_find(mm, 0x100800, &out));
	assert_int_equal(out.kind, MEMMAP_MMIO);
	/* holes and the edges around them */
	assert_false(memmap_find(mm, 0, &out));
	assert_false(memmap_find(mm, 0xffff, &out));
	assert_false(memmap_find(mm, 0x15000, &out));
	assert_false(memmap_find(mm, 0x21000, &out));
	assert_false(memmap_find(mm, 0x101000, &out));
	assert_false(memmap_find(mm, UINT64_MAX, &out));

	/* delete by exact start only */
	assert_int_equal(memmap_del_region(mm, 0x10001), -ENOENT);
	assert_int_equal(memmap_del_region(mm, 0x14000), 0);
	assert_false(memmap_find(mm, 0x14000, &out));
	assert_int_equal(memmap_del_region(mm, 0x14000), -ENOENT);
	assert_int_equal(mm->nr_regions, 3);
	assert_true(memmap_find(mm, 0x13fff, &out));
	assert_true(memmap_find(mm, 0x20000, &out));
	/* the space is free again */
	assert_int_equal(add(mm, MEMMAP_MMIO, 0x14000, 0x2000, NULL), 0);
}

static void test_add_refuses_empty_and_wrapping(void **state)
{
	struct memmap *mm = *state;

	assert_int_equal(add(mm, MEMMAP_RAM, 0x1000, 0, ram_buf), -EINVAL);
	assert_int_equal(add(mm, MEMMAP_MMIO, UINT64_MAX - 0xfff, 0x2000, NULL), -EINVAL);
	assert_int_equal(add(mm, MEMMAP_MMIO, 1, UINT64_MAX, NULL), -EINVAL);
	assert_int_equal(mm->nr_regions, 0);
	/* the highest region that does not wrap is fine */
	assert_int_equal(add(mm, MEMMAP_MMIO, UINT64_MAX - 0xfff, 0xfff, NULL), 0);
}

static void test_overlap_refused_without_listener_calls(void **state)
{
	static const struct {
		uint64_t gpa, size;
	} overlaps[] = {
		{ 0x10000, 0x1000 },		   /* same start */
		{ 0xf000, 0x1001 },		   /* last byte inside */
		{ 0x13fff, 0x10 },		   /* first byte inside */
		{ 0x11000, 0x100 },		   /* inside */
		{ 0x0, 0x100000 },		   /* around */
		{ 0x10000, 0x4000 },		   /* identical */
		{ 0x12000, UINT64_MAX - 0x12000 }, /* from inside to the top */
	};
	struct memmap *mm = *state;
	struct fake_listener a;
	char log[4096];

	fake_listener_init(&a, 'a', 0);
	assert_int_equal(memmap_listener_register(mm, &a.l), 0);
	assert_int_equal(add(mm, MEMMAP_RAM, 0x10000, sizeof(ram_buf), ram_buf), 0);
	nr_events = 0;
	for (unsigned i = 0; i < ARRAY_SIZE(overlaps); i++) {
		assert_int_equal(add(mm, MEMMAP_MMIO, overlaps[i].gpa, overlaps[i].size, NULL),
				 -EEXIST);
		assert_int_equal(nr_events, 0);
		assert_int_equal(mm->nr_regions, 1);
	}
	/* the refusal names both regions */
	test_log_peek(log, sizeof(log));
	assert_non_null(strstr(log, "overlaps"));
	assert_non_null(strstr(log, "ram@10000"));
	assert_non_null(strstr(log, "mmio@11000"));
	/* touching on either side is no overlap */
	assert_int_equal(add(mm, MEMMAP_MMIO, 0xf000, 0x1000, NULL), 0);
	assert_int_equal(add(mm, MEMMAP_MMIO, 0x14000, 0x1000, NULL), 0);
	expect_events("aaaa", (uint64_t[]){ 0xf000, 0x14000 });
	memmap_listener_unregister(mm, &a.l);
}

static void test_listener_sees_copy_with_slot_reset(void **state)
{
	struct memmap *mm = *state;
	struct fake_listener a;
	struct memmap_region tmpl = region(MEMMAP_RAM, 0x10000, sizeof(ram_buf), ram_buf);

	fake_listener_init(&a, 'a', 0);
	assert_int_equal(memmap_listener_register(mm, &a.l), 0);
	tmpl.fd = 7;
	tmpl.fd_offset = 0x5000;
	tmpl.hugepages = true;
	assert_int_equal(memmap_add_region(mm, &tmpl), 0);
	assert_int_equal(nr_events, 1);
	assert_ptr_not_equal(events[0].region, &tmpl); /* a copy owned by the map */
	assert_int_equal(events[0].region->kvm_slot, -1);
	assert_int_equal(events[0].region->fd, 7);
	assert_int_equal(events[0].region->fd_offset, 0x5000);
	assert_true(events[0].region->hugepages);
	assert_ptr_equal(events[0].region->hva, ram_buf);
	assert_string_equal(events[0].region->name, "ram@10000");
	/* the pointer a listener got at add is the one it gets at del, even after the array
	 * shifted under it (listeners key their state on it) */
	assert_int_equal(add(mm, MEMMAP_MMIO, 0x1000, 0x1000, NULL), 0);
	assert_int_equal(add(mm, MEMMAP_MMIO, 0x2000, 0x1000, NULL), 0);
	assert_int_equal(memmap_del_region(mm, 0x10000), 0);
	assert_int_equal(nr_events, 4);
	assert_int_equal(events[3].op, 'd');
	assert_ptr_equal(events[3].region, events[0].region);
	memmap_listener_unregister(mm, &a.l);
}

static void test_priority_order(void **state)
{
	struct memmap *mm = *state;
	struct fake_listener hi, lo, mid;

	/* registered in a scrambled order; lower priority runs first on add, last on del */
	fake_listener_init(&mid, 'm', 5);
	fake_listener_init(&hi, 'h', 10);
	fake_listener_init(&lo, 'l', -3);
	assert_int_equal(memmap_listener_register(mm, &mid.l), 0);
	assert_int_equal(memmap_listener_register(mm, &hi.l), 0);
	assert_int_equal(memmap_listener_register(mm, &lo.l), 0);
	assert_int_equal(add(mm, MEMMAP_RAM, 0x10000, sizeof(ram_buf), ram_buf), 0);
	assert_int_equal(memmap_del_region(mm, 0x10000), 0);
	expect_events("lamahahdmdld",
		      (uint64_t[]){ 0x10000, 0x10000, 0x10000, 0x10000, 0x10000, 0x10000 });
	memmap_listener_unregister(mm, &lo.l);
	memmap_listener_unregister(mm, &hi.l);
	memmap_listener_unregister(mm, &mid.l);
}

static unsigned nr_batches, batch_sizes[4];

static void fake_regions_del(struct memmap_listener *l, struct memmap_region **rs, unsigned n)
{
	struct fake_listener *f = container_of(l, struct fake_listener, l);

	assert_true(nr_batches < ARRAY_SIZE(batch_sizes));
	batch_sizes[nr_batches++] = n;
	for (unsigned i = 0; i < n; i++)
		event_log(f->tag, 'D', rs[i]);
}

/*
 * memmap_del_range: the regions whole inside the range go, in one call to a listener with
 * regions_del and one region_del each to a listener without; regions that only overlap the
 * range's ends stay, and so does everything outside.
 */
static void test_del_range(void **state)
{
	struct memmap *mm = *state;
	struct fake_listener batch, single;
	struct memmap_region out;

	fake_listener_init(&batch, 'b', 10);
	batch.l.regions_del = fake_regions_del;
	fake_listener_init(&single, 's', 0);
	nr_batches = 0;
	assert_int_equal(add(mm, MEMMAP_MMIO, 0x1000, 0x1000, NULL), 0);
	assert_int_equal(add(mm, MEMMAP_MMIO, 0x2000, 0x1000, NULL), 0);
	assert_int_equal(add(mm, MEMMAP_MMIO, 0x3000, 0x800, NULL), 0);
	assert_int_equal(add(mm, MEMMAP_MMIO, 0x4000, 0x2000, NULL), 0);
	assert_int_equal(add(mm, MEMMAP_MMIO, 0x6000, 0x1000, NULL), 0);
	assert_int_equal(memmap_listener_register(mm, &batch.l), 0);
	assert_int_equal(memmap_listener_register(mm, &single.l), 0);
	nr_events = 0;

	/* 0x1000 starts before the range, 0x4000 ends after it: both stay */
	assert_int_equal(memmap_del_range(mm, 0x1800, 0x4fff), 2);
	expect_events("bDbDsdsd", (uint64_t[]){ 0x2000, 0x3000, 0x2000, 0x3000 });
	assert_int_equal(nr_batches, 1);
	assert_int_equal(batch_sizes[0], 2);
	assert_int_equal(mm->nr_regions, 3);
	assert_true(memmap_find(mm, 0x1000, &out));
	assert_false(memmap_find(mm, 0x2000, &out));
	assert_false(memmap_find(mm, 0x3000, &out));
	assert_true(memmap_find(mm, 0x4000, &out));
	assert_true(memmap_find(mm, 0x6fff, &out));

	/* nothing whole inside, an empty and a backwards range: no listener call */
	nr_events = 0;
	assert_int_equal(memmap_del_range(mm, 0x1000, 0x1ffe), 0);
	assert_int_equal(memmap_del_range(mm, 0x4000, 0x3fff), 0);
	assert_int_equal(nr_events, 0);
	assert_int_equal(nr_batches, 1);

	/* the whole space: what is left goes, still in address order */
	assert_int_equal(memmap_del_range(mm, 0, UINT64_MAX), 3);
	expect_events("bDbDbDsdsdsd",
		      (uint64_t[]){ 0x1000, 0x4000, 0x6000, 0x1000, 0x4000, 0x6000 });
	assert_int_equal(mm->nr_regions, 0);
	memmap_listener_unregister(mm, &single.l);
	memmap_listener_unregister(mm, &batch.l);
}

static void test_late_listener_replayed_in_address_order(void **state)
{
	struct memmap *mm = *state;
	struct fake_listener a;

	assert_int_equal(add(mm, MEMMAP_MMIO, 0x100000, 0x1000, NULL), 0);
	assert_int_equal(add(mm, MEMMAP_RAM, 0x10000, sizeof(ram_buf), ram_buf), 0);
	assert_int_equal(add(mm, MEMMAP_ROM, 0x20000, sizeof(rom_buf), rom_buf), 0);
	assert_int_equal(nr_events, 0);
	fake_listener_init(&a, 'a', 0);
	assert_int_equal(memmap_listener_register(mm, &a.l), 0);
	expect_events("aaaaaa", (uint64_t[]){ 0x10000, 0x20000, 0x100000 });
	/* every kind is replayed: each listener filters for itself */
	assert_int_equal(events[0].region->kind, MEMMAP_RAM);
	assert_int_equal(events[1].region->kind, MEMMAP_ROM);
	assert_int_equal(events[2].region->kind, MEMMAP_MMIO);
	/* and it now sees what comes later */
	assert_int_equal(add(mm, MEMMAP_MMIO, 0x0, 0x1000, NULL), 0);
	assert_int_equal(nr_events, 4);
	assert_int_equal(events[3].gpa, 0);
	memmap_listener_unregister(mm, &a.l);
}

static void test_failing_add_rolls_back(void **state)
{
	struct memmap *mm = *state;
	struct fake_listener a, b, c, d;
	struct memmap_region out;

	fake_listener_init(&a, 'a', 0);
	fake_listener_init(&b, 'b', 1);
	fake_listener_init(&c, 'c', 2);
	fake_listener_init(&d, 'd', 3);
	c.fail = true;
	c.fail_gpa = 0x20000;
	c.fail_ret = -ENOSPC;
	assert_int_equal(add(mm, MEMMAP_RAM, 0x10000, sizeof(ram_buf), ram_buf), 0);
	assert_int_equal(memmap_listener_register(mm, &a.l), 0);
	assert_int_equal(memmap_listener_register(mm, &b.l), 0);
	assert_int_equal(memmap_listener_register(mm, &c.l), 0);
	assert_int_equal(memmap_listener_register(mm, &d.l), 0);
	nr_events = 0;

	assert_int_equal(add(mm, MEMMAP_ROM, 0x20000, sizeof(rom_buf), rom_buf), -ENOSPC);
	/* a and b undo in reverse; c (which refused) and d (never asked) see nothing more */
	expect_events("aabacAbdad", (uint64_t[]){ 0x20000, 0x20000, 0x20000, 0x20000, 0x20000 });
	/* the map is unchanged */
	assert_int_equal(mm->nr_regions, 1);
	assert_false(memmap_find(mm, 0x20000, &out));
	assert_true(memmap_find(mm, 0x10000, &out));

	/* and the address is still free once the listener stops refusing */
	c.fail = false;
	nr_events = 0;
	assert_int_equal(add(mm, MEMMAP_ROM, 0x20000, sizeof(rom_buf), rom_buf), 0);
	expect_events("aabacada", (uint64_t[]){ 0x20000, 0x20000, 0x20000, 0x20000 });
	memmap_listener_unregister(mm, &d.l);
	memmap_listener_unregister(mm, &c.l);
	memmap_listener_unregister(mm, &b.l);
	memmap_listener_unregister(mm, &a.l);
}

static void test_failing_first_listener_calls_no_del(void **state)
{
	struct memmap *mm = *state;
	struct fake_listener a, b;

	fake_listener_init(&a, 'a', 0);
	fake_listener_init(&b, 'b', 1);
	a.fail = true;
	a.fail_gpa = 0x10000;
	assert_int_equal(memmap_listener_register(mm, &a.l), 0);
	assert_int_equal(memmap_listener_register(mm, &b.l), 0);
	assert_int_equal(add(mm, MEMMAP_RAM, 0x10000, sizeof(ram_buf), ram_buf), -EIO);
	expect_events("aA", (uint64_t[]){ 0x10000 });
	assert_int_equal(mm->nr_regions, 0);
	memmap_listener_unregister(mm, &b.l);
	memmap_listener_unregister(mm, &a.l);
}

static void test_failing_replay_leaves_nothing_registered(void **state)
{
	struct memmap *mm = *state;
	struct fake_listener a, other;

	fake_listener_init(&other, 'o', 0);
	assert_int_equal(memmap_listener_register(mm, &other.l), 0);
	assert_int_equal(add(mm, MEMMAP_RAM, 0x10000, sizeof(ram_buf), ram_buf), 0);
	assert_int_equal(add(mm, MEMMAP_ROM, 0x20000, sizeof(rom_buf), rom_buf), 0);
	assert_int_equal(add(mm, MEMMAP_MMIO, 0x30000, 0x1000, NULL), 0);
	assert_int_equal(add(mm, MEMMAP_MMIO, 0x40000, 0x1000, NULL), 0);
	nr_events = 0;

	fake_listener_init(&a, 'a', 1);
	a.l.name = "refuser";
	a.fail = true;
	a.fail_gpa = 0x30000;
	a.say = true;
	test_log_forget();
	assert_int_equal(memmap_listener_register(mm, &a.l), -EIO);
	/* what was replayed is undone, last first; the rest of the map was never offered */
	expect_events("aaaaaAadad", (uint64_t[]){ 0x10000, 0x20000, 0x30000, 0x20000, 0x10000 });
	/* the listener said why: its line is the only one (the map's own is at debug level) */
	assert_log_one_line("refuser: cannot take", NULL);

	/* a listener that refuses without a word: the map names it, in one error line */
	a.say = false;
	nr_events = 0;
	assert_int_equal(memmap_listener_register(mm, &a.l), -EIO);
	expect_events("aaaaaAadad", (uint64_t[]){ 0x10000, 0x20000, 0x30000, 0x20000, 0x10000 });
	assert_log_one_line("listener refuser refused", "during replay");

	/* not registered: it sees neither new regions nor removals */
	nr_events = 0;
	assert_int_equal(add(mm, MEMMAP_MMIO, 0x50000, 0x1000, NULL), 0);
	assert_int_equal(memmap_del_region(mm, 0x10000), 0);
	expect_events("oaod", (uint64_t[]){ 0x50000, 0x10000 });
	for (struct memmap_listener *l = mm->listeners; l; l = l->next)
		assert_ptr_not_equal(l, &a.l);
	assert_int_equal(mm->nr_regions, 4);

	/* a later registration, once it accepts, is replayed the whole current map */
	a.fail = false;
	nr_events = 0;
	assert_int_equal(memmap_listener_register(mm, &a.l), 0);
	expect_events("aaaaaaaa", (uint64_t[]){ 0x20000, 0x30000, 0x40000, 0x50000 });
	memmap_listener_unregister(mm, &a.l);
	memmap_listener_unregister(mm, &other.l);
}

static void test_unregister_deletes_every_region(void **state)
{
	struct memmap *mm = *state;
	struct fake_listener a, b;

	fake_listener_init(&a, 'a', 0);
	fake_listener_init(&b, 'b', 1);
	assert_int_equal(memmap_listener_register(mm, &a.l), 0);
	assert_int_equal(memmap_listener_register(mm, &b.l), 0);
	assert_int_equal(add(mm, MEMMAP_RAM, 0x10000, sizeof(ram_buf), ram_buf), 0);
	assert_int_equal(add(mm, MEMMAP_MMIO, 0x30000, 0x1000, NULL), 0);
	assert_int_equal(add(mm, MEMMAP_ROM, 0x20000, sizeof(rom_buf), rom_buf), 0);
	nr_events = 0;

	memmap_listener_unregister(mm, &a.l);
	expect_events("adadad", (uint64_t[]){ 0x30000, 0x20000, 0x10000 });
	/* gone: b alone sees what follows, and a second unregister is a no-op */
	nr_events = 0;
	memmap_listener_unregister(mm, &a.l);
	assert_int_equal(nr_events, 0);
	assert_int_equal(add(mm, MEMMAP_MMIO, 0x40000, 0x1000, NULL), 0);
	assert_int_equal(memmap_del_region(mm, 0x10000), 0);
	expect_events("babd", (uint64_t[]){ 0x40000, 0x10000 });
	assert_int_equal(mm->nr_regions, 3); /* the map itself is untouched by unregister */
	memmap_listener_unregister(mm, &b.l);
}

static void test_destroy_deletes_regions_for_listeners(void **state)
{
	struct memmap *mm;
	struct fake_listener a;

	(void)state;
	assert_int_equal(memmap_create(&mm), 0);
	fake_listener_init(&a, 'a', 0);
	assert_int_equal(memmap_listener_register(mm, &a.l), 0);
	assert_int_equal(add(mm, MEMMAP_RAM, 0x10000, sizeof(ram_buf), ram_buf), 0);
	assert_int_equal(add(mm, MEMMAP_MMIO, 0x30000, 0x1000, NULL), 0);
	nr_events = 0;
	memmap_destroy(mm);
	expect_events("adad", (uint64_t[]){ 0x30000, 0x10000 });
	memmap_destroy(NULL);
}

static void test_many_listeners_all_see_del(void **state)
{
	struct memmap *mm = *state;
	struct fake_listener many[40];
	unsigned adds[40] = { 0 }, dels[40] = { 0 };

	/* no fixed cap on listeners: a VM with many VFIO containers must not leave one of
	 * them holding a DMA mapping of removed memory */
	for (unsigned i = 0; i < ARRAY_SIZE(many); i++) {
		fake_listener_init(&many[i], (char)('A' + i), (int)i);
		assert_int_equal(memmap_listener_register(mm, &many[i].l), 0);
	}
	assert_int_equal(add(mm, MEMMAP_RAM, 0x10000, sizeof(ram_buf), ram_buf), 0);
	assert_int_equal(memmap_del_region(mm, 0x10000), 0);
	for (unsigned e = 0; e < nr_events; e++) {
		unsigned i = (unsigned)(events[e].listener - 'A');

		assert_true(i < ARRAY_SIZE(many));
		if (events[e].op == 'a')
			adds[i]++;
		else if (events[e].op == 'd')
			dels[i]++;
	}
	for (unsigned i = 0; i < ARRAY_SIZE(many); i++) {
		assert_int_equal(adds[i], 1);
		assert_int_equal(dels[i], 1);
	}
	/* a refused add rolls back every listener before the refusing one */
	nr_events = 0;
	many[39].fail = true;
	many[39].fail_gpa = 0x10000;
	memset(dels, 0, sizeof(dels));
	assert_int_equal(add(mm, MEMMAP_RAM, 0x10000, sizeof(ram_buf), ram_buf), -EIO);
	for (unsigned e = 0; e < nr_events; e++)
		if (events[e].op == 'd')
			dels[events[e].listener - 'A']++;
	for (unsigned i = 0; i < 39; i++)
		assert_int_equal(dels[i], 1);
	for (unsigned i = 0; i < ARRAY_SIZE(many); i++)
		memmap_listener_unregister(mm, &many[i].l);
}

static void test_region_limit(void **state)
{
	struct memmap *mm = *state;
	struct fake_listener a;

	for (unsigned i = 0; i < MEMMAP_MAX_REGIONS; i++)
		assert_int_equal(add(mm, MEMMAP_MMIO, 0x1000ULL * i, 0x1000, NULL), 0);
	fake_listener_init(&a, 'a', 0);
	assert_int_equal(memmap_listener_register(mm, &a.l), 0);
	nr_events = 0;
	assert_int_equal(add(mm, MEMMAP_MMIO, 0x1000000, 0x1000, NULL), -ENOSPC);
	assert_int_equal(nr_events, 0);
	assert_int_equal(mm->nr_regions, MEMMAP_MAX_REGIONS);
	memmap_listener_unregister(mm, &a.l);
}

/*
 * A guest moving a passthrough BAR onto RAM again and again: each refused add names both
 * regions, but the log stays bounded.
 */
static void test_overlap_log_bounded(void **state)
{
	struct memmap *mm = *state;

	assert_int_equal(add(mm, MEMMAP_RAM, 0x100000, sizeof(ram_buf), ram_buf), 0);
	test_log_forget();
	for (unsigned i = 0; i < 1000; i++)
		assert_int_equal(add(mm, MEMMAP_DEVICE_RAM, 0x100000, 0x1000, ram_buf), -EEXIST);
	assert_log_contains("overlaps");
	assert_log_bounded(1);
	assert_int_equal(mm->nr_regions, 1);
}

static void test_gpa_to_hva_bounds(void **state)
{
	struct memmap *mm = *state;
	const uint64_t base = 0x10000, size = sizeof(ram_buf);
	uint8_t buf[16] = { 1, 2, 3, 4 };

	assert_int_equal(add(mm, MEMMAP_RAM, base, size, ram_buf), 0);
	assert_int_equal(add(mm, MEMMAP_ROM, base + size, sizeof(rom_buf), rom_buf), 0);
	assert_int_equal(add(mm, MEMMAP_MMIO, 0x100000, 0x1000, NULL), 0);
	assert_int_equal(add(mm, MEMMAP_DEVICE_RAM, 0x200000, 0x1000, ram_buf), 0);
	assert_int_equal(add(mm, MEMMAP_RAM, UINT64_MAX - 0x1fff, 0x1000, ram_buf), 0);

	/* inside */
	assert_ptr_equal(memmap_gpa_to_hva(mm, base, 1), ram_buf);
	assert_ptr_equal(memmap_gpa_to_hva(mm, base + 0x123, 0x10), ram_buf + 0x123);
	assert_ptr_equal(memmap_gpa_to_hva(mm, base, size), ram_buf);
	assert_ptr_equal(memmap_gpa_to_hva(mm, base + size - 1, 1), ram_buf + size - 1);
	assert_ptr_equal(memmap_gpa_to_hva(mm, base + 5, 0), ram_buf + 5);
	assert_ptr_equal(memmap_gpa_to_hva(mm, base + size, 1), rom_buf); /* ROM: readable */
	/* start outside */
	assert_null(memmap_gpa_to_hva(mm, base - 1, 1));
	assert_null(memmap_gpa_to_hva(mm, base - 1, 2)); /* even though it ends inside */
	assert_null(memmap_gpa_to_hva(mm, 0, 0));
	assert_null(memmap_gpa_to_hva(mm, base + size + sizeof(rom_buf), 1));
	assert_null(memmap_gpa_to_hva(mm, base + size + sizeof(rom_buf), 0));
	/* length crossing the end, also into the adjacent ROM region */
	assert_null(memmap_gpa_to_hva(mm, base, size + 1));
	assert_null(memmap_gpa_to_hva(mm, base + size - 1, 2));
	assert_null(memmap_gpa_to_hva(mm, base + size - 0x10, 0x20));
	/* trapped or device memory has no host pointer for device models */
	assert_null(memmap_gpa_to_hva(mm, 0x100000, 1));
	assert_null(memmap_gpa_to_hva(mm, 0x100000, 0));
	assert_null(memmap_gpa_to_hva(mm, 0x200000, 1));
	/* overflow of gpa + len */
	assert_null(memmap_gpa_to_hva(mm, UINT64_MAX, 1));
	assert_null(memmap_gpa_to_hva(mm, UINT64_MAX, UINT64_MAX));
	assert_null(memmap_gpa_to_hva(mm, base, UINT64_MAX));
	assert_null(memmap_gpa_to_hva(mm, base + 0x10, UINT64_MAX - 0x8));
	assert_null(memmap_gpa_to_hva(mm, base + 0x10, UINT64_MAX - base - 0xf));
	assert_null(memmap_gpa_to_hva(mm, UINT64_MAX - 0x1fff + 0x800, 0x1000));
	assert_null(memmap_gpa_to_hva(mm, UINT64_MAX - 0x1fff + 0x800, UINT64_MAX));
	assert_ptr_equal(memmap_gpa_to_hva(mm, UINT64_MAX - 0x1fff + 0x800, 0x800),
			 ram_buf + 0x800);

	/* the copy helpers follow the same rule */
	assert_int_equal(memmap_write(mm, base + 0x100, buf, 4), 0);
	assert_memory_equal(ram_buf + 0x100, buf, 4);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(memmap_read(mm, base + 0x100, buf, 4), 0);
	assert_int_equal(buf[3], 4);
	assert_int_equal(memmap_write(mm, base + size - 2, buf, 4), -EFAULT);
	assert_int_equal(memmap_read(mm, 0x100000, buf, 4), -EFAULT);
	assert_int_equal(memmap_read(mm, UINT64_MAX, buf, 16), -EFAULT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_add_del_sorted_lookup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_add_refuses_empty_and_wrapping, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_overlap_refused_without_listener_calls, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_listener_sees_copy_with_slot_reset, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_priority_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_del_range, setup, teardown),
		cmocka_unit_test_setup_teardown(test_late_listener_replayed_in_address_order, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_failing_add_rolls_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failing_first_listener_calls_no_del, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_failing_replay_leaves_nothing_registered,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_unregister_deletes_every_region, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_destroy_deletes_regions_for_listeners, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_many_listeners_all_see_del, setup, teardown),
		cmocka_unit_test_setup_teardown(test_region_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gpa_to_hva_bounds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overlap_log_bounded, setup, teardown),
	};

	return cmocka_run_group_tests_name("memmap_listener", tests, NULL, NULL);
}
