// SPDX-License-Identifier: MIT
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch.h"
#include "device_table.h"
#include "iommu/dma_prefault.h"
#include "util.h"

void cli_usage(void)
{
	printf("usage: ptvm <command> [options]\n"
	       "\n"
	       "commands:\n"
	       "  run      boot a guest: ptvm run --kernel FILE [options] (ptvm run --help)\n"
	       "  vfio     list | bind BDF | unbind BDF: host devices for passthrough\n"
	       "  help     this text\n"
	       "  version  print the version\n");
}

void cli_run_usage(void)
{
	printf("usage: ptvm run --kernel FILE [options]\n"
	       "\n"
	       "%s"
	       "  --initrd FILE          initial ramdisk\n"
	       "  --cmdline STRING       kernel command line\n"
	       "  --memory SIZE          guest RAM, e.g. 512M (default) or size=1G,hugepages=on\n"
	       "                         prefault-threads=N|auto: with a passthrough device, N\n"
	       "                         threads fault RAM in before DMA pins it (auto: the\n"
	       "                         CPUs the vCPUs leave, at most 8; 0 or 1: none)\n"
	       "  --cpus N               vCPUs (default 1)\n"
	       "  --serial MODE          the serial console goes to: stdio (default), file=PATH,\n"
	       "                         off\n"
	       "%s",
	       arch_usage_kernel, arch_usage_boot_protocol);
	for (unsigned i = 0; i < nr_device_types; i++)
		printf("  --%s %s\n                         %s\n", device_types[i].name,
		       device_types[i].usage, device_types[i].help);
	printf("  --report FILE          write what passthrough did (containers, groups, DMA\n"
	       "                         mappings, BARs, interrupt routes) as JSON\n"
	       "  --seccomp MODE         per-thread syscall allow-lists: on (default; a forbidden\n"
	       "                         syscall ends ptvm, status 68), log (dmesg), off\n"
	       "  --jail DIR             once set up, run in new namespaces with the empty\n"
	       "                         directory DIR as a read-only root, no capabilities\n"
	       "  --user U[:G]           once set up, run as user U, group G (names or numbers)\n"
	       "%s"
	       "  --log-level LEVEL      error, warn (default), info, debug\n"
	       "  -h, --help             this text\n"
	       "\n"
	       "On stdio the terminal is raw; Ctrl-A x quits, Ctrl-A Ctrl-A sends Ctrl-A.\n"
	       "Exit status: 0 guest powered off, 1 error, 64 guest reboot, 65 triple fault,\n"
	       "66 KVM internal error, 67 unhandled exit, 68 forbidden syscall (seccomp),\n"
	       "130 signal, V with --debug-exit.\n",
	       arch_usage_debug_exit);
}

int cli_parse_memory(const char *arg, uint64_t *size, bool *hugepages, int *prefault_threads)
{
	char *copy = strdup(arg), *save = NULL, *tok;
	bool have_size = false;
	int ret = 0;

	if (!copy)
		return -ENOMEM;
	*hugepages = false;
	*prefault_threads = -1;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		const char *val = tok;

		if (!strncmp(tok, "size=", 5)) {
			val = tok + 5;
		} else if (!strcmp(tok, "hugepages=on")) {
			*hugepages = true;
			continue;
		} else if (!strcmp(tok, "hugepages=off")) {
			*hugepages = false;
			continue;
		} else if (!strncmp(tok, "prefault-threads=", 17)) {
			unsigned n;

			if (!strcmp(tok + 17, "auto")) {
				*prefault_threads = -1;
				continue;
			}
			if (parse_uint(tok + 17, DMA_PREFAULT_MAX_THREADS, &n)) {
				pr_err("--memory: prefault-threads '%s' is not auto or 0 to %u",
				       tok + 17, DMA_PREFAULT_MAX_THREADS);
				ret = -EINVAL;
				break;
			}
			*prefault_threads = (int)n;
			continue;
		} else if (strchr(tok, '=')) {
			pr_err("--memory: unknown setting '%s' (size=, hugepages=on|off, "
			       "prefault-threads=N|auto)",
			       tok);
			ret = -EINVAL;
			break;
		}
		if (parse_size(val, size)) {
			pr_err("--memory: '%s' is not a size (e.g. 512M, 2G)", val);
			ret = -EINVAL;
			break;
		}
		have_size = true;
	}
	if (!ret && !have_size) {
		pr_err("--memory: '%s' gives no size", arg);
		ret = -EINVAL;
	}
	free(copy);
	return ret;
}

static int cli_parse_cpus(const char *arg, unsigned *out)
{
	unsigned v;

	if (parse_uint(arg, 4096, &v)) {
		pr_err("--cpus: '%s' is not a vCPU count", arg);
		return -EINVAL;
	}
	if (v == 0) {
		pr_err("--cpus: a VM needs at least one vCPU");
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static int cli_parse_serial(const char *arg, struct vm_config *cfg)
{
	if (!strcmp(arg, "stdio")) {
		cfg->serial = SERIAL_STDIO;
	} else if (!strcmp(arg, "off") || !strcmp(arg, "none")) {
		cfg->serial = SERIAL_OFF;
	} else if (!strncmp(arg, "file=", 5) && arg[5]) {
		cfg->serial = SERIAL_FILE;
		cfg->serial_path = arg + 5;
	} else {
		pr_err("--serial: '%s' is not stdio, file=PATH or off", arg);
		return -EINVAL;
	}
	return 0;
}

enum {
	OPT_KERNEL = 0x100,
	OPT_INITRD,
	OPT_CMDLINE,
	OPT_MEMORY,
	OPT_CPUS,
	OPT_SERIAL,
	OPT_DEBUG_EXIT,
	OPT_LOG_LEVEL,
	OPT_BOOT_PROTOCOL,
	OPT_REPORT,
	OPT_SECCOMP,
	OPT_JAIL,
	OPT_USER,
	OPT_DEVICE_BASE, /* + the device type's index in device_types[] */
};

/* --rng and --balloon take an optional value, also as the next word ("--rng src=X") */
static const char *cli_optional_value(int argc, char **argv)
{
	if (optarg)
		return optarg;
	if (optind < argc && strncmp(argv[optind], "--", 2))
		return argv[optind++];
	return "";
}

unsigned cli_count_devices(const struct vm_config *cfg, const struct device_type *type)
{
	unsigned n = 0;

	for (unsigned i = 0; i < cfg->nr_devices; i++)
		n += cfg->devices[i].type == type;
	return n;
}

/* Checks the value with the device's own parser (no host access) and records it. */
static int cli_add_device(struct vm_config *cfg, const struct device_type *type, const char *val)
{
	union device_options o;
	int ret, iommu;

	if (cli_count_devices(cfg, type) == type->max) {
		if (type->max == 1)
			pr_err("--%s: given twice (a VM has one)", type->name);
		else
			pr_err("--%s: at most %u of these", type->name, type->max);
		return -EINVAL;
	}
	if (cfg->nr_devices == CLI_MAX_DEVICES) {
		pr_err("--%s: at most %d devices in all", type->name, CLI_MAX_DEVICES);
		return -EINVAL;
	}
	memset(&o, 0, sizeof(o));
	ret = device_type_parse(type, val, &o, &iommu);
	if (ret)
		return ret;
	cfg->devices[cfg->nr_devices++] = (struct cli_device){ .type = type, .arg = val };
	return 0;
}

int cli_parse_run(int argc, char **argv, struct vm_config *cfg)
{
	static const struct option base_opts[] = {
		{ "kernel", required_argument, NULL, OPT_KERNEL },
		{ "initrd", required_argument, NULL, OPT_INITRD },
		{ "cmdline", required_argument, NULL, OPT_CMDLINE },
		{ "memory", required_argument, NULL, OPT_MEMORY },
		{ "cpus", required_argument, NULL, OPT_CPUS },
		{ "serial", required_argument, NULL, OPT_SERIAL },
		{ "debug-exit", no_argument, NULL, OPT_DEBUG_EXIT },
		{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
		{ "boot-protocol", required_argument, NULL, OPT_BOOT_PROTOCOL },
		{ "report", required_argument, NULL, OPT_REPORT },
		{ "seccomp", required_argument, NULL, OPT_SECCOMP },
		{ "jail", required_argument, NULL, OPT_JAIL },
		{ "user", required_argument, NULL, OPT_USER },
		{ "help", no_argument, NULL, 'h' },
	};
	/* the base options, then one per device type (the table is the list), then the end */
	struct option opts[ARRAY_SIZE(base_opts) + 16 + 1];
	unsigned nr_opts = 0;
	int c, ret = 0;

	_Static_assert(ARRAY_SIZE(opts) > ARRAY_SIZE(base_opts), "room for device options");
	if (nr_device_types > 16)
		return -E2BIG; /* a programming error: grow opts */
	for (unsigned i = 0; i < ARRAY_SIZE(base_opts); i++)
		opts[nr_opts++] = base_opts[i];
	for (unsigned i = 0; i < nr_device_types; i++)
		opts[nr_opts++] =
		    (struct option){ device_types[i].name,
				     device_types[i].optional_value ? optional_argument
								    : required_argument,
				     NULL, OPT_DEVICE_BASE + (int)i };
	opts[nr_opts] = (struct option){ NULL, 0, NULL, 0 };

	*cfg = (struct vm_config){
		.mem_size = CLI_DEFAULT_MEMORY,
		.prefault_threads = -1,
		.nr_cpus = 1,
		.serial = SERIAL_STDIO,
		.boot_protocol = 0,
		.log_level = log_level,
		.seccomp = SANDBOX_SECCOMP_DEFAULT,
	};
	optind = 0; /* full reset: cli_parse_run may be called more than once (tests) */
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_KERNEL:
			cfg->kernel = optarg;
			break;
		case OPT_INITRD:
			cfg->initrd = optarg;
			break;
		case OPT_CMDLINE:
			cfg->cmdline = optarg;
			break;
		case OPT_MEMORY:
			ret = cli_parse_memory(optarg, &cfg->mem_size, &cfg->hugepages,
					       &cfg->prefault_threads);
			if (!ret && cfg->mem_size == 0) {
				pr_err("--memory: 0 bytes of guest RAM");
				ret = -EINVAL;
			} else if (!ret && cfg->mem_size < CLI_MIN_MEMORY) {
				pr_err("--memory: %s is too small, ptvm needs at least %llu MiB",
				       optarg, CLI_MIN_MEMORY >> 20);
				ret = -EINVAL;
			} else if (!ret && !IS_ALIGNED(cfg->mem_size, SZ_4K)) {
				pr_err("--memory: %s is not a multiple of 4 KiB", optarg);
				ret = -EINVAL;
			} else if (!ret && cfg->mem_size > (1ULL << 46)) {
				pr_err("--memory: %s is more than ptvm can address", optarg);
				ret = -EINVAL;
			}
			break;
		case OPT_CPUS:
			ret = cli_parse_cpus(optarg, &cfg->nr_cpus);
			break;
		case OPT_SERIAL:
			ret = cli_parse_serial(optarg, cfg);
			break;
		case OPT_DEBUG_EXIT:
			cfg->debug_exit = true;
			break;
		case OPT_LOG_LEVEL:
			if (log_level_parse(optarg, &cfg->log_level)) {
				pr_err("--log-level: '%s' is not error, warn, info or debug",
				       optarg);
				ret = -EINVAL;
			}
			break;
		case OPT_BOOT_PROTOCOL:
			ret = arch_boot_protocol_parse(optarg, &cfg->boot_protocol);
			break;
		case OPT_REPORT:
			cfg->report = optarg;
			break;
		case OPT_JAIL:
			cfg->jail = optarg;
			break;
		case OPT_USER:
			cfg->user = optarg;
			break;
		case OPT_SECCOMP:
			if (sandbox_seccomp_parse(optarg, &cfg->seccomp)) {
				pr_err("--seccomp: '%s' is not on, log or off", optarg);
				ret = -EINVAL;
			}
			break;
		case 'h':
			cli_run_usage();
			return 1;
		default:
			if (c >= OPT_DEVICE_BASE && c < OPT_DEVICE_BASE + (int)nr_device_types) {
				const struct device_type *type = &device_types[c - OPT_DEVICE_BASE];

				ret = cli_add_device(
				    cfg, type,
				    type->optional_value ? cli_optional_value(argc, argv) : optarg);
				break;
			}
			pr_err("unknown option '%s' (ptvm run --help lists them)",
			       argv[optind - 1]);
			return -EINVAL;
		case ':':
			pr_err("%s: needs a value", argv[optind - 1]);
			return -EINVAL;
		}
		if (ret)
			return ret;
	}
	if (optind < argc) {
		pr_err("unexpected argument '%s' (ptvm run --help lists the options)",
		       argv[optind]);
		return -EINVAL;
	}
	if (!cfg->kernel) {
		pr_err("--kernel: no kernel given (ptvm run --kernel FILE)");
		return -EINVAL;
	}
	return 0;
}
