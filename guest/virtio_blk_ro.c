/* SPDX-License-Identifier: MIT */
/* ptvm-args: --disk "$BLK_DISK,readonly=on" --cmdline "$BLK_CMDLINE ro=1" */
/* virtio_blk_ro: virtio_blk.c against a read-only disk (F_RO offered, writes get IOERR). */
#define BLK_TEST_NAME "virtio_blk_ro"
#include "virtio_blk.c"
