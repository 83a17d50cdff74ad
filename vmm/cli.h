/* SPDX-License-Identifier: MIT */
/* `ptvm run` options, parsed into a vm_config without touching the host. */
#ifndef PTVM_CLI_H
#define PTVM_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "log.h"
#include "sandbox.h"

struct device_type;

enum serial_mode {
	SERIAL_STDIO,
	SERIAL_FILE,
	SERIAL_OFF,
};

/* how many device options (--disk, --net, ...: vmm/device_table.c) one command line holds */
#define CLI_MAX_DEVICES 64

struct cli_device {
	const struct device_type *type;
	const char *arg; /* the option's value ("" when an optional value was left out) */
};

struct vm_config {
	const char *kernel;
	const char *initrd;
	const char *cmdline;
	uint64_t mem_size;
	bool hugepages;
	int prefault_threads; /* --memory prefault-threads=N; -1: auto (dma_prefault.h) */
	unsigned nr_cpus;
	enum serial_mode serial;
	const char *serial_path;
	bool debug_exit;
	unsigned boot_protocol; /* arch_boot_protocol_parse's value; 0 is "auto" */
	enum log_level log_level;

	/* the devices, in command-line order, each value checked by its type's parser */
	struct cli_device devices[CLI_MAX_DEVICES];
	unsigned nr_devices;
	const char *report;	      /* --report FILE: JSON of what passthrough did */
	enum sandbox_seccomp seccomp; /* --seccomp on|log|off */
	const char *jail;	      /* --jail DIR: checked and entered by vmm/jail.c */
	const char *user;	      /* --user U[:G] */
};

#define CLI_DEFAULT_MEMORY (512ULL << 20)
/* below this the loader cannot place its own structures and a kernel */
#define CLI_MIN_MEMORY (2ULL << 20)

/*
 * Parses `ptvm run` arguments (argv[0] is "run"). Returns 0 with *cfg filled, 1 when help
 * was printed (exit 0), or -EINVAL after one pr_err naming the bad option.
 */
int cli_parse_run(int argc, char **argv, struct vm_config *cfg);
/* How many devices of this type cfg holds. */
unsigned cli_count_devices(const struct vm_config *cfg, const struct device_type *type);
/*
 * Parses --memory's value: "512M" or "size=1G,hugepages=on,prefault-threads=4"
 * (*prefault_threads: -1 for auto, the default).
 */
int cli_parse_memory(const char *arg, uint64_t *size, bool *hugepages, int *prefault_threads);
void cli_usage(void);
void cli_run_usage(void);

#endif
