/* SPDX-License-Identifier: MIT */
/*
 * The sandbox's seccomp half: one allow-list per thread kind (main, vCPU, device I/O), each
 * syscall with its reason in one table (sandbox.c), installed once set-up is done.
 *
 * Threads created after that go through sandbox_thread_create(): a seccomp filter is
 * inherited by the threads a thread creates, and filters stack (the strictest answer wins),
 * so a device I/O thread started by a vCPU thread (the guest's DRIVER_OK) would be held to
 * the vCPU list as well as its own. A small spawner thread, whose list is the union of the
 * kinds it starts, creates every such thread instead; the new thread loads its own kind's
 * filter before it runs anything else.
 *
 * Named sandbox, not seccomp, so as not to collide with libseccomp's <seccomp.h> and its
 * seccomp_* functions. The privilege drop (--jail, --user) is vmm/jail.c.
 */
#ifndef PTVM_SANDBOX_H
#define PTVM_SANDBOX_H

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>

enum sandbox_thread {
	SANDBOX_THREAD_MAIN,	/* the event loop: stdin, signals, the stop request; teardown */
	SANDBOX_THREAD_VCPU,	/* KVM_RUN and every device register the guest touches */
	SANDBOX_THREAD_IO,	/* a virtio device's I/O thread: queues, disks, taps, timers */
	SANDBOX_THREAD_SPAWNER, /* starts the vCPU and I/O threads (the union of their lists) */
	SANDBOX_THREAD_NR,
};

/* A set of thread kinds: SANDBOX_KIND(MAIN) | SANDBOX_KIND(VCPU) */
#define SANDBOX_KIND(k) (1u << SANDBOX_THREAD_##k)

/*
 * An ioctl request the lists of some thread kinds let through, with why. vmm/sandbox.c has
 * the arch-neutral ones; each architecture adds its own (arch_sandbox_ioctls, vmm/arch.h).
 */
struct sandbox_ioctl {
	unsigned long request;
	const char *name;
	unsigned kinds; /* SANDBOX_KIND() bits */
	const char *why;
};

#define SANDBOX_IOCTL(req, kinds_, why_)                                                           \
	{                                                                                          \
		req, #req, kinds_, why_                                                            \
	}

/* --seccomp on|log|off */
enum sandbox_seccomp {
	SANDBOX_SECCOMP_ON,  /* a forbidden syscall ends ptvm: one line, exit status 68 */
	SANDBOX_SECCOMP_LOG, /* the kernel logs it (audit type=1326 in dmesg), ptvm goes on */
	SANDBOX_SECCOMP_OFF,
};

/*
 * The sanitizer runtimes (ASan, LSan, UBSan) need syscalls no ptvm thread does (LSan's leak
 * check at exit forks a tracer and ptraces the process), so an ASan/UBSan build defaults to
 * off and refuses `--seccomp on`; `log` still works there.
 */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANDBOX_SANITIZER_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(undefined_behavior_sanitizer)
#define SANDBOX_SANITIZER_BUILD 1
#endif
#endif
#ifdef SANDBOX_SANITIZER_BUILD
#define SANDBOX_SECCOMP_DEFAULT SANDBOX_SECCOMP_OFF
#else
#define SANDBOX_SECCOMP_DEFAULT SANDBOX_SECCOMP_ON
#endif

/* ptvm's exit status when a thread made a forbidden syscall (--seccomp on). */
#define SANDBOX_EXIT_SECCOMP 68

/* "on", "log", "off" -> *out; -EINVAL otherwise (no message: the caller names the option). */
int sandbox_seccomp_parse(const char *s, enum sandbox_seccomp *out);
const char *sandbox_seccomp_name(enum sandbox_seccomp mode);
const char *sandbox_thread_name(enum sandbox_thread kind);

/*
 * Builds every thread kind's filter, starts the spawner and puts the calling thread (ptvm's
 * main thread, once set-up is done) under the main list. Once only; 0 or -errno (logged).
 * With SANDBOX_SECCOMP_OFF it does nothing.
 */
int sandbox_seccomp_enable(enum sandbox_seccomp mode);

/* True once sandbox_seccomp_enable() put filters in place. */
bool sandbox_seccomp_active(void);

/*
 * pthread_create() for a thread of one kind. With the sandbox on, the spawner creates it and
 * fn runs under that kind's filter; otherwise it is a plain pthread_create(). Returns 0 or a
 * positive error number, as pthread_create() does.
 */
int sandbox_thread_create(enum sandbox_thread kind, pthread_t *thread, void *(*fn)(void *),
			  void *arg);

/*
 * For tests (tests/sandbox): builds the filters without starting anything and loads kind's
 * filter on the calling thread (no_new_privs set, SIGSYS handler installed when mode is on).
 */
int sandbox_seccomp_enter(enum sandbox_seccomp mode, enum sandbox_thread kind);

/* Distinct syscalls and ioctl requests kind's list allows (the README's table). */
unsigned sandbox_seccomp_count(enum sandbox_thread kind, unsigned *nr_ioctls);
/* The table, one line per entry: kinds, syscall (argument rule), why. */
void sandbox_seccomp_print(FILE *f);

#endif
