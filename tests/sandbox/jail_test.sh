#!/bin/bash
# --jail and --user with real guests on this machine's /dev/kvm (tests/guest programs):
#   jail-guests         every guest program (disks, taps, rng included) under
#                       --jail DIR --user J:J (a uid of the run's own), ptvm started as root
#   jail-checked        one of them through jailcheck: from /proc, the kernel's view of ptvm once
#                       sandboxed (uid/gid, no capabilities, empty root, own namespaces, ...)
#   jail-unprivileged   ptvm started as uid J that may open /dev/kvm (a private /dev in a
#                       mount namespace: the host's /dev/kvm keeps its mode), with --jail: the
#                       namespaces come from a user namespace; checked through jailcheck too
#   jail-dir-untouched  the jail directory is still empty afterwards, and no mount leaked
# One PASS/FAIL/SKIP line each, then a summary. Needs root and /dev/kvm (SKIP by name otherwise).
#
# usage: tests/sandbox/jail_test.sh [BUILD]
set -u
BUILD=${1:-build}
pass=0
fail=0
skip=0
PASS() { echo "PASS $1"; pass=$((pass + 1)); }
FAIL() { echo "FAIL $1: $2"; fail=$((fail + 1)); }
SKIP() { echo "SKIP $1: $2"; skip=$((skip + 1)); }
summary() {
	echo "jail: $pass passed, $fail failed, $skip skipped"
	[ $fail = 0 ]
	exit
}
cases="jail-guests jail-checked jail-unprivileged jail-dir-untouched"

why=
[ "$(id -u)" = 0 ] || why="needs root (--user, and a private /dev for the unprivileged case)"
[ -z "$why" ] && { [ -c /dev/kvm ] || why="no /dev/kvm on this host"; }
[ -z "$why" ] && { [ -x "$BUILD/ptvm" ] && [ -x "$BUILD/testhost/bin/jailcheck" ] &&
	[ -f "$BUILD/guest/smp.elf" ] || why="$BUILD/ptvm, $BUILD/testhost/bin/jailcheck or $BUILD/guest/smp.elf missing (make test-sandbox builds them)"; }
if [ -n "$why" ]; then
	for c in $cases; do SKIP "$c" "$why"; done
	summary
fi

# A uid:gid of this run's own, in no passwd entry: ptvm sets RLIMIT_NPROC to its threads plus
# a few, and that limit counts every process of the uid, so two runs (or anything else running
# as nobody) sharing one uid make each other's thread creation fail with EAGAIN.
J=$((200000 + $$ % 100000))
tmp=$(mktemp -d /tmp/ptvm-jail-test.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"
mkdir "$tmp/jail"
mounts_before=$(wc -l < /proc/self/mountinfo)

# every guest program, jailed
out=$(GUEST_PTVM_ARGS="--jail $tmp/jail --user $J:$J" BUILD=$BUILD tests/guest/run.sh 2>&1)
summary_line=$(echo "$out" | tail -n 1)
if echo "$summary_line" | grep -q ' 0 failed' && echo "$summary_line" | grep -qE ': [1-9][0-9]* passed'; then
	PASS "jail-guests ($summary_line)"
else
	FAIL jail-guests "$(echo "$out" | grep '^FAIL' | head -n 3 | tr '\n' ' ')$summary_line"
fi

# the kernel's view, through jailcheck
out=$("$BUILD/testhost/bin/jailcheck" --uid $J --gid $J "$BUILD/ptvm" run \
	--kernel "$BUILD/guest/smp.elf" --cpus 4 --debug-exit --jail "$tmp/jail" \
	--user $J:$J </dev/null 2>&1)
st=$?
if [ $st = 0 ] && echo "$out" | grep -q '^JAILCHECK ok' && echo "$out" | grep -q '^PASS smp'; then
	PASS "jail-checked ($(echo "$out" | sed -n 's/^JAILCHECK ok //p'))"
else
	FAIL jail-checked "status $st: $(echo "$out" | grep -E 'JAILCHECK|error' | head -n 2 | tr '\n' ' ')"
fi

# started unprivileged: a private /dev holding /dev/kvm for everyone, ptvm as uid $J
cp "$BUILD/ptvm" "$BUILD/testhost/bin/jailcheck" "$BUILD/guest/smp.elf" "$tmp/"
if ! unshare --mount true 2>/dev/null; then
	SKIP jail-unprivileged "cannot make a mount namespace (unshare --mount)"
else
	out=$(cd "$tmp" && unshare --mount sh -c 'mount -t tmpfs tmpfs /dev &&
		mknod -m 666 /dev/kvm c 10 232 && mknod -m 666 /dev/null c 1 3 && exec "$@"' sh \
		./jailcheck --uid $J --gid $J --setuid $J:$J ./ptvm run \
		--kernel smp.elf --cpus 4 --debug-exit --jail "$tmp/jail" </dev/null 2>&1)
	st=$?
	if [ $st = 0 ] && echo "$out" | grep -q '^JAILCHECK ok' && echo "$out" | grep -q '^PASS smp'; then
		PASS "jail-unprivileged (uid $J, user namespace; $(echo "$out" | sed -n 's/^JAILCHECK ok uid [0-9]* gid [0-9]*, //p'))"
	elif grep -q 0 /proc/sys/kernel/unprivileged_userns_clone 2>/dev/null; then
		SKIP jail-unprivileged "unprivileged user namespaces are off (kernel.unprivileged_userns_clone=0)"
	else
		FAIL jail-unprivileged "status $st: $(echo "$out" | grep -E 'JAILCHECK|error' | head -n 2 | tr '\n' ' ')"
	fi
fi

left=$(ls -A "$tmp/jail")
mounts_after=$(wc -l < /proc/self/mountinfo)
if [ -n "$left" ]; then
	FAIL jail-dir-untouched "the jail directory holds: $left"
elif [ "$mounts_after" != "$mounts_before" ]; then
	FAIL jail-dir-untouched "$mounts_before mounts before, $mounts_after after"
else
	PASS jail-dir-untouched
fi
summary
