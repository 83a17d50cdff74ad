// SPDX-License-Identifier: MIT
/*
 * iommu/viommu.c with passthrough endpoints: each endpoint's container (a DMA listener on a
 * fake VFIO backend that records every map and unmap per container) follows the address
 * space the guest gives the endpoint. Checked: nothing mapped before the guest attaches; a
 * domain's MAP/UNMAP stream reaching exactly the containers of its endpoints (IOVA = the
 * guest's IOVA, host address from the guest-physical map); two domains, two containers,
 * each with only its own mappings; replay when a second endpoint joins a domain; detach,
 * reset and removal unmapping everything; bypass mirroring guest RAM; what the containers
 * impose (page sizes, IOVA range, reserved ranges in PROBE, the DMA-entry limit); a refused
 * MAP (not guest RAM, reserved, over the limit, pinning failed) changing nothing, with the
 * log staying rate-limited; endpoints of one host group sharing a container.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "iommu/dma_listener.h"
#include "iommu/viommu.h"
#include "vmm/log.h"
#include "vmm/util.h"

#include "test_helpers.h"

#define FAKE_HVA(gpa) ((void *)(0x7f0000000000ULL + (gpa)))
#define RAM_LOW 0x40000000ULL
#define RAM_HIGH_GPA 0x100000000ULL
#define RAM_HIGH 0x40000000ULL
#define EP_VIRTIO 0x08
#define EP_A 0x18
#define EP_B 0x20
#define EP_A2 0x19 /* a second function in A's host group: same container */

#include "fake_dma_backend.h"

struct fixture {
	struct memmap *ram;
	struct vfio_container ca, cb;
	struct dma_listener *la, *lb;
	struct viommu *v;
	struct viommu_endpoint *virt, *a, *b;
};

/* A container as an Intel IOMMU presents it: 4K/2M/1G pages, 39 bits, the MSI hole. */
static void container_init(struct vfio_container *c, unsigned index, uint32_t dma_avail)
{
	*c = (struct vfio_container){ .fd = -1,
				      .pgsize_bitmap = 0x40201000,
				      .index = index,
				      .dma_avail = dma_avail,
				      .viommu = true };
	c->ranges[c->nr_ranges++] = (struct vfio_iova_range){ 0, 0xfedfffff };
	c->ranges[c->nr_ranges++] = (struct vfio_iova_range){ 0xfef00000, 0x7fffffffffULL };
	assert_int_equal(vfio_container_add_reserved(c, 0xfee00000, 0xfeefffff, "msi"), 0);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct memmap_region lo = { .gpa = 0, .size = RAM_LOW, .kind = MEMMAP_RAM, .fd = -1 };
	struct memmap_region hi = {
		.gpa = RAM_HIGH_GPA, .size = RAM_HIGH, .kind = MEMMAP_RAM, .fd = -1
	};

	assert_non_null(f);
	assert_int_equal(test_log_capture_start(), 0);
	log_level = LOG_INFO;
	nr_calls = 0;
	fail_iova = UINT64_MAX;
	assert_int_equal(memmap_create(&f->ram), 0);
	lo.hva = FAKE_HVA(0);
	snprintf(lo.name, sizeof(lo.name), "ram-low");
	hi.hva = FAKE_HVA(RAM_HIGH_GPA);
	snprintf(hi.name, sizeof(hi.name), "ram-high");
	assert_int_equal(memmap_add_region(f->ram, &lo), 0);
	assert_int_equal(memmap_add_region(f->ram, &hi), 0);
	container_init(&f->ca, 0, 0);
	container_init(&f->cb, 1, 4);
	/* B's group also reserves an RMRR-like direct-mapped range */
	assert_int_equal(vfio_container_add_reserved(&f->cb, 0xe0000, 0xeffff, "direct"), 0);
	/* behind the vIOMMU a container starts on no address space: nothing mapped */
	assert_int_equal(dma_listener_create(NULL, &f->ca, false, &fake_ops, &f->la), 0);
	assert_int_equal(dma_listener_create(NULL, &f->cb, false, &fake_ops, &f->lb), 0);
	assert_null(dma_listener_space(f->la));
	assert_int_equal(viommu_create(f->ram, &f->v), 0);
	assert_int_equal(viommu_add_endpoint(f->v, EP_VIRTIO, "virtio", NULL, &f->virt), 0);
	assert_int_equal(viommu_add_endpoint(f->v, EP_A, "0000:00:03.0", f->la, &f->a), 0);
	assert_int_equal(viommu_add_endpoint(f->v, EP_B, "0000:00:04.0", f->lb, &f->b), 0);
	assert_int_equal(nr_calls, 0);
	test_log_forget();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	viommu_destroy(f->v);
	dma_listener_destroy(f->la);
	dma_listener_destroy(f->lb);
	memmap_destroy(f->ram);
	test_log_capture_stop();
	free(f);
	return 0;
}

static void expect_call(unsigned i, unsigned container, char op, uint64_t iova, uint64_t size,
			uint64_t gpa, bool writable)
{
	assert_true(i < nr_calls);
	assert_int_equal(calls[i].container, container);
	assert_int_equal(calls[i].op, op);
	assert_int_equal(calls[i].iova, iova);
	assert_int_equal(calls[i].size, size);
	if (op == 'm') {
		assert_ptr_equal(calls[i].vaddr, FAKE_HVA(gpa));
		assert_int_equal(calls[i].writable, writable);
	}
}

/* The listener's mappings in place, as the report lists them. */
struct listing {
	unsigned n;
	uint64_t iova[16], size[16];
};

static void list_one(void *opaque, const char *name, uint64_t iova, uint64_t size, void *hva,
		     bool writable)
{
	struct listing *ls = opaque;

	assert_true(ls->n < 16);
	ls->iova[ls->n] = iova;
	ls->size[ls->n++] = size;
}

static struct listing listed(struct dma_listener *l)
{
	struct listing ls = { 0 };

	dma_listener_for_each(l, list_one, &ls);
	return ls;
}

static void test_what_the_containers_impose(void **state)
{
	struct fixture *f = *state;
	struct viommu_resv r[VIOMMU_MAX_RESV];
	uint64_t start, end;
	unsigned n;

	assert_int_equal(viommu_page_size_mask(f->v), 0x40201000);
	viommu_input_range(f->v, &start, &end);
	assert_int_equal(start, 0);
	assert_int_equal(end, 0x7fffffffffULL);
	/* A: the MSI window once (its reserved region and the usable-range hole are it) */
	assert_int_equal(viommu_probe(f->v, EP_A, r, VIOMMU_MAX_RESV, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(r[0].start, 0xfee00000);
	assert_int_equal(r[0].end, 0xfeefffff);
	assert_int_equal(r[0].kind, VIOMMU_RESV_MSI);
	/* B: its direct-mapped range too, sorted first */
	assert_int_equal(viommu_probe(f->v, EP_B, r, VIOMMU_MAX_RESV, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(r[0].start, 0xe0000);
	assert_int_equal(r[0].end, 0xeffff);
	assert_int_equal(r[0].kind, VIOMMU_RESV_RESERVED);
	assert_int_equal(r[1].kind, VIOMMU_RESV_MSI);
	/* an unknown endpoint */
	assert_int_equal(viommu_probe(f->v, 0x99, r, VIOMMU_MAX_RESV, &n), -ENOENT);
}

static void test_domain_stream_reaches_its_container(void **state)
{
	struct fixture *f = *state;
	struct listing ls;

	assert_int_equal(viommu_attach(f->v, 1, EP_A, false), 0);
	assert_int_equal(nr_calls, 0); /* an empty domain: still nothing mapped */
	assert_non_null(dma_listener_space(f->la));
	assert_int_equal(viommu_map(f->v, 1, 0xffff0000, 0xffff1fff, 0x1000000, true, true), 0);
	assert_int_equal(
	    viommu_map(f->v, 1, 0x200000, 0x3fffff, RAM_HIGH_GPA + 0x200000, true, false), 0);
	assert_int_equal(nr_calls, 2);
	/* IOVA = the guest's IOVA, the host address of the guest-physical page */
	expect_call(0, 0, 'm', 0xffff0000, 0x2000, 0x1000000, true);
	expect_call(1, 0, 'm', 0x200000, 0x200000, RAM_HIGH_GPA + 0x200000, false);
	ls = listed(f->la);
	assert_int_equal(ls.n, 2);
	assert_int_equal(ls.iova[0], 0x200000); /* in IOVA order */
	assert_int_equal(ls.iova[1], 0xffff0000);
	assert_int_equal(viommu_unmap(f->v, 1, 0xffff0000, 0xffff1fff), 0);
	expect_call(2, 0, 'u', 0xffff0000, 0x2000, 0, false);
	/* detaching takes the rest away: no DMA at all */
	assert_int_equal(viommu_detach(f->v, 1, EP_A), 0);
	assert_int_equal(nr_calls, 4);
	expect_call(3, 0, 'u', 0x200000, 0x200000, 0, false);
	assert_null(dma_listener_space(f->la));
	assert_int_equal(listed(f->la).n, 0);
	/* B was never touched */
	for (unsigned i = 0; i < nr_calls; i++)
		assert_int_equal(calls[i].container, 0);
}

/* One UNMAP of a range takes every mapping inside it, each unmapped once, in IOVA order,
 * and leaves the mappings on either side in place (and their IOVAs usable again). */
static void test_unmap_range_takes_every_mapping_inside(void **state)
{
	struct fixture *f = *state;
	struct listing ls;

	assert_int_equal(viommu_attach(f->v, 1, EP_A, false), 0);
	for (unsigned i = 0; i < 12; i++)
		assert_int_equal(viommu_map(f->v, 1, 0x100000 + i * 0x2000ULL,
					    0x100fff + i * 0x2000ULL, 0x1000000 + i * 0x1000ULL,
					    true, true),
				 0);
	assert_int_equal(nr_calls, 12);
	/* from the gap before mapping 2 to the end of mapping 5's gap */
	assert_int_equal(viommu_unmap(f->v, 1, 0x103000, 0x10bfff), 0);
	assert_int_equal(nr_calls, 16);
	for (unsigned i = 0; i < 4; i++)
		expect_call(12 + i, 0, 'u', 0x104000 + i * 0x2000ULL, 0x1000, 0, false);
	ls = listed(f->la);
	assert_int_equal(ls.n, 8);
	for (unsigned i = 0, k = 0; i < 12; i++) {
		if (i >= 2 && i <= 5)
			continue;
		assert_int_equal(ls.iova[k++], 0x100000 + i * 0x2000ULL);
	}
	assert_int_equal(viommu_map(f->v, 1, 0x106000, 0x106fff, 0x2000000, true, true), 0);
	expect_call(16, 0, 'm', 0x106000, 0x1000, 0x2000000, true);
	assert_int_equal(listed(f->la).n, 9);
}

static void test_two_domains_two_containers(void **state)
{
	struct fixture *f = *state;
	struct listing la, lb;
	char buf[2048];
	FILE *mem;

	assert_int_equal(viommu_attach(f->v, 1, EP_A, false), 0);
	assert_int_equal(viommu_attach(f->v, 2, EP_B, false), 0);
	assert_int_equal(viommu_map(f->v, 1, 0x10000000, 0x10000fff, 0x1000, true, true), 0);
	assert_int_equal(viommu_map(f->v, 2, 0x20000000, 0x20001fff, 0x2000, true, true), 0);
	assert_int_equal(viommu_map(f->v, 2, 0x30000000, 0x30000fff, 0x5000, true, true), 0);
	assert_int_equal(nr_calls, 3);
	expect_call(0, 0, 'm', 0x10000000, 0x1000, 0x1000, true);
	expect_call(1, 1, 'm', 0x20000000, 0x2000, 0x2000, true);
	expect_call(2, 1, 'm', 0x30000000, 0x1000, 0x5000, true);
	la = listed(f->la);
	lb = listed(f->lb);
	assert_int_equal(la.n, 1);
	assert_int_equal(la.iova[0], 0x10000000);
	assert_int_equal(lb.n, 2);
	assert_int_equal(lb.iova[0], 0x20000000);
	assert_int_equal(lb.iova[1], 0x30000000);
	/* the report says which container follows which domain */
	mem = fmemopen(buf, sizeof(buf), "w");
	assert_non_null(mem);
	assert_int_equal(viommu_report_json(f->v, mem), 0);
	fclose(mem);
	assert_non_null(strstr(buf, "\"id\":\"0x18\",\"name\":\"0000:00:03.0\",\"container\":0,"
				    "\"state\":\"domain\",\"domain\":1}"));
	assert_non_null(strstr(buf, "\"id\":\"0x20\",\"name\":\"0000:00:04.0\",\"container\":1,"
				    "\"state\":\"domain\",\"domain\":2}"));
	assert_non_null(strstr(buf, "{\"id\":2,\"bypass\":false,\"endpoints\":1,\"mappings\":2}"));
	assert_non_null(strstr(buf, "\"container\":null,\"state\":\"none\""));
	assert_string_equal(dma_listener_space(f->la)->name, "viommu-domain1");
	assert_string_equal(dma_listener_space(f->lb)->name, "viommu-domain2");
}

static void test_joining_endpoint_gets_the_domain_replayed(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(viommu_attach(f->v, 1, EP_A, false), 0);
	assert_int_equal(viommu_map(f->v, 1, 0x10000000, 0x10000fff, 0x1000, true, true), 0);
	assert_int_equal(viommu_map(f->v, 1, 0x10001000, 0x10001fff, 0x3000, true, false), 0);
	nr_calls = 0;
	assert_int_equal(viommu_attach(f->v, 1, EP_B, false), 0);
	assert_int_equal(nr_calls, 2);
	expect_call(0, 1, 'm', 0x10000000, 0x1000, 0x1000, true);
	expect_call(1, 1, 'm', 0x10001000, 0x1000, 0x3000, false);
	/* from now on both containers get the stream */
	assert_int_equal(viommu_map(f->v, 1, 0x10002000, 0x10002fff, 0x4000, true, true), 0);
	assert_int_equal(nr_calls, 4);
	assert_int_equal(calls[2].iova, 0x10002000);
	assert_int_equal(calls[3].iova, 0x10002000);
	assert_true(calls[2].container != calls[3].container);
	/* A leaving: its container is emptied, B's keeps the domain */
	nr_calls = 0;
	assert_int_equal(viommu_detach(f->v, 1, EP_A), 0);
	assert_int_equal(nr_calls, 3);
	for (unsigned i = 0; i < 3; i++)
		assert_true(calls[i].container == 0 && calls[i].op == 'u');
	assert_int_equal(listed(f->lb).n, 3);
	/* moving B to another domain: unmapped from 1, which then ends */
	nr_calls = 0;
	assert_int_equal(viommu_attach(f->v, 5, EP_B, false), 0);
	assert_int_equal(nr_calls, 3);
	assert_int_equal(listed(f->lb).n, 0);
	assert_int_equal(viommu_map(f->v, 1, 0x0, 0xfff, 0x0, true, true), -ENOENT);
}

static void test_refused_maps_change_nothing(void **state)
{
	struct fixture *f = *state;
	unsigned lines = 0;
	const char *p;

	assert_int_equal(viommu_attach(f->v, 2, EP_B, false), 0);
	assert_int_equal(viommu_attach(f->v, 2, EP_VIRTIO, false), 0);
	assert_int_equal(viommu_map(f->v, 2, 0x100000, 0x100fff, 0x1000, true, true), 0);
	nr_calls = 0;
	/* not guest RAM (the PCI hole), straddling the end of low RAM */
	assert_int_equal(viommu_map(f->v, 2, 0x200000, 0x200fff, 0xc0000000, true, true), -EFAULT);
	assert_int_equal(viommu_map(f->v, 2, 0x200000, 0x201fff, RAM_LOW - 0x1000, true, true),
			 -EFAULT);
	/* B's reserved direct range and the MSI window */
	assert_int_equal(viommu_map(f->v, 2, 0xe0000, 0xe0fff, 0x1000, true, true), -ERANGE);
	assert_int_equal(viommu_map(f->v, 2, 0xfee00000, 0xfee00fff, 0x1000, true, true), -ERANGE);
	/* beyond what the container translates (39 bits) */
	assert_int_equal(viommu_map(f->v, 2, 0x8000000000ULL, 0x8000000fffULL, 0x1000, true, true),
			 -ERANGE);
	/* a page size the container does not have as its granule */
	assert_int_equal(viommu_map(f->v, 2, 0x300800, 0x3017ff, 0x1000, true, true), -ERANGE);
	assert_int_equal(nr_calls, 0);
	/* pinning fails: NOMEM, nothing left behind, the virtio endpoint does not see it */
	fail_iova = 0x400000;
	fail_ret = -ENOMEM;
	for (int i = 0; i < 100; i++)
		assert_int_equal(viommu_map(f->v, 2, 0x400000, 0x400fff, 0x1000, true, true),
				 -ENOSPC);
	assert_null(viommu_translate(f->virt, 0x400000, 1, false));
	for (p = test_log_text(); (p = strchr(p, '\n')); p++)
		lines++;
	assert_true(lines >= 1 && lines <= LOG_RATELIMIT_BURST + 1);
	fail_iova = UINT64_MAX;
	/* the container holds 4: three more fit, the fifth does not */
	assert_int_equal(viommu_map(f->v, 2, 0x400000, 0x400fff, 0x1000, true, true), 0);
	assert_int_equal(viommu_map(f->v, 2, 0x401000, 0x401fff, 0x1000, true, true), 0);
	assert_int_equal(viommu_map(f->v, 2, 0x402000, 0x402fff, 0x1000, true, true), 0);
	nr_calls = 0;
	assert_int_equal(viommu_map(f->v, 2, 0x403000, 0x403fff, 0x1000, true, true), -ENOSPC);
	assert_int_equal(nr_calls, 0);
	assert_int_equal(listed(f->lb).n, 4);
	assert_null(viommu_translate(f->virt, 0x403000, 1, false));
	assert_non_null(viommu_translate(f->virt, 0x402000, 1, false));
}

static void test_attach_checks_the_domain_fits(void **state)
{
	struct fixture *f = *state;

	/* a virtio-only domain may map B's reserved range, but then B cannot join it */
	assert_int_equal(viommu_attach(f->v, 3, EP_VIRTIO, false), 0);
	assert_int_equal(viommu_map(f->v, 3, 0xe0000, 0xe0fff, 0x1000, true, true), 0);
	assert_int_equal(viommu_attach(f->v, 3, EP_B, false), -EOPNOTSUPP);
	assert_int_equal(viommu_attach(f->v, 3, EP_A, false), 0); /* A has no such range */
	assert_int_equal(viommu_unmap(f->v, 3, 0xe0000, 0xe0fff), 0);
	/* more mappings than B's container takes */
	for (uint64_t i = 0; i < 5; i++)
		assert_int_equal(viommu_map(f->v, 3, 0x1000000 + i * 0x1000, 0x1000fff + i * 0x1000,
					    0x1000, true, true),
				 0);
	nr_calls = 0;
	assert_int_equal(viommu_attach(f->v, 3, EP_B, false), -ENOSPC);
	assert_int_equal(nr_calls, 0);
	assert_null(dma_listener_space(f->lb));
}

static void test_bypass_mirrors_guest_ram(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(viommu_attach(f->v, 9, EP_A, true), 0);
	assert_int_equal(nr_calls, 2);
	expect_call(0, 0, 'm', 0, RAM_LOW, 0, true);
	expect_call(1, 0, 'm', RAM_HIGH_GPA, RAM_HIGH, RAM_HIGH_GPA, true);
	assert_string_equal(dma_listener_space(f->la)->name, "memmap");
	assert_int_equal(viommu_detach(f->v, 9, EP_A), 0);
	assert_int_equal(nr_calls, 4);
	/* the config bit: every unattached endpoint's container mirrors guest RAM */
	nr_calls = 0;
	assert_int_equal(viommu_attach(f->v, 1, EP_B, false), 0);
	assert_int_equal(viommu_set_bypass(f->v, true), 0);
	assert_int_equal(nr_calls, 2);
	assert_int_equal(calls[0].container, 0);
	assert_int_equal(calls[1].container, 0);
	/* reset: A stays in bypass (the setting survives); B leaves its domain, but its
	 * container cannot mirror guest RAM over its direct-mapped range: no DMA at all */
	test_log_forget();
	viommu_reset(f->v);
	assert_int_equal(nr_calls, 2);
	assert_int_equal(listed(f->la).n, 2);
	assert_int_equal(listed(f->lb).n, 0);
	assert_null(dma_listener_space(f->lb));
	assert_log_contains("container1: guest ram ram-low [0x0-0x3fffffff] collides with "
			    "reserved IOVA range [0xe0000-0xeffff] (direct)");
	/* asking for it explicitly: UNSUPP, and the log stays rate-limited */
	for (int i = 0; i < 50; i++)
		assert_int_equal(viommu_attach(f->v, 7, EP_B, true), -EOPNOTSUPP);
	assert_true(strlen(test_log_text()) < 40 * 200);
	assert_int_equal(viommu_set_bypass(f->v, false), 0);
	assert_int_equal(listed(f->la).n, 0);
	assert_int_equal(listed(f->lb).n, 0);
}

static void test_reset_and_removal_unmap(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(viommu_attach(f->v, 1, EP_A, false), 0);
	assert_int_equal(viommu_attach(f->v, 2, EP_B, false), 0);
	assert_int_equal(viommu_map(f->v, 1, 0x10000000, 0x10000fff, 0x1000, true, true), 0);
	assert_int_equal(viommu_map(f->v, 2, 0x10000000, 0x10000fff, 0x2000, true, true), 0);
	viommu_reset(f->v);
	assert_int_equal(nr_calls, 4);
	assert_int_equal(listed(f->la).n, 0);
	assert_int_equal(listed(f->lb).n, 0);
	assert_int_equal(viommu_map(f->v, 1, 0, 0xfff, 0, true, true), -ENOENT);
	/* an endpoint removed while attached (its device goes first) */
	assert_int_equal(viommu_attach(f->v, 1, EP_A, false), 0);
	assert_int_equal(viommu_map(f->v, 1, 0x10000000, 0x10000fff, 0x1000, true, true), 0);
	viommu_remove_endpoint(f->v, f->a);
	assert_int_equal(listed(f->la).n, 0);
	assert_null(dma_listener_space(f->la));
	assert_int_equal(viommu_attach(f->v, 1, EP_A, false), -ENOENT);
}

static void test_one_host_group_one_container(void **state)
{
	struct fixture *f = *state;
	struct viommu_endpoint *a2;

	assert_int_equal(viommu_add_endpoint(f->v, EP_A2, "0000:00:03.1", f->la, &a2), 0);
	assert_int_equal(viommu_attach(f->v, 1, EP_A, false), 0);
	assert_int_equal(viommu_map(f->v, 1, 0x10000000, 0x10000fff, 0x1000, true, true), 0);
	/* the container cannot follow two domains */
	assert_int_equal(viommu_attach(f->v, 2, EP_A2, false), -EOPNOTSUPP);
	assert_int_equal(viommu_attach(f->v, 2, EP_A2, true), -EOPNOTSUPP);
	assert_int_equal(viommu_attach(f->v, 1, EP_A2, false), 0);
	/* A leaving: A2 still needs the container's mappings */
	assert_int_equal(viommu_detach(f->v, 1, EP_A), 0);
	assert_int_equal(listed(f->la).n, 1);
	assert_int_equal(viommu_detach(f->v, 1, EP_A2), 0);
	assert_int_equal(listed(f->la).n, 0);
}

/*
 * Two functions of one host group share a container. One is attached to a domain; the guest
 * then turns on bypass for unattached endpoints (the config bit), which would put the other
 * into guest RAM: the container must keep following the domain (it followed whichever
 * endpoint came first, so the attached device could DMA to all guest RAM). Once the attached
 * one leaves, the container mirrors guest RAM for the other.
 */
static void test_bypass_config_keeps_attached_sibling_isolated(void **state)
{
	struct fixture *f = *state;
	struct viommu_endpoint *a2;

	assert_int_equal(viommu_add_endpoint(f->v, EP_A2, "0000:00:03.1", f->la, &a2), 0);
	assert_int_equal(viommu_attach(f->v, 1, EP_A2, false), 0);
	assert_int_equal(viommu_map(f->v, 1, 0x10000000, 0x10000fff, 0x1000, true, true), 0);
	assert_int_equal(listed(f->la).n, 1);
	/* (B's container refuses guest RAM over its direct-mapped range: that error is B's) */
	assert_int_equal(viommu_set_bypass(f->v, true), -EINVAL);
	assert_string_equal(dma_listener_space(f->la)->name, "viommu-domain1");
	assert_int_equal(listed(f->la).n, 1);
	assert_int_equal(viommu_detach(f->v, 1, EP_A2), 0);
	assert_string_equal(dma_listener_space(f->la)->name, "memmap");
	assert_int_equal(listed(f->la).n, 2);
}

/*
 * Teardown with the same two functions: A2 attached to a domain, A left to bypass. Taking A2
 * out re-followed the container to guest RAM for A, a whole-RAM MAP_DMA from the main thread
 * (which its seccomp filter kills). After viommu_close the containers are unmapped and map
 * nothing again: not on a removal, not on a late ATTACH or bypass change from the guest.
 */
static void test_close_then_removal_maps_nothing(void **state)
{
	struct fixture *f = *state;
	struct viommu_endpoint *a2;
	unsigned before;

	assert_int_equal(viommu_add_endpoint(f->v, EP_A2, "0000:00:03.1", f->la, &a2), 0);
	assert_int_equal(viommu_attach(f->v, 1, EP_A2, false), 0);
	assert_int_equal(viommu_map(f->v, 1, 0x10000000, 0x10000fff, 0x1000, true, true), 0);
	assert_int_equal(viommu_set_bypass(f->v, true), -EINVAL); /* B's error, as above */
	assert_string_equal(dma_listener_space(f->la)->name, "viommu-domain1");
	before = nr_calls;
	viommu_close(f->v);
	assert_int_equal(listed(f->la).n, 0);
	assert_null(dma_listener_space(f->la));
	for (unsigned i = before; i < nr_calls; i++)
		assert_int_equal(calls[i].op, 'u');
	before = nr_calls;
	viommu_remove_endpoint(f->v, a2);
	assert_int_equal(nr_calls, before);
	assert_null(dma_listener_space(f->la));
	/* requests still queued when the VM stops: answered, but no container follows */
	assert_int_equal(viommu_attach(f->v, 3, EP_A, true), 0);
	assert_int_equal(viommu_set_bypass(f->v, false), 0);
	assert_int_equal(viommu_set_bypass(f->v, true), 0);
	assert_int_equal(nr_calls, before);
	assert_null(dma_listener_space(f->la));
	assert_null(dma_listener_space(f->lb));
}

/*
 * The same two functions, the second one added while bypass is on and the first is attached
 * to a domain: adding it put the container into guest RAM directly, so the attached device
 * could DMA to all of it. The container keeps following the domain; once the attached one
 * leaves, it mirrors guest RAM for the new one. After viommu_close an added endpoint maps
 * nothing.
 */
static void test_endpoint_added_in_bypass_keeps_sibling_isolated(void **state)
{
	struct fixture *f = *state;
	struct viommu_endpoint *a2;
	unsigned before;

	assert_int_equal(viommu_attach(f->v, 1, EP_A, false), 0);
	assert_int_equal(viommu_map(f->v, 1, 0x10000000, 0x10000fff, 0x1000, true, true), 0);
	assert_int_equal(viommu_set_bypass(f->v, true), -EINVAL); /* B's error, as above */
	assert_string_equal(dma_listener_space(f->la)->name, "viommu-domain1");
	assert_int_equal(viommu_add_endpoint(f->v, EP_A2, "0000:00:03.1", f->la, &a2), 0);
	assert_string_equal(dma_listener_space(f->la)->name, "viommu-domain1");
	assert_int_equal(listed(f->la).n, 1);
	assert_int_equal(viommu_detach(f->v, 1, EP_A), 0);
	assert_string_equal(dma_listener_space(f->la)->name, "memmap");
	viommu_remove_endpoint(f->v, a2);
	viommu_close(f->v);
	before = nr_calls;
	assert_int_equal(viommu_add_endpoint(f->v, EP_A2, "0000:00:03.1", f->la, &a2), 0);
	assert_int_equal(nr_calls, before);
	assert_null(dma_listener_space(f->la));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_what_the_containers_impose, setup, teardown),
		cmocka_unit_test_setup_teardown(test_domain_stream_reaches_its_container, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_unmap_range_takes_every_mapping_inside, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_two_domains_two_containers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_joining_endpoint_gets_the_domain_replayed,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused_maps_change_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_attach_checks_the_domain_fits, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_bypass_mirrors_guest_ram, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_and_removal_unmap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_one_host_group_one_container, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bypass_config_keeps_attached_sibling_isolated,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_endpoint_added_in_bypass_keeps_sibling_isolated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_then_removal_maps_nothing, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
