/* SPDX-License-Identifier: MIT */
/*
 * What every libFuzzer target in tests/fuzz shares (tests/fuzz/lib/fuzz_lib.c, linked into
 * each of them):
 *
 * - an input reader: the fuzzer's bytes taken a field at a time, zeros past the end;
 * - per-input hygiene: fuzz_input_begin() / fuzz_input_end() around each input abort (a
 *   finding, with a message) when the input left a file descriptor open, an I/O thread
 *   running, a KVM route/irqfd/ioeventfd registered, or logged more lines than
 *   PTVM_FUZZ_LOG_LIMIT (0, the default: counted and reported at exit, never a finding);
 * - I/O threads made deterministic: every thread a device starts during an input is tracked
 *   (pthread_create, pthread_join and epoll_wait are wrapped with ld --wrap), and
 *   fuzz_settle() waits (at most FUZZ_SETTLE_TIMEOUT_MS, else a finding: a hung thread)
 *   until each of them is blocked in epoll_wait with nothing ready, i.e. has done all the
 *   work the guest gave it. The threads are pooled: a device's thread function runs on a
 *   real thread kept from input to input (no clone and no ASan thread record per
 *   activation); a thread that returned but was never joined is a finding;
 * - a fake machine (the vm_* calls of vmm/machine.h): real vmm/bus.c port and MMIO buses
 *   (tests/unit/fake_vm_bus.h, shared with the unit tests' fakes), KVM's MSI routes, irqfds
 *   and ioeventfds kept in tables with KVM's rules checked (a device model that breaks them
 *   is a finding), and guest accesses that go through an ioeventfd when one matches, as KVM
 *   would.
 */
#ifndef PTVM_TESTS_FUZZ_LIB_H
#define PTVM_TESTS_FUZZ_LIB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "vmm/bus.h"
#include "vmm/machine.h"
#include "vmm/memmap.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * For a harness's own checks: no coverage feedback (and no instrumented comparisons) from
 * them. A check that walks every vector or ring entry after each operation would otherwise
 * cost more than the code under test, and its branches are no progress worth keeping.
 */
#define FUZZ_CHECKER __attribute__((no_sanitize("coverage"), noinline))

/* A finding: the message on stderr, then abort() (libFuzzer saves the input). */
void fuzz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* ---- the input ---- */

struct fuzz_in {
	const uint8_t *p, *end;
};

static inline struct fuzz_in fuzz_in_make(const uint8_t *data, size_t size)
{
	return (struct fuzz_in){ data, data + size };
}

static inline bool fuzz_in_done(const struct fuzz_in *in)
{
	return in->p >= in->end;
}

static inline size_t fuzz_in_left(const struct fuzz_in *in)
{
	return in->p < in->end ? (size_t)(in->end - in->p) : 0;
}

/* Copies n bytes (zeros past the end of the input). */
static inline void fuzz_in_bytes(struct fuzz_in *in, void *out, size_t n)
{
	size_t k = fuzz_in_left(in) < n ? fuzz_in_left(in) : n;

	memcpy(out, in->p, k);
	memset((uint8_t *)out + k, 0, n - k);
	in->p += k;
}

static inline uint8_t fuzz_u8(struct fuzz_in *in)
{
	return fuzz_in_done(in) ? 0 : *in->p++;
}

static inline uint16_t fuzz_u16(struct fuzz_in *in)
{
	uint16_t v;

	fuzz_in_bytes(in, &v, sizeof(v));
	return v;
}

static inline uint32_t fuzz_u32(struct fuzz_in *in)
{
	uint32_t v;

	fuzz_in_bytes(in, &v, sizeof(v));
	return v;
}

static inline uint64_t fuzz_u64(struct fuzz_in *in)
{
	uint64_t v;

	fuzz_in_bytes(in, &v, sizeof(v));
	return v;
}

/* ---- per input ---- */

/* fuzz_lib_init flags */
#define FUZZ_CHECK_FDS 1 /* snapshot the open fds around each input (4 syscalls an input) */

/* Once, from LLVMFuzzerInitialize: the log's level and counting stream, what to check. */
void fuzz_lib_init(unsigned flags);
/* Around each input: start tracking threads (and snapshot fds) / check and stop. */
void fuzz_input_begin(void);
void fuzz_input_end(void);

/* ---- device I/O threads ---- */

#define FUZZ_SETTLE_TIMEOUT_MS 10000

/* Waits until every tracked thread is blocked in epoll_wait with nothing ready. */
void fuzz_settle(void);
/* Tracked threads still running (started during this input and not yet returned). */
unsigned fuzz_threads_alive(void);

/* ---- the fake machine ---- */

#define FUZZ_MSI_GSI_BASE 100
#define FUZZ_MAX_ROUTES 64
#define FUZZ_MAX_IOEVENTFDS 64
#define FUZZ_IRQ_LINES 24

struct fuzz_route {
	bool live;
	uint64_t addr;
	uint32_t data;
	int irqfd; /* bound eventfd, -1 none */
};

struct fuzz_ioeventfd {
	bool live;
	uint64_t addr;
	unsigned len;
	bool pio;
	int fd;
};

struct vm {
	struct bus pio, mmio;
	struct memmap *mm;
	struct fuzz_route routes[FUZZ_MAX_ROUTES];
	struct fuzz_ioeventfd ioeventfds[FUZZ_MAX_IOEVENTFDS];
	unsigned ioeventfd_slots;	/* slots ever used: the rest need no look */
	int intx_irqfd[FUZZ_IRQ_LINES]; /* irqfds bound to irqchip pins, -1 none */
	bool irq_level[FUZZ_IRQ_LINES];
	unsigned route_fail_after; /* vm_msi_route_add fails once this many are live (0: never) */
	int exit_status;	   /* -1 until vm_request_exit */
};

/* Fresh buses and tables; mm is the guest memory map the machine reports (may be NULL). */
void fuzz_vm_init(struct vm *vm, struct memmap *mm);
/* Checks that nothing is left registered (a finding otherwise) and frees the buses. */
void fuzz_vm_exit(struct vm *vm);
/*
 * A guest access: a write that matches an ioeventfd (address and length, as KVM matches
 * them) signals its eventfd; everything else goes to the bus, where nothing decoding it reads
 * as all ones. Returns whether something took it.
 */
bool fuzz_vm_mmio(struct vm *vm, uint64_t addr, void *data, unsigned len, bool write);
bool fuzz_vm_pio(struct vm *vm, uint64_t port, void *data, unsigned len, bool write);

/* The PCI windows, ECAM and INTx lines of the x86 machine (vmm/x86/layout.h). */
struct pci_bus_windows;
extern const struct pci_bus_windows fuzz_pci_windows;

/*
 * KVM's side of the irqfds: every bound eventfd is read (the interrupt "injected"), as KVM
 * consumes it; returns how many interrupts were taken. A count left in an unbound eventfd is
 * what the device model sees as pending.
 */
unsigned fuzz_vm_deliver(struct vm *vm);

/* ---- guest memory ---- */

/*
 * Guest RAM backed by a memfd (so that discarding it takes the paths ptvm's RAM takes), with
 * an inaccessible guard page on each side: a device model that strays outside it faults.
 */
struct fuzz_ram {
	uint64_t gpa, size;
	uint8_t *hva;
	int fd;
};

/* Maps RAM once (abort on failure). */
void fuzz_ram_create(struct fuzz_ram *r, uint64_t gpa, uint64_t size);
/* Zeroes it (pages a balloon discarded come back as zeros anyway). */
void fuzz_ram_clear(struct fuzz_ram *r);
/* Adds it to mm as a RAM region (abort on failure). */
void fuzz_ram_add(struct fuzz_ram *r, struct memmap *mm, const char *name);

#endif
