// SPDX-License-Identifier: MIT
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int parse_uint(const char *s, unsigned max, unsigned *out)
{
	unsigned long v;
	char *end;

	/* strtoul would skip blanks and take a sign (a wrapped "-N" among them) */
	if (!isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > max)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

int parse_size(const char *s, uint64_t *out)
{
	unsigned long long v;
	unsigned shift = 0;
	char *end;

	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	/* decimal, or hex with 0x: a leading zero is not octal ("010M" is ten MiB) */
	v = strtoull(s, &end, (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) ? 16 : 10);
	if (errno)
		return -EINVAL;
	switch (*end) {
	case '\0':
		break;
	case 'k':
	case 'K':
		shift = 10;
		break;
	case 'm':
	case 'M':
		shift = 20;
		break;
	case 'g':
	case 'G':
		shift = 30;
		break;
	case 't':
	case 'T':
		shift = 40;
		break;
	default:
		return -EINVAL;
	}
	if (*end) {
		end++;
		if (*end == 'i' && end[1] == 'B')
			end += 2;
		else if (*end == 'B')
			end++;
		if (*end)
			return -EINVAL;
	}
	if (shift && v > (UINT64_MAX >> shift))
		return -EINVAL;
	*out = (uint64_t)v << shift;
	return 0;
}

int read_file(const char *path, uint8_t **buf, size_t *len)
{
	struct stat st;
	uint8_t *p;
	size_t got = 0;
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		goto out_close;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = -EINVAL;
		goto out_close;
	}
	p = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!p) {
		ret = -ENOMEM;
		goto out_close;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, p + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ret = n < 0 ? -errno : -EIO;
			free(p);
			goto out_close;
		}
		got += (size_t)n;
	}
	*buf = p;
	*len = got;
	ret = 0;
out_close:
	close(fd);
	return ret;
}

double monotonic_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int fd_poll_open(int first, unsigned n, bool *open)
{
	struct pollfd p[FD_POLL_WINDOW];

	if (n > FD_POLL_WINDOW)
		return -EINVAL;
	for (unsigned i = 0; i < n; i++)
		p[i] = (struct pollfd){ .fd = first + (int)i };
	if (poll(p, n, 0) < 0)
		return -errno;
	for (unsigned i = 0; i < n; i++)
		open[i] = !(p[i].revents & POLLNVAL);
	return 0;
}

unsigned fd_count_open(unsigned limit)
{
	bool open[FD_POLL_WINDOW];
	unsigned n = 0;

	for (unsigned base = 0; base < limit; base += FD_POLL_WINDOW) {
		unsigned k = MIN(limit - base, (unsigned)FD_POLL_WINDOW);

		if (fd_poll_open((int)base, k, open))
			return 0;
		for (unsigned i = 0; i < k; i++)
			n += open[i];
	}
	return n;
}
