// SPDX-License-Identifier: MIT
/*
 * iommu/sysfs.c and the checks vfio_attach_device makes before it opens anything, against a
 * fake sysfs tree in a temporary directory: BDF parsing, `ptvm vfio list`, bind/unbind (the
 * writes they make, in order, with a small fake kernel that rebinds drivers the way the real
 * one does), refusals, group viability and reserved regions. No IOMMU or VFIO needed.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "iommu/sysfs.h"
#include "iommu/vfio.h"
#include "vmm/log.h"

#include "test_helpers.h"

static char root[64], sys[96], dev[96], proc[96];

/* ---- the fake tree ---- */

static void mkdir_p(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void mkdir_p(const char *fmt, ...)
{
	char path[PATH_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(path, sizeof(path), fmt, ap);
	va_end(ap);
	for (char *p = path + 1; *p; p++) {
		if (*p == '/') {
			*p = '\0';
			mkdir(path, 0755);
			*p = '/';
		}
	}
	mkdir(path, 0755);
}

static void put_file(const char *content, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void put_file(const char *content, const char *fmt, ...)
{
	char path[PATH_MAX];
	va_list ap;
	FILE *f;

	va_start(ap, fmt);
	vsnprintf(path, sizeof(path), fmt, ap);
	va_end(ap);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
}

static void fake_driver(const char *name)
{
	mkdir_p("%s/bus/pci/drivers/%s", sys, name);
	put_file("", "%s/bus/pci/drivers/%s/unbind", sys, name);
}

struct fake_dev {
	char bdf[VFIO_BDF_LEN];
	char host_driver[32]; /* the driver a probe without override finds */
	char override[32];
	int probe_group; /* >= 0: the group a driver's probe puts it in (arm64's SMMU) */
};

static struct fake_dev fdevs[8];
static unsigned nr_fdevs;

static void link_driver(const char *bdf, const char *drv)
{
	char target[PATH_MAX], path[PATH_MAX];

	snprintf(target, sizeof(target), "../../drivers/%s", drv);
	snprintf(path, sizeof(path), "%s/bus/pci/devices/%s/driver", sys, bdf);
	unlink(path);
	assert_int_equal(symlink(target, path), 0);
}

/* Puts bdf in IOMMU group `group` (both sysfs links). */
static void fake_group_link(const char *bdf, int group)
{
	char target[PATH_MAX], path[PATH_MAX];

	mkdir_p("%s/kernel/iommu_groups/%d/devices", sys, group);
	snprintf(target, sizeof(target), "../../../kernel/iommu_groups/%d", group);
	snprintf(path, sizeof(path), "%s/bus/pci/devices/%s/iommu_group", sys, bdf);
	assert_int_equal(symlink(target, path), 0);
	snprintf(target, sizeof(target), "../../../../bus/pci/devices/%s", bdf);
	snprintf(path, sizeof(path), "%s/kernel/iommu_groups/%d/devices/%s", sys, group, bdf);
	assert_int_equal(symlink(target, path), 0);
}

/* A device: driver NULL for none, host is what a plain probe binds, group -1 for none. */
static void fake_device(const char *bdf, const char *vendor, const char *device, const char *drv,
			const char *host, int group)
{
	struct fake_dev *d = &fdevs[nr_fdevs++];

	*d = (struct fake_dev){ .probe_group = -1 };
	snprintf(d->bdf, sizeof(d->bdf), "%s", bdf);
	snprintf(d->host_driver, sizeof(d->host_driver), "%s", host ? host : "");
	mkdir_p("%s/bus/pci/devices/%s", sys, bdf);
	put_file(vendor, "%s/bus/pci/devices/%s/vendor", sys, bdf);
	put_file(device, "%s/bus/pci/devices/%s/device", sys, bdf);
	put_file("(null)\n", "%s/bus/pci/devices/%s/driver_override", sys, bdf);
	if (drv) {
		fake_driver(drv);
		link_driver(bdf, drv);
	}
	if (group >= 0)
		fake_group_link(bdf, group);
}

static struct fake_dev *fake_find(const char *bdf)
{
	for (unsigned i = 0; i < nr_fdevs; i++)
		if (!strncmp(fdevs[i].bdf, bdf, VFIO_BDF_LEN - 1))
			return &fdevs[i];
	fail_msg("the fake kernel got a write for unknown device '%s'", bdf);
	return NULL;
}

/* ---- the fake kernel: every write, in order, and its effect on the tree ---- */

static char writes[16][160];
static unsigned nr_writes;
static bool probe_binds; /* drivers_probe binds the device (false: every driver refuses it) */

static void fake_kernel(const char *path, const char *data)
{
	const char *rel = path + strlen(sys);
	struct fake_dev *d;

	assert_true(nr_writes < 16);
	snprintf(writes[nr_writes++], sizeof(writes[0]), "%s=%s", rel, data);
	if (strstr(rel, "/driver_override")) {
		/* /bus/pci/devices/<bdf>/driver_override */
		d = fake_find(rel + strlen("/bus/pci/devices/"));
		snprintf(d->override, sizeof(d->override), "%s", data[0] == '\n' ? "" : data);
	} else if (strstr(rel, "/unbind")) {
		char link[PATH_MAX];

		snprintf(link, sizeof(link), "%s/bus/pci/devices/%s/driver", sys, data);
		assert_int_equal(unlink(link), 0);
	} else if (!strcmp(rel, "/bus/pci/drivers_probe")) {
		char link[PATH_MAX], drvdir[PATH_MAX];
		const char *drv;
		struct stat st;

		d = fake_find(data);
		snprintf(link, sizeof(link), "%s/bus/pci/devices/%s/driver", sys, data);
		if (!probe_binds || !lstat(link, &st))
			return; /* bound already: a probe does nothing */
		drv = d->override[0] ? d->override : d->host_driver;
		snprintf(drvdir, sizeof(drvdir), "%s/bus/pci/drivers/%s", sys, drv);
		if (drv[0] && !stat(drvdir, &st)) {
			link_driver(data, drv);
			/* the IOMMU configures the device for its first driver */
			if (d->probe_group >= 0) {
				fake_group_link(data, d->probe_group);
				d->probe_group = -1;
			}
		}
	}
}

static void expect_writes(const char *const *want, unsigned n)
{
	for (unsigned i = 0; i < n && i < nr_writes; i++)
		assert_string_equal(writes[i], want[i]);
	assert_int_equal(nr_writes, n);
}

static void driver_is(const char *bdf, const char *want)
{
	char drv[64];

	assert_int_equal(vfio_sysfs_driver(bdf, drv, sizeof(drv)), 0);
	assert_string_equal(drv, want);
}

static int setup(void **state)
{
	snprintf(root, sizeof(root), "/tmp/ptvm-sysfs-XXXXXX");
	assert_non_null(mkdtemp(root));
	snprintf(sys, sizeof(sys), "%s/sys", root);
	snprintf(dev, sizeof(dev), "%s/dev", root);
	snprintf(proc, sizeof(proc), "%s/proc", root);
	mkdir_p("%s/bus/pci/devices", sys);
	mkdir_p("%s/kernel/iommu_groups", sys);
	mkdir_p("%s/class/iommu/dmar0", sys);
	mkdir_p("%s/vfio", dev);
	mkdir_p("%s", proc);
	put_file("", "%s/bus/pci/drivers_probe", sys);
	put_file("", "%s/vfio/vfio", dev);
	put_file("BOOT_IMAGE=/vmlinuz root=/dev/vda1 intel_iommu=on iommu=pt quiet\n", "%s/cmdline",
		 proc);
	fake_driver("vfio-pci");
	vfio_sysfs_root = sys;
	vfio_dev_root = dev;
	vfio_proc_root = proc;
	vfio_sysfs_write_hook = fake_kernel;
	nr_writes = 0;
	nr_fdevs = 0;
	probe_binds = true;
	assert_int_equal(test_log_capture_start(), 0);
	log_level = LOG_INFO;
	return 0;
}

static int teardown(void **state)
{
	char cmd[PATH_MAX + 16];

	test_log_capture_stop();
	vfio_sysfs_root = "/sys";
	vfio_dev_root = "/dev";
	vfio_proc_root = "/proc";
	vfio_sysfs_write_hook = NULL;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	assert_int_equal(system(cmd), 0);
	return 0;
}

/* ---- tests ---- */

static void test_bdf_parse(void **state)
{
	static const char *const bad[] = {
		"",
		"0000:00:03",
		"00:03",
		"0000:00:03.0x",
		"00:20.0",
		"00:03.8",
		"g0:00.0",
		" 00:03.0",
		"0000-00:03.0",
		"000:00:03.0",
		"0000:000:03.0",
		"0000:00:3.0",
		"00000:00:03.0",
		"0000:00:03.",
	};
	char out[VFIO_BDF_LEN];

	assert_int_equal(vfio_bdf_parse("0000:00:03.0", out), 0);
	assert_string_equal(out, "0000:00:03.0");
	assert_int_equal(vfio_bdf_parse("00:03.0", out), 0);
	assert_string_equal(out, "0000:00:03.0");
	assert_int_equal(vfio_bdf_parse("ABCD:EF:1F.7", out), 0);
	assert_string_equal(out, "abcd:ef:1f.7");
	assert_int_equal(vfio_bdf_parse("ff:00.1", out), 0);
	assert_string_equal(out, "0000:ff:00.1");
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (vfio_bdf_parse(bad[i], out) != -EINVAL)
			fail_msg("'%s' was accepted as %s", bad[i], out);
	assert_int_equal(vfio_bdf_parse(NULL, out), -EINVAL);
}

static void three_groups(void)
{
	fake_device("0000:00:03.0", "0x1234\n", "0x11e8\n", "vfio-pci", "", 2);
	fake_device("0000:00:04.0", "0x1234\n", "0x11e8\n", "vfio-pci", "", 3);
	fake_device("0000:00:04.1", "0x8086\n", "0x1234\n", NULL, "", 3);
	fake_device("0000:00:05.0", "0x8086\n", "0x10d3\n", "e1000e", "e1000e", 10);
}

static void test_list(void **state)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	const char *g2, *g3, *g10;

	three_groups();
	assert_int_equal(vfio_sysfs_list(out), 0);
	fclose(out);
	assert_non_null(strstr(text, " dmar0\n"));
	assert_non_null(strstr(text, "/dev/vfio/vfio: present\n"));
	assert_non_null(strstr(text, "vfio-pci driver: loaded\n"));
	assert_non_null(strstr(text, "IOMMU options: intel_iommu=on iommu=pt\n"));
	g2 = strstr(text, "group 2: can be assigned\n  0000:00:03.0 1234:11e8 vfio-pci\n");
	g3 = strstr(text, "group 3: can be assigned\n  0000:00:04.0 1234:11e8 vfio-pci\n"
			  "  0000:00:04.1 8086:1234 (no driver)\n");
	g10 = strstr(text, "group 10: cannot be assigned: 0000:00:05.0 (bound to e1000e)\n"
			   "  0000:00:05.0 8086:10d3 e1000e\n");
	if (!g2 || !g3 || !g10)
		fail_msg("unexpected list:\n%s", text);
	/* numeric order, not 10 before 2 */
	assert_true(g2 < g3 && g3 < g10);
	assert_int_equal(nr_writes, 0);
	free(text);
}

static void test_list_without_iommu(void **state)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	char path[PATH_MAX + 32];

	snprintf(path, sizeof(path), "rm -rf '%s/class/iommu/dmar0' '%s/vfio/vfio'", sys, dev);
	assert_int_equal(system(path), 0);
	put_file("root=/dev/vda1\n", "%s/cmdline", proc);
	assert_int_equal(vfio_sysfs_list(out), 0);
	fclose(out);
	assert_non_null(strstr(text, "none: no IOMMU is enabled"));
	assert_non_null(strstr(text, "/vfio/vfio: missing (modprobe vfio-pci vfio_iommu_type1)"));
	assert_non_null(strstr(text, "IOMMU options: none (intel_iommu=on or amd_iommu=on"));
	assert_non_null(strstr(text, "no IOMMU groups in "));
	free(text);
}

static void test_bind_moves_device_to_vfio_pci(void **state)
{
	static const char *const want[] = {
		"/bus/pci/devices/0000:00:05.0/driver_override=vfio-pci",
		"/bus/pci/drivers/e1000e/unbind=0000:00:05.0",
		"/bus/pci/drivers_probe=0000:00:05.0",
	};

	three_groups();
	assert_int_equal(vfio_sysfs_bind("00:05.0"), 0);
	expect_writes(want, 3);
	driver_is("0000:00:05.0", "vfio-pci");
	assert_log_contains(
	    "vfio bind: 0000:00:05.0 moved from e1000e to vfio-pci (IOMMU group 10)");
	assert_true(vfio_sysfs_group_viable(10, NULL, 0));

	/* a second bind has nothing to do */
	assert_int_equal(vfio_sysfs_bind("0000:00:05.0"), 0);
	assert_int_equal(nr_writes, 3);
	assert_log_contains("0000:00:05.0 is already bound to vfio-pci");
}

static void test_bind_driverless_device(void **state)
{
	static const char *const want[] = {
		"/bus/pci/devices/0000:00:04.1/driver_override=vfio-pci",
		"/bus/pci/drivers_probe=0000:00:04.1",
	};

	three_groups();
	assert_int_equal(vfio_sysfs_bind("0000:00:04.1"), 0);
	expect_writes(want, 2);
	driver_is("0000:00:04.1", "vfio-pci");
}

/*
 * arm64: the SMMU gives a device its group when a driver first probes it, so a device that
 * never had a driver has none yet; bind lets vfio-pci's probe make it, then checks it.
 */
static void test_bind_device_grouped_at_probe(void **state)
{
	static const char *const want[] = {
		"/bus/pci/devices/0000:00:01.0/driver_override=vfio-pci",
		"/bus/pci/drivers_probe=0000:00:01.0",
	};
	int group;

	fake_device("0000:00:01.0", "0x1234\n", "0x11e8\n", NULL, NULL, -1);
	fdevs[0].probe_group = 3;
	assert_int_equal(vfio_sysfs_bind("00:01.0"), 0);
	expect_writes(want, 2);
	driver_is("0000:00:01.0", "vfio-pci");
	assert_int_equal(vfio_sysfs_iommu_group("0000:00:01.0", &group), 0);
	assert_int_equal(group, 3);
	assert_log_contains("vfio bind: 0000:00:01.0 moved from no driver to vfio-pci (IOMMU "
			    "group 3, made by the probe)");
}

/* ... and undoes the bind when the group it got holds a device the host uses */
static void test_bind_grouped_at_probe_refused(void **state)
{
	static const char *const want[] = {
		"/bus/pci/devices/0000:00:01.0/driver_override=vfio-pci",
		"/bus/pci/drivers_probe=0000:00:01.0",
		"/bus/pci/devices/0000:00:01.0/driver_override=\n",
		"/bus/pci/drivers/vfio-pci/unbind=0000:00:01.0",
		"/bus/pci/drivers_probe=0000:00:01.0",
	};
	char cmd[PATH_MAX + 32];

	fake_device("0000:00:01.0", "0x1234\n", "0x11e8\n", NULL, NULL, -1);
	fdevs[0].probe_group = 4;
	fake_device("0000:00:01.1", "0x1234\n", "0x11e9\n", "e1000e", "e1000e", 4);
	test_log_forget();
	assert_int_equal(vfio_sysfs_bind("00:01.0"), -EBUSY);
	assert_log_one_line("refusing 0000:00:01.0: IOMMU group 4 also holds 0000:00:01.1",
			    NULL);
	expect_writes(want, 5);
	driver_is("0000:00:01.0", "");
	/* without an IOMMU at all there is nothing to wait for: the group's absence is the error */
	snprintf(cmd, sizeof(cmd), "rm -rf '%s/class/iommu/dmar0'", sys);
	assert_int_equal(system(cmd), 0);
	fake_device("0000:00:02.0", "0x1234\n", "0x11e8\n", NULL, NULL, -1);
	nr_writes = 0;
	assert_int_equal(vfio_sysfs_bind("00:02.0"), -ENOENT);
	assert_log_one_line("0000:00:02.0 has no IOMMU group", "arm64");
	assert_int_equal(nr_writes, 0);
}

static void test_bind_refuses_group_in_host_use(void **state)
{
	fake_device("0000:01:00.0", "0x10de\n", "0x1b80\n", "nouveau", "nouveau", 7);
	fake_device("0000:01:00.1", "0x10de\n", "0x10f0\n", "snd_hda_intel", "snd_hda_intel", 7);
	assert_int_equal(vfio_sysfs_bind("01:00.0"), -EBUSY);
	assert_log_contains(
	    "vfio bind: refusing 0000:01:00.0: IOMMU group 7 also holds 0000:01:00.1 "
	    "(bound to snd_hda_intel), which the host still uses");
	assert_int_equal(nr_writes, 0);
	driver_is("0000:01:00.0", "nouveau");
}

static void test_bind_bad_input(void **state)
{
	char path[PATH_MAX + 32];

	three_groups();
	assert_int_equal(vfio_sysfs_bind("0000:00:03"), -EINVAL);
	assert_log_contains(
	    "vfio bind: '0000:00:03' is not a PCI address (DDDD:BB:DD.F or BB:DD.F)");
	assert_int_equal(vfio_sysfs_bind("0000:09:00.0"), -ENOENT);
	assert_log_contains("vfio bind: no PCI device 0000:09:00.0 (not in ");
	assert_int_equal(vfio_sysfs_unbind("0000:09:00.0"), -ENOENT);
	assert_log_contains("vfio unbind: no PCI device 0000:09:00.0");

	fake_device("0000:00:06.0", "0x8086\n", "0x10d3\n", "e1000e", "e1000e", -1);
	assert_int_equal(vfio_sysfs_bind("0000:00:06.0"), -ENOENT);
	assert_log_contains("vfio: 0000:00:06.0 has no IOMMU group");

	snprintf(path, sizeof(path), "rm -rf '%s/bus/pci/drivers/vfio-pci'", sys);
	assert_int_equal(system(path), 0);
	assert_int_equal(vfio_sysfs_bind("0000:00:05.0"), -ENOENT);
	assert_log_contains("vfio bind: 0000:00:05.0: the vfio-pci driver is not loaded");
	assert_int_equal(nr_writes, 0);
}

static void test_bind_probe_not_taken_clears_override(void **state)
{
	static const char *const want[] = {
		"/bus/pci/devices/0000:00:05.0/driver_override=vfio-pci",
		"/bus/pci/drivers/e1000e/unbind=0000:00:05.0",
		"/bus/pci/drivers_probe=0000:00:05.0",
		"/bus/pci/devices/0000:00:05.0/driver_override=\n",
	};

	three_groups();
	/* vfio-pci's probe refuses the device (an unsupported device, say) */
	probe_binds = false;
	assert_int_equal(vfio_sysfs_bind("0000:00:05.0"), -EIO);
	assert_log_contains(
	    "vfio bind: 0000:00:05.0 has no driver after drivers_probe, not vfio-pci");
	/* the override is cleared again so that the next probe finds the host driver */
	expect_writes(want, 4);
}

static void test_unbind_returns_device_to_host_driver(void **state)
{
	static const char *const want[] = {
		"/bus/pci/devices/0000:00:05.0/driver_override=\n",
		"/bus/pci/drivers/vfio-pci/unbind=0000:00:05.0",
		"/bus/pci/drivers_probe=0000:00:05.0",
	};

	three_groups();
	assert_int_equal(vfio_sysfs_bind("0000:00:05.0"), 0);
	nr_writes = 0;
	assert_int_equal(vfio_sysfs_unbind("0000:00:05.0"), 0);
	expect_writes(want, 3);
	driver_is("0000:00:05.0", "e1000e");
	assert_log_contains("vfio unbind: 0000:00:05.0 is back on its host driver e1000e");

	/* a device no host driver claims ends up with none */
	nr_writes = 0;
	assert_int_equal(vfio_sysfs_unbind("0000:00:03.0"), 0);
	assert_int_equal(nr_writes, 3);
	driver_is("0000:00:03.0", "");
	assert_log_contains("vfio unbind: 0000:00:03.0 left vfio-pci; no host driver claimed it");
}

static void test_unbind_refuses_host_bound_device(void **state)
{
	three_groups();
	assert_int_equal(vfio_sysfs_unbind("0000:00:05.0"), -EINVAL);
	assert_log_contains(
	    "vfio unbind: 0000:00:05.0 is bound to e1000e, not vfio-pci: nothing to undo");
	assert_int_equal(nr_writes, 0);
}

static void test_viability(void **state)
{
	char why[256];

	three_groups();
	fake_device("0000:01:00.0", "0x10de\n", "0x1b80\n", "vfio-pci", "nouveau", 7);
	fake_device("0000:01:00.1", "0x10de\n", "0x10f0\n", "snd_hda_intel", "snd_hda_intel", 7);
	fake_device("0000:01:00.2", "0x10de\n", "0x10f1\n", "xhci_hcd", "xhci_hcd", 7);
	assert_true(vfio_sysfs_group_viable(2, why, sizeof(why)));
	assert_true(vfio_sysfs_group_viable(3, why, sizeof(why)));
	assert_false(vfio_sysfs_group_viable(7, why, sizeof(why)));
	assert_string_equal(why, "0000:01:00.1 (bound to snd_hda_intel), 0000:01:00.2 (bound to "
				 "xhci_hcd)");
	assert_false(vfio_sysfs_group_viable(99, why, sizeof(why)));
	assert_non_null(strstr(why, "IOMMU group 99 is not in "));
}

static void test_attach_checks(void **state)
{
	struct vfio_device *d = NULL;
	struct memmap *mm;
	struct vfio *v;

	three_groups();
	fake_device("0000:01:00.0", "0x10de\n", "0x1b80\n", "vfio-pci", "nouveau", 7);
	fake_device("0000:01:00.1", "0x10de\n", "0x10f0\n", "snd_hda_intel", "snd_hda_intel", 7);
	fake_device("0000:02:00.0", "0x10de\n", "0x10f0\n", "vfio-pci", "", -1);
	assert_int_equal(memmap_create(&mm), 0);
	assert_int_equal(vfio_create(mm, &v), 0);

	assert_int_equal(vfio_attach_device(v, "3.0", false, &d), -EINVAL);
	assert_log_contains("vfio: '3.0' is not a PCI address (DDDD:BB:DD.F or BB:DD.F)");
	assert_int_equal(vfio_attach_device(v, "0000:00:07.0", false, &d), -ENOENT);
	assert_log_contains("vfio: no PCI device 0000:00:07.0 (not in ");
	assert_int_equal(vfio_attach_device(v, "00:05.0", false, &d), -EBUSY);
	assert_log_contains(
	    "vfio: 0000:00:05.0 is bound to e1000e, not vfio-pci: run `ptvm vfio bind "
	    "0000:00:05.0` first");
	assert_int_equal(vfio_attach_device(v, "00:04.1", false, &d), -EBUSY);
	assert_log_contains("vfio: 0000:00:04.1 has no driver, not vfio-pci: run `ptvm vfio bind");
	assert_int_equal(vfio_attach_device(v, "01:00.0", false, &d), -EBUSY);
	assert_log_contains(
	    "vfio: IOMMU group 7 is not viable: 0000:01:00.1 (bound to snd_hda_intel); "
	    "every device in it must be bound to vfio-pci or to no driver");
	assert_int_equal(vfio_attach_device(v, "02:00.0", false, &d), -ENOENT);
	assert_log_contains("vfio: 0000:02:00.0 has no IOMMU group");
	/* group 2 is viable, but the fake tree has no /dev/vfio/2 */
	assert_int_equal(vfio_attach_device(v, "00:03.0", false, &d), -ENOENT);
	assert_log_contains("/vfio/2: No such file or directory");

	assert_null(d);
	assert_false(vfio_has_devices(v));
	assert_int_equal(nr_writes, 0);
	vfio_destroy(v);
	memmap_destroy(mm);
}

static void test_reserved_regions(void **state)
{
	struct vfio_reserved_region r[4];
	unsigned n = 99;

	three_groups();
	assert_int_equal(vfio_sysfs_reserved_regions(2, r, 4, &n), 0);
	assert_int_equal(n, 0); /* no file: none */
	put_file("0x00000000fee00000 0x00000000feefffff msi\n"
		 "0x00000000000a0000 0x00000000000bffff direct-relaxable\n"
		 "garbage\n"
		 "0x0000000000001000 0x0000000000000fff direct\n",
		 "%s/kernel/iommu_groups/2/reserved_regions", sys);
	assert_int_equal(vfio_sysfs_reserved_regions(2, r, 4, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(r[0].start, 0xfee00000);
	assert_int_equal(r[0].end, 0xfeefffff);
	assert_string_equal(r[0].type, "msi");
	assert_int_equal(r[1].start, 0xa0000);
	assert_string_equal(r[1].type, "direct-relaxable");
	assert_log_contains("ignoring malformed line 'garbage'");
	assert_int_equal(vfio_sysfs_reserved_regions(2, r, 1, &n), 0);
	assert_int_equal(n, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bdf_parse),
		cmocka_unit_test_setup_teardown(test_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_without_iommu, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bind_moves_device_to_vfio_pci, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_bind_driverless_device, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bind_device_grouped_at_probe, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bind_grouped_at_probe_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bind_refuses_group_in_host_use, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_bind_bad_input, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bind_probe_not_taken_clears_override, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_unbind_returns_device_to_host_driver, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_unbind_refuses_host_bound_device, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_viability, setup, teardown),
		cmocka_unit_test_setup_teardown(test_attach_checks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reserved_regions, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
