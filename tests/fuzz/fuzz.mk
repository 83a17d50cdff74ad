# libFuzzer targets (clang + Debian's libclang-rt), one per guest-facing parser: a target is
# one file, tests/fuzz/fuzz_NAME.c, with its seed corpus in tests/fuzz/corpus/NAME/ and a
# "FUZZ_SOURCES:" line naming the files whose coverage it answers for (tests/fuzz/README.md).
#
#   make fuzz              each target for FUZZ_SECONDS (default 60), one after the other
#   make fuzz-report       the same, then build/fuzz/report.md: executions, execs/s, line
#                          coverage (llvm-cov) of each target's sources and of devices/, crashes
#   make test-fuzz         a few seconds each (part of make test): every target builds and runs
#   FUZZ_ONLY="uart msix"  a subset; FUZZ_RUNS=N stops a target after N executions (-1: no
#                          limit; FUZZ_SECONDS=0: no time limit); FUZZ_NICE=19 for long runs
#
# A crash leaves its input in build/fuzz/fuzz_NAME-crash-*; turn it into a unit test in
# tests/unit/ before fixing the bug.
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_RUNS ?= -1
FUZZ_NICE ?= 0
FUZZ_NAMES := $(sort $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c)))
FUZZ_ONLY ?= $(FUZZ_NAMES)

# ptvm's own code is held to -Werror by gcc (the main build); clang's extra opinions about it
# are shown but do not stop the fuzzers. The harnesses themselves build with -Werror.
FUZZ_WARN = -std=gnu11 -D_GNU_SOURCE -I. -Wall -Wextra -Wshadow -Wno-unused-parameter \
	-Wmissing-prototypes -Wstrict-prototypes -g -MMD -MP -fno-strict-aliasing \
	-fno-omit-frame-pointer $(if $(filter tests/fuzz/%,$<),-Werror)
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_COV := -fprofile-instr-generate -fcoverage-mapping
# device I/O threads are tracked through these (tests/fuzz/lib/fuzz_lib.c)
FUZZ_LDFLAGS := -Wl,--wrap=pthread_create,--wrap=pthread_join,--wrap=epoll_wait $(LDLIBS)

FUZZ_LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/fuzz/obj/%.o)
FUZZ_COV_LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/fuzz-cov/obj/%.o)
FUZZ_COMMON_SRCS := $(wildcard tests/fuzz/lib/*.c)
FUZZ_BINS := $(FUZZ_ONLY:%=$(BUILD)/fuzz/fuzz_%)
FUZZ_COV_BINS := $(FUZZ_ONLY:%=$(BUILD)/fuzz-cov/fuzz_%)

.PHONY: fuzz fuzz-build fuzz-report test-fuzz

# the fuzzing build: ASan + UBSan, coverage feedback for libFuzzer
$(BUILD)/fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_WARN) -O1 $(FUZZ_SAN) -fsanitize=fuzzer-no-link -c -o $@ $<

# the harness library is no code under test: no coverage feedback from it (its table scans
# would cost more than the device models they drive)
$(BUILD)/fuzz/obj/tests/fuzz/lib/%.o: tests/fuzz/lib/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_WARN) -O1 $(FUZZ_SAN) -c -o $@ $<

$(BUILD)/fuzz/libptvm-fuzz.a: $(FUZZ_LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/fuzz/fuzz_%: $(BUILD)/fuzz/obj/tests/fuzz/fuzz_%.o \
		$(FUZZ_COMMON_SRCS:%.c=$(BUILD)/fuzz/obj/%.o) $(BUILD)/fuzz/libptvm-fuzz.a
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ $(FUZZ_LDFLAGS)

# the coverage build: source-based coverage, no sanitizers; replays the corpora
$(BUILD)/fuzz-cov/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_WARN) -O1 $(FUZZ_COV) -c -o $@ $<

$(BUILD)/fuzz-cov/libptvm-cov.a: $(FUZZ_COV_LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/fuzz-cov/fuzz_%: $(BUILD)/fuzz-cov/obj/tests/fuzz/fuzz_%.o \
		$(FUZZ_COMMON_SRCS:%.c=$(BUILD)/fuzz-cov/obj/%.o) $(BUILD)/fuzz-cov/libptvm-cov.a
	$(FUZZ_CC) $(FUZZ_COV) -fsanitize=fuzzer -o $@ $^ $(FUZZ_LDFLAGS)

fuzz-build: deps $(FUZZ_BINS)

fuzz: fuzz-build
	@BUILD=$(BUILD) FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_RUNS=$(FUZZ_RUNS) FUZZ_NICE=$(FUZZ_NICE) \
		tests/fuzz/run.sh $(FUZZ_ONLY)

# the report also when a target failed: its crashes are what the report is for
fuzz-report: fuzz-build $(FUZZ_COV_BINS)
	@BUILD=$(BUILD) FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_RUNS=$(FUZZ_RUNS) FUZZ_NICE=$(FUZZ_NICE) \
		tests/fuzz/run.sh $(FUZZ_ONLY); st=$$?; \
		BUILD=$(BUILD) tests/fuzz/report.sh $(FUZZ_ONLY) && exit $$st

test-fuzz: fuzz-build
	@BUILD=$(BUILD) FUZZ_SECONDS=3 FUZZ_RUNS=-1 FUZZ_NICE=$(FUZZ_NICE) FUZZ_LOG_TAG=test \
		tests/fuzz/run.sh $(FUZZ_ONLY)

# objects stay between runs (the harnesses are rebuilt on their own)
.PRECIOUS: $(BUILD)/fuzz/obj/%.o $(BUILD)/fuzz-cov/obj/%.o
