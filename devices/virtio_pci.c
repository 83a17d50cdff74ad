// SPDX-License-Identifier: MIT
#include "devices/virtio_pci.h"

#include <errno.h>
#include <linux/virtio_pci.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "vmm/log.h"
#include "vmm/machine.h"
#include "vmm/util.h"

#define VIRTIO_PCI_ISR_QUEUE_BIT 0x1 /* the ISR bit of a queue interrupt */

static uint32_t virtio_pci_class(uint32_t device_id)
{
	switch (device_id) {
	case VIRTIO_ID_NET:
		return 0x020000; /* ethernet */
	case VIRTIO_ID_BLOCK:
		return 0x018000; /* other mass storage */
	case VIRTIO_ID_CONSOLE:
		return 0x078000; /* other communication */
	default:
		return 0x00ff00;
	}
}

/* ---- interrupts ---- */

/* irq_lock held; from the I/O thread too */
static void virtio_pci_intx_update(struct virtio_pci *vp)
{
	bool level = atomic_load(&vp->isr) != 0 && !vp->intx_disabled;

	if (level != vp->intx_level) {
		vp->intx_level = level;
		vm_set_irq_line(vp->vm, pci_device_intx_gsi(&vp->pci), level);
	}
}

static void virtio_pci_raise(struct virtio_pci *vp, uint16_t vector, uint8_t isr_bit)
{
	if (msix_enabled(&vp->msix)) {
		if (vector != VIRTIO_MSI_NO_VECTOR)
			msix_notify(&vp->msix, vector);
		return;
	}
	atomic_fetch_or(&vp->isr, isr_bit);
	pthread_mutex_lock(&vp->irq_lock);
	virtio_pci_intx_update(vp);
	pthread_mutex_unlock(&vp->irq_lock);
}

static void virtio_pci_notify_queue(struct virtio_device *vdev, struct virtqueue *vq)
{
	struct virtio_pci *vp = vdev->transport_priv;

	/* the vectors may change under a live device (a driver may reprogram them): one load */
	virtio_pci_raise(vp, __atomic_load_n(&vq->msix_vector, __ATOMIC_RELAXED),
			 VIRTIO_PCI_ISR_QUEUE_BIT);
}

static void virtio_pci_notify_config(struct virtio_device *vdev)
{
	struct virtio_pci *vp = vdev->transport_priv;

	atomic_fetch_add(&vp->config_generation, 1);
	virtio_pci_raise(vp, __atomic_load_n(&vp->msix_config, __ATOMIC_RELAXED),
			 VIRTIO_PCI_ISR_CONFIG);
}

static const struct virtio_transport_ops virtio_pci_transport_ops = {
	.notify_queue = virtio_pci_notify_queue,
	.notify_config = virtio_pci_notify_config,
};

/* ---- device status ---- */

/* After the device's reset (virtio.c): the transport's own registers. */
static void virtio_pci_reset_regs_locked(struct virtio_pci *vp)
{
	vp->device_feature_select = vp->driver_feature_select = 0;
	vp->msix_config = VIRTIO_MSI_NO_VECTOR;
	vp->queue_select = 0;
	atomic_store(&vp->isr, 0);
	pthread_mutex_lock(&vp->irq_lock);
	virtio_pci_intx_update(vp);
	pthread_mutex_unlock(&vp->irq_lock);
}

/* ---- BAR0: common configuration, ISR, device configuration, notify ---- */

static struct virtqueue *virtio_pci_selected_vq(struct virtio_pci *vp)
{
	if (vp->queue_select >= vp->vdev->nr_queues)
		return NULL;
	return &vp->vdev->vqs[vp->queue_select];
}

static uint64_t virtio_pci_common_read(struct virtio_pci *vp, unsigned off)
{
	struct virtio_device *vdev = vp->vdev;
	struct virtqueue *vq = virtio_pci_selected_vq(vp);

	switch (off) {
	case VIRTIO_PCI_COMMON_DFSELECT:
		return vp->device_feature_select;
	case VIRTIO_PCI_COMMON_DF:
		return vp->device_feature_select < 2 ? (uint32_t)(virtio_device_features(vdev) >>
								  (32 * vp->device_feature_select))
						     : 0;
	case VIRTIO_PCI_COMMON_GFSELECT:
		return vp->driver_feature_select;
	case VIRTIO_PCI_COMMON_GF:
		return vp->driver_feature_select < 2
			   ? (uint32_t)(vdev->driver_features >> (32 * vp->driver_feature_select))
			   : 0;
	case VIRTIO_PCI_COMMON_MSIX:
		return vp->msix_config;
	case VIRTIO_PCI_COMMON_NUMQ:
		return vdev->nr_queues;
	case VIRTIO_PCI_COMMON_STATUS:
		return virtio_device_status(vdev);
	case VIRTIO_PCI_COMMON_CFGGENERATION:
		return atomic_load(&vp->config_generation);
	case VIRTIO_PCI_COMMON_Q_SELECT:
		return vp->queue_select;
	case VIRTIO_PCI_COMMON_Q_SIZE:
		return vq ? vq->size : 0;
	case VIRTIO_PCI_COMMON_Q_MSIX:
		return vq ? vq->msix_vector : VIRTIO_MSI_NO_VECTOR;
	case VIRTIO_PCI_COMMON_Q_ENABLE:
		return vq ? vq->enabled : 0;
	case VIRTIO_PCI_COMMON_Q_NOFF:
		return vq ? vp->queue_select : 0;
	case VIRTIO_PCI_COMMON_Q_DESCLO:
		return vq ? (uint32_t)vq->desc_gpa : 0;
	case VIRTIO_PCI_COMMON_Q_DESCHI:
		return vq ? (uint32_t)(vq->desc_gpa >> 32) : 0;
	case VIRTIO_PCI_COMMON_Q_AVAILLO:
		return vq ? (uint32_t)vq->avail_gpa : 0;
	case VIRTIO_PCI_COMMON_Q_AVAILHI:
		return vq ? (uint32_t)(vq->avail_gpa >> 32) : 0;
	case VIRTIO_PCI_COMMON_Q_USEDLO:
		return vq ? (uint32_t)vq->used_gpa : 0;
	case VIRTIO_PCI_COMMON_Q_USEDHI:
		return vq ? (uint32_t)(vq->used_gpa >> 32) : 0;
	default:
		return 0;
	}
}

static void set_lo(uint64_t *v, uint32_t lo)
{
	*v = (*v & ~0xffffffffULL) | lo;
}

static void set_hi(uint64_t *v, uint32_t hi)
{
	*v = (*v & 0xffffffffULL) | ((uint64_t)hi << 32);
}

static void virtio_pci_common_write(struct virtio_pci *vp, unsigned off, uint32_t val)
{
	struct virtio_device *vdev = vp->vdev;
	struct virtqueue *vq = virtio_pci_selected_vq(vp);
	/* queue configuration is frozen once the queue is enabled or the device activated */
	bool q_writable = vq && virtio_queue_configurable(vdev, vq);

	switch (off) {
	case VIRTIO_PCI_COMMON_DFSELECT:
		vp->device_feature_select = val;
		break;
	case VIRTIO_PCI_COMMON_GFSELECT:
		vp->driver_feature_select = val;
		break;
	case VIRTIO_PCI_COMMON_GF:
		virtio_device_set_driver_features(vdev, vp->driver_feature_select, val);
		break;
	case VIRTIO_PCI_COMMON_MSIX:
		__atomic_store_n(&vp->msix_config,
				 (uint16_t)(val < vp->msix.nr_vectors ? val : VIRTIO_MSI_NO_VECTOR),
				 __ATOMIC_RELAXED);
		break;
	case VIRTIO_PCI_COMMON_STATUS:
		virtio_device_set_status(vdev, (uint8_t)val);
		if (!(uint8_t)val)
			virtio_pci_reset_regs_locked(vp);
		break;
	case VIRTIO_PCI_COMMON_Q_SELECT:
		vp->queue_select = (uint16_t)val;
		break;
	case VIRTIO_PCI_COMMON_Q_SIZE:
		/* a power of two up to the maximum; anything else is left for
		 * virtqueue_start to refuse at DRIVER_OK */
		if (q_writable)
			vq->size = (uint16_t)val;
		break;
	case VIRTIO_PCI_COMMON_Q_MSIX:
		if (vq)
			__atomic_store_n(
			    &vq->msix_vector,
			    (uint16_t)(val < vp->msix.nr_vectors ? val : VIRTIO_MSI_NO_VECTOR),
			    __ATOMIC_RELAXED);
		break;
	case VIRTIO_PCI_COMMON_Q_ENABLE:
		/* a queue the driver did not enable before DRIVER_OK stays off */
		if (vq && val == 1 && virtio_queue_configurable(vdev, vq)) {
			if (vq->size > vdev->queue_max_size) {
				virtio_set_needs_reset(vdev, "queue size above the maximum");
				break;
			}
			vq->enabled = true;
		}
		break;
	case VIRTIO_PCI_COMMON_Q_DESCLO:
		if (q_writable)
			set_lo(&vq->desc_gpa, val);
		break;
	case VIRTIO_PCI_COMMON_Q_DESCHI:
		if (q_writable)
			set_hi(&vq->desc_gpa, val);
		break;
	case VIRTIO_PCI_COMMON_Q_AVAILLO:
		if (q_writable)
			set_lo(&vq->avail_gpa, val);
		break;
	case VIRTIO_PCI_COMMON_Q_AVAILHI:
		if (q_writable)
			set_hi(&vq->avail_gpa, val);
		break;
	case VIRTIO_PCI_COMMON_Q_USEDLO:
		if (q_writable)
			set_lo(&vq->used_gpa, val);
		break;
	case VIRTIO_PCI_COMMON_Q_USEDHI:
		if (q_writable)
			set_hi(&vq->used_gpa, val);
		break;
	default:
		break; /* read-only fields */
	}
}

/* The common config's registers have natural sizes; the field width decides the access. */
static unsigned virtio_pci_common_width(unsigned off)
{
	switch (off) {
	case VIRTIO_PCI_COMMON_STATUS:
	case VIRTIO_PCI_COMMON_CFGGENERATION:
		return 1;
	case VIRTIO_PCI_COMMON_MSIX:
	case VIRTIO_PCI_COMMON_NUMQ:
	case VIRTIO_PCI_COMMON_Q_SELECT:
	case VIRTIO_PCI_COMMON_Q_SIZE:
	case VIRTIO_PCI_COMMON_Q_MSIX:
	case VIRTIO_PCI_COMMON_Q_ENABLE:
	case VIRTIO_PCI_COMMON_Q_NOFF:
		return 2;
	default:
		return 4;
	}
}

static void virtio_pci_kick(struct virtio_pci *vp, unsigned q)
{
	uint64_t one = 1;

	if (q < vp->vdev->nr_queues && vp->kick_fds[q] >= 0 &&
	    write(vp->kick_fds[q], &one, sizeof(one)) < 0)
		log_printf_ratelimited(&vp->vdev->rl, LOG_WARN, "%s: kick queue %u: %s",
				       vp->vdev->name, q, strerror(errno));
}

static void virtio_pci_bar_read(struct pci_device *pdev, unsigned bar, uint64_t off, void *data,
				unsigned len)
{
	struct virtio_pci *vp = container_of(pdev, struct virtio_pci, pci);
	struct virtio_device *vdev = vp->vdev;
	uint64_t v = 0;

	memset(data, 0, len);
	if (bar == VIRTIO_PCI_BAR_MSIX) {
		if (off < VIRTIO_PCI_MSIX_PBA_OFF)
			msix_table_read(&vp->msix, off - VIRTIO_PCI_MSIX_TABLE_OFF, data, len);
		else
			msix_pba_read(&vp->msix, off - VIRTIO_PCI_MSIX_PBA_OFF, data, len);
		return;
	}
	if (off < VIRTIO_PCI_ISR_OFF) {
		if (off >= sizeof(struct virtio_pci_common_cfg) ||
		    len != virtio_pci_common_width((unsigned)off))
			return;
		pthread_mutex_lock(&vp->lock);
		v = virtio_pci_common_read(vp, (unsigned)off);
		pthread_mutex_unlock(&vp->lock);
		memcpy(data, &v, len);
	} else if (off < VIRTIO_PCI_DEVICE_OFF) {
		if (off != VIRTIO_PCI_ISR_OFF)
			return;
		/* read to clear, and it deasserts INTx */
		v = atomic_exchange(&vp->isr, 0);
		pthread_mutex_lock(&vp->irq_lock);
		virtio_pci_intx_update(vp);
		pthread_mutex_unlock(&vp->irq_lock);
		memcpy(data, &v, 1);
	} else if (off < VIRTIO_PCI_NOTIFY_OFF) {
		unsigned coff = (unsigned)(off - VIRTIO_PCI_DEVICE_OFF);

		if (coff + len <= vdev->config_size && vdev->ops->read_config)
			vdev->ops->read_config(vdev, coff, data, len);
	}
}

static void virtio_pci_bar_write(struct pci_device *pdev, unsigned bar, uint64_t off,
				 const void *data, unsigned len)
{
	struct virtio_pci *vp = container_of(pdev, struct virtio_pci, pci);
	struct virtio_device *vdev = vp->vdev;
	uint32_t v = 0;

	if (bar == VIRTIO_PCI_BAR_MSIX) {
		if (off < VIRTIO_PCI_MSIX_PBA_OFF)
			msix_table_write(&vp->msix, off - VIRTIO_PCI_MSIX_TABLE_OFF, data, len);
		return; /* the PBA is read-only */
	}
	memcpy(&v, data, MIN(len, 4U));
	if (off < VIRTIO_PCI_ISR_OFF) {
		if (off >= sizeof(struct virtio_pci_common_cfg) ||
		    len != virtio_pci_common_width((unsigned)off))
			return;
		pthread_mutex_lock(&vp->lock);
		virtio_pci_common_write(vp, (unsigned)off, v);
		pthread_mutex_unlock(&vp->lock);
	} else if (off >= VIRTIO_PCI_DEVICE_OFF && off < VIRTIO_PCI_NOTIFY_OFF) {
		unsigned coff = (unsigned)(off - VIRTIO_PCI_DEVICE_OFF);

		if (coff + len <= vdev->config_size && vdev->ops->write_config)
			vdev->ops->write_config(vdev, coff, data, len);
	} else if (off >= VIRTIO_PCI_NOTIFY_OFF) {
		/* a notify the ioeventfd did not catch (another width): forward it */
		virtio_pci_kick(vp,
				(unsigned)((off - VIRTIO_PCI_NOTIFY_OFF) / VIRTIO_PCI_NOTIFY_MULT));
	}
}

/* BAR0's notify area gets an ioeventfd per queue wherever the guest places the BAR. */
static int virtio_pci_bar_map(struct pci_device *pdev, unsigned bar, uint64_t addr, bool map)
{
	struct virtio_pci *vp = container_of(pdev, struct virtio_pci, pci);
	struct virtio_device *vdev = vp->vdev;
	int ret;

	if (bar == VIRTIO_PCI_BAR_CFG && !map && vp->notify_mapped) {
		for (unsigned q = 0; q < vdev->nr_queues; q++)
			vm_ioeventfd_deassign(vp->vm, vp->notify_base + q * VIRTIO_PCI_NOTIFY_MULT,
					      2, false, vp->kick_fds[q]);
		vp->notify_mapped = false;
	}
	ret = pci_device_bar_trap(pdev, bar, addr, map);
	if (ret || bar != VIRTIO_PCI_BAR_CFG || !map)
		return ret;
	vp->notify_base = addr + VIRTIO_PCI_NOTIFY_OFF;
	for (unsigned q = 0; q < vdev->nr_queues; q++) {
		ret = vm_ioeventfd_assign(vp->vm, vp->notify_base + q * VIRTIO_PCI_NOTIFY_MULT, 2,
					  false, vp->kick_fds[q]);
		if (ret) {
			while (q--)
				vm_ioeventfd_deassign(vp->vm,
						      vp->notify_base + q * VIRTIO_PCI_NOTIFY_MULT,
						      2, false, vp->kick_fds[q]);
			pci_device_bar_trap(pdev, bar, addr, false);
			return ret;
		}
	}
	vp->notify_mapped = true;
	return 0;
}

static void virtio_pci_config_write(struct pci_device *pdev, unsigned offset, const void *data,
				    unsigned len)
{
	struct virtio_pci *vp = container_of(pdev, struct virtio_pci, pci);

	msix_config_write(&vp->msix, offset, len);
	if (ranges_overlap(offset, len, PCI_COMMAND, 2)) {
		/* the bus lock is held: config space is stable here */
		bool off = pci_config_get(pdev, PCI_COMMAND, 2) & PCI_COMMAND_INTX_DISABLE;

		pthread_mutex_lock(&vp->irq_lock);
		vp->intx_disabled = off;
		virtio_pci_intx_update(vp);
		pthread_mutex_unlock(&vp->irq_lock);
	}
}

static const struct pci_device_ops virtio_pci_ops = {
	.bar_read = virtio_pci_bar_read,
	.bar_write = virtio_pci_bar_write,
	.bar_map = virtio_pci_bar_map,
	.config_write = virtio_pci_config_write,
};

/* A vendor-specific capability pointing into BAR0 (struct virtio_pci_cap). */
static int virtio_pci_add_cap(struct virtio_pci *vp, uint8_t type, uint32_t offset, uint32_t length,
			      unsigned cap_len)
{
	int cap = pci_device_add_capability(&vp->pci, PCI_CAP_ID_VNDR, cap_len);

	if (cap < 0)
		return cap;
	vp->pci.cfg[cap + 2] = (uint8_t)cap_len;
	vp->pci.cfg[cap + 3] = type;
	vp->pci.cfg[cap + 4] = VIRTIO_PCI_BAR_CFG;
	pci_config_set(&vp->pci, (unsigned)cap + 8, offset, 4);
	pci_config_set(&vp->pci, (unsigned)cap + 12, length, 4);
	return cap;
}

int virtio_pci_create(struct vm *vm, struct pci_bus *bus, struct virtio_device *vdev,
		      struct virtio_pci **out)
{
	struct virtio_pci *vp;
	int ret, cap;

	if (vdev->nr_queues > VIRTIO_MAX_QUEUES || vdev->config_size > 0x1000)
		return -EINVAL;
	vp = calloc(1, sizeof(*vp));
	if (!vp)
		return -ENOMEM;
	pthread_mutex_init(&vp->lock, NULL);
	pthread_mutex_init(&vp->irq_lock, NULL);
	vp->vm = vm;
	vp->vdev = vdev;
	vp->msix_config = VIRTIO_MSI_NO_VECTOR;
	vdev->transport = &virtio_pci_transport_ops;
	vdev->transport_priv = vp;

	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
		vp->kick_fds[q] = -1;
	for (unsigned q = 0; q < vdev->nr_queues; q++) {
		vp->kick_fds[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (vp->kick_fds[q] < 0) {
			ret = -errno;
			goto out_destroy;
		}
		vdev->vqs[q].kick_fd = vp->kick_fds[q];
	}

	pci_device_init(&vp->pci, vdev->name, VIRTIO_PCI_VENDOR,
			(uint16_t)(VIRTIO_PCI_DEVICE_BASE + vdev->device_id),
			virtio_pci_class(vdev->device_id), &virtio_pci_ops);
	vp->pci.cfg[PCI_REVISION_ID] = 1; /* modern-only device */
	pci_config_set(&vp->pci, PCI_SUBSYSTEM_VENDOR_ID, VIRTIO_PCI_VENDOR, 2);
	pci_config_set(&vp->pci, PCI_SUBSYSTEM_ID, 0x40, 2);
	ret = pci_device_set_bar(&vp->pci, VIRTIO_PCI_BAR_CFG, PCI_BAR_MEM64,
				 VIRTIO_PCI_BAR_CFG_SIZE, false);
	if (!ret)
		ret = pci_device_set_bar(&vp->pci, VIRTIO_PCI_BAR_MSIX, PCI_BAR_MEM32,
					 VIRTIO_PCI_BAR_MSIX_SIZE, false);
	if (ret)
		goto out_destroy;
	cap =
	    virtio_pci_add_cap(vp, VIRTIO_PCI_CAP_COMMON_CFG, VIRTIO_PCI_COMMON_OFF,
			       sizeof(struct virtio_pci_common_cfg), sizeof(struct virtio_pci_cap));
	if (cap >= 0)
		cap = virtio_pci_add_cap(vp, VIRTIO_PCI_CAP_ISR_CFG, VIRTIO_PCI_ISR_OFF, 1,
					 sizeof(struct virtio_pci_cap));
	if (cap >= 0 && vdev->config_size)
		cap = virtio_pci_add_cap(vp, VIRTIO_PCI_CAP_DEVICE_CFG, VIRTIO_PCI_DEVICE_OFF,
					 vdev->config_size, sizeof(struct virtio_pci_cap));
	if (cap >= 0) {
		cap = virtio_pci_add_cap(vp, VIRTIO_PCI_CAP_NOTIFY_CFG, VIRTIO_PCI_NOTIFY_OFF,
					 VIRTIO_PCI_NOTIFY_MULT * vdev->nr_queues,
					 sizeof(struct virtio_pci_notify_cap));
		if (cap >= 0)
			pci_config_set(&vp->pci, (unsigned)cap + 16, VIRTIO_PCI_NOTIFY_MULT, 4);
	}
	if (cap < 0) {
		ret = cap;
		goto out_destroy;
	}
	ret = msix_init(&vp->msix, &(struct msix_config){ .vm = vm,
							  .dev = &vp->pci,
							  .name = vdev->name,
							  .nr_vectors = vdev->nr_queues + 1,
							  .bar = VIRTIO_PCI_BAR_MSIX,
							  .table_off = VIRTIO_PCI_MSIX_TABLE_OFF,
							  .pba_off = VIRTIO_PCI_MSIX_PBA_OFF });
	if (ret)
		goto out_destroy;
	pci_device_set_intx_pin(&vp->pci, 1);
	ret = pci_bus_add_device(bus, &vp->pci, -1);
	if (ret)
		goto out_destroy;
	*out = vp;
	return 0;

out_destroy:
	pr_err("%s: cannot create its virtio-pci function: %s", vdev->name, strerror(-ret));
	virtio_pci_destroy(vp);
	return ret;
}

void virtio_pci_destroy(struct virtio_pci *vp)
{
	struct virtio_device *vdev;

	if (!vp)
		return;
	vdev = vp->vdev;
	pthread_mutex_lock(&vp->lock);
	virtio_device_reset(vdev);
	pthread_mutex_unlock(&vp->lock);
	if (vp->pci.bus)
		pci_bus_remove_device(vp->pci.bus, &vp->pci);
	for (unsigned q = 0; q < vdev->nr_queues; q++) {
		if (vp->kick_fds[q] >= 0)
			close(vp->kick_fds[q]);
		vp->kick_fds[q] = -1;
		vdev->vqs[q].kick_fd = -1;
	}
	msix_exit(&vp->msix); /* its vectors' irqfds and routes go */
	vdev->transport = NULL;
	pthread_mutex_destroy(&vp->lock);
	pthread_mutex_destroy(&vp->irq_lock);
	free(vp);
}
