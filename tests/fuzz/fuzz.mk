# libFuzzer targets (clang + Debian's libclang-rt): `make fuzz` builds each and runs it for
# FUZZ_SECONDS (default 60). A crash leaves its input in build/fuzz/; turn it into a unit
# test in tests/unit/ before fixing the bug.
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_CFLAGS := -std=gnu11 -D_GNU_SOURCE -I. -g -O1 -fsanitize=fuzzer,address,undefined
FUZZ_TARGETS := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_LIB_SRCS := devices/virtio_blk.c devices/virtio.c devices/virtqueue.c vmm/memmap.c \
	vmm/log.c vmm/util.c vmm/sandbox.c vmm/term.c

.PHONY: fuzz
$(BUILD)/fuzz/%: tests/fuzz/%.c $(FUZZ_LIB_SRCS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< $(FUZZ_LIB_SRCS) $(LDLIBS)

fuzz: deps $(FUZZ_TARGETS)
	@set -e; for t in $(FUZZ_TARGETS); do \
		mkdir -p $$t.corpus; \
		echo "fuzz: $$t for $(FUZZ_SECONDS) s"; \
		$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
			-artifact_prefix=$(BUILD)/fuzz/ $$t.corpus > $$t.log 2>&1 || \
			{ tail -30 $$t.log; echo "fuzz: $$t found a crash (input in $(BUILD)/fuzz/)"; exit 1; }; \
		grep -E 'number_of_executed_units|peak_rss' $$t.log; \
	done
