# The host side of the passthrough guest programs (guest/edu_*.c), for runners that source
# hook files the way tests/guest/run.sh sources virtio_host.sh. The programs name $EDU0 and
# $EDU1 in their ptvm-args; host_pre_edu_* exports them when edu devices (1234:11e8) are bound
# to vfio-pci, and otherwise skips (77) naming what is missing: on a host without an IOMMU and
# edu devices the programs cannot run. tests/testhost/suites/vfio.sh binds the devices, runs
# every program with bar-mmap on and off and checks more (exit counts, the DMAR fault).

# vfio_edu_bound: exports EDU0, EDU1 (the first two edu functions bound to vfio-pci); 0 if
# at least $1 were found
vfio_edu_bound() {
	EDU0=
	EDU1=
	for d in /sys/bus/pci/devices/*; do
		[ -r "$d/vendor" ] || continue
		[ "$(cat "$d/vendor")" = 0x1234 ] && [ "$(cat "$d/device")" = 0x11e8 ] || continue
		[ "$(basename "$(readlink "$d/driver" 2>/dev/null)")" = vfio-pci ] || continue
		if [ -z "$EDU0" ]; then EDU0=${d##*/}; elif [ -z "$EDU1" ]; then EDU1=${d##*/}; fi
	done
	export EDU0 EDU1
	n=0
	[ -n "$EDU0" ] && n=1
	[ -n "$EDU1" ] && n=2
	if [ "$n" -lt "$1" ]; then
		hook_reason="needs $1 edu device(s) (1234:11e8) bound to vfio-pci, found $n: the test host's vfio suite runs it"
		return 77
	fi
	return 0
}

host_pre_edu_id() { vfio_edu_bound 1; }
host_pre_edu_dma() { vfio_edu_bound 1; }
host_pre_edu_msi() { vfio_edu_bound 1; }
host_pre_edu_dma_unmapped() { vfio_edu_bound 1; }
host_pre_edu_soak() { vfio_edu_bound 1; }
host_pre_edu_two() { vfio_edu_bound 2; }
host_pre_pt_attack() { vfio_edu_bound 1; }
