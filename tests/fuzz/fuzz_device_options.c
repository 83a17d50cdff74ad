// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the device option parsers ptvm's command line hands its values to
 * (--disk, --net, --rng, --balloon, --console, --device vfio=): host input, but a string a
 * script may build from anything. A bad value must be refused with -EINVAL (after one error
 * line), never crash, and a good one must leave every string in its struct terminated.
 *
 * Input: u8 which parser (% 6), then the option string (cut at the first NUL).
 *
 * FUZZ_SOURCES: devices/virtio_blk.c devices/virtio_net.c devices/virtio_rng.c
 *               devices/virtio_balloon.c devices/virtio_console.c devices/vfio_pci.c
 */
#include <errno.h>
#include <stdlib.h>

#include "devices/vfio_pci.h"
#include "devices/virtio_balloon.h"
#include "devices/virtio_blk.h"
#include "devices/virtio_console.h"
#include "devices/virtio_net.h"
#include "devices/virtio_rng.h"
#include "tests/fuzz/lib/fuzz_lib.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_lib_init(0);
	return 0;
}

static void terminated(const char *s, size_t size, const char *what)
{
	if (!memchr(s, '\0', size))
		fuzz_fail("%s is not terminated", what);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t which = size ? data[0] : 0;
	char *spec = strndup(size ? (const char *)data + 1 : "", size ? size - 1 : 0);
	union {
		struct virtio_blk_options blk;
		struct virtio_net_options net;
		struct virtio_rng_config rng;
		struct virtio_balloon_options balloon;
		struct virtio_console_options console;
		struct vfio_pci_config vfio;
	} o;
	int ret;

	if (!spec)
		fuzz_fail("strndup");
	fuzz_input_begin();
	memset(&o, 0x5a, sizeof(o));
	switch (which % 6) {
	case 0:
		ret = virtio_blk_parse(spec, &o.blk);
		if (!ret) {
			terminated(o.blk.path, sizeof(o.blk.path), "--disk path");
			terminated(o.blk.serial, sizeof(o.blk.serial), "--disk serial");
		}
		break;
	case 1:
		ret = virtio_net_parse(spec, &o.net);
		if (!ret) {
			terminated(o.net.tap, sizeof(o.net.tap), "--net tap");
			if (o.net.mac_set && (o.net.mac[0] & 1))
				fuzz_fail("--net took a multicast MAC");
		}
		break;
	case 2:
		ret = virtio_rng_parse(spec, &o.rng);
		if (!ret)
			terminated(o.rng.src, sizeof(o.rng.src), "--rng src");
		break;
	case 3:
		ret = virtio_balloon_parse(spec, &o.balloon);
		if (!ret && o.balloon.stats_period_ms > 3600 * 1000)
			fuzz_fail("--balloon took stats-period %u ms", o.balloon.stats_period_ms);
		break;
	case 4:
		ret = virtio_console_parse(spec, &o.console);
		break;
	default:
		ret = vfio_pci_parse(spec, &o.vfio);
		if (!ret)
			terminated(o.vfio.bdf, sizeof(o.vfio.bdf), "--device vfio bdf");
		break;
	}
	if (ret && ret != -EINVAL)
		fuzz_fail("parser %u returned %d", which % 6, ret);
	free(spec);
	fuzz_input_end();
	return 0;
}
