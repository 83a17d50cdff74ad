// SPDX-License-Identifier: MIT
/*
 * ptio: the I/O the passthrough suite and benchmarks need that busybox cannot do, in the test
 * host and (carried in an overlay of the guest image) in the Linux guest under ptvm. Static.
 *
 *   ptio mem PATH OFFSET LEN fill SEED   write a pseudo-random pattern (xorshift64 from SEED)
 *   ptio mem PATH OFFSET LEN check SEED  compare with that pattern: first mismatch or ok
 *   ptio mem PATH OFFSET LEN sum         FNV-1a 64 of the bytes
 *   ptio mem PATH OFFSET LEN read32 OFF...  the 32-bit words at those offsets into the range
 *       PATH is mmap'd shared at OFFSET (page aligned): a sysfs resourceN file of a memory BAR
 *       (the only way to reach one from a shell), or a plain file; 8-byte accesses.
 *   ptio io PATH MODE BS SECONDS [SPAN_MIB]   O_DIRECT I/O for SECONDS (at least 16 requests):
 *       MODE randread (BS-aligned random offsets in the first SPAN_MIB, default the whole
 *       device), seqread, seqwrite (wrapping at SPAN_MIB); one request at a time.
 *       Prints "IO MODE bs=BS ops=N secs=S iops=I mbps=M lat_us=L".
 *   ptio listen PORT send|recv FILE      accept one TCP connection and send FILE / receive
 *   ptio connect ADDR PORT send|recv FILE   into FILE until the peer closes; the sender
 *       half-closes when done and waits for the receiver's close, so nothing is cut off.
 *       Prints "TCP send|recv bytes=N secs=S mbps=M".
 *   ptio memlock KIB CMD ARGS...         run CMD with RLIMIT_MEMLOCK at KIB KiB and without
 *       CAP_IPC_LOCK (dropped from every set, the bounding set too, so that root's exec does
 *       not bring it back): what an unprivileged user running ptvm has.
 * Exit status 0 on success, 1 with one line on stderr otherwise.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <linux/capability.h>
#include <linux/fs.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>

static int die(const char *fmt, const char *a, int err)
{
	fprintf(stderr, "ptio: ");
	fprintf(stderr, fmt, a);
	if (err)
		fprintf(stderr, ": %s", strerror(err));
	fputc('\n', stderr);
	return 1;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;

	errno = 0;
	*out = strtoull(s, &end, 0);
	return errno || end == s || *end;
}

/* ---- mem ---- */

static int cmd_mem(int argc, char **argv)
{
	uint64_t off, len, seed = 0, state, bad = 0, first_bad = 0;
	volatile uint64_t *p;
	long page = sysconf(_SC_PAGESIZE);
	const char *op;
	int fd;
	void *m;

	if (argc < 4 || parse_u64(argv[1], &off) || parse_u64(argv[2], &len))
		return die("usage: ptio mem PATH OFFSET LEN fill|check SEED|sum|read32 OFF...%s",
			   "", 0);
	op = argv[3];
	if (strcmp(op, "sum") && strcmp(op, "read32") &&
	    (argc < 5 || parse_u64(argv[4], &seed) || !seed))
		return die("mem %s: want a non-zero SEED", op, 0);
	if (off % (uint64_t)page || len % 8 || !len)
		return die("mem: OFFSET must be page aligned and LEN a non-zero multiple of 8 (%s)",
			   argv[1], 0);
	fd = open(argv[0], strcmp(op, "fill") ? O_RDONLY : O_RDWR);
	if (fd < 0)
		return die("open %s", argv[0], errno);
	m = mmap(NULL, len, strcmp(op, "fill") ? PROT_READ : PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		 (off_t)off);
	if (m == MAP_FAILED)
		return die("mmap %s", argv[0], errno);
	p = m;
	state = seed;
	if (!strcmp(op, "fill")) {
		for (uint64_t i = 0; i < len / 8; i++)
			p[i] = xorshift(&state);
		if (msync(m, len, MS_SYNC) && errno != EINVAL && errno != ENOMEM)
			return die("msync %s", argv[0], errno);
		printf("MEM fill %s offset 0x%" PRIx64 " len 0x%" PRIx64 " seed %" PRIu64 "\n",
		       argv[0], off, len, seed);
	} else if (!strcmp(op, "check")) {
		for (uint64_t i = 0; i < len / 8; i++)
			if (p[i] != xorshift(&state) && !bad++)
				first_bad = i * 8;
		if (bad) {
			printf("MEM check %s offset 0x%" PRIx64 " len 0x%" PRIx64 " seed %" PRIu64
			       ": %" PRIu64 " of %" PRIu64 " words differ, first at +0x%" PRIx64
			       "\n",
			       argv[0], off, len, seed, bad, len / 8, first_bad);
			return 1;
		}
		printf("MEM check %s offset 0x%" PRIx64 " len 0x%" PRIx64 " seed %" PRIu64 ": ok\n",
		       argv[0], off, len, seed);
	} else if (!strcmp(op, "read32")) {
		printf("MEM read32 %s offset 0x%" PRIx64 ":", argv[0], off);
		for (int i = 4; i < argc; i++) {
			uint64_t o;

			if (parse_u64(argv[i], &o) || o % 4 || o + 4 > len)
				return die("mem read32: offset %s is not 4-byte aligned inside LEN",
					   argv[i], 0);
			printf(" 0x%" PRIx64 "=0x%08" PRIx32, o, ((volatile uint32_t *)m)[o / 4]);
		}
		printf("\n");
	} else if (!strcmp(op, "sum")) {
		uint64_t h = 0xcbf29ce484222325ULL;

		for (uint64_t i = 0; i < len / 8; i++) {
			h ^= p[i];
			h *= 0x100000001b3ULL;
		}
		printf("MEM sum %s offset 0x%" PRIx64 " len 0x%" PRIx64 ": %016" PRIx64 "\n",
		       argv[0], off, len, h);
	} else {
		return die("mem: unknown operation %s (want fill, check or sum)", op, 0);
	}
	munmap(m, len);
	close(fd);
	return 0;
}

/* ---- io ---- */

static int cmd_io(int argc, char **argv)
{
	uint64_t bs, secs, span_mib = 0, span, ops = 0, seed = 0x9e3779b97f4a7c15ULL, pos = 0;
	const char *mode;
	int write_mode, rnd, fd;
	double t0, t1, deadline;
	struct stat st;
	void *buf;

	if (argc < 4 || parse_u64(argv[2], &bs) || parse_u64(argv[3], &secs) ||
	    (argc > 4 && parse_u64(argv[4], &span_mib)))
		return die("usage: ptio io PATH randread|seqread|seqwrite BS SECONDS [SPAN_MIB]%s",
			   "", 0);
	mode = argv[1];
	rnd = !strcmp(mode, "randread");
	write_mode = !strcmp(mode, "seqwrite");
	if (!rnd && !write_mode && strcmp(mode, "seqread"))
		return die("io: unknown mode %s (want randread, seqread, seqwrite)", mode, 0);
	if (!bs || bs % 512 || bs > (64 << 20))
		return die("io: BS %s must be a multiple of 512 up to 64 MiB", argv[2], 0);
	fd = open(argv[0], (write_mode ? O_WRONLY : O_RDONLY) | O_DIRECT);
	if (fd < 0)
		return die("open %s O_DIRECT", argv[0], errno);
	if (fstat(fd, &st))
		return die("fstat %s", argv[0], errno);
	span = (uint64_t)st.st_size;
	if (S_ISBLK(st.st_mode) && ioctl(fd, BLKGETSIZE64, &span))
		return die("BLKGETSIZE64 %s", argv[0], errno);
	if (span_mib && span_mib << 20 < span)
		span = span_mib << 20;
	if (span < bs)
		return die("io: %s is smaller than one request", argv[0], 0);
	if (posix_memalign(&buf, 4096, bs))
		return die("out of memory%s", "", 0);
	memset(buf, 0x5a, bs);
	t0 = now();
	deadline = t0 + (double)secs;
	do {
		uint64_t off;
		ssize_t n;

		if (rnd) {
			off = xorshift(&seed) % (span / bs) * bs;
		} else {
			if (pos + bs > span)
				pos = 0;
			off = pos;
			pos += bs;
		}
		n = write_mode ? pwrite(fd, buf, bs, (off_t)off) : pread(fd, buf, bs, (off_t)off);
		if (n != (ssize_t)bs)
			return die(n < 0 ? "io %s" : "io %s: short transfer", argv[0],
				   n < 0 ? errno : 0);
		ops++;
	} while (ops < 16 || now() < deadline);
	if (write_mode && fdatasync(fd))
		return die("fdatasync %s", argv[0], errno);
	t1 = now();
	printf("IO %s bs=%" PRIu64 " ops=%" PRIu64 " secs=%.3f iops=%.0f mbps=%.1f lat_us=%.1f\n",
	       mode, bs, ops, t1 - t0, (double)ops / (t1 - t0),
	       (double)(ops * bs) / (t1 - t0) / 1e6, (t1 - t0) * 1e6 / (double)ops);
	free(buf);
	close(fd);
	return 0;
}

/* ---- tcp ---- */

static int tcp_transfer(int s, int send_mode, const char *file)
{
	static char buf[1 << 16];
	uint64_t bytes = 0;
	double t0 = now(), t1;
	int fd = open(file, send_mode ? O_RDONLY : O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd < 0)
		return die("open %s", file, errno);
	for (;;) {
		ssize_t n = read(send_mode ? fd : s, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return die(send_mode ? "read %s" : "recv (into %s)", file, errno);
		if (!n)
			break;
		for (ssize_t done = 0; done < n;) {
			ssize_t w = write(send_mode ? s : fd, buf + done, (size_t)(n - done));

			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				return die(send_mode ? "send (of %s)" : "write %s", file, errno);
			done += w;
		}
		bytes += (uint64_t)n;
	}
	if (send_mode) {
		/* the receiver closes once it has everything: wait for that */
		shutdown(s, SHUT_WR);
		while (read(s, buf, sizeof(buf)) > 0)
			;
	} else if (fsync(fd) && errno != EINVAL) {
		return die("fsync %s", file, errno);
	}
	t1 = now();
	close(fd);
	close(s);
	printf("TCP %s bytes=%" PRIu64 " secs=%.3f mbps=%.1f\n", send_mode ? "send" : "recv", bytes,
	       t1 - t0, (double)bytes / (t1 - t0) / 1e6);
	return 0;
}

static int cmd_tcp(int listen_mode, int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	uint64_t port;
	const char *dir, *file;
	int s, one = 1;

	if (argc != (listen_mode ? 3 : 4) || parse_u64(argv[listen_mode ? 0 : 1], &port) || !port ||
	    port > 65535)
		return die("usage: ptio listen PORT send|recv FILE | connect ADDR PORT send|recv "
			   "FILE%s",
			   "", 0);
	dir = argv[listen_mode ? 1 : 2];
	file = argv[listen_mode ? 2 : 3];
	if (strcmp(dir, "send") && strcmp(dir, "recv"))
		return die("want send or recv, not %s", dir, 0);
	sa.sin_port = htons((uint16_t)port);
	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return die("socket%s", "", errno);
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (listen_mode) {
		int c;

		if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) || listen(s, 1))
			return die("bind/listen on port %s", argv[0], errno);
		printf("TCP listening on %" PRIu64 "\n", port);
		fflush(stdout);
		c = accept(s, NULL, NULL);
		if (c < 0)
			return die("accept on port %s", argv[0], errno);
		close(s);
		s = c;
	} else {
		if (inet_pton(AF_INET, argv[0], &sa.sin_addr) != 1)
			return die("%s is not an IPv4 address", argv[0], 0);
		if (connect(s, (struct sockaddr *)&sa, sizeof(sa)))
			return die("connect to %s", argv[0], errno);
	}
	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return tcp_transfer(s, !strcmp(dir, "send"), file);
}

/* ---- memlock ---- */

static int cmd_memlock(int argc, char **argv)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2];
	uint64_t kib;
	struct rlimit rl;

	if (argc < 2 || parse_u64(argv[0], &kib))
		return die("usage: ptio memlock KIB CMD ARGS...%s", "", 0);
	rl.rlim_cur = rl.rlim_max = kib << 10;
	if (setrlimit(RLIMIT_MEMLOCK, &rl))
		return die("setrlimit RLIMIT_MEMLOCK %s KiB", argv[0], errno);
	if (prctl(PR_CAPBSET_DROP, CAP_IPC_LOCK, 0, 0, 0))
		return die("PR_CAPBSET_DROP CAP_IPC_LOCK%s", "", errno);
	if (syscall(SYS_capget, &hdr, data))
		return die("capget%s", "", errno);
	for (int i = 0; i < 2; i++) {
		uint32_t bit = CAP_IPC_LOCK / 32 == (unsigned)i ? 1U << (CAP_IPC_LOCK % 32) : 0;

		data[i].effective &= ~bit;
		data[i].permitted &= ~bit;
		data[i].inheritable &= ~bit;
	}
	if (syscall(SYS_capset, &hdr, data))
		return die("capset%s", "", errno);
	execvp(argv[1], argv + 1);
	return die("exec %s", argv[1], errno);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 2 && !strcmp(argv[1], "mem"))
		return cmd_mem(argc - 2, argv + 2);
	if (argc >= 2 && !strcmp(argv[1], "io"))
		return cmd_io(argc - 2, argv + 2);
	if (argc >= 2 && !strcmp(argv[1], "listen"))
		return cmd_tcp(1, argc - 2, argv + 2);
	if (argc >= 2 && !strcmp(argv[1], "connect"))
		return cmd_tcp(0, argc - 2, argv + 2);
	if (argc >= 2 && !strcmp(argv[1], "memlock"))
		return cmd_memlock(argc - 2, argv + 2);
	fprintf(stderr,
		"usage: ptio mem|io|listen|connect|memlock ... (see tests/testhost/ptio.c)\n");
	return 1;
}
