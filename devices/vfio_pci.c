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

/* ---- create / destroy ---- */

int vfio_pci_create_device(struct vm *vm, struct pci_bus *bus, struct vfio *vfio,
			   struct vfio_device *vdev, const struct vfio_pci_config *cfg,
			   struct vfio_pci **out)
{
	struct vfio_pci *dp = calloc(1, sizeof(*dp));
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

	/*
	 * A device left in any state by its last user starts clean: vfio-pci resets it when its
	 * fd is first opened, which vfio_attach_device just did (reset_works is that reset's
	 * outcome), so a VFIO_DEVICE_RESET here would only add a second function reset (an FLR
	 * waits 100 ms) to the start-up path.
	 */
	if (vdev->reset_works)
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
	ret = vfio_pci_intx_start(dp);
	if (ret)
		goto out_destroy;
	vp_info(dp, "%04x:%04x on ptvm's bus 0 at 00:%02x.0, BARs %s",
		pci_config_get(&dp->pci, 0, 2), pci_config_get(&dp->pci, 2, 2),
		PCI_SLOT(dp->pci.devfn),
		cfg->bar_mmap ? "mmap'd where the kernel allows" : "all trapped (bar-mmap=off)");
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

void vfio_pci_report(struct vfio_pci *dp)
{
	vfio_pci_bars_report(dp);
	vfio_pci_irqs_report(dp);
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
	free(dp);
}
