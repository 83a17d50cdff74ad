// SPDX-License-Identifier: MIT
/*
 * The passthrough device object: the --device parser, create/destroy and the report. The
 * model itself is split by concern (vfio_pci_priv.h): config space, BARs, interrupts.
 */
#include "devices/vfio_pci.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "devices/vfio_pci_priv.h"
#include "iommu/sysfs.h"
#include "iommu/vfio.h"
#include "iommu/vfio_device.h"
#include "vmm/log.h"
#include "vmm/machine.h"
#include "vmm/util.h"

const struct pci_device_ops vfio_pci_ops = {
	.bar_read = vfio_pci_bar_read,
	.bar_write = vfio_pci_bar_write,
	.bar_map = vfio_pci_bar_map,
	.config_read = vfio_pci_config_read,
	.config_write = vfio_pci_config_write,
};

/* ---- parsing ---- */

static int vfio_pci_parse_bool(const char *spec, const char *key, const char *val, bool *out)
{
	if (!strcmp(val, "on")) {
		*out = true;
		return 0;
	}
	if (!strcmp(val, "off")) {
		*out = false;
		return 0;
	}
	pr_err("--device %s: %s=%s: want on or off", spec, key, val);
	return -EINVAL;
}

int vfio_pci_parse(const char *spec, struct vfio_pci_config *cfg)
{
	char buf[256], *save = NULL, *tok;
	bool have_bdf = false;
	const char *s = spec;
	int ret;

	memset(cfg, 0, sizeof(*cfg));
	cfg->bar_mmap = true;
	if (!strncmp(s, "vfio=", 5))
		s += 5;
	if (strlen(s) >= sizeof(buf)) {
		pr_err("--device %.32s...: too long", spec);
		return -EINVAL;
	}
	strcpy(buf, s);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');

		if (!have_bdf) {
			if (eq) {
				pr_err("--device %s: the PCI address must come first", spec);
				return -EINVAL;
			}
			if (vfio_bdf_parse(tok, cfg->bdf)) {
				pr_err("--device %s: '%s' is not a PCI address (want DDDD:BB:SS.F, "
				       "e.g. 0000:00:03.0)",
				       spec, tok);
				return -EINVAL;
			}
			have_bdf = true;
			continue;
		}
		if (!eq) {
			pr_err("--device %s: '%s' is not key=value", spec, tok);
			return -EINVAL;
		}
		*eq = '\0';
		if (!strcmp(tok, "bar-mmap"))
			ret = vfio_pci_parse_bool(spec, tok, eq + 1, &cfg->bar_mmap);
		else if (!strcmp(tok, "p2p"))
			ret = vfio_pci_parse_bool(spec, tok, eq + 1, &cfg->p2p);
		else if (!strcmp(tok, "rom"))
			ret = vfio_pci_parse_bool(spec, tok, eq + 1, &cfg->rom);
		else {
			pr_err("--device %s: unknown option '%s' (have bar-mmap, p2p, rom)", spec,
			       tok);
			ret = -EINVAL;
		}
		if (ret)
			return ret;
	}
	if (!have_bdf) {
		pr_err("--device %s: no PCI address (want vfio=DDDD:BB:SS.F)", spec);
		return -EINVAL;
	}
	return 0;
}

/* ---- the deferred open ---- */

/* The open thread (iommu/vfio.c): the fd is there (err 0) or will never be. */
static void vfio_pci_opened(void *opaque, int err)
{
	struct vfio_pci *dp = opaque;

	if (!err)
		err = vfio_pci_config_attach(dp);
	if (!err)
		vp_info(
		    dp,
		    "opened while the guest boots: device fd %.1f ms, then %.1f ms more "
		    "(region info %.1f, mmap %.1f)",
		    dp->vdev->times.open * 1e3,
		    (dp->vdev->times.region_info + dp->vdev->times.mmap + dp->vdev->times.irqs) *
			1e3,
		    dp->vdev->times.region_info * 1e3, dp->vdev->times.mmap * 1e3);
	/*
	 * What failed is logged, naming the device; the VM cannot go on without it. The exit
	 * is requested before the failure is published, so a vCPU that the failure lets go
	 * already finds the VM ending (and cannot run on a moment with a dead device).
	 */
	if (err)
		vm_request_exit(dp->vm, PTVM_EXIT_ERROR,
				"a passthrough device could not be opened");
	pthread_mutex_lock(&dp->open.lock);
	dp->open.state = err ? VFIO_PCI_OPEN_FAILED : VFIO_PCI_OPEN_DONE;
	pthread_cond_broadcast(&dp->open.cond);
	pthread_mutex_unlock(&dp->open.lock);
}

/* What needs the vCPU's allow-list (eventfds, KVM irqfds), on the first access. */
static int vfio_pci_open_finish(struct vfio_pci *dp)
{
	int ret = vfio_pci_intx_start(dp);

	if (ret)
		vm_request_exit(dp->vm, PTVM_EXIT_ERROR, "a passthrough device's INTx failed");
	return ret;
}

bool vfio_pci_wait_open(struct vfio_pci *dp)
{
	double t0;
	bool ok;

	if (atomic_load_explicit(&dp->open.ready, memory_order_acquire))
		return true;
	t0 = monotonic_seconds();
	pthread_mutex_lock(&dp->open.lock);
	while (dp->open.state == VFIO_PCI_OPEN_PENDING && !vm_is_exiting(dp->vm)) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += 100 * 1000 * 1000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&dp->open.cond, &dp->open.lock, &ts);
	}
	if (dp->open.state == VFIO_PCI_OPEN_DONE) {
		dp->open.state =
		    vfio_pci_open_finish(dp) ? VFIO_PCI_OPEN_FAILED : VFIO_PCI_OPEN_READY;
		dp->open.wait_seconds = monotonic_seconds() - t0;
		if (dp->open.state == VFIO_PCI_OPEN_READY) {
			vp_info(dp, "ready: the guest's first access waited %.1f ms for its open",
				dp->open.wait_seconds * 1e3);
			atomic_store_explicit(&dp->open.ready, true, memory_order_release);
		}
	}
	ok = dp->open.state == VFIO_PCI_OPEN_READY;
	pthread_mutex_unlock(&dp->open.lock);
	return ok;
}

static void vfio_pci_open_init(struct vfio_pci *dp, bool deferred)
{
	pthread_condattr_t a;

	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(&dp->open.cond, &a);
	pthread_condattr_destroy(&a);
	pthread_mutex_init(&dp->open.lock, NULL);
	dp->open.deferred = deferred;
	dp->open.state = deferred ? VFIO_PCI_OPEN_PENDING : VFIO_PCI_OPEN_READY;
	atomic_store(&dp->open.ready, !deferred);
}

/* ---- create / destroy ---- */

int vfio_pci_create_device(struct vm *vm, struct pci_bus *bus, struct vfio *vfio,
			   struct vfio_device *vdev, const struct vfio_pci_config *cfg,
			   struct vfio_pci **out)
{
	struct vfio_pci *dp = calloc(1, sizeof(*dp));
	double t0 = monotonic_seconds();
	int ret;

	if (!dp) {
		if (vfio)
			vfio_detach_device(vfio, vdev);
		return -ENOMEM;
	}
	dp->vm = vm;
	dp->vfio = vfio;
	dp->vdev = vdev;
	dp->cfg = *cfg;
	snprintf(dp->name, sizeof(dp->name), "vfio-%s", cfg->bdf);
	snprintf(dp->log_name, sizeof(dp->log_name), "vfio-pci %s", cfg->bdf);
	vfio_pci_irqs_init(dp);
	vfio_pci_open_init(dp, !vfio_device_is_open(vdev));

	/*
	 * A device left in any state by its last user starts clean: vfio-pci resets it when its
	 * fd is first opened (reset_works is that reset's outcome), so a VFIO_DEVICE_RESET here
	 * would only add a second function reset (an FLR waits 100 ms) to the start-up path.
	 * Not open yet (ptvm run): its config space and BAR sizes come from sysfs, and the open
	 * runs while the guest boots.
	 */
	if (dp->open.deferred)
		vp_debug(dp, "described from sysfs; opened (and reset) while the guest boots");
	else if (vdev->reset_works)
		vp_debug(dp, "reset by vfio-pci when it was opened");
	else
		vp_info(dp, "the device has no reset method: starting in the state it is in");
	ret = vfio_pci_config_init(dp);
	if (ret)
		goto out_destroy;
	ret = pci_bus_add_device(bus, &dp->pci, -1);
	if (ret)
		goto out_destroy;
	dp->on_bus = true;
	ret = vfio_pci_intx_open(dp);
	if (ret)
		goto out_destroy;
	if (dp->open.deferred)
		vfio_device_open_later(vdev, vfio_pci_opened, dp);
	else if ((ret = vfio_pci_intx_start(dp)))
		goto out_destroy;
	vp_info(dp, "%04x:%04x on ptvm's bus 0 at 00:%02x.0, BARs %s",
		pci_config_get(&dp->pci, 0, 2), pci_config_get(&dp->pci, 2, 2),
		PCI_SLOT(dp->pci.devfn),
		cfg->bar_mmap ? "mmap'd where the kernel allows" : "all trapped (bar-mmap=off)");
	if (dp->open.deferred)
		vp_info(dp,
			"set-up: group and container %.1f ms, the model from sysfs %.1f ms; its "
			"open runs while the guest boots",
			vdev->times.group * 1e3, (monotonic_seconds() - t0) * 1e3);
	else
		vp_info(dp,
			"set-up: group and container %.1f ms, device fd %.1f ms, then the model "
			"%.1f ms (region info %.1f, mmap %.1f, interrupts %.1f)",
			vdev->times.group * 1e3, vdev->times.open * 1e3,
			(monotonic_seconds() - t0) * 1e3, vdev->times.region_info * 1e3,
			vdev->times.mmap * 1e3, vdev->times.irqs * 1e3);
	*out = dp;
	return 0;

out_destroy:
	vfio_pci_destroy(dp);
	return ret;
}

int vfio_pci_create(struct vm *vm, struct pci_bus *bus, struct vfio *vfio,
		    const struct vfio_pci_config *cfg, struct vfio_pci **out)
{
	struct vfio_device *vdev;
	int ret;

	ret = cfg->viommu ? vfio_attach_device_viommu(vfio, cfg->bdf, &vdev)
			  : vfio_attach_device(vfio, cfg->bdf, cfg->p2p, &vdev);
	if (ret)
		return ret;
	/* on failure it detaches the device itself */
	return vfio_pci_create_device(vm, bus, vfio, vdev, cfg, out);
}

uint64_t vfio_pci_bar_exits(struct vfio_pci *dp, unsigned bar)
{
	return bar <= VFIO_PCI_ROM_BAR ? atomic_load(&dp->bars.bar[bar].exits) : 0;
}

struct pci_device *vfio_pci_device(struct vfio_pci *dp)
{
	return &dp->pci;
}

unsigned vfio_pci_msix_eventfds(struct vfio_pci *dp)
{
	return msix_eventfds(&dp->irq.msix);
}

void vfio_pci_report(struct vfio_pci *dp)
{
	vfio_pci_bars_report(dp);
	vfio_pci_irqs_report(dp);
	if (dp->open.deferred && dp->open.state == VFIO_PCI_OPEN_READY)
		vp_info(dp, "opened while the guest booted: its first access waited %.1f ms",
			dp->open.wait_seconds * 1e3);
	if (dp->config.bm_waits)
		vp_info(dp,
			"bus master: enabled %u time(s), the guest waited %.1f ms in all for "
			"the DMA mappings",
			dp->config.bm_waits, dp->config.bm_wait_seconds * 1e3);
}

void vfio_pci_destroy(struct vfio_pci *dp)
{
	if (!dp)
		return;
	/* an open still running calls back into dp: it ends first */
	vfio_device_open_join(dp->vdev);
	if (dp->on_bus) {
		vfio_pci_report(dp);
		/* stops decoding: every BAR's regions and traps go */
		pci_bus_remove_device(dp->pci.bus, &dp->pci);
		dp->on_bus = false;
	}
	vfio_pci_irqs_exit(dp);
	/* quiesce the device (no DMA into RAM that is about to go) before its BARs go */
	if (dp->vdev && dp->vdev->reset_works && vfio_device_reset(dp->vdev))
		vp_warn(dp, "VFIO_DEVICE_RESET at exit failed");
	vfio_pci_bars_exit(dp);
	if (dp->vfio)
		vfio_detach_device(dp->vfio, dp->vdev);
	pthread_cond_destroy(&dp->open.cond);
	pthread_mutex_destroy(&dp->open.lock);
	free(dp);
}
