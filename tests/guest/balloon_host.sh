# The host side of guest/balloon_cycles.c (sourced by tests/guest/run.sh and the test host's
# guest suite, like virtio_host.sh): how much it does. On this machine 4 cycles over 16 MiB
# (about 2 s); in the test host, where each first touch of a guest page is an emulated nested
# page fault (milliseconds), 1 cycle over 2 MiB, so that the guest suite stays far inside its
# 30 s per program. `make soak SOAK_ONLY=balloon` runs it there at length.
host_pre_balloon_cycles() {
	if [ -d /testhost ]; then
		BCYC_CMDLINE="cycles=1 pool_mib=2"
	else
		BCYC_CMDLINE="cycles=4 pool_mib=16"
	fi
	export BCYC_CMDLINE
	return 0
}
