#!/bin/sh
# Runs each named fuzz target (tests/fuzz/fuzz_NAME.c, built as $BUILD/fuzz/fuzz_NAME) on its
# seed corpus (tests/fuzz/corpus/NAME) plus what earlier runs found ($BUILD/fuzz/fuzz_NAME.corpus),
# for FUZZ_SECONDS (0: no limit) or FUZZ_RUNS executions (-1: no limit), whichever ends first,
# one after the other. The log of each run is $BUILD/fuzz/fuzz_NAME.log (report.sh reads it;
# FUZZ_LOG_TAG=x writes fuzz_NAME.x.log instead, so that short test runs keep it);
# a crash, leak or hang leaves its input in $BUILD/fuzz/fuzz_NAME-*. Ends with one line
# "fuzz: N passed, N failed".
BUILD=${BUILD:-build}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_RUNS=${FUZZ_RUNS:--1}
FUZZ_NICE=${FUZZ_NICE:-0}
pass=0
fail=0
for name in "$@"; do
	bin=$BUILD/fuzz/fuzz_$name
	corpus=$BUILD/fuzz/fuzz_$name.corpus
	seeds=tests/fuzz/corpus/$name
	log=$BUILD/fuzz/fuzz_$name${FUZZ_LOG_TAG:+.$FUZZ_LOG_TAG}.log
	mkdir -p "$corpus" "$BUILD/fuzz/old"
	# what an earlier run left (a crash input is still wanted: kept aside, not in the report)
	for f in "$BUILD/fuzz/fuzz_$name"-*; do
		[ -e "$f" ] && mv "$f" "$BUILD/fuzz/old/"
	done
	[ -d "$seeds" ] || seeds=
	echo "fuzz: $name for ${FUZZ_SECONDS} s / $FUZZ_RUNS runs"
	# -timeout: one input running 30 s is a hang (a device thread that never settles is
	# reported sooner, after 10 s, by the harness itself)
	if nice -n "$FUZZ_NICE" "$bin" -max_total_time="$FUZZ_SECONDS" -runs="$FUZZ_RUNS" \
		-timeout=30 -print_final_stats=1 -artifact_prefix="$BUILD/fuzz/fuzz_$name-" \
		"$corpus" $seeds >"$log" 2>&1; then
		pass=$((pass + 1))
		sed -n 's/^stat::number_of_executed_units: */  executions: /p;
			s/^stat::average_exec_per_sec: */  execs\/s:    /p' "$log"
	else
		fail=$((fail + 1))
		tail -40 "$log"
		echo "fuzz: $name FAILED (input in $BUILD/fuzz/fuzz_$name-*, log $log)"
	fi
done
echo "fuzz: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
