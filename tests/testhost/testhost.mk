# The emulated test host (tests/testhost/) and `make run`; included by the top Makefile.
#
#   make test-testhost   every suite in tests/testhost/suites (guest, linux, then the others by
#                        name: vfio, vfio_host, virtio, ...) inside one boot of the test host
#   make run             the Debian kernel with a busybox shell on the console, under ptvm
#   TESTHOST_SUITES="linux" make test-testhost   a subset of the suites
#   make ARCH=arm64 test-testhost   the arm64 test host (QEMU TCG virt with EL2, GICv3, SMMUv3)
#                        and its suites, with the cross-built ptvm (build/arm64)
#   make soak            (not part of make test) every virtio device busy in a Linux guest plus
#                        a passed-through edu DMAing in a second VM, for SOAK_MINUTES (10)

TH_DIR := $(BUILD)/testhost
TH_KERNEL := $(TH_DIR)/kernel/release
TH_PROBE := $(TH_DIR)/bin/kvmprobe
# Test-host tools: every tests/testhost/<tool>.c becomes $(TH_DIR)/bin/<tool>, static (the image
# carries no libraries for them), linked with libptvm.a so that a tool can drive ptvm's modules
# against the real kernel inside the test host; mkhost.sh puts them all in the image's /bin.
# A tool that only one architecture can build has its own copy in tests/testhost/$(ARCH)/ (arm64:
# kvmprobe), which replaces the top-level one.
TH_TOOL_SRCS_ARCH := $(wildcard tests/testhost/$(ARCH)/*.c)
TH_TOOL_SRCS := $(filter-out $(patsubst tests/testhost/$(ARCH)/%,tests/testhost/%,$(TH_TOOL_SRCS_ARCH)),\
	$(wildcard tests/testhost/*.c)) $(TH_TOOL_SRCS_ARCH)
TH_TOOLS := $(addprefix $(TH_DIR)/bin/,$(basename $(notdir $(TH_TOOL_SRCS))))
TH_PROBE_SRC := $(filter %/kvmprobe.c,$(TH_TOOL_SRCS))
TH_IMAGE := $(TH_DIR)/host-initramfs.cpio
GUEST_LINUX_IMAGE := $(BUILD)/guest/linux-initramfs.cpio.gz
# guest and linux first, then every other suite in tests/testhost/suites/, by name
TH_SUITES_ALL := $(basename $(notdir $(wildcard tests/testhost/suites/*.sh)))
ifeq ($(ARCH),arm64)
# the arm64 machine: the suites whose guests are Linux or none (the x86 ones boot guest/ PVH
# programs: guest, vfio) and the arm64_* ones
TH_MACHINE := arm64
TESTHOST_SUITES ?= linux virtio vfio_host $(filter arm64_%,$(sort $(TH_SUITES_ALL)))
TH_GUEST_TARGET :=
# the arm64 busybox for the test host and the guest image (tests/sysroot-arm64.sh)
TH_BUSYBOX := $(BUILD)/sysroot/bin/busybox
TH_ARCH_DEPS := $(BUILD)/sysroot/.stamp
# the seccomp filters' test (tests/sandbox/seccomp_test.c) runs in the arm64 test host (suite
# arm64_sandbox): qemu-user cannot load a filter. Static like the tools.
TH_TOOLS += $(TH_DIR)/bin/seccomp_test
$(TH_DIR)/bin/seccomp_test: $(BUILD)/obj/tests/sandbox/seccomp_test.o $(BUILD)/libptvm.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -static-pie -o $@ $^ $(LDLIBS)
else
TH_MACHINE := x86
# bench_* suites are make bench's (they need QEMU carried into a private copy of the image),
# soak is make soak's
TESTHOST_SUITES ?= guest linux $(filter-out guest linux bench_% arm64_% soak,$(sort $(TH_SUITES_ALL)))
SOAK_MINUTES ?= 10
# guest/guest.mk provides `guest` (build/guest/*.elf); without it the guest suite says it has
# no programs instead of make failing.
TH_GUEST_TARGET := $(if $(wildcard guest/guest.mk),guest)
TH_BUSYBOX :=
TH_ARCH_DEPS :=
# QEMU 10 from bookworm-backports runs the x86 test host (fetch-qemu.sh says why)
TH_QEMU_BIN := $(BUILD)/qemu/root/usr/bin/qemu-system-x86_64
endif
TH_ENV := BUILD=$(BUILD) MACHINE=$(TH_MACHINE) $(if $(TH_BUSYBOX),BUSYBOX=$(TH_BUSYBOX))

.PHONY: testhost-kernel testhost-image soak

# Cached: fetch-qemu.sh does nothing once QEMU is unpacked.
ifneq ($(TH_QEMU_BIN),)
$(TH_QEMU_BIN): tests/testhost/fetch-qemu.sh
	@BUILD=$(BUILD) tests/testhost/fetch-qemu.sh
endif

# The Debian kernel of the machine type: the cloud kernel on x86, the generic one on arm64
# (Debian has no arm64 cloud flavour with the vfio modules the suites need).
TH_KERNEL_FETCH := $(if $(filter arm64,$(ARCH)),META=linux-image-arm64 ARCH=arm64)
# Cached: fetch-kernel.sh does nothing once the kernel is unpacked.
$(TH_KERNEL): tests/testhost/fetch-kernel.sh
	@OUT=$(TH_DIR)/kernel $(TH_KERNEL_FETCH) tests/testhost/fetch-kernel.sh
testhost-kernel: deps $(TH_KERNEL)

# kvmprobe must build before ptvm does (make run uses it first), so it needs no library.
$(TH_PROBE): $(TH_PROBE_SRC) | $(ARCH_PREREQS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) -O2 -static -o $@ $<

$(TH_DIR)/bin/%: tests/testhost/$(ARCH)/%.c $(BUILD)/libptvm.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) $(LDFLAGS) -O2 -static -o $@ $< $(BUILD)/libptvm.a $(LDLIBS)

$(TH_DIR)/bin/%: tests/testhost/%.c $(BUILD)/libptvm.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) $(LDFLAGS) -O2 -static -o $@ $< $(BUILD)/libptvm.a $(LDLIBS)

$(GUEST_LINUX_IMAGE): guest/linux/init guest/linux/mkinitramfs.sh $(TH_KERNEL) $(TH_ARCH_DEPS)
	@$(TH_ENV) guest/linux/mkinitramfs.sh -k $(TH_DIR)/kernel $@

# The viommu suite's guest: Debian 13's cloud kernel (virtio_iommu, ACPI VIOT; Debian 12's has
# neither) and an image with its modules and guest/linux/viommu-checks.sh. Fetched, built and
# carried into the test host (13 MB) only when the suite is among TESTHOST_SUITES.
TH_TRIXIE := $(TH_DIR)/kernel-trixie/release
GUEST_TRIXIE_IMAGE := $(BUILD)/guest/linux-trixie-initramfs.cpio.gz
TH_VIOMMU_FILES := $(if $(filter viommu,$(TESTHOST_SUITES)),$(TH_DIR)/kernel-trixie/bzImage=/guest/linux-trixie/bzImage $(GUEST_TRIXIE_IMAGE)=/guest/linux-trixie/initramfs.cpio.gz)
$(TH_TRIXIE): tests/testhost/fetch-kernel.sh
	@OUT=$(TH_DIR)/kernel-trixie RELEASE=trixie tests/testhost/fetch-kernel.sh
$(BUILD)/guest/blkbench: guest/linux/blkbench.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -static -Wall -Wextra -Werror -o $@ $<
$(GUEST_TRIXIE_IMAGE): guest/linux/init guest/linux/mkinitramfs.sh guest/linux/viommu-checks.sh \
		$(BUILD)/guest/blkbench $(TH_TRIXIE)
	@guest/linux/mkinitramfs.sh -k $(TH_DIR)/kernel-trixie \
		-m "virtio_iommu virtio_blk virtio_net virtio_console virtio_balloon virtio_rng" \
		-f guest/linux/viommu-checks.sh=/checks/viommu.sh -f $(BUILD)/guest/blkbench=/bin/blkbench $@

# Rebuilt every time (about half a second): its inputs include build/guest/*.elf, which the
# guest target decides about only when it runs.
testhost-image: deps $(TH_QEMU_BIN) $(BUILD)/ptvm $(TH_GUEST_TARGET) $(TH_KERNEL) $(TH_TOOLS) $(GUEST_LINUX_IMAGE) \
		$(if $(TH_VIOMMU_FILES),$(GUEST_TRIXIE_IMAGE))
	@$(TH_ENV) EXTRA_FILES="$(EXTRA_FILES) $(TH_VIOMMU_FILES)" tests/testhost/mkhost.sh $(TH_IMAGE)

# A hung test host (run.sh status 3) fails the run like any other failure: run.sh has already
# diagnosed it (README, "Hangs"); booting it once more would hide a bug.
test-testhost: testhost-image
	@BUILD=$(BUILD) tests/testhost/run.sh --machine $(TH_MACHINE) $(TESTHOST_SUITES)

# The whole run's timeout leaves 10 minutes for boot, set-up and the checks after the soak.
soak: testhost-image
	@BUILD=$(BUILD) TH_APPEND="SOAK_SECONDS=$$(($(SOAK_MINUTES) * 60)) $(TH_APPEND)" \
		tests/testhost/run.sh --machine $(TH_MACHINE) --timeout $$(($(SOAK_MINUTES) * 60 + 600)) soak

run: deps $(TH_QEMU_BIN) $(BUILD)/ptvm $(TH_KERNEL) $(TH_PROBE) $(GUEST_LINUX_IMAGE)
	@$(TH_ENV) TH_MACHINE_TYPE=$(TH_MACHINE) tests/testhost/make-run.sh
