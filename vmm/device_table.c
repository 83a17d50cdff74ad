// SPDX-License-Identifier: MIT
#include "device_table.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "devices/virtio_iommu.h"
#include "devices/virtio_pci.h"
#include "iommu/dma_prefault.h"
#include "iommu/vfio.h"
#include "iommu/viommu.h"
#include "log.h"
#include "platform.h"
#include "vm.h"

/* ---- virtio devices: each builds its virtio_device, the transport is common ---- */

static int device_virtio_plug(struct device_set *ds, struct device_instance *di,
			      struct virtio_device *vdev)
{
	int ret = virtio_pci_create(ds->vm, ds->pci, vdev, &di->vp);

	if (ret)
		return ret; /* the caller destroys vdev */
	di->vdev = vdev;
	if (!di->behind_iommu)
		return 0;
	/* behind the vIOMMU: endpoint ID = requester ID (bus 0: the devfn) */
	ret = virtio_iommu_add_virtio(ds->viommu, vdev, di->vp->pci.devfn, &di->ep);
	if (ret) {
		pr_err("--iommu: %s cannot sit behind the vIOMMU: %s", vdev->name, strerror(-ret));
		virtio_pci_destroy(di->vp);
		di->vp = NULL;
		di->vdev = NULL;
		return ret;
	}
	pr_info("viommu: %s (00:%02x.%x) is endpoint 0x%x", vdev->name, PCI_SLOT(di->vp->pci.devfn),
		PCI_FUNC(di->vp->pci.devfn), di->vp->pci.devfn);
	return 0;
}

static void device_virtio_unplug(struct device_instance *di)
{
	virtio_pci_destroy(di->vp);
	di->vp = NULL;
}

/*
 * Puts a created device behind the vIOMMU: its endpoint ID is its PCI requester ID (bus 0,
 * so the devfn); listener is a passthrough device's container listener, else NULL.
 */
static int device_iommu_endpoint(struct device_set *ds, struct device_instance *di,
				 const struct pci_device *pdev, const char *name,
				 struct dma_listener *listener)
{
	int ret = viommu_add_endpoint(virtio_iommu_model(ds->viommu), pdev->devfn, name, listener,
				      &di->ep);

	if (ret)
		pr_err("--iommu: %s cannot sit behind the vIOMMU: %s", name, strerror(-ret));
	else
		pr_info("viommu: %s (00:%02x.%x) is endpoint 0x%x", name, PCI_SLOT(pdev->devfn),
			PCI_FUNC(pdev->devfn), pdev->devfn);
	return ret;
}

/* --iommu virtio: created first, so that the devices after it can sit behind it */
static int device_iommu_parse(const char *arg, union device_options *o)
{
	if (strcmp(arg, "virtio")) {
		pr_err("--iommu: '%s' is not virtio", arg);
		return -EINVAL;
	}
	return 0;
}

static int device_iommu_create(struct device_set *ds, const union device_options *o,
			       struct device_instance *di)
{
	struct virtio_device *vdev;
	int ret = virtio_iommu_create(ds->vm->mm, &vdev);

	if (!ret && (ret = device_virtio_plug(ds, di, vdev)))
		virtio_iommu_destroy(vdev);
	if (!ret)
		ds->viommu = vdev;
	return ret;
}

static void device_iommu_destroy(struct device_set *ds, struct device_instance *di)
{
	ds->viommu = NULL;
	device_virtio_unplug(di);
	virtio_iommu_destroy(di->vdev);
}

static int device_disk_parse(const char *arg, union device_options *o)
{
	return virtio_blk_parse(arg, &o->blk);
}

static int device_disk_create(struct device_set *ds, const union device_options *o,
			      struct device_instance *di)
{
	struct virtio_device *vdev;
	int ret = virtio_blk_create(&o->blk, ds->vm->mm, &vdev);

	if (!ret && (ret = device_virtio_plug(ds, di, vdev)))
		virtio_blk_destroy(vdev);
	return ret;
}

static void device_disk_destroy(struct device_set *ds, struct device_instance *di)
{
	device_virtio_unplug(di);
	virtio_blk_destroy(di->vdev);
}

static int device_net_parse(const char *arg, union device_options *o)
{
	return virtio_net_parse(arg, &o->net);
}

static int device_net_create(struct device_set *ds, const union device_options *o,
			     struct device_instance *di)
{
	struct virtio_device *vdev;
	int ret = virtio_net_create(&o->net, ds->vm->mm, &vdev);

	if (!ret && (ret = device_virtio_plug(ds, di, vdev)))
		virtio_net_destroy(vdev);
	return ret;
}

static void device_net_destroy(struct device_set *ds, struct device_instance *di)
{
	device_virtio_unplug(di);
	virtio_net_destroy(di->vdev);
}

static int device_console_parse(const char *arg, union device_options *o)
{
	return virtio_console_parse(arg, &o->console);
}

static int device_console_create(struct device_set *ds, const union device_options *o,
				 struct device_instance *di)
{
	struct virtio_device *vdev;
	int ret = virtio_console_create(&o->console, ds->vm->mm, &vdev);

	if (!ret && (ret = device_virtio_plug(ds, di, vdev)))
		virtio_console_destroy(vdev);
	if (!ret)
		ds->console = vdev;
	return ret;
}

static void device_console_destroy(struct device_set *ds, struct device_instance *di)
{
	ds->console = NULL;
	device_virtio_unplug(di);
	virtio_console_destroy(di->vdev);
}

static int device_rng_parse(const char *arg, union device_options *o)
{
	return virtio_rng_parse(arg, &o->rng);
}

static int device_rng_create(struct device_set *ds, const union device_options *o,
			     struct device_instance *di)
{
	struct virtio_device *vdev;
	int ret = virtio_rng_create(&o->rng, ds->vm->mm, &vdev);

	if (!ret && (ret = device_virtio_plug(ds, di, vdev)))
		virtio_rng_destroy(vdev);
	return ret;
}

static void device_rng_destroy(struct device_set *ds, struct device_instance *di)
{
	device_virtio_unplug(di);
	virtio_rng_destroy(di->vdev);
}

static int device_balloon_parse(const char *arg, union device_options *o)
{
	return virtio_balloon_parse(arg, &o->balloon);
}

static int device_balloon_create(struct device_set *ds, const union device_options *o,
				 struct device_instance *di)
{
	struct virtio_device *vdev;
	int ret = virtio_balloon_create(&o->balloon, ds->vm->mm, &vdev);

	if (!ret && (ret = device_virtio_plug(ds, di, vdev)))
		virtio_balloon_destroy(vdev);
	if (!ret)
		ds->balloon = vdev;
	/* a passthrough device given before --balloon pinned guest RAM already */
	if (!ret && ds->vfio)
		virtio_balloon_set_pinned(vdev, true);
	return ret;
}

static void device_balloon_destroy(struct device_set *ds, struct device_instance *di)
{
	ds->balloon = NULL;
	device_virtio_unplug(di);
	virtio_balloon_destroy(di->vdev);
}

/* ---- passthrough ---- */

static int device_vfio_parse(const char *arg, union device_options *o)
{
	if (strncmp(arg, "vfio=", 5)) {
		pr_err("--device: '%s' is not vfio=BDF[,bar-mmap=on|off][,p2p=on|off][,rom=on]",
		       arg);
		return -EINVAL;
	}
	return vfio_pci_parse(arg, &o->vfio);
}

/* A DMA mapping failed in the background (already logged): the passthrough device cannot
 * work, so the VM ends. */
static void device_vfio_dma_failed(void *opaque, int err)
{
	vm_request_exit(opaque, PTVM_EXIT_ERROR, "guest RAM could not be mapped for DMA");
}

/*
 * The first passthrough device brings the VFIO containers, which map guest RAM in the
 * background while the guest runs (a device's bus-master enable waits for it). The balloon is
 * told first: once
 * guest RAM is pinned for DMA it must not be discarded, so inflation and free page reporting
 * are refused from here on.
 */
static int device_vfio_create(struct device_set *ds, const union device_options *o,
			      struct device_instance *di)
{
	struct vfio_pci_config c;
	unsigned prefault;
	int ret;

	if (!ds->vfio) {
		if (ds->balloon) {
			virtio_balloon_set_pinned(ds->balloon, true);
			pr_info("balloon: inflation and free page reporting refused while a "
				"passthrough device is attached (its DMA pins guest RAM)");
		}
		ret = vfio_create(ds->vm->mm, &ds->vfio);
		if (ret)
			return ret;
		/* pinning clears every page it faults in: the CPUs the vCPUs leave free do
		 * that beforehand, in parallel (iommu/dma_prefault.h), unless told otherwise */
		prefault = ds->prefault_threads >= 0
			       ? (unsigned)ds->prefault_threads
			       : dma_prefault_threads_choose(dma_prefault_cpus_allowed(),
							     ds->vm->nr_vcpus);
		vfio_set_background_mapping(ds->vfio, prefault, device_vfio_dma_failed, ds->vm);
	}
	/* behind the vIOMMU its group gets a container of its own, mapping nothing until the
	 * guest attaches it to a domain; vfio_pci_create detaches the device again on failure */
	c = o->vfio;
	c.viommu = di->behind_iommu;
	ret = vfio_pci_create(ds->vm, ds->pci, ds->vfio, &c, &di->vfio);
	if (ret || !di->behind_iommu)
		return ret;
	ret = device_iommu_endpoint(ds, di, vfio_pci_device(di->vfio), c.bdf,
				    vfio_device_dma_listener(vfio_find_device(ds->vfio, c.bdf)));
	if (ret) {
		vfio_pci_destroy(di->vfio);
		di->vfio = NULL;
	}
	return ret;
}

static void device_vfio_destroy(struct device_set *ds, struct device_instance *di)
{
	vfio_pci_destroy(di->vfio);
	di->vfio = NULL;
}

const struct device_type device_types[] = {
	{
	    .name = "iommu",
	    .usage = "virtio",
	    .help = "a virtio-iommu in front of the virtio and passthrough devices",
	    .max = 1,
	    .parse = device_iommu_parse,
	    .create = device_iommu_create,
	    .destroy = device_iommu_destroy,
	},
	{
	    .name = "disk",
	    .usage = "path=FILE[,readonly=on][,serial=ID][,iommu=on|off]",
	    .help = "virtio-blk disk (repeatable)",
	    .max = 8,
	    .dma = true,
	    .parse = device_disk_parse,
	    .create = device_disk_create,
	    .destroy = device_disk_destroy,
	},
	{
	    .name = "net",
	    .usage = "tap=NAME[,mac=MAC][,iommu=on|off]",
	    .help = "virtio-net on a tap device (repeatable)",
	    .max = 8,
	    .dma = true,
	    .parse = device_net_parse,
	    .create = device_net_create,
	    .destroy = device_net_destroy,
	},
	{
	    .name = "console",
	    .usage = "virtio[,iommu=on|off]",
	    .help = "a virtio console (hvc0) on stdio beside the UART",
	    .max = 1,
	    .dma = true,
	    .parse = device_console_parse,
	    .create = device_console_create,
	    .destroy = device_console_destroy,
	},
	{
	    .name = "balloon",
	    .usage = "[free-page-reporting=on][,target=SIZE][,stats-period=S][,iommu=on|off]",
	    .help = "virtio-balloon; target is the guest's memory after inflation",
	    .max = 1,
	    .optional_value = true,
	    .dma = true,
	    .parse = device_balloon_parse,
	    .create = device_balloon_create,
	    .destroy = device_balloon_destroy,
	},
	{
	    .name = "rng",
	    .usage = "[src=PATH][,iommu=on|off]",
	    .help = "virtio-rng fed from PATH (default /dev/urandom)",
	    .max = 1,
	    .optional_value = true,
	    .dma = true,
	    .parse = device_rng_parse,
	    .create = device_rng_create,
	    .destroy = device_rng_destroy,
	},
	{
	    .name = "device",
	    .usage = "vfio=BDF[,bar-mmap=on|off][,p2p=on|off][,rom=on][,iommu=on|off]",
	    .help = "pass a host PCI device through (bound to vfio-pci; repeatable)",
	    .max = 8,
	    .passthrough = true,
	    .dma = true,
	    .parse = device_vfio_parse,
	    .create = device_vfio_create,
	    .destroy = device_vfio_destroy,
	},
};
const unsigned nr_device_types = ARRAY_SIZE(device_types);

/* Takes iommu=on|off out of a comma list: *iommu 1, 0 or left alone; rest gets the others. */
static int device_iommu_split(const char *opt, const char *arg, int *iommu, char *rest)
{
	const char *p = arg;
	size_t n = 0;

	rest[0] = '\0';
	while (*p) {
		size_t tok = strcspn(p, ",");

		if (!strncmp(p, "iommu=", 6) && tok >= 6) {
			if (tok == 8 && !strncmp(p + 6, "on", 2)) {
				*iommu = 1;
			} else if (tok == 9 && !strncmp(p + 6, "off", 3)) {
				*iommu = 0;
			} else {
				pr_err("--%s: '%.*s' is not iommu=on or iommu=off", opt, (int)tok,
				       p);
				return -EINVAL;
			}
		} else {
			n += (size_t)sprintf(rest + n, "%s%.*s", n ? "," : "", (int)tok, p);
		}
		p += tok;
		if (*p == ',')
			p++;
	}
	return 0;
}

int device_type_parse(const struct device_type *type, const char *arg, union device_options *o,
		      int *iommu)
{
	char *rest;
	int ret;

	*iommu = -1;
	if (!type->dma)
		return type->parse(arg, o);
	rest = malloc(strlen(arg) + 1);
	if (!rest)
		return -ENOMEM;
	ret = device_iommu_split(type->name, arg, iommu, rest);
	if (!ret)
		ret = type->parse(rest, o);
	free(rest);
	return ret;
}

const struct device_type *device_type_find(const char *name)
{
	for (unsigned i = 0; i < nr_device_types; i++)
		if (!strcmp(device_types[i].name, name))
			return &device_types[i];
	return NULL;
}

static int device_set_create_pass(struct device_set *ds, const struct vm_config *cfg,
				  bool passthrough)
{
	for (unsigned t = 0; t < nr_device_types; t++) {
		const struct device_type *type = &device_types[t];

		if (type->passthrough != passthrough)
			continue;
		for (unsigned i = 0; i < cfg->nr_devices; i++) {
			struct device_instance *di;
			union device_options o;
			int ret, iommu;

			if (cfg->devices[i].type != type)
				continue;
			if (ds->nr_devs == DEVICE_SET_MAX) {
				pr_err("too many devices (at most %d)", DEVICE_SET_MAX);
				return -ENOSPC;
			}
			/* the CLI parsed it once already; the value is still the user's */
			memset(&o, 0, sizeof(o));
			ret = device_type_parse(type, cfg->devices[i].arg, &o, &iommu);
			if (ret)
				return ret;
			if (iommu == 1 && !ds->viommu) {
				pr_err("--%s %s: iommu=on needs --iommu virtio", type->name,
				       cfg->devices[i].arg);
				return -EINVAL;
			}
			di = &ds->devs[ds->nr_devs];
			memset(di, 0, sizeof(*di));
			di->type = type;
			di->behind_iommu = type->dma && ds->viommu && iommu != 0;
			ret = type->create(ds, &o, di);
			if (ret)
				return ret;
			ds->nr_devs++;
		}
	}
	return 0;
}

int device_set_create(struct device_set *ds, struct vm *vm, struct pci_bus *pci,
		      const struct vm_config *cfg)
{
	int ret;

	memset(ds, 0, sizeof(*ds));
	ds->vm = vm;
	ds->pci = pci;
	ds->prefault_threads = cfg->prefault_threads;
	ret = device_set_create_pass(ds, cfg, false);
	if (!ret)
		ret = device_set_create_pass(ds, cfg, true);
	if (ret) {
		device_set_destroy(ds);
		return ret;
	}
	if (ds->vfio)
		vfio_report(ds->vfio);
	return 0;
}

unsigned device_set_msix_eventfds(const struct device_set *ds)
{
	unsigned n = 0;

	for (unsigned i = 0; i < ds->nr_devs; i++) {
		if (ds->devs[i].vfio)
			n += vfio_pci_msix_eventfds(ds->devs[i].vfio);
		if (ds->devs[i].vp)
			n += msix_eventfds(&ds->devs[i].vp->msix);
	}
	return n;
}

void device_set_iommu_topology(const struct device_set *ds, struct platform_iommu *out)
{
	memset(out, 0, sizeof(*out));
	for (unsigned i = 0; i < ds->nr_devs; i++) {
		const struct device_instance *di = &ds->devs[i];

		if (di->vdev && di->vdev == ds->viommu) {
			out->present = true;
			out->bdf = di->vp->pci.devfn;
		} else if (di->ep && out->nr_endpoints < PLATFORM_IOMMU_MAX_ENDPOINTS) {
			out->endpoints[out->nr_endpoints++] = (uint16_t)viommu_endpoint_id(di->ep);
		}
	}
}

void device_set_destroy(struct device_set *ds)
{
	/* no container maps anything again, whatever order the endpoints leave in */
	if (ds->viommu)
		viommu_close(virtio_iommu_model(ds->viommu));
	while (ds->nr_devs) {
		struct device_instance *di = &ds->devs[--ds->nr_devs];

		/* out of the vIOMMU (created first, so still there): a passthrough endpoint before
		 * its container goes, a virtio one after its device stopped translating */
		if (di->ep && di->vfio) {
			viommu_remove_endpoint(virtio_iommu_model(ds->viommu), di->ep);
			di->ep = NULL;
		}
		di->type->destroy(ds, di);
		if (di->ep)
			virtio_iommu_remove_virtio(ds->viommu, di->ep);
		di->ep = NULL;
	}
	vfio_destroy(ds->vfio);
	ds->vfio = NULL;
}
