# tests/cli/: ptvm's command line against every bad input of issue 2 (tests/cli/bad_input.sh).
# Included by the top Makefile. `make test-cli` runs the cases against build/ptvm;
# `make test-cli-asan` runs the same cases against an ASan/UBSan build of ptvm, where a crash
# or leak on an error path shows up as a sanitizer report (a FAIL of that case).

.PHONY: test-cli test-cli-asan

test-cli: $(BUILD)/ptvm $(BUILD)/guest/hello.elf
	@HELLO=$(BUILD)/guest/hello.elf tests/cli/bad_input.sh $(BUILD)/ptvm

$(BUILD)/ptvm-asan: $(BUILD)/asan/vmm/main.o $(BUILD)/libptvm-asan.a
	$(CC) $(SANITIZE) -o $@ $^ $(LDLIBS)

test-cli-asan: $(BUILD)/ptvm-asan $(BUILD)/guest/hello.elf
	@ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
		HELLO=$(BUILD)/guest/hello.elf tests/cli/bad_input.sh $(BUILD)/ptvm-asan
