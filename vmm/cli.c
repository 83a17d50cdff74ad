// SPDX-License-Identifier: MIT
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	       "  --kernel FILE          vmlinux ELF, PVH ELF or bzImage (required)\n"
	       "  --initrd FILE          initial ramdisk\n"
	       "  --cmdline STRING       kernel command line\n"
	       "  --memory SIZE          guest RAM, e.g. 512M (default) or size=1G,hugepages=on\n"
	       "  --cpus N               vCPUs (default 1)\n"
	       "  --serial MODE          COM1 goes to: stdio (default), file=PATH, off\n"
	       "  --boot-protocol P      auto (default: PVH if the ELF has the PVH note),\n"
	       "                         pvh, linux64 (64-bit entry with boot_params)\n"
	       "  --disk path=FILE[,readonly=on][,serial=ID]   virtio-blk disk (repeatable)\n"
	       "  --net tap=NAME[,mac=MAC]  virtio-net on a tap device (repeatable)\n"
	       "  --console virtio       a virtio console (hvc0) on stdio beside the UART\n"
	       "  --rng [src=PATH]       virtio-rng fed from PATH (default /dev/urandom)\n"
	       "  --balloon [free-page-reporting=on][,target=SIZE]   virtio-balloon\n"
	       "  --device vfio=BDF[,bar-mmap=on|off][,p2p=on|off][,rom=on]   pass a host PCI\n"
	       "                         device through (bound to vfio-pci; repeatable)\n"
	       "  --report FILE          write what passthrough did (containers, groups, DMA\n"
	       "                         mappings, BARs, interrupt routes) as JSON\n"
	       "  --debug-exit           a guest write of V to port 0xf4 ends ptvm with status V\n"
	       "  --log-level LEVEL      error, warn (default), info, debug\n"
	       "  -h, --help             this text\n"
	       "\n"
	       "On stdio the terminal is raw; Ctrl-A x quits, Ctrl-A Ctrl-A sends Ctrl-A.\n"
	       "Exit status: 0 guest powered off, 1 error, 64 guest reboot, 65 triple fault,\n"
	       "66 KVM internal error, 67 unhandled exit, 130 signal, V with --debug-exit.\n");
}

int cli_parse_memory(const char *arg, uint64_t *size, bool *hugepages)
{
	char *copy = strdup(arg), *save = NULL, *tok;
	bool have_size = false;
	int ret = 0;

	if (!copy)
		return -ENOMEM;
	*hugepages = false;
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
		} else if (strchr(tok, '=')) {
			pr_err("--memory: unknown setting '%s' (size=, hugepages=on|off)", tok);
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
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno || *end || end == arg || arg[0] == '-' || v > 4096) {
		pr_err("--cpus: '%s' is not a vCPU count", arg);
		return -EINVAL;
	}
	if (v == 0) {
		pr_err("--cpus: a VM needs at least one vCPU");
		return -EINVAL;
	}
	*out = (unsigned)v;
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

static int cli_parse_protocol(const char *arg, enum boot_protocol *out)
{
	if (!strcmp(arg, "auto"))
		*out = BOOT_PROTOCOL_AUTO;
	else if (!strcmp(arg, "pvh"))
		*out = BOOT_PROTOCOL_PVH;
	else if (!strcmp(arg, "linux64"))
		*out = BOOT_PROTOCOL_LINUX64;
	else {
		pr_err("--boot-protocol: '%s' is not auto, pvh or linux64", arg);
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
	OPT_DISK,
	OPT_NET,
	OPT_CONSOLE,
	OPT_RNG,
	OPT_BALLOON,
	OPT_DEVICE,
	OPT_REPORT,
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

static int cli_add_device(const char *opt, const char **list, unsigned *nr, const char *val)
{
	if (*nr == CLI_MAX_DEVICES) {
		pr_err("%s: at most %d of these", opt, CLI_MAX_DEVICES);
		return -EINVAL;
	}
	list[(*nr)++] = val;
	return 0;
}

int cli_parse_run(int argc, char **argv, struct vm_config *cfg)
{
	static const struct option opts[] = {
		{ "kernel", required_argument, NULL, OPT_KERNEL },
		{ "initrd", required_argument, NULL, OPT_INITRD },
		{ "cmdline", required_argument, NULL, OPT_CMDLINE },
		{ "memory", required_argument, NULL, OPT_MEMORY },
		{ "cpus", required_argument, NULL, OPT_CPUS },
		{ "serial", required_argument, NULL, OPT_SERIAL },
		{ "debug-exit", no_argument, NULL, OPT_DEBUG_EXIT },
		{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
		{ "boot-protocol", required_argument, NULL, OPT_BOOT_PROTOCOL },
		{ "disk", required_argument, NULL, OPT_DISK },
		{ "net", required_argument, NULL, OPT_NET },
		{ "console", required_argument, NULL, OPT_CONSOLE },
		{ "rng", optional_argument, NULL, OPT_RNG },
		{ "balloon", optional_argument, NULL, OPT_BALLOON },
		{ "device", required_argument, NULL, OPT_DEVICE },
		{ "report", required_argument, NULL, OPT_REPORT },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c, ret = 0;

	*cfg = (struct vm_config){
		.mem_size = CLI_DEFAULT_MEMORY,
		.nr_cpus = 1,
		.serial = SERIAL_STDIO,
		.protocol = BOOT_PROTOCOL_AUTO,
		.log_level = log_level,
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
			ret = cli_parse_memory(optarg, &cfg->mem_size, &cfg->hugepages);
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
			ret = cli_parse_protocol(optarg, &cfg->protocol);
			break;
		case OPT_DISK:
			ret = cli_add_device("--disk", cfg->disks, &cfg->nr_disks, optarg);
			break;
		case OPT_NET:
			ret = cli_add_device("--net", cfg->nets, &cfg->nr_nets, optarg);
			break;
		case OPT_CONSOLE:
			if (strcmp(optarg, "virtio")) {
				pr_err("--console: '%s' is not virtio", optarg);
				ret = -EINVAL;
			}
			cfg->console_virtio = true;
			break;
		case OPT_RNG:
			cfg->rng = cli_optional_value(argc, argv);
			break;
		case OPT_BALLOON:
			cfg->balloon = cli_optional_value(argc, argv);
			break;
		case OPT_DEVICE:
			if (strncmp(optarg, "vfio=", 5)) {
				pr_err(
				    "--device: '%s' is not vfio=BDF[,bar-mmap=on|off][,p2p=on|off]",
				    optarg);
				ret = -EINVAL;
				break;
			}
			ret = cli_add_device("--device", cfg->vfio, &cfg->nr_vfio, optarg);
			break;
		case OPT_REPORT:
			cfg->report = optarg;
			break;
		case 'h':
			cli_run_usage();
			return 1;
		case ':':
			pr_err("%s: needs a value", argv[optind - 1]);
			return -EINVAL;
		default:
			pr_err("unknown option '%s' (ptvm run --help lists them)",
			       argv[optind - 1]);
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
