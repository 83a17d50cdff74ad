/* SPDX-License-Identifier: MIT */
/*
 * hvm_start_info parsing and the page allocator over the RAM it reports free.
 * The start_info and what it points to live in RAM nobody reserved for them, so they are
 * copied into the image before any page is handed out.
 */
#include "kit.h"

struct bootinfo bootinfo;

#define LOW_LIMIT 0x100000ull	  /* below 1 MiB: start_info, trampolines, BIOS/ACPI areas */
#define HIGH_LIMIT 0x100000000ull /* the identity map ends at 4 GiB */
#define MAX_RANGES 32

struct range {
	uint64_t start, end;
};

static struct range ranges[MAX_RANGES];
static unsigned int nr_ranges;
static unsigned int cur_range;
static void *free_list;
static uint64_t pages_free;

int bootinfo_parse(uint64_t paddr)
{
	const struct hvm_start_info *si = (const void *)paddr;

	bootinfo.start_info_paddr = paddr;
	if (!paddr || paddr >= HIGH_LIMIT)
		return -1;
	if (si->magic != HVM_START_MAGIC)
		return -2;
	bootinfo.si = *si;
	if (si->cmdline_paddr && si->cmdline_paddr < HIGH_LIMIT) {
		const char *c = (const char *)si->cmdline_paddr;
		size_t n = 0;

		while (n < BOOTINFO_CMDLINE_MAX - 1 && c[n])
			n++;
		memcpy(bootinfo.cmdline, c, n);
		bootinfo.cmdline[n] = '\0';
	}
	if (si->version >= 1 && si->memmap_paddr && si->memmap_paddr < HIGH_LIMIT) {
		unsigned int n = si->memmap_entries;

		if (n > BOOTINFO_MAX_MEMMAP)
			n = BOOTINFO_MAX_MEMMAP;
		memcpy(bootinfo.memmap, (const void *)si->memmap_paddr,
		       n * sizeof(bootinfo.memmap[0]));
		bootinfo.nr_memmap = n;
	}
	if (si->nr_modules && si->modlist_paddr && si->modlist_paddr < HIGH_LIMIT) {
		unsigned int n = si->nr_modules;

		if (n > BOOTINFO_MAX_MODULES)
			n = BOOTINFO_MAX_MODULES;
		memcpy(bootinfo.modules, (const void *)si->modlist_paddr,
		       n * sizeof(bootinfo.modules[0]));
		bootinfo.nr_modules = n;
	}
	return 0;
}

/* The value of "key=value" on the command line (up to a space or the end), or NULL. */
static const char *cmdline_find(const char *key)
{
	size_t klen = strlen(key);
	const char *p = bootinfo.cmdline;

	while (*p) {
		while (*p == ' ')
			p++;
		if (!strncmp(p, key, klen) && p[klen] == '=')
			return p + klen + 1;
		while (*p && *p != ' ')
			p++;
	}
	return NULL;
}

bool cmdline_get_uint(const char *key, uint64_t *val)
{
	const char *d = cmdline_find(key);
	uint64_t v = 0;

	if (!d || *d < '0' || *d > '9')
		return false;
	while (*d >= '0' && *d <= '9')
		v = v * 10 + (uint64_t)(*d++ - '0');
	if (*d && *d != ' ')
		return false;
	*val = v;
	return true;
}

bool cmdline_get_str(const char *key, char *buf, size_t size)
{
	const char *d = cmdline_find(key);
	size_t n = 0;

	if (!d)
		return false;
	while (d[n] && d[n] != ' ')
		n++;
	if (n >= size)
		return false;
	memcpy(buf, d, n);
	buf[n] = '\0';
	return true;
}

/* Removes [s, e) from every range, splitting where needed. */
static void ranges_cut(uint64_t s, uint64_t e)
{
	for (unsigned int i = 0; i < nr_ranges; i++) {
		struct range *r = &ranges[i];

		if (e <= r->start || s >= r->end)
			continue;
		if (s > r->start && e < r->end) {
			if (nr_ranges < MAX_RANGES) {
				ranges[nr_ranges++] = (struct range){ e, r->end };
				r->end = s;
			} else {
				r->end =
				    s; /* out of slots: lose the upper part, never hand out s..e */
			}
		} else if (s <= r->start) {
			r->start = e < r->end ? e : r->end;
		} else {
			r->end = s;
		}
	}
}

int page_alloc_init(void)
{
	for (unsigned int i = 0; i < bootinfo.nr_memmap && nr_ranges < MAX_RANGES; i++) {
		const struct hvm_memmap_entry *m = &bootinfo.memmap[i];
		uint64_t s = (m->addr + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
		uint64_t e = (m->addr + m->size) & ~(PAGE_SIZE - 1);

		if (m->type != E820_RAM)
			continue;
		if (s < LOW_LIMIT)
			s = LOW_LIMIT;
		if (e > HIGH_LIMIT)
			e = HIGH_LIMIT;
		if (s < e)
			ranges[nr_ranges++] = (struct range){ s, e };
	}
	/* never the program itself, its modules, or anything the memmap calls ACPI/reserved */
	ranges_cut((uint64_t)__image_start, (uint64_t)__image_end);
	for (unsigned int i = 0; i < bootinfo.nr_modules; i++) {
		uint64_t s = bootinfo.modules[i].paddr & ~(PAGE_SIZE - 1);

		ranges_cut(s, bootinfo.modules[i].paddr + bootinfo.modules[i].size);
	}
	for (unsigned int i = 0; i < bootinfo.nr_memmap; i++) {
		const struct hvm_memmap_entry *m = &bootinfo.memmap[i];

		if (m->type != E820_RAM)
			ranges_cut(m->addr & ~(PAGE_SIZE - 1), m->addr + m->size);
	}
	for (unsigned int i = 0; i < nr_ranges; i++)
		if (ranges[i].end > ranges[i].start)
			pages_free += (ranges[i].end - ranges[i].start) / PAGE_SIZE;
	return pages_free ? 0 : -1;
}

void *page_alloc(void)
{
	if (free_list) {
		void *p = free_list;

		free_list = *(void **)p;
		pages_free--;
		return p;
	}
	while (cur_range < nr_ranges) {
		struct range *r = &ranges[cur_range];

		if (r->start < r->end) {
			void *p = (void *)r->start;

			r->start += PAGE_SIZE;
			pages_free--;
			return p;
		}
		cur_range++;
	}
	return NULL;
}

void page_free(void *page)
{
	*(void **)page = free_list;
	free_list = page;
	pages_free++;
}

uint64_t page_free_count(void)
{
	return pages_free;
}
