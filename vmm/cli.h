/* SPDX-License-Identifier: MIT */
/* `ptvm run` options, parsed into a vm_config without touching the host. */
#ifndef PTVM_CLI_H
#define PTVM_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "x86/boot.h"
#include "log.h"

enum serial_mode {
	SERIAL_STDIO,
	SERIAL_FILE,
	SERIAL_OFF,
};

#define CLI_MAX_DEVICES 8

struct vm_config {
	const char *kernel;
	const char *initrd;
	const char *cmdline;
	uint64_t mem_size;
	bool hugepages;
	unsigned nr_cpus;
	enum serial_mode serial;
	const char *serial_path;
	bool debug_exit;
	enum boot_protocol protocol;
	enum log_level log_level;

	/* virtio devices: the option values, parsed by each device's own parser */
	const char *disks[CLI_MAX_DEVICES];
	unsigned nr_disks;
	const char *nets[CLI_MAX_DEVICES];
	unsigned nr_nets;
	const char *rng;     /* NULL: no rng; "" or "src=PATH" */
	const char *balloon; /* NULL: no balloon */
	bool console_virtio;
	const char *vfio[CLI_MAX_DEVICES]; /* --device vfio=BDF[,...], parsed by devices/vfio_pci */
	unsigned nr_vfio;
	const char *report; /* --report FILE: JSON of what passthrough did */
};

#define CLI_DEFAULT_MEMORY (512ULL << 20)
/* below this the loader cannot place its own structures and a kernel */
#define CLI_MIN_MEMORY (2ULL << 20)

/*
 * Parses `ptvm run` arguments (argv[0] is "run"). Returns 0 with *cfg filled, 1 when help
 * was printed (exit 0), or -EINVAL after one pr_err naming the bad option.
 */
int cli_parse_run(int argc, char **argv, struct vm_config *cfg);
/* Parses --memory's value: "512M" or "size=1G,hugepages=on". */
int cli_parse_memory(const char *arg, uint64_t *size, bool *hugepages);
void cli_usage(void);
void cli_run_usage(void);

#endif
