# Helpers for the suites that run inside the test host (sourced; busybox ash).
#
# A suite is /testhost/suites/<name>.sh: it runs its tests and prints, per test, exactly one
#   PASS <test> (<details>)   or   FAIL <test>: <reason>   or   SKIP <test>: <what is missing>
# on the console, where the host side (tests/testhost/run.sh) collects them. Everything else a
# test prints goes through th_show, indented with "  | ", so that a guest's own "PASS ..." line
# can never be mistaken for a result.

TH_LOGS=/tmp/testhost-logs
mkdir -p $TH_LOGS
# The Linux guest's kernel for ptvm on this test host's architecture (an x86 vmlinux or an arm64
# Image; mkhost.sh carries the machine's own).
case $(uname -m) in
aarch64) TH_GUEST_KERNEL=/guest/linux/Image ;;
*) TH_GUEST_KERNEL=/guest/linux/vmlinux ;;
esac
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
	# a triple fault or a guest that timed out: what KVM saw of it last
	if [ -n "${3:-}" ] && { grep -q 'triple fault' "$3" || [ "${TH_TIMEDOUT:-0}" = 1 ] ||
		case $2 in *timeout*) true ;; *) false ;; esac; }; then
		th_kvm_trace "$3"
	fi
}

# th_kvm_trace LOG: the test host's kvm trace events (init keeps the last seconds of them) into
# LOG.kvmtrace, once per LOG; on the console each SHUTDOWN exit (the rip where a guest
# triple-faulted) with the TH_TRACE_LINES (40) events of that vCPU thread before it, or, without
# one (a guest that hung), the last events of each vCPU thread and the trace's last time stamp.
th_kvm_trace() {
	_t=/sys/kernel/tracing
	[ -r $_t/trace ] && [ "$(cat $_t/tracing_on)" = 1 ] || return 0
	[ -e "$1.kvmtrace" ] && return 0
	echo 0 > $_t/tracing_on
	cat $_t/trace > "$1.kvmtrace"
	echo > $_t/trace
	echo 1 > $_t/tracing_on
	_n=${TH_TRACE_LINES:-40}
	# "<task>-<pid> [cpu] ... kvm_exit: vcpu 0 reason shutdown rip 0x... info1 ..."
	if grep -q -i 'kvm_exit:.*reason [a-z_]*shutdown' "$1.kvmtrace"; then
		grep -n -i 'kvm_exit:.*reason [a-z_]*shutdown' "$1.kvmtrace" | head -n 4 | while IFS=: read -r _ln _l; do
			_task=$(echo "$_l" | awk '{ print $1 }')
			echo "  | kvm trace: the last $_n events of $_task before its SHUTDOWN exit:"
			head -n "$_ln" "$1.kvmtrace" | grep -F -- "$_task " | tail -n "$_n" |
				sed 's/^ *//; s/^/  | kvm trace: /'
			# guest memory the host took away (balloon, reclaim): a page the guest still
			# used shows up here
			echo "  | kvm trace: the last 8 host invalidations of guest memory before it:"
			head -n "$_ln" "$1.kvmtrace" | grep 'kvm_unmap_hva_range' | tail -n 8 |
				sed 's/^ *//; s/^/  | kvm trace: /'
		done
		return 0
	fi
	echo "  | kvm trace: no SHUTDOWN exit among the $(grep -c -v '^#' "$1.kvmtrace") events kept; now $(th_now) s, last event: $(grep -v '^#' "$1.kvmtrace" | tail -n 1 | sed 's/^ *//' | cut -c1-160)"
	for _task in $(grep -v '^#' "$1.kvmtrace" | awk '$1 ~ /^vcpu[0-9]+-[0-9]+$/ { print $1 }' | sort -u | tail -n 4); do
		echo "  | kvm trace: the last 12 events of $_task:"
		grep -F -- "$_task " "$1.kvmtrace" | tail -n 12 | sed 's/^ *//; s/^/  | kvm trace: /'
	done
}

th_show() { # th_show LOG [N]: the last N lines (default all) of a th_run log, indented
	if [ -n "${2:-}" ]; then tail -n "$2" "$1"; else cat "$1"; fi | sed 's/^/  | /'
}

# th_run LOG TIMEOUT CMD...: runs CMD (stdin $TH_STDIN or /dev/null, stdout+stderr captured) for at most
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
		timeout -k 5 "$_tmo" "$@" < "${TH_STDIN:-/dev/null}" 2>&1
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

th_driver_of() { # th_driver_of BDF: the bound driver's name, or "none"
	if [ -e "/sys/bus/pci/devices/$1/driver" ]; then
		basename "$(readlink "/sys/bus/pci/devices/$1/driver")"
	else
		echo none
	fi
}

th_group_of() { # th_group_of BDF: its IOMMU group number
	basename "$(readlink "/sys/bus/pci/devices/$1/iommu_group")"
}

# th_ping ADDR: one ping to resolve ARP (not counted), then 10; TH_PING_OK 1 when all 10 came
# back, TH_PING "10/10, rtt min/avg/max ... ms" or what ping said
th_ping() {
	ping -c 1 -W 5 "$1" > /dev/null 2>&1
	_out=$(ping -c 10 -i 0.1 -W 5 "$1" 2>&1)
	_rtt=$(echo "$_out" | sed -n 's|.*min/avg/max = \([0-9./]*\) ms.*|\1|p')
	_recv=$(echo "$_out" | sed -n 's/.* \([0-9]*\) packets received.*/\1/p')
	if [ "$_recv" = 10 ] && [ -n "$_rtt" ]; then
		TH_PING_OK=1
		TH_PING="10/10, rtt min/avg/max $_rtt ms"
	else
		TH_PING_OK=0
		TH_PING=$(echo "$_out" | tail -n 2 | tr '\n' ' ')
	fi
}

th_token() { # 12 random hex digits
	head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n'
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

# ---- ptvm in the background (suites that act while the guest runs: virtio, passthrough):
# its stdin a FIFO on fd 3 (COM1, or hvc0 with --console virtio), its output in a log polled
# while it runs. The guest asks with "SYNC <step>" lines, the suite answers with vm_send.

TH_VM_DIR=/tmp/th-vm

# vm_start LOG TIMEOUT PTVM-ARGS...: ptvm as the suite's variant runs it ($TH_PTVM, the jail
# options); VM_PID, VM_T0 (uptime at the start; the raw log's lines carry the uptime too); the
# whole run may take TIMEOUT s from here
vm_start() {
	_vs_log=$1
	_vs_tmo=$2
	shift 2
	# shellcheck disable=SC2046 # TH_PTVM and th_jail_args are lists of words
	vm_start_cmd "$_vs_log" "$_vs_tmo" $TH_PTVM "$@" $(th_jail_args)
}

# vm_start_cmd LOG TIMEOUT CMD...: the same for any command (another VMM, a wrapper)
vm_start_cmd() {
	VM_LOG=$1
	VM_DEADLINE=$(($(cut -d. -f1 /proc/uptime) + $2))
	shift 2
	mkdir -p $TH_VM_DIR
	rm -f $TH_VM_DIR/stdin $TH_VM_DIR/pid
	mkfifo $TH_VM_DIR/stdin
	# read-write: the open does not wait for a reader, and ptvm never sees EOF on stdin
	exec 3<> $TH_VM_DIR/stdin
	echo "RUN ${VM_LOG##*/}"
	dmesg -c > /dev/null
	VM_T0=$(th_now)
	# each line stamped with the uptime as it arrives (no fork per line), as th_run does
	{
		"$@" <&3 2>&1 &
		echo $! > $TH_VM_DIR/pid
		wait $!
		echo "TH-EXIT $?"
	} | while IFS= read -r _l; do
		read -r _t _ < /proc/uptime
		echo "$_t ${_l%"$TH_CR"}"
	done > "$VM_LOG.raw" &
	VM_JOB=$!
	while [ ! -s $TH_VM_DIR/pid ]; do sleep 0.05; done
	read -r VM_PID < $TH_VM_DIR/pid
}

vm_alive() { # a zombie (exited, not yet reaped) counts as ended
	[ -r /proc/$VM_PID/stat ] || return 1
	read -r _ _ _st _ < /proc/$VM_PID/stat
	[ "$_st" != Z ]
}

vm_grep() { # vm_grep REGEX: the first output line matching REGEX (without its time)
	sed 's/^[0-9.]* //' "$VM_LOG.raw" | grep -m 1 -E "$1"
}

# vm_count REGEX [FROM-REGEX [TO-REGEX]]: output lines matching REGEX (between the markers)
vm_count() {
	sed 's/^[0-9.]* //' "$VM_LOG.raw" | awk -v re="$1" -v from="${2:-}" -v to="${3:-}" '
		from != "" && !on && $0 ~ from { on = 1; next }
		to != "" && on && $0 ~ to { exit }
		(from == "" || on) && $0 ~ re { n++ }
		END { print n + 0 }'
}

vm_when() { # vm_when REGEX: seconds from vm_start to the first line matching REGEX
	awk -v a="$VM_T0" -v re="$1" '{ t = $1; sub(/^[^ ]* /, "") } $0 ~ re { printf "%.1f", t - a; exit }' "$VM_LOG.raw"
}

# vm_wait REGEX SECONDS: until an output line matches (0), or ptvm ends or time is up (1).
# Every 60 s of waiting it says so on the console: a wait may be longer than run.sh's
# TH_SILENCE (the rebind rounds), and silence must mean the test host itself is stuck, not that
# a test is still inside its own timeout.
vm_wait() {
	_now=$(cut -d. -f1 /proc/uptime)
	_end=$((_now + $2))
	_beat=$((_now + 60))
	[ $_end -le $VM_DEADLINE ] || _end=$VM_DEADLINE
	while :; do
		vm_grep "$1" > /dev/null && return 0
		vm_alive || { vm_grep "$1" > /dev/null; return; }
		_now=$(cut -d. -f1 /proc/uptime)
		[ "$_now" -lt $_end ] || return 1
		if [ "$_now" -ge $_beat ]; then
			_beat=$((_now + 60))
			echo "  | ${VM_LOG##*/}: waiting for '$1' $((_end - _now)) s more; last: $(tail -n 1 "$VM_LOG.raw" | cut -c 1-120)"
		fi
		sleep 0.1
	done
}

# vm_wait_moving REGEX PROGRESS STALL: vm_wait for REGEX for as long as output lines matching
# PROGRESS keep coming, at least one every STALL seconds (or until the boot's deadline). For
# work whose length is a figure that load stretches (the NVMe rebind rounds: 50-66 s idle,
# 138-273 s beside a CPU hog), where a fixed limit fails a run that is still moving. Each
# STALL-second vm_wait ends before its own 60 s notice, so the notice is given here.
vm_wait_moving() {
	_seen=$(vm_count "$2")
	while ! vm_wait "$1" "$3"; do
		vm_alive || return 1
		[ "$(cut -d. -f1 /proc/uptime)" -lt $VM_DEADLINE ] || return 1
		_n=$(vm_count "$2")
		[ "$_n" -gt "$_seen" ] || return 1
		_seen=$_n
		echo "  | ${VM_LOG##*/}: waiting for '$1' while '$2' keeps coming ($_n so far)"
	done
}

vm_send() { # vm_send LINE: into the guest (ptvm's stdin)
	echo "$1" >&3
}

# vm_finish SECONDS: wait for ptvm to end (SIGKILL after SECONDS, or at the deadline); VM_RC,
# VM_END (s since start), VM_TIMEDOUT; the log becomes "<seconds since start> <line>" lines
vm_finish() {
	_end=$(($(cut -d. -f1 /proc/uptime) + $1))
	[ $_end -le $VM_DEADLINE ] || _end=$VM_DEADLINE
	VM_TIMEDOUT=0
	while vm_alive; do
		if [ "$(cut -d. -f1 /proc/uptime)" -ge $_end ]; then
			VM_TIMEDOUT=1
			kill -9 $VM_PID
			break
		fi
		sleep 0.1
	done
	wait $VM_JOB
	exec 3>&-
	VM_RC=$(sed -n 's/^[0-9.]* TH-EXIT \([0-9]*\)$/\1/p' "$VM_LOG.raw")
	VM_RC=${VM_RC:-255}
	VM_END=$(th_elapsed "$VM_T0")
	awk -v a="$VM_T0" '{ t = $1; sub(/^[^ ]* /, ""); if ($0 != "") printf "%.2f %s\n", t - a, $0 }' \
		"$VM_LOG.raw" > "$VM_LOG"
}

vm_fds() { # open file descriptors of ptvm
	ls /proc/$VM_PID/fd 2> /dev/null | wc -l
}

vm_rss() { # kB resident in ptvm (guest RAM is a shared memfd: VmRSS counts it)
	awk '/^VmRSS:/ { print $2 }' /proc/$VM_PID/status 2> /dev/null
}

# vm_boot_verdict: BOOT_ERR, why the boot as a whole failed (no init), for every test of it
vm_boot_verdict() {
	BOOT_ERR=
	if [ -z "$INIT_AT" ]; then
		BOOT_ERR="the guest init never printed PTVM-GUEST-INIT (ptvm $(th_status_reason "$VM_RC") after $VM_END s: $(th_last_err "$VM_LOG"))"
	fi
}

# vm_result TEST CHECK HOST-ERROR DETAILS: one PASS/FAIL line from the guest's
# "CHECK <CHECK> ok|FAIL ..." line and what the host side found (HOST-ERROR empty when it found
# nothing wrong)
vm_result() {
	_line=$(vm_grep "^CHECK $2 ")
	if [ -n "$BOOT_ERR" ]; then
		th_fail "$1" "$BOOT_ERR" "$VM_LOG"
	elif [ -z "$_line" ]; then
		th_fail "$1" "the guest printed no 'CHECK $2' line (ptvm $(th_status_reason "$VM_RC"), last line: $(sed 's/^[0-9.]* //' "$VM_LOG.raw" | grep -v -E '^(TH-EXIT|$)' | tail -n 1))" "$VM_LOG"
	elif [ "${_line#CHECK $2 FAIL}" != "$_line" ]; then
		th_fail "$1" "guest: ${_line#CHECK $2 FAIL }${3:+; host: $3}" "$VM_LOG"
	elif [ -n "$3" ]; then
		th_fail "$1" "guest ok (${_line#CHECK $2 ok }) but host: $3" "$VM_LOG"
	else
		th_pass "$1" "${_line#CHECK $2 ok }${4:+; $4}" "$VM_LOG"
	fi
}
