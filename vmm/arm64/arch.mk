# arm64 build settings, included by the top Makefile when ARCH=arm64.
#
# Cross (make ARCH=arm64 on x86_64, into build/arm64): Debian's cross toolchain
# (gcc-aarch64-linux-gnu; the C library and the arm64 KVM UAPI headers come with it), libfdt and
# cmocka for arm64 unpacked into $(BUILD)/sysroot by tests/sysroot-arm64.sh (nothing installed);
# ptvm is linked statically so that it runs in the arm64 test host as a single file, and as a
# static PIE (glibc's rcrt1.o) with RELRO and BIND_NOW, so that it keeps the hardening of
# HARDEN_LDFLAGS (ASLR of its own code, a read-only GOT); the unit tests are dynamic (Debian
# ships cmocka only as a shared library) and run under qemu-aarch64-static with the cross C
# library as their root.
# Native (make on an arm64 host, into build): the system's gcc, libfdt-dev and libcmocka-dev
# (tests/install-deps.sh installs them there), and the unit tests run as they are.

LDLIBS += -lfdt

ifeq ($(ARCH_CROSS),1)
CROSS_COMPILE ?= aarch64-linux-gnu-
ifeq ($(origin CC),default)
CC := $(CROSS_COMPILE)gcc
endif
AR := $(CROSS_COMPILE)ar
ARM64_SYSROOT := $(BUILD)/sysroot
ARM64_LIBDIR := $(ARM64_SYSROOT)/usr/lib/aarch64-linux-gnu
CFLAGS_COMMON += -isystem $(ARM64_SYSROOT)/usr/include
LDFLAGS += -L$(ARM64_LIBDIR)
PTVM_LDFLAGS := -static-pie -Wl,-z,relro,-z,now
# PTVM_UNIT_EMULATOR: the few tests that need what qemu-user does not emulate skip by name
UNIT_RUNNER := QEMU_LD_PREFIX=/usr/aarch64-linux-gnu LD_LIBRARY_PATH=$(ARM64_LIBDIR) \
	PTVM_UNIT_EMULATOR=qemu-user qemu-aarch64-static

# Every object needs the sysroot's headers (libfdt.h, cmocka.h): fetched once, before the first
# (ARCH_PREREQS is an order-only prerequisite of every object).
ARCH_PREREQS := $(ARM64_SYSROOT)/.stamp
$(ARM64_SYSROOT)/.stamp: tests/sysroot-arm64.sh
	@tests/sysroot-arm64.sh $(ARM64_SYSROOT)
endif
