# Helpers for the suites that run inside the test host (sourced; busybox ash).
#
# A suite is /testhost/suites/<name>.sh: it runs its tests and prints, per test, exactly one
#   PASS <test> (<details>)   or   FAIL <test>: <reason>   or   SKIP <test>: <what is missing>
# on the console, where the host side (tests/testhost/run.sh) collects them. Everything else a
# test prints goes through th_show, indented with "  | ", so that a guest's own "PASS ..." line
# can never be mistaken for a result.

TH_LOGS=/tmp/testhost-logs
mkdir -p $TH_LOGS
TH_CR=$(printf '\r')

# The sandbox variant (suite "jail" sets these and runs other suites again): TH_PTVM is how a
# suite starts ptvm (TH_PTVM_WRAP in front: jailcheck, which checks from /proc that ptvm
# dropped its privileges and prints "JAILCHECK ok|FAIL"), th_jail_args the options to add,
# TH_SUFFIX what every test name gets (e.g. "-jail").
TH_PTVM="${TH_PTVM_WRAP:+$TH_PTVM_WRAP }ptvm"
TH_SUFFIX=${TH_SUFFIX:-}
th_jail_args() { # with TH_JAIL=1: --jail (a fresh empty directory) [--user $TH_JAIL_USER]
	[ "${TH_JAIL:-0}" = 1 ] || return 0
	_jd=$(mktemp -d /tmp/ptvm-jail.XXXXXX)
	chmod 755 "$_jd"
	echo "--jail $_jd${TH_JAIL_USER:+ --user $TH_JAIL_USER}"
}

th_now() { # seconds since the test host booted, 10 ms resolution
	read -r _t _ < /proc/uptime
	echo "$_t"
}

th_elapsed() { # th_elapsed T0 [T1]: T1 (default now) - T0, in seconds with one decimal
	awk -v a="$1" -v b="${2:-$(th_now)}" 'BEGIN { printf "%.1f", b - a }'
}

th_pass() { # th_pass TEST DETAILS [LOG]: with TH_VERBOSE=1 the whole log follows
	# under jailcheck, a test passes only if ptvm was seen sandboxed too
	if [ -n "${TH_PTVM_WRAP:-}" ] && [ -n "${3:-}" ] && ! grep -q '^[0-9.]* JAILCHECK ok' "$3"; then
		_why=$(sed -n 's/^[0-9.]* JAILCHECK FAIL /jailcheck: /p' "$3" | head -n 1)
		th_fail "$1" "${_why:-no JAILCHECK line: ptvm was not run through jailcheck} [test: $2]" "$3"
		return
	fi
	echo "PASS $1$TH_SUFFIX ($2)"
	if [ "${TH_VERBOSE:-0}" = 1 ] && [ -n "${3:-}" ]; then
		th_show "$3"
	fi
}

th_skip() { # th_skip TEST WHAT-IS-MISSING: counted and named by the host side, never a pass
	echo "SKIP $1$TH_SUFFIX: $2"
}

th_fail() { # th_fail TEST REASON [LOG]: the result line, then the log's last lines and dmesg
	echo "FAIL $1$TH_SUFFIX: $2"
	if [ -n "${3:-}" ] && [ -s "$3" ]; then
		th_show "$3" "${TH_FAIL_LINES:-60}"
	fi
	# th_run cleared the kernel log: what is left is what this test provoked
	dmesg | tail -n 15 | sed 's/^/  | dmesg: /'
}

th_show() { # th_show LOG [N]: the last N lines (default all) of a th_run log, indented
	if [ -n "${2:-}" ]; then tail -n "$2" "$1"; else cat "$1"; fi | sed 's/^/  | /'
}

# th_run LOG TIMEOUT CMD...: runs CMD (stdin /dev/null, stdout+stderr captured) for at most
# TIMEOUT seconds; LOG gets one line per output line, "<seconds since start> <line>", and a last
# line "<seconds> TH-EXIT <status>". Returns CMD's status; TH_TIMEDOUT=1 if the timeout hit.
th_run() {
	_log=$1
	_tmo=$2
	shift 2
	# a heartbeat for the host-side runner, which takes a long silence for a hung test host
	echo "RUN ${_log##*/}"
	dmesg -c > /dev/null
	_t0=$(th_now)
	{
		timeout -k 5 "$_tmo" "$@" < /dev/null 2>&1
		_rc=$?
		echo
		echo "TH-EXIT $_rc"
	} | while IFS= read -r _line; do
		# no fork per line: a Linux boot prints hundreds, and each would steal guest time
		read -r _t _ < /proc/uptime
		echo "$_t ${_line%"$TH_CR"}"
	done > "$_log.raw"
	awk -v a="$_t0" '{ t = $1; sub(/^[^ ]* /, ""); if ($0 != "") printf "%.2f %s\n", t - a, $0 }' \
		"$_log.raw" > "$_log"
	rm -f "$_log.raw"
	_rc=$(sed -n 's/^[0-9.]* TH-EXIT \([0-9]*\)$/\1/p' "$_log" | tail -n 1)
	_end=$(tail -n 1 "$_log" | cut -d' ' -f1)
	TH_TIMEDOUT=0
	[ "$(awk -v e="$_end" -v t="$_tmo" 'BEGIN { print (e + 0.5 >= t) }')" = 1 ] && TH_TIMEDOUT=1
	return "${_rc:-255}"
}

th_when() { # th_when LOG REGEX: seconds into the run of the first output line matching REGEX
	awk -v re="$2" '{ t = $1; sub(/^[^ ]* /, "") } $0 ~ re { print t; exit }' "$1"
}

th_has() { # th_has LOG REGEX: does an output line match REGEX?
	[ -n "$(th_when "$1" "$2")" ]
}

th_last_err() { # th_last_err LOG: the last line that looks like a ptvm error, for FAIL reasons
	sed -n 's/^[0-9.]* //p' "$1" | grep -E -i 'error|fail|ptvm:|fault|KVM_' | grep -v -E '^(CHECK|TH-EXIT)' | tail -n 1
}

# th_status_reason STATUS: ptvm's exit status in words (the contract in ptvm run --help)
th_status_reason() {
	case $1 in
	0) echo "status 0" ;;
	1) echo "status 1 (bad input or host error)" ;;
	64) echo "status 64 (guest reboot)" ;;
	65) echo "status 65 (triple fault)" ;;
	66) echo "status 66 (KVM internal error)" ;;
	67) echo "status 67 (unhandled exit or entry failure)" ;;
	68) echo "status 68 (a forbidden system call: seccomp)" ;;
	130) echo "status 130 (killed by a signal)" ;;
	*) echo "status $1" ;;
	esac
}
