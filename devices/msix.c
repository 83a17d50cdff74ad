// SPDX-License-Identifier: MIT
#include "devices/msix.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "devices/pci.h"
#include "vmm/util.h"

#define msix_rl(m, lvl, fmt, ...)                                                                  \
	log_printf_ratelimited(&(m)->rl, lvl, "%s: " fmt, (m)->name, ##__VA_ARGS__)

uint64_t msix_table_size(const struct msix *m)
{
	return (uint64_t)m->nr_vectors * MSIX_ENTRY_SIZE;
}

uint64_t msix_pba_size(const struct msix *m)
{
	return ALIGN_UP((uint64_t)m->nr_vectors, 64) / 8;
}

static bool msix_pending_test(const struct msix *m, unsigned v)
{
	return m->pending[v / 64] & (1ULL << (v % 64));
}

static void msix_pending_set(struct msix *m, unsigned v, bool on)
{
	if (on)
		m->pending[v / 64] |= 1ULL << (v % 64);
	else
		m->pending[v / 64] &= ~(1ULL << (v % 64));
}

static bool msix_vector_masked_locked(const struct msix *m, unsigned v)
{
	return !m->enabled || m->masked_all || (m->table[v].ctrl & PCI_MSIX_ENTRY_CTRL_MASKBIT);
}

static uint64_t msix_entry_addr(const struct msix_entry *e)
{
	return (uint64_t)e->addr_hi << 32 | e->addr_lo;
}

/*
 * Brings vector v's delivery in line with the table and the control word: its route, its
 * irqfd bound while unmasked, and an interrupt held in the PBA delivered once unmasked.
 */
static void msix_vector_sync_locked(struct msix *m, unsigned v)
{
	const struct msix_entry *e = &m->table[v];
	bool masked = msix_vector_masked_locked(m, v), had_route = m->vec[v].routed;
	int ret;

	if (!m->enabled)
		return;
	ret = msi_vector_program(m->vm, &m->vec[v], msix_entry_addr(e), e->data, masked);
	if (!ret && !had_route && m->vec[v].routed)
		msix_rl(m, LOG_INFO,
			"MSI-X vector %u -> gsi %u (address 0x%llx data 0x%x), irqfd %d", v,
			m->vec[v].gsi, (unsigned long long)msix_entry_addr(e), e->data,
			m->vec[v].fd);
	if (ret) {
		msix_rl(m, LOG_WARN,
			"MSI-X vector %u (address 0x%llx data 0x%x) cannot be delivered: %s", v,
			(unsigned long long)msix_entry_addr(e), e->data, strerror(-ret));
		return;
	}
	if (!masked && msix_pending_test(m, v)) {
		msix_pending_set(m, v, false);
		msi_vector_fire(&m->vec[v]);
	}
}

/*
 * Every vector's irqfd and route gone (their GSIs are free again) and nothing pending; the
 * eventfds stay open, emptied, for the next enable (msix_exit closes them).
 */
static void msix_vectors_release_locked(struct msix *m)
{
	for (unsigned v = 0; v < m->nr_vectors; v++)
		msi_vector_release(m->vm, &m->vec[v]);
	memset(m->pending, 0, msix_pba_size(m));
}

static int msix_enable_locked(struct msix *m)
{
	int ret = 0;

	for (unsigned v = 0; v < m->nr_vectors && !ret; v++)
		ret = msi_vector_open(&m->vec[v], pci_device_requester_id(m->pdev));
	if (ret) {
		msix_rl(m, LOG_ERR, "MSI-X: cannot open %u eventfds: %s", m->nr_vectors,
			strerror(-ret));
		msix_vectors_release_locked(m);
		return ret;
	}
	m->enabled = true;
	if (m->ops && m->ops->enable) {
		ret = m->ops->enable(m, true);
		if (ret) {
			m->enabled = false;
			msix_vectors_release_locked(m);
			return ret;
		}
	}
	msix_rl(m, LOG_INFO, "MSI-X enabled, %u vectors", m->nr_vectors);
	return 0;
}

static void msix_disable_locked(struct msix *m)
{
	if (!m->enabled)
		return;
	if (m->ops && m->ops->enable)
		m->ops->enable(m, false);
	m->enabled = false;
	msix_vectors_release_locked(m);
	msix_rl(m, LOG_INFO, "MSI-X disabled");
}

int msix_init(struct msix *m, const struct msix_config *c)
{
	struct pci_device *dev = c->dev;
	int cap = (int)c->cap;

	memset(m, 0, sizeof(*m));
	if (!c->nr_vectors || c->nr_vectors > MSIX_MAX_VECTORS || c->bar >= PCI_NUM_BARS ||
	    (c->table_off | c->pba_off) & 7)
		return -EINVAL;
	if (!cap) {
		cap = pci_device_add_capability(dev, PCI_CAP_ID_MSIX, PCI_CAP_MSIX_SIZEOF);
		if (cap < 0)
			return cap;
	} else if (cap + PCI_CAP_MSIX_SIZEOF > PCI_CFG_SPACE_SIZE) {
		return -EINVAL;
	}
	m->vm = c->vm;
	m->pdev = dev;
	m->ops = c->ops;
	m->name = c->name;
	m->nr_vectors = c->nr_vectors;
	m->cap = (unsigned)cap;
	m->bar = c->bar;
	m->table_off = c->table_off;
	m->pba_off = c->pba_off;
	pthread_mutex_init(&m->lock, NULL);
	m->table = calloc(m->nr_vectors, sizeof(*m->table));
	m->pending = calloc(msix_pba_size(m) / 8, sizeof(*m->pending));
	m->vec = calloc(m->nr_vectors, sizeof(*m->vec));
	if (!m->table || !m->pending || !m->vec) {
		msix_exit(m);
		return -ENOMEM;
	}
	for (unsigned v = 0; v < m->nr_vectors; v++) {
		m->table[v].ctrl = PCI_MSIX_ENTRY_CTRL_MASKBIT;
		msi_vector_init(&m->vec[v]);
	}
	pci_config_set(dev, m->cap + PCI_MSIX_FLAGS, m->nr_vectors - 1, 2);
	pci_config_set(dev, m->cap + PCI_MSIX_TABLE, m->table_off | m->bar, 4);
	pci_config_set(dev, m->cap + PCI_MSIX_PBA, m->pba_off | m->bar, 4);
	/* the guest may write only enable and function mask */
	memset(&dev->wmask[m->cap + 2], 0, PCI_CAP_MSIX_SIZEOF - 2);
	dev->wmask[m->cap + PCI_MSIX_FLAGS + 1] =
	    (PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL) >> 8;
	return 0;
}

void msix_exit(struct msix *m)
{
	if (!m->pdev)
		return; /* never set up */
	if (m->table && m->pending && m->vec) {
		pthread_mutex_lock(&m->lock);
		msix_disable_locked(m);
		for (unsigned v = 0; v < m->nr_vectors; v++)
			msi_vector_close(m->vm, &m->vec[v]);
		pthread_mutex_unlock(&m->lock);
	}
	pthread_mutex_destroy(&m->lock);
	free(m->table);
	free(m->pending);
	free(m->vec);
	m->table = NULL;
	m->pending = NULL;
	m->vec = NULL;
	m->pdev = NULL;
}

void msix_reset(struct msix *m)
{
	pthread_mutex_lock(&m->lock);
	msix_disable_locked(m);
	m->masked_all = false;
	pci_config_set(m->pdev, m->cap + PCI_MSIX_FLAGS, m->nr_vectors - 1, 2);
	for (unsigned v = 0; v < m->nr_vectors; v++)
		m->table[v] = (struct msix_entry){ .ctrl = PCI_MSIX_ENTRY_CTRL_MASKBIT };
	pthread_mutex_unlock(&m->lock);
}

bool msix_enabled(struct msix *m)
{
	bool en;

	pthread_mutex_lock(&m->lock);
	en = m->enabled;
	pthread_mutex_unlock(&m->lock);
	return en;
}

int msix_vector_fd(struct msix *m, unsigned v)
{
	/* a disabled table keeps its eventfds for the next enable, but hands none out */
	if (v >= m->nr_vectors || !m->enabled)
		return -1;
	m->vec[v].shared = true; /* its writer may leave a count: drained at the disable */
	return m->vec[v].fd;
}

unsigned msix_eventfds(struct msix *m)
{
	unsigned n = 0;

	if (!m->table)
		return 0;
	pthread_mutex_lock(&m->lock);
	for (unsigned v = 0; v < m->nr_vectors; v++)
		n += m->vec[v].fd >= 0;
	pthread_mutex_unlock(&m->lock);
	return n;
}

bool msix_vector_message(struct msix *m, unsigned v, uint64_t *addr, uint32_t *data)
{
	if (v >= m->nr_vectors)
		return false;
	pthread_mutex_lock(&m->lock);
	*addr = msix_entry_addr(&m->table[v]);
	*data = m->table[v].data;
	pthread_mutex_unlock(&m->lock);
	return true;
}

bool msix_vector_gsi(struct msix *m, unsigned v, unsigned *gsi)
{
	bool routed;

	if (v >= m->nr_vectors)
		return false;
	pthread_mutex_lock(&m->lock);
	routed = m->vec[v].routed;
	*gsi = m->vec[v].gsi;
	pthread_mutex_unlock(&m->lock);
	return routed;
}

static bool msix_access_ok(uint64_t off, unsigned len, uint64_t size)
{
	return (len == 4 || len == 8) && off % len == 0 && off < size && len <= size - off;
}

void msix_table_read(struct msix *m, uint64_t off, void *data, unsigned len)
{
	memset(data, 0xff, len);
	if (!msix_access_ok(off, len, msix_table_size(m)))
		return;
	pthread_mutex_lock(&m->lock);
	memcpy(data, (uint8_t *)m->table + off, len);
	pthread_mutex_unlock(&m->lock);
}

void msix_table_write(struct msix *m, uint64_t off, const void *data, unsigned len)
{
	unsigned v = (unsigned)(off / MSIX_ENTRY_SIZE);

	if (!msix_access_ok(off, len, msix_table_size(m)))
		return;
	pthread_mutex_lock(&m->lock);
	memcpy((uint8_t *)m->table + off, data, len);
	m->table[v].ctrl &= PCI_MSIX_ENTRY_CTRL_MASKBIT; /* the other bits are reserved */
	m->table[v].addr_lo &= ~3U;			 /* so are the address's low bits */
	msix_vector_sync_locked(m, v);
	pthread_mutex_unlock(&m->lock);
}

void msix_pba_read(struct msix *m, uint64_t off, void *data, unsigned len)
{
	uint64_t bits = 0;

	memset(data, 0, len);
	if (!msix_access_ok(off, len, msix_pba_size(m)))
		return;
	pthread_mutex_lock(&m->lock);
	for (unsigned b = 0; b < len * 8; b++) {
		uint64_t v = off * 8 + b;

		if (v >= m->nr_vectors)
			break;
		/* held by ptvm (an emulated device) or waiting in the eventfd (VFIO) */
		if (msix_pending_test(m, (unsigned)v) || msi_vector_pending(&m->vec[v]))
			bits |= 1ULL << b;
	}
	pthread_mutex_unlock(&m->lock);
	memcpy(data, &bits, len);
}

bool msix_bar_read(struct msix *m, unsigned bar, uint64_t off, void *data, unsigned len)
{
	if (!m->table || bar != m->bar)
		return false;
	if (ranges_overlap(off, len, m->table_off, msix_table_size(m))) {
		msix_table_read(m, off - m->table_off, data, len);
		return true;
	}
	if (ranges_overlap(off, len, m->pba_off, msix_pba_size(m))) {
		msix_pba_read(m, off - m->pba_off, data, len);
		return true;
	}
	return false;
}

bool msix_bar_write(struct msix *m, unsigned bar, uint64_t off, const void *data, unsigned len)
{
	if (!m->table || bar != m->bar)
		return false;
	if (ranges_overlap(off, len, m->table_off, msix_table_size(m))) {
		msix_table_write(m, off - m->table_off, data, len);
		return true;
	}
	/* the PBA is read-only */
	return ranges_overlap(off, len, m->pba_off, msix_pba_size(m));
}

void msix_config_write(struct msix *m, unsigned offset, unsigned len)
{
	uint16_t ctrl;
	bool enable;

	if (!m->table || !ranges_overlap(offset, len, m->cap + PCI_MSIX_FLAGS, 2))
		return;
	/* the caller holds the bus lock: the config bytes are stable */
	ctrl = (uint16_t)pci_config_get(m->pdev, m->cap + PCI_MSIX_FLAGS, 2);
	enable = ctrl & PCI_MSIX_FLAGS_ENABLE;
	pthread_mutex_lock(&m->lock);
	if (!enable)
		msix_disable_locked(m);
	m->masked_all = ctrl & PCI_MSIX_FLAGS_MASKALL;
	/* an enable the owner refused stays off; the next write of the word tries again */
	if (enable && !m->enabled)
		msix_enable_locked(m);
	for (unsigned v = 0; m->enabled && v < m->nr_vectors; v++)
		msix_vector_sync_locked(m, v);
	pthread_mutex_unlock(&m->lock);
}

void msix_notify(struct msix *m, unsigned v)
{
	if (v >= m->nr_vectors)
		return;
	pthread_mutex_lock(&m->lock);
	if (!m->enabled)
		goto out_unlock;
	if (msix_vector_masked_locked(m, v) || !m->vec[v].bound)
		msix_pending_set(m, v, true);
	else
		msi_vector_fire(&m->vec[v]);
out_unlock:
	pthread_mutex_unlock(&m->lock);
}
