/* SPDX-License-Identifier: MIT */
/*
 * The common part of the hostile-guest suite (guest/hostile_*.c): each program attacks ptvm
 * the way a buggy or malicious driver would, one class of abuse per program, then proves that
 * ptvm is still running (the program goes on and reports), that every attacked device works
 * again after a reset (or reported NEEDS_RESET first, which the reset clears), and leaves
 * counting ptvm's stderr to the runner's host side (tests/guest/hostile_host.sh): at most
 * HOSTILE_LOG_LINES lines per attack, each attack announced by an "ATTACK <name>" line.
 *
 * The attacks that are memory and MMIO run at CPL3 (user_call); port I/O at CPL0, briefly
 * (this machine's nested KVM runs ring-0 code about 1000x slower, see kit.h).
 */
#ifndef GUEST_KIT_HOSTILE_H
#define GUEST_KIT_HOSTILE_H

#include "kit.h"

#define HOSTILE_LOG_LINES 100 /* what the host side allows per attack */
#define HOSTILE_MAX_DEVS 8
#define HOSTILE_TIMEOUT_US 2000000ull

/* One virtio device of the machine and what it takes to prove it works. */
struct hdev {
	const char *name; /* "virtio-blk", ... */
	uint16_t id;	  /* VIRTIO_ID_* */
	struct virtio_dev vd;
	unsigned int nq; /* queues the driver sets up (the device may have more) */
	uint8_t *page;	 /* request buffers */
	uint8_t *victim; /* balloon: the page it inflates and deflates */
	unsigned int checks;
};

/* Prints "ATTACK <name>": the host side counts ptvm's stderr per attack. */
__attribute__((format(printf, 1, 2))) void attack_begin(const char *fmt, ...);

/*
 * Finds the virtio-pci devices on bus 0 (blk, net, console, rng, balloon; at most @max) and
 * maps their structures. Returns how many. CPL3 or CPL0.
 */
unsigned int hdev_find_all(struct hdev *devs, unsigned int max);
/* hdev_find_all, failing the test unless each of the five kinds is there. */
unsigned int hdev_find_every_kind(struct hdev *devs);
/* The device of type @id among @devs (NULL when the machine has none). */
struct hdev *hdev_by_id(struct hdev *devs, unsigned int n, uint16_t id);
/*
 * Reset, VERSION_1 and INDIRECT_DESC negotiated, d->nq queues set up (polled, no vector),
 * DRIVER_OK. false when the device refused (the reason printed).
 */
bool hdev_up(struct hdev *d);
/* One request of the device's kind, completed (polled) within 2 s: true when it was. */
bool hdev_request(struct hdev *d);
/*
 * After an attack: says whether the device reported NEEDS_RESET, then resets it, brings it up
 * and sends a request. Fails the test naming @attack and the device when any step fails.
 */
void hdev_check(struct hdev *d, const char *attack);
/* user_call(hdev_check_user, (uint64_t)d): hdev_check at CPL3 after the current attack. */
uint64_t hdev_check_user(uint64_t d);
/* A device-status byte in words, for messages ("ACK|DRIVER|FEATURES_OK"). */
const char *virtio_status_name(uint8_t status, char *buf, size_t size);

/* xorshift64*: attacks draw garbage from it; seeded per program for a reproducible run. */
uint64_t hostile_rand(void);
void hostile_seed(uint64_t seed);

#endif
