// SPDX-License-Identifier: MIT
/*
 * blkbench: what a block device does for one thread, O_DIRECT (runs inside the Linux guest; a
 * static binary in the image, since busybox has no fio). Two phases, each for SECONDS:
 * 4 KiB reads at random 4 KiB-aligned offsets (queue depth 1), then 1 MiB sequential reads
 * from offset 0, wrapping at the end of the device. Prints one line:
 *   blkbench DEV randread4k_iops=N seqread1m_mibps=N
 * usage: blkbench DEV SECONDS
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>
#include <linux/fs.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	uint64_t size = 0, x = 88172645463325252ull, n = 0, bytes = 0, off = 0;
	double secs, t0, t;
	void *buf;
	int fd;

	if (argc != 3) {
		fprintf(stderr, "usage: blkbench DEV SECONDS\n");
		return 2;
	}
	secs = atof(argv[2]);
	fd = open(argv[1], O_RDONLY | O_DIRECT);
	if (fd < 0 || ioctl(fd, BLKGETSIZE64, &size) || size < (2u << 20)) {
		perror(argv[1]);
		return 1;
	}
	if (posix_memalign(&buf, 1 << 20, 1 << 20))
		return 1;
	t0 = now();
	do {
		for (int i = 0; i < 64; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			if (pread(fd, buf, 4096, (off_t)((x % (size / 4096)) * 4096)) != 4096) {
				perror("pread 4k");
				return 1;
			}
			n++;
		}
		t = now();
	} while (t - t0 < secs);
	printf("blkbench %s randread4k_iops=%.0f", argv[1], n / (t - t0));
	t0 = now();
	do {
		if (off + (1u << 20) > size)
			off = 0;
		if (pread(fd, buf, 1 << 20, (off_t)off) != 1 << 20) {
			perror("pread 1m");
			return 1;
		}
		off += 1 << 20;
		bytes += 1 << 20;
		t = now();
	} while (t - t0 < secs);
	printf(" seqread1m_mibps=%.1f\n", bytes / 1048576.0 / (t - t0));
	return 0;
}
