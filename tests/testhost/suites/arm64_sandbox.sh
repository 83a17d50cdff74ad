# Suite "arm64_sandbox": the seccomp allow-lists of vmm/sandbox.c on arm64, where qemu-user (the
# cross build's unit tests) cannot load a filter: tests/sandbox/seccomp_test.c, cross-built and
# run here as make test-sandbox runs it on x86. Each thread kind's list traps what it must with
# one line naming arm64's syscall (open is openat here, fork is clone), lets through what it
# must, --seccomp log lets a call through, and threads started through the spawner keep to their
# own kind's list. The linux and virtio suites boot their guests with the sandbox on (ptvm's
# default), so a syscall missing from a list fails them (status 68, the syscall named).
. /testhost/lib.sh

log=$TH_LOGS/arm64-sandbox.log
seccomp_test > "$log" 2>&1
rc=$?
# its PASS/FAIL lines are the suite's results, named arm64-seccomp-*
sed -n -E 's/^(PASS|FAIL|SKIP) /\1 arm64-/p' "$log"
if [ $rc != 0 ] && ! grep -q '^FAIL ' "$log"; then
	th_fail arm64-seccomp-test "seccomp_test exited $(th_status_reason $rc) without a FAIL line" "$log"
fi
