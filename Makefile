# ptvm — build, test, run. `make help` lists the targets.
#
# Sources are found by wildcard: every vmm/ devices/ iommu/ *.c, plus the architecture's own
# folder vmm/$(ARCH)/, goes into build/libptvm.a (vmm/main.c only into build/ptvm), so that unit
# tests link single modules out of the library. guest/ and tests/testhost/ bring their own
# fragments (guest.mk, testhost.mk).

# The architecture ptvm is built for: the host's by default (x86 on x86_64, arm64 on aarch64).
# Another one cross-compiles into build/$(ARCH) (make ARCH=arm64 on x86_64: vmm/arm64/arch.mk).
HOST_ARCH := $(patsubst x86_64,x86,$(patsubst aarch64,arm64,$(shell uname -m)))
ARCH ?= $(HOST_ARCH)
ARCH_CROSS := $(if $(filter $(HOST_ARCH),$(ARCH)),0,1)
CC ?= gcc
BUILD ?= $(if $(filter 1,$(ARCH_CROSS)),build/$(ARCH),build)
CFLAGS_COMMON := -std=gnu11 -D_GNU_SOURCE -I. -Wall -Wextra -Werror -Wshadow \
	-Wno-unused-parameter -Wmissing-prototypes -Wstrict-prototypes -g -MMD -MP \
	-fno-strict-aliasing
CFLAGS ?= -O2
LDLIBS := -lpthread -lseccomp
# Hardening of ptvm and of everything linked from build/obj (issue 8): fortified libc calls
# (level 3 with gcc >= 12 and glibc >= 2.33, both on bookworm; it needs an optimising build),
# stack canaries, stack-clash probes, a position-independent executable, and a read-only GOT
# bound at start-up. The static test-host tools link the same objects without -pie. ASan/UBSan
# and fuzz builds keep their own flags: the sanitizers check what fortify would.
HARDEN_CFLAGS := $(if $(filter -O0,$(CFLAGS)),,-U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=3) \
	-fstack-protector-strong -fstack-clash-protection -fPIE
HARDEN_LDFLAGS := -pie -Wl,-z,relro,-z,now

# the architecture's compiler, libraries and test runner (cross or native); its rules come
# before `all`, which stays the default goal
.DEFAULT_GOAL := all
-include vmm/$(ARCH)/arch.mk
# ptvm's own link flags (an architecture's arch.mk may set them, e.g. a static cross build)
PTVM_LDFLAGS ?= $(HARDEN_LDFLAGS)
LIB_SRCS := $(filter-out vmm/main.c,$(wildcard vmm/*.c vmm/$(ARCH)/*.c devices/*.c iommu/*.c))
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
ASAN_OBJS := $(LIB_SRCS:%.c=$(BUILD)/asan/%.o)
UNIT_SRCS := $(wildcard tests/unit/*_test.c tests/unit/$(ARCH)/*_test.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/unit/%)
UNIT_ASAN_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/unit-asan/%)
SANITIZE := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
# ThreadSanitizer (gcc's): the unit tests and build/ptvm-tsan, for races between the vCPU, I/O
# and main threads. A report fails the binary (exit status 66) even when its tests passed.
TSAN_OBJS := $(LIB_SRCS:%.c=$(BUILD)/tsan/%.o)
UNIT_TSAN_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/unit-tsan/%)
# -Wno-tsan: TSan does not model fences; virtqueue.c's order ring accesses against the guest's
# vCPUs, whose side TSan cannot see anyway.
TSAN := -fsanitize=thread -fno-omit-frame-pointer -Wno-tsan
TSAN_ENV := TSAN_OPTIONS="halt_on_error=0 exitcode=66 second_deadlock_stack=1 $(TSAN_OPTIONS)"

# Objects depend on the compiler and flags they were built with: when those change (a new
# hardening flag, CC=clang), everything is rebuilt instead of mixing old and new objects.
FLAGS_ID := $(shell echo '$(CC) $(CFLAGS_COMMON) $(HARDEN_CFLAGS) $(CFLAGS) $(SANITIZE) $(TSAN)' | md5sum | cut -c1-12)
FLAGS_STAMP := $(BUILD)/.flags-$(FLAGS_ID)
$(FLAGS_STAMP):
	@mkdir -p $(BUILD) && rm -f $(BUILD)/.flags-* && touch $@

.PHONY: all help deps test test-bench test-unit test-unit-asan test-unit-tsan test-guest test-testhost run clean format
all: $(BUILD)/ptvm

help:
	@echo "make            build build/ptvm"
	@echo "make run        boot the Debian kernel with a busybox shell (installs what it needs)"
	@echo "make test       every test: unit, unit under ASan/UBSan and TSan, fuzz targets, guest programs, test host"
	@echo "make test-unit  cmocka unit tests (no /dev/kvm needed)"
	@echo "make test-unit-asan  the same under AddressSanitizer and UBSan"
	@echo "make test-unit-tsan  the same under ThreadSanitizer (build/ptvm-tsan: make ptvm-tsan)"
	@echo "make test-fuzz  every libFuzzer target for a few seconds (make fuzz, make fuzz-report: longer)"
	@echo "make test-guest guest/ programs booted by ptvm on this machine's /dev/kvm"
	@echo "make test-guest-tsan  the same on build/ptvm-tsan (ThreadSanitizer)"
	@echo "make test-sandbox   build hardening, seccomp filters and jail (tests/sandbox)"
	@echo "make test-testhost  suites inside the emulated test host (QEMU TCG + nested KVM)"
	@echo "make ARCH=arm64 cross-build ptvm for arm64 into build/arm64 (test-unit, test-testhost too)"
	@echo "make test-arm64 the arm64 unit tests (qemu-user) and the arm64 test host's suites"
	@echo "make deps       install the Debian packages the build and tests need"

deps:
	@tests/install-deps.sh

$(BUILD)/obj/%.o: %.c $(FLAGS_STAMP) | $(ARCH_PREREQS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) $(HARDEN_CFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/asan/%.o: %.c $(FLAGS_STAMP) | $(ARCH_PREREQS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) -O1 $(SANITIZE) -c -o $@ $<

$(BUILD)/tsan/%.o: %.c $(FLAGS_STAMP) | $(ARCH_PREREQS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) -O1 $(TSAN) -c -o $@ $<

$(BUILD)/libptvm.a: $(LIB_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/libptvm-asan.a: $(ASAN_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/libptvm-tsan.a: $(TSAN_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/ptvm: $(BUILD)/obj/vmm/main.o $(BUILD)/libptvm.a
	$(CC) $(CFLAGS) $(LDFLAGS) $(PTVM_LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/unit/%: $(BUILD)/obj/tests/unit/%.o $(BUILD)/libptvm.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $(HARDEN_LDFLAGS) -o $@ $^ -lcmocka $(LDLIBS)

$(BUILD)/tests/unit-asan/%: $(BUILD)/asan/tests/unit/%.o $(BUILD)/libptvm-asan.a
	@mkdir -p $(dir $@)
	$(CC) $(SANITIZE) -o $@ $^ -lcmocka $(LDLIBS)

$(BUILD)/tests/unit-tsan/%: $(BUILD)/tsan/tests/unit/%.o $(BUILD)/libptvm-tsan.a
	@mkdir -p $(dir $@)
	$(CC) $(TSAN) -o $@ $^ -lcmocka $(LDLIBS)

# ptvm under TSan, for the guest programs: GUEST_PTVM=build/ptvm-tsan tests/guest/run.sh
.PHONY: ptvm-tsan
ptvm-tsan: $(BUILD)/ptvm-tsan
$(BUILD)/ptvm-tsan: $(BUILD)/tsan/vmm/main.o $(BUILD)/libptvm-tsan.a
	$(CC) $(TSAN) -o $@ $^ $(LDLIBS)

# Unit tests run from the top of the tree (they find fixtures by relative path).
test-unit: deps $(UNIT_BINS)
	@UNIT_RUNNER="$(UNIT_RUNNER)" tests/run-unit.sh $(UNIT_BINS)

test-unit-asan: deps $(UNIT_ASAN_BINS)
	@ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 tests/run-unit.sh $(UNIT_ASAN_BINS)

test-unit-tsan: deps $(UNIT_TSAN_BINS)
	@$(TSAN_ENV) tests/run-unit.sh $(UNIT_TSAN_BINS)

-include guest/guest.mk
-include tests/testhost/testhost.mk
-include tests/cli/cli.mk
-include tests/fuzz/fuzz.mk
-include tests/bench/bench.mk
-include tests/sandbox/sandbox.mk

# The VIOT's disassembly needs an iasl newer than bookworm's: trixie's, unpacked under
# build/acpica (tests/acpica-trixie.sh; offline, that one test skips by name).
.PHONY: acpica-trixie
acpica-trixie:
	@BUILD=$(BUILD) tests/acpica-trixie.sh
test-unit test-unit-asan test-unit-tsan: acpica-trixie

# The unit tests that check the loader against the real Debian kernel need it fetched.
test-unit test-unit-asan test-unit-tsan: $(if $(wildcard tests/testhost/testhost.mk),testhost-kernel)

# Benchmarks never fail on a time: make test only checks that the quick run still measures
# every figure and writes its table.
# Without /dev/kvm the quick run has nothing to measure: bench.py says so and exits 77, which
# counts as skipped by name.
test-bench: deps $(BUILD)/ptvm $(BENCH_GUESTS) $(BENCH_DIR)/kvm_floor
	@rm -f $(BUILD)/bench/results.md
	@st=0; tests/bench/bench.py --build $(BUILD) --quick || st=$$?; \
	if [ $$st = 77 ]; then \
		echo "bench: 0 passed, 0 failed, 1 skipped (no usable /dev/kvm on this machine)"; \
	elif [ $$st = 0 ] && [ -s $(BUILD)/bench/results.md ]; then \
		echo "bench: 1 passed, 0 failed (results in $(BUILD)/bench/results.md)"; \
	else \
		echo "bench: 0 passed, 1 failed (status $$st)"; exit 1; \
	fi

# test-unit-tsan and test-guest-tsan add about 3 minutes (measured on the 2-core machine
# under load: 110 s building and running the unit tests, 50 s for the guest programs)
test: test-unit test-unit-asan test-unit-tsan test-fuzz test-cli test-cli-asan test-sandbox \
	test-guest test-guest-tsan test-bench test-testhost $(if $(filter x86,$(ARCH)),test-arm64)

# arm64 from an x86_64 host: the cross build's unit tests under qemu-user, the cross-built
# ptvm's hardening, and the arm64 test host's suites (vmm/arm64/arch.mk,
# tests/testhost/testhost.mk)
.PHONY: test-arm64
test-arm64:
	@$(MAKE) --no-print-directory ARCH=arm64 test-unit test-hardening test-testhost

format:
	clang-format -i $(wildcard vmm/*.[ch] vmm/*/*.[ch] devices/*.[ch] iommu/*.[ch] tests/unit/*.[ch] tests/unit/*/*.[ch])

clean:
	rm -rf $(BUILD)

# keep test objects between runs (they are not throwaway intermediates)
.SECONDARY:

-include $(shell find $(BUILD) -name '*.d' -type f 2>/dev/null)
