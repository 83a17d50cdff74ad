# The host side of guest/viommu_edu.c: both edu devices (1234:11e8) bound to vfio-pci, named
# by $EDU0 and $EDU1 in its ptvm-args (vfio_edu_bound, tests/guest/vfio_host.sh); otherwise it
# skips (77) naming what is missing. tests/testhost/suites/viommu.sh runs it and checks more:
# the test host's DMAR faults and the two containers in ptvm's --report.
host_pre_viommu_edu() { vfio_edu_bound 2; }
