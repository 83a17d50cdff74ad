/* SPDX-License-Identifier: MIT */
/* virtio-blk requests: header, data, status byte, one at a time (polled at CPL3). */
#include "kit.h"

#define BLK_TIMEOUT_US 10000000ull
#define BLK_MAX_SEGS 254 /* plus the header and the status: an indirect table's 256 */

struct blk_req_hdr {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
};
_Static_assert(sizeof(struct blk_req_hdr) == 16, "virtio_blk_outhdr ABI");

/* header at 0, status byte at 64 of one page, reused by every request */
static uint8_t *scratch;

int virtio_blk_request(struct virtq *vq, uint32_t type, uint64_t sector,
		       const struct virtio_buf *data, unsigned int n, bool indirect,
		       uint32_t *used_len)
{
	struct virtio_buf bufs[BLK_MAX_SEGS + 2];
	volatile struct blk_req_hdr *hdr;
	volatile uint8_t *status;
	uint32_t writable = 1;
	int64_t len;

	if (n > BLK_MAX_SEGS)
		return -1;
	if (!scratch && !(scratch = page_zalloc()))
		return -1;
	hdr = (volatile struct blk_req_hdr *)scratch;
	status = scratch + 64;
	hdr->type = type;
	hdr->reserved = 0;
	hdr->sector = sector;
	*status = 0xff; /* a value no device writes: proves the device wrote it */
	bufs[0] = (struct virtio_buf){ (uint64_t)scratch, sizeof(*hdr), false };
	for (unsigned int i = 0; i < n; i++) {
		bufs[1 + i] = data[i];
		if (data[i].write)
			writable += data[i].len;
	}
	bufs[n + 1] = (struct virtio_buf){ (uint64_t)status, 1, true };
	len = virtq_transfer(vq, bufs, n + 2, indirect, BLK_TIMEOUT_US);
	if (used_len)
		*used_len = len < 0 ? 0 : (uint32_t)len;
	/*
	 * len counts the prefix of the writable bytes the device wrote (2.7.8.2): after a
	 * failed read it may stop short of the status byte (ptvm then says 0), so the byte
	 * itself, which starts as 0xff, shows whether the device wrote it.
	 */
	if (len < 0 || (uint64_t)len > writable || *status > VIRTIO_BLK_S_UNSUPP) {
		printf("virtio-blk: type %u sector %llu: %s (used length %lld, writable %u, status "
		       "byte 0x%02x)\n",
		       type, (unsigned long long)sector, len < 0 ? "no completion" : "bad length",
		       (long long)len, writable, *status);
		return -1;
	}
	return *status;
}
