#!/bin/sh
# Runs each cmocka binary given, prints its output, and ends with one summary line
# "unit: N passed, N failed" counted from cmocka's own [  PASSED  ] / [  FAILED  ] lines.
# UNIT_RUNNER, when set, runs each binary (env syntax: "VAR=value ... qemu-aarch64-static" for a
# cross build's tests).
pass=0
fail=0
rc=0
for t in "$@"; do
	# shellcheck disable=SC2086 # UNIT_RUNNER is a command line by design
	out=$(env ${UNIT_RUNNER:-} "$t" 2>&1)
	st=$?
	printf '%s\n' "$out"
	p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -1)
	f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | tail -1)
	pass=$((pass + ${p:-0}))
	fail=$((fail + ${f:-0}))
	if [ $st -ne 0 ]; then
		rc=1
		[ -z "$f" ] && fail=$((fail + 1)) && echo "$t exited with status $st"
	fi
done
echo "unit: $pass passed, $fail failed"
exit $rc
