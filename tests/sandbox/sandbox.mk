# tests/sandbox/: the sandbox of issue 8, included by the top Makefile.
#
#   make test-sandbox   build hardening of build/ptvm (hardening.sh), every thread kind's
#                       seccomp filter tried from a test binary (seccomp_test.c), and the guest
#                       programs under --jail/--user (jail_test.sh: needs root and /dev/kvm)

SANDBOX_TESTS := $(BUILD)/tests/sandbox/seccomp_test

.PHONY: test-sandbox test-hardening

$(BUILD)/tests/sandbox/%: $(BUILD)/obj/tests/sandbox/%.o $(BUILD)/libptvm.a
	@mkdir -p $(dir $@)
	$(CC) $(HARDEN_LDFLAGS) -o $@ $^ $(LDLIBS)

test-sandbox: $(BUILD)/ptvm $(SANDBOX_TESTS) $(TH_DIR)/bin/jailcheck $(TH_GUEST_TARGET)
	@tests/sandbox/hardening.sh $(BUILD)/ptvm
	@$(BUILD)/tests/sandbox/seccomp_test
	@tests/sandbox/jail_test.sh $(BUILD)

# the build hardening alone, for a ptvm whose seccomp filters run elsewhere (make test-arm64:
# the cross-built static PIE; its filters are tried in the arm64 test host, suite arm64_sandbox)
test-hardening: $(BUILD)/ptvm
	@tests/sandbox/hardening.sh $(BUILD)/ptvm
