/* SPDX-License-Identifier: MIT */
/*
 * The modern (virtio 1.x, no legacy) virtio-pci transport. BAR0 (64-bit memory) holds the
 * common configuration, ISR, device configuration and notification areas; BAR2 holds the
 * MSI-X table and PBA. Queue notifications are KVM ioeventfds on the notify area, queue and
 * configuration interrupts are MSI-X vectors delivered through irqfds bound to KVM MSI
 * routes (INTx with the ISR when the driver does not enable MSI-X).
 */
#ifndef PTVM_DEVICES_VIRTIO_PCI_H
#define PTVM_DEVICES_VIRTIO_PCI_H

#include "devices/msix.h"
#include "devices/pci.h"
#include "devices/virtio.h"

struct vm;

#define VIRTIO_PCI_VENDOR 0x1af4
#define VIRTIO_PCI_DEVICE_BASE 0x1040
#define VIRTIO_PCI_BAR_CFG 0
#define VIRTIO_PCI_BAR_MSIX 2
#define VIRTIO_PCI_COMMON_OFF 0x0000
#define VIRTIO_PCI_ISR_OFF 0x1000
#define VIRTIO_PCI_DEVICE_OFF 0x2000
#define VIRTIO_PCI_NOTIFY_OFF 0x3000
#define VIRTIO_PCI_NOTIFY_MULT 4
#define VIRTIO_PCI_BAR_CFG_SIZE 0x4000
#define VIRTIO_PCI_MSIX_TABLE_OFF 0x0000
#define VIRTIO_PCI_MSIX_PBA_OFF 0x0800
#define VIRTIO_PCI_BAR_MSIX_SIZE 0x1000

struct virtio_pci {
	struct pci_device pci;
	struct virtio_device *vdev;
	struct vm *vm;
	struct msix msix;
	pthread_mutex_t lock;	  /* transport registers; held across device reset/activate */
	pthread_mutex_t irq_lock; /* INTx level; taken from the device's I/O thread */
	uint32_t device_feature_select, driver_feature_select;
	uint16_t msix_config;
	uint16_t queue_select;
	_Atomic uint8_t isr;
	_Atomic uint8_t config_generation;
	bool intx_level;
	/* the command register's INTx-disable bit, copied under irq_lock by the config write
	 * hook: the I/O thread never reads config space, which vCPUs write under the bus lock */
	bool intx_disabled;
	bool notify_mapped;
	uint64_t notify_base; /* guest address of the notify area while mapped */
	/* each queue's kick eventfd, made and closed here and lent to the queue (vq->kick_fd):
	 * vCPUs notify through this copy, which no device reset rewrites */
	int kick_fds[VIRTIO_MAX_QUEUES];
};

/* Wraps vdev in a virtio-pci function and plugs it into bus; -errno after a pr_err. */
int virtio_pci_create(struct vm *vm, struct pci_bus *bus, struct virtio_device *vdev,
		      struct virtio_pci **out);
/* Resets the device (stopping its thread), unplugs it and frees the transport. */
void virtio_pci_destroy(struct virtio_pci *vp);

#endif
