// SPDX-License-Identifier: MIT
#include "tap.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vmm/ioctl.h"
#include "vmm/log.h"

/* Brings a tap ptvm created up, as kvmtool does: the user only has to add an address. */
static void tap_set_up(const char *name)
{
	struct ifreq ifr = { 0 };
	int s, ret;

	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0) {
		ret = -errno;
		goto out_warn;
	}
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ret = __ptvm_ioctl(s, SIOCGIFFLAGS, "SIOCGIFFLAGS", (unsigned long)&ifr, 1);
	if (ret < 0)
		goto out_close;
	ifr.ifr_flags |= IFF_UP;
	ret = __ptvm_ioctl(s, SIOCSIFFLAGS, "SIOCSIFFLAGS", (unsigned long)&ifr, 1);
out_close:
	close(s);
out_warn:
	if (ret < 0)
		pr_warn("tap %s: created but cannot bring it up: %s", name, strerror(-ret));
}

/* One line saying why TUNSETIFF refused, with what the user can do about it. */
static void tap_report_setiff(const char *name, bool existed, int err)
{
	if (err == -EPERM && existed)
		pr_err("tap %s: not permitted to attach (needs CAP_NET_ADMIN, or a tap owned by "
		       "this user: ip tuntap add %s mode tap user $USER)",
		       name, name);
	else if (err == -EPERM)
		pr_err("tap %s: does not exist and creating it needs CAP_NET_ADMIN (create it "
		       "first: ip tuntap add %s mode tap user $USER)",
		       name, name);
	else if (err == -EBUSY)
		pr_err("tap %s: already attached to another process", name);
	else if (existed && err == -EINVAL)
		pr_err("tap %s: exists but is not a single-queue tap (a tun device or another "
		       "kind of interface?)",
		       name);
	else
		pr_err("tap %s: TUNSETIFF failed: %s", name, strerror(-err));
}

int tap_open(const char *name, struct tap *tap)
{
	struct ifreq ifr = { 0 };
	unsigned features = 0;
	int hdr_sz = TAP_VNET_HDR_SIZE;
	bool existed;
	int fd, ret;

	tap->fd = -1;
	tap->created = false;
	if (!name || !*name || strlen(name) >= IFNAMSIZ || strchr(name, '/') || strchr(name, ' ')) {
		pr_err("tap '%s': not a valid interface name (1 to %d characters, no '/' or ' ')",
		       name ? name : "", IFNAMSIZ - 1);
		return -EINVAL;
	}
	existed = if_nametoindex(name) != 0;

	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		pr_err("tap %s: cannot open /dev/net/tun: %s", name, strerror(-ret));
		return ret;
	}
	if (__ptvm_ioctl(fd, TUNGETFEATURES, "TUNGETFEATURES", (unsigned long)&features, 1) < 0 ||
	    !(features & IFF_VNET_HDR)) {
		pr_err("tap %s: this kernel's tun driver lacks IFF_VNET_HDR", name);
		ret = -EOPNOTSUPP;
		goto out_close;
	}

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	/* TUNSETIFF is declared with an int argument but takes a struct ifreq. */
	ret = __ptvm_ioctl(fd, TUNSETIFF, "TUNSETIFF", (unsigned long)&ifr, 1);
	if (ret < 0) {
		tap_report_setiff(name, existed, ret);
		goto out_close;
	}
	/* The kernel may have expanded a pattern such as "tap%d". */
	snprintf(tap->name, sizeof(tap->name), "%s", ifr.ifr_name);

	ret = ptvm_ioctl_quiet(fd, TUNSETVNETHDRSZ, &hdr_sz);
	if (ret < 0) {
		pr_err("tap %s: TUNSETVNETHDRSZ %d failed: %s", tap->name, hdr_sz, strerror(-ret));
		goto out_close;
	}

	tap->fd = fd;
	tap->created = !existed;
	if (tap->created) {
		tap_set_up(tap->name);
		pr_info("tap %s: created (it is removed when ptvm exits)", tap->name);
	}
	return 0;

out_close:
	close(fd);
	return ret;
}

void tap_close(struct tap *tap)
{
	if (tap->fd >= 0)
		close(tap->fd);
	tap->fd = -1;
}

int tap_set_offload(int fd, unsigned flags)
{
	return ptvm_ioctl_val_quiet(fd, TUNSETOFFLOAD, flags);
}

unsigned tap_probe_offloads(int fd)
{
	static const unsigned extra[] = { TUN_F_TSO4, TUN_F_TSO6, TUN_F_UFO };
	unsigned ok = 0;

	if (tap_set_offload(fd, TUN_F_CSUM) < 0)
		goto out_clear;
	ok = TUN_F_CSUM;
	for (unsigned i = 0; i < ARRAY_SIZE(extra); i++)
		if (tap_set_offload(fd, TUN_F_CSUM | extra[i]) == 0)
			ok |= extra[i];
out_clear:
	tap_set_offload(fd, 0);
	return ok;
}
