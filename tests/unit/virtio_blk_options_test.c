// SPDX-License-Identifier: MIT
/*
 * virtio-blk set-up: the --disk option, opening and sizing the file (capacity rounding, a
 * missing file), and the features and configuration space a disk offers.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_blk.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "devices/virtio_blk.h"
#include "vmm/log.h"

#include "test_helpers.h"

#define BIT(n) (1ULL << (n))

/* ---- --disk ---- */

static void test_parse_good(void **state)
{
	struct virtio_blk_options o;

	assert_int_equal(virtio_blk_parse("path=disk.img", &o), 0);
	assert_string_equal(o.path, "disk.img");
	assert_false(o.readonly);
	assert_string_equal(o.serial, "");

	assert_int_equal(virtio_blk_parse("readonly=on,serial=ABC-123,path=/var/x y.img", &o), 0);
	assert_string_equal(o.path, "/var/x y.img");
	assert_true(o.readonly);
	assert_string_equal(o.serial, "ABC-123");

	assert_int_equal(virtio_blk_parse("path=a=b,readonly=off,serial=ABCDEFGHIJKLMNOPQRST", &o),
			 0);
	assert_string_equal(o.path, "a=b"); /* only the first '=' separates */
	assert_false(o.readonly);
	assert_string_equal(o.serial, "ABCDEFGHIJKLMNOPQRST");
	test_log_forget();
}

static void test_parse_errors(void **state)
{
	static const struct {
		const char *spec, *culprit;
	} cases[] = {
		{ "", "path=FILE" },
		{ "readonly=on", "path=FILE" },
		{ "serial=x", "path=FILE" },
		{ "path=d.img,cache=none", "cache" },
		{ "path=d.img,readonly=maybe", "readonly=maybe" },
		{ "path=d.img,readonly=", "readonly=" },
		{ "path=d.img,readonly", "readonly" },
		{ "d.img", "d.img" },
		{ "path=", "path=" },
		{ "path=a,path=b", "path= given twice" },
		{ "path=a,readonly=on,readonly=off", "readonly= given twice" },
		{ "path=a,serial=ABCDEFGHIJKLMNOPQRSTU", "serial=ABCDEFGHIJKLMNOPQRSTU" },
	};
	struct virtio_blk_options o;

	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(virtio_blk_parse(cases[i].spec, &o), -EINVAL);
		assert_log_one_line("--disk", cases[i].culprit);
	}
}

/* ---- create ---- */

static char *file_make(uint64_t size)
{
	static char path[64];
	int fd;

	snprintf(path, sizeof(path), "/tmp/ptvm-blk-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	close(fd);
	return path;
}

static void test_create_missing_file(void **state)
{
	struct virtio_blk_options o;
	struct virtio_device *vdev = NULL;

	assert_int_equal(virtio_blk_parse("path=/nonexistent/ptvm-no-such-disk.img", &o), 0);
	assert_int_equal(virtio_blk_create(&o, NULL, &vdev), -ENOENT);
	assert_null(vdev);
	assert_log_one_line(
	    "--disk path=/nonexistent/ptvm-no-such-disk.img: No such file or directory", NULL);
	/* read-only does not make a missing file appear */
	o.readonly = true;
	assert_int_equal(virtio_blk_create(&o, NULL, &vdev), -ENOENT);
	assert_log_one_line("--disk path=/nonexistent/ptvm-no-such-disk.img", NULL);
}

static void test_create_directory_refused(void **state)
{
	struct virtio_blk_options o = { .readonly = true };
	struct virtio_device *vdev = NULL;

	snprintf(o.path, sizeof(o.path), "/tmp");
	assert_int_equal(virtio_blk_create(&o, NULL, &vdev), -EINVAL);
	assert_null(vdev);
	assert_log_one_line("--disk path=/tmp", "not a regular file");
}

/*
 * Runs virtio_blk_create in a child that is not root (root reads and writes anything), and
 * returns its result: 0 when create failed with -EACCES and no device.
 */
static int create_unprivileged(const struct virtio_blk_options *o)
{
	pid_t pid;
	int status;

	fflush(test_log);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct virtio_device *vdev = NULL;
		int ret;

		if (getuid() == 0 && (setgid(65534) || setuid(65534)))
			_exit(100);
		ret = virtio_blk_create(o, NULL, &vdev);
		_exit(ret == -EACCES && !vdev ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static void test_create_permission_denied(void **state)
{
	char *path = file_make(8 * 512);
	struct virtio_blk_options o = { 0 };

	snprintf(o.path, sizeof(o.path), "%s", path);
	/* readable, not writable: refused for a read-write disk, with a hint */
	assert_int_equal(chmod(path, 0444), 0);
	assert_int_equal(create_unprivileged(&o), 0);
	assert_log_one_line(path, "Permission denied (readonly=on opens it read-only)");
	/* unreadable: refused even read-only, and without the hint */
	assert_int_equal(chmod(path, 0), 0);
	o.readonly = true;
	assert_int_equal(create_unprivileged(&o), 0);
	{
		char buf[512];
		const char *log = test_log_take(buf, sizeof(buf));

		assert_non_null(strstr(log, path));
		assert_non_null(strstr(log, ": Permission denied\n"));
	}
	unlink(path);
}

static void test_capacity_rounds_down(void **state)
{
	char *path = file_make(10 * 512 + 100);
	struct virtio_blk_options o = { 0 };
	struct virtio_device *vdev;
	struct virtio_blk_config c;
	char buf[512];

	snprintf(o.path, sizeof(o.path), "%s", path);
	assert_int_equal(virtio_blk_create(&o, NULL, &vdev), 0);
	assert_log_one_line(path, "not a multiple of 512");
	assert_int_equal(virtio_blk_get_disk(vdev)->capacity, 10);
	vdev->ops->read_config(vdev, 0, &c, vdev->config_size);
	assert_int_equal(le64toh(c.capacity), 10);
	virtio_blk_destroy(vdev);

	/* a whole number of sectors says nothing */
	assert_int_equal(truncate(path, 10 * 512), 0);
	assert_int_equal(virtio_blk_create(&o, NULL, &vdev), 0);
	assert_string_equal(test_log_take(buf, sizeof(buf)), "");
	assert_int_equal(virtio_blk_get_disk(vdev)->capacity, 10);
	virtio_blk_destroy(vdev);

	/* less than a sector: an empty disk */
	assert_int_equal(truncate(path, 511), 0);
	assert_int_equal(virtio_blk_create(&o, NULL, &vdev), 0);
	assert_log_one_line(path, "not a multiple of 512");
	assert_int_equal(virtio_blk_get_disk(vdev)->capacity, 0);
	virtio_blk_destroy(vdev);
	unlink(path);
}

static void test_features_and_config(void **state)
{
	char *path = file_make(1 << 20);
	struct virtio_blk_options o = { 0 };
	struct virtio_device *vdev, *vdev2;
	struct virtio_blk_config c;
	uint64_t f;
	uint32_t hi;

	snprintf(o.path, sizeof(o.path), "%s", path);
	assert_int_equal(virtio_blk_create(&o, NULL, &vdev), 0);
	assert_int_equal(vdev->device_id, VIRTIO_ID_BLOCK);
	assert_int_equal(vdev->nr_queues, 1);
	assert_int_equal(vdev->queue_max_size, VIRTIO_BLK_QUEUE_SIZE);
	/* up to write_zeroes_may_unmap and its padding; no secure erase */
	assert_int_equal(vdev->config_size, 60);
	f = vdev->ops->get_features(vdev);
	assert_true(f & BIT(VIRTIO_BLK_F_FLUSH));
	assert_true(f & BIT(VIRTIO_BLK_F_SEG_MAX));
	assert_true(f & BIT(VIRTIO_BLK_F_BLK_SIZE));
	assert_false(f & BIT(VIRTIO_BLK_F_RO));
	assert_false(f & BIT(VIRTIO_BLK_F_SIZE_MAX));
	assert_false(f & BIT(VIRTIO_BLK_F_MQ));
	assert_false(f & BIT(VIRTIO_BLK_F_CONFIG_WCE));

	memset(&c, 0xaa, sizeof(c));
	vdev->ops->read_config(vdev, 0, &c, vdev->config_size);
	assert_int_equal(le64toh(c.capacity), 2048);
	assert_int_equal(le32toh(c.seg_max), VIRTIO_BLK_SEG_MAX);
	assert_int_equal(le32toh(c.blk_size), 512);
	/* a 4-byte read of the capacity's high half, as a driver may do */
	vdev->ops->read_config(vdev, 4, &hi, 4);
	assert_int_equal(hi, 0);
	/* config writes change nothing */
	vdev->ops->write_config(vdev, 0, "\xff\xff\xff\xff", 4);
	vdev->ops->read_config(vdev, 0, &c, 8);
	assert_int_equal(le64toh(c.capacity), 2048);

	/* each disk has its own name */
	assert_int_equal(virtio_blk_create(&o, NULL, &vdev2), 0);
	assert_string_not_equal(vdev->name, vdev2->name);
	assert_non_null(strstr(vdev->name, "virtio-blk"));
	virtio_blk_destroy(vdev2);
	virtio_blk_destroy(vdev);
	virtio_blk_destroy(NULL);
	unlink(path);
}

static void test_readonly_opens_readonly(void **state)
{
	char *path = file_make(8 * 512);
	struct virtio_blk_options o = { .readonly = true };
	struct virtio_device *vdev;

	assert_int_equal(chmod(path, 0444), 0);
	snprintf(o.path, sizeof(o.path), "%s", path);
	assert_int_equal(virtio_blk_create(&o, NULL, &vdev), 0);
	assert_int_equal(fcntl(virtio_blk_get_disk(vdev)->fd, F_GETFL) & O_ACCMODE, O_RDONLY);
	assert_true(vdev->ops->get_features(vdev) & BIT(VIRTIO_BLK_F_RO));
	virtio_blk_destroy(vdev);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_good),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_create_missing_file),
		cmocka_unit_test(test_create_directory_refused),
		cmocka_unit_test(test_create_permission_denied),
		cmocka_unit_test(test_capacity_rounds_down),
		cmocka_unit_test(test_features_and_config),
		cmocka_unit_test(test_readonly_opens_readonly),
	};

	return cmocka_run_group_tests(tests, test_log_setup, test_log_teardown);
}
