// SPDX-License-Identifier: MIT
#include "devices/msix.h"

#include <errno.h>
#include <string.h>

#include "devices/pci.h"
#include "vmm/util.h"

static uint16_t msix_ctrl(struct msix *m)
{
	return (uint16_t)pci_config_get(m->pdev, m->cap + PCI_MSIX_FLAGS, 2);
}

static bool msix_vector_masked_locked(struct msix *m, unsigned v)
{
	uint16_t ctrl = msix_ctrl(m);

	return !(ctrl & PCI_MSIX_FLAGS_ENABLE) || (ctrl & PCI_MSIX_FLAGS_MASKALL) ||
	       (m->table[v].ctrl & PCI_MSIX_ENTRY_CTRL_MASKBIT);
}

int msix_init(struct msix *m, struct pci_device *dev, unsigned nr_vectors, unsigned bar,
	      uint32_t table_off, uint32_t pba_off, const struct msix_ops *ops)
{
	int cap;

	if (!nr_vectors || nr_vectors > MSIX_MAX_VECTORS)
		return -EINVAL;
	cap = pci_device_add_capability(dev, PCI_CAP_ID_MSIX, PCI_CAP_MSIX_SIZEOF);
	if (cap < 0)
		return cap;
	memset(m, 0, sizeof(*m));
	pthread_mutex_init(&m->lock, NULL);
	m->pdev = dev;
	m->ops = ops;
	m->nr_vectors = nr_vectors;
	m->cap = (unsigned)cap;
	for (unsigned v = 0; v < nr_vectors; v++)
		m->table[v].ctrl = PCI_MSIX_ENTRY_CTRL_MASKBIT;
	pci_config_set(dev, m->cap + PCI_MSIX_FLAGS, nr_vectors - 1, 2);
	pci_config_set(dev, m->cap + PCI_MSIX_TABLE, table_off | bar, 4);
	pci_config_set(dev, m->cap + PCI_MSIX_PBA, pba_off | bar, 4);
	/* the guest may write only enable and function mask */
	dev->wmask[m->cap + PCI_MSIX_FLAGS + 1] =
	    (PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL) >> 8;
	return 0;
}

void msix_exit(struct msix *m)
{
	pthread_mutex_destroy(&m->lock);
}

bool msix_enabled(struct msix *m)
{
	bool en;

	pthread_mutex_lock(&m->lock);
	en = msix_ctrl(m) & PCI_MSIX_FLAGS_ENABLE;
	pthread_mutex_unlock(&m->lock);
	return en;
}

bool msix_vector_message(struct msix *m, unsigned v, uint64_t *addr, uint32_t *data)
{
	if (v >= m->nr_vectors)
		return false;
	pthread_mutex_lock(&m->lock);
	*addr = ((uint64_t)m->table[v].addr_hi << 32) | m->table[v].addr_lo;
	*data = m->table[v].data;
	pthread_mutex_unlock(&m->lock);
	return true;
}

/* Delivers held interrupts whose vectors are now unmasked; lock held. */
static void msix_flush_pending_locked(struct msix *m)
{
	for (unsigned v = 0; v < m->nr_vectors; v++) {
		if ((m->pending & (1ULL << v)) && !msix_vector_masked_locked(m, v)) {
			m->pending &= ~(1ULL << v);
			m->ops->vector_fire(m, v);
		}
	}
}

void msix_table_read(struct msix *m, uint64_t off, void *data, unsigned len)
{
	memset(data, 0xff, len);
	if ((len != 4 && len != 8) || off % len ||
	    off + len > (uint64_t)m->nr_vectors * MSIX_ENTRY_SIZE)
		return;
	pthread_mutex_lock(&m->lock);
	memcpy(data, (uint8_t *)m->table + off, len);
	pthread_mutex_unlock(&m->lock);
}

void msix_table_write(struct msix *m, uint64_t off, const void *data, unsigned len)
{
	unsigned v = (unsigned)(off / MSIX_ENTRY_SIZE);
	struct msix_entry old;
	bool was_masked;

	if ((len != 4 && len != 8) || off % len ||
	    off + len > (uint64_t)m->nr_vectors * MSIX_ENTRY_SIZE)
		return;
	pthread_mutex_lock(&m->lock);
	old = m->table[v];
	was_masked = msix_vector_masked_locked(m, v);
	memcpy((uint8_t *)m->table + off, data, len);
	m->table[v].ctrl &= PCI_MSIX_ENTRY_CTRL_MASKBIT; /* the other bits are reserved */
	if (old.addr_lo != m->table[v].addr_lo || old.addr_hi != m->table[v].addr_hi ||
	    old.data != m->table[v].data)
		m->ops->vector_update(m, v,
				      ((uint64_t)m->table[v].addr_hi << 32) | m->table[v].addr_lo,
				      m->table[v].data);
	if (was_masked && !msix_vector_masked_locked(m, v))
		msix_flush_pending_locked(m);
	pthread_mutex_unlock(&m->lock);
}

void msix_pba_read(struct msix *m, uint64_t off, void *data, unsigned len)
{
	uint64_t pba;

	memset(data, 0, len);
	if ((len != 4 && len != 8) || off % len || off + len > 8)
		return;
	pthread_mutex_lock(&m->lock);
	pba = m->pending;
	pthread_mutex_unlock(&m->lock);
	memcpy(data, (uint8_t *)&pba + off, len);
}

void msix_config_write(struct msix *m, unsigned offset, unsigned len)
{
	if (!ranges_overlap(offset, len, m->cap + PCI_MSIX_FLAGS, 2))
		return;
	/* enable set or function mask cleared: held interrupts may go now */
	pthread_mutex_lock(&m->lock);
	msix_flush_pending_locked(m);
	pthread_mutex_unlock(&m->lock);
}

void msix_notify(struct msix *m, unsigned v)
{
	if (v >= m->nr_vectors)
		return;
	pthread_mutex_lock(&m->lock);
	if (msix_vector_masked_locked(m, v))
		m->pending |= 1ULL << v;
	else
		m->ops->vector_fire(m, v);
	pthread_mutex_unlock(&m->lock);
}
