#!/bin/sh
# Runs each cmocka binary given, prints its output, and ends with one summary line
# "unit: N passed, N failed" counted from cmocka's own [  PASSED  ] / [  FAILED  ] lines.
pass=0
fail=0
rc=0
for t in "$@"; do
	out=$("$t" 2>&1)
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
