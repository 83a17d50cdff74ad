// SPDX-License-Identifier: MIT
#include "iommu/sysfs.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmm/log.h"

const char *vfio_sysfs_root = "/sys";
const char *vfio_dev_root = "/dev";
const char *vfio_proc_root = "/proc";
void (*vfio_sysfs_write_hook)(const char *path, const char *data);

#define VFIO_PCI_DRIVER "vfio-pci"

static int parse_hex_field(const char **p, unsigned digits, char sep, unsigned *out)
{
	unsigned v = 0;

	for (unsigned i = 0; i < digits; i++) {
		char c = (*p)[i];

		if (!isxdigit((unsigned char)c))
			return -EINVAL;
		v = v * 16 +
		    (unsigned)(isdigit((unsigned char)c) ? c - '0' : tolower(c) - 'a' + 10);
	}
	if ((*p)[digits] != sep)
		return -EINVAL;
	*p += digits + (sep ? 1 : 0);
	*out = v;
	return 0;
}

int vfio_bdf_parse(const char *s, char out[VFIO_BDF_LEN])
{
	unsigned domain = 0, bus, dev, fn;
	const char *p = s;
	size_t len;

	if (!s)
		return -EINVAL;
	/* "DDDD:BB:DD.F" or "BB:DD.F", exactly */
	len = strlen(s);
	if (len == 12) {
		if (parse_hex_field(&p, 4, ':', &domain))
			return -EINVAL;
	} else if (len != 7) {
		return -EINVAL;
	}
	if (parse_hex_field(&p, 2, ':', &bus) || parse_hex_field(&p, 2, '.', &dev) ||
	    parse_hex_field(&p, 1, '\0', &fn))
		return -EINVAL;
	if (dev > 0x1f || fn > 7)
		return -EINVAL;
	snprintf(out, VFIO_BDF_LEN, "%04x:%02x:%02x.%x", domain, bus, dev, fn);
	return 0;
}

/* First line of a small file, newline stripped. */
static int sysfs_read_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");

	if (!f)
		return -errno;
	if (!fgets(buf, (int)len, f))
		buf[0] = '\0';
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

int vfio_sysfs_config(const char *bdf, uint8_t *buf, size_t len)
{
	char path[PATH_MAX];
	ssize_t n;
	int fd, ret = 0;

	snprintf(path, sizeof(path), "%s/bus/pci/devices/%s/config", vfio_sysfs_root, bdf);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = pread(fd, buf, len, 0);
	if (n < 0)
		ret = -errno;
	else if ((size_t)n < len)
		ret = -EPERM;
	close(fd);
	return ret;
}

int vfio_sysfs_resource_sizes(const char *bdf, uint64_t sizes[7])
{
	char path[PATH_MAX], line[128];
	unsigned i = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/bus/pci/devices/%s/resource", vfio_sysfs_root, bdf);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	for (; i < 7 && fgets(line, sizeof(line), f); i++) {
		unsigned long long start, end, flags;

		if (sscanf(line, "%llx %llx %llx", &start, &end, &flags) != 3)
			break;
		sizes[i] = end > start || (end == start && end) ? end - start + 1 : 0;
	}
	fclose(f);
	return i == 7 ? 0 : -EINVAL;
}

/* One write(2) of s: sysfs attributes act on each write as a whole. */
static int sysfs_write(const char *path, const char *s)
{
	size_t len = strlen(s);
	ssize_t n;
	int fd, ret = 0;

	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		pr_err("vfio: open %s for writing: %s", path, strerror(-ret));
		return ret;
	}
	n = write(fd, s, len);
	if (n < 0)
		ret = -errno;
	else if ((size_t)n != len)
		ret = -EIO;
	if (ret)
		pr_err("vfio: writing '%s' to %s: %s", s[0] == '\n' ? "\\n" : s, path,
		       strerror(-ret));
	close(fd);
	if (!ret && vfio_sysfs_write_hook)
		vfio_sysfs_write_hook(path, s);
	return ret;
}

/* The last component of the symlink at path ("" when absent). */
static int sysfs_link_name(const char *path, char *buf, size_t len)
{
	char target[PATH_MAX];
	ssize_t n = readlink(path, target, sizeof(target) - 1);
	const char *slash;

	if (n < 0) {
		buf[0] = '\0';
		return -errno;
	}
	target[n] = '\0';
	slash = strrchr(target, '/');
	snprintf(buf, len, "%s", slash ? slash + 1 : target);
	return 0;
}

static void dev_path(char *buf, size_t len, const char *bdf, const char *attr)
{
	snprintf(buf, len, "%s/bus/pci/devices/%s%s%s", vfio_sysfs_root, bdf, attr ? "/" : "",
		 attr ? attr : "");
}

int vfio_sysfs_driver(const char *bdf, char *buf, size_t len)
{
	char path[PATH_MAX];
	struct stat st;

	dev_path(path, sizeof(path), bdf, NULL);
	if (stat(path, &st))
		return -ENOENT;
	dev_path(path, sizeof(path), bdf, "driver");
	sysfs_link_name(path, buf, len);
	return 0;
}

int vfio_sysfs_iommu_group(const char *bdf, int *group)
{
	char path[PATH_MAX], name[32], *end;
	long id;

	dev_path(path, sizeof(path), bdf, "iommu_group");
	if (sysfs_link_name(path, name, sizeof(name))) {
		pr_err("vfio: %s has no IOMMU group (%s missing): is the IOMMU on "
		       "(x86: intel_iommu=on or amd_iommu=on on the kernel command line; arm64: an "
		       "SMMU that the firmware tables name for the device)?",
		       bdf, path);
		return -ENOENT;
	}
	id = strtol(name, &end, 10);
	if (*end || end == name || id < 0 || id > INT_MAX) {
		pr_err("vfio: %s: IOMMU group link %s names '%s', not a number", bdf, path, name);
		return -EINVAL;
	}
	*group = (int)id;
	return 0;
}

int vfio_sysfs_check_device(const char *bdf)
{
	char drv[64];

	if (vfio_sysfs_driver(bdf, drv, sizeof(drv))) {
		pr_err("vfio: no PCI device %s (not in %s/bus/pci/devices)", bdf, vfio_sysfs_root);
		return -ENOENT;
	}
	if (strcmp(drv, VFIO_PCI_DRIVER)) {
		if (drv[0])
			pr_err(
			    "vfio: %s is bound to %s, not vfio-pci: run `ptvm vfio bind %s` first",
			    bdf, drv, bdf);
		else
			pr_err(
			    "vfio: %s has no driver, not vfio-pci: run `ptvm vfio bind %s` first",
			    bdf, bdf);
		return -EBUSY;
	}
	return 0;
}

static int name_cmp(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

/* Numeric order for group directories: 2 before 10. */
static int number_cmp(const struct dirent **a, const struct dirent **b)
{
	long x = strtol((*a)->d_name, NULL, 10), y = strtol((*b)->d_name, NULL, 10);

	return x < y ? -1 : x > y;
}

static int not_dot(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

/* The devices of a group, sorted; free with free_names. -errno if the group has no dir. */
static int group_devices(int group, struct dirent ***names)
{
	char path[PATH_MAX];
	int n;

	snprintf(path, sizeof(path), "%s/kernel/iommu_groups/%d/devices", vfio_sysfs_root, group);
	n = scandir(path, names, not_dot, name_cmp);
	return n < 0 ? -errno : n;
}

static void free_names(struct dirent **names, int n)
{
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

static bool driver_is_assignable(const char *drv)
{
	return !drv[0] || !strcmp(drv, VFIO_PCI_DRIVER);
}

/* Appends the devices of group (other than skip) bound to host drivers to why. */
static unsigned group_host_bound(int group, const char *skip, char *why, size_t len)
{
	struct dirent **names;
	unsigned bad = 0;
	size_t off = 0;
	int n;

	if (len)
		why[0] = '\0';
	n = group_devices(group, &names);
	if (n < 0) {
		snprintf(why, len, "IOMMU group %d is not in %s/kernel/iommu_groups", group,
			 vfio_sysfs_root);
		return 1;
	}
	for (int i = 0; i < n; i++) {
		char drv[64];

		if (skip && !strcmp(names[i]->d_name, skip))
			continue;
		if (vfio_sysfs_driver(names[i]->d_name, drv, sizeof(drv)) ||
		    driver_is_assignable(drv))
			continue;
		if (off < len)
			off += (size_t)snprintf(why + off, len - off, "%s%s (bound to %s)",
						bad ? ", " : "", names[i]->d_name, drv);
		bad++;
	}
	free_names(names, n);
	return bad;
}

bool vfio_sysfs_group_viable(int group, char *why, size_t len)
{
	return group_host_bound(group, NULL, why, len) == 0;
}

int vfio_sysfs_reserved_regions(int group, struct vfio_reserved_region *out, unsigned max,
				unsigned *nr)
{
	char path[PATH_MAX], line[128];
	unsigned n = 0;
	FILE *f;

	*nr = 0;
	snprintf(path, sizeof(path), "%s/kernel/iommu_groups/%d/reserved_regions", vfio_sysfs_root,
		 group);
	f = fopen(path, "r");
	if (!f)
		return errno == ENOENT ? 0 : -errno;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long start, end;
		char type[24] = "";

		if (sscanf(line, "%llx %llx %23s", &start, &end, type) < 2 || end < start) {
			pr_warn("vfio: %s: ignoring malformed line '%.*s'", path,
				(int)strcspn(line, "\n"), line);
			continue;
		}
		if (n == max) {
			pr_warn("vfio: %s: more than %u reserved regions, ignoring the rest", path,
				max);
			break;
		}
		out[n] = (struct vfio_reserved_region){ .start = start, .end = end };
		snprintf(out[n].type, sizeof(out[n].type), "%s", type[0] ? type : "reserved");
		n++;
	}
	fclose(f);
	*nr = n;
	return 0;
}

static void list_host_state(FILE *out)
{
	char path[PATH_MAX], cmdline[4096];
	struct dirent **names;
	int n;

	snprintf(path, sizeof(path), "%s/class/iommu", vfio_sysfs_root);
	n = scandir(path, &names, not_dot, name_cmp);
	fprintf(out, "host IOMMU units (%s):", path);
	if (n <= 0)
		fprintf(out, " none: no IOMMU is enabled");
	for (int i = 0; i < n; i++)
		fprintf(out, " %s", names[i]->d_name);
	fputc('\n', out);
	if (n > 0)
		free_names(names, n);

	snprintf(path, sizeof(path), "%s/vfio/vfio", vfio_dev_root);
	fprintf(out, "%s: %s\n", path,
		access(path, F_OK) ? "missing (modprobe vfio-pci vfio_iommu_type1)" : "present");
	snprintf(path, sizeof(path), "%s/bus/pci/drivers/" VFIO_PCI_DRIVER, vfio_sysfs_root);
	fprintf(out, "vfio-pci driver: %s\n",
		access(path, F_OK) ? "not loaded (modprobe vfio-pci)" : "loaded");

	snprintf(path, sizeof(path), "%s/cmdline", vfio_proc_root);
	fprintf(out, "kernel command line IOMMU options:");
	if (!sysfs_read_line(path, cmdline, sizeof(cmdline))) {
		bool any = false;

		for (char *tok = strtok(cmdline, " "); tok; tok = strtok(NULL, " ")) {
			if (!strncmp(tok, "intel_iommu=", 12) || !strncmp(tok, "amd_iommu=", 10) ||
			    !strncmp(tok, "iommu=", 6) || !strncmp(tok, "iommu.", 6) ||
			    !strncmp(tok, "vfio", 4)) {
				fprintf(out, " %s", tok);
				any = true;
			}
		}
		if (!any)
			fprintf(out, " none (intel_iommu=on or amd_iommu=on turn the IOMMU on)");
	} else {
		fprintf(out, " (%s unreadable)", path);
	}
	fputc('\n', out);
}

static void list_device(FILE *out, const char *bdf)
{
	char path[PATH_MAX], vendor[16] = "?", device[16] = "?", drv[64] = "";

	dev_path(path, sizeof(path), bdf, "vendor");
	sysfs_read_line(path, vendor, sizeof(vendor));
	dev_path(path, sizeof(path), bdf, "device");
	sysfs_read_line(path, device, sizeof(device));
	vfio_sysfs_driver(bdf, drv, sizeof(drv));
	fprintf(out, "  %s %s:%s %s\n", bdf, vendor + (strncmp(vendor, "0x", 2) ? 0 : 2),
		device + (strncmp(device, "0x", 2) ? 0 : 2), drv[0] ? drv : "(no driver)");
}

int vfio_sysfs_list(FILE *out)
{
	char path[PATH_MAX];
	struct dirent **groups;
	int n;

	list_host_state(out);
	snprintf(path, sizeof(path), "%s/kernel/iommu_groups", vfio_sysfs_root);
	n = scandir(path, &groups, not_dot, number_cmp);
	if (n <= 0) {
		fprintf(out,
			"no IOMMU groups in %s: the IOMMU is off or absent, no device can be "
			"assigned\n",
			path);
		if (n == 0)
			free(groups);
		return 0;
	}
	for (int i = 0; i < n; i++) {
		int id = atoi(groups[i]->d_name);
		struct dirent **devs;
		char why[512];
		int nd;

		if (vfio_sysfs_group_viable(id, why, sizeof(why)))
			fprintf(out, "group %d: can be assigned\n", id);
		else
			fprintf(out, "group %d: cannot be assigned: %s\n", id, why);
		nd = group_devices(id, &devs);
		for (int j = 0; j < nd; j++)
			list_device(out, devs[j]->d_name);
		if (nd >= 0)
			free_names(devs, nd);
	}
	free_names(groups, n);
	return 0;
}

/* Parses a command-line BDF for bind/unbind: one pr_err naming it when it is bad. */
static int cmd_device(const char *cmd, const char *arg, char bdf[VFIO_BDF_LEN], char *drv,
		      size_t len)
{
	if (vfio_bdf_parse(arg, bdf)) {
		pr_err("vfio %s: '%s' is not a PCI address (DDDD:BB:DD.F or BB:DD.F)", cmd,
		       arg ? arg : "");
		return -EINVAL;
	}
	if (vfio_sysfs_driver(bdf, drv, len)) {
		pr_err("vfio %s: no PCI device %s (not in %s/bus/pci/devices)", cmd, bdf,
		       vfio_sysfs_root);
		return -ENOENT;
	}
	return 0;
}

/*
 * The kernel's rebind dance: driver_override, unbind from the current driver (if bound),
 * drivers_probe; now gets the driver that took the device.
 */
static int sysfs_rebind(const char *bdf, const char *override, const char *drv, char *now,
			size_t len)
{
	char path[PATH_MAX];
	int ret;

	dev_path(path, sizeof(path), bdf, "driver_override");
	ret = sysfs_write(path, override);
	if (ret)
		return ret;
	if (drv[0]) {
		snprintf(path, sizeof(path), "%s/bus/pci/drivers/%s/unbind", vfio_sysfs_root, drv);
		ret = sysfs_write(path, bdf);
		if (ret)
			return ret;
	}
	snprintf(path, sizeof(path), "%s/bus/pci/drivers_probe", vfio_sysfs_root);
	ret = sysfs_write(path, bdf);
	if (ret)
		return ret;
	/* vfio-pci probes synchronously, but a host driver may probe asynchronously: give the
	 * device a second to settle on one */
	for (int i = 0; i < 100; i++) {
		vfio_sysfs_driver(bdf, now, len);
		if (override[0] != '\n' ? !strcmp(now, override)
					: strcmp(now, VFIO_PCI_DRIVER) != 0)
			break;
		usleep(10000);
	}
	return 0;
}

/* Whether the host has IOMMU units at all (/sys/class/iommu not empty). */
static bool host_has_iommu(void)
{
	char path[PATH_MAX];
	struct dirent **names;
	int n;

	snprintf(path, sizeof(path), "%s/class/iommu", vfio_sysfs_root);
	n = scandir(path, &names, not_dot, name_cmp);
	if (n > 0)
		free_names(names, n);
	else if (n == 0)
		free(names);
	return n > 0;
}

/*
 * Where the IOMMU configures a device only when a driver first probes it (arm64: an SMMU named
 * by the device tree, of_dma_configure at probe time), a device that never had a driver has no
 * group yet: vfio-pci's probe makes it. The group is then checked as before the bind, and the
 * bind undone when another device of the group is in host use.
 */
static int vfio_sysfs_bind_ungrouped(const char *bdf, int *group)
{
	char now[64] = "", why[512];
	int ret;

	ret = sysfs_rebind(bdf, VFIO_PCI_DRIVER, "", now, sizeof(now));
	if (!ret && strcmp(now, VFIO_PCI_DRIVER)) {
		pr_err("vfio bind: %s has %s%s after drivers_probe, not vfio-pci (see dmesg)", bdf,
		       now[0] ? "driver " : "no driver", now);
		ret = -EIO;
	}
	if (!ret)
		ret = vfio_sysfs_iommu_group(bdf, group);
	if (!ret && group_host_bound(*group, bdf, why, sizeof(why))) {
		pr_err("vfio bind: refusing %s: IOMMU group %d also holds %s, which the host still "
		       "uses; the whole group goes to vfio-pci or none of it (unbind those from "
		       "their drivers first)",
		       bdf, *group, why);
		ret = -EBUSY;
	}
	if (ret)
		sysfs_rebind(bdf, "\n", strcmp(now, VFIO_PCI_DRIVER) ? "" : VFIO_PCI_DRIVER, now,
			     sizeof(now));
	return ret;
}

int vfio_sysfs_bind(const char *arg)
{
	char bdf[VFIO_BDF_LEN], drv[64], now[64], path[PATH_MAX], why[512];
	int group, ret;

	ret = cmd_device("bind", arg, bdf, drv, sizeof(drv));
	if (ret)
		return ret;
	if (!strcmp(drv, VFIO_PCI_DRIVER)) {
		pr_info("vfio bind: %s is already bound to vfio-pci", bdf);
		return 0;
	}
	snprintf(path, sizeof(path), "%s/bus/pci/drivers/" VFIO_PCI_DRIVER, vfio_sysfs_root);
	if (access(path, F_OK)) {
		pr_err("vfio bind: %s: the vfio-pci driver is not loaded (%s missing; modprobe "
		       "vfio-pci)",
		       bdf, path);
		return -ENOENT;
	}
	dev_path(path, sizeof(path), bdf, "iommu_group");
	if (access(path, F_OK) && !drv[0] && host_has_iommu()) {
		ret = vfio_sysfs_bind_ungrouped(bdf, &group);
		if (ret)
			return ret;
		pr_info("vfio bind: %s moved from no driver to vfio-pci (IOMMU group %d, made by "
			"the probe)",
			bdf, group);
		return 0;
	}
	ret = vfio_sysfs_iommu_group(bdf, &group);
	if (ret)
		return ret;
	if (group_host_bound(group, bdf, why, sizeof(why))) {
		pr_err("vfio bind: refusing %s: IOMMU group %d also holds %s, which the host still "
		       "uses; the whole group goes to vfio-pci or none of it (unbind those from "
		       "their drivers first)",
		       bdf, group, why);
		return -EBUSY;
	}
	ret = sysfs_rebind(bdf, VFIO_PCI_DRIVER, drv, now, sizeof(now));
	if (!ret && strcmp(now, VFIO_PCI_DRIVER)) {
		pr_err("vfio bind: %s has %s%s after drivers_probe, not vfio-pci (see dmesg)", bdf,
		       now[0] ? "driver " : "no driver", now);
		ret = -EIO;
	}
	if (ret) {
		dev_path(path, sizeof(path), bdf, "driver_override");
		sysfs_write(path, "\n");
		return ret;
	}
	pr_info("vfio bind: %s moved from %s to vfio-pci (IOMMU group %d)", bdf,
		drv[0] ? drv : "no driver", group);
	return 0;
}

int vfio_sysfs_unbind(const char *arg)
{
	char bdf[VFIO_BDF_LEN], drv[64], now[64];
	int ret;

	ret = cmd_device("unbind", arg, bdf, drv, sizeof(drv));
	if (ret)
		return ret;
	if (drv[0] && strcmp(drv, VFIO_PCI_DRIVER)) {
		pr_err("vfio unbind: %s is bound to %s, not vfio-pci: nothing to undo", bdf, drv);
		return -EINVAL;
	}
	/* an empty override lets the probe find the host driver */
	ret = sysfs_rebind(bdf, "\n", drv, now, sizeof(now));
	if (ret)
		return ret;
	if (!strcmp(now, VFIO_PCI_DRIVER)) {
		pr_err("vfio unbind: %s is still bound to vfio-pci after drivers_probe", bdf);
		return -EIO;
	}
	if (now[0])
		pr_info("vfio unbind: %s is back on its host driver %s", bdf, now);
	else
		pr_info("vfio unbind: %s left vfio-pci; no host driver claimed it", bdf);
	return 0;
}
