#!/bin/sh
# Writes $BUILD/fuzz/report.md from the last run of each named target (run.sh's logs) and a
# replay of its corpus (seeds plus what the fuzzer kept) through the coverage build
# ($BUILD/fuzz-cov/fuzz_NAME, clang source-based coverage): per target the executions, time,
# execs/s, line coverage of the files its "FUZZ_SOURCES:" line names, and the crash, leak,
# timeout and out-of-memory inputs it left; then the line coverage of devices/ by all targets
# together, per file, and $BUILD/fuzz/uncovered.txt with every line of devices/ no target
# reached (a file linked into several targets appears once per target in llvm-cov's export:
# a line counts as reached when any of them reached it).
set -e
BUILD=${BUILD:-build}
PROFDATA=${PROFDATA:-llvm-profdata-14}
COV=${COV:-llvm-cov-14}
out=$BUILD/fuzz/report.md
prof=$BUILD/fuzz-cov/prof
rm -rf "$prof"
mkdir -p "$prof"

# The files a target answers for: the words ending in .c from its FUZZ_SOURCES: line to the
# end of its header comment.
sources() {
	awk '/FUZZ_SOURCES:/ { on = 1 } on { print } on && /\*\// { exit }' "tests/fuzz/fuzz_$1.c" |
		grep -o '[a-z0-9_/]*\.c' | tr '\n' ' '
}

# Field $2 of the TOTAL line of an llvm-cov report: 8 lines, 9 missed lines, 10 cover.
total() {
	awk -v f="$2" '$1 == "TOTAL" { print $f }' "$1"
}

objects=
{
	echo "# ptvm fuzzing report"
	echo
	echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg);"
	echo "commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'). Executions and time are those of"
	echo "each target's last run (\`make fuzz\`, logs in $BUILD/fuzz/); coverage replays its seeds and"
	echo "the corpus it grew through the coverage build (llvm-cov, lines)."
	echo
	echo "| target | executions | time (s) | execs/s | lines of its sources | covered | crashes | log lines/input (max) |"
	echo "|---|---:|---:|---:|---|---:|---:|---:|"
} >"$out"
for name in "$@"; do
	log=$BUILD/fuzz/fuzz_$name.log
	bin=$BUILD/fuzz-cov/fuzz_$name
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" 2>/dev/null | tail -1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" 2>/dev/null | tail -1)
	secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" 2>/dev/null | tail -1)
	loglines=$(sed -n 's/^fuzz: at most \([0-9]*\) log lines.*/\1/p' "$log" 2>/dev/null | tail -1)
	crashes=$(find "$BUILD/fuzz" -maxdepth 1 \( -name "fuzz_$name-crash-*" -o \
		-name "fuzz_$name-leak-*" -o -name "fuzz_$name-timeout-*" -o \
		-name "fuzz_$name-oom-*" \) | wc -l)
	mkdir -p "$prof/$name"
	# each corpus file once (a directory argument would start fuzzing instead)
	find "$BUILD/fuzz/fuzz_$name.corpus" "tests/fuzz/corpus/$name" -type f 2>/dev/null |
		LLVM_PROFILE_FILE="$prof/$name/%p.profraw" xargs -r -n 500 "$bin" -runs=1 \
			>"$prof/$name.replay.log" 2>&1 || true
	src=$(sources "$name")
	cover=-
	lines=-
	if ls "$prof/$name"/*.profraw >/dev/null 2>&1; then
		"$PROFDATA" merge -sparse "$prof/$name"/*.profraw -o "$prof/$name.profdata"
		"$COV" report "$bin" -instr-profile="$prof/$name.profdata" $src >"$prof/$name.cov"
		cover=$(total "$prof/$name.cov" 10)
		lines="$(($(total "$prof/$name.cov" 8) - $(total "$prof/$name.cov" 9)))/$(total "$prof/$name.cov" 8)"
		objects="$objects -object $bin"
	fi
	echo "| $name | ${execs:-not run} | ${secs:--} | ${rate:--} | $src| $cover ($lines) | $crashes | ${loglines:--} |" >>"$out"
done

# devices/ as all the targets together reach it
"$PROFDATA" merge -sparse "$prof"/*/*.profraw -o "$prof/union.profdata"
first=${objects#* -object }
first=${first%% *}
rest=${objects#* -object "$first"}
"$COV" report "$first" $rest -instr-profile="$prof/union.profdata" devices/*.c >"$prof/devices.cov"
{
	echo
	echo "## devices/ line coverage, all targets together: $(total "$prof/devices.cov" 10)" \
		"($(($(total "$prof/devices.cov" 8) - $(total "$prof/devices.cov" 9))) of" \
		"$(total "$prof/devices.cov" 8) lines)"
	echo
	echo "| file | lines | missed | covered |"
	echo "|---|---:|---:|---:|"
	awk '$1 ~ /\.c$/ { printf "| %s | %s | %s | %s |\n", $1, $8, $9, $10 }' "$prof/devices.cov"
	echo
	echo "Lines no target reaches: $BUILD/fuzz/uncovered.txt."
} >>"$out"
"$COV" export "$first" $rest -instr-profile="$prof/union.profdata" -format=lcov devices/*.c |
	awk -F'[:,]' '/^SF:/ { file = $2 }
		/^DA:/ { k = file ":" $2; if (!(k in n) || $3 > n[k]) n[k] = $3 }
		END { for (k in n) if (n[k] == 0) print k }' | sort -t: -k1,1 -k2,2n |
	while IFS=: read -r f l; do
		printf '%s:%s: %s\n' "${f#"$PWD"/}" "$l" "$(sed -n "${l}p" "$f")"
	done >"$BUILD/fuzz/uncovered.txt"
cat "$out"
