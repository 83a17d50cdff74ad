/* SPDX-License-Identifier: MIT */
/*
 * What the kernel says about PCI devices and IOMMU groups in sysfs: BDF parsing, which driver
 * a device is bound to, its IOMMU group and the group's reserved IOVA regions, group
 * viability, and `ptvm vfio list|bind|unbind`.
 *
 * The roots are variables so that unit tests can build a fake tree in a temporary directory:
 *   <vfio_sysfs_root>/bus/pci/devices/<bdf>/{vendor,device,driver,driver_override,iommu_group}
 *   <vfio_sysfs_root>/bus/pci/drivers/<name>/unbind, <vfio_sysfs_root>/bus/pci/drivers_probe
 *   <vfio_sysfs_root>/kernel/iommu_groups/<n>/{devices/<bdf>,reserved_regions}
 *   <vfio_sysfs_root>/class/iommu/<unit>
 *   <vfio_dev_root>/vfio/{vfio,<n>}, <vfio_proc_root>/cmdline
 */
#ifndef PTVM_IOMMU_SYSFS_H
#define PTVM_IOMMU_SYSFS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

extern const char *vfio_sysfs_root; /* "/sys" */
extern const char *vfio_dev_root;   /* "/dev" */
extern const char *vfio_proc_root;  /* "/proc" */

/*
 * Called after each successful sysfs write with the path and the bytes written; NULL in ptvm.
 * Unit tests set it to play the kernel's part in a fake tree (a driver_override plus
 * drivers_probe binding the device, an unbind removing its driver link).
 */
extern void (*vfio_sysfs_write_hook)(const char *path, const char *data);

/* "DDDD:BB:DD.F", NUL included */
#define VFIO_BDF_LEN 13

/*
 * Parses "DDDD:BB:DD.F" or "BB:DD.F" (domain 0000), hex, either case, into the kernel's
 * lowercase form; -EINVAL (quietly: the caller names the option) on anything else.
 */
int vfio_bdf_parse(const char *s, char out[VFIO_BDF_LEN]);

/* The name of the driver bound to bdf in buf, "" when none; -ENOENT if no such device. */
int vfio_sysfs_driver(const char *bdf, char *buf, size_t len);
/* The IOMMU group of bdf; -ENOENT after a pr_err when it has none (no IOMMU). */
int vfio_sysfs_iommu_group(const char *bdf, int *group);

/*
 * What vfio_attach_device checks before opening anything: bdf exists in /sys/bus/pci/devices
 * and is bound to vfio-pci (else the error suggests `ptvm vfio bind`). One pr_err, -errno.
 */
int vfio_sysfs_check_device(const char *bdf);

/*
 * A group can be assigned when each of its devices is bound to vfio-pci or to no driver.
 * Returns true, or false with the culprits ("0000:00:1f.3 (snd_hda_intel), ...") in why.
 */
bool vfio_sysfs_group_viable(int group, char *why, size_t len);

struct vfio_reserved_region {
	uint64_t start, end; /* inclusive */
	char type[24];	     /* "msi", "direct", "reserved", ... */
};

/* Reads /sys/kernel/iommu_groups/N/reserved_regions; a missing file is no regions. */
int vfio_sysfs_reserved_regions(int group, struct vfio_reserved_region *out, unsigned max,
				unsigned *nr);

/*
 * The first len bytes of bdf's config space from sysfs (what vfio-pci will show, read before the
 * device is opened). 0, or -errno; -EPERM also when fewer bytes came (an unprivileged reader
 * gets only the first 64).
 */
int vfio_sysfs_config(const char *bdf, uint8_t *buf, size_t len);
/*
 * Sizes of bdf's BARs 0-5 and its expansion ROM (index 6) from sysfs `resource`: the sizes
 * VFIO gives their regions (0: none). 0 or -errno.
 */
int vfio_sysfs_resource_sizes(const char *bdf, uint64_t sizes[7]);

/* `ptvm vfio list`: host IOMMU state, then every group with its devices and verdict. */
int vfio_sysfs_list(FILE *out);
/*
 * `ptvm vfio bind BDF`: driver_override = vfio-pci, unbind from the current driver,
 * drivers_probe, then checks that vfio-pci has it. Refuses a device whose group holds another
 * device bound to a host driver.
 */
int vfio_sysfs_bind(const char *bdf);
/* `ptvm vfio unbind BDF`: clears driver_override, unbinds from vfio-pci, drivers_probe. */
int vfio_sysfs_unbind(const char *bdf);

#endif
