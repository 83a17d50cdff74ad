# tests/sandbox/: the sandbox of issue 8, included by the top Makefile.
#
#   make test-sandbox   build hardening of build/ptvm (hardening.sh)

.PHONY: test-sandbox

test-sandbox: $(BUILD)/ptvm
	@tests/sandbox/hardening.sh $(BUILD)/ptvm
