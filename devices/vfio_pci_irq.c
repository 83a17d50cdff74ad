// SPDX-License-Identifier: MIT
/*
 * Passthrough interrupts. Nothing passes through userspace: VFIO signals an eventfd per
 * vector and KVM injects it (devices/msi.h). INTx is an irqfd with a resample eventfd that is
 * also VFIO's unmask eventfd; MSI is the device's capability, emulated (the guest's writes
 * program KVM routes, never the device); MSI-X is devices/msix.c, whose eventfds VFIO gets
 * when the guest enables it. One of the three is active at a time, as VFIO requires.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "devices/vfio_pci_priv.h"
#include "vmm/machine.h"
#include "vmm/util.h"

/* ---- INTx ---- */

static void vfio_pci_intx_disable(struct vfio_pci *dp)
{
	struct vfio_pci_intx *x = &dp->irq.intx;

	if (!x->enabled)
		return;
	vfio_device_set_irq_eventfds(dp->vdev, VFIO_PCI_INTX_IRQ_INDEX, 0, 0, NULL);
	/* KVM drops the line level with the resampler */
	vm_irqfd_deassign(dp->vm, x->fd, x->gsi);
	x->enabled = false;
	vp_debug(dp, "INTx off");
}

/* INTx is the device's interrupt whenever MSI and MSI-X are both off. */
static int vfio_pci_intx_enable(struct vfio_pci *dp)
{
	struct vfio_pci_intx *x = &dp->irq.intx;
	int ret;

	if (!x->present || x->enabled || x->fd < 0 || dp->irq.msi.enabled || dp->irq.msix_on)
		return 0;
	ret = vm_irqfd_assign(dp->vm, x->fd, x->gsi, x->resample_fd);
	if (ret) {
		vp_err_rl(dp, "INTx: irqfd with resample on gsi %u: %s", x->gsi, strerror(-ret));
		return ret;
	}
	ret = vfio_device_set_irq_eventfds(dp->vdev, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, &x->fd);
	if (!ret)
		ret = vfio_device_set_irq_unmask_eventfd(dp->vdev, VFIO_PCI_INTX_IRQ_INDEX,
							 x->resample_fd);
	if (ret) {
		vp_err_rl(dp, "INTx: cannot hand the eventfds to VFIO: %s", strerror(-ret));
		vfio_device_set_irq_eventfds(dp->vdev, VFIO_PCI_INTX_IRQ_INDEX, 0, 0, NULL);
		vm_irqfd_deassign(dp->vm, x->fd, x->gsi);
		return ret;
	}
	x->enabled = true;
	vp_debug(dp, "INTx on: trigger eventfd %d -> gsi %u, resample/unmask eventfd %d", x->fd,
		 x->gsi, x->resample_fd);
	return 0;
}

int vfio_pci_intx_open(struct vfio_pci *dp)
{
	struct vfio_pci_intx *x = &dp->irq.intx;
	int ret;

	if (!x->present)
		return 0;
	x->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	x->resample_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (x->fd < 0 || x->resample_fd < 0) {
		ret = -errno;
		vp_err(dp, "eventfd: %s", strerror(-ret));
		return ret;
	}
	x->gsi = pci_device_intx_gsi(&dp->pci);
	return 0;
}

int vfio_pci_intx_start(struct vfio_pci *dp)
{
	struct vfio_pci_intx *x = &dp->irq.intx;
	int ret;

	if (!x->present)
		return 0;
	pthread_mutex_lock(&dp->irq.lock);
	ret = vfio_pci_intx_enable(dp);
	pthread_mutex_unlock(&dp->irq.lock);
	if (ret)
		return ret;
	vp_info(dp, "INTx pin %c -> gsi %u: irqfd %d with resample/unmask eventfd %d",
		'A' + dp->pci.cfg[PCI_INTERRUPT_PIN] - 1, x->gsi, x->fd, x->resample_fd);
	return 0;
}

/* ---- MSI ---- */

static uint16_t vfio_pci_msi_flags(struct vfio_pci *dp)
{
	return (uint16_t)pci_config_get(&dp->pci, dp->irq.msi.cap + PCI_MSI_FLAGS, 2);
}

static unsigned vfio_pci_msi_data_off(const struct vfio_pci_msi *msi)
{
	return msi->cap + (msi->is64 ? PCI_MSI_DATA_64 : PCI_MSI_DATA_32);
}

static unsigned vfio_pci_msi_mask_off(const struct vfio_pci_msi *msi)
{
	return msi->cap + (msi->is64 ? PCI_MSI_MASK_64 : PCI_MSI_MASK_32);
}

static void vfio_pci_msi_teardown(struct vfio_pci *dp)
{
	struct vfio_pci_msi *msi = &dp->irq.msi;

	for (unsigned i = 0; i < msi->nvec; i++)
		msi_vector_close(dp->vm, &msi->vec[i]);
	msi->nvec = 0;
	msi->enabled = false;
}

static void vfio_pci_msi_disable(struct vfio_pci *dp)
{
	if (!dp->irq.msi.enabled)
		return;
	vfio_device_set_irq_eventfds(dp->vdev, VFIO_PCI_MSI_IRQ_INDEX, 0, 0, NULL);
	vfio_pci_msi_teardown(dp);
	vp_info_rl(dp, "MSI disabled");
	vfio_pci_intx_enable(dp);
}

/*
 * Hands VFIO the eventfds of @count MSI or MSI-X vectors. Where the host has fewer vectors to
 * give (x86 without interrupt remapping gives multi-message MSI one; a big MSI-X table may
 * outrun the host's free vectors), the kernel enables none and says how many it has: enable
 * that many, as QEMU does, and the guest's other vectors never fire. 0 or -errno.
 */
static int vfio_pci_irq_enable_vectors(struct vfio_pci *dp, uint32_t index, unsigned count,
				       const int *fds)
{
	int ret = vfio_device_set_irq_eventfds(dp->vdev, index, 0, count, fds);

	if (ret > 0 && (unsigned)ret < count) {
		vp_warn_rl(dp,
			   "%s: the host has %d of the %u vectors the guest enabled; vectors "
			   "%d and up will not fire",
			   index == VFIO_PCI_MSI_IRQ_INDEX ? "MSI" : "MSI-X", ret, count, ret);
		ret = vfio_device_set_irq_eventfds(dp->vdev, index, 0, (unsigned)ret, fds);
	}
	return ret > 0 ? -ENOSPC : ret;
}

static int vfio_pci_msi_enable(struct vfio_pci *dp, unsigned nvec)
{
	struct vfio_pci_msi *msi = &dp->irq.msi;
	int fds[VFIO_PCI_MSI_MAX_VECTORS];
	int ret = 0;

	if (dp->irq.msix_on) {
		vp_warn_rl(dp, "the guest enabled MSI while MSI-X is on: MSI stays off");
		return -EBUSY;
	}
	vfio_pci_intx_disable(dp);
	msi->nvec = nvec;
	for (unsigned i = 0; i < nvec && !ret; i++) {
		ret = msi_vector_open(&msi->vec[i], pci_device_requester_id(&dp->pci));
		fds[i] = msi->vec[i].fd;
	}
	if (!ret)
		ret = vfio_pci_irq_enable_vectors(dp, VFIO_PCI_MSI_IRQ_INDEX, nvec, fds);
	if (ret) {
		vp_err_rl(dp, "MSI: cannot enable %u vector(s): %s", nvec, strerror(-ret));
		vfio_pci_msi_teardown(dp);
		vfio_pci_intx_enable(dp);
		return ret;
	}
	msi->enabled = true;
	vp_info_rl(dp, "MSI enabled with %u vector(s)", nvec);
	return 0;
}

/* After any guest write into the MSI capability. */
static void vfio_pci_msi_update(struct vfio_pci *dp)
{
	struct vfio_pci_msi *msi = &dp->irq.msi;
	uint16_t flags = vfio_pci_msi_flags(dp);
	bool enable = flags & PCI_MSI_FLAGS_ENABLE;
	unsigned nvec = 1U << ((flags & PCI_MSI_FLAGS_QSIZE) >> 4);
	uint64_t addr;
	uint32_t data, mask = 0;

	/* the guest may ask for more than the capability offers: the device sends fewer */
	nvec = MIN(nvec, msi->max);
	if (msi->enabled && (!enable || nvec != msi->nvec))
		vfio_pci_msi_disable(dp);
	if (enable && !msi->enabled && vfio_pci_msi_enable(dp, nvec))
		return;
	if (!msi->enabled)
		return;
	addr = pci_config_get(&dp->pci, msi->cap + PCI_MSI_ADDRESS_LO, 4);
	if (msi->is64)
		addr |= (uint64_t)pci_config_get(&dp->pci, msi->cap + PCI_MSI_ADDRESS_HI, 4) << 32;
	data = pci_config_get(&dp->pci, vfio_pci_msi_data_off(msi), 2);
	if (msi->maskable)
		mask = pci_config_get(&dp->pci, vfio_pci_msi_mask_off(msi), 4);
	for (unsigned i = 0; i < msi->nvec; i++) {
		/* multiple messages: the device puts the vector number in the low data bits */
		uint32_t d = (data & ~(msi->nvec - 1)) | i;
		bool had_route = msi->vec[i].routed;
		int ret = msi_vector_program(dp->vm, &msi->vec[i], addr, d, (mask >> i) & 1);

		if (ret)
			vp_warn_rl(dp,
				   "MSI vector %u (address 0x%llx data 0x%x): not delivered: %s", i,
				   (unsigned long long)addr, d, strerror(-ret));
		else if (!had_route && msi->vec[i].routed)
			vp_info_rl(dp,
				   "MSI vector %u -> gsi %u (address 0x%llx data 0x%x), irqfd %d",
				   i, msi->vec[i].gsi, (unsigned long long)addr, d, msi->vec[i].fd);
	}
}

/* Bytes of an MSI capability: 10 to 24, by its 64-bit and per-vector-mask flags. */
static unsigned vfio_pci_msi_cap_len(const uint8_t *raw, unsigned cap)
{
	uint16_t flags = (uint16_t)(raw[cap + PCI_MSI_FLAGS] | raw[cap + PCI_MSI_FLAGS + 1] << 8);
	bool is64 = flags & PCI_MSI_FLAGS_64BIT;

	if (flags & PCI_MSI_FLAGS_MASKBIT)
		return is64 ? PCI_MSI_PENDING_64 + 4 : PCI_MSI_PENDING_32 + 4;
	return is64 ? PCI_MSI_DATA_64 + 2 : PCI_MSI_DATA_32 + 2;
}

static unsigned vfio_pci_log2(unsigned v)
{
	unsigned l = 0;

	while ((1U << (l + 1)) <= v && l < 31)
		l++;
	return l;
}

bool vfio_pci_msi_init(struct vfio_pci *dp, unsigned cap, const uint8_t *raw)
{
	struct pci_device *pd = &dp->pci;
	struct vfio_pci_msi *msi = &dp->irq.msi;
	uint16_t flags = (uint16_t)(raw[cap + PCI_MSI_FLAGS] | raw[cap + PCI_MSI_FLAGS + 1] << 8);
	uint32_t count = dp->irq.nr_msi;
	unsigned mmc;
	uint16_t vflags;

	if (!count || msi->cap || cap + vfio_pci_msi_cap_len(raw, cap) > PCI_CFG_SPACE_SIZE) {
		vp_debug(dp, "MSI capability at 0x%x hidden (VFIO offers %u vectors)", cap, count);
		return false;
	}
	/* message fields start clear, MMC is what VFIO offers */
	mmc = MIN((unsigned)(flags & PCI_MSI_FLAGS_QMASK) >> 1,
		  vfio_pci_log2(MIN(count, (uint32_t)VFIO_PCI_MSI_MAX_VECTORS)));
	vflags = (uint16_t)((flags & (PCI_MSI_FLAGS_64BIT | PCI_MSI_FLAGS_MASKBIT)) | mmc << 1);
	msi->cap = cap;
	msi->is64 = flags & PCI_MSI_FLAGS_64BIT;
	msi->maskable = flags & PCI_MSI_FLAGS_MASKBIT;
	msi->max = 1U << mmc;
	msi->len = vfio_pci_msi_cap_len(raw, cap);
	memset(&pd->cfg[cap + 2], 0, msi->len - 2);
	pci_config_set(pd, cap + PCI_MSI_FLAGS, vflags, 2);
	pd->wmask[cap + PCI_MSI_FLAGS] = PCI_MSI_FLAGS_ENABLE | PCI_MSI_FLAGS_QSIZE;
	memset(&pd->wmask[cap + PCI_MSI_ADDRESS_LO], 0xff, 4);
	pd->wmask[cap + PCI_MSI_ADDRESS_LO] = 0xfc;
	if (msi->is64)
		memset(&pd->wmask[cap + PCI_MSI_ADDRESS_HI], 0xff, 4);
	memset(&pd->wmask[vfio_pci_msi_data_off(msi)], 0xff, 2);
	if (msi->maskable)
		memset(&pd->wmask[vfio_pci_msi_mask_off(msi)], 0xff, 4);
	vp_debug(dp, "MSI capability at 0x%x emulated: %s-bit, %s, up to %u vector(s)", cap,
		 msi->is64 ? "64" : "32", msi->maskable ? "per-vector masks" : "no masks",
		 msi->max);
	return true;
}

/* ---- MSI-X: msix.c emulates it; VFIO gets the vectors' eventfds while it is on ---- */

static int vfio_pci_msix_enable(struct msix *m, bool on)
{
	struct vfio_pci *dp = container_of(m, struct vfio_pci, irq.msix);
	int *fds, ret;

	if (!on) {
		if (!dp->irq.msix_on)
			return 0;
		vfio_device_set_irq_eventfds(dp->vdev, VFIO_PCI_MSIX_IRQ_INDEX, 0, 0, NULL);
		dp->irq.msix_on = false;
		vfio_pci_intx_enable(dp);
		return 0;
	}
	if (dp->irq.msi.enabled) {
		vp_warn_rl(dp, "the guest enabled MSI-X while MSI is on: MSI-X stays off");
		return -EBUSY;
	}
	fds = calloc(m->nr_vectors, sizeof(*fds));
	if (!fds)
		return -ENOMEM;
	for (unsigned v = 0; v < m->nr_vectors; v++)
		fds[v] = msix_vector_fd(m, v);
	vfio_pci_intx_disable(dp);
	ret = vfio_pci_irq_enable_vectors(dp, VFIO_PCI_MSIX_IRQ_INDEX, m->nr_vectors, fds);
	free(fds);
	if (ret) {
		vp_err_rl(dp, "MSI-X: cannot enable %u vectors: %s", m->nr_vectors, strerror(-ret));
		vfio_pci_intx_enable(dp);
		return ret;
	}
	dp->irq.msix_on = true;
	return 0;
}

static const struct msix_ops vfio_pci_msix_ops = {
	.enable = vfio_pci_msix_enable,
};

int vfio_pci_msix_init(struct vfio_pci *dp, unsigned cap, const uint8_t *raw)
{
	uint16_t flags = (uint16_t)(raw[cap + PCI_MSIX_FLAGS] | raw[cap + PCI_MSIX_FLAGS + 1] << 8);
	uint32_t table, pba, count = dp->irq.nr_msix;
	unsigned nr = (flags & PCI_MSIX_FLAGS_QSIZE) + 1U, bir, pba_bir;
	struct msix_config mc;
	uint64_t bar_size;
	int ret;

	/* its table and PBA words must lie inside config space (a malformed device may put
	 * the capability at 0xf8) */
	if (!count || dp->irq.msix.table || cap + PCI_CAP_MSIX_SIZEOF > PCI_CFG_SPACE_SIZE) {
		vp_debug(dp,
			 "MSI-X capability at 0x%x hidden (VFIO offers %u vectors, %u bytes fit in "
			 "config space)",
			 cap, count, PCI_CFG_SPACE_SIZE - cap);
		return 0;
	}
	memcpy(&table, &raw[cap + PCI_MSIX_TABLE], 4);
	memcpy(&pba, &raw[cap + PCI_MSIX_PBA], 4);
	bir = table & PCI_MSIX_TABLE_BIR;
	pba_bir = pba & PCI_MSIX_PBA_BIR;
	mc = (struct msix_config){
		.vm = dp->vm,
		.dev = &dp->pci,
		.name = dp->log_name,
		.cap = cap,
		.nr_vectors = MIN(nr, count),
		.bar = bir,
		.table_off = table & PCI_MSIX_TABLE_OFFSET,
		.pba_off = pba & PCI_MSIX_PBA_OFFSET,
		.ops = &vfio_pci_msix_ops,
	};
	bar_size =
	    bir < PCI_NUM_BARS && dp->bars.bar[bir].present ? dp->bars.bar[bir].region.size : 0;
	/* table and PBA in one BAR, both inside it: what every device does; anything else is
	 * refused rather than half emulated */
	if (pba_bir != bir || !bar_size ||
	    mc.table_off + (uint64_t)mc.nr_vectors * MSIX_ENTRY_SIZE > bar_size ||
	    mc.pba_off + ALIGN_UP((uint64_t)mc.nr_vectors, 64) / 8 > bar_size) {
		vp_err(dp,
		       "MSI-X table (BIR %u offset 0x%x) or PBA (BIR %u offset 0x%x) is not inside "
		       "one BAR",
		       bir, mc.table_off, pba_bir, mc.pba_off);
		return -EINVAL;
	}
	ret = msix_init(&dp->irq.msix, &mc);
	if (ret) {
		vp_err(dp, "MSI-X capability at 0x%x: cannot emulate %u vectors: %s", cap,
		       mc.nr_vectors, strerror(-ret));
		return ret;
	}
	vp_debug(dp,
		 "MSI-X capability at 0x%x emulated: %u vectors, table BAR%u+0x%x, PBA BAR%u+0x%x",
		 cap, mc.nr_vectors, bir, mc.table_off, bir, mc.pba_off);
	return 1;
}

/* ---- the guest's config writes, teardown, report ---- */

void vfio_pci_irqs_init(struct vfio_pci *dp)
{
	struct vfio_pci_irqs *irq = &dp->irq;

	pthread_mutex_init(&irq->lock, NULL);
	irq->intx.fd = irq->intx.resample_fd = -1;
	for (unsigned i = 0; i < VFIO_PCI_MSI_MAX_VECTORS; i++)
		msi_vector_init(&irq->msi.vec[i]);
}

void vfio_pci_irqs_probe(struct vfio_pci *dp, uint8_t pin)
{
	struct vfio_pci_irqs *irq = &dp->irq;
	uint32_t nr_intx = 0, flags;

	vfio_device_irq_count(dp->vdev, VFIO_PCI_INTX_IRQ_INDEX, &nr_intx, &flags);
	vfio_device_irq_count(dp->vdev, VFIO_PCI_MSI_IRQ_INDEX, &irq->nr_msi, &flags);
	vfio_device_irq_count(dp->vdev, VFIO_PCI_MSIX_IRQ_INDEX, &irq->nr_msix, &flags);
	irq->intx.present = nr_intx > 0 && pin >= 1 && pin <= 4;
	if (irq->intx.present)
		dp->pci.cfg[PCI_INTERRUPT_PIN] = pin;
	else
		vp_debug(dp, "no INTx (pin %u, VFIO offers %u)", pin, nr_intx);
}

int vfio_pci_irqs_attach(struct vfio_pci *dp)
{
	struct vfio_pci_irqs *irq = &dp->irq;
	uint32_t nr_intx = 0, nr_msi = 0, nr_msix = 0, flags;
	int ret;

	ret = vfio_device_irq_count(dp->vdev, VFIO_PCI_INTX_IRQ_INDEX, &nr_intx, &flags);
	if (!ret)
		ret = vfio_device_irq_count(dp->vdev, VFIO_PCI_MSI_IRQ_INDEX, &nr_msi, &flags);
	if (!ret)
		ret = vfio_device_irq_count(dp->vdev, VFIO_PCI_MSIX_IRQ_INDEX, &nr_msix, &flags);
	if (ret)
		return ret;
	if ((irq->msi.cap && nr_msi < irq->msi.max) ||
	    (irq->msix.table && nr_msix < irq->msix.nr_vectors)) {
		vp_err(dp,
		       "VFIO offers %u MSI and %u MSI-X vectors, config space said %u and %u: the "
		       "device changed under ptvm",
		       nr_msi, nr_msix, irq->msi.cap ? irq->msi.max : 0,
		       irq->msix.table ? irq->msix.nr_vectors : 0);
		return -EIO;
	}
	irq->nr_msi = nr_msi;
	irq->nr_msix = nr_msix;
	if (irq->intx.present && !nr_intx) {
		/* no guest access has happened yet: the pin can still go */
		vp_info(dp, "VFIO offers no INTx (the host gave pin %c no interrupt): pin hidden",
			'A' + dp->pci.cfg[PCI_INTERRUPT_PIN] - 1);
		irq->intx.present = false;
		dp->pci.cfg[PCI_INTERRUPT_PIN] = 0;
	}
	return 0;
}

void vfio_pci_irqs_config_write(struct vfio_pci *dp, unsigned offset, unsigned len)
{
	struct vfio_pci_irqs *irq = &dp->irq;

	pthread_mutex_lock(&irq->lock);
	if (irq->msi.cap && ranges_overlap(offset, len, irq->msi.cap, irq->msi.len))
		vfio_pci_msi_update(dp);
	msix_config_write(&irq->msix, offset, len);
	pthread_mutex_unlock(&irq->lock);
}

void vfio_pci_irqs_exit(struct vfio_pci *dp)
{
	struct vfio_pci_irqs *irq = &dp->irq;

	pthread_mutex_lock(&irq->lock);
	irq->intx.present = false; /* MSI/MSI-X going off must not turn INTx back on */
	msix_exit(&irq->msix);
	vfio_pci_msi_disable(dp);
	vfio_pci_intx_disable(dp);
	pthread_mutex_unlock(&irq->lock);
	if (irq->intx.fd >= 0)
		close(irq->intx.fd);
	if (irq->intx.resample_fd >= 0)
		close(irq->intx.resample_fd);
	irq->intx.fd = irq->intx.resample_fd = -1;
	pthread_mutex_destroy(&irq->lock);
}

void vfio_pci_irqs_report(struct vfio_pci *dp)
{
	struct vfio_pci_irqs *irq = &dp->irq;
	unsigned gsi;

	pthread_mutex_lock(&irq->lock);
	if (irq->intx.enabled)
		vp_info(dp, "interrupts: INTx on gsi %u", irq->intx.gsi);
	for (unsigned i = 0; irq->msi.enabled && i < irq->msi.nvec; i++)
		if (irq->msi.vec[i].routed)
			vp_info(dp, "interrupts: MSI vector %u on gsi %u", i, irq->msi.vec[i].gsi);
	for (unsigned i = 0; irq->msix.table && i < irq->msix.nr_vectors; i++)
		if (msix_vector_gsi(&irq->msix, i, &gsi))
			vp_info(dp, "interrupts: MSI-X vector %u on gsi %u", i, gsi);
	pthread_mutex_unlock(&irq->lock);
}
