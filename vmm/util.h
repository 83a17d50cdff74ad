/* SPDX-License-Identifier: MIT */
/* Small helpers shared by every layer. */
#ifndef PTVM_UTIL_H
#define PTVM_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))
#define ALIGN_UP(x, a) (((x) + ((a)-1)) & ~((__typeof__(x))(a)-1))
#define ALIGN_DOWN(x, a) ((x) & ~((__typeof__(x))(a)-1))
#define IS_ALIGNED(x, a) (((x) & ((__typeof__(x))(a)-1)) == 0)
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

#define SZ_4K 0x1000ULL
#define SZ_1M 0x100000ULL
#define SZ_2M 0x200000ULL
#define SZ_1G 0x40000000ULL

#define __must_check __attribute__((warn_unused_result))

/* A spin-wait's pause (x86 pause, arm64 yield): lets a sibling hardware thread run. */
static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#endif
}

/* True when [a, a+alen) and [b, b+blen) share a byte; lengths are non-zero. */
static inline int ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

/* Parses "512M", "1G", "4096", "2K" (binary units) into bytes; -EINVAL on junk or overflow. */
int parse_size(const char *s, uint64_t *out);
/*
 * Parses a decimal count from 0 to max: digits only (no sign, no suffix, not empty); -EINVAL
 * otherwise (no message: the caller names the option).
 */
int parse_uint(const char *s, unsigned max, unsigned *out);

/* Reads a whole file into a malloc'd buffer; -errno on failure. */
int read_file(const char *path, uint8_t **buf, size_t *len);
/*
 * Which of the fds first..first+n-1 are open (open[i]), from one poll() (a closed fd reports
 * POLLNVAL): no /proc, so it works inside a jail and needs no directory fd that reaches out of
 * it. n at most FD_POLL_WINDOW; -errno when poll fails.
 */
#define FD_POLL_WINDOW 256
int fd_poll_open(int first, unsigned n, bool *open);
/* How many of the fds below @limit are open (fd_poll_open); 0 when poll fails. */
unsigned fd_count_open(unsigned limit);

/* CLOCK_MONOTONIC in seconds, for the durations the logs and --report give. */
double monotonic_seconds(void);

#endif
